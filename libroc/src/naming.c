/* Naming client: the roc_ns_* API (roc/naming.h) and the resolution of
 * ROCNAME:/ROCMETA: URIs for proxies (roci_naming_resolve).
 *
 * The name server's interface is nameserver/naming.roc; this file calls it
 * through the stubs rocgen generates from it (naming.roc.h, compiled into
 * libroc), so client and server cannot disagree on the wire shapes. The
 * IDL's exceptions are mapped to codes: roc.naming.NotFound to
 * ROC_ENOTFOUND, roc.naming.Exists to ROC_EEXIST (err keeps the remote type
 * and message).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>

#include "naming.roc.h"
#include "roci.h"
#include "roci_discovery.h"

struct roc_ns {
    size_t n;                  /* name servers (url/ROC_NS may list several) */
    roc_naming_NameServer **p; /* one proxy each (no I/O until used) */
    char **uris;               /* their object URIs */
    _Atomic size_t cur;        /* the one in use */
    char *spec;                /* the url list as given (for a keeper) */
    int timeout_ms;            /* 0: the default */
    char *note; /* the location was a fallback: why (for error messages) */
};

/* The proxy of the name server in use. */
#define P(ns) ((ns)->p[atomic_load(&(ns)->cur) % (ns)->n])

/* Where the name server is when nobody said: ROC_NS, else the first one
 * that answers on the LAN (discovery.c, _roc-ns._tcp, bounded wait,
 * cached), else the default. why (may be NULL) gets the reason the LAN
 * gave none, and *fallback whether the default was taken. */
static const char *ns_where(char *why, size_t wlen, bool *fallback)
{
    static _Thread_local char found[512];
    const char *e = getenv("ROC_NS");
    *fallback = false;
    if (e && *e)
        return e;
    if (roci_discover_ns(found, sizeof found, why, wlen))
        return found;
    *fallback = true;
    return ROC_NS_DEFAULT_URL;
}

const char *roc_ns_default_url(void)
{
    bool fb;
    return ns_where(NULL, 0, &fb);
}

/* The object URI of one url of the list (malloc'd), checked. */
static int one_uri(const char *url, size_t len, char **out, roc_error *err)
{
    *out = NULL;
    while (len && (*url == ' ' || *url == '\t'))
        url++, len--;
    while (len && (url[len - 1] == ' ' || url[len - 1] == '\t'))
        len--;
    if (len == 0)
        return roc_error_set(err, ROC_EINVAL,
                             "an empty name server URL in the list");
    char *u = strndup(url, len);
    if (!u)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    if (strncasecmp(u, "ROC:", 4) == 0) {
        *out = u;
        return 0;
    }
    int rc = roc_url_check(u, err);
    if (rc) {
        free(u);
        return rc;
    }
    size_t n = len + sizeof "ROC:" ROC_NS_OBJECT "@";
    char *uri = malloc(n);
    if (uri)
        snprintf(uri, n, "ROC:%s@%s", ROC_NS_OBJECT, u);
    free(u);
    if (!uri)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    *out = uri;
    return 0;
}

void roc_ns_close(roc_ns *ns)
{
    if (!ns)
        return;
    for (size_t i = 0; i < ns->n; i++) {
        if (ns->p && ns->p[i])
            roc_naming_NameServer_close(ns->p[i]);
        if (ns->uris)
            free(ns->uris[i]);
    }
    free(ns->p);
    free(ns->uris);
    free(ns->spec);
    free(ns->note);
    free(ns);
}

static size_t last_good_get(const char *spec);

int roc_ns_open(roc_ns **out, const char *url, roc_error *err)
{
    if (!out)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_open: no handle");
    *out = NULL;
    char why[300] = "";
    bool fallback = false;
    if (!url || !*url)
        url = ns_where(why, sizeof why, &fallback);
    /* (url may point at a thread-local copy: copied at once) */
    size_t n = 1;
    for (const char *c = url; *c; c++)
        n += *c == ',';
    roc_ns *ns = calloc(1, sizeof *ns);
    if (!ns || !(ns->spec = strdup(url)) ||
        !(ns->p = calloc(n, sizeof *ns->p)) ||
        !(ns->uris = calloc(n, sizeof *ns->uris))) {
        if (ns) {
            free(ns->spec);
            free(ns->p);
            free(ns);
        }
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    ns->n = n;
    atomic_init(&ns->cur, n > 1 ? last_good_get(ns->spec) % n : 0);
    const char *s = ns->spec;
    for (size_t i = 0; i < n; i++) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        int rc = one_uri(s, len, &ns->uris[i], err);
        if (rc == 0)
            rc = roc_naming_NameServer_open(&ns->p[i], ns->uris[i], err);
        if (rc) {
            roc_ns_close(ns);
            return rc;
        }
        s = c ? c + 1 : s + len;
    }
    if (fallback && why[0]) {
        size_t nn = strlen(why) + 160;
        if ((ns->note = malloc(nn)) != NULL)
            snprintf(ns->note, nn,
                     "ROC_NS is not set; no name server found on the LAN: "
                     "%s; fell back to " ROC_NS_DEFAULT_URL,
                     why);
    }
    *out = ns;
    return 0;
}

const char *roc_ns_uri(const roc_ns *ns)
{
    return ns ? ns->uris[atomic_load(&((roc_ns *)ns)->cur) % ns->n] : NULL;
}

void roc_ns_set_timeout(roc_ns *ns, int timeout_ms)
{
    if (!ns)
        return;
    ns->timeout_ms = timeout_ms;
    for (size_t i = 0; i < ns->n; i++)
        roc_proxy_set_timeout(roc_naming_NameServer_proxy(ns->p[i]),
                              timeout_ms);
}

/* Errors that say the name server did not answer (another may). */
static bool no_answer(int rc)
{
    return rc == ROC_ECONNREFUSED || rc == ROC_EUNREACHABLE ||
           rc == ROC_ETIMEDOUT || rc == ROC_ECLOSED || rc == ROC_ETRANSPORT;
}

/* The name server of a list that answered last, per list, for the whole
 * process: a handle opened later on the same list begins there rather
 * than with one that was found dead (which costs a timeout when its host
 * is down). A few lists at most are in use; the table is small. */
#define LAST_GOOD_MAX 8
static pthread_mutex_t last_good_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *spec;
    size_t cur;
} last_good[LAST_GOOD_MAX];

static size_t last_good_get(const char *spec)
{
    size_t cur = 0;
    pthread_mutex_lock(&last_good_mtx);
    for (size_t i = 0; i < LAST_GOOD_MAX && last_good[i].spec; i++)
        if (strcmp(last_good[i].spec, spec) == 0)
            cur = last_good[i].cur;
    pthread_mutex_unlock(&last_good_mtx);
    return cur;
}

