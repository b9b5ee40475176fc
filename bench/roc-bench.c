/* roc-bench: ROC measured against raw nng in one process and one run.
 *
 * Every workload runs through each system on the same transport and payload:
 * raw nng_stream echo (the floor ROC sits on), raw nng REQ/REP (reference)
 * and ROC. For each it prints calls/s, p50/p99 latency, MiB/s, voluntary
 * context switches and heap allocations per call, then ROC's ratio to each
 * baseline and the goals of issues 2 and 9. Client and server share this one
 * process, so csw/call and allocs/call count both ends.
 *
 *   roc-bench [--transport tcp|ipc] [--seconds N] [--workload NAME[,NAME]]
 *             [--inflight N[,N]] [--system NAME[,NAME]] [--json]
 *             [--verbose]
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKLOADS 32
#define N_SYSTEMS 3

static const bench_system *const systems[N_SYSTEMS] = {
    &bench_sys_nng_stream,
    &bench_sys_nng_reqrep,
    &bench_sys_roc,
};
static const char *const system_names[N_SYSTEMS] = {"nng_stream",
                                                    "nng_reqrep", "roc"};

/* One measured row. NAN marks a column that does not apply. */
typedef struct row {
    bool done;
    bool ok;
    char err[300]; /* a bench_err message and a prefix */
    double calls_per_s, p50_us, p99_us, mib_per_s, csw_per_call,
        allocs_per_call;
    /* --verbose only */
    double ivcsw_per_call, minflt_per_call, alloc_bytes_per_call, secs;
    uint64_t calls;
} row;

typedef struct config {
    bench_opts o;
    bool json;
    bool verbose;
    workload wl[MAX_WORKLOADS];
    int n_wl;
    bool sys_on[N_SYSTEMS];
} config;

/* ---- watchdog: a row that hangs ends the run with a message ---- */

static pthread_mutex_t wd_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static uint64_t wd_deadline_ns; /* 0: nothing running */
static char wd_what[128];

static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_mtx);
    for (;;) {
        if (wd_deadline_ns == 0) {
            pthread_cond_wait(&wd_cond, &wd_mtx);
            continue;
        }
        if (bench_now_ns() >= wd_deadline_ns) {
            fprintf(stderr, "roc-bench: %s did not finish in time: hung\n",
                    wd_what);
            fflush(stdout);
            _exit(3);
        }
        struct timespec ts = {(time_t)(wd_deadline_ns / 1000000000u),
                              (long)(wd_deadline_ns % 1000000000u)};
        pthread_cond_timedwait(&wd_cond, &wd_mtx, &ts);
    }
    return NULL;
}

static void watchdog_arm(const char *what, double seconds)
{
    pthread_mutex_lock(&wd_mtx);
    snprintf(wd_what, sizeof wd_what, "%s", what);
    wd_deadline_ns = bench_now_ns() + (uint64_t)(seconds * 1e9);
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_mtx);
}

static void watchdog_disarm(void)
{
    pthread_mutex_lock(&wd_mtx);
    wd_deadline_ns = 0;
    pthread_mutex_unlock(&wd_mtx);
}

static void watchdog_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t t;
    pthread_create(&t, NULL, watchdog, NULL);
    pthread_detach(t);
}

/* ---- running a workload ---- */

static double warmup_seconds(const config *cfg)
{
    double w = cfg->o.seconds / 10;
    return w < 0.02 ? 0.02 : w > 0.5 ? 0.5 : w;
}

typedef struct worker {
    const bench_system *sys;
    const workload *w;
    void *cli;
    pthread_barrier_t *start;
    uint64_t *until_ns; /* set by the main thread before the barrier */
    uint64_t seq;
    uint64_t calls;
    hist *h;
    int rv;
    bench_err e;
} worker;

