/* roc-gateway's counters and their Prometheus text (metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Upper bounds (seconds) of the latency histogram's buckets; +Inf last. */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025,  0.05,  0.1,    0.25,  0.5,
                                1,      2.5,   5,      10,    30};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

#define MAX_ERR_TYPES 8

typedef struct series {
    char *object, *method;
    uint64_t calls, errors;
    uint64_t buckets[N_BOUNDS + 1]; /* not cumulative; rendered so */
    double sum;
    struct {
        char *type;
        uint64_t n;
    } errs[MAX_ERR_TYPES]; /* the last slot counts "other" */
} series;

typedef struct http_count {
    const char *endpoint; /* static */
    int status;
    uint64_t n;
} http_count;

#define MAX_HTTP 128

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static series ser[GWM_MAX_SERIES];
static size_t n_ser;
static http_count http[MAX_HTTP];
static size_t n_http;
static long inflight;
static struct timespec started;

void gwm_init(void)
{
    clock_gettime(CLOCK_MONOTONIC, &started);
}

void gwm_fini(void)
{
    pthread_mutex_lock(&mtx);
    for (size_t i = 0; i < n_ser; i++) {
        free(ser[i].object);
        free(ser[i].method);
        for (size_t k = 0; k < MAX_ERR_TYPES; k++)
            free(ser[i].errs[k].type);
    }
    n_ser = 0;
    pthread_mutex_unlock(&mtx);
}

int gwm_series(const char *object, const char *method)
{
    pthread_mutex_lock(&mtx);
    size_t i;
    for (i = 0; i < n_ser; i++)
        if (strcmp(ser[i].object, object) == 0 &&
            strcmp(ser[i].method, method) == 0)
            break;
    if (i == n_ser) {
        /* the last slot is the catch-all "_other" */
        if (n_ser == GWM_MAX_SERIES - 1) {
            object = "_other";
            method = "_other";
        }
        for (i = 0; i < n_ser; i++)
            if (strcmp(ser[i].object, object) == 0 &&
                strcmp(ser[i].method, method) == 0)
                break;
    }
    if (i == n_ser) {
        ser[i].object = strdup(object);
        ser[i].method = strdup(method);
        if (!ser[i].object || !ser[i].method) {
            free(ser[i].object);
            free(ser[i].method);
            ser[i].object = ser[i].method = NULL;
            pthread_mutex_unlock(&mtx);
            return -1;
        }
        n_ser++;
    }
    pthread_mutex_unlock(&mtx);
    return (int)i;
}

void gwm_call(int s, int rc, const char *error_type, double seconds)
{
    if (s < 0)
        return;
    pthread_mutex_lock(&mtx);
    series *p = &ser[s];
    p->calls++;
    p->sum += seconds;
    size_t b = 0;
    while (b < N_BOUNDS && seconds > bounds[b])
        b++;
    p->buckets[b]++;
    if (rc) {
        p->errors++;
        const char *t = error_type ? error_type : "local";
        size_t k;
        for (k = 0; k < MAX_ERR_TYPES - 1; k++) {
            if (!p->errs[k].type)
                p->errs[k].type = strdup(t);
            if (p->errs[k].type && strcmp(p->errs[k].type, t) == 0)
                break;
        }
        if (k == MAX_ERR_TYPES - 1 && !p->errs[k].type)
            p->errs[k].type = strdup("_other");
        p->errs[k].n++;
    }
    pthread_mutex_unlock(&mtx);
}

void gwm_http(const char *endpoint, int status)
{
    pthread_mutex_lock(&mtx);
    size_t i;
    for (i = 0; i < n_http; i++)
        if (http[i].status == status && strcmp(http[i].endpoint, endpoint) == 0)
            break;
    if (i == n_http && n_http < MAX_HTTP)
        http[n_http++] = (http_count){endpoint, status, 0};
    if (i < n_http)
        http[i].n++;
    pthread_mutex_unlock(&mtx);
}

void gwm_inflight(int delta)
{
    pthread_mutex_lock(&mtx);
    inflight += delta;
    pthread_mutex_unlock(&mtx);
}

