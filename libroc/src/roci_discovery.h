/* Internal hooks of LAN discovery (discovery.c), called by the daemon,
 * proxies, roc_connect and the naming client. Never installed. */
#ifndef ROCI_DISCOVERY_H
#define ROCI_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "roc/daemon.h"

/* daemon.c: an object was registered (registered true: id, iface) or
 * unregistered (false) on d; the daemon started serving; it shuts down
 * (withdraws every announcement of d, before connections close). Cheap
 * no-ops for daemons that do not announce. */
void roci_discovery_object(roc_daemon *d, const roc_daemon_opts *o,
                           const char *id, const char *iface, bool registered);
void roci_discovery_start(roc_daemon *d, const roc_daemon_opts *o);
void roci_discovery_stop(roc_daemon *d);

/* proxy.c (ROCDISCOVER:NAME), service.c (service:NAME): browses _roc._tcp
 * for objects whose interface (iface, or its last dotted part), object id
 * or instance name is name; *uris gets their URIs ("ROC:id@url"), a
 * malloc'd array of malloc'd strings. Waits at most timeout_ms (capped by
 * ROC_DISCOVER_TIMEOUT_MS, default 5 s) and stops soon after the first
 * match. ROC_ENOTFOUND when nothing matches, ROC_EUNAVAIL without avahi. */
int roci_discover_resolve(const char *name, int timeout_ms, char ***uris,
                          size_t *n, roc_error *err);

/* naming.c: the name servers found on the LAN (every _roc-ns._tcp
 * instance that answers, cached for the process) copied into out as a
 * comma-separated list of their URIs ("ROC:roc.ns@tcp://...,ROC:..."):
 * each once, those on this host first, then in strcmp order; when len is
 * too small, only the entries that fit whole. True when at least one
 * answered (and fits). The search waits at most ROC_NS_DISCOVER_MS
 * (default 2 s), ends 300 ms after the first answer or as soon as avahi
 * says the browse is complete (about 1 s); a failed search is not
 * repeated for 30 s. why (may be NULL) gets what happened otherwise, for
 * error messages. roci_discover_ns_forget drops the cached list (none of
 * them answered), so the next call searches again. */
bool roci_discover_ns(char *out, size_t len, char *why, size_t wlen);
void roci_discover_ns_forget(void);

/* Internal helpers, exposed for tests: true for "0.0.0.0", "*", "", "::",
 * "[::]"; true for 127.0.0.0/8, "::1", "localhost"; splits a ROC: URI or
 * nng URL's host out; rewrites uri's host to host (malloc'd). */
bool roci_host_is_wildcard(const char *host, size_t len);
bool roci_host_is_loopback(const char *host, size_t len);
int roci_url_host(const char *url, const char **host, size_t *len);
char *roci_uri_with_host(const char *uri, const char *host);

/* Internal helpers of roci_discover_ns, exposed for tests: orders uris in
 * place, local[i] (on this host) first, then by strcmp, moving local along;
 * joins uris with commas into out, whole entries only, and returns how
 * many fit (0: not even the first; out is then ""). */
void roci_ns_list_sort(char **uris, bool *local, size_t n);
size_t roci_ns_list_join(char *const *uris, size_t n, char *out, size_t len);

#endif
