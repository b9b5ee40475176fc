/* roc-bench internals: the workloads, the measurement helpers and the
 * interface every measured system (ROC, raw nng_stream, raw nng REQ/REP)
 * implements.
 *
 * The harness (roc-bench.c) owns timing: it calls a system's synchronous
 * call in a loop, or its pipelined loop, and counts calls, latencies,
 * context switches and heap allocations over the measured window only. A
 * system owns its server and its clients, created outside that window.
 */
#ifndef ROC_BENCH_H
#define ROC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- workloads ---- */

typedef enum wl_kind {
    WL_SMALL,   /* sequential small call (ROC: small(i) -> i + 1) */
    WL_ECHO,    /* sequential bytes echo of `payload` bytes */
    WL_THREADS, /* `n` client threads doing small calls at once */
    WL_PIPE     /* one thread, `n` small calls kept in flight */
} wl_kind;

typedef struct workload {
    char name[24];
    wl_kind kind;
    size_t payload; /* bytes of an echo; 8 (a sequence number) otherwise */
    int n;          /* threads (WL_THREADS) or calls in flight (WL_PIPE) */
} workload;

/* The payload of a small call in the raw baselines: the 8-byte sequence
 * number, echoed back (ROC sends it as an int and gets it back + 1). */
#define BENCH_SMALL_PAYLOAD 8

/* An error message from a system, owned by whoever passes it. */
typedef struct bench_err {
    char msg[256];
} bench_err;
/* Formats into e (when not NULL) and returns -1. */
int bench_fail(bench_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- payloads ---- */

/* Writes seq into the payload p of len bytes at its start, middle and end
 * (the rest holds a fixed pattern written by bench_payload_fill). */
void bench_payload_fill(uint8_t *p, size_t len);
void bench_payload_stamp(uint8_t *p, size_t len, uint64_t seq);
/* Checks an echoed payload: length, the three stamps and, for payloads up
 * to 64 KiB, every byte. 0 or -1 with e set. */
int bench_payload_check(const uint8_t *p, size_t len, size_t want_len,
                        uint64_t seq, bench_err *e);
void bench_put_be32(uint8_t *p, uint32_t v);
uint32_t bench_get_be32(const uint8_t *p);

/* ---- time and latency ---- */

uint64_t bench_now_ns(void);

/* A log-linear latency histogram (about 1.5 % resolution), fixed size so
 * that recording never allocates. */
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB * 40)
typedef struct hist {
    uint64_t count;
    uint64_t buckets[HIST_BUCKETS];
} hist;
void hist_reset(hist *h);
void hist_add(hist *h, uint64_t ns);
void hist_merge(hist *dst, const hist *src);
/* The q-quantile (0..1) in ns, 0 when empty. */
double hist_quantile(const hist *h, double q);

/* ---- the measured window ---- */

/* Counting malloc interposer (measure.c): allocations are counted only
 * while counting is on. Not available in sanitizer builds. */
bool alloc_count_available(void);
void alloc_count_start(void);
uint64_t alloc_count_stop(uint64_t *bytes);

typedef struct window {
    uint64_t t0_ns, t1_ns;
    long csw0, csw1;        /* voluntary context switches, whole process */
    long ivcsw0, ivcsw1;    /* involuntary ones (--verbose) */
    long minflt0, minflt1;  /* minor page faults (--verbose) */
    uint64_t allocs;
    uint64_t alloc_bytes;   /* bytes asked of malloc & co (--verbose) */
} window;
void window_begin(window *w);
void window_end(window *w);

/* ---- the systems ---- */

typedef struct bench_opts {
    const char *transport; /* "tcp" or "ipc" */
    double seconds;        /* per measured window */
    int max_inflight;      /* deepest pipeline any workload uses */
    int max_threads;       /* most client threads any workload uses */
    size_t max_payload;    /* largest echo any workload sends */
} bench_opts;

/* A listen URL for system `who` on the chosen transport: tcp on 127.0.0.1
 * port 0, or an ipc path under /tmp named after the pid. */
void bench_listen_url(const bench_opts *o, const char *who, char *buf,
                      size_t len);
/* Replaces ":0" at the end of a tcp URL with the bound port. */
void bench_url_with_port(char *url, size_t len, int port);

/* One pipelined run: the system issues calls of workload w keeping w->n in
 * flight until bench_now_ns() >= until_ns, then drains. Latencies (issue to
 * completion) go to h when not NULL; *calls counts completed calls. */
typedef struct pipe_run {
    uint64_t until_ns;
    hist *h;
    uint64_t calls;
} pipe_run;

typedef struct bench_system {
    const char *name; /* "roc", "nng_stream", "nng_reqrep" */
    /* Starts the server. *sys is the system's state. */
    int (*start)(const bench_opts *o, void **sys, bench_err *e);
    void (*stop)(void *sys);
    /* Opens n clients for workload w: one per client thread. Connecting
     * happens here, outside the measured window. */
    int (*clients_open)(void *sys, const workload *w, int n, void **cli,
                        bench_err *e);
    void (*clients_close)(void *sys, int n, void **cli);
    /* One synchronous call of workload w carrying seq; checks the result. */
    int (*call)(void *cli, const workload *w, uint64_t seq, bench_err *e);
    /* One pipelined run on a single client (WL_PIPE). */
    int (*pipe)(void *cli, const workload *w, pipe_run *r, bench_err *e);
} bench_system;

extern const bench_system bench_sys_nng_stream;
extern const bench_system bench_sys_nng_reqrep;
extern const bench_system bench_sys_roc;

#endif
