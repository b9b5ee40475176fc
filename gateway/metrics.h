/* roc-gateway's counters, rendered in Prometheus' text format (/metrics).
 *
 * Series per called object and method (calls, errors by type, a latency
 * histogram) and per endpoint and HTTP status. The number of series is
 * bounded: past GWM_MAX_SERIES, calls are counted under method "_other", so
 * that clients cannot grow the gateway's memory by inventing names.
 * Thread-safe.
 */
#ifndef ROC_GATEWAY_METRICS_H
#define ROC_GATEWAY_METRICS_H

#include <stddef.h>

#define GWM_MAX_SERIES 512

void gwm_init(void);
void gwm_fini(void);
/* The series of object.method (created on first use); never fails. */
int gwm_series(const char *object, const char *method);
/* One call finished: rc 0 or a ROC_E* code, error_type its type (may be
 * NULL), seconds its duration through the gateway. */
void gwm_call(int series, int rc, const char *error_type, double seconds);
/* One HTTP request answered. endpoint is a short static name. */
void gwm_http(const char *endpoint, int status);
/* Calls in flight: +1 when one leaves, -1 when it is answered. */
void gwm_inflight(int delta);
/* The text of /metrics (malloc'd; free()). proxies: pooled proxies,
 * endpoints: distinct ROC endpoints among them. */
char *gwm_render(size_t proxies, size_t endpoints, size_t *len);

#endif
