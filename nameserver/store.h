/* roc-ns storage: where registrations are kept durably.
 *
 * The registry (registry.c) holds every registration in memory and serves
 * all reads from there; a store is asked only to load what it kept at start
 * and to apply each change durably BEFORE the change is acknowledged to a
 * client. A store never sees two writes at once (the registry serializes
 * its writers). Backends: memory (keeps nothing), SQLite (store_sqlite.c),
 * etcd (store_etcd.c).
 *
 * A *shared* store (etcd) is written by several roc-ns processes at once.
 * Its entries carry the store's revision; a put is then conditional (it
 * applies only if the stored entry still has the revision the registry
 * computed from) and the store reports every change, whoever made it,
 * through the sink given to watch(), which keeps the registry's view
 * current.
 */
#ifndef ROCNS_STORE_H
#define ROCNS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <roc/roc.h>

/* One registration as stored: strings owned by whoever made it. */
typedef struct ns_entry {
    char *name;
    char **uris;
    size_t n_uris;
    char **meta;
    size_t n_meta;
    uint64_t rev;   /* shared stores: revision of the last change; else 0 */
    uint64_t lease; /* the lease holding it, 0 for none */
} ns_entry;

void ns_entry_free(ns_entry *e);

/* put's expect: no condition. */
#define NS_ANY_REV UINT64_MAX

/* What a shared store reports to its sink. */
typedef enum ns_event_kind {
    NS_EV_PUT,      /* e is the entry now stored, e->rev its revision */
    NS_EV_DEL,      /* e->name was deleted at revision e->rev */
    NS_EV_PROGRESS, /* every change up to rev has been reported */
    NS_EV_RESYNC    /* the stream broke beyond repair: reload (load()) */
} ns_event_kind;

typedef void (*ns_sink)(void *arg, ns_event_kind kind, const ns_entry *e,
                        uint64_t rev);

typedef struct ns_store ns_store;

typedef struct ns_store_ops {
    const char *kind; /* "memory", "sqlite", "etcd" */
    bool shared;      /* other processes write the same store */
    /* Calls fn(arg, e) for every registration kept; e lives during the call
     * only. A non-zero result of fn stops the load and is returned. */
    int (*load)(ns_store *s, int (*fn)(void *arg, const ns_entry *e), void *arg,
                roc_error *err);
    /* Inserts or replaces the registration e->name, durably. A shared store
     * applies it only if the stored entry's revision is expect (0: absent;
     * NS_ANY_REV: no condition); otherwise it answers ROC_ESTATE and, when
     * cur is not NULL, gives the stored entry in *cur (NULL when absent;
     * free with ns_entry_free). On success e->rev is the new revision. */
    int (*put)(ns_store *s, ns_entry *e, uint64_t expect, ns_entry **cur,
               roc_error *err);
    /* Deletes the registrations named, durably, all or none; *rev (shared
     * stores) is the revision of the deletion. */
    int (*del)(ns_store *s, char *const *names, size_t n, uint64_t *rev,
               roc_error *err);
    /* Shared stores only (NULL otherwise): reports every change after what
     * load() gave to sink, from a thread of the store's, until close. */
    int (*watch)(ns_store *s, ns_sink sink, void *arg, roc_error *err);
    /* Leases kept by the store itself (NULL: the registry keeps them).
     * keepalive answers ROC_ENOTFOUND for a lease that has expired. */
    int (*lease_grant)(ns_store *s, unsigned ttl_s, uint64_t *lease,
                       roc_error *err);
    int (*lease_keepalive)(ns_store *s, uint64_t lease, unsigned *ttl_s,
                           roc_error *err);
    int (*lease_revoke)(ns_store *s, uint64_t lease, uint64_t *rev,
                        roc_error *err);
    void (*close)(ns_store *s);
} ns_store_ops;

struct ns_store {
    const ns_store_ops *ops;
    char *where; /* for messages: "memory", the database file */
};

int ns_store_memory_open(ns_store **out, roc_error *err);
/* Opens (creating if needed) the SQLite database at path, in WAL mode with
 * synchronous=FULL: a put or del that returned 0 survives kill -9 and a
 * power loss. */
int ns_store_sqlite_open(ns_store **out, const char *path, roc_error *err);
/* spec: "host:port,host:port,...[/prefix][?timeout_ms=N]" (the part after
 * "etcd://"). Keys live under prefix (default "/roc") + "/n/". Every
 * request goes to one endpoint with a timeout of timeout_ms (default 1000)
 * and moves to the next on failure, for at most 10 s in all. */
int ns_store_etcd_open(ns_store **out, const char *spec, roc_error *err);
/* Opens the store a --store argument names: "memory", "sqlite:FILE" or
 * "etcd://...". */
int ns_store_open(ns_store **out, const char *url, roc_error *err);

#endif
