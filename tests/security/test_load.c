/* load_*: many clients against one daemon on 127.0.0.1, sized for a
 * 2-core machine (each case well under 60 s). The daemon runs in a child
 * process (sec_helper) so that its memory can be read from /proc and
 * reported. bench/roc-load runs the same workloads with larger numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sec_util.h"
#include "testutil.h"

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Connections open on the daemon, from its stats. */
static long daemon_conns(roc_proxy *p)
{
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *res = NULL;
    long n = -1;
    if (roc_proxy_call(p, "stats", NULL, &res, a, NULL) == 0) {
        int64_t v;
        if (roc_value_get_int(roc_value_map_get(res, "connections"), &v) == 0)
            n = (long)v;
    }
    roc_arena_free(a);
    return n;
}

typedef struct worker {
    roc_conn **conns;
    size_t from, to;
    int calls_each;
    long ok, failed;
    char why[256];
} worker;

static void *call_worker(void *arg)
{
    worker *w = arg;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_error e = ROC_ERROR_INIT;
    for (int k = 0; k < w->calls_each; k++)
        for (size_t i = w->from; i < w->to; i++) {
            int64_t x = (int64_t)(i * 1000 + (size_t)k), got = -1;
            roc_value *res = NULL;
            int rv = roc_conn_call(w->conns[i], "echo",
                                   roc_value_arrayv(a, 1, roc_value_int(a, x)),
                                   &res, a, &e);
            if (rv == 0 && roc_value_get_int(res, &got) == 0 && got == x) {
                w->ok++;
            } else if (w->failed++ == 0) {
                snprintf(w->why, sizeof w->why, "conn %zu: %d %s", i, rv,
                         e.message ? e.message : "");
            }
            roc_arena_reset(a);
        }
    roc_arena_free(a);
    roc_error_clear(&e);
    return NULL;
}

static void test_load_1000_connections(void **state)
{
    (void)state;
    enum { CALLS = 3, THREADS = 8 };
    const int N = getenv("ROC_LOAD_CONNS") ? atoi(getenv("ROC_LOAD_CONNS"))
                                           : 1000;
    raise_nofile();
    char url[256], uri[400];
    pid_t pid = sec_spawn_daemon("tcp://127.0.0.1:0", url, sizeof url, NULL);
    assert_true(pid > 0);
    long rss0 = sec_rss_kb(pid);
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    roc_conn **c = calloc(N, sizeof *c);
    roc_error e = ROC_ERROR_INIT;
    uint64_t t0 = sec_now_ms();
    for (int i = 0; i < N; i++) {
        if (roc_connect(&c[i], uri, NULL, &e) != 0)
            fail_msg("connection %d: %s", i, e.message);
        roc_proxy_set_timeout(roc_conn_root(c[i]), 20000);
        if (i % 100 == 99)
            fprintf(stderr, "%d connections after %llu ms\n", i + 1,
                    (unsigned long long)(sec_now_ms() - t0));
    }
    uint64_t t1 = sec_now_ms();
    long rss1 = sec_rss_kb(pid);
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].conns = c;
        w[t].from = (size_t)t * N / THREADS;
        w[t].to = (size_t)(t + 1) * N / THREADS;
        w[t].calls_each = CALLS;
        pthread_create(&th[t], NULL, call_worker, &w[t]);
    }
    long ok = 0, failed = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ok += w[t].ok;
        failed += w[t].failed;
        if (w[t].failed)
            print_message("worker %d: %s\n", t, w[t].why);
    }
    uint64_t t2 = sec_now_ms();
    long rss2 = sec_rss_kb(pid);
    roc_proxy *dp = NULL;
    char duri[400];
    snprintf(duri, sizeof duri, "ROC:roc.daemon@%s", url);
    assert_int_equal(roc_proxy_open(&dp, duri, &e), 0);
    long open_conns = daemon_conns(dp);
    for (int i = 0; i < N; i++)
        roc_conn_close(c[i]);
    /* the daemon lets go of them: only the stats proxy's stays */
    uint64_t end = sec_now_ms() + 20000;
    long left = daemon_conns(dp);
    while (left > 1 && sec_now_ms() < end)
        left = daemon_conns(dp);
    long rss3 = sec_rss_kb(pid);
    print_message("load_1000_connections: %d connections in %llu ms, %ld calls "
                  "in %llu ms (%ld failed); daemon saw %ld open, %ld after "
                  "close\n",
                  N, (unsigned long long)(t1 - t0), ok,
                  (unsigned long long)(t2 - t1), failed, open_conns, left);
    print_message("daemon RSS: %ld kB idle, %ld kB with %d connections "
                  "(%ld kB each), %ld kB after calls, %ld kB after close\n",
                  rss0, rss1, N, (rss1 - rss0) / N, rss2, rss3);
    roc_proxy_close(dp);
    assert_int_equal(failed, 0);
    assert_int_equal(ok, (long)N * CALLS);
    assert_true(open_conns >= N);
    assert_true(left <= 1);
    /* bounded: under 256 kB per connection, 512 MB in all */
    assert_true(rss2 - rss0 < 256L * N);
    assert_true(rss2 < 512L * 1024);
    assert_int_equal(tu_stop(pid), 0);
    free(c);
    roc_error_clear(&e);
}

