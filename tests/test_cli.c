/* The `roc` command-line client (tools/roc.c), run as a process against a
 * real roc-ns, echo-server and calc-server: stdout, stderr and the exit
 * status of every command are checked.
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

static char roc_bin[1024], ns_bin[1024], echo_bin[1024], calc_bin[1024];

typedef struct proc {
    pid_t pid;
    int out;
    char uri[600];
    char url[512];
} proc;

static void proc_start(proc *p, char *const argv[])
{
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

static proc ns, echo, calc;

/* ------------------------------------------------------------ running roc */

typedef struct result {
    int status; /* exit status, or -1 */
    char out[16384];
    char err[4096];
} result;

static result R;

/* Runs roc with the arguments given (NULL-terminated), capturing stdout and
 * stderr, with a deadline. */
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

/* Checks an exit status and that stdout / stderr contain the texts given
 * (NULL: anything). */
static void expect_(const result *r, int status, const char *out_sub,
                    const char *err_sub, const char *what, int line)
{
    if (r->status != status || (out_sub && !strstr(r->out, out_sub)) ||
        (err_sub && !strstr(r->err, err_sub)))
        fail_msg("line %d: %s: status %d (want %d)\nstdout: %s\nstderr: %s",
                 line, what, r->status, status, r->out, r->err);
}
#define expect(r, st, o, e) expect_((r), (st), (o), (e), #r, __LINE__)

/* ------------------------------------------------------------ tests */

static void test_cli_ns_register_lookup_list_remove(void **state)
{
    (void)state;
    const char *u = ns.url;
    expect(roc("--ns", u, "ns", "register", "cli.echo", echo.uri, "--meta",
               "echo", "--meta", "demo", NULL),
           0, NULL, NULL);
    assert_string_equal(R.out, "");
    expect(roc("--ns", u, "ns", "lookup", "cli.echo", NULL), 0, echo.uri, NULL);
    char want[4096];
    snprintf(want, sizeof want, "%s\n", echo.uri);
    assert_string_equal(R.out, want);

    /* taken: refused, exit 1, message on stderr */
    expect(roc("--ns", u, "ns", "register", "cli.echo", calc.uri, NULL), 1,
           NULL, "roc.naming.Exists");
    assert_string_equal(R.out, "");
    expect(roc("--ns", u, "ns", "register", "cli.calc", calc.uri, "--meta",
               "calc", "--meta", "demo", NULL),
           0, NULL, NULL);
    expect(roc("--ns", u, "ns", "register", "other.thing", calc.uri, NULL), 0,
           NULL, NULL);

    /* list: all, by prefix, by regex, by tags */
    expect(roc("--ns", u, "ns", "list", NULL), 0, NULL, NULL);
    snprintf(want, sizeof want,
             "cli.calc\t%s\tcalc,demo\ncli.echo\t%s\techo,demo\n"
             "other.thing\t%s\n",
             calc.uri, echo.uri, calc.uri);
    assert_string_equal(R.out, want);
    expect(roc("--ns", u, "ns", "list", "cli.", NULL), 0, "cli.calc", NULL);
    assert_null(strstr(R.out, "other.thing"));
    expect(roc("--ns", u, "ns", "list", "--regex", "thing$", NULL), 0,
           "other.thing", NULL);
    assert_null(strstr(R.out, "cli."));
    expect(
        roc("--ns", u, "ns", "list", "--meta", "demo", "--meta", "echo", NULL),
        0, "cli.echo", NULL);
    assert_null(strstr(R.out, "cli.calc"));
    expect(roc("--ns", u, "ns", "list", "--meta", "echo", "--meta", "calc",
               "--any", NULL),
           0, "cli.calc", NULL);
    assert_non_null(strstr(R.out, "cli.echo"));
    expect(roc("--ns", u, "--json", "ns", "list", "--meta", "calc", NULL), 0,
           "\"name\": \"cli.calc\"", NULL);
    assert_non_null(strstr(R.out, "\"meta\": ["));
    expect(roc("--ns", u, "ns", "count", NULL), 0, "3\n", NULL);

    /* meta, remove by name, by regex, one URI */
    expect(roc("--ns", u, "ns", "meta", "other.thing", "x", "y", NULL), 0, NULL,
           NULL);
    expect(roc("--ns", u, "ns", "list", "--meta", "y", NULL), 0, "other.thing",
           NULL);
    expect(roc("--ns", u, "ns", "remove", "other.thing", NULL), 0, "removed 1",
           NULL);
    expect(roc("--ns", u, "ns", "remove", "other.thing", NULL), 0, "removed 0",
           NULL);
    expect(roc("--ns", u, "ns", "remove", "--regex", "^cli\\.c", NULL), 0,
           "removed 1", NULL);
    expect(roc("--ns", u, "ns", "remove", "x", "--uri", NULL), 2, NULL,
           "missing value");
    expect(roc("--ns", u, "ns", "lookup", "cli.calc", NULL), 1, NULL,
           "not registered");
    expect(roc("--ns", u, "ns", "ping", NULL), 0, "pong", NULL);
}

