/* LAN discovery over DNS-SD / mDNS through avahi (roc/discovery.h,
 * docs/discovery.md).
 *
 * Two halves:
 * - browsing (roc_discover and what is built on it: ROCDISCOVER: proxies,
 *   service: connections, the name server search) runs on the caller's
 *   thread with an AvahiSimplePoll and a client of its own, bounded by the
 *   caller's timeout;
 * - announcing (daemons with roc_daemon_opts.announce) shares one
 *   AvahiThreadedPoll and one client per process, made when the first
 *   daemon announces and freed when the last one withdraws. That client is
 *   made with AVAHI_CLIENT_NO_FAIL: a daemon started before avahi-daemon
 *   (or across its restart) is announced once avahi-daemon runs.
 *
 * The library never prints: the state of a daemon's announcements is read
 * with roc_daemon_announced, which roc-ns uses to say once that it serves
 * unannounced.
 *
 * Addresses: a daemon bound to a wildcard address announces each object
 * once per IPv4 interface, with that interface's address in the TXT uri;
 * bound to a loopback address, only on the loopback interface. A browser
 * also never trusts a wildcard or loopback host in a TXT uri of another
 * host: it puts the address it resolved in its place.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "roc/discovery.h"
#include "roci.h"
#include "roci_discovery.h"

/* ------------------------------------------------------------ helpers */

bool roci_host_is_wildcard(const char *h, size_t n)
{
    static const char *const w[] = {"", "*", "0.0.0.0", "::", "[::]"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (strlen(w[i]) == n && strncmp(h, w[i], n) == 0)
            return true;
    return false;
}

bool roci_host_is_loopback(const char *h, size_t n)
{
    return (n >= 4 && strncmp(h, "127.", 4) == 0) ||
           (n == 3 && strncmp(h, "::1", 3) == 0) ||
           (n == 5 && strncmp(h, "[::1]", 5) == 0) ||
           (n == 9 && strncasecmp(h, "localhost", 9) == 0);
}

/* Finds the host part of an nng URL or of a ROC: URI ("ROC:id@url"). */
int roci_url_host(const char *url, const char **host, size_t *len)
{
    if (!url)
        return ROC_EPARSE;
    if (strncasecmp(url, "ROC:", 4) == 0) {
        const char *at = strchr(url, '@');
        if (!at)
            return ROC_EPARSE;
        url = at + 1;
    }
    const char *hs = strstr(url, "://");
    if (!hs)
        return ROC_EPARSE;
    hs += 3;
    const char *path = strchr(hs, '/');
    const char *hend = path ? path : hs + strlen(hs);
    const char *colon = NULL;
    if (hs[0] == '[') {
        const char *rb = memchr(hs, ']', (size_t)(hend - hs));
        if (!rb)
            return ROC_EPARSE;
        colon = rb + 1 < hend && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(hs, ':', (size_t)(hend - hs));
    }
    if (!colon)
        return ROC_EPARSE;
    *host = hs;
    *len = (size_t)(colon - hs);
    return 0;
}

char *roci_uri_with_host(const char *uri, const char *host)
{
    const char *h;
    size_t n;
    if (roci_url_host(uri, &h, &n) != 0)
        return NULL;
    bool v6 = strchr(host, ':') != NULL;
    size_t len = strlen(uri) + strlen(host) + 3;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%.*s%s%s%s%s", (int)(h - uri), uri, v6 ? "[" : "",
                 host, v6 ? "]" : "", h + n);
    return s;
}

static int env_ms(const char *name, int dflt)
{
    const char *e = getenv(name);
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == 0 && v >= 0 && v <= 3600000)
            return (int)v;
    }
    return dflt;
}

const char *roc_discovered_txt(const roc_discovered *s, const char *key)
{
    if (!s || !key)
        return NULL;
    size_t k = strlen(key);
    for (size_t i = 0; i < s->n_txt; i++)
        if (strncmp(s->txt[i], key, k) == 0 && s->txt[i][k] == '=')
            return s->txt[i] + k + 1;
    return NULL;
}

/* Does s answer to name (ROCDISCOVER:name, service:name)? Its interface
 * name, the last dotted part of it, its object id or its instance name. */
static bool discovered_matches(const roc_discovered *s, const char *name)
{
    if (s->iface) {
        if (strcmp(s->iface, name) == 0)
            return true;
        const char *dot = strrchr(s->iface, '.');
        if (dot && strcmp(dot + 1, name) == 0)
            return true;
    }
    return (s->id && strcmp(s->id, name) == 0) ||
           (s->name && strcmp(s->name, name) == 0);
}

/* roc_discover_all's collector: deep copies into an arena. */
typedef struct collect {
    roc_arena *a;
    roc_discovered *v;
    size_t n, cap;
    int rc;
} collect;

static const char *adup(roc_arena *a, const char *s)
{
    return s ? roc_arena_strdup(a, s) : NULL;
}

static int collect_one(const roc_discovered *s, void *arg)
{
    collect *c = arg;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        roc_discovered *nv = roc_arena_calloc(c->a, nc, sizeof *nv);
        if (!nv) {
            c->rc = ROC_ENOMEM;
            return 1;
        }
        if (c->n)
            memcpy(nv, c->v, c->n * sizeof *nv);
        c->v = nv;
        c->cap = nc;
    }
    roc_discovered *d = &c->v[c->n];
    *d = *s;
    d->name = adup(c->a, s->name);
    d->type = adup(c->a, s->type);
    d->domain = adup(c->a, s->domain);
    d->host = adup(c->a, s->host);
    d->address = adup(c->a, s->address);
    d->id = adup(c->a, s->id);
    d->iface = adup(c->a, s->iface);
    d->uri = adup(c->a, s->uri);
    const char **t = roc_arena_calloc(c->a, s->n_txt ? s->n_txt : 1, sizeof *t);
    if (!t) {
        c->rc = ROC_ENOMEM;
        return 1;
    }
    for (size_t i = 0; i < s->n_txt; i++)
        t[i] = adup(c->a, s->txt[i]);
    d->txt = t;
    c->n++;
    return 0;
}