static void test_load_100x200_in_flight(void **state)
{
    (void)state;
    enum { N = 100, INFLIGHT = 200 };
    raise_nofile();
    char url[256], uri[400];
    pid_t pid = sec_spawn_daemon("tcp://127.0.0.1:0", url, sizeof url, NULL);
    assert_true(pid > 0);
    long rss0 = sec_rss_kb(pid);
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    roc_conn *c[N];
    roc_error e = ROC_ERROR_INIT;
    for (int i = 0; i < N; i++) {
        if (roc_connect(&c[i], uri, NULL, &e) != 0)
            fail_msg("connection %d: %s", i, e.message);
    }
    roc_future **f = calloc((size_t)N * INFLIGHT, sizeof *f);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_call_opts co = {.timeout_ms = 30000};
    uint64_t t0 = sec_now_ms();
    /* every connection gets all its calls sent before any is waited on */
    for (int k = 0; k < INFLIGHT; k++)
        for (int i = 0; i < N; i++) {
            roc_value *args = roc_value_arrayv(a, 1,
                                               roc_value_int(a, i * 1000 + k));
            if (roc_conn_call_async(c[i], "echo", args, &co,
                                    &f[i * INFLIGHT + k], &e) != 0)
                fail_msg("call %d/%d: %s", i, k, e.message);
            roc_arena_reset(a);
        }
    uint64_t t1 = sec_now_ms();
    long rss1 = sec_rss_kb(pid);
    long ok = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < INFLIGHT; k++) {
            roc_value *res = NULL;
            int64_t got = -1;
            int rv = roc_future_result(f[i * INFLIGHT + k], &res, a, &e);
            if (rv != 0 || roc_value_get_int(res, &got) != 0 ||
                got != i * 1000 + k)
                fail_msg("call %d/%d: %d %s", i, k, rv,
                         e.message ? e.message : "wrong result");
            ok++;
            roc_arena_reset(a);
        }
    uint64_t t2 = sec_now_ms();
    long rss2 = sec_rss_kb(pid);
    print_message("load_100x200_in_flight: %ld calls sent in %llu ms, all "
                  "answered after %llu ms; daemon RSS %ld kB idle, %ld kB "
                  "while sending, %ld kB after\n",
                  ok, (unsigned long long)(t1 - t0),
                  (unsigned long long)(t2 - t0), rss0, rss1, rss2);
    /* connections first: freeing a future of a roc_connect connection
     * closes it today (docs/security.md) */
    for (int i = 0; i < N; i++)
        roc_conn_close(c[i]);
    for (int i = 0; i < N * INFLIGHT; i++)
        roc_future_free(f[i]);
    free(f);
    assert_true(rss2 < 512L * 1024);
    assert_int_equal(tu_stop(pid), 0);
    roc_arena_free(a);
    roc_error_clear(&e);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_1000_connections),
        cmocka_unit_test(test_load_100x200_in_flight),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