static void last_good_set(const char *spec, size_t cur)
{
    pthread_mutex_lock(&last_good_mtx);
    size_t i = 0;
    while (i < LAST_GOOD_MAX && last_good[i].spec &&
           strcmp(last_good[i].spec, spec) != 0)
        i++;
    if (i == LAST_GOOD_MAX) { /* full: the oldest goes */
        free(last_good[0].spec);
        memmove(last_good, last_good + 1,
                (LAST_GOOD_MAX - 1) * sizeof last_good[0]);
        last_good[--i].spec = NULL;
    }
    if (!last_good[i].spec)
        last_good[i].spec = strdup(spec);
    last_good[i].cur = cur;
    pthread_mutex_unlock(&last_good_mtx);
}

/* After a call that failed with rc on its attempt tries (0, 1, ...):
 * moves to the next name server of the list and says whether to call
 * again (once per name server). */
static bool fail_over(roc_ns *ns, int rc, size_t tries)
{
    if (!ns || ns->n < 2 || !no_answer(rc) || tries + 1 >= ns->n)
        return false;
    size_t cur = atomic_fetch_add(&ns->cur, 1) + 1;
    last_good_set(ns->spec, cur % ns->n);
    return true;
}

/* After every name server of a list failed to answer: say so. */
static int all_failed(roc_ns *ns, int rc, roc_error *err)
{
    if (!ns || ns->n < 2 || !no_answer(rc) || !err || !err->message)
        return rc;
    char *m = strdup(err->message);
    if (m)
        roc_error_set(err, rc, "%s (none of the %zu name servers answered)",
                      m, ns->n);
    free(m);
    return rc;
}

/* Maps the IDL's exceptions to codes, in err (when given) and the result. */
static int map_err(int rc, roc_error *err)
{
    if (rc != ROC_EREMOTE || !err || !err->type)
        return rc;
    if (strcmp(err->type, "roc.naming.NotFound") == 0)
        rc = ROC_ENOTFOUND;
    else if (strcmp(err->type, "roc.naming.Exists") == 0)
        rc = ROC_EEXIST;
    err->code = rc;
    return rc;
}

/* A name server that does not answer at a fallback location: say why
 * that location was taken. */
static int add_note(roc_ns *ns, int rc, roc_error *err)
{
    if (!ns || !ns->note || !err || !err->message ||
        (rc != ROC_ECONNREFUSED && rc != ROC_EUNREACHABLE &&
         rc != ROC_ETIMEDOUT && rc != ROC_ECLOSED && rc != ROC_ETRANSPORT))
        return rc;
    char *m = strdup(err->message);
    if (m)
        roc_error_set(err, rc, "%s (%s)", m, ns->note);
    free(m);
    return rc;
}

/* Runs one stub call with a private error when the caller gave none (the
 * exception type is needed to map it); when the name server does not
 * answer and may fail over, the call goes to the next one of the list. */
#define NS_CALL_FO(ns, err, call, may_fail_over)                               \
    do {                                                                       \
        roc_error local_ = ROC_ERROR_INIT;                                     \
        roc_error *e_ = (err) ? (err) : &local_;                               \
        int rc_;                                                               \
        for (size_t try_ = 0;; try_++) {                                       \
            rc_ = map_err((call), e_);                                         \
            if (!(may_fail_over) || !fail_over((ns), rc_, try_))               \
                break;                                                         \
        }                                                                      \
        rc_ = add_note((ns), all_failed((ns), rc_, e_), e_);                   \
        roc_error_clear(&local_);                                              \
        return rc_;                                                            \
    } while (0)
#define NS_CALL(ns, err, call) NS_CALL_FO(ns, err, call, true)

static int check_ns(roc_ns *ns, roc_error *err)
{
    return ns ? 0 : roc_error_set(err, ROC_EINVAL, "no name server handle");
}

static roc_naming_stringList strlist(const char *const *v, size_t n)
{
    roc_naming_stringList l = {(const char **)v, v ? n : 0};
    return l;
}

static int do_register(roc_ns *ns, const char *name, const char *uri,
                       const char *const *meta, size_t n_meta, unsigned flags,
                       roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!name || !uri || (n_meta && !meta))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_register: name and uri are required");
    return roc_naming_NameServer_register_name(
        P(ns), name, uri, strlist(meta, n_meta), flags, err);
}

int roc_ns_register(roc_ns *ns, const char *name, const char *uri,
                    const char *const *meta, size_t n_meta, unsigned flags,
                    roc_error *err)
{
    NS_CALL(ns, err, do_register(ns, name, uri, meta, n_meta, flags, e_));
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Errors after which a lookup with a wait asks again. */
static bool retry_lookup(int rc)
{
    return rc == ROC_ENOTFOUND || rc == ROC_ECONNREFUSED ||
           rc == ROC_EUNREACHABLE || rc == ROC_ECLOSED;
}

static int do_lookup_all(roc_ns *ns, const char *name, int wait_ms,
                         roc_arena *a, const char ***uris, size_t *n,
                         roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!name || !a || !uris || !n)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_lookup: bad arguments");
    uint64_t end = roci_now_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    size_t skips = 0;
    for (;;) {
        roc_naming_stringList l = {NULL, 0};
        rc =
            map_err(roc_naming_NameServer_lookup(P(ns), name, &l, a, err), err);
        if (rc == 0) {
            *uris = l.items;
            *n = l.len;
            return 0;
        }
        if (!retry_lookup(rc) || roci_now_ms() >= end)
            return rc;
        if (no_answer(rc) && ns->n > 1) {
            atomic_fetch_add(&ns->cur, 1); /* the next one, at once */
            if (++skips % ns->n != 0)
                continue;
        }
        pause_ms(20);
    }
}

int roc_ns_lookup_all(roc_ns *ns, const char *name, int wait_ms, roc_arena *a,
                      const char ***uris, size_t *n, roc_error *err)
{
    NS_CALL_FO(ns, err, do_lookup_all(ns, name, wait_ms, a, uris, n, e_),
               wait_ms <= 0); /* (with a wait, its loop fails over) */
}

static int do_lookup(roc_ns *ns, const char *name, int wait_ms, char **uri,
                     roc_error *err)
{
    if (!uri)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_lookup: no output");
    *uri = NULL;
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    const char **uris = NULL;
    size_t n = 0;
    int rc = do_lookup_all(ns, name, wait_ms, a, &uris, &n, err);
    if (rc == 0 && n == 0)
        rc = roc_error_set(err, ROC_ENOTFOUND, "'%s' holds no URI", name);
    if (rc == 0 && !(*uri = strdup(uris[0])))
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    roc_arena_free(a);
    return rc;
}

