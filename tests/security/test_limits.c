/* limits_*: each limit of roc_daemon_opts (docs/wire.md section 9) crossed
 * on purpose, the documented error seen, and the daemon serving a
 * well-behaved client the whole time (sec_assert_served).
 *
 * One program, one ctest per case: `test_limits NAME` runs the cmocka test
 * whose name matches NAME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sec_util.h"
#include "testutil.h"

static void start(roc_daemon_opts *o)
{
    if (sec_daemon_start(o) != 0)
        fail_msg("could not start the daemon");
}

static void stop(void)
{
    assert_int_equal(sec_daemon_stop(), 0);
}

static char *obj_uri(const char *obj, char *buf, size_t len)
{
    snprintf(buf, len, "ROC:%s@%s", obj, sec_url());
    return buf;
}

/* A call of t.echo(arg) over a connection of its own. */
static int echo_once(roc_conn *c, roc_value *arg, roc_error *e)
{
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *args = roc_value_arrayv(a, 1, arg ? arg : roc_value_nil(a));
    roc_value *res = NULL;
    int rv = roc_conn_call(c, "echo", args, &res, a, e);
    if (rv == 0 && arg && !roc_value_equal(res, arg))
        rv = -1;
    roc_arena_free(a);
    return rv;
}

/* ---- handshake deadline ---- */

static void test_limits_handshake_deadline(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.hello_timeout_ms = 400;
    start(&o);
    /* silent: nothing at all */
    sec_raw silent;
    assert_int_equal(sec_raw_dial(&silent, sec_url()), 0);
    uint64_t t0 = sec_now_ms();
    /* slow loris: the hello one byte every 50 ms (1.3 s in all), which
     * must not push the deadline back */
    sec_raw loris;
    assert_int_equal(sec_raw_dial(&loris, sec_url()), 0);
    bool loris_closed = false;
    for (size_t i = 0; i < sizeof sec_hello && !loris_closed; i++) {
        if (sec_raw_send(&loris, &sec_hello[i], 1) != 0) {
            loris_closed = true;
            break;
        }
        uint8_t b;
        long n = sec_raw_recv_some(&loris, &b, 1, sec_now_ms() + 50);
        if (n == 0)
            loris_closed = true;
    }
    uint64_t t_loris = sec_now_ms() - t0;
    if (!loris_closed)
        loris_closed = sec_raw_wait_closed(&loris, sec_now_ms() + 5000);
    assert_true(loris_closed);
    assert_true(sec_raw_wait_closed(&silent, t0 + 5000));
    uint64_t t_silent = sec_now_ms() - t0;
    print_message("silent closed after %llu ms, slow loris after %llu ms "
                  "(deadline 400 ms)\n",
                  (unsigned long long)t_silent, (unsigned long long)t_loris);
    assert_true(t_silent >= 350);
    assert_true(t_loris < 1300); /* cut before its hello was complete */
    sec_raw_close(&silent);
    sec_raw_close(&loris);
    sec_assert_served();
    stop();
}

/* ---- max connections ---- */

static void test_limits_max_conns(void **state)
{
    (void)state;
    enum { MAX = 8 };
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_conns = MAX;
    start(&o); /* the background client holds one connection */
    roc_conn *c[MAX] = {NULL};
    roc_error e = ROC_ERROR_INIT;
    char uri[400];
    obj_uri("t", uri, sizeof uri);
    for (int i = 0; i < MAX - 1; i++) {
        if (roc_connect(&c[i], uri, NULL, &e) != 0)
            fail_msg("connection %d: %s", i + 2, e.message);
        roc_proxy_set_timeout(roc_conn_root(c[i]), 5000);
        assert_int_equal(echo_once(c[i], NULL, &e), 0);
    }
    /* one too many: refused with an error, at once */
    roc_conn *extra = NULL;
    uint64_t t0 = sec_now_ms();
    int rv = roc_connect(&extra, uri, NULL, &e);
    if (rv == 0) {
        roc_proxy_set_timeout(roc_conn_root(extra), 5000);
        rv = echo_once(extra, NULL, &e);
    }
    print_message("connection %d: %d %s: %s (%llu ms)\n", MAX + 1, rv,
                  roc_strerror(rv), e.message ? e.message : "",
                  (unsigned long long)(sec_now_ms() - t0));
    assert_int_not_equal(rv, 0);
    assert_true(sec_now_ms() - t0 < 4000);
    roc_conn_close(extra);
    /* the others are not disturbed */
    for (int i = 0; i < MAX - 1; i++)
        assert_int_equal(echo_once(c[i], NULL, &e), 0);
    sec_assert_served();
    /* a freed slot can be taken again */
    roc_conn_close(c[0]);
    c[0] = NULL;
    uint64_t end = sec_now_ms() + 5000;
    for (;;) {
        roc_conn *again = NULL;
        if (roc_connect(&again, uri, NULL, &e) == 0 &&
            echo_once(again, NULL, &e) == 0) {
            c[0] = again;
            break;
        }
        roc_conn_close(again);
        if (sec_now_ms() > end)
            fail_msg("no connection accepted after one closed: %s",
                     e.message);
    }
    for (int i = 0; i < MAX - 1; i++)
        roc_conn_close(c[i]);
    roc_error_clear(&e);
    stop();
}

