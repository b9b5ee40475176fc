/* Daemon + proxy in one process over inproc, ipc and tcp: sync, async and
 * oneway calls, remote exceptions, timeouts and cancel, unknown objects and
 * methods, argument checks, many threads on one proxy, instance modes,
 * serialized servants and the built-in roc.daemon object.
 *
 * Every behaviour runs once per transport (one cmocka group per transport,
 * "rpc/inproc", "rpc/ipc", "rpc/tcp"), so a failure names both.
 *
 * The session test also starts this very program as a second client process
 * ("test_rpc --session-client URI N"), because all proxies of one process
 * share one connection per endpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <roc/roc.h>

#include "testutil.h"

/* ------------------------------------------------------------------ */
/* helpers                                                              */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Parses JSON text into a value in a; fails the test on bad text. */
static roc_value *J(roc_arena *a, const char *json)
{
    roc_value *v = NULL;
    roc_error e = ROC_ERROR_INIT;
    int rv = roc_value_from_json(a, json, &v, &e);
    if (rv != 0)
        fail_msg("bad JSON in test '%s': %s", json,
                 e.message ? e.message : roc_strerror(rv));
    roc_error_clear(&e);
    return v;
}

/* Asserts that v (NULL meaning nil) equals the JSON value json. */
static void assert_value_json(const roc_value *v, const char *json)
{
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value nil = {.type = ROC_NIL};
    const roc_value *want = J(a, json);
    const roc_value *got = v ? v : &nil;
    if (!roc_value_equal(got, want)) {
        char *text = NULL;
        roc_value_to_json(got, 0, &text, NULL);
        fail_msg("expected %s, got %s (type %s)", json, text ? text : "?",
                 roc_type_name(got->type));
    }
    roc_arena_free(a);
}

/* True when the string s occurs anywhere in v (keys and values). */
static bool value_mentions(const roc_value *v, const char *s)
{
    if (!v)
        return false;
    switch (v->type) {
    case ROC_STR:
        return strstr(v->u.str.ptr, s) != NULL;
    case ROC_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++)
            if (value_mentions(&v->u.array.items[i], s))
                return true;
        return false;
    case ROC_MAP:
        for (size_t i = 0; i < v->u.map.len; i++)
            if (value_mentions(&v->u.map.entries[i].key, s) ||
                value_mentions(&v->u.map.entries[i].val, s))
                return true;
        return false;
    default:
        return false;
    }
}

static int64_t map_int(const roc_value *m, const char *key)
{
    const roc_value *v = roc_value_map_get(m, key);
    int64_t i = -1;
    if (!v || roc_value_get_int(v, &i) != 0)
        fail_msg("map has no integer '%s'", key);
    return i;
}

typedef struct counter_at_least {
    atomic_int *c;
    int n;
} counter_at_least;

static bool counter_reached(void *arg)
{
    counter_at_least *w = arg;
    return atomic_load(w->c) >= w->n;
}

/* ------------------------------------------------------------------ */
/* servants                                                             */

static struct {
    atomic_int sleep_started, sleep_cancel_seen, sleep_done;
    atomic_llong last_set;
    atomic_int set_count;
    atomic_int conc_active, conc_max;
    atomic_int ser_active, ser_max, ser_calls;
    atomic_int sess_created, sess_destroyed, sess_next_id;
    atomic_int pc_created, pc_destroyed;
    atomic_int bad_factory_arg;
} g;

static int t_echo(roc_call *call, const roc_value *args, roc_value **result)
{
    *result = roc_value_copy(roc_call_arena(call), roc_value_at(args, 0));
    return *result ? 0 : roc_call_error(call, ROC_EINTERNAL, "oom");
}

static int t_add(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t a, b;
    if (roc_value_get_int(roc_value_at(args, 0), &a) != 0 ||
        roc_value_get_int(roc_value_at(args, 1), &b) != 0)
        return roc_call_error(call, ROC_EBADARGS, "add wants two integers");
    *result = roc_value_int(roc_call_arena(call), a + b);
    return 0;
}

/* sleep(ms): blocking; stops early when the caller cancels, and counts it. */
static int t_sleep(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t ms;
    if (roc_value_get_int(roc_value_at(args, 0), &ms) != 0)
        return roc_call_error(call, ROC_EBADARGS, "sleep wants ms");
    atomic_fetch_add(&g.sleep_started, 1);
    uint64_t end = tu_now_ms() + (uint64_t)ms;
    while (tu_now_ms() < end) {
        if (roc_call_cancelled(call)) {
            atomic_fetch_add(&g.sleep_cancel_seen, 1);
            break;
        }
        sleep_ms(1);
    }
    atomic_fetch_add(&g.sleep_done, 1);
    *result = NULL;
    return 0;
}

/* fail(message): raises test.Failure with data [42, "detail"]. */
static int t_fail(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)result;
    const char *msg = "?";
    size_t len;
    roc_value_get_str(roc_value_at(args, 0), &msg, &len);
    roc_arena *a = roc_call_arena(call);
    roc_value *data = roc_value_arrayv(a, 2, roc_value_int(a, 42),
                                       roc_value_str(a, "detail"));
    return roc_call_raise(call, "test.Failure", data, "failed: %s", msg);
}

static int t_badargs(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    (void)result;
    return roc_call_error(call, ROC_EBADARGS, "refused by handler");
}

static int t_set(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t v;
    (void)result;
    if (roc_value_get_int(roc_value_at(args, 0), &v) != 0)
        return roc_call_error(call, ROC_EBADARGS, "set wants an int");
    atomic_store(&g.last_set, v);
    atomic_fetch_add(&g.set_count, 1);
    *result = NULL;
    return 0;
}

static int t_get(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    *result = roc_value_int(roc_call_arena(call), atomic_load(&g.last_set));
    return 0;
}

static int t_remaining(roc_call *call, const roc_value *args,
                       roc_value **result)
{
    (void)args;
    *result = roc_value_int(roc_call_arena(call), roc_call_remaining_ms(call));
    return 0;
}

/* whoami() -> [object, method, peer, self_ok] */
static int t_whoami(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    roc_arena *a = roc_call_arena(call);
    *result = roc_value_arrayv(a, 4, roc_value_str(a, roc_call_object(call)),
                               roc_value_str(a, roc_call_method(call)),
                               roc_value_str(a, roc_call_peer(call)),
                               roc_value_bool(a, roc_call_self(call) == &g));
    return 0;
}

static int t_nothing(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)call;
    (void)args;
    *result = NULL;
    return 0;
}

/* concurrent(): blocking; waits (up to 2 s) until a second call of it runs
 * at the same time, and returns the largest number seen running at once. */
static int t_concurrent(roc_call *call, const roc_value *args,
                        roc_value **result)
{
    (void)args;
    int now = atomic_fetch_add(&g.conc_active, 1) + 1;
    int max = atomic_load(&g.conc_max);
    while (now > max && !atomic_compare_exchange_weak(&g.conc_max, &max, now))
        ;
    uint64_t end = tu_now_ms() + 2000;
    while (atomic_load(&g.conc_max) < 2 && tu_now_ms() < end)
        sleep_ms(1);
    atomic_fetch_sub(&g.conc_active, 1);
    *result = roc_value_int(roc_call_arena(call), atomic_load(&g.conc_max));
    return 0;
}