int roc_discover_all(const char *type, int timeout_ms, roc_arena *a,
                     roc_discovered **out, size_t *n, roc_error *err)
{
    if (!a || !out || !n)
        return roc_error_set(err, ROC_EINVAL, "roc_discover_all: no output");
    collect c = {a, NULL, 0, 0, 0};
    int rc = roc_discover(type, timeout_ms, collect_one, &c, err);
    if (rc == 0 && c.rc)
        rc = roc_error_set(err, c.rc, "out of memory");
    *out = c.v;
    *n = rc ? 0 : c.n;
    return rc;
}

/* roci_discover_resolve's state: matching URIs, and when to stop. */
typedef struct match {
    const char *name;
    char **v;
    size_t n, cap;
    int rc;
    uint64_t first_ms; /* when the first match came, 0: none yet */
} match;

static int match_one(const roc_discovered *s, void *arg)
{
    match *m = arg;
    if (!s->uri || !discovered_matches(s, m->name))
        return 0;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i], s->uri) == 0)
            return 0;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 4;
        char **nv = realloc(m->v, nc * sizeof *nv);
        if (!nv) {
            m->rc = ROC_ENOMEM;
            return 1;
        }
        m->v = nv;
        m->cap = nc;
    }
    if (!(m->v[m->n] = strdup(s->uri))) {
        m->rc = ROC_ENOMEM;
        return 1;
    }
    m->n++;
    if (!m->first_ms)
        m->first_ms = roci_now_ms();
    return 0;
}

/* After the first match, replicas that answer within this long are taken
 * too; then browsing stops. */
#define MATCH_GRACE_MS 300

#ifdef ROC_HAVE_AVAHI

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/simple-watch.h>
#include <avahi-common/thread-watch.h>

#include <net/if.h>

/* The cause, in words, of avahi error e when making a client. */
static const char *client_cause(int e)
{
    if (e == AVAHI_ERR_NO_DAEMON)
        return "avahi-daemon is not running";
    return "avahi-daemon cannot be reached over D-Bus";
}

static int unavail(roc_error *err, int e)
{
    return roc_error_set(err, ROC_EUNAVAIL,
                         "LAN discovery is unavailable: %s (avahi: %s)",
                         client_cause(e), avahi_strerror(e));
}

/* ------------------------------------------------------------ browsing */

typedef struct browse {
    AvahiSimplePoll *sp;
    AvahiClient *c;
    roc_discover_fn fn;
    void *arg;
    bool stop;
    int failed;  /* avahi error code, 0: none */
    char **seen; /* instance keys already reported */
    size_t nseen, cap;
    int resolving;        /* resolvers started and not yet answered */
    uint64_t all_for_now; /* when avahi said it has nothing more for
                             now (ALL_FOR_NOW), 0: not yet */
} browse;

static bool seen_add(browse *b, const char *key)
{
    for (size_t i = 0; i < b->nseen; i++)
        if (strcmp(b->seen[i], key) == 0)
            return false;
    if (b->nseen == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 8;
        char **nv = realloc(b->seen, nc * sizeof *nv);
        if (!nv)
            return false;
        b->seen = nv;
        b->cap = nc;
    }
    char *k = strdup(key);
    if (!k)
        return false;
    b->seen[b->nseen++] = k;
    return true;
}

static bool seen_has(browse *b, const char *key)
{
    for (size_t i = 0; i < b->nseen; i++)
        if (strcmp(b->seen[i], key) == 0)
            return true;
    return false;
}

static void instance_key(char *buf, size_t len, const char *name,
                         const char *type, const char *domain)
{
    snprintf(buf, len, "%s\x1f%s\x1f%s", name, type, domain);
}

static void resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface,
                       AvahiProtocol proto, AvahiResolverEvent ev,
                       const char *name, const char *type, const char *domain,
                       const char *host, const AvahiAddress *addr,
                       uint16_t port, AvahiStringList *txt,
                       AvahiLookupResultFlags flags, void *arg)
{
    (void)proto;
    (void)flags;
    browse *b = arg;
    b->resolving--; /* every resolver answers once: found or failed */
    char key[3 * AVAHI_DOMAIN_NAME_MAX];
    instance_key(key, sizeof key, name, type, domain);
    if (ev != AVAHI_RESOLVER_FOUND || b->stop || !seen_add(b, key)) {
        avahi_service_resolver_free(r);
        return;
    }
    char address[AVAHI_ADDRESS_STR_MAX] = "";
    if (addr)
        avahi_address_snprint(address, sizeof address, addr);
    size_t nt = avahi_string_list_length(txt);
    char **tv = calloc(nt ? nt : 1, sizeof *tv);
    size_t k = 0;
    for (AvahiStringList *l = txt; tv && l; l = avahi_string_list_get_next(l)) {
        size_t sz = avahi_string_list_get_size(l);
        char *s = malloc(sz + 1);
        if (!s)
            continue;
        memcpy(s, avahi_string_list_get_text(l), sz);
        s[sz] = 0;
        tv[k++] = s;
    }
    roc_discovered s = {
        .name = name,
        .type = type,
        .domain = domain,
        .host = host,
        .address = address,
        .port = port,
        .ifindex = iface,
        .txt = (const char *const *)tv,
        .n_txt = k,
    };
    s.id = roc_discovered_txt(&s, "id");
    s.iface = roc_discovered_txt(&s, "iface");
    const char *uri = roc_discovered_txt(&s, "uri");
    char *fixed = NULL;
    const char *h;
    size_t hn;
    if (uri && *address && roci_url_host(uri, &h, &hn) == 0 &&
        (roci_host_is_wildcard(h, hn) ||
         (roci_host_is_loopback(h, hn) &&
          !roci_host_is_loopback(address, strlen(address)))))
        fixed = roci_uri_with_host(uri, address);
    s.uri = fixed ? fixed : uri;
    if (b->fn(&s, b->arg) != 0)
        b->stop = true;
    free(fixed);
    for (size_t i = 0; i < k; i++)
        free(tv[i]);
    free(tv);
    avahi_service_resolver_free(r);
}

