/* LAN discovery over DNS-SD / mDNS, through avahi (docs/discovery.md).
 *
 * Service types:
 *   _roc._tcp     an object (or an rpyc-style service) of a daemon that
 *                 announces (roc_daemon_opts.announce); TXT keys v=1, id
 *                 (object id), iface (interface name, when there is one),
 *                 uri (ROC:id@url with an address a peer can reach)
 *   _roc-ns._tcp  a name server (roc-ns); TXT keys v=1, id=roc.ns, uri
 *
 * A daemon bound to a wildcard address (tcp://0.0.0.0:port) announces
 * itself once per network interface, each time with that interface's own
 * address in the uri; a daemon bound to a loopback address announces only
 * on the loopback interface, so no other host is ever told 0.0.0.0 or
 * 127.0.0.1.
 *
 * Discovery needs a running avahi-daemon (reached over the D-Bus system
 * bus, DBUS_SYSTEM_BUS_ADDRESS). Without one, or in a build made with
 * -DROC_WITH_AVAHI=OFF, every function here fails at once with
 * ROC_EUNAVAIL and a message naming the cause; announcing daemons serve as
 * usual, unannounced. Nothing waits past its timeout.
 */
#ifndef ROC_DISCOVERY_H
#define ROC_DISCOVERY_H

#include "daemon.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ROC_DISCOVER_TYPE "_roc._tcp"
#define ROC_DISCOVER_NS_TYPE "_roc-ns._tcp"
/* How long name resolution (ROCDISCOVER:, service:) browses by default
 * (ROC_DISCOVER_TIMEOUT_MS overrides it), and how long libroc looks for a
 * name server on the LAN at most when neither a URI nor ROC_NS names one
 * (ROC_NS_DISCOVER_MS overrides it; 0 turns the search off; it ends
 * sooner, 300 ms after the first answer). */
#define ROC_DISCOVER_DEFAULT_TIMEOUT_MS 5000
#define ROC_NS_DISCOVER_DEFAULT_MS 2000

/* One service instance found on the LAN. Every string is valid during the
 * callback only (roc_discover) or as long as the arena (roc_discover_all). */
typedef struct roc_discovered {
    const char *name;    /* DNS-SD instance name, e.g. "calc on host-a" */
    const char *type;    /* "_roc._tcp" */
    const char *domain;  /* "local" */
    const char *host;    /* the announcing host's mDNS name ("a.local") */
    const char *address; /* its address as seen here ("10.0.0.5") */
    uint16_t port;
    int ifindex;            /* interface it was seen on */
    const char *const *txt; /* TXT strings "key=value" */
    size_t n_txt;
    /* from TXT, NULL when absent */
    const char *id;
    const char *iface;
    /* the URI to use: the TXT uri, with its host replaced by address when
     * it names a wildcard or loopback address of another host; NULL when
     * the announcement carries no uri */
    const char *uri;
} roc_discovered;

/* Called once per service instance (instances seen on several interfaces
 * or protocols are reported once). Return 0 to go on, non-zero to stop
 * browsing at once. */
typedef int (*roc_discover_fn)(const roc_discovered *s, void *arg);

/* Browses the LAN for services of type (NULL: ROC_DISCOVER_TYPE) and
 * resolves them, calling fn for each, for timeout_ms (>0) or until fn
 * returns non-zero. Returns 0 (also when nothing was found), or
 * ROC_EUNAVAIL when avahi is not there (the message says why). */
ROC_API int roc_discover(const char *type, int timeout_ms, roc_discover_fn fn,
                         void *arg, roc_error *err);

/* As roc_discover, collecting every instance into an array allocated in a
 * (strings too). */
ROC_API int roc_discover_all(const char *type, int timeout_ms, roc_arena *a,
                             roc_discovered **out, size_t *n, roc_error *err);

/* Looks up a TXT key in s ("key"); NULL when absent. */
ROC_API const char *roc_discovered_txt(const roc_discovered *s,
                                       const char *key);

/* 0 when discovery can be used here (avahi reachable), else ROC_EUNAVAIL
 * with the cause. Does not cache: asks avahi each time. */
ROC_API int roc_discovery_available(roc_error *err);

/* The state of d's announcements (roc_daemon_opts.announce): waits up to
 * timeout_ms (0: do not wait) until each object of d is established on the
 * LAN. 0 once all are; ROC_EUNAVAIL when avahi is not there (the message
 * names the cause: the daemon serves unannounced; when the system bus is
 * there but avahi-daemon is not running yet, it waits for avahi-daemon to
 * start, which announces the daemon); ROC_ETIMEDOUT while still probing;
 * ROC_ESTATE when d announces nothing (announce off, not started, or shut
 * down); ROC_EEXIST when avahi refused a name. */
ROC_API int roc_daemon_announced(roc_daemon *d, int timeout_ms, roc_error *err);

#ifdef __cplusplus
}
#endif
#endif