int roc_ns_lookup(roc_ns *ns, const char *name, int wait_ms, char **uri,
                  roc_error *err)
{
    NS_CALL_FO(ns, err, do_lookup(ns, name, wait_ms, uri, e_), wait_ms <= 0);
}

/* Converts decoded entries to the public struct, in a. */
static int entries_out(const roc_naming_EntryList *l, roc_arena *a,
                       roc_ns_entry **entries, size_t *n, roc_error *err)
{
    roc_ns_entry *es = roc_arena_calloc(a, l->len ? l->len : 1, sizeof *es);
    if (!es)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->len; i++) {
        const roc_naming_Entry *e = &l->items[i];
        es[i].name = e->name;
        es[i].uris = e->uris.items;
        es[i].n_uris = e->uris.len;
        es[i].meta = e->meta.items;
        es[i].n_meta = e->meta.len;
    }
    *entries = es;
    *n = l->len;
    return 0;
}

static int do_list(roc_ns *ns, const char *pattern, roc_ns_match how,
                   roc_arena *a, roc_ns_entry **entries, size_t *n,
                   roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!a || !entries || !n)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_list: bad arguments");
    roc_naming_EntryList l = {NULL, 0};
    rc = roc_naming_NameServer_list_names(P(ns), pattern ? pattern : "",
                                          (roc_naming_Match)how, &l, a, err);
    return rc ? rc : entries_out(&l, a, entries, n, err);
}

int roc_ns_list(roc_ns *ns, const char *pattern, roc_ns_match how, roc_arena *a,
                roc_ns_entry **entries, size_t *n, roc_error *err)
{
    NS_CALL(ns, err, do_list(ns, pattern, how, a, entries, n, e_));
}

static int do_lookup_meta(roc_ns *ns, const char *const *tags, size_t n_tags,
                          bool any, roc_arena *a, roc_ns_entry **entries,
                          size_t *n, roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!a || !entries || !n || (n_tags && !tags))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_lookup_meta: bad arguments");
    roc_naming_EntryList l = {NULL, 0};
    rc = roc_naming_NameServer_lookup_meta(P(ns), strlist(tags, n_tags), any,
                                           &l, a, err);
    return rc ? rc : entries_out(&l, a, entries, n, err);
}

int roc_ns_lookup_meta(roc_ns *ns, const char *const *tags, size_t n_tags,
                       bool any, roc_arena *a, roc_ns_entry **entries,
                       size_t *n, roc_error *err)
{
    NS_CALL(ns, err, do_lookup_meta(ns, tags, n_tags, any, a, entries, n, e_));
}

static int do_remove(roc_ns *ns, const char *pattern, roc_ns_match how,
                     size_t *removed, roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!pattern)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_remove: no pattern");
    uint32_t k = 0;
    rc = roc_naming_NameServer_remove(P(ns), pattern, (roc_naming_Match)how, &k,
                                      NULL, err);
    if (rc == 0 && removed)
        *removed = k;
    return rc;
}

int roc_ns_remove(roc_ns *ns, const char *pattern, roc_ns_match how,
                  size_t *removed, roc_error *err)
{
    NS_CALL(ns, err, do_remove(ns, pattern, how, removed, e_));
}

static int do_remove_uri(roc_ns *ns, const char *name, const char *uri,
                         size_t *removed, roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!name || !uri)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_remove_uri: name and uri are required");
    uint32_t k = 0;
    rc = roc_naming_NameServer_remove_uri(P(ns), name, uri, &k, NULL, err);
    if (rc == 0 && removed)
        *removed = k;
    return rc;
}

int roc_ns_remove_uri(roc_ns *ns, const char *name, const char *uri,
                      size_t *removed, roc_error *err)
{
    NS_CALL(ns, err, do_remove_uri(ns, name, uri, removed, e_));
}

static int do_set_meta(roc_ns *ns, const char *name, const char *const *meta,
                       size_t n_meta, roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!name || (n_meta && !meta))
        return roc_error_set(err, ROC_EINVAL, "roc_ns_set_meta: no name");
    return roc_naming_NameServer_set_meta(P(ns), name, strlist(meta, n_meta),
                                          err);
}

int roc_ns_set_meta(roc_ns *ns, const char *name, const char *const *meta,
                    size_t n_meta, roc_error *err)
{
    NS_CALL(ns, err, do_set_meta(ns, name, meta, n_meta, e_));
}

static int do_count(roc_ns *ns, uint64_t *count, roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!count)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_count: no output");
    return roc_naming_NameServer_count(P(ns), count, NULL, err);
}

int roc_ns_count(roc_ns *ns, uint64_t *count, roc_error *err)
{
    NS_CALL(ns, err, do_count(ns, count, e_));
}

static int do_ping(roc_ns *ns, roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    const char *pong = NULL;
    rc = roc_naming_NameServer_ping(P(ns), &pong, a, err);
    if (rc == 0 && (!pong || strcmp(pong, "pong") != 0))
        rc = roc_error_set(err, ROC_EPROTO,
                           "the name server answered ping with '%s'",
                           pong ? pong : "");
    roc_arena_free(a);
    return rc;
}

int roc_ns_ping(roc_ns *ns, roc_error *err)
{
    NS_CALL(ns, err, do_ping(ns, e_));
}

/* ------------------------------------------------------------ leases */

static int do_register_lease(roc_ns *ns, const char *name, const char *uri,
                             const char *const *meta, size_t n_meta,
                             unsigned flags, unsigned ttl_s, uint64_t *lease,
                             roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!name || !uri || !lease || (n_meta && !meta))
        return roc_error_set(
            err, ROC_EINVAL,
            "roc_ns_register_lease: name, uri and lease are required");
    uint64_t got = 0;
    rc = roc_naming_NameServer_register_lease(P(ns), name, uri,
                                              strlist(meta, n_meta), flags,
                                              ttl_s, *lease, &got, NULL, err);
    if (rc == 0)
        *lease = got;
    return rc;
}

int roc_ns_register_lease(roc_ns *ns, const char *name, const char *uri,
                          const char *const *meta, size_t n_meta,
                          unsigned flags, unsigned ttl_s, uint64_t *lease,
                          roc_error *err)
{
    NS_CALL(ns, err,
            do_register_lease(ns, name, uri, meta, n_meta, flags, ttl_s, lease,
                              e_));
}

