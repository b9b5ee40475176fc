/* roc-ns: the ROC name server.
 *
 *   roc-ns [--url URL] [--store STORE | --db FILE] [--autoclean SECONDS]
 *          [--max-watches N]
 *          [--log LEVEL] [--key-file F [--open-lookups]] [--tls-cert F]
 *          [--tls-ca F] [--tls-require-client-cert]
 *
 * Serves the object "roc.ns" (interface roc.naming.NameServer, written in
 * naming.roc and served through the skeleton rocgen generates from it) on
 * URL (default tcp://0.0.0.0:9090). Registrations live in memory, in the
 * SQLite database FILE (a registration that was acknowledged survives
 * kill -9), or in an etcd cluster (--store etcd://h:p,h:p,.../prefix):
 * then any number of roc-ns processes serve one registry and hold no state
 * of their own. With --autoclean the server pings, every SECONDS, the
 * daemon of every registered URI and drops the URIs whose daemon does not
 * answer.
 *
 * Prints its URI ("ROC:roc.ns@<url>", with the real port when URL asked for
 * port 0) as the first line on stdout, logs to stderr, and shuts down
 * cleanly on SIGINT or SIGTERM. docs/naming.md has the details.
 *
 * Security (docs/security.md): with --key-file (or ROC_KEY_FILE) clients
 * must prove the pre-shared key; with --open-lookups too, reading the
 * registry stays open to everyone and only changes need the key (an
 * authorization hook). --tls-cert serves tls+tcp:// and wss:// URLs;
 * --tls-ca and --tls-require-client-cert check client certificates.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <roc/roc.h>

#include "naming.roc.h"
#include "registry.h"
#include "watch.h"

/* ------------------------------------------------------------ logging */

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
static int log_level = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

static int parse_level(const char *s)
{
    for (int i = 0; i <= LOG_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static void logf_(int level, const char *fmt, ...) ROC_PRINTF(2, 3);
static void logf_(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s roc-ns %s: %s\n", stamp, level_names[level], line);
}

/* ------------------------------------------------------------ handlers */

typedef struct server {
    ns_registry *reg;
    ns_watch_hub *hub;
} server;

/* Answers a registry error: the IDL's exceptions for "not found" and
 * "exists", roc.BadArguments for bad input, roc.Internal otherwise. */
static int fail(roc_call *call, int rc, roc_error *e, const char *name)
{
    const char *msg = e->message ? e->message : roc_strerror(rc);
    int out;
    if (rc == ROC_ENOTFOUND) {
        roc_naming_NotFound ex = {name ? name : ""};
        out = roc_naming_NotFound_raise(call, &ex, "%s", msg);
    } else if (rc == ROC_EBADARGS) {
        out = roc_call_error(call, ROC_EBADARGS, "%s.%s: %s",
                             roc_call_object(call), roc_call_method(call), msg);
    } else {
        logf_(LOG_ERROR, "%s: %s", roc_call_method(call), msg);
        out = roc_call_error(call, ROC_EINTERNAL, "%s", msg);
    }
    roc_error_clear(e);
    return out;
}

static int op_ping(void *self, roc_call *call, const char **ret)
{
    (void)self;
    (void)call;
    *ret = "pong";
    return 0;
}

static int op_register(void *self, roc_call *call, const char *name,
                       const char *uri, roc_naming_stringList meta,
                       uint32_t flags)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    int rc = ns_registry_register(s->reg, name, uri, meta.items, meta.len,
                                  flags, &e);
    if (rc == ROC_EEXIST) {
        roc_ns_entry cur = {0};
        roc_naming_Exists ex = {name, {NULL, 0}};
        if (ns_registry_lookup(s->reg, name, roc_call_arena(call), &cur,
                               NULL) == 0) {
            ex.uris.items = cur.uris;
            ex.uris.len = cur.n_uris;
        }
        rc = roc_naming_Exists_raise(call, &ex, "%s", e.message);
        roc_error_clear(&e);
        return rc;
    }
    if (rc)
        return fail(call, rc, &e, name);
    logf_(LOG_INFO, "registered %s -> %s%s", name, uri,
          flags & ROC_NS_ADD_REPLICA ? " (replica)"
          : flags & ROC_NS_REPLACE   ? " (replace)"
                                     : "");
    return 0;
}

static int op_lookup(void *self, roc_call *call, const char *name,
                     roc_naming_stringList *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    roc_ns_entry en;
    int rc = ns_registry_lookup(s->reg, name, roc_call_arena(call), &en, &e);
    if (rc)
        return fail(call, rc, &e, name);
    ret->items = en.uris;
    ret->len = en.n_uris;
    logf_(LOG_DEBUG, "lookup %s: %zu URIs", name, en.n_uris);
    return 0;
}

static int entries_ret(roc_call *call, const roc_ns_entry *es, size_t n,
                       roc_naming_EntryList *ret)
{
    roc_naming_Entry *v =
        roc_arena_calloc(roc_call_arena(call), n ? n : 1, sizeof *v);
    if (!v)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        v[i].name = es[i].name;
        v[i].uris.items = es[i].uris;
        v[i].uris.len = es[i].n_uris;
        v[i].meta.items = es[i].meta;
        v[i].meta.len = es[i].n_meta;
    }
    ret->items = v;
    ret->len = n;
    return 0;
}