static const roc_method t_methods[] = {
    {"echo", t_echo, 1, 0, "any x", "any"},
    {"add", t_add, 2, 0, "i64 a, i64 b", "i64"},
    {"sleep", t_sleep, 1, ROC_METHOD_BLOCKING, "i64 ms", "void"},
    {"fail", t_fail, 1, 0, "string message", "void"},
    {"badargs", t_badargs, -1, 0, NULL, NULL},
    {"set", t_set, 1, ROC_METHOD_ONEWAY, "i64 v", "void"},
    {"get", t_get, 0, 0, NULL, "i64"},
    {"remaining", t_remaining, 0, 0, NULL, "i32"},
    {"whoami", t_whoami, 0, 0, NULL, "list<string>"},
    {"nothing", t_nothing, 0, 0, NULL, "void"},
    {"concurrent", t_concurrent, 0, ROC_METHOD_BLOCKING, NULL, "i32"},
};

/* Serialized servant: enter() must never run twice at once. */
static int ser_enter(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    int now = atomic_fetch_add(&g.ser_active, 1) + 1;
    int max = atomic_load(&g.ser_max);
    while (now > max && !atomic_compare_exchange_weak(&g.ser_max, &max, now))
        ;
    sleep_ms(3);
    atomic_fetch_sub(&g.ser_active, 1);
    atomic_fetch_add(&g.ser_calls, 1);
    *result = roc_value_int(roc_call_arena(call), now);
    return 0;
}

static const roc_method ser_methods[] = {
    {"enter", ser_enter, 0, 0, NULL, "i32"},
};

/* Session servant: one instance per connection. */
typedef struct sess {
    int id;
    int count;
} sess;

static void *sess_create(void *arg)
{
    if (arg != &g)
        atomic_fetch_add(&g.bad_factory_arg, 1);
    sess *s = calloc(1, sizeof *s);
    if (s)
        s->id = atomic_fetch_add(&g.sess_next_id, 1) + 1;
    atomic_fetch_add(&g.sess_created, 1);
    return s;
}

static void sess_destroy(void *self)
{
    free(self);
    atomic_fetch_add(&g.sess_destroyed, 1);
}

static int sess_id(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    sess *s = roc_call_self(call);
    *result = roc_value_int(roc_call_arena(call), s->id);
    return 0;
}

static int sess_incr(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    sess *s = roc_call_self(call);
    *result = roc_value_int(roc_call_arena(call), ++s->count);
    return 0;
}

static const roc_method sess_methods[] = {
    {"id", sess_id, 0, 0, NULL, "i32"},
    {"incr", sess_incr, 0, 0, NULL, "i32"},
};

/* Percall servant: a fresh instance around every call. */
static void *pc_create(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g.pc_created, 1);
    return calloc(1, sizeof(int));
}

static void pc_destroy(void *self)
{
    free(self);
    atomic_fetch_add(&g.pc_destroyed, 1);
}

static int pc_hits(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    int *n = roc_call_self(call);
    *result = roc_value_int(roc_call_arena(call), ++*n);
    return 0;
}

static const roc_method pc_methods[] = {
    {"hits", pc_hits, 0, 0, NULL, "i32"},
};

static const roc_servant t_servant = {
    .iface = "test.T",
    .methods = t_methods,
    .n_methods = sizeof t_methods / sizeof t_methods[0],
    .self = &g,
    .mode = ROC_INSTANCE_SINGLE,
};

static const roc_servant ser_servant = {
    .iface = "test.Serial",
    .methods = ser_methods,
    .n_methods = 1,
    .mode = ROC_INSTANCE_SINGLE,
    .flags = ROC_SERVANT_SERIALIZED,
};

static const roc_servant sess_servant = {
    .iface = "test.Session",
    .methods = sess_methods,
    .n_methods = 2,
    .mode = ROC_INSTANCE_SESSION,
    .create = sess_create,
    .destroy = sess_destroy,
    .factory_arg = &g,
};

static const roc_servant pc_servant = {
    .iface = "test.PerCall",
    .methods = pc_methods,
    .n_methods = 1,
    .mode = ROC_INSTANCE_PERCALL,
    .create = pc_create,
    .destroy = pc_destroy,
};

/* ------------------------------------------------------------------ */
/* fixture: one daemon per transport group                              */

static struct {
    const char *transport;
    roc_daemon *d;
    char url[512];
    roc_proxy *p; /* to "t" */
    roc_arena *a; /* reset before each test */
    roc_error err;
} F;

/* "ROC:<id>@<daemon url>" in buf. */
static const char *uri_of(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "ROC:%s@%s", id, F.url);
    return buf;
}

static roc_proxy *open_proxy(const char *id)
{
    char uri[600];
    roc_proxy *p = NULL;
    roc_error e = ROC_ERROR_INIT;
    int rv = roc_proxy_open(&p, uri_of(id, uri, sizeof uri), &e);
    if (rv != 0)
        fail_msg("roc_proxy_open(%s): %s", uri, tu_errtext(&e));
    roc_error_clear(&e);
    return p;
}

static int open_daemon(const char *transport, roc_daemon **d, char *url,
                       size_t url_len, const roc_daemon_opts *opts)
{
    char buf[512];
    roc_error e = ROC_ERROR_INIT;
    int rv = roc_daemon_open(d, tu_url(transport, buf, sizeof buf), opts, &e);
    if (rv != 0) {
        fprintf(stderr, "roc_daemon_open(%s): %s\n", buf, tu_errtext(&e));
        roc_error_clear(&e);
        return rv;
    }
    snprintf(url, url_len, "%s", roc_daemon_url(*d));
    return 0;
}

static int group_setup(const char *transport)
{
    memset(&F, 0, sizeof F);
    F.transport = transport;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_inflight = 2048; /* the 1000-calls test keeps them all in flight */
    if (open_daemon(transport, &F.d, F.url, sizeof F.url, &o) != 0)
        return -1;
    char *uri = NULL;
    if (roc_daemon_register(F.d, "t", &t_servant, &uri) != 0 ||
        roc_daemon_register(F.d, "ser", &ser_servant, NULL) != 0 ||
        roc_daemon_register(F.d, "pc", &pc_servant, NULL) != 0 ||
        roc_daemon_register(F.d, "sess", &sess_servant, NULL) != 0) {
        fprintf(stderr, "register failed\n");
        return -1;
    }
    char want[600];
    if (!uri || strcmp(uri, uri_of("t", want, sizeof want)) != 0) {
        fprintf(stderr, "register gave URI '%s', want '%s'\n",
                uri ? uri : "(null)", want);
        free(uri);
        return -1;
    }
    free(uri);
    if (roc_daemon_start(F.d) != 0)
        return -1;
    if (roc_proxy_open(&F.p, want, NULL) != 0)
        return -1;
    if (roc_arena_new(&F.a) != 0)
        return -1;
    roc_error_init(&F.err);
    return 0;
}

static int setup_inproc(void **state)
{
    (void)state;
    return group_setup("inproc");
}

