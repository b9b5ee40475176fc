/* fault_*: a client that stalls inside a frame, a client killed in the
 * middle of a call, a daemon killed with calls in flight, a daemon
 * restarted under its proxies. Child processes are sec_helper; every wait
 * polls with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sec_util.h"
#include "testutil.h"

/* ---- half a frame, then silence ---- */

static void test_fault_half_frame_stall(void **state)
{
    (void)state;
    enum { STALLED = 20 };
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    assert_int_equal(sec_daemon_start(&o), 0);
    sec_raw r[STALLED];
    for (int i = 0; i < STALLED; i++) {
        assert_int_equal(sec_raw_dial(&r[i], sec_url()), 0);
        assert_int_equal(sec_raw_send(&r[i], sec_hello, sizeof sec_hello), 0);
        uint8_t h[13];
        size_t got = 0;
        while (got < sizeof h) {
            long n = sec_raw_recv_some(&r[i], h + got, sizeof h - got,
                                       sec_now_ms() + 5000);
            assert_true(n > 0);
            got += (size_t)n;
        }
        assert_memory_equal(h, sec_hello, sizeof h);
        /* a call frame announced as 100 bytes, of which 10 come */
        static const uint8_t half[] = {0,    0,    0,    100, 0x97, 1, 1,
                                       1,    0xa1, 't',  0xa4, 'e'};
        assert_int_equal(sec_raw_send(&r[i], half, i % 2 ? sizeof half : 2),
                         0);
    }
    /* the others keep being answered, and new clients too */
    sec_assert_served();
    char uri[400];
    snprintf(uri, sizeof uri, "ROC:t@%s", sec_url());
    roc_conn *c = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    assert_int_equal(roc_connect(&c, uri, NULL, &e), 0);
    roc_value *res = NULL;
    assert_int_equal(roc_conn_call(c, "echo",
                                   roc_value_arrayv(a, 1, roc_value_int(a, 7)),
                                   &res, a, &e),
                     0);
    roc_conn_close(c);
    sec_assert_served();
    roc_daemon_stats st;
    roc_daemon_get_stats(sec_daemon(), &st);
    print_message("%d stalled connections held open; daemon: %llu "
                  "connections, %llu calls\n",
                  STALLED, (unsigned long long)st.connections,
                  (unsigned long long)st.calls);
    for (int i = 0; i < STALLED; i++)
        sec_raw_close(&r[i]);
    roc_arena_free(a);
    roc_error_clear(&e);
    assert_int_equal(sec_daemon_stop(), 0);
}

/* ---- a client killed in the middle of a call ---- */

static bool session_made_and_holding(void *arg)
{
    (void)arg;
    return atomic_load(&SC.created) == 1 && atomic_load(&SC.holding) == 1;
}

static bool session_destroyed(void *arg)
{
    (void)arg;
    return atomic_load(&SC.destroyed) == 1 && atomic_load(&SC.holding) == 0;
}

static bool only_bg_conn(void *arg)
{
    (void)arg;
    roc_daemon_stats st;
    roc_daemon_get_stats(sec_daemon(), &st);
    return st.connections == 1;
}

static void test_fault_client_killed(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    assert_int_equal(sec_daemon_start(&o), 0);
    char helper[1024];
    tu_bin("tests/security/sec_helper", helper, sizeof helper);
    char *argv[] = {helper, "client", (char *)sec_url(), NULL};
    int fd = -1;
    pid_t pid = tu_spawn(argv, &fd);
    assert_true(pid > 0);
    char line[64];
    assert_int_equal(tu_read_line(fd, line, sizeof line, 10000), 0);
    assert_true(tu_wait_for(session_made_and_holding, NULL, 10000));
    tu_kill9(pid);
    close(fd);
    uint64_t t0 = sec_now_ms();
    /* the daemon notices, cancels the running call and destroys the
     * session instance of the dead connection */
    assert_true(tu_wait_for(session_destroyed, NULL, 10000));
    assert_true(tu_wait_for(only_bg_conn, NULL, 10000));
    print_message("session destroyed %llu ms after kill -9 of the client\n",
                  (unsigned long long)(sec_now_ms() - t0));
    assert_int_equal(atomic_load(&SC.created), 1);
    sec_assert_served();
    assert_int_equal(sec_daemon_stop(), 0);
}

/* ---- the daemon killed with calls in flight ---- */

typedef struct sync_caller {
    roc_proxy *p;
    atomic_bool started;
    int rv;
    uint64_t took_ms;
} sync_caller;

static void *sync_call(void *arg)
{
    sync_caller *s = arg;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *res = NULL;
    uint64_t t0 = sec_now_ms();
    atomic_store(&s->started, true);
    s->rv = roc_proxy_call(s->p, "hold", NULL, &res, a, NULL);
    s->took_ms = sec_now_ms() - t0;
    roc_arena_free(a);
    return NULL;
}

static bool all_started(void *arg)
{
    sync_caller *s = arg;
    for (int i = 0; i < 4; i++)
        if (!atomic_load(&s[i].started))
            return false;
    return true;
}