static void test_cli_call_through_names(void **state)
{
    (void)state;
    setenv("ROC_NS", ns.url, 1); /* ROC_NS instead of --ns */
    expect(roc("ns", "register", "cli.echo", echo.uri, "--replace", "--meta",
               "echo", "--meta", "demo", NULL),
           0, NULL, NULL);
    expect(roc("ns", "register", "cli.calc2", calc.uri, "--replace", NULL), 0,
           NULL, NULL);
    expect(roc("call", "ROCNAME:cli.echo", "add", "40", "2", NULL), 0, "42\n",
           NULL);
    expect(
        roc("call", "ROCNAME:cli.echo", "echo", "{\"a\":[1,\"x\",null]}", NULL),
        0, "{\"a\":[1,\"x\",null]}\n", NULL);
    expect(roc("call", "ROCMETA:echo,demo", "echo", "\"tagged\"", NULL), 0,
           "\"tagged\"\n", NULL);
    /* typed conversion from describe: divide(f64, f64) takes 1 and 4 as
     * doubles; add(i64, i64) takes 2.0 as an integer */
    expect(roc("call", "ROCNAME:cli.calc2", "divide", "1", "4", NULL), 0,
           "0.25\n", NULL);
    expect(roc("call", calc.uri, "add", "2.0", "3", NULL), 0, "5\n", NULL);
    /* a remote exception: exit 1, its type and message on stderr */
    expect(roc("call", "ROCNAME:cli.calc2", "divide", "1", "0", NULL), 1, NULL,
           "demo.DivideByZero");
    expect(roc("call", "ROCNAME:cli.echo", "fail", "\"on purpose\"", NULL), 1,
           NULL, "echo.Failure: on purpose");
    /* a string parameter takes text that is not JSON as it is */
    expect(roc("call", "ROCNAME:cli.echo", "fail", "plain words", NULL), 1,
           NULL, "echo.Failure: plain words");
    /* bad arguments and unknown things */
    expect(roc("call", "ROCNAME:cli.echo", "echo", "{bad json", NULL), 2, NULL,
           "not JSON");
    expect(roc("call", "ROCNAME:cli.echo", "nosuch", NULL), 1, NULL,
           "roc.NoSuchMethod");
    expect(roc("call", "ROCNAME:cli.nobody", "echo", "1", NULL), 1, NULL,
           "not registered");
    expect(roc("call", "not-a-uri", "echo", NULL), 1, NULL, NULL);
    expect(roc("ns", "remove", "cli.calc2", NULL), 0, "removed 1", NULL);
    unsetenv("ROC_NS");
}

static void test_cli_introspect_ping_stats(void **state)
{
    (void)state;
    expect(roc("--ns", ns.url, "ns", "register", "cli.echo", echo.uri,
               "--replace", NULL),
           0, NULL, NULL);
    expect(roc("--ns", ns.url, "introspect", "ROCNAME:cli.echo", NULL), 0,
           "interface echo.Echo {", NULL);
    assert_non_null(strstr(R.out, "number add(number a, number b);"));
    expect(roc("introspect", calc.uri, NULL), 0, "module demo {", NULL);
    assert_non_null(strstr(R.out, "f64 divide(f64 a, f64 b)"));
    /* the name server itself is described by its IDL */
    expect(roc("introspect", ns.uri, NULL), 0, "interface NameServer", NULL);
    expect(roc("--ns", ns.url, "ping", "ROCNAME:cli.echo", NULL), 0, "pong",
           NULL);
    expect(roc("stats", echo.uri, NULL), 0, "calls: ", NULL);
    assert_non_null(strstr(R.out, "uptime_s: "));
    expect(roc("--json", "stats", echo.uri, NULL), 0, "\"connections\"", NULL);
    /* nothing there */
    expect(roc("--timeout", "2000", "ping", "ROC:x@tcp://127.0.0.1:1", NULL), 1,
           NULL, "roc: ");
}