/* ---- calls in flight per connection (back-pressure) ---- */

static bool entered_n(void *arg)
{
    return atomic_load(&SC.entered) >= *(int *)arg;
}

static void test_limits_max_inflight(void **state)
{
    (void)state;
    enum { LIMIT = 4, CALLS = 12 };
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_inflight = LIMIT;
    o.workers = 16; /* more workers than the limit: the limit is the bound */
    start(&o);
    char uri[400];
    roc_conn *c = NULL;
    roc_error e = ROC_ERROR_INIT;
    assert_int_equal(roc_connect(&c, obj_uri("t", uri, sizeof uri), NULL, &e),
                     0);
    roc_future *f[CALLS];
    roc_call_opts co = {.timeout_ms = 15000};
    for (int i = 0; i < CALLS; i++)
        assert_int_equal(roc_conn_call_async(c, "hold", NULL, &co, &f[i], &e),
                         0);
    int want = LIMIT;
    assert_true(tu_wait_for(entered_n, &want, 5000));
    /* the connection is paused: a further call on it is not read, so it
     * times out (no error frame: back-pressure is silent) ... */
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *res = NULL;
    /* (a synchronous call: the deadline of an async call on a roc_connect
     * connection is not enforced today, see docs/security.md) */
    roc_proxy_set_timeout(roc_conn_root(c), 300);
    uint64_t t1 = sec_now_ms();
    int prv = roc_conn_call(c, "echo", roc_value_arrayv(a, 1, roc_value_nil(a)),
                            &res, a, &e);
    print_message("call beyond %d in flight: %d %s after %llu ms; handlers "
                  "entered: %d\n",
                  LIMIT, prv, roc_strerror(prv),
                  (unsigned long long)(sec_now_ms() - t1),
                  atomic_load(&SC.entered));
    assert_int_equal(prv, ROC_ETIMEDOUT);
    roc_proxy_set_timeout(roc_conn_root(c), 15000);
    assert_int_equal(atomic_load(&SC.entered), LIMIT);
    assert_true(atomic_load(&SC.max_holding) <= LIMIT);
    /* ... while other connections are served */
    sec_assert_served();
    /* open the gate: every call completes, never more than LIMIT at once */
    sec_gate_open();
    for (int i = 0; i < CALLS; i++) {
        int rv = roc_future_result(f[i], &res, a, &e);
        if (rv != 0)
            fail_msg("call %d: %d %s", i, rv, e.message);
    }
    assert_int_equal(atomic_load(&SC.entered), CALLS);
    assert_true(atomic_load(&SC.max_holding) <= LIMIT);
    /* (not checked: that the connection takes calls again afterwards; it
     * is closed on the client side today, see docs/security.md) */
    for (int i = 0; i < CALLS; i++)
        roc_future_free(f[i]);
    roc_conn_close(c);
    roc_arena_free(a);
    roc_error_clear(&e);
    stop();
}

/* ---- max frame size ---- */