static void test_fault_daemon_killed(void **state)
{
    (void)state;
    enum { ASYNC = 16, SYNC = 4, TIMEOUT = 10000 };
    char url[256], uri[400];
    pid_t pid = sec_spawn_daemon("tcp://127.0.0.1:0", url, sizeof url, NULL);
    assert_true(pid > 0);
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    roc_proxy *p = NULL;
    roc_error e = ROC_ERROR_INIT;
    assert_int_equal(roc_proxy_open(&p, uri, &e), 0);
    roc_proxy_set_timeout(p, TIMEOUT);
    assert_int_equal(roc_proxy_bind(p, &e), 0);
    roc_future *f[ASYNC];
    for (int i = 0; i < ASYNC; i++)
        assert_int_equal(roc_proxy_call_async(p, "hold", NULL, NULL, &f[i], &e),
                         0);
    sync_caller s[SYNC];
    pthread_t th[SYNC];
    memset(s, 0, sizeof s);
    for (int i = 0; i < SYNC; i++) {
        s[i].p = p;
        pthread_create(&th[i], NULL, sync_call, &s[i]);
    }
    assert_true(tu_wait_for(all_started, s, 5000));
    /* the calls are on the wire (a ping on the same connection answered
     * after them proves the daemon read them) */
    roc_proxy *dp = NULL;
    char duri[400];
    snprintf(duri, sizeof duri, "ROC:roc.daemon@%s", url);
    assert_int_equal(roc_proxy_open(&dp, duri, &e), 0);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *res = NULL;
    assert_int_equal(roc_proxy_call(dp, "ping", NULL, &res, a, &e), 0);
    uint64_t t0 = sec_now_ms();
    tu_kill9(pid);
    int worst = 0;
    for (int i = 0; i < ASYNC; i++) {
        assert_int_equal(roc_future_wait(f[i], TIMEOUT + 2000), 0);
        int rv = roc_future_result(f[i], &res, a, &e);
        assert_int_not_equal(rv, 0);
        if (i == 0)
            print_message("async call after kill -9: %d %s: %s\n", rv,
                          roc_strerror(rv), e.message ? e.message : "");
        roc_future_free(f[i]);
    }
    for (int i = 0; i < SYNC; i++) {
        pthread_join(th[i], NULL);
        assert_int_not_equal(s[i].rv, 0);
        if ((int)s[i].took_ms > worst)
            worst = (int)s[i].took_ms;
    }
    uint64_t all = sec_now_ms() - t0;
    print_message("%d async and %d sync callers failed within %llu ms of the "
                  "kill (timeout %d ms); sync: %s\n",
                  ASYNC, SYNC, (unsigned long long)all, TIMEOUT,
                  roc_strerror(s[0].rv));
    assert_true(all < TIMEOUT);
    roc_proxy_close(dp);
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_error_clear(&e);
}

/* ---- the daemon restarted: proxies redial ---- */

static void test_fault_daemon_restart(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char listen[512], url[256], uri[600];
    snprintf(listen, sizeof listen, "ipc://%s/d.sock", dir);
    pid_t pid = sec_spawn_daemon(listen, url, sizeof url, NULL);
    assert_true(pid > 0);
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    roc_proxy *p = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    assert_int_equal(roc_proxy_open(&p, uri, &e), 0);
    roc_proxy_set_timeout(p, 5000);
    roc_value *res = NULL;
    roc_value *args = roc_value_arrayv(a, 1, roc_value_int(a, 1));
    assert_int_equal(roc_proxy_call(p, "echo", args, &res, a, &e), 0);
    tu_kill9(pid);
    /* while it is down: a clear error, no hang */
    uint64_t t0 = sec_now_ms();
    int rv = roc_proxy_call(p, "echo", args, &res, a, &e);
    print_message("call while the daemon is down: %d %s: %s (%llu ms)\n", rv,
                  roc_strerror(rv), e.message ? e.message : "",
                  (unsigned long long)(sec_now_ms() - t0));
    assert_int_not_equal(rv, 0);
    /* restarted at the same address: the same proxy redials */
    pid = sec_spawn_daemon(listen, url, sizeof url, NULL);
    assert_true(pid > 0);
    uint64_t end = sec_now_ms() + 10000;
    int tries = 0;
    do {
        tries++;
        rv = roc_proxy_call(p, "echo", args, &res, a, &e);
    } while (rv != 0 && sec_now_ms() < end);
    print_message("after the restart: %d (%d tries)\n", rv, tries);
    assert_int_equal(rv, 0);
    roc_proxy_close(p);
    assert_int_equal(tu_stop(pid), 0);
    roc_arena_free(a);
    roc_error_clear(&e);
    tu_rmtree(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_half_frame_stall),
        cmocka_unit_test(test_fault_client_killed),
        cmocka_unit_test(test_fault_daemon_killed),
        cmocka_unit_test(test_fault_daemon_restart),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