/* A growing text buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 64;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped (Prometheus text format). */
static const char *esc(const char *s, char *buf, size_t len)
{
    size_t j = 0;
    for (; *s && j + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if (*s == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else {
            buf[j++] = *s;
        }
    }
    buf[j] = 0;
    return buf;
}

char *gwm_render(size_t proxies, size_t endpoints, size_t *len)
{
    sbuf b = {malloc(4096), 0, 4096, 0};
    if (!b.p)
        return NULL;
    b.p[0] = 0;
    char e1[300], e2[300], e3[300];
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double up = (double)(now.tv_sec - started.tv_sec) +
                (double)(now.tv_nsec - started.tv_nsec) / 1e9;

    pthread_mutex_lock(&mtx);
    sb_printf(&b,
              "# HELP roc_gateway_uptime_seconds Seconds since the "
              "gateway started.\n"
              "# TYPE roc_gateway_uptime_seconds gauge\n"
              "roc_gateway_uptime_seconds %.3f\n",
              up);
    sb_printf(&b,
              "# HELP roc_gateway_calls_in_flight Calls sent and not yet "
              "answered.\n"
              "# TYPE roc_gateway_calls_in_flight gauge\n"
              "roc_gateway_calls_in_flight %ld\n",
              inflight);
    sb_printf(&b,
              "# HELP roc_gateway_proxies Pooled proxies (one per URI "
              "called).\n"
              "# TYPE roc_gateway_proxies gauge\n"
              "roc_gateway_proxies %zu\n"
              "# HELP roc_gateway_connections ROC endpoints the pooled "
              "proxies connect to (one connection each).\n"
              "# TYPE roc_gateway_connections gauge\n"
              "roc_gateway_connections %zu\n",
              proxies, endpoints);
    sb_printf(&b, "# HELP roc_gateway_http_requests_total HTTP requests "
                  "answered, by endpoint and status.\n"
                  "# TYPE roc_gateway_http_requests_total counter\n");
    for (size_t i = 0; i < n_http; i++)
        sb_printf(&b,
                  "roc_gateway_http_requests_total{endpoint=\"%s\",code=\"%d\"}"
                  " %llu\n",
                  esc(http[i].endpoint, e1, sizeof e1), http[i].status,
                  (unsigned long long)http[i].n);
    sb_printf(&b, "# HELP roc_gateway_calls_total Calls made through the "
                  "gateway, by object and method.\n"
                  "# TYPE roc_gateway_calls_total counter\n");
    for (size_t i = 0; i < n_ser; i++)
        sb_printf(&b,
                  "roc_gateway_calls_total{object=\"%s\",method=\"%s\"} %llu\n",
                  esc(ser[i].object, e1, sizeof e1),
                  esc(ser[i].method, e2, sizeof e2),
                  (unsigned long long)ser[i].calls);
    sb_printf(&b, "# HELP roc_gateway_call_errors_total Calls that failed, by "
                  "object, method and error type.\n"
                  "# TYPE roc_gateway_call_errors_total counter\n");
    for (size_t i = 0; i < n_ser; i++)
        for (size_t k = 0; k < MAX_ERR_TYPES; k++)
            if (ser[i].errs[k].type && ser[i].errs[k].n)
                sb_printf(&b,
                          "roc_gateway_call_errors_total{object=\"%s\","
                          "method=\"%s\",type=\"%s\"} %llu\n",
                          esc(ser[i].object, e1, sizeof e1),
                          esc(ser[i].method, e2, sizeof e2),
                          esc(ser[i].errs[k].type, e3, sizeof e3),
                          (unsigned long long)ser[i].errs[k].n);
    sb_printf(&b, "# HELP roc_gateway_call_duration_seconds Time of a call "
                  "through the gateway (send to answer).\n"
                  "# TYPE roc_gateway_call_duration_seconds histogram\n");
    for (size_t i = 0; i < n_ser; i++) {
        esc(ser[i].object, e1, sizeof e1);
        esc(ser[i].method, e2, sizeof e2);
        uint64_t cum = 0;
        for (size_t k = 0; k <= N_BOUNDS; k++) {
            cum += ser[i].buckets[k];
            if (k < N_BOUNDS)
                sb_printf(&b,
                          "roc_gateway_call_duration_seconds_bucket{object="
                          "\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
                          e1, e2, bounds[k], (unsigned long long)cum);
            else
                sb_printf(&b,
                          "roc_gateway_call_duration_seconds_bucket{object="
                          "\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n",
                          e1, e2, (unsigned long long)cum);
        }
        sb_printf(&b,
                  "roc_gateway_call_duration_seconds_sum{object=\"%s\","
                  "method=\"%s\"} %.6f\n"
                  "roc_gateway_call_duration_seconds_count{object=\"%s\","
                  "method=\"%s\"} %llu\n",
                  e1, e2, ser[i].sum, e1, e2, (unsigned long long)ser[i].calls);
    }
    pthread_mutex_unlock(&mtx);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
