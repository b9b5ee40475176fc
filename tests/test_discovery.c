/* LAN discovery (roc/discovery.h, src/discovery.c).
 *
 * Run without arguments: the cmocka tests that need no avahi-daemon — the
 * address helpers, and every entry point failing at once with a clear
 * ROC_EUNAVAIL when no avahi-daemon answers (the D-Bus system bus address
 * points at a socket that does not exist), while an announcing daemon
 * still serves.
 *
 * Run with arguments, it is a helper of tests/lan/test_lan.sh, which runs
 * it inside network namespaces with real avahi-daemons:
 *   test_discovery serve OBJ IFACE SVC [NSNAME ADDR]
 *       a daemon on tcp://0.0.0.0:0 announcing OBJ (interface IFACE,
 *       methods add and ping) and a service (roc_serve, interface SVC,
 *       method hello), both announced; with NSNAME, OBJ is also registered
 *       in the name server found on the LAN as ROC:OBJ@tcp://ADDR:port.
 *       Prints "READY" once both are established; stops on SIGTERM.
 *   test_discovery connect NAME
 *       roc_connect("service:NAME"), calls hello, prints the answer.
 *   test_discovery nsclient NAME
 *       finds the name servers on the LAN as a client with no ROC_NS does
 *       (roc_ns_default_url) and prints "NS <ms> <list>", the time the
 *       search took and what it gave; opens one roc_ns on it (url NULL)
 *       and then, for every line read on stdin, looks NAME up twice —
 *       through that handle, which keeps the name server it fails over
 *       to, and through a new one (the cached list, first entry first) —
 *       and prints "LOOKUP <uri> via <name server URI> fresh <uri>" or
 *       "ERR <message>". Ends at end of input.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "roc/roc.h"
#include "roci.h"
#include "roci_discovery.h"
#include "testutil.h"

/* ------------------------------------------------------------ servants */

static int m_add(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t a, b;
    if (roc_value_get_int(&args->u.array.items[0], &a) != 0 ||
        roc_value_get_int(&args->u.array.items[1], &b) != 0)
        return roc_call_error(call, ROC_EBADARGS, "add wants two ints");
    *result = roc_value_int(roc_call_arena(call), a + b);
    return 0;
}

static int m_ping(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    *result = roc_value_str(roc_call_arena(call), "pong");
    return 0;
}

static int m_hello(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    *result = roc_value_str(roc_call_arena(call), "hello from the service");
    return 0;
}

static const roc_method calc_methods[] = {
    {"add", m_add, 2, 0, "i64 a, i64 b", "i64"},
    {"ping", m_ping, 0, 0, NULL, "string"},
};

static const roc_method svc_methods[] = {
    {"hello", m_hello, 0, 0, NULL, "string"},
};

/* ------------------------------------------------------------ helpers */

static char *tmpdir;

/* No avahi-daemon: the system bus is a socket that does not exist. */
static int setup_no_avahi(void **state)
{
    (void)state;
    tmpdir = tu_mkdtemp();
    char bus[512];
    snprintf(bus, sizeof bus, "unix:path=%s/no_bus_here", tmpdir);
    setenv("DBUS_SYSTEM_BUS_ADDRESS", bus, 1);
    unsetenv("ROC_NS");
    return 0;
}