static int setup_ipc(void **state)
{
    (void)state;
    return group_setup("ipc");
}

static int setup_tcp(void **state)
{
    (void)state;
    return group_setup("tcp");
}

static int group_teardown(void **state)
{
    (void)state;
    roc_proxy_close(F.p);
    roc_daemon_close(F.d);
    roc_arena_free(F.a);
    roc_error_clear(&F.err);
    memset(&F, 0, sizeof F);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    roc_arena_reset(F.a);
    roc_error_clear(&F.err);
    roc_proxy_set_timeout(F.p, 10000);
    return 0;
}

/* Calls F.p's method with JSON arguments (NULL: no arguments). */
static int callj(const char *method, const char *args_json, roc_value **res)
{
    return roc_proxy_call(F.p, method, args_json ? J(F.a, args_json) : NULL,
                          res, F.a, &F.err);
}

/* ------------------------------------------------------------------ */
/* sync calls                                                           */

static void test_sync_echo_json_values(void **state)
{
    (void)state;
    static const char *cases[] = {
        "null",
        "true",
        "false",
        "0",
        "-1",
        "42",
        "1.5",
        "-0.25",
        "\"\"",
        "\"hello\"",
        "\"h\\u00e9llo \\u2603\"",
        "[]",
        "{}",
        "[1,[2,[3,[]]]]",
        "{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"e\"}}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "[%s]", cases[i]);
        roc_value *res = NULL;
        assert_ok(callj("echo", args, &res), &F.err);
        assert_value_json(res, cases[i]);
    }
}

static void test_sync_echo_edge_values(void **state)
{
    (void)state;
    roc_arena *a = F.a;
    static uint8_t big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31u + 7u);
    roc_value *vals[] = {
        roc_value_int(a, INT64_MIN),       roc_value_int(a, INT64_MAX),
        roc_value_uint(a, UINT64_MAX),     roc_value_float(a, 1e300),
        roc_value_bin(a, "", 0),           roc_value_bin(a, "\0\1\2\377", 4),
        roc_value_bin(a, big, sizeof big), roc_value_strn(a, "nul\0inside", 10),
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        roc_value *res = NULL;
        roc_value *args = roc_value_arrayv(a, 1, vals[i]);
        assert_non_null(args);
        assert_ok(roc_proxy_call(F.p, "echo", args, &res, a, &F.err), &F.err);
        assert_non_null(res);
        if (!roc_value_equal(res, vals[i]))
            fail_msg("echo of case %zu (%s) came back different (%s)", i,
                     roc_type_name(vals[i]->type), roc_type_name(res->type));
    }
}

static void test_sync_add(void **state)
{
    (void)state;
    roc_value *res = NULL;
    assert_ok(callj("add", "[40, 2]", &res), &F.err);
    assert_value_json(res, "42");
    assert_ok(callj("add", "[-5, 3]", &res), &F.err);
    assert_value_json(res, "-2");
}

static void test_sync_nil_result(void **state)
{
    (void)state;
    roc_value *res = J(F.a, "1");
    assert_ok(callj("nothing", NULL, &res), &F.err);
    /* nil arrives as NULL or as a ROC_NIL value */
    assert_true(res == NULL || res->type == ROC_NIL);
    assert_ok(callj("nothing", "[]", NULL), &F.err); /* result not wanted */
}

static void test_sync_call_context(void **state)
{
    (void)state;
    roc_value *res = NULL;
    assert_ok(callj("whoami", NULL, &res), &F.err);
    assert_int_equal(roc_value_len(res), 4);
    const char *s;
    size_t len;
    assert_int_equal(roc_value_get_str(roc_value_at(res, 0), &s, &len), 0);
    assert_string_equal(s, "t");
    assert_int_equal(roc_value_get_str(roc_value_at(res, 1), &s, &len), 0);
    assert_string_equal(s, "whoami");
    assert_int_equal(roc_value_get_str(roc_value_at(res, 2), &s, &len), 0);
    assert_true(len > 0);
    bool self_ok = false;
    assert_int_equal(roc_value_get_bool(roc_value_at(res, 3), &self_ok), 0);
    assert_true(self_ok);
    assert_string_equal(roc_proxy_object(F.p), "t");
    char want[600];
    assert_string_equal(roc_proxy_uri(F.p), uri_of("t", want, sizeof want));
}

static void test_sync_bind(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("t");
    assert_ok(roc_proxy_bind(p, &F.err), &F.err);
    roc_value *res = NULL;
    assert_ok(roc_proxy_call(p, "add", J(F.a, "[1,1]"), &res, F.a, &F.err),
              &F.err);
    assert_value_json(res, "2");
    roc_proxy_close(p);
}

/* ------------------------------------------------------------------ */
/* async                                                                */

static void test_async_wait_result(void **state)
{
    (void)state;
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(F.p, "add", J(F.a, "[2, 3]"), NULL, &f, &F.err),
        &F.err);
    assert_non_null(f);
    assert_int_equal(roc_future_wait(f, 5000), 0);
    assert_true(roc_future_ready(f));
    roc_value *res = NULL;
    assert_ok(roc_future_result(f, &res, F.a, &F.err), &F.err);
    assert_value_json(res, "5");
    /* May be asked again. */
    res = NULL;
    assert_ok(roc_future_result(f, &res, F.a, &F.err), &F.err);
    assert_value_json(res, "5");
    roc_future_free(f);
}

static void test_async_result_without_wait(void **state)
{
    (void)state;
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(F.p, "echo", J(F.a, "[\"x\"]"), NULL, &f, &F.err),
        &F.err);
    roc_value *res = NULL;
    assert_ok(roc_future_result(f, &res, F.a, &F.err), &F.err);
    assert_value_json(res, "\"x\"");
    roc_future_free(f);
}

typedef struct done_flag {
    atomic_int calls;
    roc_future *seen;
} done_flag;

static void on_done(roc_future *f, void *arg)
{
    done_flag *d = arg;
    d->seen = f;
    atomic_fetch_add(&d->calls, 1);
}

static bool flag_set(void *arg)
{
    return atomic_load(&((done_flag *)arg)->calls) > 0;
}

static void test_async_on_complete(void **state)
{
    (void)state;
    roc_future *f = NULL;
    done_flag d = {0};
    /* A call that takes a while, so the callback is attached first. */
    assert_ok(
        roc_proxy_call_async(F.p, "sleep", J(F.a, "[50]"), NULL, &f, &F.err),
        &F.err);
    assert_int_equal(roc_future_on_complete(f, on_done, &d), 0);
    assert_true(tu_wait_for(flag_set, &d, 5000));
    assert_true(d.seen == f);
    assert_true(roc_future_ready(f));
    assert_ok(roc_future_result(f, NULL, F.a, &F.err), &F.err);
    assert_int_equal(atomic_load(&d.calls), 1);
    roc_future_free(f);

    /* Attached after completion: called at once, on this thread. */
    done_flag d2 = {0};
    assert_ok(
        roc_proxy_call_async(F.p, "add", J(F.a, "[1, 2]"), NULL, &f, &F.err),
        &F.err);
    assert_int_equal(roc_future_wait(f, 5000), 0);
    assert_int_equal(roc_future_on_complete(f, on_done, &d2), 0);
    assert_int_equal(atomic_load(&d2.calls), 1);
    roc_value *res = NULL;
    assert_ok(roc_future_result(f, &res, F.a, &F.err), &F.err);
    assert_value_json(res, "3");
    roc_future_free(f);
}