/* Synchronous calls until the deadline; a latency per call. */
static int call_loop(worker *wk, uint64_t until_ns)
{
    uint64_t now = bench_now_ns();
    while (now < until_ns) {
        uint64_t t0 = now;
        if (wk->sys->call(wk->cli, wk->w, wk->seq++, &wk->e) != 0) {
            return -1;
        }
        now = bench_now_ns();
        if (wk->h != NULL) {
            hist_add(wk->h, now - t0);
        }
        wk->calls++;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    pthread_barrier_wait(wk->start);
    wk->rv = call_loop(wk, *wk->until_ns);
    return NULL;
}

static void fill_row(row *r, const workload *w, const window *win,
                     uint64_t calls, const hist *h)
{
    double secs = (double)(win->t1_ns - win->t0_ns) / 1e9;
    r->calls_per_s = calls / secs;
    r->p50_us = hist_quantile(h, 0.50) / 1e3;
    r->p99_us = hist_quantile(h, 0.99) / 1e3;
    r->mib_per_s = w->kind == WL_ECHO
                       ? (double)calls * (double)w->payload / secs / 1048576.0
                       : NAN;
    r->csw_per_call =
        calls > 0 ? (double)(win->csw1 - win->csw0) / (double)calls : NAN;
    r->allocs_per_call = calls > 0 && alloc_count_available()
                             ? (double)win->allocs / (double)calls
                             : NAN;
    r->calls = calls;
    r->secs = secs;
    r->ivcsw_per_call =
        calls > 0 ? (double)(win->ivcsw1 - win->ivcsw0) / (double)calls : NAN;
    r->minflt_per_call =
        calls > 0 ? (double)(win->minflt1 - win->minflt0) / (double)calls
                  : NAN;
    r->alloc_bytes_per_call = calls > 0 && alloc_count_available()
                                  ? (double)win->alloc_bytes / (double)calls
                                  : NAN;
    r->ok = calls > 0;
    if (!r->ok) {
        snprintf(r->err, sizeof r->err, "no call completed");
    }
}

static void run_row(const config *cfg, const bench_system *sys, void *srv,
                    const workload *w, row *r)
{
    int n = w->kind == WL_THREADS ? w->n : 1;
    void *cli[64] = {0};
    bench_err e = {{0}};
    double warm = warmup_seconds(cfg);
    uint64_t secs_ns = (uint64_t)(cfg->o.seconds * 1e9);
    hist *hs = calloc((size_t)n, sizeof *hs);
    hist *total = calloc(1, sizeof *total);
    worker *wk = calloc((size_t)n, sizeof *wk);
    r->done = true;
    if (hs == NULL || total == NULL || wk == NULL) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    if (sys->clients_open(srv, w, n, cli, &e) != 0) {
        snprintf(r->err, sizeof r->err, "%s", e.msg);
        goto close;
    }
    window win;
    uint64_t calls = 0;
    if (w->kind == WL_PIPE) {
        pipe_run pr = {bench_now_ns() + (uint64_t)(warm * 1e9), NULL, 0};
        if (sys->pipe(cli[0], w, &pr, &e) != 0) {
            snprintf(r->err, sizeof r->err, "warm-up: %s", e.msg);
            goto close;
        }
        pr.h = total;
        pr.calls = 0;
        window_begin(&win);
        pr.until_ns = win.t0_ns + secs_ns;
        int rv = sys->pipe(cli[0], w, &pr, &e);
        window_end(&win);
        if (rv != 0) {
            snprintf(r->err, sizeof r->err, "%s", e.msg);
            goto close;
        }
        calls = pr.calls;
    } else {
        pthread_barrier_t start;
        uint64_t until = 0;
        pthread_barrier_init(&start, NULL, (unsigned)n + 1);
        for (int i = 0; i < n; i++) {
            wk[i] = (worker){.sys = sys, .w = w, .cli = cli[i], .start = &start,
                             .until_ns = &until,
                             .seq = (uint64_t)i << 40};
            uint64_t wu = bench_now_ns() + (uint64_t)(warm * 1e9 / n);
            if (call_loop(&wk[i], wu) != 0 || wk[i].calls == 0) {
                snprintf(r->err, sizeof r->err, "warm-up: %s", wk[i].e.msg);
                pthread_barrier_destroy(&start);
                goto close;
            }
            wk[i].calls = 0;
            wk[i].h = &hs[i];
        }
        pthread_t th[64];
        for (int i = 0; n > 1 && i < n; i++) {
            if (pthread_create(&th[i], NULL, worker_main, &wk[i]) != 0) {
                fprintf(stderr, "roc-bench: pthread_create failed\n");
                exit(1); /* the started threads wait on the barrier */
            }
        }
        window_begin(&win);
        until = win.t0_ns + secs_ns;
        if (n > 1) {
            pthread_barrier_wait(&start);
            for (int i = 0; i < n; i++) {
                pthread_join(th[i], NULL);
            }
        } else {
            wk[0].rv = call_loop(&wk[0], until);
        }
        window_end(&win);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < n; i++) {
            if (wk[i].rv != 0) {
                snprintf(r->err, sizeof r->err, "%s", wk[i].e.msg);
                goto close;
            }
            calls += wk[i].calls;
            hist_merge(total, &hs[i]);
        }
    }
    fill_row(r, w, &win, calls, total);
close:
    sys->clients_close(srv, n, cli);
out:
    free(hs);
    free(total);
    free(wk);
}

