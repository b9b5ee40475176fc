/* Measurement helpers: time, latency histograms, the measured window
 * (context switches from getrusage, heap allocations from a counting malloc
 * interposer), payload stamps and URLs. */
#include "bench.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int bench_fail(bench_err *e, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- counting malloc interposer ----
 *
 * The executable defines malloc and friends, so every allocation in the
 * process (libroc, nng, msgpack-c, libc itself) comes here first; glibc
 * supports this replacement and exports its own allocator as __libc_*.
 * Each wrapper counts (only while counting is on) and forwards. free,
 * realloc and the aligned forms stay consistent because all memory comes
 * from the one glibc allocator.
 *
 * Sanitizer builds (ROC_SANITIZE) replace malloc themselves: there the
 * interposer is left out and allocs/call is not measured. */
static atomic_int counting;
static atomic_uint_least64_t allocs;
static atomic_uint_least64_t alloc_bytes;

#ifndef ROC_BENCH_NO_ALLOC_COUNT
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static inline void count_one(size_t n)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&alloc_bytes, n, memory_order_relaxed);
    }
}

void *malloc(size_t n)
{
    count_one(n);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    count_one(n * size);
    return __libc_calloc(n, size);
}

/* A realloc counts as an allocation (it may move the block). */
void *realloc(void *p, size_t n)
{
    count_one(n);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    count_one(n);
    void *p = __libc_memalign(align, n);
    if (p == NULL) {
        return 12; /* ENOMEM */
    }
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    count_one(n);
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    count_one(n);
    return __libc_memalign(align, n);
}
#endif

bool alloc_count_available(void)
{
#ifdef ROC_BENCH_NO_ALLOC_COUNT
    return false;
#else
    return true;
#endif
}

void alloc_count_start(void)
{
    atomic_store(&allocs, 0);
    atomic_store(&alloc_bytes, 0);
    atomic_store(&counting, 1);
}

uint64_t alloc_count_stop(uint64_t *bytes)
{
    atomic_store(&counting, 0);
    if (bytes != NULL) {
        *bytes = atomic_load(&alloc_bytes);
    }
    return atomic_load(&allocs);
}

/* ---- time ---- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void window_begin(window *w)
{
    /* RUSAGE_SELF sums every thread of the process: client and server. */
    struct rusage ru;
    memset(w, 0, sizeof *w);
    getrusage(RUSAGE_SELF, &ru);
    w->csw0 = ru.ru_nvcsw;
    w->ivcsw0 = ru.ru_nivcsw;
    w->minflt0 = ru.ru_minflt;
    alloc_count_start();
    w->t0_ns = bench_now_ns();
}

void window_end(window *w)
{
    struct rusage ru;
    w->t1_ns = bench_now_ns();
    w->allocs = alloc_count_stop(&w->alloc_bytes);
    getrusage(RUSAGE_SELF, &ru);
    w->csw1 = ru.ru_nvcsw;
    w->ivcsw1 = ru.ru_nivcsw;
    w->minflt1 = ru.ru_minflt;
}

/* ---- histogram ----
 * Values below 64 ns have a bucket each; above, each power of two is split
 * into 64 buckets. */

void hist_reset(hist *h)
{
    memset(h, 0, sizeof *h);
}

static size_t hist_index(uint64_t v)
{
    if (v < HIST_SUB) {
        return (size_t)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - 6u;
    size_t idx = (size_t)HIST_SUB * (e + 1u) + (size_t)((v >> e) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static double hist_value(size_t idx)
{
    if (idx < HIST_SUB) {
        return (double)idx;
    }
    unsigned e = (unsigned)(idx / HIST_SUB) - 1u;
    uint64_t lower = ((uint64_t)(idx % HIST_SUB) + HIST_SUB) << e;
    return (double)lower + (double)((uint64_t)1 << e) / 2.0;
}

void hist_add(hist *h, uint64_t ns)
{
    h->buckets[hist_index(ns)]++;
    h->count++;
}

void hist_merge(hist *dst, const hist *src)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        dst->buckets[i] += src->buckets[i];
    }
    dst->count += src->count;
}

double hist_quantile(const hist *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            return hist_value(i);
        }
    }
    return hist_value(HIST_BUCKETS - 1);
}

/* ---- payloads ---- */

void bench_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t bench_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

void bench_payload_fill(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 31u + 7u);
    }
}

/* Stamp offsets: start, middle and end, each 8 bytes (fewer for payloads
 * under 8 bytes, which never occur here). */
static void stamp_offsets(size_t len, size_t off[3])
{
    off[0] = 0;
    off[1] = len >= 16 ? (len / 2) & ~(size_t)7 : 0;
    off[2] = len >= 8 ? len - 8 : 0;
}

void bench_payload_stamp(uint8_t *p, size_t len, uint64_t seq)
{
    size_t off[3];
    stamp_offsets(len, off);
    for (int i = 0; i < 3; i++) {
        memcpy(p + off[i], &seq, 8);
    }
}

int bench_payload_check(const uint8_t *p, size_t len, size_t want_len,
                        uint64_t seq, bench_err *e)
{
    if (len != want_len) {
        return bench_fail(e, "reply of %zu bytes, expected %zu", len,
                          want_len);
    }
    size_t off[3];
    stamp_offsets(len, off);
    for (int i = 0; i < 3; i++) {
        uint64_t got;
        memcpy(&got, p + off[i], 8);
        if (got != seq) {
            return bench_fail(e, "reply carries seq %llu at offset %zu, "
                                 "expected %llu",
                              (unsigned long long)got, off[i],
                              (unsigned long long)seq);
        }
    }
    if (len <= 65536) {
        for (size_t i = 8; i < len; i++) {
            bool stamped = (i >= off[1] && i < off[1] + 8) || i >= off[2];
            if (!stamped && p[i] != (uint8_t)(i * 31u + 7u)) {
                return bench_fail(e, "reply differs at byte %zu", i);
            }
        }
    }
    return 0;
}

/* ---- URLs ---- */

void bench_listen_url(const bench_opts *o, const char *who, char *buf,
                      size_t len)
{
    if (strcmp(o->transport, "ipc") == 0) {
        snprintf(buf, len, "ipc:///tmp/roc-bench-%ld-%s.sock",
                 (long)getpid(), who);
    } else {
        snprintf(buf, len, "tcp://127.0.0.1:0");
    }
}

void bench_url_with_port(char *url, size_t len, int port)
{
    size_t n = strlen(url);
    if (n >= 2 && strcmp(url + n - 2, ":0") == 0) {
        snprintf(url + n - 1, len - (n - 1), "%d", port);
    }
}