static void browse_cb(AvahiServiceBrowser *sb, AvahiIfIndex iface,
                      AvahiProtocol proto, AvahiBrowserEvent ev,
                      const char *name, const char *type, const char *domain,
                      AvahiLookupResultFlags flags, void *arg)
{
    (void)sb;
    (void)flags;
    browse *b = arg;
    if (ev == AVAHI_BROWSER_FAILURE) {
        b->failed = avahi_client_errno(b->c);
        b->stop = true;
        return;
    }
    if (ev == AVAHI_BROWSER_ALL_FOR_NOW) {
        /* avahi-daemon sends it about 1 s after its first query (its cache
         * came before): what has not answered by then is not there */
        b->all_for_now = roci_now_ms();
        return;
    }
    if (ev != AVAHI_BROWSER_NEW || b->stop)
        return;
    char key[3 * AVAHI_DOMAIN_NAME_MAX];
    instance_key(key, sizeof key, name, type, domain);
    if (seen_has(b, key))
        return;
    /* freed by resolve_cb, or with the client */
    /* the address of the protocol it was seen over: an A record for an
     * IPv4 announcement (a link-local AAAA would need a scope id) */
    if (avahi_service_resolver_new(b->c, iface, proto, name, type, domain,
                                   proto, 0, resolve_cb, b))
        b->resolving++;
}

static void browse_client_cb(AvahiClient *c, AvahiClientState st, void *arg)
{
    browse *b = arg;
    if (st == AVAHI_CLIENT_FAILURE) {
        b->failed = avahi_client_errno(c);
        b->stop = true;
    }
}

/* roc_discover, and the ways the internal searches end sooner than at
 * timeout_ms: grace_ms after *first_ms (the time fn set when it kept its
 * first result; NULL: no grace), and with at_complete once avahi has
 * nothing more for now (ALL_FOR_NOW) and no resolver is still running —
 * or grace_ms after ALL_FOR_NOW: a live service resolves in milliseconds,
 * a stale record in avahi's cache (its host gone) only fails after 5 s. */
static int browse_run(const char *type, int timeout_ms, roc_discover_fn fn,
                      void *arg, const uint64_t *first_ms, int grace_ms,
                      bool at_complete, roc_error *err)
{
    if (!fn || timeout_ms <= 0)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_discover: a callback and a timeout > 0 "
                             "are required");
    if (!type || !*type)
        type = ROC_DISCOVER_TYPE;
    browse b = {.fn = fn, .arg = arg};
    if (!(b.sp = avahi_simple_poll_new()))
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    int e = 0;
    b.c = avahi_client_new(avahi_simple_poll_get(b.sp), 0, browse_client_cb, &b,
                           &e);
    if (!b.c) {
        avahi_simple_poll_free(b.sp);
        return unavail(err, e);
    }
    int rc = 0;
    AvahiServiceBrowser *sb = avahi_service_browser_new(
        b.c, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, type, NULL, 0, browse_cb, &b);
    if (!sb) {
        e = avahi_client_errno(b.c);
        rc = e == AVAHI_ERR_INVALID_SERVICE_TYPE
                 ? roc_error_set(err, ROC_EINVAL,
                                 "'%s' is not a DNS-SD service type "
                                 "(e.g. _roc._tcp)",
                                 type)
                 : unavail(err, e);
    }
    uint64_t end = roci_now_ms() + (uint64_t)timeout_ms;
    while (rc == 0 && !b.stop) {
        if (at_complete && b.all_for_now && b.resolving <= 0)
            break;
        uint64_t now = roci_now_ms();
        uint64_t stop = end;
        if (first_ms && *first_ms && *first_ms + (uint64_t)grace_ms < stop)
            stop = *first_ms + (uint64_t)grace_ms;
        if (at_complete && b.all_for_now &&
            b.all_for_now + (uint64_t)grace_ms < stop)
            stop = b.all_for_now + (uint64_t)grace_ms;
        if (now >= stop)
            break;
        if (avahi_simple_poll_iterate(b.sp, (int)(stop - now)) != 0)
            break;
    }
    if (rc == 0 && b.failed)
        rc = unavail(err, b.failed);
    /* frees the browser and every resolver still running */
    avahi_client_free(b.c);
    avahi_simple_poll_free(b.sp);
    for (size_t i = 0; i < b.nseen; i++)
        free(b.seen[i]);
    free(b.seen);
    return rc;
}

int roc_discover(const char *type, int timeout_ms, roc_discover_fn fn,
                 void *arg, roc_error *err)
{
    return browse_run(type, timeout_ms, fn, arg, NULL, 0, false, err);
}

int roc_discovery_available(roc_error *err)
{
    AvahiSimplePoll *sp = avahi_simple_poll_new();
    if (!sp)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    int e = 0;
    AvahiClient *c =
        avahi_client_new(avahi_simple_poll_get(sp), 0, NULL, NULL, &e);
    int rc = c ? 0 : unavail(err, e);
    if (c)
        avahi_client_free(c);
    avahi_simple_poll_free(sp);
    return rc;
}

/* ------------------------------------------------------------ announcing */

enum { OBJ_IDLE = 0, OBJ_REGISTERING, OBJ_ESTABLISHED, OBJ_FAILED };

typedef struct pdaemon pdaemon;

typedef struct pobj {
    pdaemon *pd;
    char *id;
    char *iface;
    AvahiEntryGroup *g;
    char *name;    /* instance name in use (avahi_malloc'd), NULL: none */
    int state;     /* OBJ_* */
    int code;      /* OBJ_FAILED: ROC_E* */
    char why[200]; /* OBJ_FAILED: the cause */
    struct pobj *next;
} pobj;