static void test_cli_usage_and_help(void **state)
{
    (void)state;
    expect(roc(NULL), 2, NULL, "usage: roc");
    expect(roc("--help", NULL), 0, "usage: roc", NULL);
    expect(roc("frobnicate", NULL), 2, NULL, "unknown command");
    expect(roc("--timeout", "soon", "ns", "count", NULL), 2, NULL,
           "bad --timeout");
    const char *cmds[][3] = {
        {"ns", "--help", NULL},       {"ns", "list", "--help"},
        {"ns", "lookup", "--help"},   {"ns", "register", "--help"},
        {"ns", "remove", "--help"},   {"ns", "meta", "--help"},
        {"ns", "count", "--help"},    {"ns", "ping", "--help"},
        {"call", "--help", NULL},     {"introspect", "--help", NULL},
        {"ping", "--help", NULL},     {"stats", "--help", NULL},
        {"discover", "--help", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        roc(cmds[i][0], cmds[i][1], cmds[i][2], NULL);
        if (R.status != 0 || !strstr(R.out, "usage: roc"))
            fail_msg("roc %s %s %s: status %d, stdout %s", cmds[i][0],
                     cmds[i][1], cmds[i][2] ? cmds[i][2] : "", R.status, R.out);
    }
    expect(roc("ns", "register", "onlyname", NULL), 2, NULL, "usage: roc ns");
    expect(roc("ns", "lookup", NULL), 2, NULL, "no NAME");
    expect(roc("ns", "bogus", NULL), 2, NULL, "unknown ns command");
    expect(roc("call", "ROC:x@tcp://127.0.0.1:1", NULL), 2, NULL,
           "METHOD are required");
    /* bad input reaches the name server and is refused clearly */
    expect(roc("--ns", ns.url, "ns", "register", "bad name", echo.uri, NULL), 1,
           NULL, "roc.BadArguments");
    expect(roc("--ns", ns.url, "ns", "register", "x", "nonsense", NULL), 1,
           NULL, "invalid URI");
    expect(roc("--ns", ns.url, "ns", "list", "--regex", "(", NULL), 1, NULL,
           "bad regular expression");
    /* no name server there */
    expect(roc("--ns", "tcp://127.0.0.1:1", "ns", "count", NULL), 1, NULL,
           "roc: ");
}

/* roc ns watch: the names there, "synced", then each change as a line;
 * --count ends it; --json prints objects; bad options are usage errors. */
static void test_cli_ns_watch(void **state)
{
    (void)state;
    expect(roc("--ns", ns.url, "ns", "register", "cw.a",
               "ROC:a@tcp://127.0.0.1:1", "--meta", "red", NULL),
           0, NULL, NULL);
    char *argv[] = {roc_bin, "--ns", ns.url, "ns",      "watch",
                    "cw.",   "--count", "3", NULL};
    int out = -1;
    pid_t pid = tu_spawn(argv, &out);
    assert_true(pid > 0);
    char line[1024];
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "put\tcw.a\tROC:a@tcp://127.0.0.1:1\tred");
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "synced");
    expect(roc("--ns", ns.url, "ns", "register", "cw.b",
               "ROC:b@tcp://127.0.0.1:2", NULL),
           0, NULL, NULL);
    expect(roc("--ns", ns.url, "ns", "register", "other.c",
               "ROC:c@tcp://127.0.0.1:3", NULL),
           0, NULL, NULL);
    expect(roc("--ns", ns.url, "ns", "remove", "cw.a", NULL), 0, NULL, NULL);
    expect(roc("--ns", ns.url, "ns", "register", "cw.b",
               "ROC:b2@tcp://127.0.0.1:4", "--replica", NULL),
           0, NULL, NULL);
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "put\tcw.b\tROC:b@tcp://127.0.0.1:2");
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "removed\tcw.a");
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(
        line, "put\tcw.b\tROC:b@tcp://127.0.0.1:2 ROC:b2@tcp://127.0.0.1:4");
    /* three changes told: it exits by itself */
    int st = -1;
    for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(50 * 1000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(out);
    /* --json, --for */
    expect(roc("--ns", ns.url, "--json", "ns", "watch", "cw.", "--for", "1",
               NULL),
           0,
           "{\"event\":\"put\",\"name\":\"cw.b\",\"uris\":"
           "[\"ROC:b@tcp://127.0.0.1:2\",\"ROC:b2@tcp://127.0.0.1:4\"],"
           "\"meta\":[]}\n{\"event\":\"synced\"}\n",
           NULL);
    expect(roc("--ns", ns.url, "ns", "watch", "--count", "x", NULL), 2, NULL,
           "bad --count");
    expect(roc("--ns", ns.url, "ns", "watch", "bad prefix", "--for", "1",
               NULL),
           1, NULL, "bad prefix");
    expect(roc("--ns", "tcp://127.0.0.1:1", "ns", "watch", NULL), 1, NULL,
           "roc: ");
    expect(roc("--ns", ns.url, "ns", "remove", "cw.", "--prefix", NULL), 0,
           NULL, NULL);
}

