/* The client side: a proxy stands for one remote object.
 *
 * roc_proxy_open parses a URI ("ROC:id@url") and binds lazily: the first
 * call opens (or reuses) the process's connection to that endpoint. All
 * proxies of a process to one endpoint share one connection; calls from
 * many threads are multiplexed over it by call id. A proxy is thread-safe.
 *
 * Every blocking call has a deadline: the per-call timeout, else the proxy's
 * default, else ROC_TIMEOUT_MS from the environment, else 30 s
 * (ROC_DEFAULT_TIMEOUT_MS). A call that times out sends a cancel frame to the
 * server and fails with ROC_ETIMEDOUT.
 *
 * When the connection drops, calls in flight fail with ROC_ECLOSED; the next
 * call redials. Calls are executed at most once: a call is retried after a
 * lost connection only when it is flagged idempotent.
 */
#ifndef ROC_PROXY_H
#define ROC_PROXY_H

#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ROC_DEFAULT_TIMEOUT_MS 30000

typedef struct roc_proxy roc_proxy;
typedef struct roc_future roc_future;

typedef struct roc_call_opts {
    int timeout_ms;   /* 0: the proxy's default; -1: no deadline */
    bool idempotent;  /* may be retried once after a lost connection */
    const char *trace; /* optional trace id sent in meta */
} roc_call_opts;

/* Opens a proxy for uri. A ROC: URI connects lazily (at the first call).
 * ROCNAME:name and ROCMETA:tags ask the name server now (the URI's @url,
 * which may list several, else ROC_NS, else those found on the LAN, else
 * tcp://127.0.0.1:9090; see naming.h) and bind to every URI registered
 * (replicas: calls rotate, fail over, and the name is asked again when
 * none answers). A ROCNAME: proxy also follows its name through a name
 * server watch shared by the process's proxies of that name: replicas
 * registered or removed later are used or dropped without polling
 * (ROC_NS_FOLLOW=0 turns this off). ROCDISCOVER:name browses the LAN
 * (discovery.h). */
ROC_API int roc_proxy_open(roc_proxy **p, const char *uri, roc_error *err);
/* Closes the proxy; the shared connection stays while other proxies (or
 * futures) use it, and closes with the last of them (the server then sees
 * the session end). Futures stay valid until freed. NULL is allowed. */
ROC_API void roc_proxy_close(roc_proxy *p);
/* The proxy's URI and object id (owned by p). */
ROC_API const char *roc_proxy_uri(const roc_proxy *p);
ROC_API const char *roc_proxy_object(const roc_proxy *p);
/* Default timeout for calls through p (ms; -1 none). */
ROC_API void roc_proxy_set_timeout(roc_proxy *p, int timeout_ms);
ROC_API int roc_proxy_get_timeout(const roc_proxy *p);
/* Connects now (instead of at the first call) and checks the handshake. */
ROC_API int roc_proxy_bind(roc_proxy *p, roc_error *err);

/* Calls method with args (an array value, or NULL for no arguments) and
 * waits for the result. *result is decoded into arena (which must not be
 * NULL when result is not NULL). A remote exception returns ROC_EREMOTE
 * (or the runtime's code, e.g. ROC_ENOMETHOD) with err holding its type,
 * message and data. */
ROC_API int roc_proxy_call(roc_proxy *p, const char *method,
                           const roc_value *args, roc_value **result,
                           roc_arena *arena, roc_error *err);
/* As roc_proxy_call with per-call options (opts may be NULL). */
ROC_API int roc_proxy_call_opts(roc_proxy *p, const char *method,
                                const roc_value *args,
                                const roc_call_opts *opts, roc_value **result,
                                roc_arena *arena, roc_error *err);
/* Sends the call and returns at once with a future. The arguments are
 * encoded before it returns (args may be freed then). A call alone on its
 * connection is written at once; one issued while other calls are in
 * flight, or while completed futures of the connection are not freed yet,
 * is held back and leaves with the others at the next roc_future_wait,
 * roc_future_result, roc_future_ready or roc_future_on_complete on the
 * connection (within about 10 ms otherwise): pipelined calls share
 * writes. */
ROC_API int roc_proxy_call_async(roc_proxy *p, const char *method,
                                 const roc_value *args,
                                 const roc_call_opts *opts, roc_future **f,
                                 roc_error *err);
/* Sends a oneway call: no reply, no error from the server. Returns once the
 * frame is queued on the connection; it never waits for the peer. A peer
 * that does not read makes the queue grow: beyond 8 MiB waiting, oneway
 * calls fail with ROC_EBUSY (nothing is sent). */
ROC_API int roc_proxy_oneway(roc_proxy *p, const char *method,
                             const roc_value *args, roc_error *err);

/* ---- futures ---- */

/* True once the result (or error) is there. */
ROC_API bool roc_future_ready(roc_future *f);
/* Waits up to timeout_ms (-1: until the call's own deadline passes). 0 when
 * ready, ROC_ETIMEDOUT otherwise. The call's deadline still applies: a call
 * past it completes with ROC_ETIMEDOUT. */
ROC_API int roc_future_wait(roc_future *f, int timeout_ms);
/* Waits until ready, then gives the outcome as roc_proxy_call does, decoding
 * the result into arena. May be called more than once. */
ROC_API int roc_future_result(roc_future *f, roc_value **result,
                              roc_arena *arena, roc_error *err);
/* Calls cb(f, arg) once when the future completes (at once, on this thread,
 * if it already has). cb runs on an I/O thread: it must not block. Only one
 * callback per future. */
ROC_API int roc_future_on_complete(roc_future *f,
                                   void (*cb)(roc_future *f, void *arg),
                                   void *arg);
/* Gives up on the call: the server is sent a cancel frame and the future
 * completes with ROC_ECANCELED (unless already complete). */
ROC_API void roc_future_cancel(roc_future *f);
/* Frees the future (cancelling the call if it is still pending). */
ROC_API void roc_future_free(roc_future *f);

#ifdef __cplusplus
}
#endif
#endif
