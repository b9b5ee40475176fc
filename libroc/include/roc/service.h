/* rpyc-style services, callbacks and events.
 *
 * Services: roc_serve makes a daemon whose root object (id "service") is a
 * service: a method table with per-connection state made by on_connect
 * when a client connects and released by on_disconnect when it leaves
 * (closes, dies, or stops answering keepalive pings). roc_connect opens a
 * connection of its own (not shared with proxies: one connection, one
 * session) and may offer a service of the client's own, which the server
 * calls back over the same connection.
 *
 * Callbacks: any local servant can be exported (roc_export_new) and passed
 * as an argument or result (roc_value_export). It travels as a callback
 * reference: the receiver opens a proxy to it (roc_proxy_open_ref) and its
 * calls come back over the connection the reference arrived on, so the
 * exporting side needs no listener of its own (NAT, firewalls). Handlers
 * that call back over their own connection while running must be declared
 * ROC_METHOD_BLOCKING (they then run on a worker, and the connection keeps
 * reading replies); nesting depth is bounded by the worker pools of both
 * sides (roc_daemon_opts.workers, default 4).
 *
 * Events: a daemon publishes on topics over nng PUB/SUB (a second
 * endpoint); subscribers dial it, so events also cross NAT. Delivery is best
 * effort: a slow subscriber loses events rather than slowing the daemon.
 */
#ifndef ROC_SERVICE_H
#define ROC_SERVICE_H

#include "daemon.h"
#include "proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- callbacks ---- */

typedef struct roc_export roc_export;

/* Wraps a local servant (SINGLE mode; the method table must outlive the
 * export) so that it can be passed in calls. */
ROC_API int roc_export_new(roc_export **e, const roc_servant *sv,
                           roc_error *err);
/* Withdraws the object from every connection it was sent on (later calls
 * get roc.NoSuchObject), waits for calls running in it to finish, frees
 * it. Not from one of its own handlers. */
ROC_API void roc_export_free(roc_export *e);
/* Its id on the wire ("cb.N"). */
ROC_API const char *roc_export_id(const roc_export *e);
/* A reference value to e (kind ROC_REF_LOCAL), for call arguments or
 * results; NULL when out of memory. */
ROC_API roc_value *roc_value_export(roc_arena *a, roc_export *e);

/* Opens a proxy from a reference value: a ROC_REF_URI reference opens a
 * proxy to its URI; a ROC_REF_CALLBACK reference (received in a call or a
 * result) opens a proxy that calls the object over the connection it came
 * on. Such a proxy never redials: when that connection is gone its calls
 * fail with ROC_ECLOSED. */
ROC_API int roc_proxy_open_ref(roc_proxy **p, const roc_value *ref,
                               roc_error *err);

/* A proxy standing for the local object e (it must outlive the proxy):
 * passed as an argument it travels as a callback, like
 * roc_value_export(e). Generated stubs take interface arguments as
 * proxies; this is how a local servant is passed to them. It cannot be
 * called itself (ROC_EINVAL). */
ROC_API int roc_proxy_open_export(roc_proxy **p, roc_export *e,
                                  roc_error *err);
/* The reference value that passes p in a call: the object's URI, a
 * callback (for a proxy from roc_proxy_open_ref, meaningful only on the
 * connection it came over) or an export. NULL when out of memory. */
ROC_API roc_value *roc_proxy_ref_value(roc_arena *a, const roc_proxy *p);
/* A second proxy for the same object (same connection for callbacks). */
ROC_API int roc_proxy_dup(roc_proxy *p, roc_proxy **out, roc_error *err);

/* ---- services ---- */

/* The other end of a connection, as a service sees it. Valid from
 * on_connect until on_disconnect returns. */
typedef struct roc_peer roc_peer;

typedef struct roc_service {
    const char *name;           /* interface name for describe (optional) */
    const roc_method *methods;  /* must outlive the service */
    size_t n_methods;
    unsigned flags;             /* ROC_SERVANT_* */
    const char *idl;            /* optional IDL text */
    /* Runs when a connection opens, before its first call: return 0 and
     * set *state (roc_call_self gives it to every call on this
     * connection), or an error code to refuse the connection. */
    int (*on_connect)(roc_peer *peer, void *arg, void **state);
    /* Runs once the connection is gone and its calls have finished. */
    void (*on_disconnect)(roc_peer *peer, void *arg, void *state);
    void *arg;
} roc_service;