static void test_async_error(void **state)
{
    (void)state;
    roc_future *f = NULL;
    assert_ok(roc_proxy_call_async(F.p, "fail", J(F.a, "[\"async\"]"), NULL, &f,
                                   &F.err),
              &F.err);
    roc_value *res = NULL;
    assert_int_equal(roc_future_result(f, &res, F.a, &F.err), ROC_EREMOTE);
    assert_string_equal(F.err.type, "test.Failure");
    roc_future_free(f);

    assert_ok(roc_proxy_call_async(F.p, "nosuchmethod", NULL, NULL, &f, &F.err),
              &F.err);
    assert_int_equal(roc_future_result(f, &res, F.a, &F.err), ROC_ENOMETHOD);
    roc_future_free(f);
}

static void test_async_wait_times_out_then_completes(void **state)
{
    (void)state;
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(F.p, "sleep", J(F.a, "[300]"), NULL, &f, &F.err),
        &F.err);
    assert_int_equal(roc_future_wait(f, 20), ROC_ETIMEDOUT);
    assert_false(roc_future_ready(f));
    assert_int_equal(roc_future_wait(f, 10000), 0);
    assert_true(roc_future_ready(f));
    assert_ok(roc_future_result(f, NULL, F.a, &F.err), &F.err);
    roc_future_free(f);
}

static void test_async_free_pending(void **state)
{
    (void)state;
    /* Freeing a pending future cancels the call; nothing leaks or crashes,
     * and the proxy keeps working. */
    int started0 = atomic_load(&g.sleep_started);
    int cancel0 = atomic_load(&g.sleep_cancel_seen);
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(F.p, "sleep", J(F.a, "[10000]"), NULL, &f, &F.err),
        &F.err);
    counter_at_least st = {&g.sleep_started, started0 + 1};
    assert_true(tu_wait_for(counter_reached, &st, 5000));
    roc_future_free(f);
    counter_at_least w = {&g.sleep_cancel_seen, cancel0 + 1};
    assert_true(tu_wait_for(counter_reached, &w, 5000));
    roc_value *res = NULL;
    assert_ok(callj("add", "[1,1]", &res), &F.err);
    assert_value_json(res, "2");
}

static void test_async_held_back_call_leaves_unwaited(void **state)
{
    (void)state;
    /* A completed future that is not freed yet makes later async calls on
     * its connection wait for the batch (a pipeline refilling); one that
     * nobody waits for still leaves on its own, within the idle tick. */
    roc_future *f1 = NULL, *f2 = NULL;
    assert_ok(roc_proxy_call_async(F.p, "add", J(F.a, "[1,1]"), NULL, &f1,
                                   &F.err),
              &F.err);
    assert_int_equal(roc_future_wait(f1, 5000), 0);
    int started0 = atomic_load(&g.sleep_started);
    uint64_t t0 = tu_now_ms();
    assert_ok(roc_proxy_call_async(F.p, "sleep", J(F.a, "[1]"), NULL, &f2,
                                   &F.err),
              &F.err);
    counter_at_least st = {&g.sleep_started, started0 + 1};
    assert_true(tu_wait_for(counter_reached, &st, 3000));
    assert_in_range(tu_now_ms() - t0, 0, 1000);
    roc_value *res = NULL;
    assert_ok(roc_future_result(f1, &res, F.a, &F.err), &F.err);
    assert_value_json(res, "2");
    roc_future_free(f1);
    assert_ok(roc_future_result(f2, NULL, F.a, &F.err), &F.err);
    roc_future_free(f2);
}

/* ------------------------------------------------------------------ */
/* oneway                                                               */

typedef struct get_is {
    int64_t want;
} get_is;

static bool remote_get_is(void *arg)
{
    get_is *w = arg;
    roc_value *res = NULL;
    if (callj("get", NULL, &res) != 0)
        return false;
    int64_t v = 0;
    return res && roc_value_get_int(res, &v) == 0 && v == w->want;
}

static void test_oneway_observed_by_later_call(void **state)
{
    (void)state;
    roc_daemon_stats st0, st1;
    roc_daemon_get_stats(F.d, &st0);
    int64_t want = (int64_t)tu_now_ms() * 7 + 3;
    roc_value *args = roc_value_arrayv(F.a, 1, roc_value_int(F.a, want));
    assert_ok(roc_proxy_oneway(F.p, "set", args, &F.err), &F.err);
    get_is w = {want};
    assert_true(tu_wait_for(remote_get_is, &w, 5000));
    roc_daemon_get_stats(F.d, &st1);
    assert_true(st1.oneways >= st0.oneways + 1);
}

static void test_oneway_errors_are_silent(void **state)
{
    (void)state;
    /* No reply, no error from the server: unknown method and a raising
     * handler are both dropped; the connection stays usable. */
    assert_ok(roc_proxy_oneway(F.p, "nosuchmethod", NULL, &F.err), &F.err);
    assert_ok(roc_proxy_oneway(F.p, "fail", J(F.a, "[\"x\"]"), &F.err), &F.err);
    roc_value *res = NULL;
    assert_ok(callj("add", "[2,2]", &res), &F.err);
    assert_value_json(res, "4");
}

/* ------------------------------------------------------------------ */
/* errors                                                               */

static void test_remote_exception(void **state)
{
    (void)state;
    roc_value *res = NULL;
    assert_int_equal(callj("fail", "[\"boom\"]", &res), ROC_EREMOTE);
    assert_int_equal(F.err.code, ROC_EREMOTE);
    assert_int_equal(F.err.wire_code, ROC_WIRE_APPLICATION);
    assert_non_null(F.err.type);
    assert_string_equal(F.err.type, "test.Failure");
    assert_non_null(F.err.message);
    assert_string_equal(F.err.message, "failed: boom");
    assert_non_null(F.err.data);
    assert_value_json(F.err.data, "[42, \"detail\"]");
    /* The proxy still works afterwards. */
    assert_ok(callj("add", "[1, 2]", &res), &F.err);
    assert_value_json(res, "3");
    /* roc_error_copy keeps all of it. */
    assert_int_equal(callj("fail", "[\"again\"]", &res), ROC_EREMOTE);
    roc_error copy = ROC_ERROR_INIT;
    assert_int_equal(roc_error_copy(&copy, &F.err), 0);
    assert_string_equal(copy.type, "test.Failure");
    assert_string_equal(copy.message, "failed: again");
    assert_value_json(copy.data, "[42, \"detail\"]");
    roc_error_clear(&copy);
}

static void test_handler_runtime_error(void **state)
{
    (void)state;
    assert_int_equal(callj("badargs", "[]", NULL), ROC_EBADARGS);
    assert_int_equal(F.err.wire_code, 3);
    assert_string_equal(F.err.type, "roc.BadArguments");
    assert_non_null(F.err.message);
    assert_non_null(strstr(F.err.message, "refused by handler"));
    /* type check inside a handler */
    assert_int_equal(callj("add", "[\"a\", 1]", NULL), ROC_EBADARGS);
}

