/* The name server client (docs/naming.md).
 *
 * roc-ns maps logical names to object URIs ("ROC:id@url"). A name may hold
 * several URIs (replicas) and carries metadata tags. roc_ns_* talk to one
 * name server; roc_proxy_open resolves "ROCNAME:name" and "ROCMETA:tags"
 * URIs through the same client.
 *
 * Which name server: the url given to roc_ns_open, else the environment
 * variable ROC_NS, else every one announced on the LAN, as a list (below;
 * DNS-SD _roc-ns._tcp through avahi, this host's first; the search ends
 * soon after the first answer, at most ROC_NS_DISCOVER_MS, default 2 s;
 * see roc/discovery.h), else tcp://127.0.0.1:9090
 * (ROC_NS_DEFAULT_URL). The name
 * server's object id is "roc.ns" (ROC_NS_OBJECT). A url may be an nng URL
 * ("tcp://host:port") or the object's full URI ("ROC:roc.ns@tcp://...").
 *
 * Several name servers over one registry (roc-ns over etcd): url and ROC_NS
 * (and so `--ns`) may be a comma-separated list of such URLs. A client
 * uses one at a time, beginning with the first (or with the one of the
 * same list that answered last in this process); when it does not answer
 * (connection refused or closed, unreachable, timed out) the call is sent
 * to the next one, and that one stays in use. A call fails only when none
 * answers. (A registration that timed out may have been applied by the
 * name server that did not answer in time: its retry on the next one then
 * answers ROC_EEXIST without a flag.)
 *
 * Names and tags are [A-Za-z0-9_.:-]+ (roc_id_valid); a name is at most 255
 * characters, a tag at most 128, a registration has at most 32 tags and 64
 * URIs. The server answers other input with roc.BadArguments
 * (ROC_EBADARGS).
 *
 * Results that are lists are allocated in the arena the caller gives (one
 * roc_arena_reset frees them); single strings are malloc'd (free()).
 */
#ifndef ROC_NAMING_H
#define ROC_NAMING_H

#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ROC_NS_DEFAULT_URL "tcp://127.0.0.1:9090"
#define ROC_NS_OBJECT "roc.ns"
#define ROC_NS_MAX_NAME 255
#define ROC_NS_MAX_TAG 128
#define ROC_NS_MAX_TAGS 32
#define ROC_NS_MAX_URIS 64

typedef struct roc_ns roc_ns;

/* roc_ns_register flags. Without either, registering a name that exists
 * fails with ROC_EEXIST. */
enum {
    ROC_NS_REPLACE = 1u,     /* replace the name's URIs and tags */
    ROC_NS_ADD_REPLICA = 2u, /* add the URI to the name's URIs, merge tags */
};

/* How roc_ns_list and roc_ns_remove match names. */
typedef enum roc_ns_match {
    ROC_NS_EXACT = 0,
    ROC_NS_PREFIX = 1, /* "" matches every name */
    ROC_NS_REGEX = 2   /* POSIX extended regular expression, unanchored */
} roc_ns_match;

/* One registration, in the caller's arena. */
typedef struct roc_ns_entry {
    const char *name;
    const char **uris;
    size_t n_uris;
    const char **meta;
    size_t n_meta;
} roc_ns_entry;

/* Opens a client for the name server at url (NULL: ROC_NS, else one found
 * on the LAN, else the default). No I/O happens here, except that bounded
 * LAN search when url and ROC_NS are both unset (done once per process);
 * the first call connects. Every call has a
 * deadline: the timeout set with roc_ns_set_timeout, else ROC_TIMEOUT_MS,
 * else 30 s. */
ROC_API int roc_ns_open(roc_ns **ns, const char *url, roc_error *err);
/* NULL is allowed. */
ROC_API void roc_ns_close(roc_ns *ns);
/* The name server's object URI ("ROC:roc.ns@tcp://..."), owned by ns. */
ROC_API const char *roc_ns_uri(const roc_ns *ns);
ROC_API void roc_ns_set_timeout(roc_ns *ns, int timeout_ms);

/* The name server URL (or list) used when none is given: ROC_NS, else those
 * found on the LAN (a thread-local copy, valid until the thread's next
 * call), else the default. */
ROC_API const char *roc_ns_default_url(void);

/* Registers uri ("ROC:id@url") under name with n_meta tags (meta may be
 * NULL when n_meta is 0). flags: 0, ROC_NS_REPLACE or ROC_NS_ADD_REPLICA.
 * ROC_EEXIST when the name is taken and no flag allows a change. */