/* The root object id of a service. */
#define ROC_SERVICE_ROOT "service"

/* Opens a daemon on url serving svc as its root object "service" and
 * starts it. opts may be NULL. *d is closed with roc_daemon_close. */
ROC_API int roc_serve(const char *url, const roc_service *svc,
                      const roc_daemon_opts *opts, roc_daemon **d,
                      roc_error *err);

/* The connection a call came over, as a peer. */
ROC_API roc_peer *roc_call_peer_handle(roc_call *call);
/* Address of the peer ("tcp://127.0.0.1:40522"). */
ROC_API const char *roc_peer_address(roc_peer *peer);
/* A proxy to an object the peer exports on this connection (NULL or
 * ROC_SERVICE_ROOT: the client's own service). Close it with
 * roc_proxy_close; it fails with ROC_ECLOSED once the peer is gone. */
ROC_API int roc_peer_proxy(roc_peer *peer, const char *object_id,
                           roc_proxy **p, roc_error *err);

/* A client connection of its own. */
typedef struct roc_conn roc_conn;

/* Connects to a service: url is an nng URL ("tcp://host:port", the root
 * object "service") or a ROC: URI naming another root object. client_svc
 * (may be NULL) is offered to the server as this side's "service"; its
 * on_connect/on_disconnect run too. */
ROC_API int roc_connect(roc_conn **c, const char *url,
                        const roc_service *client_svc, roc_error *err);
ROC_API int roc_conn_call(roc_conn *c, const char *method,
                          const roc_value *args, roc_value **result,
                          roc_arena *arena, roc_error *err);
ROC_API int roc_conn_call_async(roc_conn *c, const char *method,
                                const roc_value *args,
                                const roc_call_opts *opts, roc_future **f,
                                roc_error *err);
ROC_API int roc_conn_oneway(roc_conn *c, const char *method,
                            const roc_value *args, roc_error *err);
/* The proxy of the remote root (owned by c), for timeouts and options. */
ROC_API roc_proxy *roc_conn_root(roc_conn *c);
/* A proxy to another object of the server over this same connection. */
ROC_API int roc_conn_proxy(roc_conn *c, const char *object_id,
                           roc_proxy **p, roc_error *err);
/* True while the connection is open. */
ROC_API bool roc_conn_alive(roc_conn *c);
/* Closes the connection (the server's on_disconnect runs) and frees c. */
ROC_API void roc_conn_close(roc_conn *c);

/* ---- events ---- */

/* Opens the daemon's event endpoint (an nng PUB socket) on url, e.g.
 * "tcp://127.0.0.1:0"; roc.daemon.describe("roc.daemon") then announces it
 * as "events". Events have no TLS and no key: anyone who reaches the
 * endpoint can subscribe. tls+tcp:// and wss:// URLs are refused
 * (ROC_EINVAL). */
ROC_API int roc_daemon_events_open(roc_daemon *d, const char *url,
                                   roc_error *err);
/* The bound event URL, or NULL when none is open. */
ROC_API const char *roc_daemon_events_url(const roc_daemon *d);
/* Publishes value under topic (best effort, never blocks). */
ROC_API int roc_daemon_publish(roc_daemon *d, const char *topic,
                               const roc_value *value, roc_error *err);

typedef struct roc_subscription roc_subscription;
/* Called for each event on a background thread; the value lives in a
 * per-event arena valid during the call. */
typedef void (*roc_event_fn)(const char *topic, const roc_value *value,
                             void *arg);
/* Subscribes to the events of the daemon behind p whose topic starts with
 * topic_prefix ("" for all). */
ROC_API int roc_subscribe(roc_proxy *p, const char *topic_prefix,
                          roc_event_fn fn, void *arg, roc_subscription **s,
                          roc_error *err);
/* As roc_subscribe, with the event URL given directly. */
ROC_API int roc_subscribe_url(const char *events_url, const char *topic_prefix,
                              roc_event_fn fn, void *arg,
                              roc_subscription **s, roc_error *err);
/* Stops the subscription; no callback runs after it returns. Waits at
 * most about 1 s (nng 1.5.2 can stall closing a SUB socket; the close then
 * finishes in the background). */
ROC_API void roc_unsubscribe(roc_subscription *s);

#ifdef __cplusplus
}
#endif
#endif
