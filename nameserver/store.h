/* roc-ns storage: where registrations are kept durably.
 *
 * The registry (registry.c) holds every registration in memory and serves
 * all reads from there; a store is asked only to load what it kept at start
 * and to apply each change durably BEFORE the change is acknowledged to a
 * client. A store never sees two calls at once (the registry serializes its
 * writers). Backends: memory (keeps nothing), SQLite (store_sqlite.c); an
 * etcd backend (issue 10) fits the same interface, its watch feeding the
 * in-memory view.
 */
#ifndef ROCNS_STORE_H
#define ROCNS_STORE_H

#include <stddef.h>

#include <roc/roc.h>

/* One registration as stored: strings owned by whoever made it. */
typedef struct ns_entry {
    char *name;
    char **uris;
    size_t n_uris;
    char **meta;
    size_t n_meta;
} ns_entry;

typedef struct ns_store ns_store;

typedef struct ns_store_ops {
    const char *kind; /* "memory", "sqlite" */
    /* Calls fn(arg, e) for every registration kept; e lives during the call
     * only. A non-zero result of fn stops the load and is returned. */
    int (*load)(ns_store *s, int (*fn)(void *arg, const ns_entry *e), void *arg,
                roc_error *err);
    /* Inserts or replaces the registration e->name, durably. */
    int (*put)(ns_store *s, const ns_entry *e, roc_error *err);
    /* Deletes the registrations named, durably, all or none. */
    int (*del)(ns_store *s, char *const *names, size_t n, roc_error *err);
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

#endif
