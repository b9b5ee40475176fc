/* The registry of roc-ns: every registration in memory (sorted by name),
 * every change written through a store (store.h) before it is made visible
 * and acknowledged. Reads take a read lock only; writers are serialized and
 * never hold the read-write lock while the store works (a slow fsync does
 * not stall lookups). All functions are thread-safe.
 *
 * Errors: ROC_EBADARGS for bad input (the message says what), ROC_ENOTFOUND,
 * ROC_EEXIST, or the store's error. Results are copied into the arena
 * given.
 */
#ifndef ROCNS_REGISTRY_H
#define ROCNS_REGISTRY_H

#include <roc/roc.h>

#include "store.h"

typedef struct ns_registry ns_registry;

/* Loads what the store kept. The registry owns the store from now on
 * (also when this fails). */
int ns_registry_open(ns_registry **out, ns_store *store, roc_error *err);
void ns_registry_close(ns_registry *r);
const ns_store *ns_registry_store(const ns_registry *r);
size_t ns_registry_count(ns_registry *r);

/* flags: 0, ROC_NS_REPLACE or ROC_NS_ADD_REPLICA (roc/naming.h). */
int ns_registry_register(ns_registry *r, const char *name, const char *uri,
                         const char *const *meta, size_t n_meta, unsigned flags,
                         roc_error *err);
/* Registers as ns_registry_register does, under a lease: *lease 0 grants a
 * new lease of ttl_s seconds (1 to NS_MAX_TTL) and returns it in *lease;
 * otherwise the registration joins that lease (ROC_ENOTFOUND when it has
 * expired). A registration whose lease expires (no keepalive within its
 * TTL) or is revoked is removed. Leases belong to the store when it keeps
 * them (etcd), else to the registry (a timer; they end with the process). */
#define NS_MAX_TTL 3600
int ns_registry_register_lease(ns_registry *r, const char *name,
                               const char *uri, const char *const *meta,
                               size_t n_meta, unsigned flags, unsigned ttl_s,
                               uint64_t *lease, roc_error *err);
int ns_registry_lease_grant(ns_registry *r, unsigned ttl_s, uint64_t *lease,
                            roc_error *err);
/* Renews a lease for its TTL (*ttl_s, may be NULL); ROC_ENOTFOUND when it
 * has expired. */
int ns_registry_keepalive(ns_registry *r, uint64_t lease, unsigned *ttl_s,
                          roc_error *err);
/* Ends a lease now, removing its registrations. */
int ns_registry_revoke(ns_registry *r, uint64_t lease, roc_error *err);
int ns_registry_lookup(ns_registry *r, const char *name, roc_arena *a,
                       roc_ns_entry *out, roc_error *err);
int ns_registry_list(ns_registry *r, const char *pattern, roc_ns_match how,
                     roc_arena *a, roc_ns_entry **out, size_t *n,
                     roc_error *err);
int ns_registry_meta(ns_registry *r, const char *const *tags, size_t n_tags,
                     bool any, roc_arena *a, roc_ns_entry **out, size_t *n,
                     roc_error *err);
int ns_registry_remove(ns_registry *r, const char *pattern, roc_ns_match how,
                       size_t *removed, roc_error *err);
int ns_registry_remove_uri(ns_registry *r, const char *name, const char *uri,
                           size_t *removed, roc_error *err);
int ns_registry_set_meta(ns_registry *r, const char *name,
                         const char *const *meta, size_t n_meta,
                         roc_error *err);

/* Changes to the registry's view, whoever made them (this process, another
 * roc-ns over a shared store, a lease that ended): fn(arg, seq, name, e)
 * with e what name holds now, NULL when it was removed. seq grows by one
 * per change. fn runs under the registry's write lock, in the order of
 * the changes: it must be quick and must not call the registry. Set it
 * before serving (NULL: no listener). */
typedef void (*ns_change_fn)(void *arg, uint64_t seq, const char *name,
                             const ns_entry *e);
void ns_registry_on_change(ns_registry *r, ns_change_fn fn, void *arg);
/* The registrations whose name begins with prefix (sorted by name, in a)
 * and in *seq the sequence number of the last change they include. */
int ns_registry_snapshot(ns_registry *r, const char *prefix, roc_arena *a,
                         roc_ns_entry **out, size_t *n, uint64_t *seq,
                         roc_error *err);

#endif