static int teardown_no_avahi(void **state)
{
    (void)state;
    tu_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

static void assert_unavail(int rc, const roc_error *err)
{
    assert_int_equal(rc, ROC_EUNAVAIL);
    assert_non_null(err->message);
    /* names the cause: no daemon, or a build without avahi */
    assert_non_null(strstr(err->message, "avahi"));
}

/* ------------------------------------------------------------ unit tests */

static void test_host_classes(void **state)
{
    (void)state;
    static const struct {
        const char *h;
        bool wild, loop;
    } t[] = {
        {"0.0.0.0", true, false},
        {"*", true, false},
        {"", true, false},
        {"::", true, false},
        {"[::]", true, false},
        {"127.0.0.1", false, true},
        {"127.1.2.3", false, true},
        {"::1", false, true},
        {"[::1]", false, true},
        {"localhost", false, true},
        {"10.0.0.5", false, false},
        {"host.local", false, false},
        {"1270.0.0.1", false, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t n = strlen(t[i].h);
        assert_int_equal(roci_host_is_wildcard(t[i].h, n), t[i].wild);
        assert_int_equal(roci_host_is_loopback(t[i].h, n), t[i].loop);
    }
}

static void test_url_host_split_and_rewrite(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *rewritten;
    } t[] = {
        {"ROC:calc@tcp://0.0.0.0:9100", "0.0.0.0",
         "ROC:calc@tcp://10.0.0.5:9100"},
        {"tcp://127.0.0.1:9090", "127.0.0.1", "tcp://10.0.0.5:9090"},
        {"ROC:x@ws://[::]:80/roc", "[::]", "ROC:x@ws://10.0.0.5:80/roc"},
        {"ROC:a.b@tls+tcp://host.local:1", "host.local",
         "ROC:a.b@tls+tcp://10.0.0.5:1"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *h;
        size_t n;
        assert_int_equal(roci_url_host(t[i].url, &h, &n), 0);
        assert_int_equal(n, strlen(t[i].host));
        assert_memory_equal(h, t[i].host, n);
        char *r = roci_uri_with_host(t[i].url, "10.0.0.5");
        assert_non_null(r);
        assert_string_equal(r, t[i].rewritten);
        free(r);
    }
    char *r6 = roci_uri_with_host("ROC:x@tcp://0.0.0.0:7", "fe80::1");
    assert_string_equal(r6, "ROC:x@tcp://[fe80::1]:7");
    free(r6);
    const char *h;
    size_t n;
    assert_int_not_equal(roci_url_host("ipc:///tmp/x.sock", &h, &n), 0);
    assert_int_not_equal(roci_url_host("ROC:x", &h, &n), 0);
    assert_null(roci_uri_with_host("nonsense", "1.2.3.4"));
}

static void test_discovered_txt_lookup(void **state)
{
    (void)state;
    const char *txt[] = {"v=1", "id=calc", "iface=demo.Calculator", "flag",
                         "uri=ROC:calc@tcp://10.0.0.5:1"};
    roc_discovered s = {.txt = txt, .n_txt = 5};
    assert_string_equal(roc_discovered_txt(&s, "id"), "calc");
    assert_string_equal(roc_discovered_txt(&s, "iface"), "demo.Calculator");
    assert_string_equal(roc_discovered_txt(&s, "v"), "1");
    assert_null(roc_discovered_txt(&s, "flag")); /* no value */
    assert_null(roc_discovered_txt(&s, "i"));
    assert_null(roc_discovered_txt(&s, "missing"));
    assert_null(roc_discovered_txt(NULL, "id"));
}

static int never(const roc_discovered *s, void *arg)
{
    (void)s;
    (void)arg;
    return 1;
}

static void test_discover_bad_arguments(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_discover(NULL, 1000, NULL, NULL, &err), ROC_EINVAL);
    assert_int_equal(roc_discover(NULL, 0, never, NULL, &err), ROC_EINVAL);
    assert_int_equal(roc_discover_all(NULL, 1000, NULL, NULL, NULL, &err),
                     ROC_EINVAL);
    roc_error_clear(&err);
}

static void test_ns_list_order_and_truncation(void **state)
{
    (void)state;
    char *u[] = {
        "ROC:roc.ns@tcp://10.0.0.9:9090", "ROC:roc.ns@tcp://10.0.0.1:9091",
        "ROC:roc.ns@tcp://10.0.0.5:9090", "ROC:roc.ns@tcp://10.0.0.1:9090"};
    bool local[] = {false, true, false, true};
    roci_ns_list_sort(u, local, 4);
    /* this host's first, then by URI; local follows its URI */
    assert_string_equal(u[0], "ROC:roc.ns@tcp://10.0.0.1:9090");
    assert_string_equal(u[1], "ROC:roc.ns@tcp://10.0.0.1:9091");
    assert_string_equal(u[2], "ROC:roc.ns@tcp://10.0.0.5:9090");
    assert_string_equal(u[3], "ROC:roc.ns@tcp://10.0.0.9:9090");
    assert_true(local[0] && local[1] && !local[2] && !local[3]);
    char out[200];
    assert_int_equal(roci_ns_list_join(u, 4, out, sizeof out), 4);
    assert_string_equal(out, "ROC:roc.ns@tcp://10.0.0.1:9090,"
                             "ROC:roc.ns@tcp://10.0.0.1:9091,"
                             "ROC:roc.ns@tcp://10.0.0.5:9090,"
                             "ROC:roc.ns@tcp://10.0.0.9:9090");
    /* too small: whole entries only; exactly enough is enough */
    size_t one = strlen(u[0]) + 1, two = one + strlen(u[1]) + 1;
    const struct {
        size_t len, fit;
    } t[] = {{0, 0},       {1, 0},       {10, 0},  {one - 1, 0}, {one, 1},
             {one + 1, 1}, {two - 1, 1}, {two, 2}, {two + 1, 2}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        memset(out, 'x', sizeof out);
        assert_int_equal(roci_ns_list_join(u, 4, out, t[i].len), t[i].fit);
        if (t[i].len)
            assert_int_equal(strlen(out), t[i].fit == 0   ? 0
                                          : t[i].fit == 1 ? one - 1
                                                          : two - 1);
        assert_int_equal(out[t[i].len], 'x'); /* nothing written past len */
    }
    assert_int_equal(roci_ns_list_join(u, 0, out, sizeof out), 0);
    assert_string_equal(out, "");
}

/* ------------------------------------------------------- without avahi */

static void test_no_avahi_discover_fails_at_once(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    uint64_t t0 = tu_now_ms();
    int rc = roc_discover(ROC_DISCOVER_TYPE, 10000, never, NULL, &err);
    assert_unavail(rc, &err);
    roc_arena *a;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_discovered *v = NULL;
    size_t n = 99;
    rc = roc_discover_all(ROC_DISCOVER_NS_TYPE, 10000, a, &v, &n, &err);
    assert_unavail(rc, &err);
    assert_int_equal(n, 0);
    assert_unavail(roc_discovery_available(&err), &err);
    /* nothing waited for its timeout */
    assert_true(tu_now_ms() - t0 < 3000);
    roc_arena_free(a);
    roc_error_clear(&err);
}

static void test_no_avahi_rocdiscover_proxy_and_service_connect(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    uint64_t t0 = tu_now_ms();
    roc_proxy *p = NULL;
    int rc = roc_proxy_open(&p, "ROCDISCOVER:Calculator", &err);
    assert_unavail(rc, &err);
    assert_null(p);
    assert_non_null(strstr(err.message, "Calculator"));
    roc_conn *c = NULL;
    rc = roc_connect(&c, "service:Calculator", NULL, &err);
    assert_unavail(rc, &err);
    assert_null(c);
    assert_true(tu_now_ms() - t0 < 3000);
    roc_error_clear(&err);
}

static void test_no_avahi_announcing_daemon_serves_unannounced(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.announce = true;
    o.announce_name = "test";
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err), 0);
    roc_servant sv = {
        .iface = "demo.Calculator", .methods = calc_methods, .n_methods = 2};
    char *uri = NULL;
    assert_int_equal(roc_daemon_register(d, "calc", &sv, &uri), 0);
    int rc0 = roc_daemon_announced(d, 0, &err);
    /* not started: nothing announced (or, built without avahi, never) */
    assert_true(rc0 == ROC_ESTATE || rc0 == ROC_EUNAVAIL);
    uint64_t t0 = tu_now_ms();
    assert_int_equal(roc_daemon_start(d), 0);
    int rc = roc_daemon_announced(d, 5000, &err);
    assert_unavail(rc, &err);
    assert_non_null(strstr(err.message, "unannounced"));
    assert_true(tu_now_ms() - t0 < 3000);
    /* it serves all the same */
    roc_proxy *p = NULL;
    assert_int_equal(roc_proxy_open(&p, uri, &err), 0);
    roc_arena *a;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value *res = NULL;
    roc_value *args =
        roc_value_arrayv(a, 2, roc_value_int(a, 2), roc_value_int(a, 40));
    assert_int_equal(roc_proxy_call(p, "add", args, &res, a, &err), 0);
    int64_t v = 0;
    assert_int_equal(roc_value_get_int(res, &v), 0);
    assert_int_equal(v, 42);
    /* registering and unregistering more objects while serving is fine */
    assert_int_equal(roc_daemon_register(d, "calc2", &sv, NULL), 0);
    assert_int_equal(roc_daemon_unregister(d, "calc2"), 0);
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_daemon_close(d);
    free(uri);
    roc_error_clear(&err);
}