struct pdaemon {
    roc_daemon *d;
    char *url;
    char *type;
    char *label; /* announce_name, NULL: the host's mDNS name */
    bool started;
    pobj *objs;
    pdaemon *next;
};

/* The process's publisher. mtx serialises the threads that change it; tp's
 * own lock (taken as well, mtx first) guards what avahi's callbacks see. */
static struct {
    pthread_mutex_t mtx;
    AvahiThreadedPoll *tp;
    AvahiClient *client;
    int cerr; /* avahi error of the last failed client, 0: none */
    pdaemon *ds;
} pub = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, NULL};

static void obj_fail(pobj *o, int code, const char *fmt, ...) ROC_PRINTF(3, 4);
static void obj_fail(pobj *o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->why, sizeof o->why, fmt, ap);
    va_end(ap);
    o->state = OBJ_FAILED;
    o->code = code;
}

static void group_cb(AvahiEntryGroup *g, AvahiEntryGroupState st, void *arg);
static void publish_obj(pobj *o);

/* Parsed daemon URL: scheme, host, port, path. */
typedef struct purl {
    char scheme[16];
    char host[128];
    int port;
    const char *path; /* into the url: "" or "/..." */
} purl;

static int parse_url(const char *url, purl *u)
{
    const char *h;
    size_t hn;
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep - url) >= sizeof u->scheme ||
        roci_url_host(url, &h, &hn) != 0 || hn >= sizeof u->host)
        return ROC_EPARSE;
    memcpy(u->scheme, url, (size_t)(sep - url));
    u->scheme[sep - url] = 0;
    memcpy(u->host, h, hn);
    u->host[hn] = 0;
    char *end;
    long port = strtol(h + hn + 1, &end, 10);
    if (port <= 0 || port > 65535)
        return ROC_EPARSE;
    u->port = (int)port;
    u->path = end;
    return 0;
}

static bool scheme_is_tls(const char *s)
{
    return strncasecmp(s, "tls+", 4) == 0 || strcasecmp(s, "wss") == 0 ||
           strncasecmp(s, "wss", 3) == 0;
}

/* Adds o's service on one interface (or all: AVAHI_IF_UNSPEC) with uri
 * ROC:id@scheme://host:port/path. */
static int add_one(pobj *o, const purl *u, AvahiIfIndex ifx,
                   AvahiProtocol proto, const char *host)
{
    bool v6 = strchr(host, ':') != NULL;
    char uri[512];
    snprintf(uri, sizeof uri, "ROC:%s@%s://%s%s%s:%d%s", o->id, u->scheme,
             v6 ? "[" : "", host, v6 ? "]" : "", u->port, u->path);
    AvahiStringList *txt = avahi_string_list_new("v=1", NULL);
    txt = avahi_string_list_add_printf(txt, "id=%s", o->id);
    if (o->iface && *o->iface)
        txt = avahi_string_list_add_printf(txt, "iface=%s", o->iface);
    txt = avahi_string_list_add_printf(txt, "uri=%s", uri);
    int r = avahi_entry_group_add_service_strlst(o->g, ifx, proto, 0, o->name,
                                                 o->pd->type, NULL, NULL,
                                                 (uint16_t)u->port, txt);
    avahi_string_list_free(txt);
    return r;
}

/* Adds o's services, one per interface for a wildcard address. Returns the
 * number added, or -avahi_error. */
static int add_services(pobj *o, const purl *u)
{
    int added = 0;
    size_t hn = strlen(u->host);
    bool wild = roci_host_is_wildcard(u->host, hn);
    bool loop = roci_host_is_loopback(u->host, hn);
    if (!wild && !loop) {
        /* a named address: that is what the daemon listens on */
        int r = add_one(o, u, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, u->host);
        return r < 0 ? r : 1;
    }
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return -AVAHI_ERR_FAILURE;
    unsigned done[64];
    size_t ndone = 0;
    /* The loopback interface last. avahi (0.8, is_duplicate_entry) sends
     * no goodbye for a record while another entry holds an equal one, on
     * any interface, and withdraws a group's entries last added first: the
     * PTR and SRV records, the same on every interface, are said goodbye
     * to only on the interface added first. That must be a real one: with
     * the loopback first (getifaddrs' order), a withdrawn object stayed in
     * the other hosts' caches, unresolvable, until its TTL (75 min). With
     * several real interfaces the others keep it so still. */
    for (int pass = 0; pass < 2; pass++) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
                !(i->ifa_flags & IFF_UP))
                continue;
            bool is_lo = (i->ifa_flags & IFF_LOOPBACK) != 0;
            if (loop && !is_lo)
                continue; /* 127.0.0.1 is told to this host only */
            if (is_lo != (pass == 1))
                continue;
            unsigned ix = if_nametoindex(i->ifa_name);
            bool dup = ix == 0;
            for (size_t k = 0; k < ndone && !dup; k++)
                dup = done[k] == ix;
            if (dup || ndone == sizeof done / sizeof done[0])
                continue;
            char a[INET_ADDRSTRLEN];
            const struct sockaddr_in *sin = (const void *)i->ifa_addr;
            inet_ntop(AF_INET, &sin->sin_addr, a, sizeof a);
            /* a TLS peer checks the server name: give it the mDNS host name
             * rather than a bare address (DESIGN.md, Security) */
            char hostbuf[AVAHI_DOMAIN_NAME_MAX];
            const char *host = loop ? u->host : a;
            if (scheme_is_tls(u->scheme) && !loop) {
                snprintf(hostbuf, sizeof hostbuf, "%s",
                         avahi_client_get_host_name_fqdn(pub.client));
                host = hostbuf;
            }
            int r = add_one(o, u, (AvahiIfIndex)ix, AVAHI_PROTO_INET, host);
            if (r < 0) {
                freeifaddrs(ifs);
                return r;
            }
            done[ndone++] = ix;
            added++;
        }
    }
    freeifaddrs(ifs);
    return added;
}

