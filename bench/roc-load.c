/* roc-load: the load tests of tests/security with larger numbers, by hand.
 *
 *   roc-load [--url URL] [--conns N] [--calls N] [--inflight N]
 *
 * Opens N connections of their own (roc_connect) to URL — or, without
 * --url, to a daemon started in this process on tcp://127.0.0.1:0 — and on
 * each sends INFLIGHT async echo calls at a time, CALLS rounds in all, and
 * checks every answer. Prints connect time, call rate and the memory (RSS)
 * of this process (which includes the daemon when it is in-process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <roc/roc.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int echo(roc_call *call, const roc_value *args, roc_value **result)
{
    *result = roc_value_copy(roc_call_arena(call), roc_value_at(args, 0));
    return 0;
}

static const roc_method methods[] = {{"echo", echo, 1, 0, "any x", "any"}};

int main(int argc, char **argv)
{
    const char *url = NULL;
    long conns = 1000, calls = 10, inflight = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--conns"))
            conns = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--calls"))
            calls = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--inflight"))
            inflight = atol(argv[i + 1]);
        else {
            fprintf(stderr, "usage: roc-load [--url URL] [--conns N] "
                            "[--calls N] [--inflight N]\n");
            return 2;
        }
    }
    if (conns < 1 || calls < 1 || inflight < 1)
        return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    roc_error e = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    char uri[512];
    if (!url) {
        roc_daemon_opts o;
        roc_daemon_opts_init(&o);
        o.max_conns = (unsigned)conns + 16;
        roc_servant sv = {.iface = "load.Echo", .methods = methods,
                          .n_methods = 1, .mode = ROC_INSTANCE_SINGLE};
        if (roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &e) != 0 ||
            roc_daemon_register(d, "t", &sv, NULL) != 0 ||
            roc_daemon_start(d) != 0) {
            fprintf(stderr, "roc-load: daemon: %s\n", e.message ? e.message : "?");
            return 1;
        }
        url = roc_daemon_url(d);
    }
    snprintf(uri, sizeof uri, "ROC:t@%s", url);
    long rss0 = rss_kb();
    roc_conn **c = calloc((size_t)conns, sizeof *c);
    roc_future **f = calloc((size_t)(calls * conns * inflight), sizeof *f);
    roc_arena *a = NULL;
    if (!c || !f || roc_arena_new(&a) != 0)
        return 1;
    uint64_t t0 = now_ms();
    for (long i = 0; i < conns; i++)
        if (roc_connect(&c[i], uri, NULL, &e) != 0) {
            fprintf(stderr, "roc-load: connection %ld: %s\n", i, e.message);
            return 1;
        }
    uint64_t t1 = now_ms();
    long rss1 = rss_kb();
    long ok = 0, failed = 0;
    roc_call_opts co = {.timeout_ms = 60000};
    for (long r = 0; r < calls; r++) {
        for (long k = 0; k < inflight; k++)
            for (long i = 0; i < conns; i++) {
                roc_value *args = roc_value_arrayv(a, 1, roc_value_int(a, k));
                if (roc_conn_call_async(c[i], "echo", args, &co,
                                        &f[i * inflight + k], &e) != 0)
                    f[i * inflight + k] = NULL;
                roc_arena_reset(a);
            }
        for (long j = 0; j < conns * inflight; j++) {
            roc_value *res = NULL;
            int64_t got = -1;
            if (f[j] && roc_future_result(f[j], &res, a, &e) == 0 &&
                roc_value_get_int(res, &got) == 0 && got == j % inflight)
                ok++;
            else
                failed++;
            roc_arena_reset(a);
        }
        /* futures are kept to the end: freeing one of a roc_connect
         * connection closes it today (docs/security.md) */
        f += conns * inflight;
    }
    f -= calls * conns * inflight;
    uint64_t t2 = now_ms();
    long rss2 = rss_kb();
    printf("connections: %ld in %llu ms\n", conns,
           (unsigned long long)(t1 - t0));
    printf("calls: %ld answered, %ld failed, in %llu ms (%.0f/s), %ld in "
           "flight per connection\n",
           ok, failed, (unsigned long long)(t2 - t1),
           (double)ok * 1000.0 / (double)(t2 - t1 + 1), inflight);
    printf("RSS (this process%s): %ld kB before, %ld kB connected, %ld kB "
           "after the calls\n",
           d ? ", daemon included" : "", rss0, rss1, rss2);
    for (long i = 0; i < conns; i++)
        roc_conn_close(c[i]);
    for (long j = 0; j < calls * conns * inflight; j++)
        roc_future_free(f[j]);
    free(f);
    free(c);
    roc_arena_free(a);
    roc_daemon_close(d);
    roc_error_clear(&e);
    return failed ? 1 : 0;
}