static void test_no_avahi_daemon_without_announce_is_untouched(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", NULL, &err), 0);
    assert_int_equal(roc_daemon_start(d), 0);
    int rc = roc_daemon_announced(d, 0, &err);
    /* announces nothing (with avahi built in), or cannot (without) */
    assert_true(rc == ROC_ESTATE || rc == ROC_EUNAVAIL);
    roc_daemon_close(d);
    roc_error_clear(&err);
}

static void test_no_avahi_name_server_falls_back_to_default(void **state)
{
    (void)state;
    uint64_t t0 = tu_now_ms();
    assert_string_equal(roc_ns_default_url(), ROC_NS_DEFAULT_URL);
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_ns_open(&ns, NULL, &err), 0);
    assert_string_equal(roc_ns_uri(ns), "ROC:roc.ns@" ROC_NS_DEFAULT_URL);
    roc_ns_close(ns);
    /* ROC_NS still wins, and no search happens */
    setenv("ROC_NS", "tcp://127.0.0.1:1", 1);
    assert_string_equal(roc_ns_default_url(), "tcp://127.0.0.1:1");
    unsetenv("ROC_NS");
    assert_true(tu_now_ms() - t0 < 3000);
    roc_error_clear(&err);
}

static void test_no_avahi_fallback_error_names_the_cause(void **state)
{
    (void)state;
    /* a name server location nobody listens on: the error says it was
     * a fallback, and why */
    char why[300];
    char out[512];
    assert_false(roci_discover_ns(out, sizeof out, why, sizeof why));
    assert_non_null(strstr(why, "avahi"));
}

