/* Security in the programs, run as processes: roc-ns with a key and
 * --open-lookups (changes refused with roc.Unauthorized without the key,
 * accepted with the roc CLI's --key-file; lookups open to everyone), and
 * the roc CLI over tls+tcp:// to an echo-server and to a keyed roc-ns with
 * TLS (--tls-ca, --tls-server-name; an untrusted CA and a bare IP address
 * refused). Certificates come from openssl in a temporary directory for
 * each run, as in tests/test_tls.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <roc/roc.h>

#include "testutil.h"

static char roc_bin[1024], ns_bin[1024], echo_bin[1024];
static char *dir;

static char path_buf[8][700];
static const char *P(int slot, const char *file)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, file);
    return path_buf[slot];
}

/* ------------------------------------------------------------ processes */

typedef struct proc {
    pid_t pid;
    int out;
    char uri[600];
    char url[512];
} proc;

/* Starts a server (NULL-terminated argv) and reads the URI it prints. */
static void proc_start(proc *p, const char *first, ...)
{
    char *argv[32];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    p->pid = tu_spawn(argv, &p->out);
    assert_true(p->pid > 0);
    if (tu_read_line(p->out, p->uri, sizeof p->uri, 10000) != 0)
        fail_msg("%s did not print its URI", argv[0]);
    const char *at = strchr(p->uri, '@');
    assert_non_null(at);
    snprintf(p->url, sizeof p->url, "%s", at + 1);
}

static void proc_stop(proc *p)
{
    assert_int_equal(tu_stop(p->pid), 0);
    close(p->out);
}

typedef struct result {
    int status;
    char out[8192];
    char err[4096];
} result;

static result R;

/* Runs roc with the arguments given (NULL-terminated), capturing stdout
 * and stderr, with a deadline. */
static result *roc(const char *first, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = roc_bin;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    memset(&R, 0, sizeof R);
    R.status = tu_run(argv, R.out, sizeof R.out, R.err, sizeof R.err, 20000);
    return &R;
}

static void expect_(const result *r, int status, const char *out_sub,
                    const char *err_sub, int line)
{
    if (r->status != status || (out_sub && !strstr(r->out, out_sub)) ||
        (err_sub && !strstr(r->err, err_sub)))
        fail_msg("line %d: status %d (want %d)\nstdout: %s\nstderr: %s", line,
                 r->status, status, r->out, r->err);
}
#define expect(r, st, o, e) expect_((r), (st), (o), (e), __LINE__)

/* ------------------------------------------------------------ tests */

static void test_auth_programs_ns_changes_need_the_key(void **state)
{
    (void)state;
    proc ns;
    proc_start(&ns, ns_bin, "--url", "tcp://127.0.0.1:0", "--key-file",
               P(0, "key"), "--open-lookups", NULL);
    const char *u = ns.url;
    /* without the key: register refused */
    expect(roc("--ns", u, "ns", "register", "sec.echo", "ROC:echo@tcp://h:1",
               NULL),
           1, NULL, "roc.Unauthorized");
    /* a wrong key: refused, and the message says so */
    expect(roc("--ns", u, "--key-file", P(1, "other"), "ns", "register",
               "sec.echo", "ROC:echo@tcp://h:1", NULL),
           1, NULL, "wrong key");
    /* with the key: registered, looked up, removed */
    expect(roc("--ns", u, "--key-file", P(1, "key"), "ns", "register",
               "sec.echo", "ROC:echo@tcp://h:1", NULL),
           0, NULL, NULL);
    expect(roc("--ns", u, "--key-file", P(1, "key"), "ns", "lookup", "sec.echo",
               NULL),
           0, "ROC:echo@tcp://h:1", NULL);
    /* an empty key file is an error of the CLI, not "no key" */
    expect(roc("--ns", u, "--key-file", P(1, "empty"), "ns", "count", NULL), 1,
           NULL, "empty");
    /* --open-lookups without a key is a usage error */
    char *bad[] = {ns_bin, "--url", "tcp://127.0.0.1:0", "--open-lookups",
                   NULL};
    int out = -1;
    pid_t pid = tu_spawn(bad, &out);
    assert_true(pid > 0);
    int st = 0;
    waitpid(pid, &st, 0);
    close(out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);

    /* lookups stay open: a client without the key looks the name up */
    expect(roc("--ns", u, "ns", "lookup", "sec.echo", NULL), 0,
           "ROC:echo@tcp://h:1", NULL);
    /* and still may not change anything */
    expect(roc("--ns", u, "ns", "remove", "sec.echo", NULL), 1, NULL,
           "roc.Unauthorized");
    proc_stop(&ns);
}