/* roc ns register --ttl: held while the command runs, gone at once when it
 * is stopped, gone within the TTL when it is killed. */
static void test_cli_ns_register_ttl(void **state)
{
    (void)state;
    char *argv[] = {roc_bin,  "--ns",    ns.url, "ns",    "register",
                    "cl.kept", "ROC:k@tcp://127.0.0.1:5", "--meta", "t",
                    "--ttl",   "1",      NULL};
    int out = -1;
    pid_t pid = tu_spawn(argv, &out);
    assert_true(pid > 0);
    char line[256];
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_non_null(strstr(line, "registered cl.kept under lease "));
    roc_ns *nsc = NULL;
    assert_int_equal(roc_ns_open(&nsc, ns.url, NULL), 0);
    tu_name_wait gone = {nsc, "cl.kept", false};
    assert_false(tu_name_state(&gone));
    /* renewed past its TTL (1 s) */
    assert_false(tu_wait_for(tu_name_state, &gone, 2500));
    expect(roc("--ns", ns.url, "ns", "list", "cl.", NULL), 0,
           "cl.kept\tROC:k@tcp://127.0.0.1:5\tt", NULL);
    assert_int_equal(tu_stop(pid), 0);
    close(out);
    assert_true(tu_name_state(&gone)); /* at once */
    /* killed: gone within the TTL */
    pid = tu_spawn(argv, &out);
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_false(tu_name_state(&gone));
    tu_kill9(pid);
    close(out);
    assert_true(tu_wait_for(tu_name_state, &gone, 1000 + 2000));
    roc_ns_close(nsc);
    expect(roc("--ns", ns.url, "ns", "register", "cl.x", "ROC:x@tcp://h:1",
               "--ttl", "0", NULL),
           2, NULL, "bad --ttl");
}

static int setup(void **state)
{
    (void)state;
    char *nsv[] = {ns_bin, "--url", "tcp://127.0.0.1:0", "--log", "warn", NULL};
    proc_start(&ns, nsv);
    char *ev[] = {echo_bin, "tcp://127.0.0.1:0", NULL};
    proc_start(&echo, ev);
    char *cv[] = {calc_bin, "tcp://127.0.0.1:0", NULL};
    proc_start(&calc, cv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    proc_stop(&calc);
    proc_stop(&echo);
    proc_stop(&ns);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    unsetenv("ROC_NS");
    tu_bin("tools/roc", roc_bin, sizeof roc_bin);
    tu_bin("nameserver/roc-ns", ns_bin, sizeof ns_bin);
    tu_bin("examples/echo/echo-server", echo_bin, sizeof echo_bin);
    tu_bin("examples/calculator/calc-server", calc_bin, sizeof calc_bin);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_ns_register_lookup_list_remove),
        cmocka_unit_test(test_cli_call_through_names),
        cmocka_unit_test(test_cli_introspect_ping_stats),
        cmocka_unit_test(test_cli_usage_and_help),
        cmocka_unit_test(test_cli_ns_watch),
        cmocka_unit_test(test_cli_ns_register_ttl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