/* ------------------------------------------------------------ helpers */

static int serve_main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: test_discovery serve OBJ IFACE SVC "
                        "[NSNAME ADDR]\n");
        return 2;
    }
    const char *obj = argv[2], *iface = argv[3], *svcname = argv[4];
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.announce = true;
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL, *sd = NULL;
    roc_servant sv = {.iface = iface, .methods = calc_methods, .n_methods = 2};
    roc_service svc = {.name = svcname, .methods = svc_methods, .n_methods = 1};
    int rc = roc_daemon_open(&d, "tcp://0.0.0.0:0", &o, &err);
    if (rc == 0)
        rc = roc_daemon_register(d, obj, &sv, NULL);
    if (rc == 0)
        rc = roc_daemon_start(d);
    if (rc == 0)
        rc = roc_serve("tcp://0.0.0.0:0", &svc, &o, &sd, &err);
    if (rc == 0)
        rc = roc_daemon_announced(d, 20000, &err);
    if (rc == 0)
        rc = roc_daemon_announced(sd, 20000, &err);
    if (rc == 0 && argc >= 7) {
        const char *url = roc_daemon_url(d);
        const char *port = strrchr(url, ':');
        char uri[256];
        snprintf(uri, sizeof uri, "ROC:%s@tcp://%s%s", obj, argv[6], port);
        roc_ns *ns = NULL;
        rc = roc_ns_open(&ns, NULL, &err);
        if (rc == 0)
            rc = roc_ns_register(ns, argv[5], uri, NULL, 0, ROC_NS_REPLACE,
                                 &err);
        roc_ns_close(ns);
    }
    if (rc) {
        fprintf(stderr, "serve: %s\n",
                err.message ? err.message : roc_strerror(rc));
        roc_daemon_close(sd);
        roc_daemon_close(d);
        roc_error_clear(&err);
        return 1;
    }
    printf("READY %s %s\n", roc_daemon_url(d), roc_daemon_url(sd));
    fflush(stdout);
    int sig;
    while (sigwait(&stop, &sig) != 0)
        ;
    roc_daemon_close(sd);
    roc_daemon_close(d);
    return 0;
}