/* ---- output ---- */

static void json_num(FILE *f, const char *key, double v, bool last)
{
    if (isnan(v)) {
        fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
    } else {
        fprintf(f, "\"%s\":%.3f%s", key, v, last ? "" : ",");
    }
}

static void print_json(const config *cfg, const workload *w,
                       const char *system, const row *r)
{
    printf("{\"workload\":\"%s\",\"system\":\"%s\",\"transport\":\"%s\",",
           w->name, system, cfg->o.transport);
    if (!r->ok) {
        printf("\"calls_per_s\":null,\"p50_us\":null,\"p99_us\":null,"
               "\"mib_per_s\":null,\"csw_per_call\":null,"
               "\"allocs_per_call\":null,\"error\":\"");
        for (const char *p = r->err; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\') {
                putchar('\\');
            }
            putchar((unsigned char)*p >= 0x20 ? *p : ' ');
        }
        printf("\"}\n");
        return;
    }
    json_num(stdout, "calls_per_s", r->calls_per_s, false);
    json_num(stdout, "p50_us", r->p50_us, false);
    json_num(stdout, "p99_us", r->p99_us, false);
    json_num(stdout, "mib_per_s", r->mib_per_s, false);
    json_num(stdout, "csw_per_call", r->csw_per_call, false);
    json_num(stdout, "allocs_per_call", r->allocs_per_call, true);
    printf("}\n");
    fflush(stdout);
}

static void cell(double v, const char *fmt)
{
    if (isnan(v)) {
        printf(" %10s", "-");
    } else {
        printf(fmt, v);
    }
}

static void print_row(const workload *w, const char *system, const row *r)
{
    printf("%-10s %-16s", w->name, system);
    if (!r->ok) {
        printf(" FAILED: %s\n", r->err);
        fflush(stdout);
        return;
    }
    cell(r->calls_per_s, " %10.0f");
    cell(r->p50_us, " %10.1f");
    cell(r->p99_us, " %10.1f");
    cell(r->mib_per_s, " %10.1f");
    cell(r->csw_per_call, " %10.2f");
    cell(r->allocs_per_call, " %10.2f");
    printf("\n");
    fflush(stdout);
}

static double ratio(double a, double b)
{
    if (isnan(a) || isnan(b) || b == 0) {
        return NAN;
    }
    return a / b;
}

static void rcell(double v)
{
    if (isnan(v)) {
        printf(" %10s", "-");
    } else {
        printf(" %9.2fx", v);
    }
}

static void print_ratio(const workload *w, const char *base, const row *roc,
                        const row *b)
{
    char label[32];
    snprintf(label, sizeof label, "roc/%s", base);
    printf("%-10s %-16s", w->name, label);
    if (!roc->ok || !b->ok) {
        printf(" %10s\n", "-");
        return;
    }
    rcell(ratio(roc->calls_per_s, b->calls_per_s));
    rcell(ratio(roc->p50_us, b->p50_us));
    rcell(ratio(roc->p99_us, b->p99_us));
    rcell(ratio(roc->mib_per_s, b->mib_per_s));
    rcell(ratio(roc->csw_per_call, b->csw_per_call));
    rcell(ratio(roc->allocs_per_call, b->allocs_per_call));
    printf("\n");
}

/* The goals of issues 2 and 9, each judged on this run. */
typedef struct goal_ctx {
    const config *cfg;
    row (*rows)[N_SYSTEMS];
} goal_ctx;