static int op_list(void *self, roc_call *call, const char *pattern,
                   roc_naming_Match how, roc_naming_EntryList *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    roc_ns_entry *es = NULL;
    size_t n = 0;
    int rc = ns_registry_list(s->reg, pattern, (roc_ns_match)how,
                              roc_call_arena(call), &es, &n, &e);
    return rc ? fail(call, rc, &e, NULL) : entries_ret(call, es, n, ret);
}

static int op_lookup_meta(void *self, roc_call *call,
                          roc_naming_stringList tags, bool any_tag,
                          roc_naming_EntryList *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    roc_ns_entry *es = NULL;
    size_t n = 0;
    int rc = ns_registry_meta(s->reg, tags.items, tags.len, any_tag,
                              roc_call_arena(call), &es, &n, &e);
    return rc ? fail(call, rc, &e, NULL) : entries_ret(call, es, n, ret);
}

static int op_remove(void *self, roc_call *call, const char *pattern,
                     roc_naming_Match how, uint32_t *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    size_t n = 0;
    int rc = ns_registry_remove(s->reg, pattern, (roc_ns_match)how, &n, &e);
    if (rc)
        return fail(call, rc, &e, NULL);
    if (n)
        logf_(LOG_INFO, "removed %zu name(s) matching '%s'", n, pattern);
    *ret = (uint32_t)n;
    return 0;
}

static int op_remove_uri(void *self, roc_call *call, const char *name,
                         const char *uri, uint32_t *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    size_t n = 0;
    int rc = ns_registry_remove_uri(s->reg, name, uri, &n, &e);
    if (rc)
        return fail(call, rc, &e, name);
    if (n)
        logf_(LOG_INFO, "removed %s from %s", uri, name);
    *ret = (uint32_t)n;
    return 0;
}

static int op_set_meta(void *self, roc_call *call, const char *name,
                       roc_naming_stringList meta)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    int rc = ns_registry_set_meta(s->reg, name, meta.items, meta.len, &e);
    return rc ? fail(call, rc, &e, name) : 0;
}

static int op_count(void *self, roc_call *call, uint64_t *ret)
{
    server *s = self;
    (void)call;
    *ret = ns_registry_count(s->reg);
    return 0;
}