static void test_unknown_object(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("no.such.object");
    roc_value *res = NULL;
    int rv = roc_proxy_call(p, "echo", J(F.a, "[1]"), &res, F.a, &F.err);
    assert_int_equal(rv, ROC_ENOOBJ);
    assert_int_equal(F.err.code, ROC_ENOOBJ);
    assert_int_equal(F.err.wire_code, 1);
    assert_string_equal(F.err.type, "roc.NoSuchObject");
    assert_non_null(F.err.message);
    roc_proxy_close(p);
}

static void test_unknown_method(void **state)
{
    (void)state;
    int rv = callj("nosuchmethod", "[1]", NULL);
    assert_int_equal(rv, ROC_ENOMETHOD);
    assert_int_equal(F.err.wire_code, 2);
    assert_string_equal(F.err.type, "roc.NoSuchMethod");
    assert_non_null(F.err.message);
}

static void test_wrong_arg_count(void **state)
{
    (void)state;
    assert_int_equal(callj("echo", NULL, NULL), ROC_EBADARGS);
    assert_string_equal(F.err.type, "roc.BadArguments");
    assert_int_equal(F.err.wire_code, 3);
    assert_int_equal(callj("echo", "[1, 2]", NULL), ROC_EBADARGS);
    assert_int_equal(callj("add", "[1]", NULL), ROC_EBADARGS);
    assert_int_equal(callj("get", "[1]", NULL), ROC_EBADARGS);
    /* nargs -1 takes anything */
    assert_int_equal(callj("badargs", "[1,2,3,4,5]", NULL), ROC_EBADARGS);
    assert_non_null(strstr(F.err.message, "refused by handler"));
}

static void test_errors_counted(void **state)
{
    (void)state;
    roc_daemon_stats st0, st1;
    roc_daemon_get_stats(F.d, &st0);
    assert_int_equal(callj("nosuchmethod", NULL, NULL), ROC_ENOMETHOD);
    assert_int_equal(callj("fail", "[\"x\"]", NULL), ROC_EREMOTE);
    assert_ok(callj("add", "[1,2]", NULL), &F.err);
    roc_daemon_get_stats(F.d, &st1);
    assert_true(st1.calls >= st0.calls + 3);
    assert_true(st1.errors >= st0.errors + 2);
}

/* ------------------------------------------------------------------ */
/* timeouts and cancel                                                  */

static void test_timeout_cancels_handler(void **state)
{
    (void)state;
    int cancel0 = atomic_load(&g.sleep_cancel_seen);
    int done0 = atomic_load(&g.sleep_done);
    roc_call_opts o = {.timeout_ms = 150};
    uint64_t t0 = tu_now_ms();
    int rv = roc_proxy_call_opts(F.p, "sleep", J(F.a, "[10000]"), &o, NULL, F.a,
                                 &F.err);
    uint64_t took = tu_now_ms() - t0;
    assert_int_equal(rv, ROC_ETIMEDOUT);
    assert_int_equal(F.err.code, ROC_ETIMEDOUT);
    assert_true(took >= 140);
    assert_true(took < 3000);
    /* The cancel frame reaches the handler, which gives up early. */
    counter_at_least w = {&g.sleep_cancel_seen, cancel0 + 1};
    assert_true(tu_wait_for(counter_reached, &w, 5000));
    counter_at_least w2 = {&g.sleep_done, done0 + 1};
    assert_true(tu_wait_for(counter_reached, &w2, 5000));
    /* The connection is still good. */
    roc_value *res = NULL;
    assert_ok(callj("add", "[5, 5]", &res), &F.err);
    assert_value_json(res, "10");
}

static void test_proxy_default_timeout(void **state)
{
    (void)state;
    int cancel0 = atomic_load(&g.sleep_cancel_seen);
    roc_proxy *p = open_proxy("t");
    roc_proxy_set_timeout(p, 100);
    assert_int_equal(roc_proxy_get_timeout(p), 100);
    uint64_t t0 = tu_now_ms();
    int rv = roc_proxy_call(p, "sleep", J(F.a, "[10000]"), NULL, F.a, &F.err);
    assert_int_equal(rv, ROC_ETIMEDOUT);
    assert_true(tu_now_ms() - t0 < 3000);
    counter_at_least w = {&g.sleep_cancel_seen, cancel0 + 1};
    assert_true(tu_wait_for(counter_reached, &w, 5000));
    /* A per-call timeout overrides the proxy default. */
    roc_call_opts o = {.timeout_ms = 5000};
    assert_ok(
        roc_proxy_call_opts(p, "sleep", J(F.a, "[200]"), &o, NULL, F.a, &F.err),
        &F.err);
    roc_proxy_close(p);
}

static void test_future_cancel(void **state)
{
    (void)state;
    int started0 = atomic_load(&g.sleep_started);
    int cancel0 = atomic_load(&g.sleep_cancel_seen);
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(F.p, "sleep", J(F.a, "[10000]"), NULL, &f, &F.err),
        &F.err);
    counter_at_least st = {&g.sleep_started, started0 + 1};
    assert_true(tu_wait_for(counter_reached, &st, 5000));
    roc_future_cancel(f);
    assert_true(roc_future_ready(f));
    assert_int_equal(roc_future_result(f, NULL, F.a, &F.err), ROC_ECANCELED);
    counter_at_least w = {&g.sleep_cancel_seen, cancel0 + 1};
    assert_true(tu_wait_for(counter_reached, &w, 5000));
    roc_future_free(f);
}

static void test_async_deadline(void **state)
{
    (void)state;
    roc_call_opts o = {.timeout_ms = 100};
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(F.p, "sleep", J(F.a, "[10000]"), &o, &f, &F.err),
        &F.err);
    /* -1 waits until the call's own deadline passes. */
    roc_future_wait(f, -1);
    assert_true(roc_future_ready(f));
    assert_int_equal(roc_future_result(f, NULL, F.a, &F.err), ROC_ETIMEDOUT);
    roc_future_free(f);
}

static void test_remaining_ms(void **state)
{
    (void)state;
    roc_call_opts o = {.timeout_ms = 4000};
    roc_value *res = NULL;
    assert_ok(
        roc_proxy_call_opts(F.p, "remaining", NULL, &o, &res, F.a, &F.err),
        &F.err);
    int64_t left = 0;
    assert_int_equal(roc_value_get_int(res, &left), 0);
    assert_in_range(left, 1, 4000);
    o.timeout_ms = -1;
    assert_ok(
        roc_proxy_call_opts(F.p, "remaining", NULL, &o, &res, F.a, &F.err),
        &F.err);
    assert_int_equal(roc_value_get_int(res, &left), 0);
    assert_int_equal(left, -1);
}

/* ------------------------------------------------------------------ */
/* many threads, one proxy                                              */

#define N_THREADS 16
#define N_CALLS 1000