ROC_API int roc_ns_register(roc_ns *ns, const char *name, const char *uri,
                            const char *const *meta, size_t n_meta,
                            unsigned flags, roc_error *err);
/* The first URI registered under name, malloc'd (free()). With wait_ms > 0
 * a name that is not registered yet (or a name server that does not answer
 * yet) is asked again until wait_ms have passed: for a server still
 * starting. ROC_ENOTFOUND when the name is not registered. */
ROC_API int roc_ns_lookup(roc_ns *ns, const char *name, int wait_ms, char **uri,
                          roc_error *err);
/* Every URI registered under name (*uris allocated in a), with the same
 * wait as roc_ns_lookup. */
ROC_API int roc_ns_lookup_all(roc_ns *ns, const char *name, int wait_ms,
                              roc_arena *a, const char ***uris, size_t *n,
                              roc_error *err);
/* The registrations whose name matches pattern (see roc_ns_match; NULL is
 * ""), sorted by name, allocated in a. A bad regular expression is
 * ROC_EBADARGS. */
ROC_API int roc_ns_list(roc_ns *ns, const char *pattern, roc_ns_match how,
                        roc_arena *a, roc_ns_entry **entries, size_t *n,
                        roc_error *err);
/* The registrations carrying all n_tags tags (any false) or at least one of
 * them (any true), sorted by name, allocated in a. */
ROC_API int roc_ns_lookup_meta(roc_ns *ns, const char *const *tags,
                               size_t n_tags, bool any, roc_arena *a,
                               roc_ns_entry **entries, size_t *n,
                               roc_error *err);
/* Removes the registrations whose name matches; *removed (may be NULL)
 * says how many. Removing a name that is not registered is not an error. */
ROC_API int roc_ns_remove(roc_ns *ns, const char *pattern, roc_ns_match how,
                          size_t *removed, roc_error *err);
/* Removes one URI of a name (a replica that goes away); the name goes with
 * its last URI. *removed (may be NULL): 0 or 1. */
ROC_API int roc_ns_remove_uri(roc_ns *ns, const char *name, const char *uri,
                              size_t *removed, roc_error *err);
/* Replaces the tags of a registration. ROC_ENOTFOUND when not registered. */
ROC_API int roc_ns_set_meta(roc_ns *ns, const char *name,
                            const char *const *meta, size_t n_meta,
                            roc_error *err);
/* Number of registrations. */
ROC_API int roc_ns_count(roc_ns *ns, uint64_t *count, roc_error *err);
/* Asks the name server whether it answers: 0 when it does. */
ROC_API int roc_ns_ping(roc_ns *ns, roc_error *err);

/* ------------------------------------------------------------ leases
 * A registration under a lease goes when the lease is not renewed within
 * its TTL (the daemon that made it died) or is revoked (clean shutdown).
 * A lease is a number any name server over the same registry accepts. */

/* Registers as roc_ns_register does, under a lease. With *lease 0 a new
 * lease of ttl_s seconds (1 to 3600) is granted and stored in *lease;
 * otherwise the registration joins *lease (ttl_s is ignored; ROC_ENOTFOUND
 * when it has expired). */
ROC_API int roc_ns_register_lease(roc_ns *ns, const char *name,
                                  const char *uri, const char *const *meta,
                                  size_t n_meta, unsigned flags,
                                  unsigned ttl_s, uint64_t *lease,
                                  roc_error *err);
/* Renews a lease for its TTL (*ttl_s, may be NULL, gets it).
 * ROC_ENOTFOUND when it has expired (register again). */
ROC_API int roc_ns_keepalive(roc_ns *ns, uint64_t lease, unsigned *ttl_s,
                             roc_error *err);
/* Ends a lease now: its registrations go. Revoking a lease that has
 * expired is not an error. */
ROC_API int roc_ns_revoke(roc_ns *ns, uint64_t lease, roc_error *err);

/* A keeper holds registrations under one lease for a daemon: it registers
 * them, renews the lease from a thread of its own every TTL/3 (asking
 * again sooner after a failed renewal, failing over between name servers
 * as every call does), registers them all again under a new lease when
 * the lease has expired anyway (the name servers were out of reach longer
 * than the TTL), and revokes the lease when stopped. If the process dies,
 * nothing renews the lease and its names go within about the TTL. */
typedef struct roc_ns_keeper roc_ns_keeper;

/* Starts a keeper with a lease of ttl_s seconds (1 to 3600) and registers
 * uri under name with flags (as roc_ns_register; name and uri may both be
 * NULL: add registrations with roc_ns_keeper_add). The keeper talks to the
 * same name server(s) as ns over a connection of its own (ns may be closed
 * afterwards). Fails, with nothing kept, when that first registration
 * fails (ROC_EEXIST when the name is taken: a daemon restarted within the
 * TTL of its previous run finds its old registration there and should use
 * ROC_NS_REPLACE). */