static int do_keepalive(roc_ns *ns, uint64_t lease, unsigned *ttl_s,
                        roc_error *err)
{
    int rc = check_ns(ns, err);
    if (rc)
        return rc;
    uint32_t t = 0;
    rc = roc_naming_NameServer_keepalive(P(ns), lease, &t, NULL, err);
    if (rc == 0 && ttl_s)
        *ttl_s = t;
    return rc;
}

int roc_ns_keepalive(roc_ns *ns, uint64_t lease, unsigned *ttl_s,
                     roc_error *err)
{
    NS_CALL(ns, err, do_keepalive(ns, lease, ttl_s, e_));
}

static int do_revoke(roc_ns *ns, uint64_t lease, roc_error *err)
{
    int rc = check_ns(ns, err);
    return rc ? rc : roc_naming_NameServer_revoke(P(ns), lease, err);
}

int roc_ns_revoke(roc_ns *ns, uint64_t lease, roc_error *err)
{
    NS_CALL(ns, err, do_revoke(ns, lease, e_));
}

/* One registration a keeper holds. */
typedef struct keeper_reg {
    char *name, *uri;
    char **meta;
    size_t n_meta;
    unsigned flags;
} keeper_reg;

struct roc_ns_keeper {
    roc_ns *ns; /* a handle of its own (the thread uses it) */
    unsigned ttl;
    pthread_mutex_t mu; /* everything below; held during calls */
    pthread_cond_t cv;
    bool stop;
    _Atomic uint64_t lease;
    keeper_reg *regs;
    size_t n_regs, cap;
    pthread_t th;
};

static void reg_free(keeper_reg *r)
{
    free(r->name);
    free(r->uri);
    for (size_t i = 0; i < r->n_meta; i++)
        free(r->meta[i]);
    free(r->meta);
}

/* Registers r under the keeper's lease (a new one when it holds none);
 * k->mu held. */
static int keeper_register(roc_ns_keeper *k, const keeper_reg *r,
                           roc_error *err)
{
    uint64_t lease = atomic_load(&k->lease);
    int rc = roc_ns_register_lease(k->ns, r->name, r->uri,
                                   (const char *const *)r->meta, r->n_meta,
                                   r->flags, k->ttl, &lease, err);
    if (rc == 0)
        atomic_store(&k->lease, lease);
    return rc;
}

/* The lease expired anyway: registers everything again under a new one;
 * k->mu held. A name taken meanwhile by someone else is taken over only
 * when it was registered with ROC_NS_REPLACE or ROC_NS_ADD_REPLICA. */
static int keeper_reregister(roc_ns_keeper *k)
{
    atomic_store(&k->lease, 0);
    int rc = 0;
    for (size_t i = 0; i < k->n_regs; i++) {
        int r = keeper_register(k, &k->regs[i], NULL);
        if (r && r != ROC_EEXIST && rc == 0)
            rc = r;
    }
    return rc;
}

static void *keeper_main(void *arg)
{
    roc_ns_keeper *k = arg;
    const uint64_t period = (uint64_t)k->ttl * 1000 / 3;
    uint64_t wait = period;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns_ = (uint64_t)ts.tv_nsec + (wait % 1000) * 1000000u;
        ts.tv_sec += (time_t)(wait / 1000 + ns_ / 1000000000u);
        ts.tv_nsec = (long)(ns_ % 1000000000u);
        while (!k->stop &&
               pthread_cond_timedwait(&k->cv, &k->mu, &ts) == 0)
            ;
        if (k->stop)
            break;
        int rc = 0;
        uint64_t lease = atomic_load(&k->lease);
        if (lease) {
            rc = roc_ns_keepalive(k->ns, lease, NULL, NULL);
            if (rc == ROC_ENOTFOUND)
                rc = keeper_reregister(k);
        } else if (k->n_regs) {
            rc = keeper_reregister(k);
        }
        /* after a failure ask again sooner (still within the TTL) */
        wait = rc ? period / 2 : period;
        if (wait < 50)
            wait = 50;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static int reg_copy(keeper_reg *r, const char *name, const char *uri,
                    const char *const *meta, size_t n_meta, unsigned flags)
{
    memset(r, 0, sizeof *r);
    r->flags = flags;
    if (!(r->name = strdup(name)) || !(r->uri = strdup(uri)) ||
        (n_meta && !(r->meta = calloc(n_meta, sizeof *r->meta)))) {
        reg_free(r);
        return ROC_ENOMEM;
    }
    for (; r->n_meta < n_meta; r->n_meta++)
        if (!(r->meta[r->n_meta] = strdup(meta[r->n_meta]))) {
            reg_free(r);
            return ROC_ENOMEM;
        }
    return 0;
}

int roc_ns_keeper_add(roc_ns_keeper *k, const char *name, const char *uri,
                      const char *const *meta, size_t n_meta, unsigned flags,
                      roc_error *err)
{
    if (!k || !name || !uri || (n_meta && !meta))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_keeper_add: keeper, name and uri are "
                             "required");
    keeper_reg r;
    if (reg_copy(&r, name, uri, meta, n_meta, flags))
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    pthread_mutex_lock(&k->mu);
    int rc = 0;
    if (k->n_regs == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 4;
        keeper_reg *nv = realloc(k->regs, nc * sizeof *nv);
        if (!nv)
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        else
            k->regs = nv, k->cap = nc;
    }
    if (rc == 0) {
        rc = keeper_register(k, &r, err);
        if (rc == ROC_ENOTFOUND) { /* the lease had expired: a new one */
            roc_error_clear(err);
            keeper_reregister(k);
            rc = keeper_register(k, &r, err);
        }
    }
    if (rc == 0)
        k->regs[k->n_regs++] = r;
    else
        reg_free(&r);
    pthread_mutex_unlock(&k->mu);
    return rc;
}

int roc_ns_keeper_remove(roc_ns_keeper *k, const char *name, const char *uri,
                         size_t *removed, roc_error *err)
{
    if (removed)
        *removed = 0;
    if (!k)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_keeper_remove: no keeper");
    int rc = 0;
    pthread_mutex_lock(&k->mu);
    size_t w = 0;
    for (size_t i = 0; i < k->n_regs; i++) {
        keeper_reg *r = &k->regs[i];
        if ((name && strcmp(r->name, name) != 0) ||
            (uri && strcmp(r->uri, uri) != 0)) {
            k->regs[w++] = *r;
            continue;
        }
        /* no longer kept, whatever the name server answers (if it does
         * not, the registration goes with the lease) */
        int r_rc = roc_ns_remove_uri(k->ns, r->name, r->uri, NULL,
                                     rc ? NULL : err);
        if (r_rc && rc == 0)
            rc = r_rc;
        reg_free(r);
        if (removed)
            (*removed)++;
    }
    k->n_regs = w;
    pthread_mutex_unlock(&k->mu);
    return rc;
}