typedef struct worker {
    int idx;
    int n;
    bool async;
    atomic_int *failures;
    char msg[1024];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    roc_arena *a = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_future **fs = calloc((size_t)w->n, sizeof *fs);
    if (roc_arena_new(&a) != 0 || !fs) {
        atomic_fetch_add(w->failures, 1);
        return NULL;
    }
    for (int i = 0; i < w->n; i++) {
        int64_t tag = (int64_t)w->idx * 100000 + i;
        roc_value *args = roc_value_arrayv(a, 1, roc_value_int(a, tag));
        if (w->async) {
            if (roc_proxy_call_async(F.p, "echo", args, NULL, &fs[i], &e)) {
                snprintf(w->msg, sizeof w->msg, "async %d: %s", i, tu_errtext(&e));
                atomic_fetch_add(w->failures, 1);
                fs[i] = NULL;
            }
        } else {
            roc_value *res = NULL;
            int64_t got = -1;
            if (roc_proxy_call(F.p, "echo", args, &res, a, &e) != 0 ||
                roc_value_get_int(res, &got) != 0 || got != tag) {
                snprintf(w->msg, sizeof w->msg, "sync %d: %s got %lld", i,
                         tu_errtext(&e), (long long)got);
                atomic_fetch_add(w->failures, 1);
            }
            roc_arena_reset(a);
        }
    }
    for (int i = 0; w->async && i < w->n; i++) {
        if (!fs[i])
            continue;
        roc_value *res = NULL;
        int64_t got = -1, tag = (int64_t)w->idx * 100000 + i;
        if (roc_future_result(fs[i], &res, a, &e) != 0 ||
            roc_value_get_int(res, &got) != 0 || got != tag) {
            snprintf(w->msg, sizeof w->msg, "result %d: %s got %lld", i,
                     tu_errtext(&e), (long long)got);
            atomic_fetch_add(w->failures, 1);
        }
        roc_future_free(fs[i]);
    }
    free(fs);
    roc_error_clear(&e);
    roc_arena_free(a);
    return NULL;
}

static void run_threads(bool async, int total)
{
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    atomic_int failures = 0;
    for (int t = 0; t < N_THREADS; t++) {
        w[t] = (worker){.idx = t,
                        .n = total / N_THREADS + (t < total % N_THREADS),
                        .async = async,
                        .failures = &failures};
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < N_THREADS; t++)
        if (w[t].msg[0])
            print_message("thread %d: %s\n", t, w[t].msg);
    assert_int_equal(atomic_load(&failures), 0);
}

static void test_threads_1000_async_in_flight(void **state)
{
    (void)state;
    run_threads(true, N_CALLS);
}

static void test_threads_sync(void **state)
{
    (void)state;
    run_threads(false, N_CALLS);
}

/* ------------------------------------------------------------------ */
/* instance modes and concurrency                                       */

static void test_concurrent_calls_on_one_connection(void **state)
{
    (void)state;
    atomic_store(&g.conc_max, 0);
    roc_future *f1 = NULL, *f2 = NULL;
    assert_ok(roc_proxy_call_async(F.p, "concurrent", NULL, NULL, &f1, &F.err),
              &F.err);
    assert_ok(roc_proxy_call_async(F.p, "concurrent", NULL, NULL, &f2, &F.err),
              &F.err);
    roc_value *r1 = NULL, *r2 = NULL;
    assert_ok(roc_future_result(f1, &r1, F.a, &F.err), &F.err);
    assert_ok(roc_future_result(f2, &r2, F.a, &F.err), &F.err);
    /* both ran at the same time */
    assert_value_json(r1, "2");
    assert_value_json(r2, "2");
    roc_future_free(f1);
    roc_future_free(f2);
}

static void test_serialized_servant(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("ser");
    atomic_store(&g.ser_max, 0);
    int calls0 = atomic_load(&g.ser_calls);
    enum { N = 24 };
    roc_future *f[N];
    for (int i = 0; i < N; i++)
        assert_ok(roc_proxy_call_async(p, "enter", NULL, NULL, &f[i], &F.err),
                  &F.err);
    for (int i = 0; i < N; i++) {
        roc_value *r = NULL;
        assert_ok(roc_future_result(f[i], &r, F.a, &F.err), &F.err);
        assert_value_json(r, "1");
        roc_future_free(f[i]);
    }
    assert_int_equal(atomic_load(&g.ser_calls), calls0 + N);
    assert_int_equal(atomic_load(&g.ser_max), 1);
    roc_proxy_close(p);
}

static void test_percall_instances(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("pc");
    int c0 = atomic_load(&g.pc_created);
    for (int i = 0; i < 5; i++) {
        roc_value *r = NULL;
        assert_ok(roc_proxy_call(p, "hits", NULL, &r, F.a, &F.err), &F.err);
        assert_value_json(r, "1"); /* a fresh instance each time */
    }
    assert_int_equal(atomic_load(&g.pc_created), c0 + 5);
    counter_at_least w = {&g.pc_destroyed, atomic_load(&g.pc_created)};
    assert_true(tu_wait_for(counter_reached, &w, 5000));
    roc_proxy_close(p);
}

static char self_exe[1024];

/* Sessions: one instance per connection. This process's connection gets
 * one; a second client process gets another, which is destroyed when that
 * process goes away; closing the last local proxy closes this process's
 * connection and destroys its instance; a new connection gets a new one. */
