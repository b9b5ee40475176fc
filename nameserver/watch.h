/* roc-ns watches: clients told of changes to the names under a prefix.
 *
 * The hub listens to the registry's changes (ns_registry_on_change), queues
 * them, and a thread of its own tells each watcher whose prefix matches,
 * by oneway calls of roc.naming.Watcher (put/removed) over the
 * connection the watch came on. A watcher whose call fails (its
 * connection closed) is dropped; when the queue overflows (watchers far
 * slower than the changes) every watcher is dropped, and each client
 * notices through NameServer.watching and watches again. All functions are
 * thread-safe.
 */
#ifndef ROCNS_WATCH_H
#define ROCNS_WATCH_H

#include <roc/roc.h>

#include "naming.roc.h"
#include "registry.h"

typedef struct ns_watch_hub ns_watch_hub;

/* Watchers at once at most, by default (ROC_EBUSY beyond). */
#define NS_MAX_WATCHERS 4096
/* Watchers whose connection closed are dropped at their next change, and
 * after this many seconds without changes. */
#define NS_WATCH_SWEEP_S 5
/* Changes queued for the watchers at most; beyond, all are dropped. */
#define NS_MAX_QUEUED 65536

/* Starts the hub for r (listening to its changes from now on), holding at
 * most max watchers. */
int ns_watch_hub_open(ns_watch_hub **out, ns_registry *r, size_t max,
                      roc_error *err);
/* Stops listening and telling, drops every watcher. NULL is allowed. */
void ns_watch_hub_close(ns_watch_hub *h);

/* Adds a watcher of prefix: takes w (closed on failure too). Gives its id,
 * and the registrations under prefix now with the seq of the last change
 * they include (*es in a). */
int ns_watch_hub_add(ns_watch_hub *h, const char *prefix,
                     roc_naming_Watcher *w, roc_arena *a, uint64_t *id,
                     uint64_t *seq, roc_ns_entry **es, size_t *n,
                     roc_error *err);
bool ns_watch_hub_has(ns_watch_hub *h, uint64_t id);
/* Drops watcher id (nothing when unknown). */
void ns_watch_hub_remove(ns_watch_hub *h, uint64_t id);
size_t ns_watch_hub_count(ns_watch_hub *h);

#endif
