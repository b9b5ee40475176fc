/* End to end with the real echo example: examples/echo/echo-server as a
 * separate process on tcp and ipc, called through proxies and through
 * examples/echo/echo-client; server restart (kill -9) then redial; the
 * client's exit codes and output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <roc/roc.h>

#include "testutil.h"

static char server_bin[1024], client_bin[1024];
static char *tmpdir;

static roc_value *J(roc_arena *a, const char *json)
{
    roc_value *v = NULL;
    if (roc_value_from_json(a, json, &v, NULL) != 0)
        fail_msg("bad JSON in test: %s", json);
    return v;
}

static void assert_value_json(const roc_value *v, const char *json)
{
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value nil = {.type = ROC_NIL};
    const roc_value *got = v ? v : &nil;
    if (!roc_value_equal(got, J(a, json))) {
        char *g = NULL;
        roc_value_to_json(got, 0, &g, NULL);
        fail_msg("expected %s, got %s", json, g ? g : "?");
    }
    roc_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* the server process                                                   */

typedef struct server {
    pid_t pid;
    int out;
    char uri[600]; /* ROC:echo@<url> as printed */
    char url[512];
} server;

/* Starts echo-server on url and reads the URI it prints. false when it did
 * not come up (e.g. the address is still taken). */
static bool server_try_start(server *s, const char *url)
{
    char *argv[] = {server_bin, (char *)url, NULL};
    memset(s, 0, sizeof *s);
    s->pid = tu_spawn(argv, &s->out);
    if (s->pid <= 0)
        return false;
    if (tu_read_line(s->out, s->uri, sizeof s->uri, 10000) != 0 ||
        strncmp(s->uri, "ROC:echo@", 9) != 0) {
        tu_stop(s->pid);
        close(s->out);
        s->pid = -1;
        return false;
    }
    snprintf(s->url, sizeof s->url, "%s", s->uri + 9);
    return true;
}

static void server_start(server *s, const char *url)
{
    if (!server_try_start(s, url))
        fail_msg("echo-server %s did not start", url);
}

/* Restart on the very same address: a tcp port may take a moment to be
 * free again after kill -9, so retry with a deadline. */
static void server_restart(server *s, const char *url)
{
    uint64_t end = tu_now_ms() + 10000;
    while (!server_try_start(s, url)) {
        if (tu_now_ms() > end)
            fail_msg("echo-server did not restart on %s", url);
        usleep(20000); /* back off between attempts */
    }
}

static int server_stop(server *s)
{
    int st = tu_stop(s->pid);
    close(s->out);
    s->pid = -1;
    return st;
}

static const char *fresh_url(const char *transport, char *buf, size_t len)
{
    if (strcmp(transport, "ipc") == 0) {
        static unsigned n;
        snprintf(buf, len, "ipc://%s/echo-%u.sock", tmpdir, n++);
        return buf;
    }
    return tu_url(transport, buf, len);
}

/* ------------------------------------------------------------------ */
/* calls through a proxy                                                */