static void test_session_per_connection(void **state)
{
    (void)state;
    /* A daemon of our own, so that no other proxy shares the connection. */
    roc_daemon *d = NULL;
    char url[512], uri[600];
    assert_int_equal(open_daemon(F.transport, &d, url, sizeof url, NULL), 0);
    assert_int_equal(roc_daemon_register(d, "sess", &sess_servant, NULL), 0);
    assert_int_equal(roc_daemon_start(d), 0);
    snprintf(uri, sizeof uri, "ROC:sess@%s", url);
    int created0 = atomic_load(&g.sess_created);
    int destroyed0 = atomic_load(&g.sess_destroyed);

    roc_proxy *p1 = NULL, *p2 = NULL;
    assert_int_equal(roc_proxy_open(&p1, uri, NULL), 0);
    assert_int_equal(roc_proxy_open(&p2, uri, NULL), 0);
    roc_value *r = NULL;
    int64_t id1 = 0, id2 = 0, n = 0;
    /* made on the first call, not before */
    assert_int_equal(atomic_load(&g.sess_created), created0);
    assert_ok(roc_proxy_call(p1, "id", NULL, &r, F.a, &F.err), &F.err);
    assert_int_equal(roc_value_get_int(r, &id1), 0);
    assert_int_equal(atomic_load(&g.sess_created), created0 + 1);
    /* two proxies of one process share the connection, hence the session */
    assert_ok(roc_proxy_call(p2, "id", NULL, &r, F.a, &F.err), &F.err);
    assert_int_equal(roc_value_get_int(r, &id2), 0);
    assert_int_equal(id1, id2);
    assert_ok(roc_proxy_call(p1, "incr", NULL, &r, F.a, &F.err), &F.err);
    assert_ok(roc_proxy_call(p2, "incr", NULL, &r, F.a, &F.err), &F.err);
    assert_value_json(r, "2");
    assert_int_equal(atomic_load(&g.sess_created), created0 + 1);

    if (strcmp(F.transport, "inproc") != 0) {
        /* Another process, another connection, another instance. */
        int out = -1;
        char *argv[] = {self_exe, "--session-client", uri, "3", NULL};
        pid_t pid = tu_spawn(argv, &out);
        assert_true(pid > 0);
        char line[128] = "";
        int rl = tu_read_line(out, line, sizeof line, 10000);
        int st = 0;
        waitpid(pid, &st, 0);
        close(out);
        if (rl != 0)
            fail_msg("no answer from the session client");
        long long child_count = -1, child_id = -1;
        if (sscanf(line, "%lld %lld", &child_count, &child_id) != 2)
            fail_msg("session client said '%s'", line);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_int_equal(child_count, 3);
        assert_true(child_id != id1);
        assert_int_equal(atomic_load(&g.sess_created), created0 + 2);
        /* its connection closed with the process: its instance goes */
        counter_at_least w = {&g.sess_destroyed, destroyed0 + 1};
        assert_true(tu_wait_for(counter_reached, &w, 5000));
        /* ours is untouched */
        assert_ok(roc_proxy_call(p1, "incr", NULL, &r, F.a, &F.err), &F.err);
        assert_value_json(r, "3");
    }
    int destroyed1 = atomic_load(&g.sess_destroyed);

    /* Closing the last proxy closes the connection: the instance goes. */
    roc_proxy_close(p1);
    roc_proxy_close(p2);
    counter_at_least w = {&g.sess_destroyed, destroyed1 + 1};
    assert_true(tu_wait_for(counter_reached, &w, 5000));

    /* A new connection starts a new session. */
    assert_int_equal(roc_proxy_open(&p1, uri, NULL), 0);
    assert_ok(roc_proxy_call(p1, "incr", NULL, &r, F.a, &F.err), &F.err);
    assert_value_json(r, "1");
    assert_ok(roc_proxy_call(p1, "id", NULL, &r, F.a, &F.err), &F.err);
    assert_int_equal(roc_value_get_int(r, &n), 0);
    assert_true(n != id1);
    roc_proxy_close(p1);

    /* Closing the daemon destroys what is left. */
    roc_daemon_close(d);
    counter_at_least all = {&g.sess_destroyed, atomic_load(&g.sess_created) -
                                                   created0 + destroyed0};
    assert_true(tu_wait_for(counter_reached, &all, 5000));
    assert_int_equal(atomic_load(&g.sess_destroyed) - destroyed0,
                     atomic_load(&g.sess_created) - created0);
    assert_int_equal(atomic_load(&g.bad_factory_arg), 0);
}

/* The child side of the session test: N incr calls, then id; prints
 * "<count> <id>". */