static int op_register_lease(void *self, roc_call *call, const char *name,
                             const char *uri, roc_naming_stringList meta,
                             uint32_t flags, uint32_t ttl, uint64_t lease,
                             uint64_t *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    uint64_t l = lease;
    int rc = ns_registry_register_lease(s->reg, name, uri, meta.items, meta.len,
                                        flags, ttl, &l, &e);
    if (rc == ROC_EEXIST) {
        roc_ns_entry cur = {0};
        roc_naming_Exists ex = {name, {NULL, 0}};
        if (ns_registry_lookup(s->reg, name, roc_call_arena(call), &cur,
                               NULL) == 0) {
            ex.uris.items = cur.uris;
            ex.uris.len = cur.n_uris;
        }
        rc = roc_naming_Exists_raise(call, &ex, "%s", e.message);
        roc_error_clear(&e);
        return rc;
    }
    if (rc)
        return fail(call, rc, &e, name);
    logf_(LOG_INFO, "registered %s -> %s (lease %llu)", name, uri,
          (unsigned long long)l);
    *ret = l;
    return 0;
}

static int op_keepalive(void *self, roc_call *call, uint64_t lease,
                        uint32_t *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    unsigned ttl = 0;
    int rc = ns_registry_keepalive(s->reg, lease, &ttl, &e);
    if (rc) {
        char id[32];
        snprintf(id, sizeof id, "%llu", (unsigned long long)lease);
        return fail(call, rc, &e, id);
    }
    *ret = ttl;
    return 0;
}

static int op_revoke(void *self, roc_call *call, uint64_t lease)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    int rc = ns_registry_revoke(s->reg, lease, &e);
    if (rc)
        return fail(call, rc, &e, NULL);
    logf_(LOG_INFO, "revoked lease %llu", (unsigned long long)lease);
    return 0;
}

static int op_watch(void *self, roc_call *call, const char *prefix,
                    roc_naming_Watcher *watcher, roc_naming_WatchStart *ret)
{
    server *s = self;
    roc_error e = ROC_ERROR_INIT;
    if (!watcher)
        return roc_call_error(call, ROC_EBADARGS,
                              "roc.ns.watch: parameter 'watcher' is nil");
    if (*prefix && (strlen(prefix) > ROC_NS_MAX_NAME || !roc_id_valid(prefix)))
        return roc_call_error(call, ROC_EBADARGS,
                              "roc.ns.watch: bad prefix '%.64s' (names are "
                              "[A-Za-z0-9_.:-], at most %d characters)",
                              prefix, ROC_NS_MAX_NAME);
    /* the argument's proxy is closed when this returns: keep a copy */
    roc_naming_Watcher *mine = NULL;
    int rc = roc_naming_Watcher_dup(watcher, &mine, &e);
    roc_ns_entry *es = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = ns_watch_hub_add(s->hub, prefix, mine, roc_call_arena(call),
                              &ret->watch, &ret->seq, &es, &n, &e);
    if (rc == ROC_EBUSY) {
        rc = roc_call_error(call, ROC_EBUSY, "%s", e.message);
        roc_error_clear(&e);
        return rc;
    }
    if (rc)
        return fail(call, rc, &e, NULL);
    logf_(LOG_INFO, "watch %016llx of '%s' from %s (%zu names)",
          (unsigned long long)ret->watch, prefix,
          roc_call_peer(call) ? roc_call_peer(call) : "?", n);
    roc_naming_EntryList l;
    rc = entries_ret(call, es, n, &l);
    ret->entries = l;
    return rc;
}

static int op_watching(void *self, roc_call *call, uint64_t watch, bool *ret)
{
    server *s = self;
    (void)call;
    *ret = ns_watch_hub_has(s->hub, watch);
    return 0;
}

static int op_unwatch(void *self, roc_call *call, uint64_t watch)
{
    server *s = self;
    (void)call;
    ns_watch_hub_remove(s->hub, watch);
    logf_(LOG_DEBUG, "unwatch %016llx", (unsigned long long)watch);
    return 0;
}