/* Registers o with the running client (tp locked). */
static void publish_obj(pobj *o)
{
    if (!pub.client ||
        avahi_client_get_state(pub.client) != AVAHI_CLIENT_S_RUNNING)
        return;
    purl u;
    if (parse_url(o->pd->url, &u) != 0 ||
        (strncasecmp(u.scheme, "tcp", 3) != 0 &&
         strncasecmp(u.scheme, "tls+tcp", 7) != 0 &&
         strncasecmp(u.scheme, "ws", 2) != 0)) {
        obj_fail(o, ROC_EUNAVAIL,
                 "%s is not reachable over the LAN: not announced", o->pd->url);
        return;
    }
    if (!o->name) {
        const char *what =
            strcmp(o->id, ROC_SERVICE_ROOT) == 0 && o->iface && *o->iface
                ? o->iface
                : o->id;
        const char *label = o->pd->label
                                ? o->pd->label
                                : avahi_client_get_host_name(pub.client);
        char name[AVAHI_LABEL_MAX];
        snprintf(name, sizeof name, "%s on %s", what, label ? label : "?");
        o->name = avahi_strdup(name);
        if (!o->name) {
            obj_fail(o, ROC_ENOMEM, "out of memory");
            return;
        }
    }
    if (!o->g && !(o->g = avahi_entry_group_new(pub.client, group_cb, o))) {
        int e = avahi_client_errno(pub.client);
        obj_fail(o, ROC_EUNAVAIL, "avahi refused an entry group: %s",
                 avahi_strerror(e));
        return;
    }
    for (int tries = 0; tries < 16; tries++) {
        int r = add_services(o, &u);
        if (r == -AVAHI_ERR_COLLISION) {
            /* another service of this host has the name: take the next */
            char *n = avahi_alternative_service_name(o->name);
            avahi_free(o->name);
            o->name = n;
            avahi_entry_group_reset(o->g);
            if (!n)
                break;
            continue;
        }
        if (r < 0) {
            obj_fail(o, ROC_EUNAVAIL, "avahi refused the service: %s",
                     avahi_strerror(-r));
            avahi_entry_group_reset(o->g);
            return;
        }
        if (r == 0) {
            obj_fail(o, ROC_EUNAVAIL,
                     "no IPv4 interface is up: %s not announced", o->pd->url);
            return;
        }
        r = avahi_entry_group_commit(o->g);
        if (r < 0) {
            obj_fail(o, ROC_EUNAVAIL, "avahi refused the service: %s",
                     avahi_strerror(r));
            return;
        }
        o->state = OBJ_REGISTERING;
        return;
    }
    obj_fail(o, ROC_EEXIST, "no free DNS-SD instance name for %s", o->id);
}

static void group_cb(AvahiEntryGroup *g, AvahiEntryGroupState st, void *arg)
{
    pobj *o = arg;
    if (o->g && o->g != g)
        return;
    switch (st) {
    case AVAHI_ENTRY_GROUP_ESTABLISHED:
        o->state = OBJ_ESTABLISHED;
        break;
    case AVAHI_ENTRY_GROUP_COLLISION: {
        /* another host has the name: rename and register again */
        char *n = avahi_alternative_service_name(o->name);
        avahi_free(o->name);
        o->name = n;
        avahi_entry_group_reset(g);
        o->state = OBJ_IDLE;
        if (n)
            publish_obj(o);
        else
            obj_fail(o, ROC_EEXIST, "no free DNS-SD instance name");
        break;
    }
    case AVAHI_ENTRY_GROUP_FAILURE:
        obj_fail(o, ROC_EUNAVAIL, "avahi: %s",
                 avahi_strerror(
                     avahi_client_errno(avahi_entry_group_get_client(g))));
        break;
    default:
        break;
    }
}

/* Every group of every started daemon goes (or comes back) with the
 * client's state. */
static void publish_all(void)
{
    for (pdaemon *pd = pub.ds; pd; pd = pd->next)
        for (pobj *o = pd->objs; pd->started && o; o = o->next)
            if (o->state == OBJ_IDLE)
                publish_obj(o);
}

static void forget_groups(bool freed)
{
    for (pdaemon *pd = pub.ds; pd; pd = pd->next)
        for (pobj *o = pd->objs; o; o = o->next) {
            if (o->g && !freed)
                avahi_entry_group_reset(o->g);
            if (freed)
                o->g = NULL;
            o->state = OBJ_IDLE;
        }
}

static void pub_client_cb(AvahiClient *c, AvahiClientState st, void *arg)
{
    (void)arg;
    switch (st) {
    case AVAHI_CLIENT_S_RUNNING:
        pub.client = c; /* also during avahi_client_new */
        pub.cerr = 0;
        publish_all();
        break;
    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
        /* the host name changes: names are registered again once
         * running */
        forget_groups(false);
        break;
    case AVAHI_CLIENT_CONNECTING:
        pub.cerr = AVAHI_ERR_NO_DAEMON;
        break;
    case AVAHI_CLIENT_FAILURE: {
        pub.cerr = avahi_client_errno(c);
        /* avahi-daemon went away: its groups are gone; wait for it to
         * come back (NO_FAIL) */
        forget_groups(true);
        avahi_client_free(c);
        int e = 0;
        pub.client =
            avahi_client_new(avahi_threaded_poll_get(pub.tp),
                             AVAHI_CLIENT_NO_FAIL, pub_client_cb, NULL, &e);
        if (!pub.client)
            pub.cerr = e;
        break;
    }
    }
}