static int session_client(const char *uri, int n)
{
    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_value *r = NULL;
    int64_t count = 0, id = 0;
    if (roc_arena_new(&a) != 0 || roc_proxy_open(&p, uri, &e) != 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (roc_proxy_call(p, "incr", NULL, &r, a, &e) != 0 ||
            roc_value_get_int(r, &count) != 0)
            goto fail;
    if (roc_proxy_call(p, "id", NULL, &r, a, &e) != 0 ||
        roc_value_get_int(r, &id) != 0)
        goto fail;
    printf("%lld %lld\n", (long long)count, (long long)id);
    fflush(stdout);
    roc_proxy_close(p);
    roc_arena_free(a);
    return 0;
fail:
    fprintf(stderr, "session client: %s\n", tu_errtext(&e));
    printf("error\n");
    fflush(stdout);
    return 1;
}

/* ------------------------------------------------------------------ */
/* registration                                                         */

static void test_register_while_serving(void **state)
{
    (void)state;
    char *uri = NULL;
    assert_int_equal(roc_daemon_register(F.d, "late", &t_servant, &uri), 0);
    assert_non_null(uri);
    roc_proxy *p = NULL;
    assert_int_equal(roc_proxy_open(&p, uri, NULL), 0);
    free(uri);
    roc_value *r = NULL;
    assert_ok(roc_proxy_call(p, "add", J(F.a, "[20, 22]"), &r, F.a, &F.err),
              &F.err);
    assert_value_json(r, "42");
    assert_int_equal(roc_daemon_register(F.d, "late", &t_servant, NULL),
                     ROC_EEXIST);
    assert_int_equal(roc_daemon_register(F.d, "bad id!", &t_servant, NULL),
                     ROC_EINVAL);
    assert_int_equal(roc_daemon_unregister(F.d, "late"), 0);
    assert_int_equal(
        roc_proxy_call(p, "add", J(F.a, "[1, 1]"), &r, F.a, &F.err),
        ROC_ENOOBJ);
    /* the id registered anew, to another servant: the connection (which
     * remembers the object of its last call) reaches the new one */
    assert_int_equal(roc_daemon_register(F.d, "late", &pc_servant, NULL), 0);
    assert_ok(roc_proxy_call(p, "hits", NULL, &r, F.a, &F.err), &F.err);
    assert_int_equal(
        roc_proxy_call(p, "add", J(F.a, "[1, 1]"), &r, F.a, &F.err),
        ROC_ENOMETHOD);
    assert_int_equal(roc_daemon_unregister(F.d, "late"), 0);
    roc_proxy_close(p);
}

/* ------------------------------------------------------------------ */
/* roc.daemon                                                           */

static void test_daemon_ping(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("roc.daemon");
    roc_value *r = NULL;
    assert_ok(roc_proxy_call(p, "ping", NULL, &r, F.a, &F.err), &F.err);
    assert_value_json(r, "\"pong\"");
    roc_proxy_close(p);
}

static void test_daemon_objects(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("roc.daemon");
    roc_value *r = NULL;
    assert_ok(roc_proxy_call(p, "objects", NULL, &r, F.a, &F.err), &F.err);
    assert_non_null(r);
    assert_int_equal(r->type, ROC_ARRAY);
    static const char *want[] = {"roc.daemon", "t", "ser", "pc", "sess"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        bool found = false;
        for (size_t i = 0; i < roc_value_len(r); i++) {
            const char *s;
            size_t len;
            if (roc_value_get_str(roc_value_at(r, i), &s, &len) == 0 &&
                strcmp(s, want[k]) == 0)
                found = true;
        }
        if (!found)
            fail_msg("objects() lacks '%s'", want[k]);
    }
    roc_proxy_close(p);
}

static void test_daemon_describe(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("roc.daemon");
    roc_value *r = NULL;
    assert_ok(roc_proxy_call(p, "describe", J(F.a, "[\"t\"]"), &r, F.a, &F.err),
              &F.err);
    assert_non_null(r);
    assert_int_equal(r->type, ROC_MAP);
    assert_true(value_mentions(r, "test.T")); /* interface name */
    assert_true(value_mentions(r, "echo"));   /* methods ... */
    assert_true(value_mentions(r, "concurrent"));
    assert_true(value_mentions(r, "i64 a, i64 b")); /* ... with params */
    /* roc.daemon describes itself too */
    assert_ok(roc_proxy_call(p, "describe", J(F.a, "[\"roc.daemon\"]"), &r, F.a,
                             &F.err),
              &F.err);
    assert_true(value_mentions(r, "stats"));
    /* an unknown object is an error */
    assert_int_not_equal(
        roc_proxy_call(p, "describe", J(F.a, "[\"nope\"]"), &r, F.a, &F.err),
        0);
    roc_proxy_close(p);
}

static void test_daemon_stats(void **state)
{
    (void)state;
    roc_proxy *p = open_proxy("roc.daemon");
    roc_value *r = NULL;
    assert_ok(roc_proxy_call(p, "stats", NULL, &r, F.a, &F.err), &F.err);
    assert_int_equal(r->type, ROC_MAP);
    int64_t calls0 = map_int(r, "calls");
    int64_t errors0 = map_int(r, "errors");
    assert_true(map_int(r, "connections") >= 1);
    assert_true(roc_value_map_get(r, "uptime") != NULL ||
                roc_value_map_get(r, "uptime_s") != NULL);
    assert_ok(callj("add", "[1,2]", NULL), &F.err);
    assert_ok(callj("add", "[1,2]", NULL), &F.err);
    assert_int_equal(callj("nosuchmethod", NULL, NULL), ROC_ENOMETHOD);
    assert_ok(roc_proxy_call(p, "stats", NULL, &r, F.a, &F.err), &F.err);
    assert_true(map_int(r, "calls") >= calls0 + 3);
    assert_true(map_int(r, "errors") >= errors0 + 1);
    roc_daemon_stats st;
    roc_daemon_get_stats(F.d, &st);
    assert_true(st.calls >= (uint64_t)calls0 + 3);
    assert_true(st.connections >= 1);
    assert_true(st.accepted >= 1);
    assert_true(st.uptime_s >= 0.0);
    roc_proxy_close(p);
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                            */

/* Shutdown finishes calls in progress before it returns. */
static void test_shutdown_finishes_inflight(void **state)
{
    (void)state;
    roc_daemon *d = NULL;
    char url[512], uri[600];
    assert_int_equal(open_daemon(F.transport, &d, url, sizeof url, NULL), 0);
    assert_int_equal(roc_daemon_register(d, "t", &t_servant, NULL), 0);
    assert_int_equal(roc_daemon_start(d), 0);
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    roc_proxy *p = NULL;
    assert_int_equal(roc_proxy_open(&p, uri, NULL), 0);
    roc_proxy_set_timeout(p, 5000);
    int started0 = atomic_load(&g.sleep_started);
    roc_future *f = NULL;
    assert_ok(
        roc_proxy_call_async(p, "sleep", J(F.a, "[300]"), NULL, &f, &F.err),
        &F.err);
    counter_at_least w = {&g.sleep_started, started0 + 1};
    assert_true(tu_wait_for(counter_reached, &w, 5000));
    roc_daemon_shutdown(d);
    assert_int_equal(roc_future_wait(f, 5000), 0);
    assert_ok(roc_future_result(f, NULL, F.a, &F.err), &F.err);
    roc_future_free(f);
    /* Nothing is served any more. */
    int rv = roc_proxy_call(p, "add", J(F.a, "[1,1]"), NULL, F.a, &F.err);
    assert_int_not_equal(rv, 0);
    roc_proxy_close(p);
    roc_daemon_close(d);
}

/* Nothing listens: the call fails at once with a clear code. */
static void test_connection_refused(void **state)
{
    (void)state;
    roc_daemon *d = NULL;
    char url[512], uri[600];
    assert_int_equal(open_daemon(F.transport, &d, url, sizeof url, NULL), 0);
    roc_daemon_close(d); /* the address is free again, nobody listens */
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    roc_proxy *p = NULL;
    assert_int_equal(roc_proxy_open(&p, uri, NULL), 0);
    uint64_t t0 = tu_now_ms();
    int rv = roc_proxy_call(p, "add", J(F.a, "[1,1]"), NULL, F.a, &F.err);
    if (rv != ROC_ECONNREFUSED)
        fail_msg("want ROC_ECONNREFUSED, got %d: %s", rv, tu_errtext(&F.err));
    assert_true(tu_now_ms() - t0 < 3000);
    assert_int_equal(roc_proxy_bind(p, &F.err), ROC_ECONNREFUSED);
    roc_proxy_close(p);
}

static void test_bad_uri(void **state)
{
    (void)state;
    roc_proxy *p = NULL;
    assert_int_not_equal(roc_proxy_open(&p, "not a uri", &F.err), 0);
    assert_int_not_equal(roc_proxy_open(&p, "ROC:x@nosuch://a", &F.err), 0);
    assert_int_equal(roc_proxy_call(NULL, "m", NULL, NULL, NULL, &F.err),
                     ROC_EINVAL);
}

/* ------------------------------------------------------------------ */

#define T(fn) cmocka_unit_test_setup(fn, test_setup)

static const struct CMUnitTest tests[] = {
    T(test_sync_echo_json_values),
    T(test_sync_echo_edge_values),
    T(test_sync_add),
    T(test_sync_nil_result),
    T(test_sync_call_context),
    T(test_sync_bind),
    T(test_async_wait_result),
    T(test_async_result_without_wait),
    T(test_async_on_complete),
    T(test_async_error),
    T(test_async_wait_times_out_then_completes),
    T(test_async_free_pending),
    T(test_async_held_back_call_leaves_unwaited),
    T(test_oneway_observed_by_later_call),
    T(test_oneway_errors_are_silent),
    T(test_remote_exception),
    T(test_handler_runtime_error),
    T(test_unknown_object),
    T(test_unknown_method),
    T(test_wrong_arg_count),
    T(test_errors_counted),
    T(test_timeout_cancels_handler),
    T(test_proxy_default_timeout),
    T(test_future_cancel),
    T(test_async_deadline),
    T(test_remaining_ms),
    T(test_threads_1000_async_in_flight),
    T(test_threads_sync),
    T(test_concurrent_calls_on_one_connection),
    T(test_serialized_servant),
    T(test_percall_instances),
    T(test_session_per_connection),
    T(test_register_while_serving),
    T(test_daemon_ping),
    T(test_daemon_objects),
    T(test_daemon_describe),
    T(test_daemon_stats),
    T(test_shutdown_finishes_inflight),
    T(test_connection_refused),
    T(test_bad_uri),
};

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--session-client") == 0)
        return session_client(argv[2], atoi(argv[3]));
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = 0;
    /* ROC_TEST_TRANSPORT=tcp runs one transport only (for debugging). */
    const char *only = getenv("ROC_TEST_TRANSPORT");
    int failed = 0;
    if (!only || strcmp(only, "inproc") == 0)
        failed += cmocka_run_group_tests_name("rpc/inproc", tests, setup_inproc,
                                              group_teardown);
    if (!only || strcmp(only, "ipc") == 0)
        failed += cmocka_run_group_tests_name("rpc/ipc", tests, setup_ipc,
                                              group_teardown);
    if (!only || strcmp(only, "tcp") == 0)
        failed += cmocka_run_group_tests_name("rpc/tcp", tests, setup_tcp,
                                              group_teardown);
    return failed ? 1 : 0;
}