static void calls_over(const char *transport)
{
    char url[512];
    server s;
    server_start(&s, fresh_url(transport, url, sizeof url));
    /* the URI names the real address: no port 0 left in it */
    assert_null(strstr(s.uri, ":0/"));
    if (strcmp(transport, "tcp") == 0)
        assert_true(strcmp(s.url + strlen(s.url) - 2, ":0") != 0);

    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_error err = ROC_ERROR_INIT;
    roc_value *r = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    assert_ok(roc_proxy_open(&p, s.uri, &err), &err);
    roc_proxy_set_timeout(p, 10000);

    assert_ok(roc_proxy_call(p, "echo", J(a, "[\"hello\"]"), &r, a, &err),
              &err);
    assert_value_json(r, "\"hello\"");
    assert_ok(roc_proxy_call(p, "echo", J(a, "[{\"k\":[1,2.5,null,true]}]"), &r,
                             a, &err),
              &err);
    assert_value_json(r, "{\"k\":[1,2.5,null,true]}");
    assert_ok(roc_proxy_call(p, "add", J(a, "[40, 2]"), &r, a, &err), &err);
    assert_value_json(r, "42");
    assert_int_equal(r->type, ROC_INT);
    assert_ok(roc_proxy_call(p, "add", J(a, "[1.5, 2]"), &r, a, &err), &err);
    assert_value_json(r, "3.5");
    assert_int_equal(r->type, ROC_FLOAT);
    assert_int_equal(roc_proxy_call(p, "add", J(a, "[\"a\", 2]"), &r, a, &err),
                     ROC_EBADARGS);
    assert_string_equal(err.type, "roc.BadArguments");
    assert_int_equal(roc_proxy_call(p, "add", J(a, "[1]"), &r, a, &err),
                     ROC_EBADARGS);
    assert_ok(roc_proxy_call(p, "sleep", J(a, "[20]"), &r, a, &err), &err);
    assert_true(r == NULL || r->type == ROC_NIL);
    assert_int_equal(
        roc_proxy_call(p, "fail", J(a, "[\"on purpose\"]"), &r, a, &err),
        ROC_EREMOTE);
    assert_int_equal(err.wire_code, ROC_WIRE_APPLICATION);
    assert_string_equal(err.type, "echo.Failure");
    assert_string_equal(err.message, "on purpose");
    assert_int_equal(roc_proxy_call(p, "nope", NULL, &r, a, &err),
                     ROC_ENOMETHOD);

    /* a short timeout on the blocking sleep */
    roc_call_opts o = {.timeout_ms = 100};
    assert_int_equal(
        roc_proxy_call_opts(p, "sleep", J(a, "[5000]"), &o, &r, a, &err),
        ROC_ETIMEDOUT);

    /* async */
    roc_future *f = NULL;
    assert_ok(roc_proxy_call_async(p, "add", J(a, "[2, 2]"), NULL, &f, &err),
              &err);
    assert_ok(roc_future_result(f, &r, a, &err), &err);
    assert_value_json(r, "4");
    roc_future_free(f);

    /* the daemon object */
    char duri[600];
    roc_proxy *dp = NULL;
    snprintf(duri, sizeof duri, "ROC:roc.daemon@%s", s.url);
    assert_ok(roc_proxy_open(&dp, duri, &err), &err);
    assert_ok(roc_proxy_call(dp, "ping", NULL, &r, a, &err), &err);
    assert_value_json(r, "\"pong\"");
    assert_ok(roc_proxy_call(dp, "describe", J(a, "[\"echo\"]"), &r, a, &err),
              &err);
    assert_int_equal(r->type, ROC_MAP);
    roc_proxy_close(dp);

    roc_proxy_close(p);
    /* SIGTERM: a clean shutdown, exit status 0 */
    assert_int_equal(server_stop(&s), 0);
    roc_error_clear(&err);
    roc_arena_free(a);
}

static void test_calls_tcp(void **state)
{
    (void)state;
    calls_over("tcp");
}

static void test_calls_ipc(void **state)
{
    (void)state;
    calls_over("ipc");
}