/* Makes the publisher (pub.mtx held, tp not running or not made). */
static void pub_ensure(void)
{
    if (pub.tp)
        return;
    if (!(pub.tp = avahi_threaded_poll_new()))
        return;
    int e = 0;
    pub.client =
        avahi_client_new(avahi_threaded_poll_get(pub.tp), AVAHI_CLIENT_NO_FAIL,
                         pub_client_cb, NULL, &e);
    if (!pub.client) {
        pub.cerr = e ? e : AVAHI_ERR_FAILURE;
        avahi_threaded_poll_free(pub.tp);
        pub.tp = NULL;
        return;
    }
    if (avahi_threaded_poll_start(pub.tp) < 0) {
        avahi_client_free(pub.client);
        pub.client = NULL;
        avahi_threaded_poll_free(pub.tp);
        pub.tp = NULL;
        pub.cerr = AVAHI_ERR_FAILURE;
    }
}

static void pub_lock(void)
{
    pthread_mutex_lock(&pub.mtx);
    if (pub.tp)
        avahi_threaded_poll_lock(pub.tp);
}

static void pub_unlock(void)
{
    if (pub.tp)
        avahi_threaded_poll_unlock(pub.tp);
    pthread_mutex_unlock(&pub.mtx);
}

static pdaemon *pd_find(const roc_daemon *d)
{
    for (pdaemon *pd = pub.ds; pd; pd = pd->next)
        if (pd->d == d)
            return pd;
    return NULL;
}

static char *sdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Finds or makes d's record (locked). */
static pdaemon *pd_get(roc_daemon *d, const roc_daemon_opts *o)
{
    pdaemon *pd = pd_find(d);
    if (pd)
        return pd;
    if (!(pd = calloc(1, sizeof *pd)))
        return NULL;
    pd->d = d;
    pd->type =
        strdup(o->announce_type && *o->announce_type ? o->announce_type
                                                     : ROC_DISCOVER_TYPE);
    pd->label =
        o->announce_name && *o->announce_name ? strdup(o->announce_name) : NULL;
    if (!pd->type) {
        free(pd->label);
        free(pd);
        return NULL;
    }
    pd->next = pub.ds;
    pub.ds = pd;
    return pd;
}

static void obj_free(pobj *o)
{
    if (o->g)
        avahi_entry_group_free(o->g); /* withdraws: goodbye packets */
    avahi_free(o->name);
    free(o->id);
    free(o->iface);
    free(o);
}

/* Frees the publisher once no daemon announces (pub.mtx held, tp not
 * locked). */
static void pub_release(void)
{
    if (pub.ds || !pub.tp)
        return;
    avahi_threaded_poll_stop(pub.tp);
    if (pub.client)
        avahi_client_free(pub.client);
    avahi_threaded_poll_free(pub.tp);
    pub.client = NULL;
    pub.tp = NULL;
}

void roci_discovery_object(roc_daemon *d, const roc_daemon_opts *o,
                           const char *id, const char *iface, bool registered)
{
    if (!d || !id || (registered && (!o || !o->announce)))
        return;
    pthread_mutex_lock(&pub.mtx);
    bool none = pub.ds == NULL;
    pthread_mutex_unlock(&pub.mtx);
    if (!registered && none)
        return; /* nobody announces: nothing to withdraw */
    pub_lock();
    pdaemon *pd = registered ? pd_get(d, o) : pd_find(d);
    if (pd && registered) {
        pobj *ob = calloc(1, sizeof *ob);
        if (ob && (ob->id = strdup(id)) &&
            (!iface || (ob->iface = strdup(iface)))) {
            ob->pd = pd;
            ob->next = pd->objs;
            pd->objs = ob;
            if (pd->started)
                publish_obj(ob);
        } else if (ob) {
            free(ob->id);
            free(ob);
        }
    } else if (pd) {
        for (pobj **pp = &pd->objs; *pp; pp = &(*pp)->next)
            if (strcmp((*pp)->id, id) == 0) {
                pobj *ob = *pp;
                *pp = ob->next;
                obj_free(ob);
                break;
            }
    }
    pub_unlock();
}

void roci_discovery_start(roc_daemon *d, const roc_daemon_opts *o)
{
    if (!d || !o || !o->announce)
        return;
    pthread_mutex_lock(&pub.mtx);
    pub_ensure();
    if (pub.tp)
        avahi_threaded_poll_lock(pub.tp);
    pdaemon *pd = pd_get(d, o);
    if (pd && !pd->started) {
        free(pd->url);
        pd->url = sdup(roc_daemon_url(d));
        pd->started = pd->url != NULL;
        for (pobj *ob = pd->objs; pd->started && ob; ob = ob->next)
            publish_obj(ob);
    }
    pub_unlock();
}

void roci_discovery_stop(roc_daemon *d)
{
    pthread_mutex_lock(&pub.mtx);
    if (!pub.ds) {
        pthread_mutex_unlock(&pub.mtx);
        return;
    }
    if (pub.tp)
        avahi_threaded_poll_lock(pub.tp);
    pdaemon *pd = NULL;
    for (pdaemon **pp = &pub.ds; *pp; pp = &(*pp)->next)
        if ((*pp)->d == d) {
            pd = *pp;
            *pp = pd->next;
            break;
        }
    while (pd && pd->objs) {
        pobj *ob = pd->objs;
        pd->objs = ob->next;
        obj_free(ob);
    }
    if (pub.tp)
        avahi_threaded_poll_unlock(pub.tp);
    if (pd) {
        free(pd->url);
        free(pd->type);
        free(pd->label);
        free(pd);
    }
    pub_release();
    pthread_mutex_unlock(&pub.mtx);
}

/* One look at d's announcements (locked): 0 all established, else a code
 * with the message in why; *transient when waiting may change it (probing,
 * or avahi-daemon not running yet while the client waits for it). */