static void test_limits_max_frame(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_frame = 64 * 1024;
    start(&o);
    char uri[400];
    roc_conn *c = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    static uint8_t big[100 * 1024];
    assert_int_equal(roc_connect(&c, obj_uri("t", uri, sizeof uri), NULL, &e),
                     0);
    roc_proxy_set_timeout(roc_conn_root(c), 5000);
    /* under the limit: fine */
    assert_int_equal(echo_once(c, roc_value_bin(a, big, 60 * 1024), &e), 0);
    /* over it: roc.MessageTooLarge, and this connection closes */
    int rv = echo_once(c, roc_value_bin(a, big, sizeof big), &e);
    print_message("100 KiB call with a 64 KiB limit: %d %s: %s (type %s)\n",
                  rv, roc_strerror(rv), e.message ? e.message : "",
                  e.type ? e.type : "-");
    assert_int_not_equal(rv, 0);
    assert_true(rv == ROC_ETOOBIG || (e.message &&
                                      strstr(e.message, "exceeds") != NULL));
    roc_conn_close(c);
    /* the same check through a raw stream: the error frame comes back
     * before the body was sent */
    sec_raw r;
    assert_int_equal(sec_raw_dial(&r, sec_url()), 0);
    assert_int_equal(sec_raw_send(&r, sec_hello, sizeof sec_hello), 0);
    uint8_t hdr[4] = {0, 2, 0, 0}; /* 128 KiB */
    assert_int_equal(sec_raw_send(&r, hdr, 4), 0);
    uint8_t buf[512];
    size_t got = 0;
    uint64_t end = sec_now_ms() + 5000;
    while (got < sizeof buf) {
        long n = sec_raw_recv_some(&r, buf + got, sizeof buf - got, end);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    /* the daemon's hello, then the refusal */
    buf[got < sizeof buf ? got : sizeof buf - 1] = 0;
    assert_true(got > 13);
    assert_non_null(memmem(buf, got, "roc.MessageTooLarge", 19));
    sec_raw_close(&r);
    sec_assert_served();
    roc_arena_free(a);
    roc_error_clear(&e);
    stop();
}

/* ---- max nesting depth ---- */

static roc_value *nested(roc_arena *a, int depth)
{
    roc_value *v = roc_value_int(a, 1);
    for (int i = 0; i < depth; i++)
        v = roc_value_arrayv(a, 1, v);
    return v;
}

static void test_limits_max_depth(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_depth = 8;
    start(&o);
    char uri[400];
    roc_conn *c = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    assert_int_equal(roc_connect(&c, obj_uri("t", uri, sizeof uri), NULL, &e),
                     0);
    roc_proxy_set_timeout(roc_conn_root(c), 5000);
    /* 8 nested arrays: the innermost at depth 7, accepted */
    assert_int_equal(echo_once(c, nested(a, 8), &e), 0);
    /* 9: refused with roc.ProtocolError and the connection closes */
    int rv = echo_once(c, nested(a, 9), &e);
    print_message("depth 9 with a limit of 8: %d %s: %s\n", rv,
                  roc_strerror(rv), e.message ? e.message : "");
    assert_true(rv == ROC_EPROTO || rv == ROC_ECLOSED);
    roc_conn_close(c);
    sec_assert_served();
    roc_arena_free(a);
    roc_error_clear(&e);
    stop();
}

/* ---- idle timeout ---- */

static bool conn_gone(void *arg)
{
    return !roc_conn_alive(arg);
}

static void test_limits_idle_timeout(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.idle_timeout_ms = 300;
    start(&o);
    char uri[400];
    roc_error e = ROC_ERROR_INIT;
    roc_conn *idle = NULL, *busy = NULL;
    assert_int_equal(roc_connect(&idle, obj_uri("t", uri, sizeof uri), NULL, &e),
                     0);
    assert_int_equal(roc_connect(&busy, uri, NULL, &e), 0);
    assert_int_equal(echo_once(idle, NULL, &e), 0);
    /* a connection that keeps calling stays; the silent one is closed */
    uint64_t t0 = sec_now_ms();
    while (sec_now_ms() - t0 < 1000) {
        assert_int_equal(echo_once(busy, NULL, &e), 0);
        usleep(50000);
    }
    assert_true(tu_wait_for(conn_gone, idle, 3000));
    assert_true(roc_conn_alive(busy));
    print_message("idle connection closed after ~%llu ms (limit 300 ms)\n",
                  (unsigned long long)(sec_now_ms() - t0));
    roc_conn_close(idle);
    roc_conn_close(busy);
    sec_assert_served();
    roc_error_clear(&e);
    stop();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_handshake_deadline),
        cmocka_unit_test(test_limits_max_conns),
        cmocka_unit_test(test_limits_max_inflight),
        cmocka_unit_test(test_limits_max_frame),
        cmocka_unit_test(test_limits_max_depth),
        cmocka_unit_test(test_limits_idle_timeout),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