uint64_t roc_ns_keeper_lease(roc_ns_keeper *k)
{
    return k ? atomic_load(&k->lease) : 0;
}

static void keeper_free(roc_ns_keeper *k)
{
    for (size_t i = 0; i < k->n_regs; i++)
        reg_free(&k->regs[i]);
    free(k->regs);
    roc_ns_close(k->ns);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

int roc_ns_keeper_start(roc_ns *ns, const char *name, const char *uri,
                        unsigned flags, unsigned ttl_s, roc_ns_keeper **out,
                        roc_error *err)
{
    if (!out)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_keeper_start: no handle");
    *out = NULL;
    if (!ns || (!name) != (!uri))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_keeper_start: a name server handle and "
                             "both name and uri (or neither) are required");
    if (ttl_s < 1 || ttl_s > 3600)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_keeper_start: ttl %u s is not in 1..3600",
                             ttl_s);
    roc_ns_keeper *k = calloc(1, sizeof *k);
    if (!k)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    k->ttl = ttl_s;
    atomic_init(&k->lease, 0);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    int rc = roc_ns_open(&k->ns, ns->spec, err);
    if (rc) {
        free(k);
        return rc;
    }
    atomic_store(&k->ns->cur, atomic_load(&ns->cur));
    /* a renewal must not outlast the lease: each call gets a third of it
     * (or the handle's own timeout when that is shorter) */
    int t = (int)(ttl_s * 1000 / 3);
    if (ns->timeout_ms > 0 && ns->timeout_ms < t)
        t = ns->timeout_ms;
    roc_ns_set_timeout(k->ns, t < 100 ? 100 : t);
    if (name && (rc = roc_ns_keeper_add(k, name, uri, NULL, 0, flags, err))) {
        keeper_free(k);
        return rc;
    }
    if (pthread_create(&k->th, NULL, keeper_main, k) != 0) {
        uint64_t lease = atomic_load(&k->lease);
        if (lease)
            roc_ns_revoke(k->ns, lease, NULL);
        keeper_free(k);
        return roc_error_set(err, ROC_ENOMEM, "no thread for the keeper");
    }
    *out = k;
    return 0;
}

void roc_ns_keeper_stop(roc_ns_keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->th, NULL);
    uint64_t lease = atomic_load(&k->lease);
    if (lease)
        roc_ns_revoke(k->ns, lease, NULL);
    keeper_free(k);
}

/* ------------------------------------------------------------ watches */

/* One registration as the watch last knew it. */
typedef struct wentry {
    char *name;
    char **uris;
    size_t n_uris;
    char **meta;
    size_t n_meta;
} wentry;

/* A change that came before the watch knew its id (held until it does). */
typedef struct wpending {
    uint64_t watch, seq;
    wentry e; /* n_uris 0: removed */
} wpending;

/* A watch's ROC_NS_* callbacks: the state below, under mu, is changed and
 * told in one go, so that callbacks arrive in the order of the changes. */
struct roc_ns_watch {
    roc_ns *ns;             /* a handle of its own (the thread uses it) */
    char *prefix;
    roc_ns_watch_fn fn;
    void *arg;
    roc_export *exp;        /* the Watcher servant */
    roc_proxy *local;       /* stands for it in calls */
    roc_naming_Watcher_impl impl;
    int check_ms;
    pthread_mutex_t mu;     /* everything below */
    pthread_cond_t cv;
    bool stop;
    uint64_t id, seq;       /* the watch in force (0: none) */
    wentry *v;              /* what the names hold, sorted by name */
    size_t n, cap;
    wpending *pend;
    size_t n_pend;
    bool pend_lost;         /* too many held: start over */
    bool resync;            /* the view missed a change: watch again */
    bool lost;              /* told ROC_NS_LOST, not yet made again */
    pthread_t th;
};

#define WATCH_MAX_PENDING 4096
#define WATCH_TIMEOUT_MS 5000

static void wentry_free(wentry *e)
{
    free(e->name);
    for (size_t i = 0; i < e->n_uris; i++)
        free(e->uris[i]);
    free(e->uris);
    for (size_t i = 0; i < e->n_meta; i++)
        free(e->meta[i]);
    free(e->meta);
    memset(e, 0, sizeof *e);
}

static char **strv_copy(const char *const *v, size_t n)
{
    char **o = calloc(n ? n : 1, sizeof *o);
    for (size_t i = 0; o && i < n; i++)
        if (!(o[i] = strdup(v[i]))) {
            while (i)
                free(o[--i]);
            free(o);
            return NULL;
        }
    return o;
}

static int wentry_set(wentry *e, const char *name, const char *const *uris,
                      size_t n_uris, const char *const *meta, size_t n_meta)
{
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->uris = strv_copy(uris, n_uris);
    e->meta = strv_copy(meta, n_meta);
    if (!e->name || !e->uris || !e->meta) {
        free(e->name);
        if (e->uris)
            for (size_t i = 0; i < n_uris; i++)
                free(e->uris[i]);
        free(e->uris);
        if (e->meta)
            for (size_t i = 0; i < n_meta; i++)
                free(e->meta[i]);
        free(e->meta);
        memset(e, 0, sizeof *e);
        return ROC_ENOMEM;
    }
    e->n_uris = n_uris;
    e->n_meta = n_meta;
    return 0;
}