static const roc_naming_NameServer_ops ns_ops = {
    .ping = op_ping,
    .register_name = op_register,
    .lookup = op_lookup,
    .list_names = op_list,
    .lookup_meta = op_lookup_meta,
    .remove = op_remove,
    .remove_uri = op_remove_uri,
    .set_meta = op_set_meta,
    .count = op_count,
    .register_lease = op_register_lease,
    .keepalive = op_keepalive,
    .revoke = op_revoke,
    .watch = op_watch,
    .watching = op_watching,
    .unwatch = op_unwatch,
};

/* ------------------------------------------------------------ autoclean */

typedef struct cleaner {
    server *srv;
    int interval_s;
    pthread_t thread;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    bool stop;
} cleaner;

/* True when the daemon at url answers roc.daemon.ping. */
static bool daemon_alive(const char *url, int timeout_ms)
{
    char uri[2200];
    snprintf(uri, sizeof uri, "ROC:roc.daemon@%s", url);
    roc_proxy *p = NULL;
    if (roc_proxy_open(&p, uri, NULL) != 0)
        return false;
    roc_proxy_set_timeout(p, timeout_ms);
    roc_arena *a = NULL;
    roc_value *res = NULL;
    bool ok = roc_arena_new(&a) == 0 &&
              roc_proxy_call(p, "ping", NULL, &res, a, NULL) == 0;
    roc_arena_free(a);
    roc_proxy_close(p);
    return ok;
}

/* One sweep: ping every endpoint once, drop the URIs of those that do not
 * answer. */
static void sweep(cleaner *c)
{
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return;
    roc_ns_entry *es = NULL;
    size_t n = 0;
    if (ns_registry_list(c->srv->reg, "", ROC_NS_PREFIX, a, &es, &n, NULL)) {
        roc_arena_free(a);
        return;
    }
    int timeout = c->interval_s * 1000 / 2;
    if (timeout > 2000)
        timeout = 2000;
    if (timeout < 200)
        timeout = 200;
    /* endpoints already judged in this sweep: url -> alive */
    const char **urls = roc_arena_calloc(a, 1, sizeof *urls);
    bool *alive = NULL;
    size_t nurl = 0, cap = 0;
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < es[i].n_uris; j++) {
            roc_uri u;
            if (roc_uri_parse(a, es[i].uris[j], &u, NULL) != 0 || !u.url)
                continue;
            size_t k = 0;
            while (k < nurl && strcmp(urls[k], u.url) != 0)
                k++;
            if (k == nurl) {
                if (nurl == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    const char **nu = roc_arena_calloc(a, nc, sizeof *nu);
                    bool *na = roc_arena_calloc(a, nc, sizeof *na);
                    if (!nu || !na)
                        goto out;
                    memcpy(nu, urls, nurl * sizeof *nu);
                    if (alive)
                        memcpy(na, alive, nurl * sizeof *na);
                    urls = nu;
                    alive = na;
                    cap = nc;
                }
                urls[nurl] = u.url;
                alive[nurl] = daemon_alive(u.url, timeout);
                nurl++;
                pthread_mutex_lock(&c->mtx);
                bool stop = c->stop;
                pthread_mutex_unlock(&c->mtx);
                if (stop)
                    goto out;
            }
            if (!alive[k]) {
                size_t r = 0;
                if (ns_registry_remove_uri(c->srv->reg, es[i].name,
                                           es[i].uris[j], &r, NULL) == 0 &&
                    r) {
                    dropped++;
                    logf_(LOG_INFO,
                          "autoclean: dropped %s from %s "
                          "(its daemon does not answer)",
                          es[i].uris[j], es[i].name);
                }
            }
        }
    }
out:
    logf_(LOG_DEBUG, "autoclean: %zu endpoints checked, %zu URIs dropped", nurl,
          dropped);
    roc_arena_free(a);
}

static void *cleaner_main(void *arg)
{
    cleaner *c = arg;
    pthread_mutex_lock(&c->mtx);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += c->interval_s;
        while (!c->stop &&
               pthread_cond_timedwait(&c->cv, &c->mtx, &until) != ETIMEDOUT)
            ;
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mtx);
        sweep(c);
        pthread_mutex_lock(&c->mtx);
    }
    pthread_mutex_unlock(&c->mtx);
    return NULL;
}