static void test_auth_programs_cli_tls_to_echo_server(void **state)
{
    (void)state;
    proc echo;
    proc_start(&echo, echo_bin, "--tls-cert", P(0, "server.pem"),
               "tls+tcp://localhost:0", NULL);
    expect(roc("--tls-ca", P(0, "ca.pem"), "call", echo.uri, "add", "40", "2",
               NULL),
           0, "42", NULL);
    /* no CA, an unrelated CA: refused */
    expect(roc("call", echo.uri, "add", "1", "2", NULL), 1, NULL, "CA file");
    expect(roc("--tls-ca", P(0, "evilca.pem"), "call", echo.uri, "add", "1",
               "2", NULL),
           1, NULL, "not trusted");
    proc_stop(&echo);

    /* a bare IP address needs --tls-server-name */
    proc_start(&echo, echo_bin, "--tls-cert", P(0, "server.pem"),
               "tls+tcp://127.0.0.1:0", NULL);
    expect(roc("--tls-ca", P(0, "ca.pem"), "call", echo.uri, "add", "1", "2",
               NULL),
           1, NULL, "bare IP address");
    expect(roc("--tls-ca", P(0, "ca.pem"), "--tls-server-name", "localhost",
               "call", echo.uri, "add", "1", "2", NULL),
           0, "3", NULL);
    proc_stop(&echo);

    /* TLS and a key together */
    proc_start(&echo, echo_bin, "--tls-cert", P(0, "server.pem"), "--key-file",
               P(1, "key"), "tls+tcp://localhost:0", NULL);
    expect(roc("--tls-ca", P(0, "ca.pem"), "--key-file", P(1, "key"), "call",
               echo.uri, "echo", "\"both\"", NULL),
           0, "both", NULL);
    expect(roc("--tls-ca", P(0, "ca.pem"), "call", echo.uri, "echo", "1", NULL),
           1, NULL, "requires a key");
    proc_stop(&echo);
}

static void test_auth_programs_ns_over_tls_with_key(void **state)
{
    (void)state;
    proc ns;
    proc_start(&ns, ns_bin, "--url", "tls+tcp://localhost:0", "--tls-cert",
               P(0, "server.pem"), "--key-file", P(1, "key"), NULL);
    const char *u = ns.url;
    expect(roc("--ns", u, "--tls-ca", P(0, "ca.pem"), "--key-file", P(1, "key"),
               "ns", "register", "tls.x", "ROC:x@tcp://h:2", NULL),
           0, NULL, NULL);
    expect(roc("--ns", u, "--tls-ca", P(0, "ca.pem"), "--key-file", P(1, "key"),
               "ns", "list", NULL),
           0, "tls.x\tROC:x@tcp://h:2", NULL);
    expect(roc("--ns", u, "--tls-ca", P(0, "ca.pem"), "ns", "count", NULL), 1,
           NULL, "requires a key");
    proc_stop(&ns);

    /* mutual TLS: a client without a certificate is refused */
    proc_start(&ns, ns_bin, "--url", "tls+tcp://localhost:0", "--tls-cert",
               P(0, "server.pem"), "--tls-ca", P(1, "ca.pem"),
               "--tls-require-client-cert", NULL);
    u = ns.url;
    expect(roc("--ns", u, "--tls-ca", P(0, "ca.pem"), "ns", "count", NULL), 1,
           NULL, NULL);
    expect(roc("--ns", u, "--tls-ca", P(0, "ca.pem"), "--tls-cert",
               P(1, "client.pem"), "ns", "count", NULL),
           0, "0", NULL);
    proc_stop(&ns);
}

/* ------------------------------------------------------------ main */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    /* the programs must see only the settings each test gives them */
    unsetenv("ROC_KEY_FILE");
    unsetenv("ROC_TLS_CA");
    unsetenv("ROC_TLS_CERT");
    unsetenv("ROC_TLS_SERVER_NAME");
    unsetenv("ROC_NS");
    dir = tu_mkdtemp();
    if (!dir || tu_make_ca(dir, "ca") || tu_make_ca(dir, "evilca") ||
        tu_make_cert(dir, "server", "localhost", "ca") ||
        tu_make_cert(dir, "client", "client1", "ca")) {
        fprintf(stderr, "cannot make test certificates with openssl\n");
        return -1;
    }
    write_file(P(0, "key"), "correct horse battery staple\n");
    write_file(P(0, "other"), "not the key\n");
    write_file(P(0, "empty"), "");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_bin("tools/roc", roc_bin, sizeof roc_bin);
    tu_bin("nameserver/roc-ns", ns_bin, sizeof ns_bin);
    tu_bin("examples/echo/echo-server", echo_bin, sizeof echo_bin);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_programs_ns_changes_need_the_key),
        cmocka_unit_test(test_auth_programs_cli_tls_to_echo_server),
        cmocka_unit_test(test_auth_programs_ns_over_tls_with_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