static const row *find_row(const goal_ctx *g, const char *wl, int sys)
{
    for (int i = 0; i < g->cfg->n_wl; i++) {
        if (strcmp(g->cfg->wl[i].name, wl) == 0 && g->rows[i][sys].ok) {
            return &g->rows[i][sys];
        }
    }
    return NULL;
}

static void goal(const char *what, double got, double want, bool at_least)
{
    if (isnan(got)) {
        printf("  %-58s  not measured\n", what);
        return;
    }
    bool met = at_least ? got >= want : got <= want;
    printf("  %-58s %8.2f %s %-6.2f %s\n", what, got, at_least ? ">=" : "<=",
           want, met ? "met" : "MISSED");
}

static void print_goals(const goal_ctx *g)
{
    enum { S = 0, RR = 1, ROC = 2 };
    const row *ss = find_row(g, "small", S), *sr = find_row(g, "small", ROC);
    const row *ms = find_row(g, "echo1m", S), *mr = find_row(g, "echo1m", ROC);
    const row *ts = find_row(g, "threads4", S),
              *tq = find_row(g, "threads4", RR),
              *tr = find_row(g, "threads4", ROC);
    const row *ps = find_row(g, "pipe64", S), *pr = find_row(g, "pipe64", ROC);
#define R(a, b, f) ((a) != NULL && (b) != NULL ? ratio((a)->f, (b)->f) : NAN)
    if (sr == NULL && mr == NULL && tr == NULL && pr == NULL) {
        return; /* none of the workloads the goals speak of ran */
    }
    printf("\ngoals (ratios of roc to the baseline named, this run):\n");
    goal("small p50 / nng_stream (issue 2)", R(sr, ss, p50_us), 1.25, false);
    goal("echo1m MiB/s / nng_stream (issue 2)", R(mr, ms, mib_per_s), 0.85,
         true);
    goal("threads4 calls/s / nng_reqrep 4 contexts (issue 2)",
         R(tr, tq, calls_per_s), 1.0, true);
    goal("small calls/s / nng_stream (issue 9)", R(sr, ss, calls_per_s), 0.9,
         true);
    goal("small p50 / nng_stream (issue 9)", R(sr, ss, p50_us), 1.15, false);
    goal("small p99 / nng_stream (issue 9)", R(sr, ss, p99_us), 1.5, false);
    goal("echo1m MiB/s / nng_stream (issue 9)", R(mr, ms, mib_per_s), 0.9,
         true);
    goal("threads4 calls/s / 4 nng_stream connections (issue 9)",
         R(tr, ts, calls_per_s), 1.0, true);
    goal("pipe64 calls/s / nng_stream pipe64 (issue 9)",
         R(pr, ps, calls_per_s), 0.5, true);
    goal("pipe64 calls/s / roc small calls/s (issue 9)",
         R(pr, sr, calls_per_s), 20, true);
    goal("small allocs/call, roc (issue 9)",
         sr != NULL ? sr->allocs_per_call : NAN, 0, false);
#undef R
}

