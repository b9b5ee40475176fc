/* The server side: a daemon listens on one nng URL and hosts objects.
 *
 * An object is a servant: a table of named methods (roc_method), a self
 * pointer and an instance mode, registered under an object id. Each call runs
 * its handler with the argument array decoded into the call's arena; the
 * handler sets *result (allocated in roc_call_arena) or returns an error with
 * roc_call_raise / roc_call_error.
 *
 * Dispatch: a handler runs on the I/O thread that read its request, which
 * then writes the reply (no thread hand-off: the fastest path). A handler that
 * may block (sleeps, waits for I/O, calls other remote objects) must say so
 * with ROC_METHOD_BLOCKING (or the servant with ROC_SERVANT_BLOCKING); it then
 * runs on the daemon's worker pool. Serialized objects (ROC_SERVANT_SERIALIZED)
 * run one call at a time, on the worker pool.
 *
 * Every daemon hosts the object "roc.daemon" with ping(), objects(),
 * describe(object_id) and stats().
 */
#ifndef ROC_DAEMON_H
#define ROC_DAEMON_H

#include "security.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct roc_daemon roc_daemon;
typedef struct roc_call roc_call;

/* A method handler. args is an array (never NULL). Return 0 and set *result
 * (NULL means nil), or return an error code via roc_call_raise/_error. */
typedef int (*roc_handler)(roc_call *call, const roc_value *args,
                           roc_value **result);

enum {
    ROC_METHOD_BLOCKING = 1u,   /* run on the worker pool */
    ROC_METHOD_ONEWAY = 2u,     /* informational: declared oneway */
    ROC_METHOD_IDEMPOTENT = 4u, /* informational: may be retried */
};

typedef struct roc_method {
    const char *name;
    roc_handler fn;
    int nargs;          /* exact argument count, or -1 for any */
    unsigned flags;     /* ROC_METHOD_* */
    const char *params; /* for describe: e.g. "i64 a, i64 b" (may be NULL) */
    const char *result; /* for describe: e.g. "i64" (may be NULL) */
} roc_method;

typedef enum roc_instance_mode {
    ROC_INSTANCE_SINGLE = 0, /* one servant, self given at registration */
    ROC_INSTANCE_SESSION,    /* one per connection, made on its first call,
                                destroyed when the connection closes */
    ROC_INSTANCE_PERCALL     /* made and destroyed around every call */
} roc_instance_mode;

enum {
    ROC_SERVANT_SERIALIZED = 1u, /* one call at a time (on the worker pool) */
    ROC_SERVANT_BLOCKING = 2u,   /* every method may block */
};

typedef struct roc_servant {
    const char *iface;          /* interface name for describe, or NULL */
    const roc_method *methods;  /* must outlive the registration */
    size_t n_methods;
    void *self;                 /* SINGLE: the instance */
    roc_instance_mode mode;
    /* SESSION / PERCALL: make and destroy an instance. create returns NULL
     * on failure (the call then fails with roc.Internal). */
    void *(*create)(void *factory_arg);
    void (*destroy)(void *self);
    void *factory_arg;
    unsigned flags;             /* ROC_SERVANT_* */
    const char *idl;            /* IDL text for describe, or NULL */
} roc_servant;

typedef struct roc_daemon_opts {
    size_t max_frame;        /* largest frame accepted (16 MiB) */
    unsigned max_depth;      /* nesting limit of decoded values (64) */
    unsigned max_conns;      /* connections at once (1024) */
    unsigned max_inflight;   /* calls in progress per connection (256) */
    unsigned workers;        /* worker pool threads (4) */
    int hello_timeout_ms;    /* handshake deadline (5000) */
    int keepalive_ms;        /* ping a silent client after this long, drop
                                it after 3x (10000; -1 off) */
    int idle_timeout_ms;     /* close a connection that made no call for
                                this long (0: never) */
    roc_tls_opts tls;        /* for tls+tcp:// and wss:// URLs */
    const char *key_file;    /* pre-shared key: clients must prove it
                                (NULL: ROC_KEY_FILE from the environment if
                                set, else no key) */
    bool key_optional;       /* with a key: also serve peers that do not
                                prove it (authorize then tells them apart
                                by roc_peer_info.authenticated) */
    roc_authorize_fn authorize; /* optional per-call authorization */
    void *authorize_arg;
    /* LAN discovery (roc/discovery.h): announce every registered object
     * over DNS-SD while the daemon serves, withdrawn at shutdown (false).
     * Without avahi the daemon serves unannounced: see
     * roc_daemon_announced. */
    bool announce;
    const char *announce_name; /* instance names are "<id> on <name>"
                                  (NULL: the host's mDNS name); copied */
    const char *announce_type; /* DNS-SD type (NULL: "_roc._tcp"); copied */
    /* Name server registrations (roc_daemon_register_name): */
    const char *ns_url;      /* as roc_ns_open takes it, a list allowed
                                (NULL: ROC_NS, else those found on the LAN,
                                else the default); copied */
    unsigned ns_ttl_s;       /* the lease's TTL, 1 to 3600 s (0: 10) */
    const char *ns_host;     /* host put in the registered URIs, a name or
                                an address (NULL: the bound host; for a
                                wildcard bind such as 0.0.0.0, this host's
                                address on the way to the name server);
                                copied */
} roc_daemon_opts;

/* Fills opts with the defaults above. */
ROC_API void roc_daemon_opts_init(roc_daemon_opts *opts);