static int connect_main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_discovery connect NAME\n");
        return 2;
    }
    char url[256];
    snprintf(url, sizeof url, "service:%s", argv[2]);
    roc_error err = ROC_ERROR_INIT;
    roc_conn *c = NULL;
    roc_arena *a = NULL;
    roc_value *res = NULL;
    int rc = roc_arena_new(&a);
    if (rc == 0)
        rc = roc_connect(&c, url, NULL, &err);
    if (rc == 0)
        rc = roc_conn_call(c, "hello", NULL, &res, a, &err);
    const char *s = NULL;
    size_t n = 0;
    if (rc == 0 && roc_value_get_str(res, &s, &n) == 0)
        printf("%.*s\n", (int)n, s);
    else
        fprintf(stderr, "connect: %s\n",
                err.message ? err.message : roc_strerror(rc));
    roc_conn_close(c);
    roc_arena_free(a);
    roc_error_clear(&err);
    return rc ? 1 : 0;
}

static int nsclient_main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_discovery nsclient NAME\n");
        return 2;
    }
    uint64_t t0 = tu_now_ms();
    const char *list = roc_ns_default_url();
    printf("NS %llu %s\n", (unsigned long long)(tu_now_ms() - t0), list);
    fflush(stdout);
    roc_error err = ROC_ERROR_INIT;
    roc_ns *ns = NULL;
    if (roc_ns_open(&ns, NULL, &err) != 0) {
        fprintf(stderr, "nsclient: %s\n", err.message);
        roc_error_clear(&err);
        return 1;
    }
    roc_ns_set_timeout(ns, 3000);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        char *uri = NULL, *fresh = NULL;
        roc_ns *ns2 = NULL;
        int rc = roc_ns_lookup(ns, argv[2], 0, &uri, &err);
        if (rc == 0)
            rc = roc_ns_open(&ns2, NULL, &err);
        if (rc == 0) {
            roc_ns_set_timeout(ns2, 3000);
            rc = roc_ns_lookup(ns2, argv[2], 0, &fresh, &err);
        }
        if (rc == 0)
            printf("LOOKUP %s via %s fresh %s\n", uri, roc_ns_uri(ns), fresh);
        else
            printf("ERR %s\n", err.message ? err.message : roc_strerror(rc));
        fflush(stdout);
        roc_ns_close(ns2);
        free(uri);
        free(fresh);
    }
    roc_ns_close(ns);
    roc_error_clear(&err);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "nsclient") == 0)
        return nsclient_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "connect") == 0)
        return connect_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_classes),
        cmocka_unit_test(test_url_host_split_and_rewrite),
        cmocka_unit_test(test_discovered_txt_lookup),
        cmocka_unit_test(test_discover_bad_arguments),
        cmocka_unit_test(test_ns_list_order_and_truncation),
        cmocka_unit_test(test_no_avahi_discover_fails_at_once),
        cmocka_unit_test(test_no_avahi_rocdiscover_proxy_and_service_connect),
        cmocka_unit_test(test_no_avahi_announcing_daemon_serves_unannounced),
        cmocka_unit_test(test_no_avahi_daemon_without_announce_is_untouched),
        cmocka_unit_test(test_no_avahi_name_server_falls_back_to_default),
        cmocka_unit_test(test_no_avahi_fallback_error_names_the_cause),
    };
    return cmocka_run_group_tests(tests, setup_no_avahi, teardown_no_avahi);
}