static void test_server_sigint_clean_exit(void **state)
{
    (void)state;
    char url[512];
    server s;
    server_start(&s, fresh_url("ipc", url, sizeof url));
    assert_int_equal(kill(s.pid, SIGINT), 0);
    int st = 0;
    uint64_t end = tu_now_ms() + 10000;
    pid_t r = 0;
    while ((r = waitpid(s.pid, &st, WNOHANG)) == 0 && tu_now_ms() < end)
        usleep(1000);
    if (r != s.pid) {
        tu_kill9(s.pid);
        fail_msg("echo-server ignored SIGINT");
    }
    close(s.out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A server that stops reading (SIGSTOP: its connection stays open) never
 * blocks a oneway caller: calls queue up to 8 MiB, then fail at once with
 * ROC_EBUSY. */
static void test_oneway_to_stopped_server_busy(void **state)
{
    (void)state;
    char url[512];
    server s;
    server_start(&s, fresh_url("tcp", url, sizeof url));
    roc_proxy *p = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_proxy_open(&p, s.uri, &err), &err);
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value *r = NULL;
    assert_ok(roc_proxy_call(p, "echo",
                             roc_value_arrayv(a, 1, roc_value_int(a, 1)), &r,
                             a, &err),
              &err);
    assert_int_equal(kill(s.pid, SIGSTOP), 0);
    static uint8_t chunk[256 * 1024];
    roc_value *args =
        roc_value_arrayv(a, 1, roc_value_bin(a, chunk, sizeof chunk));
    int rc = 0, n = 0;
    uint64_t t0 = tu_now_ms();
    for (; n < 200 && (rc = roc_proxy_oneway(p, "echo", args, &err)) == 0; n++)
        ;
    uint64_t took = tu_now_ms() - t0;
    assert_int_equal(rc, ROC_EBUSY);
    assert_non_null(strstr(err.message, "does not read"));
    /* the kernel's buffers take a few MiB, the queue 8: 256 KiB calls */
    assert_true(n >= 16 && n < 200);
    assert_true(took < 5000);
    print_message("    server stopped: %d oneway calls of 256 KiB queued in "
                  "%llu ms, then ROC_EBUSY\n",
                  n, (unsigned long long)took);
    roc_error_clear(&err);
    assert_int_equal(kill(s.pid, SIGCONT), 0);
    roc_proxy_close(p);
    roc_arena_free(a);
    assert_int_equal(server_stop(&s), 0);
}

static void test_server_bad_url(void **state)
{
    (void)state;
    char *argv[] = {server_bin, "nosuch://x", NULL};
    pid_t pid = tu_spawn(argv, NULL);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 0);

    char *argv2[] = {server_bin, NULL};
    pid = tu_spawn(argv2, NULL);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

static void test_server_address_in_use(void **state)
{
    (void)state;
    char url[512];
    server s, s2;
    server_start(&s, fresh_url("tcp", url, sizeof url));
    /* a second server on the same port fails */
    bool up = server_try_start(&s2, s.url);
    if (up)
        server_stop(&s2);
    assert_false(up);
    assert_int_equal(server_stop(&s), 0);
}

/* ------------------------------------------------------------------ */
/* restart then redial                                                  */

static void restart_over(const char *transport)
{
    char url[512];
    server s;
    server_start(&s, fresh_url(transport, url, sizeof url));
    char addr[512];
    snprintf(addr, sizeof addr, "%s", s.url); /* the real port for tcp */

    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_error err = ROC_ERROR_INIT;
    roc_value *r = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    assert_ok(roc_proxy_open(&p, s.uri, &err), &err);
    roc_proxy_set_timeout(p, 10000);
    assert_ok(roc_proxy_call(p, "add", J(a, "[1, 2]"), &r, a, &err), &err);
    assert_value_json(r, "3");

    /* Calls in flight when the server dies fail with ROC_ECLOSED. */
    enum { N = 4 };
    roc_future *f[N];
    for (int i = 0; i < N; i++)
        assert_ok(
            roc_proxy_call_async(p, "sleep", J(a, "[8000]"), NULL, &f[i], &err),
            &err);
    /* a reply that comes after them shows the server has read them */
    assert_ok(roc_proxy_call(p, "echo", J(a, "[1]"), &r, a, &err), &err);
    tu_kill9(s.pid);
    close(s.out);
    for (int i = 0; i < N; i++) {
        assert_int_equal(roc_future_wait(f[i], 5000), 0);
        int rv = roc_future_result(f[i], &r, a, &err);
        if (rv != ROC_ECLOSED)
            fail_msg("in-flight call %d: want ROC_ECLOSED, got %d %s", i, rv,
                     tu_errtext(&err));
        roc_future_free(f[i]);
    }

    /* While the server is down, a call fails at once (nothing listens). */
    int rv = roc_proxy_call(p, "add", J(a, "[1, 1]"), &r, a, &err);
    if (rv != ROC_ECONNREFUSED)
        fail_msg("call while down: want ROC_ECONNREFUSED, got %d %s", rv,
                 tu_errtext(&err));

    /* Same address again: the same proxy redials on its next call. */
    server_restart(&s, addr);
    assert_string_equal(s.url, addr);
    assert_ok(roc_proxy_call(p, "add", J(a, "[20, 22]"), &r, a, &err), &err);
    assert_value_json(r, "42");

    /* And once more, without a call while it is down. */
    tu_kill9(s.pid);
    close(s.out);
    server_restart(&s, addr);
    rv = roc_proxy_call(p, "add", J(a, "[2, 3]"), &r, a, &err);
    if (rv == ROC_ECLOSED) {
        /* the proxy may learn only now that the old connection is gone;
         * the call after that must redial */
        rv = roc_proxy_call(p, "add", J(a, "[2, 3]"), &r, a, &err);
    }
    assert_ok(rv, &err);
    assert_value_json(r, "5");

    roc_proxy_close(p);
    assert_int_equal(server_stop(&s), 0);
    roc_error_clear(&err);
    roc_arena_free(a);
}

static void test_restart_redial_tcp(void **state)
{
    (void)state;
    restart_over("tcp");
}

static void test_restart_redial_ipc(void **state)
{
    (void)state;
    restart_over("ipc");
}

/* ------------------------------------------------------------------ */
/* echo-client                                                          */

typedef struct run {
    int status;       /* exit status, or -signal */
    char out[8192];   /* stdout and stderr together */
    char first[4096]; /* first line */
} run;

/* Runs echo-client with the given arguments (NULL-terminated), stdout and
 * stderr captured together. */
static void run_client(run *res, const char *const args[])
{
    char *argv[32];
    int n = 0;
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = "exec \"$0\" \"$@\" 2>&1";
    argv[n++] = client_bin;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    int fd = -1;
    memset(res, 0, sizeof *res);
    pid_t pid = tu_spawn(argv, &fd);
    assert_true(pid > 0);
    char line[4096];
    size_t used = 0;
    while (tu_read_line(fd, line, sizeof line, 30000) == 0) {
        if (used == 0)
            snprintf(res->first, sizeof res->first, "%s", line);
        used += (size_t)snprintf(res->out + used, sizeof res->out - used,
                                 "%s\n", line);
        if (used >= sizeof res->out)
            used = sizeof res->out - 1;
    }
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* The first output line parses as JSON equal to want. */
static void assert_json_line(const run *res, const char *want)
{
    roc_arena *a = NULL;
    roc_value *got = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    if (roc_value_from_json(a, res->first, &got, NULL) != 0)
        fail_msg("echo-client printed '%s', not JSON", res->first);
    if (!roc_value_equal(got, J(a, want)))
        fail_msg("echo-client printed '%s', want %s", res->first, want);
    roc_arena_free(a);
}

static void test_client_output_and_status(void **state)
{
    (void)state;
    char url[512];
    server s;
    server_start(&s, fresh_url("tcp", url, sizeof url));
    run r;

    run_client(&r, (const char *[]){s.uri, "echo", "\"hello, ROC\"", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.first, "\"hello, ROC\"");

    run_client(&r, (const char *[]){s.uri, "add", "40", "2", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.first, "42");

    run_client(&r, (const char *[]){s.uri, "add", "1.25", "2", NULL});
    assert_int_equal(r.status, 0);
    assert_json_line(&r, "3.25");

    run_client(&r,
               (const char *[]){s.uri, "echo", "{\"a\":[1,true,null]}", NULL});
    assert_int_equal(r.status, 0);
    assert_json_line(&r, "{\"a\":[1,true,null]}");

    run_client(&r, (const char *[]){s.uri, "sleep", "1", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.first, "null");

    run_client(&r, (const char *[]){s.uri, "fail", "\"on purpose\"", NULL});
    assert_int_equal(r.status, 1);
    assert_string_equal(r.first, "error: echo.Failure: on purpose");

    run_client(&r, (const char *[]){s.uri, "nope", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: roc.NoSuchMethod: ", 25), 0);

    run_client(&r, (const char *[]){s.uri, "add", "1", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: roc.BadArguments: ", 25), 0);

    run_client(&r, (const char *[]){s.uri, "add", "\"x\"", "1", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: roc.BadArguments: ", 25), 0);

    char nobj[600];
    snprintf(nobj, sizeof nobj, "ROC:nobody@%s", s.url);
    run_client(&r, (const char *[]){nobj, "echo", "1", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: roc.NoSuchObject: ", 25), 0);

    uint64_t t0 = tu_now_ms();
    run_client(
        &r, (const char *[]){"--timeout", "150", s.uri, "sleep", "5000", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: ", 7), 0);
    assert_true(tu_now_ms() - t0 < 4000);

    /* bad usage and bad JSON: a message on stderr, non-zero status */
    run_client(&r, (const char *[]){s.uri, NULL});
    assert_true(r.status != 0);
    assert_true(r.out[0] != 0);
    run_client(&r, (const char *[]){s.uri, "echo", "{not json", NULL});
    assert_true(r.status != 0);
    assert_true(r.out[0] != 0);
    run_client(&r, (const char *[]){"not-a-uri", "echo", "1", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: ", 7), 0);

    assert_int_equal(server_stop(&s), 0);

    /* nothing listens any more */
    run_client(&r, (const char *[]){s.uri, "echo", "1", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(strncmp(r.first, "error: ", 7), 0);
}

/* --wait: the client is started before the server and still succeeds. */
static void test_client_wait_for_server(void **state)
{
    (void)state;
    char url[512], uri[600];
    fresh_url("ipc", url, sizeof url);
    snprintf(uri, sizeof uri, "ROC:echo@%s", url);
    char *argv[] = {"/bin/sh",  "-c",     "exec \"$0\" \"$@\" 2>&1",
                    client_bin, "--wait", uri,
                    "add",      "40",     "2",
                    NULL};
    int fd = -1;
    pid_t cpid = tu_spawn(argv, &fd);
    assert_true(cpid > 0);
    server s;
    server_start(&s, url);
    char line[512] = "";
    assert_int_equal(tu_read_line(fd, line, sizeof line, 15000), 0);
    int st = 0;
    waitpid(cpid, &st, 0);
    close(fd);
    assert_string_equal(line, "42");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(server_stop(&s), 0);
}

/* The lines of scripts/demo.sh, against this build. */
static void test_demo_sequence(void **state)
{
    (void)state;
    char url[512];
    server s;
    server_start(&s, fresh_url("tcp", url, sizeof url));
    run r;
    run_client(
        &r, (const char *[]){"--wait", s.uri, "echo", "\"hello, ROC\"", NULL});
    assert_int_equal(r.status, 0);
    run_client(&r, (const char *[]){s.uri, "add", "40", "2", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.first, "42");
    run_client(&r, (const char *[]){s.uri, "fail", "\"on purpose\"", NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(server_stop(&s), 0);
}

static int group_setup(void **state)
{
    (void)state;
    tu_bin("examples/echo/echo-server", server_bin, sizeof server_bin);
    tu_bin("examples/echo/echo-client", client_bin, sizeof client_bin);
    if (access(server_bin, X_OK) != 0 || access(client_bin, X_OK) != 0) {
        fprintf(stderr, "echo example not built: %s\n", server_bin);
        return -1;
    }
    tmpdir = tu_mkdtemp();
    return tmpdir ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_tcp),
        cmocka_unit_test(test_calls_ipc),
        cmocka_unit_test(test_server_sigint_clean_exit),
        cmocka_unit_test(test_oneway_to_stopped_server_busy),
        cmocka_unit_test(test_server_bad_url),
        cmocka_unit_test(test_server_address_in_use),
        cmocka_unit_test(test_restart_redial_tcp),
        cmocka_unit_test(test_restart_redial_ipc),
        cmocka_unit_test(test_client_output_and_status),
        cmocka_unit_test(test_client_wait_for_server),
        cmocka_unit_test(test_demo_sequence),
    };
    return cmocka_run_group_tests_name("e2e", tests, group_setup,
                                       group_teardown);
}