/* Opens a daemon and binds url (tcp://host:0 picks a free port; read the
 * result with roc_daemon_url). opts may be NULL for defaults. Nothing is
 * served before roc_daemon_start or roc_daemon_serve. */
ROC_API int roc_daemon_open(roc_daemon **d, const char *url,
                            const roc_daemon_opts *opts, roc_error *err);
/* The URL the daemon is bound to, with the real port. Owned by d. */
ROC_API const char *roc_daemon_url(const roc_daemon *d);
/* Registers servant under object_id (copied; the servant struct is copied
 * too, its method table is not). *uri_out (may be NULL) receives the
 * object's URI "ROC:id@url", malloc'd; free it with free(). ROC_EEXIST when
 * the id is taken, ROC_EINVAL for a bad id or servant. May be called while
 * serving. */
ROC_API int roc_daemon_register(roc_daemon *d, const char *object_id,
                                const roc_servant *servant, char **uri_out);
/* Removes an object; calls already running finish. The names it was
 * registered under with roc_daemon_register_name lose its URI (a name goes
 * with its last URI), asking the name server before it returns. */
ROC_API int roc_daemon_unregister(roc_daemon *d, const char *object_id);
/* Starts serving on background threads and returns. */
ROC_API int roc_daemon_start(roc_daemon *d);
/* Starts serving (if not yet) and blocks until roc_daemon_shutdown. */
ROC_API int roc_daemon_serve(roc_daemon *d);
/* Withdraws the daemon's names (roc_daemon_register_name) and LAN
 * announcements, stops accepting, finishes calls in progress, closes
 * connections and makes roc_daemon_serve return. Safe from any thread and from a signal-waiting
 * thread; not from a handler of this daemon. */
ROC_API void roc_daemon_shutdown(roc_daemon *d);
/* Shuts down (if needed) and frees the daemon. */
ROC_API void roc_daemon_close(roc_daemon *d);

/* Registers the hosted object object_id under name in the name server
 * (opts.ns_url; roc/naming.h), with n_meta tags (meta may be NULL when
 * n_meta is 0) and flags as roc_ns_register takes them (0, ROC_NS_REPLACE
 * or ROC_NS_ADD_REPLICA). The URI registered is "ROC:object_id@" and the
 * daemon's URL (roc_daemon_url), its host replaced as opts.ns_host says.
 *
 * A daemon's names are held under one lease of opts.ns_ttl_s seconds by a
 * roc_ns_keeper started at the first registration: renewed while the
 * daemon lives, revoked by roc_daemon_shutdown (so by roc_daemon_close)
 * before the listener closes: the names go at once. A daemon that dies
 * drops out within about the TTL. One restarted within the TTL of its
 * previous run finds its old names still there: ROC_NS_REPLACE takes them
 * over.
 *
 * Blocks for the name server's answer (at most a third of the TTL per name
 * server tried). ROC_ENOTFOUND when d hosts no object_id, ROC_EEXIST when
 * the name is taken and no flag allows a change, ROC_ESTATE once shutting
 * down or for a daemon without a listener; a name server that does not
 * answer fails the call with its code (ROC_ECONNREFUSED, ...) and changes
 * nothing else: the daemon serves on, and a later call tries again. Names
 * stay until roc_daemon_unregister of the object or shutdown. */
ROC_API int roc_daemon_register_name(roc_daemon *d, const char *name,
                                     const char *object_id,
                                     const char *const *meta, size_t n_meta,
                                     unsigned flags, roc_error *err);

/* Counters, as roc.daemon.stats() reports them. */
typedef struct roc_daemon_stats {
    uint64_t calls;       /* calls answered (results and errors) */
    uint64_t errors;      /* calls answered with an error */
    uint64_t oneways;     /* oneway calls run */
    uint64_t protocol_errors; /* connections closed for protocol errors */
    uint64_t connections; /* connections open now */
    uint64_t accepted;    /* connections accepted in all */
    double uptime_s;
} roc_daemon_stats;
ROC_API void roc_daemon_get_stats(roc_daemon *d, roc_daemon_stats *st);

/* ---- inside a handler ---- */

/* The call's arena: allocate the result and anything it points to here. */
ROC_API roc_arena *roc_call_arena(roc_call *call);
/* The servant instance (SINGLE: the registered self; SESSION/PERCALL: the
 * instance made by create). */
ROC_API void *roc_call_self(roc_call *call);
ROC_API const char *roc_call_object(roc_call *call);
ROC_API const char *roc_call_method(roc_call *call);
/* Peer address as text ("tcp://127.0.0.1:40522"), never NULL. */
ROC_API const char *roc_call_peer(roc_call *call);
/* Milliseconds left before the caller's deadline, or -1 when none. */
ROC_API int roc_call_remaining_ms(roc_call *call);
/* True once the caller has cancelled the call (cancel frame or closed
 * connection). A long handler may poll it and give up. */
ROC_API bool roc_call_cancelled(roc_call *call);
/* Raises an application exception: type is its qualified name (e.g.
 * "echo.Failure"), data optional (copied). Returns ROC_EREMOTE, to be
 * returned by the handler. */
ROC_API int roc_call_raise(roc_call *call, const char *type,
                           const roc_value *data, const char *fmt, ...)
    ROC_PRINTF(4, 5);
/* Fails the call with a runtime error code (ROC_EBADARGS, ...), sent as its
 * roc.* wire type. Returns code. */
ROC_API int roc_call_error(roc_call *call, int code, const char *fmt, ...)
    ROC_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif
#endif