/* ------------------------------------------------------------ security */

/* --open-lookups: reading the registry is open to every peer, changing it
 * needs the key. Methods not listed (the read-only ones, roc.daemon's, and
 * unknown ones, which then fail with roc.NoSuchMethod) are allowed. */
static int authorize_changes(const roc_peer_info *peer, const char *object,
                             const char *method, void *arg)
{
    (void)arg;
    static const char *const changes[] = {
        "register_name",  "remove",    "remove_uri", "set_meta",
        "register_lease", "keepalive", "revoke"};
    if (peer->authenticated || strcmp(object, ROC_NS_OBJECT) != 0)
        return 0;
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++)
        if (strcmp(method, changes[i]) == 0) {
            logf_(LOG_INFO, "refused %s from %s: it has not proven the key",
                  method, peer->address);
            return ROC_EUNAUTH;
        }
    return 0;
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: roc-ns [--url URL] [--store STORE | --db FILE] "
            "[--autoclean SECONDS] [--log LEVEL]\n"
            "              [--max-watches N]"
            " [--key-file F [--open-lookups]] [--tls-cert F] "
            "[--tls-ca F]\n"
            "              [--tls-require-client-cert] [--no-announce]\n"
            "\n"
            "The ROC name server: maps names to object URIs.\n"
            "  --url URL            listen here (default tcp://0.0.0.0:9090)\n"
            "  --store STORE        where registrations live: memory "
            "(default),\n"
            "                       sqlite:FILE, or etcd://HOST:PORT[,...]"
            "[/PREFIX]\n"
            "                       (shared by every roc-ns given the same)\n"
            "  --db FILE            the same as --store sqlite:FILE\n"
            "  --autoclean SECONDS  every SECONDS, drop the URIs whose daemon\n"
            "                       does not answer a ping (default: off)\n"
            "  --max-watches N      watches held at once at most (default "
            "4096)\n"
            "  --log LEVEL          error, warn, info (default) or debug;\n"
            "                       default from ROC_LOG\n"
            "  --key-file F         clients must prove this pre-shared key\n"
            "                       (default: ROC_KEY_FILE if set)\n"
            "  --open-lookups       with a key: lookups, lists, count and "
            "ping stay open;\n"
            "                       registering, removing and leases need "
            "the key\n"
            "  --tls-cert F         certificate+key PEM, for tls+tcp:// and "
            "wss:// URLs\n"
            "  --tls-ca F           CA file to check client certificates\n"
            "  --tls-require-client-cert  refuse clients without a "
            "certificate\n"
            "  --no-announce        do not announce this name server on the "
            "LAN\n"
            "                       (DNS-SD " ROC_DISCOVER_NS_TYPE
            " through avahi)\n"
            "Prints its URI on stdout; stops on SIGINT or SIGTERM.\n");
}