static int announced_now(const roc_daemon *d, char *why, size_t len,
                         bool *transient)
{
    *transient = false;
    pdaemon *pd = pd_find(d);
    if (!pd || !pd->started || !pd->objs) {
        snprintf(why, len,
                 "the daemon announces nothing (announce off, "
                 "not started, shut down or no object)");
        return ROC_ESTATE;
    }
    if (!pub.client || pub.cerr) {
        int e = pub.cerr ? pub.cerr : AVAHI_ERR_NO_DAEMON;
        snprintf(why, len,
                 "LAN discovery is unavailable: %s (avahi: %s); the daemon "
                 "serves at %s unannounced%s",
                 client_cause(e), avahi_strerror(e), pd->url,
                 pub.client ? " until avahi-daemon starts" : "");
        *transient = pub.client != NULL;
        return ROC_EUNAVAIL;
    }
    for (pobj *o = pd->objs; o; o = o->next) {
        if (o->state == OBJ_FAILED) {
            snprintf(why, len, "%s: %s", o->id, o->why);
            return o->code;
        }
        if (o->state != OBJ_ESTABLISHED) {
            snprintf(why, len, "%s is still being announced (probing)", o->id);
            *transient = true;
            return ROC_ETIMEDOUT;
        }
    }
    return 0;
}

int roc_daemon_announced(roc_daemon *d, int timeout_ms, roc_error *err)
{
    if (!d)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_daemon_announced: no daemon");
    uint64_t end = roci_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    char why[400];
    for (;;) {
        pub_lock();
        bool transient;
        int rc = announced_now(d, why, sizeof why, &transient);
        pub_unlock();
        if (!transient || roci_now_ms() >= end)
            return rc ? roc_error_set(err, rc, "%s", why) : 0;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL); /* poll the state with a deadline */
    }
}

#else /* !ROC_HAVE_AVAHI */

#define NO_AVAHI                                                               \
    "LAN discovery is unavailable: this libroc was built without avahi "       \
    "(-DROC_WITH_AVAHI=OFF)"

int roc_discover(const char *type, int timeout_ms, roc_discover_fn fn,
                 void *arg, roc_error *err)
{
    (void)type;
    (void)arg;
    if (!fn || timeout_ms <= 0)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_discover: a callback and a timeout > 0 "
                             "are required");
    return roc_error_set(err, ROC_EUNAVAIL, NO_AVAHI);
}

int roc_discovery_available(roc_error *err)
{
    return roc_error_set(err, ROC_EUNAVAIL, NO_AVAHI);
}

static int browse_run(const char *type, int timeout_ms, roc_discover_fn fn,
                      void *arg, const uint64_t *first_ms, int grace_ms,
                      bool at_complete, roc_error *err)
{
    (void)first_ms;
    (void)grace_ms;
    (void)at_complete;
    return roc_discover(type, timeout_ms, fn, arg, err);
}

int roc_daemon_announced(roc_daemon *d, int timeout_ms, roc_error *err)
{
    (void)d;
    (void)timeout_ms;
    return roc_error_set(err, ROC_EUNAVAIL,
                         NO_AVAHI "; the daemon serves "
                                  "unannounced");
}

void roci_discovery_object(roc_daemon *d, const roc_daemon_opts *o,
                           const char *id, const char *iface, bool registered)
{
    (void)d;
    (void)o;
    (void)id;
    (void)iface;
    (void)registered;
}

void roci_discovery_start(roc_daemon *d, const roc_daemon_opts *o)
{
    (void)d;
    (void)o;
}

void roci_discovery_stop(roc_daemon *d)
{
    (void)d;
}

#endif /* ROC_HAVE_AVAHI */

/* ------------------------------------------------------------ resolution */

int roci_discover_resolve(const char *name, int timeout_ms, char ***uris,
                          size_t *n, roc_error *err)
{
    *uris = NULL;
    *n = 0;
    if (!name || !*name)
        return roc_error_set(err, ROC_EINVAL, "nothing to discover: no name");
    int cap =
        env_ms("ROC_DISCOVER_TIMEOUT_MS", ROC_DISCOVER_DEFAULT_TIMEOUT_MS);
    int to = timeout_ms > 0 && timeout_ms < cap ? timeout_ms : cap;
    if (to <= 0)
        to = 1;
    match m = {.name = name};
    roc_error e = ROC_ERROR_INIT;
    int rc = browse_run(ROC_DISCOVER_TYPE, to, match_one, &m, &m.first_ms,
                        MATCH_GRACE_MS, false, &e);
    if (rc == 0 && m.rc)
        rc = roc_error_set(err, m.rc, "out of memory");
    else if (rc)
        rc = roc_error_set(err, rc, "cannot discover '%s': %s", name,
                           e.message ? e.message : roc_strerror(rc));
    else if (m.n == 0)
        rc = roc_error_set(err, ROC_ENOTFOUND,
                           "no object or service '%s' is announced on the "
                           "LAN (%s, browsed %d ms)",
                           name, ROC_DISCOVER_TYPE, to);
    roc_error_clear(&e);
    if (rc) {
        for (size_t i = 0; i < m.n; i++)
            free(m.v[i]);
        free(m.v);
        return rc;
    }
    *uris = m.v;
    *n = m.n;
    return 0;
}

/* The name server search: every _roc-ns._tcp instance that answers, in
 * the order roci_ns_list_sort gives; the answer (or the reason there is
 * none) is kept, a failure for NS_NEG_CACHE_MS so that a process asks
 * avahi once, not at every lookup. The search ends NS_GRACE_MS after the
 * first answer (the others answer the same query, within avahi's 20-120 ms
 * response delay, or come from its cache at once), or sooner when avahi
 * says the browse is complete, else at ROC_NS_DISCOVER_MS. */
#define NS_NEG_CACHE_MS 30000
#define NS_GRACE_MS 300

static struct {
    pthread_mutex_t mtx;
    char **uris;       /* cached answer, in order */
    size_t n;          /* 0: none */
    char why[300];     /* why there is none */
    uint64_t retry_ms; /* no answer: ask again after this */
} nsc = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, "", 0};

