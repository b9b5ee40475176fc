/* roc_daemon_register_name (roc/daemon.h): a daemon registers its own
 * objects with a real roc-ns under one lease, kept by a roc_ns_keeper:
 * - the names appear, with the daemon's URI (real port; a wildcard bind
 *   gives the address on the way to the name server, opts.ns_host
 *   another host), and outlive their TTL while the daemon lives;
 * - roc_daemon_close revokes the lease: the names go at once;
 * - a daemon in a child process (this program run with --serve) killed
 *   with SIGKILL drops out within TTL + margin;
 * - an unreachable name server: a clear error, the daemon serves on, and a
 *   later registration succeeds once a name server answers;
 * - calc-server and warehouse-server --name NAME: clients reach them by
 *   ROCNAME:NAME, and the name goes when the server exits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <roc/roc.h>

#include "testutil.h"

#define TTL_S 2

static char self_bin[1024];

/* ------------------------------------------------------------ fixtures */

typedef tu_ns nsproc;

/* A roc-ns on url (memory store); s->url gets its real URL. */
static void ns_start_at(nsproc *s, const char *url)
{
    assert_int_equal(tu_ns_start(s, url, NULL), 0);
}

static void ns_stop(nsproc *s)
{
    assert_int_equal(tu_ns_stop(s), 0);
}


/* The URI registered under name (malloc'd), or NULL when there is none. */
static char *lookup(roc_ns *ns, const char *name)
{
    char *uri = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_ns_lookup(ns, name, 0, &uri, &err);
    if (rc != 0 && rc != ROC_ENOTFOUND)
        fail_msg("lookup %s: %s", name, tu_errtext(&err));
    roc_error_clear(&err);
    return uri;
}

static void assert_gone(roc_ns *ns, const char *name)
{
    char *uri = lookup(ns, name);
    if (uri)
        fail_msg("'%s' is still registered (%s)", name, uri);
}

/* ------------------------------------------------------------ a daemon */

static int hello(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    *result = roc_value_str(roc_call_arena(call), "hi");
    return 0;
}

static const roc_method hello_methods[] = {
    {"hello", hello, 0, 0, NULL, "string"},
};

static const roc_servant hello_servant = {
    .iface = "test.Hello",
    .methods = hello_methods,
    .n_methods = 1,
    .mode = ROC_INSTANCE_SINGLE,
};

/* A started daemon on url hosting "obj", registering with nsurl. */
static roc_daemon *daemon_up(const char *url, const char *nsurl, unsigned ttl_s,
                             const char *ns_host)
{
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.ns_url = nsurl;
    o.ns_ttl_s = ttl_s;
    o.ns_host = ns_host;
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_daemon_open(&d, url, &o, &err), &err);
    assert_int_equal(roc_daemon_register(d, "obj", &hello_servant, NULL), 0);
    assert_int_equal(roc_daemon_start(d), 0);
    return d;
}

/* "ROC:id@" and d's URL (malloc'd). */
static char *uri_of(roc_daemon *d, const char *id)
{
    char *s = NULL;
    assert_true(asprintf(&s, "ROC:%s@%s", id, roc_daemon_url(d)) > 0);
    return s;
}

/* Calls hello() through uri (a ROC: or ROCNAME: URI); 0 when it answers
 * "hi". */
static int call_hello(const char *uri, roc_error *err)
{
    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_value *res = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    int rc = roc_proxy_open(&p, uri, err);
    if (rc == 0) {
        roc_proxy_set_timeout(p, 5000);
        rc = roc_proxy_call(p, "hello", NULL, &res, a, err);
    }
    const char *s = NULL;
    size_t n = 0;
    if (rc == 0 && (roc_value_get_str(res, &s, &n) != 0 || n != 2 ||
                    memcmp(s, "hi", 2) != 0))
        rc = ROC_EINTERNAL;
    roc_proxy_close(p);
    roc_arena_free(a);
    return rc;
}

/* The child: a daemon registering name with a lease of ttl s, then
 * nothing until killed. */
static int serve(const char *nsurl, const char *name, unsigned ttl)
{
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.ns_url = nsurl;
    o.ns_ttl_s = ttl;
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err) != 0 ||
        roc_daemon_register(d, "obj", &hello_servant, NULL) != 0 ||
        roc_daemon_start(d) != 0 ||
        roc_daemon_register_name(d, name, "obj", NULL, 0, 0, &err) != 0) {
        fprintf(stderr, "--serve: %s\n", tu_errtext(&err));
        return 1;
    }
    printf("ROC:obj@%s\n", roc_daemon_url(d));
    fflush(stdout);
    for (;;)
        pause();
}

