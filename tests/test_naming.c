/* Naming end to end: a real roc-ns process (nameserver/roc-ns) on a free
 * tcp port, the roc_ns_* client API against it, ROCNAME:/ROCMETA: proxies
 * (replicas spread and failed over, re-binding after a server moved,
 * following a name's replicas as they come and go),
 * lookups that wait, autoclean, 8 client processes at once, bad input.
 *
 * The 8 clients are this very program run as "test_naming --client URL K"
 * (a fresh process each, so each has its own connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <roc/roc.h>

#include "testutil.h"

static char ns_bin[1024];
static char self_bin[1024];

/* ------------------------------------------------------------ roc-ns */

typedef tu_ns nsproc;

/* Starts roc-ns on a free port with up to two more arguments. */
static void ns_start(nsproc *s, const char *extra1, const char *extra2)
{
    const char *x[] = {extra1, extra2, NULL};
    assert_int_equal(tu_ns_start(s, NULL, x), 0);
}

static void ns_stop(nsproc *s)
{
    assert_int_equal(tu_ns_stop(s), 0); /* clean exit on SIGTERM */
}

/* ------------------------------------------------------------ servers */

/* who() -> the id given at registration: tells which replica answered. */
static int who(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    *result = roc_value_str(roc_call_arena(call), roc_call_self(call));
    return 0;
}

static const roc_method who_methods[] = {
    {"who", who, 0, 0, "", "string"},
};

typedef struct svc {
    roc_daemon *d;
    char *uri;
} svc;

static void svc_start(svc *s, const char *tag)
{
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_daemon_open(&s->d, "tcp://127.0.0.1:0", NULL, &err), &err);
    roc_servant sv = {.iface = "test.Who",
                      .methods = who_methods,
                      .n_methods = 1,
                      .self = (void *)tag,
                      .mode = ROC_INSTANCE_SINGLE};
    assert_int_equal(roc_daemon_register(s->d, "who", &sv, &s->uri), 0);
    assert_int_equal(roc_daemon_start(s->d), 0);
}

static void svc_stop(svc *s)
{
    if (s->d)
        roc_daemon_close(s->d);
    free(s->uri);
    s->d = NULL;
    s->uri = NULL;
}

/* Calls who() through p: the answer, in a static buffer, or NULL. */
static const char *call_who(roc_proxy *p, int *rc_out)
{
    static __thread char buf[64];
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *r = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_proxy_call(p, "who", NULL, &r, a, &err);
    if (rc_out)
        *rc_out = rc;
    const char *s = NULL;
    size_t len;
    if (rc == 0 && roc_value_get_str(r, &s, &len) == 0)
        snprintf(buf, sizeof buf, "%s", s);
    else if (rc)
        fprintf(stderr, "who(): %s\n", tu_errtext(&err));
    roc_error_clear(&err);
    roc_arena_free(a);
    return rc == 0 ? buf : NULL;
}

static nsproc g_ns; /* shared by most tests */
static nsproc g_ac; /* autoclean's; stopped by teardown if a test failed */

/* ------------------------------------------------------------ API */