/* Is host (an address, maybe in brackets) one of this machine's? */
static bool host_is_here(const char *h, size_t n)
{
    if (roci_host_is_loopback(h, n))
        return true;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
        h++, n -= 2;
    char s[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof s)
        return false;
    memcpy(s, h, n);
    s[n] = 0;
    struct in_addr a4;
    struct in6_addr a6;
    bool v4 = inet_pton(AF_INET, s, &a4) == 1;
    if (!v4 && inet_pton(AF_INET6, s, &a6) != 1)
        return false; /* a host name: not an address of ours */
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return false;
    bool here = false;
    for (struct ifaddrs *i = ifs; i && !here; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (v4 && i->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *sin = (const void *)i->ifa_addr;
            here = memcmp(&sin->sin_addr, &a4, sizeof a4) == 0;
        } else if (!v4 && i->ifa_addr->sa_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const void *)i->ifa_addr;
            here = memcmp(&sin6->sin6_addr, &a6, sizeof a6) == 0;
        }
    }
    freeifaddrs(ifs);
    return here;
}

/* The name servers a search found: URIs, each once, and whether it runs on
 * this host. */
typedef struct nsfound {
    char **uris;
    bool *local;
    size_t n, cap;
    uint64_t first_ms; /* when the first came, 0: none yet */
} nsfound;

static int ns_collect(const roc_discovered *s, void *arg)
{
    nsfound *f = arg;
    /* a ROC: URI, without the list's separator */
    if (!s->uri || strncasecmp(s->uri, "ROC:", 4) != 0 || strchr(s->uri, ','))
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->uris[i], s->uri) == 0)
            return 0;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 4;
        char **nu = realloc(f->uris, nc * sizeof *nu);
        if (nu)
            f->uris = nu;
        bool *nl = nu ? realloc(f->local, nc * sizeof *nl) : NULL;
        if (!nl)
            return 1; /* out of memory: keep what was found */
        f->local = nl;
        f->cap = nc;
    }
    if (!(f->uris[f->n] = strdup(s->uri)))
        return 1;
    const char *h;
    size_t hn;
    f->local[f->n] =
        (roci_url_host(s->uri, &h, &hn) == 0 && host_is_here(h, hn)) ||
        (s->address && *s->address &&
         host_is_here(s->address, strlen(s->address)));
    f->n++;
    if (!f->first_ms)
        f->first_ms = roci_now_ms();
    return 0;
}

static bool ns_before(const char *a, bool la, const char *b, bool lb)
{
    return la != lb ? la : strcmp(a, b) < 0;
}

void roci_ns_list_sort(char **uris, bool *local, size_t n)
{
    /* insertion sort: a handful of entries */
    for (size_t i = 1; i < n; i++) {
        char *u = uris[i];
        bool l = local[i];
        size_t j = i;
        for (; j > 0 && ns_before(u, l, uris[j - 1], local[j - 1]); j--) {
            uris[j] = uris[j - 1];
            local[j] = local[j - 1];
        }
        uris[j] = u;
        local[j] = l;
    }
}

size_t roci_ns_list_join(char *const *uris, size_t n, char *out, size_t len)
{
    size_t used = 0, k = 0;
    if (len)
        out[0] = 0;
    for (; k < n; k++) {
        size_t ul = strlen(uris[k]);
        if (used + (k ? 1 : 0) + ul + 1 > len)
            break;
        if (k)
            out[used++] = ',';
        memcpy(out + used, uris[k], ul + 1);
        used += ul;
    }
    return k;
}

bool roci_discover_ns(char *out, size_t len, char *why, size_t wlen)
{
    pthread_mutex_lock(&nsc.mtx);
    int wait = env_ms("ROC_NS_DISCOVER_MS", ROC_NS_DISCOVER_DEFAULT_MS);
    if (nsc.n) {
        /* cached */
    } else if (wait <= 0) {
        snprintf(nsc.why, sizeof nsc.why,
                 "the LAN search is off (ROC_NS_DISCOVER_MS=0)");
    } else if (roci_now_ms() >= nsc.retry_ms) {
        nsfound f = {0};
        roc_error e = ROC_ERROR_INIT;
        int rc = browse_run(ROC_DISCOVER_NS_TYPE, wait, ns_collect, &f,
                            &f.first_ms, NS_GRACE_MS, true, &e);
        if (f.n) {
            /* (even if the browse failed afterwards: they answered) */
            roci_ns_list_sort(f.uris, f.local, f.n);
            nsc.uris = f.uris;
            nsc.n = f.n;
            nsc.why[0] = 0;
        } else {
            snprintf(nsc.why, sizeof nsc.why, "%s",
                     rc && e.message ? e.message
                                     : "no name server answered on the LAN "
                                       "(" ROC_DISCOVER_NS_TYPE ")");
            nsc.retry_ms = roci_now_ms() + NS_NEG_CACHE_MS;
            free(f.uris);
        }
        free(f.local);
        roc_error_clear(&e);
    }
    size_t k = nsc.n ? roci_ns_list_join(nsc.uris, nsc.n, out, len) : 0;
    if (why && wlen) {
        if (nsc.n && !k)
            snprintf(why, wlen,
                     "the name server found on the LAN (%s) does not fit "
                     "in %zu bytes",
                     nsc.uris[0], len);
        else
            snprintf(why, wlen, "%s", nsc.why);
    }
    pthread_mutex_unlock(&nsc.mtx);
    return k > 0;
}

void roci_discover_ns_forget(void)
{
    pthread_mutex_lock(&nsc.mtx);
    for (size_t i = 0; i < nsc.n; i++)
        free(nsc.uris[i]);
    free(nsc.uris);
    nsc.uris = NULL;
    nsc.n = 0;
    nsc.retry_ms = 0;
    pthread_mutex_unlock(&nsc.mtx);
}