ROC_API int roc_ns_keeper_start(roc_ns *ns, const char *name, const char *uri,
                                unsigned flags, unsigned ttl_s,
                                roc_ns_keeper **keeper, roc_error *err);
/* Registers one more name under the keeper's lease (and keeps it). */
ROC_API int roc_ns_keeper_add(roc_ns_keeper *keeper, const char *name,
                              const char *uri, const char *const *meta,
                              size_t n_meta, unsigned flags, roc_error *err);
/* Stops keeping the registrations of name (NULL: any name) with uri (NULL:
 * any URI) and removes them from the name server (their URI is removed
 * from the name; the name goes with its last URI). *removed (may be NULL)
 * says how many the keeper held. When the name server does not answer,
 * its error is returned and those registrations go with the lease. */
ROC_API int roc_ns_keeper_remove(roc_ns_keeper *keeper, const char *name,
                                 const char *uri, size_t *removed,
                                 roc_error *err);
/* The lease the keeper holds now (0 before the first registration; it
 * changes when the keeper had to register again). */
ROC_API uint64_t roc_ns_keeper_lease(roc_ns_keeper *keeper);
/* Stops renewing and revokes the lease: the names go at once (when a
 * name server answers; otherwise they go when the lease expires). NULL is
 * allowed. */
ROC_API void roc_ns_keeper_stop(roc_ns_keeper *keeper);

/* ------------------------------------------------------------ watches
 * A watch tells a callback of every registration and removal of a name
 * under a prefix as it happens (whoever made it, on whichever name server
 * over the same registry, lease ends included). The name server calls the
 * watch back over the client's own connection (NameServer.watch with a
 * Watcher callback, naming.roc): no listener is needed on the client.
 *
 * The watch keeps a view of the names under its prefix. A thread of the
 * watch asks the name server every ROC_NS_WATCH_CHECK_MS (default 1000)
 * whether it still holds the watch; when it does not answer or has
 * forgotten it (restarted), the callback is told ROC_NS_LOST and the watch
 * is made again, on the next name server of the list when there are
 * several: names that went meanwhile are then told ROC_NS_REMOVED, new or
 * changed ones ROC_NS_PUT, and ROC_NS_SYNCED follows. So a watcher's view
 * ends up right across the loss of a name server. */
typedef enum roc_ns_event {
    ROC_NS_PUT = 1,     /* e->name is registered or changed: e is what it
                           holds now */
    ROC_NS_REMOVED = 2, /* e->name was removed (e->n_uris 0) */
    ROC_NS_SYNCED = 3,  /* (e NULL) the view is complete: every name under
                           the prefix was told; once at the start and again
                           after each ROC_NS_LOST */
    ROC_NS_LOST = 4     /* (e NULL) the name server holding the watch
                           stopped answering or forgot it: changes may be
                           missing until the next ROC_NS_SYNCED */
} roc_ns_event;

/* A watch's callback. e (NULL for SYNCED and LOST) lives during the call.
 * Calls are serialized, in the order of the changes; they run on an I/O
 * thread of this process or on the watch's own thread, so a callback must
 * be quick, must not call the name server synchronously, and must not call
 * roc_ns_watch_* on its own watch. */
typedef void (*roc_ns_watch_fn)(void *arg, roc_ns_event ev,
                                const roc_ns_entry *e);
typedef struct roc_ns_watch roc_ns_watch;

/* Watches the names beginning with prefix (NULL or "": all) through the
 * name server(s) of ns (the watch has a handle of its own: ns may be
 * closed afterwards). Before it returns, the callback is told ROC_NS_PUT
 * for every name registered now, then ROC_NS_SYNCED. Fails when no name
 * server answers (or it predates watches: ROC_ENOMETHOD). */
ROC_API int roc_ns_watch_start(roc_ns *ns, const char *prefix,
                               roc_ns_watch_fn fn, void *arg,
                               roc_ns_watch **w, roc_error *err);
/* Ends the watch (telling the name server) and frees it; no callback runs
 * after it returns. NULL is allowed. */
ROC_API void roc_ns_watch_stop(roc_ns_watch *w);
/* The watch's view now: the registrations under its prefix, sorted by
 * name, allocated in a. */
ROC_API int roc_ns_watch_entries(roc_ns_watch *w, roc_arena *a,
                                 roc_ns_entry **entries, size_t *n,
                                 roc_error *err);

#ifdef __cplusplus
}
#endif
#endif