static void test_ns_ping_and_count(void **state)
{
    (void)state;
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_ping(ns, &err), &err);
    assert_ok(roc_ns_remove(ns, "", ROC_NS_PREFIX, NULL, &err), &err);
    uint64_t n = 99;
    assert_ok(roc_ns_count(ns, &n, &err), &err);
    assert_int_equal(n, 0);
    assert_ok(roc_ns_register(ns, "count.a", "ROC:a@tcp://127.0.0.1:1", NULL, 0,
                              0, &err),
              &err);
    assert_ok(roc_ns_count(ns, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_ok(roc_ns_remove(ns, "count.a", ROC_NS_EXACT, NULL, &err), &err);
    roc_error_clear(&err);
    roc_ns_close(ns);
}

static void test_ns_register_lookup_exists(void **state)
{
    (void)state;
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    const char *tags[] = {"calc", "v1"};
    assert_ok(roc_ns_register(ns, "demo.calc", "ROC:calc@tcp://127.0.0.1:9",
                              tags, 2, 0, &err),
              &err);
    char *uri = NULL;
    assert_ok(roc_ns_lookup(ns, "demo.calc", 0, &uri, &err), &err);
    assert_string_equal(uri, "ROC:calc@tcp://127.0.0.1:9");
    free(uri);

    /* taken: refused without a flag, with the remote type kept */
    int rc = roc_ns_register(ns, "demo.calc", "ROC:calc@tcp://127.0.0.1:10",
                             NULL, 0, 0, &err);
    assert_int_equal(rc, ROC_EEXIST);
    assert_string_equal(err.type, "roc.naming.Exists");
    /* ... replaced with REPLACE */
    assert_ok(roc_ns_register(ns, "demo.calc", "ROC:calc@tcp://127.0.0.1:10",
                              NULL, 0, ROC_NS_REPLACE, &err),
              &err);
    assert_ok(roc_ns_lookup(ns, "demo.calc", 0, &uri, &err), &err);
    assert_string_equal(uri, "ROC:calc@tcp://127.0.0.1:10");
    free(uri);
    /* ... or grown with ADD_REPLICA (the same URI twice counts once) */
    for (int i = 0; i < 2; i++)
        assert_ok(roc_ns_register(ns, "demo.calc",
                                  "ROC:calc@tcp://127.0.0.1:11", NULL, 0,
                                  ROC_NS_ADD_REPLICA, &err),
                  &err);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    const char **uris = NULL;
    size_t n = 0;
    assert_ok(roc_ns_lookup_all(ns, "demo.calc", 0, a, &uris, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(uris[0], "ROC:calc@tcp://127.0.0.1:10");
    assert_string_equal(uris[1], "ROC:calc@tcp://127.0.0.1:11");

    /* remove one replica, then the last */
    size_t k = 0;
    assert_ok(roc_ns_remove_uri(ns, "demo.calc", "ROC:calc@tcp://127.0.0.1:10",
                                &k, &err),
              &err);
    assert_int_equal(k, 1);
    assert_ok(roc_ns_remove_uri(ns, "demo.calc", "ROC:calc@tcp://127.0.0.1:10",
                                &k, &err),
              &err);
    assert_int_equal(k, 0);
    assert_ok(roc_ns_remove_uri(ns, "demo.calc", "ROC:calc@tcp://127.0.0.1:11",
                                &k, &err),
              &err);
    assert_int_equal(k, 1);
    rc = roc_ns_lookup(ns, "demo.calc", 0, &uri, &err);
    assert_int_equal(rc, ROC_ENOTFOUND);
    assert_string_equal(err.type, "roc.naming.NotFound");
    /* without an error object, the code is still mapped */
    assert_int_equal(roc_ns_lookup(ns, "demo.calc", 0, &uri, NULL),
                     ROC_ENOTFOUND);
    roc_arena_free(a);
    roc_error_clear(&err);
    roc_ns_close(ns);
}

static void reg(roc_ns *ns, const char *name, const char *tag1,
                const char *tag2)
{
    roc_error err = ROC_ERROR_INIT;
    const char *tags[2] = {tag1, tag2};
    size_t nt = tag2 ? 2 : tag1 ? 1 : 0;
    char uri[300];
    snprintf(uri, sizeof uri, "ROC:%s@tcp://127.0.0.1:7", name);
    assert_ok(roc_ns_register(ns, name, uri, tags, nt, ROC_NS_REPLACE, &err),
              &err);
    roc_error_clear(&err);
}

static void test_ns_list_prefix_regex_meta(void **state)
{
    (void)state;
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    reg(ns, "shop.cart", "web", "eu");
    reg(ns, "shop.stock", "db", "eu");
    reg(ns, "shop.pay", "web", "us");
    reg(ns, "shopkeeper", NULL, NULL);
    reg(ns, "bank.pay", "web", "eu");
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry *es = NULL;
    size_t n = 0;

    assert_ok(roc_ns_list(ns, "shop.", ROC_NS_PREFIX, a, &es, &n, &err), &err);
    assert_int_equal(n, 3); /* sorted by name */
    assert_string_equal(es[0].name, "shop.cart");
    assert_string_equal(es[1].name, "shop.pay");
    assert_string_equal(es[2].name, "shop.stock");
    assert_int_equal(es[0].n_uris, 1);
    assert_string_equal(es[0].uris[0], "ROC:shop.cart@tcp://127.0.0.1:7");
    assert_int_equal(es[0].n_meta, 2);
    assert_string_equal(es[0].meta[0], "web");

    assert_ok(roc_ns_list(ns, "\\.pay$", ROC_NS_REGEX, a, &es, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(es[0].name, "bank.pay");
    assert_string_equal(es[1].name, "shop.pay");

    assert_ok(roc_ns_list(ns, "shopkeeper", ROC_NS_EXACT, a, &es, &n, &err),
              &err);
    assert_int_equal(n, 1);
    assert_int_equal(es[0].n_meta, 0);

    const char *all[] = {"web", "eu"};
    assert_ok(roc_ns_lookup_meta(ns, all, 2, false, a, &es, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(es[0].name, "bank.pay");
    assert_string_equal(es[1].name, "shop.cart");
    const char *any[] = {"db", "us"};
    assert_ok(roc_ns_lookup_meta(ns, any, 2, true, a, &es, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(es[0].name, "shop.pay");
    assert_string_equal(es[1].name, "shop.stock");

    /* set_meta replaces the tags */
    const char *nt[] = {"db", "archive"};
    assert_ok(roc_ns_set_meta(ns, "shopkeeper", nt, 2, &err), &err);
    const char *arch[] = {"archive"};
    assert_ok(roc_ns_lookup_meta(ns, arch, 1, false, a, &es, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].name, "shopkeeper");
    assert_int_equal(roc_ns_set_meta(ns, "nobody", nt, 2, &err), ROC_ENOTFOUND);

    /* remove by regex, by prefix, by name */
    size_t k = 0;
    assert_ok(roc_ns_remove(ns, "^shop\\.(cart|pay)$", ROC_NS_REGEX, &k, &err),
              &err);
    assert_int_equal(k, 2);
    assert_ok(roc_ns_remove(ns, "shop", ROC_NS_PREFIX, &k, &err), &err);
    assert_int_equal(k, 2); /* shop.stock, shopkeeper */
    assert_ok(roc_ns_remove(ns, "bank.pay", ROC_NS_EXACT, &k, &err), &err);
    assert_int_equal(k, 1);
    assert_ok(roc_ns_remove(ns, "bank.pay", ROC_NS_EXACT, &k, &err), &err);
    assert_int_equal(k, 0);
    assert_ok(roc_ns_list(ns, "", ROC_NS_PREFIX, a, &es, &n, &err), &err);
    for (size_t i = 0; i < n; i++)
        assert_true(strncmp(es[i].name, "shop", 4) != 0 &&
                    strcmp(es[i].name, "bank.pay") != 0);
    roc_arena_free(a);
    roc_error_clear(&err);
    roc_ns_close(ns);
}

static void test_ns_bad_inputs(void **state)
{
    (void)state;
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    const char *ok = "ROC:x@tcp://127.0.0.1:1";
    struct {
        const char *name, *uri, *why;
    } bad[] = {
        {"", ok, "empty name"},
        {"has space", ok, "characters outside"},
        {"x", "", "empty URI"},
        {"x", "not a uri", "invalid URI"},
        {"x", "ROC:x@bogus://h:1", "invalid URI"},
        {"x", "ROCNAME:other", "not an object URI"},
        {"x", "ROC:x@tcp://127.0.0.1:1\n", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = roc_ns_register(ns, bad[i].name, bad[i].uri, NULL, 0, 0, &err);
        if (rc != ROC_EBADARGS || !strstr(err.message, bad[i].why))
            fail_msg("register('%s', '%s'): %d %s (want '%s')", bad[i].name,
                     bad[i].uri, rc, tu_errtext(&err), bad[i].why);
        assert_string_equal(err.type, "roc.BadArguments");
    }
    /* a name too long */
    char longname[400];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(roc_ns_register(ns, longname, ok, NULL, 0, 0, &err),
                     ROC_EBADARGS);
    assert_non_null(strstr(err.message, "at most 255"));
    /* huge metadata: too many tags, a tag of a megabyte, a bad tag */
    const char *many[40];
    for (int i = 0; i < 40; i++)
        many[i] = "t";
    assert_int_equal(roc_ns_register(ns, "x", ok, many, 40, 0, &err),
                     ROC_EBADARGS);
    assert_non_null(strstr(err.message, "at most 32"));
    size_t big = 1u << 20;
    char *huge = malloc(big + 1);
    memset(huge, 'm', big);
    huge[big] = 0;
    const char *one[] = {huge};
    assert_int_equal(roc_ns_register(ns, "x", ok, one, 1, 0, &err),
                     ROC_EBADARGS);
    assert_non_null(strstr(err.message, "at most 128"));
    assert_int_equal(roc_ns_set_meta(ns, "x", one, 1, &err), ROC_EBADARGS);
    assert_int_equal(
        roc_ns_lookup_meta(ns, one, 1, false, NULL, NULL, NULL, &err),
        ROC_EINVAL);
    free(huge);
    const char *badtag[] = {"no/slash"};
    assert_int_equal(roc_ns_register(ns, "x", ok, badtag, 1, 0, &err),
                     ROC_EBADARGS);
    /* bad flags, a bad regular expression */
    assert_int_equal(roc_ns_register(ns, "x", ok, NULL, 0, 3, &err),
                     ROC_EBADARGS);
    assert_int_equal(roc_ns_register(ns, "x", ok, NULL, 0, 64, &err),
                     ROC_EBADARGS);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry *es;
    size_t n;
    assert_int_equal(roc_ns_list(ns, "(", ROC_NS_REGEX, a, &es, &n, &err),
                     ROC_EBADARGS);
    assert_non_null(strstr(err.message, "regular expression"));
    assert_int_equal(roc_ns_remove(ns, "[", ROC_NS_REGEX, NULL, &err),
                     ROC_EBADARGS);
    /* local refusals: no handle, no name */
    assert_int_equal(roc_ns_register(NULL, "x", ok, NULL, 0, 0, &err),
                     ROC_EINVAL);
    assert_int_equal(roc_ns_register(ns, NULL, ok, NULL, 0, 0, &err),
                     ROC_EINVAL);
    roc_ns *bogus = NULL;
    assert_int_equal(roc_ns_open(&bogus, "bogus://x", &err), ROC_EPARSE);
    assert_null(bogus);
    /* nothing was registered by any of this */
    uint64_t c = 0;
    assert_ok(roc_ns_list(ns, "x", ROC_NS_EXACT, a, &es, &n, &err), &err);
    assert_int_equal(n, 0);
    assert_ok(roc_ns_count(ns, &c, &err), &err);
    roc_arena_free(a);
    roc_error_clear(&err);
    roc_ns_close(ns);
}

typedef struct later {
    const nsproc *ns;
    const char *name;
    int rc;
    char *uri;
} later;

static void *lookup_waiting(void *arg)
{
    later *l = arg;
    roc_ns *ns = tu_ns_client(l->ns->url);
    l->rc = roc_ns_lookup(ns, l->name, 10000, &l->uri, NULL);
    roc_ns_close(ns);
    return NULL;
}

static void test_ns_lookup_waits_for_registration(void **state)
{
    (void)state;
    later l = {&g_ns, "late.server", -1, NULL};
    pthread_t t;
    pthread_create(&t, NULL, lookup_waiting, &l);
    /* the lookup is waiting (or about to); register the name now */
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_register(ns, "late.server", "ROC:late@tcp://127.0.0.1:3",
                              NULL, 0, 0, &err),
              &err);
    pthread_join(t, NULL);
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.uri, "ROC:late@tcp://127.0.0.1:3");
    free(l.uri);
    /* a name that never comes: ROC_ENOTFOUND once the wait is over */
    uint64_t t0 = tu_now_ms();
    char *uri = NULL;
    assert_int_equal(roc_ns_lookup(ns, "never.there", 150, &uri, &err),
                     ROC_ENOTFOUND);
    assert_true(tu_now_ms() - t0 >= 150);
    assert_ok(roc_ns_remove(ns, "late.server", ROC_NS_EXACT, NULL, &err), &err);
    roc_error_clear(&err);
    roc_ns_close(ns);
}

static void test_ns_lookup_waits_for_name_server(void **state)
{
    (void)state;
    /* a name server that is not there yet: the wait covers it; nothing
     * there at all: ECONNREFUSED, quickly */
    svc gone;
    svc_start(&gone, "x");
    char url[256];
    snprintf(url, sizeof url, "%s", roc_daemon_url(gone.d));
    svc_stop(&gone);
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_open(&ns, url, &err), &err);
    char *uri = NULL;
    uint64_t t0 = tu_now_ms();
    int rc = roc_ns_lookup(ns, "x", 0, &uri, &err);
    assert_int_equal(rc, ROC_ECONNREFUSED);
    assert_true(tu_now_ms() - t0 < 3000);
    t0 = tu_now_ms();
    rc = roc_ns_lookup(ns, "x", 200, &uri, &err);
    assert_int_equal(rc, ROC_ECONNREFUSED);
    assert_true(tu_now_ms() - t0 >= 200);
    /* and a ROCNAME: proxy through it fails with that code, clearly */
    char u[400];
    snprintf(u, sizeof u, "ROCNAME:x@%s", url);
    roc_proxy *p = NULL;
    rc = roc_proxy_open(&p, u, &err);
    assert_int_equal(rc, ROC_ECONNREFUSED);
    assert_non_null(strstr(err.message, "name server"));
    roc_error_clear(&err);
    roc_ns_close(ns);
}

/* ------------------------------------------------------------ proxies */

static void test_rocname_proxy_calls(void **state)
{
    (void)state;
    svc s;
    svc_start(&s, "solo");
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    const char *tags[] = {"who", "solo"};
    assert_ok(
        roc_ns_register(ns, "test.solo", s.uri, tags, 2, ROC_NS_REPLACE, &err),
        &err);
    char u[700];
    /* the name server from the URI's @url */
    snprintf(u, sizeof u, "ROCNAME:test.solo@%s", g_ns.url);
    roc_proxy *p = NULL;
    assert_ok(roc_proxy_open(&p, u, &err), &err);
    const char *r = call_who(p, NULL);
    assert_non_null(r);
    assert_string_equal(r, "solo");
    roc_proxy_close(p);
    /* ... or from ROC_NS */
    setenv("ROC_NS", g_ns.url, 1);
    assert_ok(roc_proxy_open(&p, "ROCNAME:test.solo", &err), &err);
    assert_string_equal(call_who(p, NULL), "solo");
    roc_proxy_close(p);
    /* ROCMETA: a registration carrying all the tags */
    assert_ok(roc_proxy_open(&p, "ROCMETA:solo,who", &err), &err);
    assert_string_equal(call_who(p, NULL), "solo");
    roc_proxy_close(p);
    assert_int_equal(roc_proxy_open(&p, "ROCMETA:solo,nobody", &err),
                     ROC_ENOTFOUND);
    assert_int_equal(roc_proxy_open(&p, "ROCNAME:test.nobody", &err),
                     ROC_ENOTFOUND);
    unsetenv("ROC_NS");
    assert_ok(roc_ns_remove(ns, "test.solo", ROC_NS_EXACT, NULL, &err), &err);
    roc_error_clear(&err);
    roc_ns_close(ns);
    svc_stop(&s);
}

static void test_replicas_spread_and_fail_over(void **state)
{
    (void)state;
    svc s1, s2, s3;
    svc_start(&s1, "r1");
    svc_start(&s2, "r2");
    svc_start(&s3, "r3");
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(
        roc_ns_register(ns, "test.rep", s1.uri, NULL, 0, ROC_NS_REPLACE, &err),
        &err);
    assert_ok(roc_ns_register(ns, "test.rep", s2.uri, NULL, 0,
                              ROC_NS_ADD_REPLICA, &err),
              &err);
    assert_ok(roc_ns_register(ns, "test.rep", s3.uri, NULL, 0,
                              ROC_NS_ADD_REPLICA, &err),
              &err);
    char u[700];
    snprintf(u, sizeof u, "ROCNAME:test.rep@%s", g_ns.url);
    roc_proxy *p = NULL;
    assert_ok(roc_proxy_open(&p, u, &err), &err);
    int seen[3] = {0};
    for (int i = 0; i < 30; i++) {
        const char *r = call_who(p, NULL);
        assert_non_null(r);
        seen[r[1] - '1']++;
    }
    /* spread: every replica served some of the calls */
    for (int i = 0; i < 3; i++)
        if (seen[i] == 0)
            fail_msg("replica r%d got none of 30 calls (%d %d %d)", i + 1,
                     seen[0], seen[1], seen[2]);

    /* one dies: every call still succeeds, on the others */
    svc_stop(&s2);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 30; i++) {
        int rc = 0;
        const char *r = call_who(p, &rc);
        /* a call in flight on the dropped connection may fail once with
         * ROC_ECLOSED (at most once: never resent); all others succeed */
        if (!r) {
            assert_int_equal(rc, ROC_ECLOSED);
            continue;
        }
        seen[r[1] - '1']++;
    }
    assert_int_equal(seen[1], 0);
    assert_true(seen[0] > 0 && seen[2] > 0);
    assert_true(seen[0] + seen[2] >= 29);
    roc_proxy_close(p);
    assert_ok(roc_ns_remove(ns, "test.rep", ROC_NS_EXACT, NULL, &err), &err);
    roc_error_clear(&err);
    roc_ns_close(ns);
    svc_stop(&s1);
    svc_stop(&s3);
}

static void test_proxy_rebinds_after_server_moved(void **state)
{
    (void)state;
    svc a;
    svc_start(&a, "first");
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(
        roc_ns_register(ns, "test.mover", a.uri, NULL, 0, ROC_NS_REPLACE, &err),
        &err);
    char u[700];
    snprintf(u, sizeof u, "ROCNAME:test.mover@%s", g_ns.url);
    roc_proxy *p = NULL;
    assert_ok(roc_proxy_open(&p, u, &err), &err);
    assert_string_equal(call_who(p, NULL), "first");

    /* the server goes away and comes back elsewhere, under the same name */
    svc_stop(&a);
    svc b;
    svc_start(&b, "second");
    assert_ok(
        roc_ns_register(ns, "test.mover", b.uri, NULL, 0, ROC_NS_REPLACE, &err),
        &err);
    int rc = 0;
    const char *r = call_who(p, &rc);
    if (!r) { /* the call that saw the old connection drop */
        assert_int_equal(rc, ROC_ECLOSED);
        r = call_who(p, &rc);
    }
    assert_non_null(r);
    assert_string_equal(r, "second");
    assert_string_equal(call_who(p, NULL), "second");
    roc_proxy_close(p);
    assert_ok(roc_ns_remove(ns, "test.mover", ROC_NS_EXACT, NULL, &err), &err);
    roc_error_clear(&err);
    roc_ns_close(ns);
    svc_stop(&b);
}

typedef struct follow_arg {
    roc_proxy *p;
    const char *want; /* a replica that must answer */
} follow_arg;

static bool answers(void *arg)
{
    follow_arg *f = arg;
    const char *r = call_who(f->p, NULL);
    return r && strcmp(r, f->want) == 0;
}

/* A ROCNAME: proxy follows its name's replicas through a name server watch:
 * a replica added while the first still serves gets calls (a proxy that
 * re-resolved only on failure never would), a replica removed from the
 * name gets none although it still serves, and a second proxy of the same
 * name shares the watch. With ROC_NS_FOLLOW=0 the proxy keeps what it
 * resolved. */
static void test_proxy_follows_replicas(void **state)
{
    (void)state;
    svc s1, s2;
    svc_start(&s1, "f1");
    svc_start(&s2, "f2");
    roc_ns *ns = tu_ns_client(g_ns.url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_register(ns, "test.follow", s1.uri, NULL, 0,
                              ROC_NS_REPLACE, &err),
              &err);
    char u[700];
    snprintf(u, sizeof u, "ROCNAME:test.follow@%s", g_ns.url);
    roc_proxy *p = NULL, *q = NULL, *fixed = NULL;
    assert_ok(roc_proxy_open(&p, u, &err), &err);
    assert_ok(roc_proxy_dup(p, &q, &err), &err);
    setenv("ROC_NS_FOLLOW", "0", 1);
    assert_ok(roc_proxy_open(&fixed, u, &err), &err);
    unsetenv("ROC_NS_FOLLOW");
    for (int i = 0; i < 5; i++)
        assert_string_equal(call_who(p, NULL), "f1");

    assert_ok(roc_ns_register(ns, "test.follow", s2.uri, NULL, 0,
                              ROC_NS_ADD_REPLICA, &err),
              &err);
    uint64_t t0 = tu_now_ms();
    follow_arg fa = {p, "f2"};
    assert_true(tu_wait_for(answers, &fa, 3000));
    print_message("    replica added: a following proxy called it after "
                  "%llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    fa.p = q;
    assert_true(tu_wait_for(answers, &fa, 3000));
    for (int i = 0; i < 10; i++) /* not following: never the new one */
        assert_string_equal(call_who(fixed, NULL), "f1");

    /* f1 leaves the name but keeps serving: no call reaches it */
    assert_ok(roc_ns_remove_uri(ns, "test.follow", s1.uri, NULL, &err), &err);
    usleep(300 * 1000);
    for (int i = 0; i < 10; i++) {
        assert_string_equal(call_who(p, NULL), "f2");
        assert_string_equal(call_who(q, NULL), "f2");
    }
    /* the name removed altogether: the proxy keeps its replicas */
    assert_ok(roc_ns_remove(ns, "test.follow", ROC_NS_EXACT, NULL, &err),
              &err);
    usleep(300 * 1000);
    assert_string_equal(call_who(p, NULL), "f2");
    roc_proxy_close(fixed);
    roc_proxy_close(q);
    roc_proxy_close(p);
    roc_error_clear(&err);
    roc_ns_close(ns);
    svc_stop(&s1);
    svc_stop(&s2);
}

/* ------------------------------------------------------------ autoclean */

typedef struct gone_arg {
    roc_ns *ns;
    const char *name;
} gone_arg;

/* ac.dead is gone and ac.mixed holds only its live URI (one sweep does
 * both, one after the other). */
static bool dead_dropped(void *arg)
{
    gone_arg *g = arg;
    char *uri = NULL;
    int rc = roc_ns_lookup(g->ns, g->name, 0, &uri, NULL);
    free(uri);
    if (rc != ROC_ENOTFOUND)
        return false;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    const char **uris;
    size_t n = 0;
    rc = roc_ns_lookup_all(g->ns, "ac.mixed", 0, a, &uris, &n, NULL);
    roc_arena_free(a);
    return rc == 0 && n == 1;
}

static void test_autoclean_drops_dead_servers(void **state)
{
    (void)state;
    nsproc *ac = &g_ac;
    ns_start(ac, "--autoclean", "1");
    svc live, dead;
    svc_start(&live, "live");
    svc_start(&dead, "dead");
    roc_ns *ns = tu_ns_client(ac->url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_register(ns, "ac.live", live.uri, NULL, 0, 0, &err), &err);
    assert_ok(roc_ns_register(ns, "ac.dead", dead.uri, NULL, 0, 0, &err), &err);
    assert_ok(roc_ns_register(ns, "ac.mixed", live.uri, NULL, 0, 0, &err),
              &err);
    assert_ok(roc_ns_register(ns, "ac.mixed", dead.uri, NULL, 0,
                              ROC_NS_ADD_REPLICA, &err),
              &err);
    svc_stop(&dead);
    gone_arg g = {ns, "ac.dead"};
    assert_true(tu_wait_for(dead_dropped, &g, 15000));
    char *uri = NULL;
    assert_ok(roc_ns_lookup(ns, "ac.live", 0, &uri, &err), &err);
    assert_string_equal(uri, live.uri);
    free(uri);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    const char **uris;
    size_t n;
    assert_ok(roc_ns_lookup_all(ns, "ac.mixed", 0, a, &uris, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(uris[0], live.uri);
    roc_arena_free(a);
    roc_error_clear(&err);
    roc_ns_close(ns);
    svc_stop(&live);
    ns_stop(ac);
}

/* ------------------------------------------------------------ 8 clients */

#define CLIENTS 8
#define PER_CLIENT 50

/* Child: registers PER_CLIENT names and looks each (and a neighbour's)
 * up. Exit status 0 when all went well. */
static int client_main(const char *url, int k)
{
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (roc_ns_open(&ns, url, &err) != 0)
        return 10;
    roc_ns_set_timeout(ns, 10000);
    int bad = 0;
    for (int i = 0; i < PER_CLIENT && !bad; i++) {
        char name[64], uri[128], *got = NULL;
        snprintf(name, sizeof name, "client%d.n%d", k, i);
        snprintf(uri, sizeof uri, "ROC:o%d@tcp://127.0.0.1:%d", i, 1000 + k);
        const char *tags[] = {k % 2 ? "odd" : "even"};
        if (roc_ns_register(ns, name, uri, tags, 1, 0, &err) != 0) {
            fprintf(stderr, "client %d: register %s: %s\n", k, name,
                    tu_errtext(&err));
            bad = 11;
        } else if (roc_ns_lookup(ns, name, 0, &got, &err) != 0 ||
                   strcmp(got, uri) != 0) {
            fprintf(stderr, "client %d: lookup %s: %s\n", k, name,
                    tu_errtext(&err));
            bad = 12;
        }
        free(got);
        /* a neighbour's name: registered by now or not, never an error
         * other than not found */
        snprintf(name, sizeof name, "client%d.n%d", (k + 1) % CLIENTS, i);
        int rc = roc_ns_lookup(ns, name, 0, &got, NULL);
        if (rc != 0 && rc != ROC_ENOTFOUND)
            bad = 13;
        free(got);
    }
    roc_error_clear(&err);
    roc_ns_close(ns);
    return bad;
}

static void test_eight_clients_at_once(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL, NULL);
    pid_t pids[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
        char kk[16];
        snprintf(kk, sizeof kk, "%d", k);
        char *argv[] = {self_bin, "--client", s.url, kk, NULL};
        pids[k] = tu_spawn(argv, NULL);
        assert_true(pids[k] > 0);
    }
    for (int k = 0; k < CLIENTS; k++) {
        int st = 0;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("client %d failed: status %d", k, st);
    }
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    uint64_t n = 0;
    assert_ok(roc_ns_count(ns, &n, &err), &err);
    assert_int_equal(n, CLIENTS * PER_CLIENT);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry *es;
    size_t ne;
    const char *odd[] = {"odd"};
    assert_ok(roc_ns_lookup_meta(ns, odd, 1, false, a, &es, &ne, &err), &err);
    assert_int_equal(ne, CLIENTS / 2 * PER_CLIENT);
    assert_ok(roc_ns_list(ns, "^client3\\.", ROC_NS_REGEX, a, &es, &ne, &err),
              &err);
    assert_int_equal(ne, PER_CLIENT);
    roc_arena_free(a);
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_ns_server_command_line(void **state)
{
    (void)state;
    /* bad options: exit status 2 with a message; --help: 0 */
    char *bad1[] = {ns_bin, "--autoclean", "soon", NULL};
    char *bad2[] = {ns_bin, "--frobnicate", NULL};
    char *bad3[] = {ns_bin, "--log", "loud", NULL};
    char *help[] = {ns_bin, "--help", NULL};
    char *badurl[] = {ns_bin, "--url", "bogus://x", NULL};
    char **cases[] = {bad1, bad2, bad3, help, badurl};
    int want[] = {2, 2, 2, 0, 1};
    for (int i = 0; i < 5; i++) {
        int out = -1;
        pid_t pid = tu_spawn(cases[i], &out);
        int st = 0;
        waitpid(pid, &st, 0);
        close(out);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), want[i]);
    }
    /* the address is taken: exit 1 */
    char *taken[] = {ns_bin, "--url", g_ns.url, NULL};
    int out = -1;
    pid_t pid = tu_spawn(taken, &out);
    int st = 0;
    waitpid(pid, &st, 0);
    close(out);
    assert_int_equal(WEXITSTATUS(st), 1);
}

static int setup(void **state)
{
    (void)state;
    ns_start(&g_ns, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ns_stop(&g_ns);
    if (g_ac.pid > 0)
        tu_kill9(g_ac.pid);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 4 && strcmp(argv[1], "--client") == 0)
        return client_main(argv[2], atoi(argv[3]));
    tu_bin("nameserver/roc-ns", ns_bin, sizeof ns_bin);
    if (!realpath(argv[0], self_bin))
        snprintf(self_bin, sizeof self_bin, "%s", argv[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_ping_and_count),
        cmocka_unit_test(test_ns_register_lookup_exists),
        cmocka_unit_test(test_ns_list_prefix_regex_meta),
        cmocka_unit_test(test_ns_bad_inputs),
        cmocka_unit_test(test_ns_lookup_waits_for_registration),
        cmocka_unit_test(test_ns_lookup_waits_for_name_server),
        cmocka_unit_test(test_rocname_proxy_calls),
        cmocka_unit_test(test_replicas_spread_and_fail_over),
        cmocka_unit_test(test_proxy_rebinds_after_server_moved),
        cmocka_unit_test(test_proxy_follows_replicas),
        cmocka_unit_test(test_autoclean_drops_dead_servers),
        cmocka_unit_test(test_eight_clients_at_once),
        cmocka_unit_test(test_ns_server_command_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
