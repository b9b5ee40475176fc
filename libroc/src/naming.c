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

#include "naming.roc.h"
#include "roci.h"
#include "roci_discovery.h"

struct roc_ns {
    roc_naming_NameServer *p;
    char *uri;
    char *note; /* the location was a fallback: why (for error messages) */
};

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

int roc_ns_open(roc_ns **out, const char *url, roc_error *err)
{
    if (!out)
        return roc_error_set(err, ROC_EINVAL, "roc_ns_open: no handle");
    *out = NULL;
    char why[300] = "";
    bool fallback = false;
    if (!url || !*url)
        url = ns_where(why, sizeof why, &fallback);
    char *uri; /* (url may point at a thread-local copy: used at once) */
    if (strncasecmp(url, "ROC:", 4) == 0) {
        uri = strdup(url);
    } else {
        int rc = roc_url_check(url, err);
        if (rc)
            return rc;
        size_t n = strlen(url) + sizeof "ROC:" ROC_NS_OBJECT "@";
        uri = malloc(n);
        if (uri)
            snprintf(uri, n, "ROC:%s@%s", ROC_NS_OBJECT, url);
    }
    roc_ns *ns = calloc(1, sizeof *ns);
    if (!uri || !ns) {
        free(uri);
        free(ns);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    ns->uri = uri;
    if (fallback && why[0]) {
        size_t n = strlen(why) + 160;
        if ((ns->note = malloc(n)) != NULL)
            snprintf(ns->note, n,
                     "ROC_NS is not set; no name server found on the LAN: "
                     "%s; fell back to " ROC_NS_DEFAULT_URL,
                     why);
    }
    int rc = roc_naming_NameServer_open(&ns->p, uri, err);
    if (rc) {
        free(ns->note);
        free(uri);
        free(ns);
        return rc;
    }
    *out = ns;
    return 0;
}

void roc_ns_close(roc_ns *ns)
{
    if (!ns)
        return;
    roc_naming_NameServer_close(ns->p);
    free(ns->note);
    free(ns->uri);
    free(ns);
}

const char *roc_ns_uri(const roc_ns *ns)
{
    return ns ? ns->uri : NULL;
}

void roc_ns_set_timeout(roc_ns *ns, int timeout_ms)
{
    if (ns)
        roc_proxy_set_timeout(roc_naming_NameServer_proxy(ns->p), timeout_ms);
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
 * exception type is needed to map it). */
#define NS_CALL(ns, err, call)                                                 \
    do {                                                                       \
        roc_error local_ = ROC_ERROR_INIT;                                     \
        roc_error *e_ = (err) ? (err) : &local_;                               \
        int rc_ = add_note((ns), map_err((call), e_), e_);                     \
        roc_error_clear(&local_);                                              \
        return rc_;                                                            \
    } while (0)

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
        ns->p, name, uri, strlist(meta, n_meta), flags, err);
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
    for (;;) {
        roc_naming_stringList l = {NULL, 0};
        rc =
            map_err(roc_naming_NameServer_lookup(ns->p, name, &l, a, err), err);
        if (rc == 0) {
            *uris = l.items;
            *n = l.len;
            return 0;
        }
        if (!retry_lookup(rc) || roci_now_ms() >= end)
            return rc;
        pause_ms(20);
    }
}

int roc_ns_lookup_all(roc_ns *ns, const char *name, int wait_ms, roc_arena *a,
                      const char ***uris, size_t *n, roc_error *err)
{
    NS_CALL(ns, err, do_lookup_all(ns, name, wait_ms, a, uris, n, e_));
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
    NS_CALL(ns, err, do_lookup(ns, name, wait_ms, uri, e_));
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
    rc = roc_naming_NameServer_list_names(ns->p, pattern ? pattern : "",
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
    rc = roc_naming_NameServer_lookup_meta(ns->p, strlist(tags, n_tags), any,
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
    rc = roc_naming_NameServer_remove(ns->p, pattern, (roc_naming_Match)how, &k,
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
    rc = roc_naming_NameServer_remove_uri(ns->p, name, uri, &k, NULL, err);
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
    return roc_naming_NameServer_set_meta(ns->p, name, strlist(meta, n_meta),
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
    return roc_naming_NameServer_count(ns->p, count, NULL, err);
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
    rc = roc_naming_NameServer_ping(ns->p, &pong, a, err);
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