int main(int argc, char **argv)
{
    const char *url = "tcp://0.0.0.0:9090";
    const char *db = NULL;
    const char *store_url = NULL;
    long autoclean = 0;
    long max_watches = NS_MAX_WATCHERS;
    bool open_lookups = false;
    roc_daemon_opts opts;
    roc_daemon_opts_init(&opts);
    /* found on the LAN with no configuration (docs/discovery.md) */
    opts.announce = true;
    opts.announce_type = ROC_DISCOVER_NS_TYPE;
    const char *env_log = getenv("ROC_LOG");
    if (env_log && parse_level(env_log) >= 0)
        log_level = parse_level(env_log);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--open-lookups") == 0) {
            open_lookups = true;
            continue;
        }
        if (strcmp(a, "--no-announce") == 0) {
            opts.announce = false;
            continue;
        }
        if (strcmp(a, "--tls-require-client-cert") == 0) {
            opts.tls.require_client_cert = true;
            continue;
        }
        bool takes = strcmp(a, "--url") == 0 || strcmp(a, "--db") == 0 ||
                     strcmp(a, "--store") == 0 ||
                     strcmp(a, "--autoclean") == 0 || strcmp(a, "--log") == 0 ||
                     strcmp(a, "--max-watches") == 0 ||
                     strcmp(a, "--key-file") == 0 ||
                     strcmp(a, "--tls-cert") == 0 || strcmp(a, "--tls-ca") == 0;
        if (!takes) {
            fprintf(stderr, "roc-ns: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "roc-ns: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--url") == 0) {
            url = val;
        } else if (strcmp(a, "--db") == 0) {
            db = val;
        } else if (strcmp(a, "--key-file") == 0) {
            opts.key_file = val;
        } else if (strcmp(a, "--tls-cert") == 0) {
            opts.tls.cert_key_file = val;
        } else if (strcmp(a, "--tls-ca") == 0) {
            opts.tls.ca_file = val;
        } else if (strcmp(a, "--store") == 0) {
            store_url = val;
        } else if (strcmp(a, "--max-watches") == 0) {
            char *end;
            errno = 0;
            max_watches = strtol(val, &end, 10);
            if (errno || *end || end == val || max_watches < 0 ||
                max_watches > 1000000) {
                fprintf(stderr,
                        "roc-ns: --max-watches wants a number in "
                        "[0, 1000000], got '%s'\n",
                        val);
                return 2;
            }
        } else if (strcmp(a, "--autoclean") == 0) {
            char *end;
            errno = 0;
            autoclean = strtol(val, &end, 10);
            if (errno || *end || end == val || autoclean < 0 ||
                autoclean > 86400) {
                fprintf(stderr,
                        "roc-ns: --autoclean wants seconds in [0, 86400], "
                        "got '%s'\n",
                        val);
                return 2;
            }
        } else {
            int l = parse_level(val);
            if (l < 0) {
                fprintf(stderr,
                        "roc-ns: --log wants error, warn, info or debug, "
                        "got '%s'\n",
                        val);
                return 2;
            }
            log_level = l;
        }
    }

    const char *env_key = getenv("ROC_KEY_FILE");
    bool keyed = opts.key_file || (env_key && *env_key);
    if (open_lookups && !keyed) {
        fprintf(stderr, "roc-ns: --open-lookups needs a key (--key-file or "
                        "ROC_KEY_FILE); without one everything is open\n");
        return 2;
    }
    if (open_lookups)
        opts.authorize = authorize_changes;
    opts.key_optional = open_lookups; /* peers without the key: reads only */
    if (opts.key_file) {
        /* the same key for the autoclean pings of keyed daemons */
        roc_error kerr = ROC_ERROR_INIT;
        if (roc_client_set_key_file(opts.key_file, &kerr) != 0) {
            logf_(LOG_ERROR, "%s", kerr.message);
            roc_error_clear(&kerr);
            return 1;
        }
    }

    /* Block the stop signals before any runtime thread exists, so that
     * only sigwait below sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    roc_error err = ROC_ERROR_INIT;
    ns_store *store = NULL;
    int rc = store_url ? ns_store_open(&store, store_url, &err)
             : db      ? ns_store_sqlite_open(&store, db, &err)
                       : ns_store_memory_open(&store, &err);
    server srv = {NULL};
    if (rc == 0)
        rc = ns_registry_open(&srv.reg, store, &err);
    if (rc == 0 && (rc = ns_watch_hub_open(&srv.hub, srv.reg,
                                              (size_t)max_watches, &err)) != 0)
        ns_registry_close(srv.reg);
    if (rc) {
        logf_(LOG_ERROR, "cannot open the store: %s",
              err.message ? err.message : roc_strerror(rc));
        roc_error_clear(&err);
        return 1;
    }

    roc_daemon *d = NULL;
    rc = roc_daemon_open(&d, url, &opts, &err);
    if (rc) {
        logf_(LOG_ERROR, "cannot listen on %s: %s", url,
              err.message ? err.message : roc_strerror(rc));
        roc_error_clear(&err);
        ns_watch_hub_close(srv.hub);
        ns_registry_close(srv.reg);
        return 1;
    }
    roc_naming_NameServer_impl impl = {&ns_ops, &srv, 0};
    roc_servant servant = roc_naming_NameServer_servant(&impl);
    /* Lookups run on the I/O thread that read them (no hand-off); changes
     * may wait for the disk, so they go to the worker pool. */
    roc_method *methods = calloc(servant.n_methods, sizeof *methods);
    if (!methods) {
        logf_(LOG_ERROR, "out of memory");
        roc_daemon_close(d);
        ns_watch_hub_close(srv.hub);
        ns_registry_close(srv.reg);
        return 1;
    }
    memcpy(methods, servant.methods, servant.n_methods * sizeof *methods);
    bool slow = strcmp(store->ops->kind, "memory") != 0;
    for (size_t i = 0; i < servant.n_methods; i++)
        if (strcmp(methods[i].name, "keepalive") == 0 ||
            strcmp(methods[i].name, "revoke") == 0 ||
            (slow && !(methods[i].flags & ROC_METHOD_IDEMPOTENT)))
            methods[i].flags |= ROC_METHOD_BLOCKING;
    servant.methods = methods;
    char *uri = NULL;
    rc = roc_daemon_register(d, ROC_NS_OBJECT, &servant, &uri);
    if (rc == 0)
        rc = roc_daemon_start(d);
    if (rc) {
        logf_(LOG_ERROR, "cannot serve: %s", roc_strerror(rc));
        free(uri);
        roc_daemon_close(d);
        free(methods);
        ns_watch_hub_close(srv.hub);
        ns_registry_close(srv.reg);
        return 1;
    }
    printf("%s\n", uri);
    fflush(stdout);
    logf_(LOG_INFO, "serving %zu name(s) at %s (storage: %s %s)%s%s",
          ns_registry_count(srv.reg), uri,
          ns_registry_store(srv.reg)->ops->kind,
          ns_registry_store(srv.reg)->where, autoclean ? ", autoclean on" : "",
          !keyed         ? ""
          : open_lookups ? ", key required for changes"
                         : ", key required");
    if (opts.announce) {
        /* said once: the LAN cannot find us, clients need ROC_NS or --ns */
        roc_error aerr = ROC_ERROR_INIT;
        int arc = roc_daemon_announced(d, 0, &aerr);
        if (arc == ROC_EUNAVAIL || arc == ROC_EEXIST)
            logf_(LOG_WARN,
                  "not announced on the LAN: %s; clients must be "
                  "told where this name server is (ROC_NS, --ns)",
                  aerr.message);
        else
            logf_(LOG_INFO, "announcing on the LAN as %s",
                  ROC_DISCOVER_NS_TYPE);
        roc_error_clear(&aerr);
    }

    cleaner cl = {.srv = &srv, .interval_s = (int)autoclean};
    pthread_mutex_init(&cl.mtx, NULL);
    pthread_cond_init(&cl.cv, NULL);
    bool cleaning = autoclean > 0 &&
                    pthread_create(&cl.thread, NULL, cleaner_main, &cl) == 0;

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    logf_(LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (cleaning) {
        pthread_mutex_lock(&cl.mtx);
        cl.stop = true;
        pthread_cond_signal(&cl.cv);
        pthread_mutex_unlock(&cl.mtx);
        pthread_join(cl.thread, NULL);
    }
    pthread_mutex_destroy(&cl.mtx);
    pthread_cond_destroy(&cl.cv);
    roc_daemon_shutdown(d);
    ns_watch_hub_close(srv.hub);
    roc_daemon_close(d);
    free(methods);
    free(uri);
    ns_registry_close(srv.reg);
    return 0;
}