/* ------------------------------------------------------------ tests */

static void test_register_names_appear_and_close_removes_them(void **state)
{
    (void)state;
    nsproc s;
    ns_start_at(&s, "tcp://127.0.0.1:0");
    roc_ns *ns = tu_ns_client(s.url);
    roc_daemon *d = daemon_up("tcp://127.0.0.1:0", s.url, TTL_S, NULL);
    roc_error err = ROC_ERROR_INIT;
    const char *tags[] = {"dr-svc", "v1"};
    assert_ok(roc_daemon_register_name(d, "dr.one", "obj", tags, 2, 0, &err),
              &err);
    assert_ok(
        roc_daemon_register_name(d, "dr.admin", "roc.daemon", NULL, 0, 0, &err),
        &err);
    /* at once, with the daemon's URI (the real port) and the tags */
    char *want = uri_of(d, "obj");
    assert_null(strstr(want, ":0"));
    char *uri = lookup(ns, "dr.one");
    assert_non_null(uri);
    assert_string_equal(uri, want);
    free(uri);
    char *admin = uri_of(d, "roc.daemon");
    uri = lookup(ns, "dr.admin");
    assert_non_null(uri);
    assert_string_equal(uri, admin);
    free(uri);
    free(admin);
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_ns_entry *es = NULL;
    size_t n = 0;
    assert_ok(roc_ns_lookup_meta(ns, tags, 2, false, a, &es, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].name, "dr.one");
    roc_arena_free(a);
    /* a client finds the object by its name */
    setenv("ROC_NS", s.url, 1);
    assert_ok(call_hello("ROCNAME:dr.one", &err), &err);
    unsetenv("ROC_NS");
    /* renewed: still there well past the TTL */
    tu_name_wait gone = {ns, "dr.one", false};
    assert_false(tu_wait_for(tu_name_state, &gone, TTL_S * 1000 + 1500));
    /* close revokes the lease: both gone at once, no wait */
    roc_daemon_close(d);
    assert_gone(ns, "dr.one");
    assert_gone(ns, "dr.admin");
    free(want);
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* roc_daemon_unregister withdraws the object's names at once; the others
 * stay, renewed. */
static void test_unregister_withdraws_names(void **state)
{
    (void)state;
    nsproc s;
    ns_start_at(&s, "tcp://127.0.0.1:0");
    roc_ns *ns = tu_ns_client(s.url);
    roc_daemon *d = daemon_up("tcp://127.0.0.1:0", s.url, TTL_S, NULL);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_daemon_register_name(d, "dr.u1", "obj", NULL, 0, 0, &err),
              &err);
    assert_ok(roc_daemon_register_name(d, "dr.u2", "obj", NULL, 0, 0, &err),
              &err);
    assert_ok(
        roc_daemon_register_name(d, "dr.u3", "roc.daemon", NULL, 0, 0, &err),
        &err);
    assert_int_equal(roc_daemon_unregister(d, "obj"), 0);
    assert_gone(ns, "dr.u1");
    assert_gone(ns, "dr.u2");
    tu_name_wait gone = {ns, "dr.u3", false};
    assert_false(tu_wait_for(tu_name_state, &gone, TTL_S * 1000 + 1500));
    roc_daemon_close(d);
    assert_gone(ns, "dr.u3");
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_register_killed_daemon_drops_out_within_ttl(void **state)
{
    (void)state;
    nsproc s;
    ns_start_at(&s, "tcp://127.0.0.1:0");
    roc_ns *ns = tu_ns_client(s.url);
    char ttl[8];
    snprintf(ttl, sizeof ttl, "%d", TTL_S);
    char *argv[] = {self_bin, "--serve", s.url, "dr.killed", ttl, NULL};
    int out = -1;
    pid_t child = tu_spawn(argv, &out);
    assert_true(child > 0);
    char line[600];
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    char *uri = lookup(ns, "dr.killed");
    assert_non_null(uri);
    assert_string_equal(uri, line);
    free(uri);
    tu_name_wait gone = {ns, "dr.killed", false};
    assert_false(tu_wait_for(tu_name_state, &gone, TTL_S * 1000 + 1500));
    tu_kill9(child);
    close(out);
    uint64_t t0 = tu_now_ms();
    assert_true(tu_wait_for(tu_name_state, &gone, TTL_S * 1000 + 2000));
    print_message("    daemon killed: its name (TTL %d s) gone after %llu ms\n",
                  TTL_S, (unsigned long long)(tu_now_ms() - t0));
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_register_unreachable_ns_keeps_serving(void **state)
{
    (void)state;
    char dead[64];
    tu_dead_url(dead, sizeof dead);
    roc_daemon *d = daemon_up("tcp://127.0.0.1:0", dead, TTL_S, NULL);
    roc_error err = ROC_ERROR_INIT;
    uint64_t t0 = tu_now_ms();
    int rc = roc_daemon_register_name(d, "dr.late", "obj", NULL, 0, 0, &err);
    assert_true(rc == ROC_ECONNREFUSED || rc == ROC_EUNREACHABLE);
    assert_int_equal(err.code, rc);
    assert_non_null(err.message);
    assert_non_null(strstr(err.message, "'dr.late' with the name server"));
    assert_non_null(strstr(err.message, dead + strlen("tcp://")));
    print_message("    unreachable name server (%llu ms): %s\n",
                  (unsigned long long)(tu_now_ms() - t0), err.message);
    /* the daemon serves on */
    char *uri = uri_of(d, "obj");
    assert_ok(call_hello(uri, &err), &err);
    /* once a name server answers there, a registration succeeds */
    nsproc s;
    ns_start_at(&s, dead);
    assert_ok(roc_daemon_register_name(d, "dr.late", "obj", NULL, 0, 0, &err),
              &err);
    roc_ns *ns = tu_ns_client(s.url);
    char *got = lookup(ns, "dr.late");
    assert_non_null(got);
    assert_string_equal(got, uri);
    free(got);
    roc_daemon_close(d);
    assert_gone(ns, "dr.late");
    free(uri);
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_register_errors(void **state)
{
    (void)state;
    nsproc s;
    ns_start_at(&s, "tcp://127.0.0.1:0");
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = daemon_up("tcp://127.0.0.1:0", s.url, TTL_S, NULL);
    assert_int_equal(
        roc_daemon_register_name(d, "dr.x", "nosuch", NULL, 0, 0, &err),
        ROC_ENOTFOUND);
    assert_non_null(strstr(err.message, "nosuch"));
    assert_int_equal(roc_daemon_register_name(d, NULL, "obj", NULL, 0, 0, &err),
                     ROC_EINVAL);
    assert_int_equal(
        roc_daemon_register_name(d, "dr.x", "obj", NULL, 1, 0, &err),
        ROC_EINVAL);
    assert_gone(ns, "dr.x");
    /* a name that is taken: ROC_EEXIST, the daemon's other names stay;
     * ROC_NS_REPLACE takes it over */
    assert_ok(roc_daemon_register_name(d, "dr.mine", "obj", NULL, 0, 0, &err),
              &err);
    assert_ok(roc_ns_register(ns, "dr.taken", "ROC:x@tcp://127.0.0.1:1", NULL,
                              0, 0, &err),
              &err);
    assert_int_equal(
        roc_daemon_register_name(d, "dr.taken", "obj", NULL, 0, 0, &err),
        ROC_EEXIST);
    char *uri = lookup(ns, "dr.mine");
    assert_non_null(uri);
    free(uri);
    assert_ok(roc_daemon_register_name(d, "dr.taken", "obj", NULL, 0,
                                       ROC_NS_REPLACE, &err),
              &err);
    char *want = uri_of(d, "obj");
    uri = lookup(ns, "dr.taken");
    assert_non_null(uri);
    assert_string_equal(uri, want);
    free(uri);
    free(want);
    /* shut down: names gone, no new ones */
    roc_daemon_shutdown(d);
    assert_gone(ns, "dr.mine");
    assert_gone(ns, "dr.taken");
    assert_int_equal(
        roc_daemon_register_name(d, "dr.after", "obj", NULL, 0, 0, &err),
        ROC_ESTATE);
    roc_daemon_close(d);
    assert_gone(ns, "dr.after");
    /* a TTL out of range */
    d = daemon_up("tcp://127.0.0.1:0", s.url, 4000, NULL);
    assert_int_equal(
        roc_daemon_register_name(d, "dr.y", "obj", NULL, 0, 0, &err),
        ROC_EINVAL);
    assert_non_null(strstr(err.message, "ns_ttl_s 4000"));
    roc_daemon_close(d);
    assert_gone(ns, "dr.y");
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* A wildcard bind registers the address on the way to the name server
 * (here 127.0.0.1), never 0.0.0.0; opts.ns_host names another host. */
static void test_register_uri_host(void **state)
{
    (void)state;
    nsproc s;
    ns_start_at(&s, "tcp://127.0.0.1:0");
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = daemon_up("tcp://0.0.0.0:0", s.url, TTL_S, NULL);
    const char *port = strrchr(roc_daemon_url(d), ':');
    assert_non_null(port);
    assert_string_not_equal(port, ":0");
    assert_ok(roc_daemon_register_name(d, "dr.wild", "obj", NULL, 0, 0, &err),
              &err);
    char want[256];
    snprintf(want, sizeof want, "ROC:obj@tcp://127.0.0.1%s", port);
    char *uri = lookup(ns, "dr.wild");
    assert_non_null(uri);
    assert_string_equal(uri, want);
    assert_ok(call_hello(uri, &err), &err);
    free(uri);
    roc_daemon_close(d);
    assert_gone(ns, "dr.wild");

    static const struct {
        const char *ns_host, *host;
    } hosts[] = {
        {"calc.example.org", "calc.example.org"},
        {"10.1.2.3", "10.1.2.3"},
        {"fd00::5", "[fd00::5]"},
        {"[fd00::6]", "[fd00::6]"},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        d = daemon_up("tcp://127.0.0.1:0", s.url, TTL_S, hosts[i].ns_host);
        port = strrchr(roc_daemon_url(d), ':');
        assert_ok(
            roc_daemon_register_name(d, "dr.host", "obj", NULL, 0, 0, &err),
            &err);
        snprintf(want, sizeof want, "ROC:obj@tcp://%s%s", hosts[i].host, port);
        uri = lookup(ns, "dr.host");
        assert_non_null(uri);
        assert_string_equal(uri, want);
        free(uri);
        roc_daemon_close(d);
        assert_gone(ns, "dr.host");
    }
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* examples/calculator and examples/warehouse with --name: the client
 * reaches the server by ROCNAME:, the name goes when the server exits. */
static void test_register_example_servers(void **state)
{
    (void)state;
    static const struct {
        const char *server, *client, *name;
    } ex[] = {
        {"examples/calculator/calc-server", "examples/calculator/calc-client",
         "demo.calc"},
        {"examples/warehouse/warehouse-server",
         "examples/warehouse/warehouse-client", "demo.warehouse"},
    };
    nsproc s;
    ns_start_at(&s, "tcp://127.0.0.1:0");
    roc_ns *ns = tu_ns_client(s.url);
    setenv("ROC_NS", s.url, 1); /* for the servers and clients */
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char sbin[512], cbin[512], line[512], rocname[64];
        char *sargv[] = {(char *)tu_bin(ex[i].server, sbin, sizeof sbin),
                         "--name", (char *)ex[i].name, "tcp://127.0.0.1:0",
                         NULL};
        int fd = -1;
        pid_t spid = tu_spawn(sargv, &fd);
        assert_true(spid > 0);
        assert_int_equal(tu_read_line(fd, line, sizeof line, 10000), 0);
        char *uri = lookup(ns, ex[i].name);
        assert_non_null(uri);
        assert_string_equal(uri, line);
        free(uri);
        snprintf(rocname, sizeof rocname, "ROCNAME:%s", ex[i].name);
        char *cargv[] = {(char *)tu_bin(ex[i].client, cbin, sizeof cbin),
                         rocname, NULL};
        pid_t cpid = tu_spawn(cargv, NULL);
        assert_true(cpid > 0);
        int st = 0;
        assert_int_equal(waitpid(cpid, &st, 0), cpid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        /* SIGTERM: a clean exit, and the name is gone at once */
        assert_int_equal(tu_stop(spid), 0);
        close(fd);
        assert_gone(ns, ex[i].name);
    }
    unsetenv("ROC_NS");
    roc_ns_close(ns);
    ns_stop(&s);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 5 && strcmp(argv[1], "--serve") == 0)
        return serve(argv[2], argv[3], (unsigned)atoi(argv[4]));
    tu_bin("tests/test_daemon_register", self_bin, sizeof self_bin);
    unsetenv("ROC_NS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_names_appear_and_close_removes_them),
        cmocka_unit_test(test_unregister_withdraws_names),
        cmocka_unit_test(test_register_killed_daemon_drops_out_within_ttl),
        cmocka_unit_test(test_register_unreachable_ns_keeps_serving),
        cmocka_unit_test(test_register_errors),
        cmocka_unit_test(test_register_uri_host),
        cmocka_unit_test(test_register_example_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