/* ---- arguments ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: roc-bench [--transport tcp|ipc] [--seconds N] "
            "[--workload NAME[,NAME...]]\n"
            "                 [--inflight N[,N...]] [--system NAME[,NAME...]] "
            "[--json] [--verbose]\n"
            "workloads: small, echo1k, echo1m (echoN, echoNk, echoNm), "
            "threads4 (threadsN),\n"
            "           pipe8, pipe64 (pipeN); default: all six.\n"
            "--inflight N adds workload pipeN. systems: nng_stream, "
            "nng_reqrep, roc.\n"
            "--verbose adds, per row, involuntary csw, minor page faults "
            "and bytes allocated per call.\n");
}

static int add_workload(config *cfg, const char *name)
{
    if (cfg->n_wl == MAX_WORKLOADS) {
        fprintf(stderr, "roc-bench: too many workloads\n");
        return -1;
    }
    workload w;
    memset(&w, 0, sizeof w);
    char *end;
    long v = 0;
    if (strcmp(name, "small") == 0) {
        w.kind = WL_SMALL;
        w.payload = BENCH_SMALL_PAYLOAD;
    } else if (strncmp(name, "echo", 4) == 0) {
        errno = 0;
        v = strtol(name + 4, &end, 10);
        size_t mult = *end == 'k' ? 1024 : *end == 'm' ? 1048576 : 1;
        end += *end == 'k' || *end == 'm';
        if (errno != 0 || *end != '\0' || end == name + 4 || v < 1 ||
            v > 8 * 1048576 || (size_t)v * mult < 8 ||
            (size_t)v * mult > 8u * 1048576u) {
            fprintf(stderr, "roc-bench: bad echo size in '%s' (8 B .. 8m)\n",
                    name);
            return -1;
        }
        w.kind = WL_ECHO;
        w.payload = (size_t)v * mult;
    } else if (strncmp(name, "threads", 7) == 0 ||
               strncmp(name, "pipe", 4) == 0) {
        bool thr = name[0] == 't';
        const char *num = name + (thr ? 7 : 4);
        errno = 0;
        v = strtol(num, &end, 10);
        if (errno != 0 || *end != '\0' || end == num || v < 1 ||
            v > (thr ? 64 : 4096)) {
            fprintf(stderr, "roc-bench: bad count in '%s'\n", name);
            return -1;
        }
        w.kind = thr ? WL_THREADS : WL_PIPE;
        w.payload = BENCH_SMALL_PAYLOAD;
        w.n = (int)v;
    } else {
        fprintf(stderr, "roc-bench: unknown workload '%s'\n", name);
        return -1;
    }
    snprintf(w.name, sizeof w.name, "%s", name);
    for (int i = 0; i < cfg->n_wl; i++) {
        if (strcmp(cfg->wl[i].name, w.name) == 0) {
            return 0;
        }
    }
    cfg->wl[cfg->n_wl++] = w;
    return 0;
}

static int each_item(char *list, int (*fn)(config *, const char *),
                     config *cfg)
{
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (fn(cfg, t) != 0) {
            return -1;
        }
    }
    return 0;
}

static int add_inflight(config *cfg, const char *n)
{
    char name[32];
    snprintf(name, sizeof name, "pipe%s", n);
    return add_workload(cfg, name);
}

static int add_system(config *cfg, const char *name)
{
    for (int i = 0; i < N_SYSTEMS; i++) {
        if (strcmp(system_names[i], name) == 0) {
            cfg->sys_on[i] = true;
            return 0;
        }
    }
    fprintf(stderr, "roc-bench: unknown system '%s'\n", name);
    return -1;
}

static int parse_args(int argc, char **argv, config *cfg)
{
    bool any_sys = false;
    cfg->o.transport = "tcp";
    cfg->o.seconds = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *val = NULL;
        bool takes = strcmp(a, "--transport") == 0 ||
                     strcmp(a, "--seconds") == 0 ||
                     strcmp(a, "--workload") == 0 ||
                     strcmp(a, "--inflight") == 0 ||
                     strcmp(a, "--system") == 0;
        if (takes) {
            if (i + 1 >= argc) {
                fprintf(stderr, "roc-bench: %s needs a value\n", a);
                return -1;
            }
            val = argv[++i];
        }
        if (strcmp(a, "--transport") == 0) {
            if (strcmp(val, "tcp") != 0 && strcmp(val, "ipc") != 0) {
                fprintf(stderr, "roc-bench: transport is tcp or ipc\n");
                return -1;
            }
            cfg->o.transport = val;
        } else if (strcmp(a, "--seconds") == 0) {
            char *end;
            errno = 0;
            cfg->o.seconds = strtod(val, &end);
            if (errno != 0 || *end != '\0' || !(cfg->o.seconds > 0) ||
                cfg->o.seconds > 3600) {
                fprintf(stderr, "roc-bench: bad --seconds '%s'\n", val);
                return -1;
            }
        } else if (strcmp(a, "--workload") == 0) {
            if (each_item(val, add_workload, cfg) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--inflight") == 0) {
            if (each_item(val, add_inflight, cfg) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--system") == 0) {
            any_sys = true;
            if (each_item(val, add_system, cfg) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--json") == 0) {
            cfg->json = true;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            cfg->verbose = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "roc-bench: unknown argument '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (cfg->n_wl == 0) {
        static const char *const defaults[] = {"small",    "echo1k", "echo1m",
                                               "threads4", "pipe8",  "pipe64"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
            add_workload(cfg, defaults[i]);
        }
    }
    if (!any_sys) {
        for (int i = 0; i < N_SYSTEMS; i++) {
            cfg->sys_on[i] = true;
        }
    }
    for (int i = 0; i < cfg->n_wl; i++) {
        const workload *w = &cfg->wl[i];
        if (w->kind == WL_PIPE && w->n > cfg->o.max_inflight) {
            cfg->o.max_inflight = w->n;
        }
        if (w->kind == WL_THREADS && w->n > cfg->o.max_threads) {
            cfg->o.max_threads = w->n;
        }
        if (w->payload > cfg->o.max_payload) {
            cfg->o.max_payload = w->payload;
        }
    }
    return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    static config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        return 2;
    }
    watchdog_start();
    void *srv[N_SYSTEMS] = {0};
    char start_err[N_SYSTEMS][256];
    bool started[N_SYSTEMS] = {false};
    for (int s = 0; s < N_SYSTEMS; s++) {
        start_err[s][0] = '\0';
        if (!cfg.sys_on[s]) {
            continue;
        }
        bench_err e = {{0}};
        char what[64];
        snprintf(what, sizeof what, "starting %s", system_names[s]);
        watchdog_arm(what, 30);
        if (systems[s]->start(&cfg.o, &srv[s], &e) != 0) {
            snprintf(start_err[s], sizeof start_err[s], "%s", e.msg);
        } else {
            started[s] = true;
        }
        watchdog_disarm();
    }

    if (!cfg.json) {
        printf("roc-bench: transport %s%s, %.2g s per workload and system, "
               "pid %ld\n",
               cfg.o.transport,
               strcmp(cfg.o.transport, "tcp") == 0 ? " (127.0.0.1)" : "",
               cfg.o.seconds, (long)getpid());
        printf("client and server run in this one process: csw/call "
               "(voluntary context switches)\nand allocs/call (heap "
               "allocations) count both ends. ratios: roc / baseline.\n\n");
        printf("%-10s %-16s %10s %10s %10s %10s %10s %10s\n", "workload",
               "system", "calls/s", "p50_us", "p99_us", "MiB/s", "csw/call",
               "allocs/call");
    }

    row(*rows)[N_SYSTEMS] = calloc((size_t)cfg.n_wl, sizeof *rows);
    if (rows == NULL) {
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < cfg.n_wl; i++) {
        const workload *w = &cfg.wl[i];
        for (int s = 0; s < N_SYSTEMS; s++) {
            if (!cfg.sys_on[s]) {
                continue;
            }
            row *r = &rows[i][s];
            if (!started[s]) {
                r->done = true;
                snprintf(r->err, sizeof r->err, "%s", start_err[s]);
            } else {
                char what[96];
                snprintf(what, sizeof what, "%s through %s", w->name,
                         system_names[s]);
                watchdog_arm(what, 2 * cfg.o.seconds + 30);
                run_row(&cfg, systems[s], srv[s], w, r);
                watchdog_disarm();
            }
            failures += !r->ok;
            if (cfg.json) {
                print_json(&cfg, w, system_names[s], r);
            } else {
                print_row(w, system_names[s], r);
            }
            if (cfg.verbose && r->ok) {
                fprintf(cfg.json ? stderr : stdout,
                        "  %s %s: %llu calls in %.3f s; per call: %.2f "
                        "involuntary csw, %.2f minor faults, %.0f bytes "
                        "allocated\n",
                        w->name, system_names[s],
                        (unsigned long long)r->calls, r->secs,
                        r->ivcsw_per_call, r->minflt_per_call,
                        r->alloc_bytes_per_call);
            }
        }
        if (!cfg.json && cfg.sys_on[2]) {
            for (int b = 0; b < 2; b++) {
                if (cfg.sys_on[b]) {
                    print_ratio(w, system_names[b], &rows[i][2], &rows[i][b]);
                }
            }
            printf("\n");
        }
    }
    if (!cfg.json && cfg.sys_on[0] && cfg.sys_on[2]) {
        goal_ctx g = {&cfg, rows};
        print_goals(&g);
    }
    for (int s = 0; s < N_SYSTEMS; s++) {
        if (started[s]) {
            watchdog_arm("stopping servers", 30);
            systems[s]->stop(srv[s]);
            watchdog_disarm();
        }
    }
    free(rows);
    return failures == 0 ? 0 : 1;
}