static bool strv_same(char *const *a, size_t na, const char *const *b,
                      size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static void tell(roc_ns_watch *w, roc_ns_event ev, const wentry *e)
{
    roc_ns_entry o = {0};
    if (e) {
        o.name = e->name;
        o.uris = (const char **)e->uris;
        o.n_uris = ev == ROC_NS_REMOVED ? 0 : e->n_uris;
        o.meta = (const char **)e->meta;
        o.n_meta = ev == ROC_NS_REMOVED ? 0 : e->n_meta;
    }
    w->fn(w->arg, ev, e ? &o : NULL);
}

/* Index of name in w->v, or -(insertion point) - 1. */
static long wfind(const roc_ns_watch *w, const char *name)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->v[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* name now holds uris/meta (n_uris 0: removed): the view follows and the
 * callback is told when something changed. mu held. */
static void wapply(roc_ns_watch *w, const char *name, const char *const *uris,
                   size_t n_uris, const char *const *meta, size_t n_meta)
{
    long idx = wfind(w, name);
    if (n_uris == 0) {
        if (idx < 0)
            return;
        wentry gone = w->v[idx];
        memmove(w->v + idx, w->v + idx + 1,
                (w->n - (size_t)idx - 1) * sizeof *w->v);
        w->n--;
        tell(w, ROC_NS_REMOVED, &gone);
        wentry_free(&gone);
        return;
    }
    if (idx >= 0 && strv_same(w->v[idx].uris, w->v[idx].n_uris, uris, n_uris) &&
        strv_same(w->v[idx].meta, w->v[idx].n_meta, meta, n_meta))
        return;
    wentry ne;
    if (wentry_set(&ne, name, uris, n_uris, meta, n_meta) != 0)
        return; /* out of memory: this change is not told */
    if (idx >= 0) {
        wentry_free(&w->v[idx]);
        w->v[idx] = ne;
    } else {
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 16;
            wentry *nv = realloc(w->v, nc * sizeof *nv);
            if (!nv) {
                wentry_free(&ne);
                return;
            }
            w->v = nv;
            w->cap = nc;
        }
        size_t at = (size_t)(-idx - 1);
        memmove(w->v + at + 1, w->v + at, (w->n - at) * sizeof *w->v);
        w->v[at] = ne;
        w->n++;
        idx = (long)at;
    }
    tell(w, ROC_NS_PUT, &w->v[idx]);
}

/* A change from the name server (an I/O thread of this process). */
static void wchange(roc_ns_watch *w, uint64_t watch, uint64_t seq,
                    const char *name, const char *const *uris, size_t n_uris,
                    const char *const *meta, size_t n_meta)
{
    pthread_mutex_lock(&w->mu);
    if (w->stop || strncmp(name, w->prefix, strlen(w->prefix)) != 0) {
        /* nothing */
    } else if (w->id) {
        /* (changes of an earlier watch are late: dropped) */
        if (watch == w->id && seq > w->seq) {
            w->seq = seq;
            wapply(w, name, uris, n_uris, meta, n_meta);
        }
    } else if (w->n_pend >= WATCH_MAX_PENDING) {
        w->pend_lost = true;
    } else {
        /* the answer to watch is not in yet: hold it */
        wpending *p = realloc(w->pend, (w->n_pend + 1) * sizeof *p);
        if (!p) {
            w->pend_lost = true;
        } else {
            w->pend = p;
            p += w->n_pend;
            p->watch = watch;
            p->seq = seq;
            if (wentry_set(&p->e, name, uris, n_uris, meta, n_meta) == 0)
                w->n_pend++;
            else
                w->pend_lost = true;
        }
    }
    pthread_mutex_unlock(&w->mu);
}

static int w_put(void *self, roc_call *call, uint64_t watch, uint64_t seq,
                 const roc_naming_Entry *e)
{
    (void)call;
    if (e && e->name && e->uris.len)
        wchange(self, watch, seq, e->name, e->uris.items, e->uris.len,
                e->meta.items, e->meta.len);
    return 0;
}

static int w_removed(void *self, roc_call *call, uint64_t watch, uint64_t seq,
                     const char *name)
{
    (void)call;
    if (name)
        wchange(self, watch, seq, name, NULL, 0, NULL, 0);
    return 0;
}

static const roc_naming_Watcher_ops watcher_ops = {.put = w_put,
                                                   .removed = w_removed};

static int do_watch(roc_ns *ns, const char *prefix, roc_naming_Watcher *wp,
                    roc_naming_WatchStart *ws, roc_arena *a, roc_error *err)
{
    NS_CALL(ns, err, roc_naming_NameServer_watch(P(ns), prefix, wp, ws, a, e_));
}

/* Asks for the watch (again) and brings the view to what the answer says:
 * names gone meanwhile are told ROC_NS_REMOVED, new or changed ones
 * ROC_NS_PUT, then ROC_NS_SYNCED. mu not held (the answer is read by this
 * thread, changes may come with it). */
static int wsync(roc_ns_watch *w, roc_error *err)
{
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    pthread_mutex_lock(&w->mu);
    uint64_t old = w->resync ? w->id : 0; /* still in force there */
    w->id = 0; /* changes from here on are held until the answer is in */
    w->resync = false;
    pthread_mutex_unlock(&w->mu);
    if (old)
        roc_naming_NameServer_unwatch(P(w->ns), old, NULL);
    roc_naming_WatchStart ws = {0};
    int rc = do_watch(w->ns, w->prefix,
                      roc_naming_Watcher_from_proxy(w->local), &ws, a, err);
    pthread_mutex_lock(&w->mu);
    if (rc == 0 && !w->stop) {
        /* names gone while the watch was not in force */
        for (size_t i = w->n; i-- > 0;) {
            bool kept = false;
            for (size_t j = 0; j < ws.entries.len && !kept; j++)
                kept = strcmp(ws.entries.items[j].name, w->v[i].name) == 0;
            if (!kept)
                wapply(w, w->v[i].name, NULL, 0, NULL, 0);
        }
        for (size_t j = 0; j < ws.entries.len; j++) {
            const roc_naming_Entry *e = &ws.entries.items[j];
            if (strncmp(e->name, w->prefix, strlen(w->prefix)) == 0 &&
                e->uris.len)
                wapply(w, e->name, e->uris.items, e->uris.len,
                       e->meta.items, e->meta.len);
        }
        w->id = ws.watch;
        w->seq = ws.seq;
        for (size_t i = 0; i < w->n_pend; i++) {
            wpending *p = &w->pend[i];
            if (p->watch == w->id && p->seq > w->seq) {
                w->seq = p->seq;
                wapply(w, p->e.name, (const char *const *)p->e.uris,
                       p->e.n_uris, (const char *const *)p->e.meta,
                       p->e.n_meta);
            }
        }
        w->lost = false;
        w->resync = w->pend_lost; /* held changes were dropped */
        tell(w, ROC_NS_SYNCED, NULL);
    }
    for (size_t i = 0; i < w->n_pend; i++)
        wentry_free(&w->pend[i].e);
    w->n_pend = 0;
    w->pend_lost = false;
    pthread_mutex_unlock(&w->mu);
    roc_arena_free(a);
    return rc;
}

static void *watch_main(void *arg)
{
    roc_ns_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns_ = (uint64_t)ts.tv_nsec +
                       (uint64_t)(w->check_ms % 1000) * 1000000u;
        ts.tv_sec += (time_t)(w->check_ms / 1000 + (int)(ns_ / 1000000000u));
        ts.tv_nsec = (long)(ns_ % 1000000000u);
        while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
            ;
        if (w->stop)
            break;
        uint64_t id = w->id;
        bool again = w->resync || id == 0;
        pthread_mutex_unlock(&w->mu);
        bool alive = false;
        roc_error err = ROC_ERROR_INIT;
        if (!again) {
            roc_arena *a = NULL;
            int rc = roc_arena_new(&a) ? ROC_ENOMEM
                                       : roc_naming_NameServer_watching(
                                             P(w->ns), id, &alive, a, &err);
            roc_arena_free(a);
            roc_error_clear(&err);
            /* the name server did not answer: the next one may */
            if (rc && no_answer(rc))
                fail_over(w->ns, rc, 0);
            again = rc != 0 || !alive;
        }
        pthread_mutex_lock(&w->mu);
        if (!again || w->stop)
            continue;
        if (!w->lost) {
            w->lost = true;
            tell(w, ROC_NS_LOST, NULL);
        }
        pthread_mutex_unlock(&w->mu);
        wsync(w, &err);
        roc_error_clear(&err);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watch_free(roc_ns_watch *w)
{
    if (w->local)
        roc_proxy_close(w->local);
    if (w->exp)
        roc_export_free(w->exp);
    roc_ns_close(w->ns);
    for (size_t i = 0; i < w->n; i++)
        wentry_free(&w->v[i]);
    free(w->v);
    for (size_t i = 0; i < w->n_pend; i++)
        wentry_free(&w->pend[i].e);
    free(w->pend);
    free(w->prefix);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static int watch_check_ms(void)
{
    const char *s = getenv("ROC_NS_WATCH_CHECK_MS");
    long v = s && *s ? strtol(s, NULL, 10) : 0;
    return v >= 10 && v <= 600000 ? (int)v : 1000;
}

int roc_ns_watch_start(roc_ns *ns, const char *prefix, roc_ns_watch_fn fn,
                       void *arg, roc_ns_watch **out, roc_error *err)
{
    if (!out)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_watch_start: no handle");
    *out = NULL;
    if (!ns || !fn)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_watch_start: a name server handle and a "
                             "callback are required");
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > ROC_NS_MAX_NAME || (*prefix && !roc_id_valid(prefix)))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_ns_watch_start: bad prefix '%.64s' (names "
                             "are [A-Za-z0-9_.:-]+, at most %d characters)",
                             prefix, ROC_NS_MAX_NAME);
    roc_ns_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->prefix = strdup(prefix))) {
        free(w);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    w->fn = fn;
    w->arg = arg;
    w->check_ms = watch_check_ms();
    pthread_mutex_init(&w->mu, NULL);
    roci_cond_init_mono(&w->cv);
    w->impl = (roc_naming_Watcher_impl){&watcher_ops, w, 0};
    roc_servant sv = roc_naming_Watcher_servant(&w->impl);
    int rc = roc_ns_open(&w->ns, ns->spec, err);
    if (rc == 0) {
        atomic_store(&w->ns->cur, atomic_load(&ns->cur));
        /* a name server that hangs is given up on within this */
        roc_ns_set_timeout(w->ns, ns->timeout_ms > 0 ? ns->timeout_ms
                                                     : WATCH_TIMEOUT_MS);
        rc = roc_export_new(&w->exp, &sv, err);
    }
    if (rc == 0)
        rc = roc_proxy_open_export(&w->local, w->exp, err);
    if (rc == 0)
        rc = wsync(w, err);
    if (rc == 0 && pthread_create(&w->th, NULL, watch_main, w) != 0)
        rc = roc_error_set(err, ROC_ENOMEM, "no thread for the watch");
    if (rc) {
        if (w->id)
            roc_naming_NameServer_unwatch(P(w->ns), w->id, NULL);
        watch_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void roc_ns_watch_stop(roc_ns_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    uint64_t id = w->lost ? 0 : w->id; /* lost: its name server is gone */
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    if (id) /* a name server that is gone has forgotten it anyway */
        roc_naming_NameServer_unwatch(P(w->ns), id, NULL);
    watch_free(w);
}

int roc_ns_watch_entries(roc_ns_watch *w, roc_arena *a, roc_ns_entry **es,
                         size_t *n, roc_error *err)
{
    if (!w || !a || !es || !n)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_watch_entries: bad "
                                              "arguments");
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    roc_ns_entry *o = roc_arena_calloc(a, w->n ? w->n : 1, sizeof *o);
    for (size_t i = 0; o && i < w->n; i++) {
        const wentry *e = &w->v[i];
        o[i].name = roc_arena_strdup(a, e->name);
        o[i].uris = roc_arena_calloc(a, e->n_uris ? e->n_uris : 1,
                                     sizeof *o[i].uris);
        o[i].meta = roc_arena_calloc(a, e->n_meta ? e->n_meta : 1,
                                     sizeof *o[i].meta);
        if (!o[i].name || !o[i].uris || !o[i].meta) {
            o = NULL;
            break;
        }
        for (size_t j = 0; j < e->n_uris; j++)
            if (!(o[i].uris[j] = roc_arena_strdup(a, e->uris[j])))
                o = NULL;
        for (size_t j = 0; o && j < e->n_meta; j++)
            if (!(o[i].meta[j] = roc_arena_strdup(a, e->meta[j])))
                o = NULL;
        if (!o)
            break;
        o[i].n_uris = e->n_uris;
        o[i].n_meta = e->n_meta;
    }
    if (o) {
        *es = o;
        *n = w->n;
    } else {
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ------------------------------------------------------------ following */

/* The URIs of one name, kept current by a watch; shared by the proxies
 * bound to that name through the same name server(s). */
struct roci_follow {
    struct roci_follow *next;
    char *spec; /* the name server list */
    char *name;
    int refs;   /* under follow_mtx */
    roc_ns_watch *w;
    pthread_mutex_t mu; /* uris */
    char **uris;
    size_t n;
    _Atomic uint64_t ver;
};

static pthread_mutex_t follow_mtx = PTHREAD_MUTEX_INITIALIZER;
static roci_follow *follows;

static void follow_set(roci_follow *f, const char *const *uris, size_t n)
{
    char **v = n ? strv_copy(uris, n) : NULL;
    if (n && !v)
        return; /* out of memory: the proxies keep what they have */
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        free(f->uris[i]);
    free(f->uris);
    f->uris = v;
    f->n = n;
    atomic_fetch_add(&f->ver, 1);
    pthread_mutex_unlock(&f->mu);
}

static void follow_fn(void *arg, roc_ns_event ev, const roc_ns_entry *e)
{
    roci_follow *f = arg;
    if (!e || strcmp(e->name, f->name) != 0)
        return; /* a longer name with the same beginning */
    if (ev == ROC_NS_PUT)
        follow_set(f, e->uris, e->n_uris);
    else if (ev == ROC_NS_REMOVED)
        follow_set(f, NULL, 0);
}

static void follow_free(roci_follow *f)
{
    if (!f)
        return;
    roc_ns_watch_stop(f->w);
    for (size_t i = 0; i < f->n; i++)
        free(f->uris[i]);
    free(f->uris);
    free(f->spec);
    free(f->name);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static roci_follow *follow_find(const char *spec, const char *name)
{
    for (roci_follow *f = follows; f; f = f->next)
        if (strcmp(f->spec, spec) == 0 && strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

int roci_follow_get(const roc_uri *u, int timeout_ms, roci_follow **out,
                    roc_error *err)
{
    *out = NULL;
    const char *off = getenv("ROC_NS_FOLLOW");
    if ((off && strcmp(off, "0") == 0) || !u || u->kind != ROC_URI_NAME)
        return ROC_EUNAVAIL;
    roc_ns *ns = NULL;
    int rc = roc_ns_open(&ns, u->url, NULL);
    if (rc)
        return rc;
    if (ns->note) { /* no name server known: resolution says why */
        roc_ns_close(ns);
        return ROC_EUNAVAIL;
    }
    pthread_mutex_lock(&follow_mtx);
    roci_follow *f = follow_find(ns->spec, u->id);
    if (f) {
        f->refs++;
        pthread_mutex_unlock(&follow_mtx);
        roc_ns_close(ns);
        *out = f;
        return 0;
    }
    pthread_mutex_unlock(&follow_mtx);
    f = calloc(1, sizeof *f);
    if (!f || !(f->spec = strdup(ns->spec)) || !(f->name = strdup(u->id))) {
        if (f)
            free(f->spec);
        free(f);
        roc_ns_close(ns);
        return ROC_ENOMEM;
    }
    pthread_mutex_init(&f->mu, NULL);
    atomic_init(&f->ver, 1);
    f->refs = 1;
    if (timeout_ms > 0)
        roc_ns_set_timeout(ns, timeout_ms);
    roc_error e = ROC_ERROR_INIT;
    rc = roc_ns_watch_start(ns, u->id, follow_fn, f, &f->w, &e);
    if (rc && no_answer(rc)) {
        /* no name server: said as resolution says it (and not asked
         * again by resolution, which would wait as long once more) */
        roc_error_set(err, rc, "%s: name server %s: %s", u->id,
                      roc_ns_uri(ns), e.message ? e.message : roc_strerror(rc));
        if (!u->url && !(getenv("ROC_NS") && *getenv("ROC_NS")))
            roci_discover_ns_forget(); /* found on the LAN: look again */
    }
    roc_error_clear(&e);
    roc_ns_close(ns);
    if (rc) {
        follow_free(f);
        return rc;
    }
    pthread_mutex_lock(&follow_mtx);
    roci_follow *other = follow_find(f->spec, f->name);
    if (other) { /* made meanwhile by another thread: share that one */
        other->refs++;
    } else {
        f->next = follows;
        follows = f;
    }
    pthread_mutex_unlock(&follow_mtx);
    if (other) {
        follow_free(f);
        f = other;
    }
    *out = f;
    return 0;
}

void roci_follow_put(roci_follow *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&follow_mtx);
    bool last = --f->refs == 0;
    if (last)
        for (roci_follow **pp = &follows; *pp; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
    pthread_mutex_unlock(&follow_mtx);
    if (last)
        follow_free(f);
}

bool roci_follow_uris(roci_follow *f, uint64_t *ver, char ***uris, size_t *n)
{
    *uris = NULL;
    *n = 0;
    if (atomic_load(&f->ver) == *ver)
        return false;
    pthread_mutex_lock(&f->mu);
    *ver = atomic_load(&f->ver);
    if (f->n && !(*uris = strv_copy((const char *const *)f->uris, f->n))) {
        pthread_mutex_unlock(&f->mu);
        return false;
    }
    *n = f->n;
    pthread_mutex_unlock(&f->mu);
    return true;
}

/* ------------------------------------------------------------ resolution */

/* Appends a malloc'd copy of s to v unless it is there already. */
static int add_unique(char ***v, size_t *n, size_t *cap, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        char **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return ROC_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    if (!((*v)[*n] = strdup(s)))
        return ROC_ENOMEM;
    (*n)++;
    return 0;
}

int roci_naming_resolve(const roc_uri *u, int timeout_ms, char ***uris,
                        size_t *n, roc_error *err)
{
    *uris = NULL;
    *n = 0;
    if (!u || (u->kind != ROC_URI_NAME && u->kind != ROC_URI_META))
        return roc_error_set(err, ROC_EINVAL, "not a ROCNAME:/ROCMETA: URI");
    roc_ns *ns = NULL;
    roc_arena *a = NULL;
    bool lan = !u->url && !(getenv("ROC_NS") && *getenv("ROC_NS"));
    int rc = roc_ns_open(&ns, u->url, err);
    lan = lan && rc == 0 && !ns->note;
    if (rc)
        return rc;
    roc_ns_set_timeout(ns, timeout_ms);
    if (roc_arena_new(&a) != 0) {
        roc_ns_close(ns);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    char **v = NULL;
    size_t nv = 0, cap = 0;
    roc_error e = ROC_ERROR_INIT;
    if (u->kind == ROC_URI_NAME) {
        const char **l = NULL;
        size_t nl = 0;
        rc = roc_ns_lookup_all(ns, u->id, 0, a, &l, &nl, &e);
        for (size_t i = 0; rc == 0 && i < nl; i++)
            rc = add_unique(&v, &nv, &cap, l[i]);
    } else {
        roc_ns_entry *es = NULL;
        size_t ne = 0;
        rc = roc_ns_lookup_meta(ns, u->tags, u->n_tags, false, a, &es, &ne, &e);
        for (size_t i = 0; rc == 0 && i < ne; i++)
            for (size_t j = 0; rc == 0 && j < es[i].n_uris; j++)
                rc = add_unique(&v, &nv, &cap, es[i].uris[j]);
    }
    if (rc == ROC_ENOMEM) {
        roc_error_set(err, rc, "out of memory");
    } else if (rc) {
        roc_error_set(err, rc, "%s: name server %s: %s",
                      u->kind == ROC_URI_NAME ? u->id : "ROCMETA",
                      roc_ns_uri(ns), e.message ? e.message : roc_strerror(rc));
        if (lan && rc != ROC_ENOTFOUND && rc != ROC_EBADARGS)
            roci_discover_ns_forget(); /* look again next time */
    } else if (nv == 0) {
        rc = roc_error_set(err, ROC_ENOTFOUND,
                           "no registration carries the tags asked for");
    }
    roc_error_clear(&e);
    roc_arena_free(a);
    roc_ns_close(ns);
    if (rc) {
        for (size_t i = 0; i < nv; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *uris = v;
    *n = nv;
    return 0;
}
