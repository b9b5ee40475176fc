/* The registry of roc-ns (registry.h). */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_URI 2048
#define MAX_PATTERN 1024
/* A shared store refuses a conditional write when another roc-ns changed
 * the entry first; the registry then recomputes from the stored entry, at
 * most this many times, backing off a little more each time. */
#define MAX_CONFLICTS 32

/* A name deleted at rev: a watch event older than that for the same name
 * must not bring it back (our own deletion is visible before the watch
 * reports it). Dropped once the watch has passed rev. */
typedef struct tomb {
    char *name;
    uint64_t rev;
} tomb;

/* A lease the registry keeps itself (stores without leases of their own). */
typedef struct lease {
    uint64_t id;
    unsigned ttl;
    uint64_t expires_ms;
} lease;

struct ns_registry {
    pthread_rwlock_t rw;  /* readers vs the moment a change is made visible */
    pthread_mutex_t wmtx; /* one writer at a time (with the store) */
    ns_store *store;
    ns_entry **v; /* sorted by name */
    size_t n, cap;
    /* shared stores, under wmtx */
    bool shared;
    uint64_t seen_rev;
    tomb *tombs;
    size_t n_tombs;
    /* local leases, under lmtx */
    pthread_mutex_t lmtx;
    pthread_cond_t lcv;
    lease *leases;
    size_t n_leases;
    uint64_t next_lease;
    bool lease_thread, stopping;
    pthread_t lthread;
    /* changes to the view, under rw's write lock */
    uint64_t seq;
    ns_change_fn change_fn;
    void *change_arg;
};

/* ------------------------------------------------------------ entries */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void ns_entry_free(ns_entry *e)
{
    if (!e)
        return;
    free(e->name);
    strv_free(e->uris, e->n_uris);
    strv_free(e->meta, e->n_meta);
    free(e);
}

static void entry_free(ns_entry *e)
{
    ns_entry_free(e);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Appends a copy of s to *v (of *n) unless it is there; false when out of
 * memory. */
static bool strv_add(char ***v, size_t *n, const char *s)
{
    if (strv_has(*v, *n, s))
        return true;
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return false;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return false;
    (*n)++;
    return true;
}

/* A new entry: name, the URIs and tags given (deduplicated). */
static ns_entry *entry_new(const char *name, char *const *uris, size_t n_uris,
                           const char *const *meta, size_t n_meta)
{
    ns_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name)))
        goto fail;
    for (size_t i = 0; i < n_uris; i++)
        if (!strv_add(&e->uris, &e->n_uris, uris[i]))
            goto fail;
    for (size_t i = 0; i < n_meta; i++)
        if (!strv_add(&e->meta, &e->n_meta, meta[i]))
            goto fail;
    return e;
fail:
    entry_free(e);
    return NULL;
}

static ns_entry *entry_copy(const ns_entry *e)
{
    ns_entry *ne = entry_new(e->name, e->uris, e->n_uris,
                             (const char *const *)e->meta, e->n_meta);
    if (ne) {
        ne->rev = e->rev;
        ne->lease = e->lease;
    }
    return ne;
}

/* Index of name, or -(insertion point) - 1. */
static long find(const ns_registry *r, const char *name)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->v[mid]->name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* Room for one more entry. Caller holds wmtx; the array may move, so
 * readers are held off while it does. */
static bool reserve(ns_registry *r)
{
    if (r->n < r->cap)
        return true;
    size_t nc = r->cap ? r->cap * 2 : 64;
    pthread_rwlock_wrlock(&r->rw);
    ns_entry **nv = realloc(r->v, nc * sizeof *nv);
    if (nv) {
        r->v = nv;
        r->cap = nc;
    }
    pthread_rwlock_unlock(&r->rw);
    return nv != NULL;
}

/* Makes e visible in place of the entry at idx (>= 0) or inserted (idx < 0,
 * as find gives). Caller holds wmtx and has reserved room. Returns the
 * entry replaced (to free), or NULL. */
/* Tells the change listener that name now holds e (NULL: removed).
 * Caller holds rw for writing. */
static void changed(ns_registry *r, const char *name, const ns_entry *e)
{
    r->seq++;
    if (r->change_fn)
        r->change_fn(r->change_arg, r->seq, name, e);
}

static ns_entry *publish(ns_registry *r, long idx, ns_entry *e)
{
    ns_entry *old = NULL;
    pthread_rwlock_wrlock(&r->rw);
    if (idx >= 0) {
        old = r->v[idx];
        r->v[idx] = e;
    } else {
        size_t at = (size_t)(-idx - 1);
        memmove(r->v + at + 1, r->v + at, (r->n - at) * sizeof *r->v);
        r->v[at] = e;
        r->n++;
    }
    changed(r, e->name, e);
    pthread_rwlock_unlock(&r->rw);
    return old;
}

/* ------------------------------------------------------------ checks */

static int check_name(const char *name, const char *what, roc_error *err)
{
    if (!name || !*name)
        return roc_error_set(err, ROC_EBADARGS, "empty %s", what);
    size_t len = strlen(name);
    if (len > ROC_NS_MAX_NAME)
        return roc_error_set(err, ROC_EBADARGS,
                             "%s of %zu characters (at most %d)", what, len,
                             ROC_NS_MAX_NAME);
    if (!roc_id_valid(name))
        return roc_error_set(err, ROC_EBADARGS,
                             "%s '%s' has characters outside [A-Za-z0-9_.:-]",
                             what, name);
    return 0;
}

static int check_tags(const char *const *tags, size_t n, roc_error *err)
{
    if (n > ROC_NS_MAX_TAGS)
        return roc_error_set(err, ROC_EBADARGS, "%zu tags (at most %d)", n,
                             ROC_NS_MAX_TAGS);
    for (size_t i = 0; i < n; i++) {
        if (!tags[i] || !*tags[i])
            return roc_error_set(err, ROC_EBADARGS, "empty tag");
        size_t len = strlen(tags[i]);
        if (len > ROC_NS_MAX_TAG)
            return roc_error_set(err, ROC_EBADARGS,
                                 "tag of %zu characters (at most %d)", len,
                                 ROC_NS_MAX_TAG);
        if (!roc_id_valid(tags[i]))
            return roc_error_set(err, ROC_EBADARGS,
                                 "tag '%s' has characters outside "
                                 "[A-Za-z0-9_.:-]",
                                 tags[i]);
    }
    return 0;
}

static int check_uri(const char *uri, roc_error *err)
{
    if (!uri || !*uri)
        return roc_error_set(err, ROC_EBADARGS, "empty URI");
    size_t len = strlen(uri);
    if (len > MAX_URI)
        return roc_error_set(err, ROC_EBADARGS,
                             "URI of %zu characters (at most %d)", len,
                             MAX_URI);
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return roc_error_set(err, ROC_EBADARGS,
                                 "URI with a control character");
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    roc_uri u;
    roc_error e = ROC_ERROR_INIT;
    int rc = roc_uri_parse(a, uri, &u, &e);
    if (rc)
        rc = roc_error_set(err, ROC_EBADARGS, "invalid URI '%s': %s", uri,
                           e.message ? e.message : roc_strerror(rc));
    else if (u.kind != ROC_URI_OBJECT)
        rc = roc_error_set(err, ROC_EBADARGS,
                           "'%s' is not an object URI (ROC:id@url)", uri);
    roc_error_clear(&e);
    roc_arena_free(a);
    return rc;
}

/* A matcher for list and remove. */
typedef struct matcher {
    const char *pattern;
    size_t plen;
    roc_ns_match how;
    regex_t re;
    bool has_re;
} matcher;

static int matcher_init(matcher *m, const char *pattern, roc_ns_match how,
                        roc_error *err)
{
    memset(m, 0, sizeof *m);
    m->pattern = pattern ? pattern : "";
    m->plen = strlen(m->pattern);
    m->how = how;
    if (m->plen > MAX_PATTERN)
        return roc_error_set(err, ROC_EBADARGS,
                             "pattern of %zu characters (at most %d)", m->plen,
                             MAX_PATTERN);
    if (how == ROC_NS_REGEX) {
        int rc = regcomp(&m->re, m->pattern, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[160];
            regerror(rc, &m->re, msg, sizeof msg);
            return roc_error_set(err, ROC_EBADARGS,
                                 "bad regular expression '%s': %s", m->pattern,
                                 msg);
        }
        m->has_re = true;
    } else if (how != ROC_NS_EXACT && how != ROC_NS_PREFIX) {
        return roc_error_set(err, ROC_EBADARGS, "unknown match kind %d",
                             (int)how);
    }
    return 0;
}

static void matcher_done(matcher *m)
{
    if (m->has_re)
        regfree(&m->re);
}

static bool matches(const matcher *m, const char *name)
{
    switch (m->how) {
    case ROC_NS_EXACT:
        return strcmp(name, m->pattern) == 0;
    case ROC_NS_PREFIX:
        return strncmp(name, m->pattern, m->plen) == 0;
    default:
        return regexec(&m->re, name, 0, NULL, 0) == 0;
    }
}

/* ------------------------------------------------------------ view upkeep */

/* Takes the entry at idx out of the view. Caller holds wmtx. */
static void unpublish(ns_registry *r, size_t idx)
{
    pthread_rwlock_wrlock(&r->rw);
    ns_entry *old = r->v[idx];
    memmove(r->v + idx, r->v + idx + 1, (r->n - idx - 1) * sizeof *r->v);
    r->n--;
    changed(r, old->name, NULL);
    pthread_rwlock_unlock(&r->rw);
    entry_free(old);
}

static void tomb_add(ns_registry *r, const char *name, uint64_t rev)
{
    for (size_t i = 0; i < r->n_tombs; i++)
        if (strcmp(r->tombs[i].name, name) == 0) {
            if (rev > r->tombs[i].rev)
                r->tombs[i].rev = rev;
            return;
        }
    tomb *nt = realloc(r->tombs, (r->n_tombs + 1) * sizeof *nt);
    if (!nt)
        return;
    r->tombs = nt;
    if ((nt[r->n_tombs].name = strdup(name)) != NULL)
        nt[r->n_tombs++].rev = rev;
}

static uint64_t tomb_rev(const ns_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n_tombs; i++)
        if (strcmp(r->tombs[i].name, name) == 0)
            return r->tombs[i].rev;
    return 0;
}

static void tombs_purge(ns_registry *r, uint64_t upto)
{
    size_t w = 0;
    for (size_t i = 0; i < r->n_tombs; i++) {
        if (r->tombs[i].rev <= upto)
            free(r->tombs[i].name);
        else
            r->tombs[w++] = r->tombs[i];
    }
    r->n_tombs = w;
}

/* The stored entry e (revision e->rev) reached us: show it unless the view
 * knows something newer. Caller holds wmtx. */
static void apply_put(ns_registry *r, const ns_entry *e)
{
    if (!e->name || e->n_uris == 0 || tomb_rev(r, e->name) >= e->rev)
        return;
    long idx = find(r, e->name);
    if (idx >= 0 && r->v[idx]->rev >= e->rev)
        return;
    ns_entry *ne = entry_copy(e);
    if (!ne || !reserve(r)) {
        entry_free(ne);
        return;
    }
    entry_free(publish(r, idx, ne));
}

static void apply_del(ns_registry *r, const char *name, uint64_t rev)
{
    long idx = find(r, name);
    if (idx >= 0 && r->v[idx]->rev <= rev)
        unpublish(r, (size_t)idx);
}

/* After a refused conditional write: cur is what the store holds for name
 * (NULL: nothing). Caller holds wmtx. */
static void apply_current(ns_registry *r, const char *name, ns_entry *cur)
{
    if (cur) {
        apply_put(r, cur);
    } else {
        long idx = find(r, name);
        if (idx >= 0)
            unpublish(r, (size_t)idx);
    }
    entry_free(cur);
}

/* ------------------------------------------------------------ open/close */

static int load_one(void *arg, const ns_entry *e)
{
    ns_registry *r = arg;
    if (check_name(e->name, "name", NULL) != 0 || e->n_uris == 0)
        return 0; /* a row this version would refuse: skip it */
    long idx = find(r, e->name);
    if (idx >= 0 || !reserve(r))
        return idx >= 0 ? 0 : ROC_ENOMEM;
    ns_entry *ne = entry_copy(e);
    if (!ne)
        return ROC_ENOMEM;
    publish(r, idx, ne);
    return 0;
}

/* Reloads the whole view from the store (its change stream broke beyond
 * what it can resume). Caller holds wmtx. */
static void resync(ns_registry *r)
{
    ns_registry tmp;
    memset(&tmp, 0, sizeof tmp);
    pthread_rwlock_init(&tmp.rw, NULL);
    if (r->store->ops->load(r->store, load_one, &tmp, NULL) == 0) {
        pthread_rwlock_wrlock(&r->rw);
        ns_entry **ov = r->v;
        size_t on = r->n;
        /* tell the differences (both views are sorted by name) */
        for (size_t i = 0, j = 0; i < on || j < tmp.n;) {
            int c = i == on      ? 1
                    : j == tmp.n ? -1
                                 : strcmp(ov[i]->name, tmp.v[j]->name);
            if (c < 0) {
                changed(r, ov[i]->name, NULL);
                i++;
            } else if (c > 0) {
                changed(r, tmp.v[j]->name, tmp.v[j]);
                j++;
            } else {
                if (ov[i]->rev != tmp.v[j]->rev)
                    changed(r, tmp.v[j]->name, tmp.v[j]);
                i++, j++;
            }
        }
        r->v = tmp.v;
        r->n = tmp.n;
        r->cap = tmp.cap;
        pthread_rwlock_unlock(&r->rw);
        tmp.v = ov;
        tmp.n = on;
        tombs_purge(r, UINT64_MAX);
    }
    for (size_t i = 0; i < tmp.n; i++)
        entry_free(tmp.v[i]);
    free(tmp.v);
    pthread_rwlock_destroy(&tmp.rw);
}

/* The shared store's change stream (a thread of the store's). */
static void on_event(void *arg, ns_event_kind kind, const ns_entry *e,
                     uint64_t rev)
{
    ns_registry *r = arg;
    pthread_mutex_lock(&r->wmtx);
    switch (kind) {
    case NS_EV_PUT:
        apply_put(r, e);
        break;
    case NS_EV_DEL:
        apply_del(r, e->name, e->rev);
        break;
    case NS_EV_PROGRESS:
        break;
    case NS_EV_RESYNC:
        resync(r);
        break;
    }
    if (rev > r->seen_rev) {
        r->seen_rev = rev;
        tombs_purge(r, rev);
    }
    pthread_mutex_unlock(&r->wmtx);
}

int ns_registry_open(ns_registry **out, ns_store *store, roc_error *err)
{
    ns_registry *r = calloc(1, sizeof *r);
    if (!r) {
        store->ops->close(store);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    pthread_rwlock_init(&r->rw, NULL);
    pthread_mutex_init(&r->wmtx, NULL);
    pthread_mutex_init(&r->lmtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->lcv, &ca);
    pthread_condattr_destroy(&ca);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* local lease ids: unlikely to match one from before a restart */
    r->next_lease = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
    r->store = store;
    r->shared = store->ops->shared;
    int rc = store->ops->load(store, load_one, r, err);
    if (rc == 0 && store->ops->watch)
        rc = store->ops->watch(store, on_event, r, err);
    if (rc) {
        if (rc == ROC_ENOMEM)
            roc_error_set(err, rc, "out of memory");
        ns_registry_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void ns_registry_close(ns_registry *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lmtx);
    r->stopping = true;
    pthread_cond_broadcast(&r->lcv);
    bool joined = r->lease_thread;
    pthread_mutex_unlock(&r->lmtx);
    if (joined)
        pthread_join(r->lthread, NULL);
    /* the store first: its watch thread may still be applying changes */
    if (r->store)
        r->store->ops->close(r->store);
    for (size_t i = 0; i < r->n; i++)
        entry_free(r->v[i]);
    free(r->v);
    tombs_purge(r, UINT64_MAX);
    free(r->tombs);
    free(r->leases);
    pthread_rwlock_destroy(&r->rw);
    pthread_mutex_destroy(&r->wmtx);
    pthread_mutex_destroy(&r->lmtx);
    pthread_cond_destroy(&r->lcv);
    free(r);
}

const ns_store *ns_registry_store(const ns_registry *r)
{
    return r->store;
}

size_t ns_registry_count(ns_registry *r)
{
    pthread_rwlock_rdlock(&r->rw);
    size_t n = r->n;
    pthread_rwlock_unlock(&r->rw);
    return n;
}

/* ------------------------------------------------------------ writes */

/* After a write that answered rc on its attempt tries (0, 1, ...):
 * whether to compute it again. A conflict on a shared store (another
 * roc-ns wrote the entry first) is tried again after a random pause that
 * grows with the attempts (up to ~16 ms), without wmtx, so that two
 * writers of one entry do not keep colliding. Caller holds wmtx. */
static bool conflict_retry(ns_registry *r, int rc, int tries)
{
    if (rc != ROC_ESTATE || !r->shared || tries >= MAX_CONFLICTS)
        return false;
    static _Thread_local uint64_t x;
    if (!x)
        x = now_ms() ^ (uint64_t)(uintptr_t)&x;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift */
    unsigned cap_us = 500u << (tries < 5 ? tries : 5);
    pthread_mutex_unlock(&r->wmtx);
    usleep((useconds_t)(x % cap_us));
    pthread_mutex_lock(&r->wmtx);
    return true;
}

/* Writes ne (computed from the view's entry at idx, or none) through the
 * store and shows it. On a shared store's conflict the view is brought up
 * to date and ROC_ESTATE returned: the caller recomputes. Takes ne. Caller
 * holds wmtx. */
static int commit_put(ns_registry *r, long idx, ns_entry *ne, bool any,
                      roc_error *err)
{
    uint64_t expect = any ? NS_ANY_REV : idx >= 0 ? r->v[idx]->rev : 0;
    ns_entry *cur = NULL;
    int rc = reserve(r) ? 0 : roc_error_set(err, ROC_ENOMEM, "out of memory");
    if (!rc)
        rc = r->store->ops->put(r->store, ne, expect, r->shared ? &cur : NULL,
                                err);
    if (rc == ROC_ESTATE && r->shared) {
        char *name = strdup(ne->name);
        if (name)
            apply_current(r, name, cur);
        else
            entry_free(cur);
        free(name);
        entry_free(ne);
        return rc;
    }
    if (rc) {
        entry_free(ne);
        return rc;
    }
    entry_free(publish(r, idx, ne));
    return 0;
}

static bool lease_known(ns_registry *r, uint64_t id)
{
    pthread_mutex_lock(&r->lmtx);
    bool ok = false;
    for (size_t i = 0; i < r->n_leases && !ok; i++)
        ok = r->leases[i].id == id;
    pthread_mutex_unlock(&r->lmtx);
    return ok;
}

int ns_registry_register(ns_registry *r, const char *name, const char *uri,
                         const char *const *meta, size_t n_meta, unsigned flags,
                         roc_error *err)
{
    return ns_registry_register_lease(r, name, uri, meta, n_meta, flags, 0,
                                      NULL, err);
}

int ns_registry_register_lease(ns_registry *r, const char *name,
                               const char *uri, const char *const *meta,
                               size_t n_meta, unsigned flags, unsigned ttl_s,
                               uint64_t *lease_io, roc_error *err)
{
    int rc = check_name(name, "name", err);
    if (!rc)
        rc = check_uri(uri, err);
    if (!rc)
        rc = check_tags(meta, n_meta, err);
    if (!rc && (flags & ~(unsigned)(ROC_NS_REPLACE | ROC_NS_ADD_REPLICA)))
        rc = roc_error_set(err, ROC_EBADARGS, "unknown flags 0x%x", flags);
    if (!rc && (flags & ROC_NS_REPLACE) && (flags & ROC_NS_ADD_REPLICA))
        rc = roc_error_set(err, ROC_EBADARGS,
                           "REPLACE and ADD_REPLICA exclude each other");
    uint64_t lease = lease_io ? *lease_io : 0;
    if (!rc && lease_io && !lease && (ttl_s < 1 || ttl_s > NS_MAX_TTL))
        rc = roc_error_set(err, ROC_EBADARGS, "TTL %u s (1 to %d)", ttl_s,
                           NS_MAX_TTL);
    if (rc)
        return rc;
    bool granted = false;
    if (lease_io && !lease) {
        if ((rc = ns_registry_lease_grant(r, ttl_s, &lease, err)) != 0)
            return rc;
        granted = true;
    } else if (lease && !r->store->ops->lease_grant && !lease_known(r, lease)) {
        return roc_error_set(err, ROC_ENOTFOUND,
                             "lease %llu has expired or never was",
                             (unsigned long long)lease);
    }
    pthread_mutex_lock(&r->wmtx);
    for (int tries = 0;; tries++) {
        rc = 0;
        long idx = find(r, name);
        ns_entry *old = idx >= 0 ? r->v[idx] : NULL;
        ns_entry *ne = NULL;
        char *one[1] = {(char *)uri};
        if (old && !(flags & (ROC_NS_REPLACE | ROC_NS_ADD_REPLICA))) {
            rc = roc_error_set(err, ROC_EEXIST, "'%s' is registered already",
                               name);
        } else if (old && (flags & ROC_NS_ADD_REPLICA)) {
            if (!strv_has(old->uris, old->n_uris, uri) &&
                old->n_uris >= ROC_NS_MAX_URIS)
                rc = roc_error_set(err, ROC_EBADARGS,
                                   "'%s' holds %d URIs already (the most)",
                                   name, ROC_NS_MAX_URIS);
            else if (!(ne = entry_new(name, old->uris, old->n_uris,
                                      (const char *const *)old->meta,
                                      old->n_meta)) ||
                     !strv_add(&ne->uris, &ne->n_uris, uri))
                rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
            for (size_t i = 0; !rc && i < n_meta; i++)
                if (!strv_add(&ne->meta, &ne->n_meta, meta[i]))
                    rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
            if (!rc && ne->n_meta > ROC_NS_MAX_TAGS)
                rc = roc_error_set(err, ROC_EBADARGS,
                                   "'%s' would carry %zu tags (at most %d)",
                                   name, ne->n_meta, ROC_NS_MAX_TAGS);
            /* a replica without a lease keeps the name's lease */
            if (ne)
                ne->lease = lease ? lease : old->lease;
        } else if (!(ne = entry_new(name, one, 1, meta, n_meta))) {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        } else {
            ne->lease = lease;
        }
        if (rc) {
            entry_free(ne);
            break;
        }
        rc = commit_put(r, idx, ne, (flags & ROC_NS_REPLACE) != 0, err);
        if (!conflict_retry(r, rc, tries))
            break;
    }
    pthread_mutex_unlock(&r->wmtx);
    if (rc && granted)
        ns_registry_revoke(r, lease, NULL);
    if (!rc && lease_io)
        *lease_io = lease;
    return rc;
}

/* Removes the entries at the indexes marked in del (n of them) from the
 * store, then from the view. Caller holds wmtx. */
static int remove_marked(ns_registry *r, const bool *del, size_t n,
                         roc_error *err)
{
    if (n == 0)
        return 0;
    char **names = malloc(n * sizeof *names);
    if (!names)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        if (del[i])
            names[k++] = r->v[i]->name;
    uint64_t rev = 0;
    int rc = r->store->ops->del(r->store, names, k, &rev, err);
    if (!rc && r->shared)
        for (size_t i = 0; i < k; i++)
            tomb_add(r, names[i], rev);
    free(names);
    if (rc)
        return rc;
    ns_entry **gone = malloc(n * sizeof *gone);
    size_t g = 0, w = 0;
    pthread_rwlock_wrlock(&r->rw);
    for (size_t i = 0; i < r->n; i++) {
        if (!del[i]) {
            r->v[w++] = r->v[i];
            continue;
        }
        changed(r, r->v[i]->name, NULL);
        if (gone)
            gone[g++] = r->v[i];
        else
            entry_free(r->v[i]); /* no memory for the list: free here */
    }
    r->n = w;
    pthread_rwlock_unlock(&r->rw);
    for (size_t i = 0; i < g; i++)
        entry_free(gone[i]);
    free(gone);
    return 0;
}

int ns_registry_remove(ns_registry *r, const char *pattern, roc_ns_match how,
                       size_t *removed, roc_error *err)
{
    matcher m;
    int rc = matcher_init(&m, pattern, how, err);
    if (rc) {
        matcher_done(&m);
        return rc;
    }
    pthread_mutex_lock(&r->wmtx);
    size_t n = 0;
    bool *del = calloc(r->n ? r->n : 1, sizeof *del);
    if (!del) {
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    } else if (how == ROC_NS_EXACT) {
        long idx = find(r, m.pattern);
        if (idx >= 0) {
            del[idx] = true;
            n = 1;
        }
    } else {
        for (size_t i = 0; i < r->n; i++)
            if ((del[i] = matches(&m, r->v[i]->name)))
                n++;
    }
    if (!rc)
        rc = remove_marked(r, del, n, err);
    free(del);
    pthread_mutex_unlock(&r->wmtx);
    matcher_done(&m);
    if (!rc && removed)
        *removed = n;
    return rc;
}

int ns_registry_remove_uri(ns_registry *r, const char *name, const char *uri,
                           size_t *removed, roc_error *err)
{
    if (!name || !uri)
        return roc_error_set(err, ROC_EBADARGS, "name and URI are required");
    int rc = 0;
    size_t k = 0;
    pthread_mutex_lock(&r->wmtx);
    for (int tries = 0;; tries++) {
        k = 0;
        long idx = find(r, name);
        ns_entry *old = idx >= 0 ? r->v[idx] : NULL;
        if (!old || !strv_has(old->uris, old->n_uris, uri))
            break;
        k = 1;
        if (old->n_uris == 1) {
            bool *del = calloc(r->n, sizeof *del);
            if (!del) {
                rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
            } else {
                del[idx] = true;
                rc = remove_marked(r, del, 1, err);
                free(del);
            }
            break;
        }
        ns_entry *ne = entry_new(name, NULL, 0, (const char *const *)old->meta,
                                 old->n_meta);
        for (size_t i = 0; ne && i < old->n_uris; i++)
            if (strcmp(old->uris[i], uri) != 0 &&
                !strv_add(&ne->uris, &ne->n_uris, old->uris[i])) {
                entry_free(ne);
                ne = NULL;
            }
        if (!ne) {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
            break;
        }
        ne->lease = old->lease;
        rc = commit_put(r, idx, ne, false, err);
        if (!conflict_retry(r, rc, tries))
            break;
    }
    pthread_mutex_unlock(&r->wmtx);
    if (!rc && removed)
        *removed = k;
    return rc;
}

int ns_registry_set_meta(ns_registry *r, const char *name,
                         const char *const *meta, size_t n_meta, roc_error *err)
{
    int rc = check_tags(meta, n_meta, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&r->wmtx);
    for (int tries = 0;; tries++) {
        long idx = find(r, name ? name : "");
        if (idx < 0) {
            rc = roc_error_set(err, ROC_ENOTFOUND, "'%s' is not registered",
                               name ? name : "");
            break;
        }
        ns_entry *old = r->v[idx];
        ns_entry *ne = entry_new(name, old->uris, old->n_uris, meta, n_meta);
        if (!ne) {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
            break;
        }
        ne->lease = old->lease;
        rc = commit_put(r, idx, ne, false, err);
        if (!conflict_retry(r, rc, tries))
            break;
    }
    pthread_mutex_unlock(&r->wmtx);
    return rc;
}

/* ------------------------------------------------------------ leases */

/* Removes every registration held by lease id from the view (and, for a
 * lease the registry keeps, from the store). */
static void drop_lease_names(ns_registry *r, uint64_t id, bool from_store,
                             uint64_t rev)
{
    pthread_mutex_lock(&r->wmtx);
    size_t n = 0;
    bool *del = calloc(r->n ? r->n : 1, sizeof *del);
    if (del) {
        for (size_t i = 0; i < r->n; i++)
            if ((del[i] = r->v[i]->lease == id))
                n++;
        if (from_store) {
            remove_marked(r, del, n, NULL);
        } else {
            for (size_t i = r->n; i-- > 0;)
                if (del[i]) {
                    if (r->shared)
                        tomb_add(r, r->v[i]->name, rev);
                    unpublish(r, i);
                }
        }
    }
    free(del);
    pthread_mutex_unlock(&r->wmtx);
}

static void *lease_main(void *arg)
{
    ns_registry *r = arg;
    pthread_mutex_lock(&r->lmtx);
    while (!r->stopping) {
        uint64_t now = now_ms(), next = now + 1000;
        for (size_t i = 0; i < r->n_leases;) {
            if (r->leases[i].expires_ms <= now) {
                uint64_t id = r->leases[i].id;
                r->leases[i] = r->leases[--r->n_leases];
                pthread_mutex_unlock(&r->lmtx);
                drop_lease_names(r, id, true, 0);
                pthread_mutex_lock(&r->lmtx);
                now = now_ms();
                i = 0;
                continue;
            }
            if (r->leases[i].expires_ms < next)
                next = r->leases[i].expires_ms;
            i++;
        }
        if (r->stopping)
            break;
        struct timespec until = {(time_t)(next / 1000),
                                 (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&r->lcv, &r->lmtx, &until);
    }
    pthread_mutex_unlock(&r->lmtx);
    return NULL;
}

int ns_registry_lease_grant(ns_registry *r, unsigned ttl_s, uint64_t *lease_out,
                            roc_error *err)
{
    if (ttl_s < 1 || ttl_s > NS_MAX_TTL)
        return roc_error_set(err, ROC_EBADARGS, "TTL %u s (1 to %d)", ttl_s,
                             NS_MAX_TTL);
    if (r->store->ops->lease_grant)
        return r->store->ops->lease_grant(r->store, ttl_s, lease_out, err);
    pthread_mutex_lock(&r->lmtx);
    int rc = 0;
    lease *nl = realloc(r->leases, (r->n_leases + 1) * sizeof *nl);
    if (!nl) {
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    } else {
        r->leases = nl;
        uint64_t id = ++r->next_lease & INT64_MAX;
        nl[r->n_leases++] =
            (lease){id ? id : 1, ttl_s, now_ms() + (uint64_t)ttl_s * 1000u};
        *lease_out = id ? id : 1;
        if (!r->lease_thread && !r->stopping) {
            if (pthread_create(&r->lthread, NULL, lease_main, r) == 0)
                r->lease_thread = true;
            else
                rc = roc_error_set(err, ROC_EINTERNAL, "cannot start a thread");
        }
        pthread_cond_broadcast(&r->lcv);
    }
    pthread_mutex_unlock(&r->lmtx);
    return rc;
}

int ns_registry_keepalive(ns_registry *r, uint64_t id, unsigned *ttl_s,
                          roc_error *err)
{
    if (r->store->ops->lease_keepalive)
        return r->store->ops->lease_keepalive(r->store, id, ttl_s, err);
    int rc =
        roc_error_set(err, ROC_ENOTFOUND, "lease %llu has expired or never was",
                      (unsigned long long)id);
    pthread_mutex_lock(&r->lmtx);
    for (size_t i = 0; i < r->n_leases; i++)
        if (r->leases[i].id == id) {
            r->leases[i].expires_ms =
                now_ms() + (uint64_t)r->leases[i].ttl * 1000u;
            if (ttl_s)
                *ttl_s = r->leases[i].ttl;
            roc_error_clear(err);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&r->lmtx);
    return rc;
}

int ns_registry_revoke(ns_registry *r, uint64_t id, roc_error *err)
{
    if (r->store->ops->lease_revoke) {
        uint64_t rev = 0;
        int rc = r->store->ops->lease_revoke(r->store, id, &rev, err);
        if (rc == 0)
            drop_lease_names(r, id, false, rev);
        return rc;
    }
    bool found = false;
    pthread_mutex_lock(&r->lmtx);
    for (size_t i = 0; i < r->n_leases; i++)
        if (r->leases[i].id == id) {
            r->leases[i] = r->leases[--r->n_leases];
            found = true;
            break;
        }
    pthread_mutex_unlock(&r->lmtx);
    if (found)
        drop_lease_names(r, id, true, 0);
    return 0;
}

/* ------------------------------------------------------------ reads */

static const char **strv_out(roc_arena *a, char *const *v, size_t n)
{
    const char **o = roc_arena_calloc(a, n ? n : 1, sizeof *o);
    for (size_t i = 0; o && i < n; i++)
        if (!(o[i] = roc_arena_strdup(a, v[i])))
            return NULL;
    return o;
}

static bool entry_out(roc_arena *a, const ns_entry *e, roc_ns_entry *o)
{
    o->name = roc_arena_strdup(a, e->name);
    o->uris = strv_out(a, e->uris, e->n_uris);
    o->n_uris = e->n_uris;
    o->meta = strv_out(a, e->meta, e->n_meta);
    o->n_meta = e->n_meta;
    return o->name && o->uris && o->meta;
}

int ns_registry_lookup(ns_registry *r, const char *name, roc_arena *a,
                       roc_ns_entry *out, roc_error *err)
{
    int rc = check_name(name, "name", err);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&r->rw);
    long idx = find(r, name);
    if (idx < 0)
        rc = roc_error_set(err, ROC_ENOTFOUND, "'%s' is not registered", name);
    else if (!entry_out(a, r->v[idx], out))
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    pthread_rwlock_unlock(&r->rw);
    return rc;
}

/* Entries i for which keep(i) holds, copied into a. Caller holds rw. */
static int collect(ns_registry *r, roc_arena *a,
                   bool (*keep)(const ns_entry *, const void *),
                   const void *arg, roc_ns_entry **out, size_t *n,
                   roc_error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        k += keep(r->v[i], arg);
    roc_ns_entry *es = roc_arena_calloc(a, k ? k : 1, sizeof *es);
    if (!es)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    size_t j = 0;
    for (size_t i = 0; i < r->n; i++)
        if (keep(r->v[i], arg) && !entry_out(a, r->v[i], &es[j++]))
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
    *out = es;
    *n = k;
    return 0;
}

static bool keep_match(const ns_entry *e, const void *arg)
{
    return matches(arg, e->name);
}

void ns_registry_on_change(ns_registry *r, ns_change_fn fn, void *arg)
{
    pthread_rwlock_wrlock(&r->rw);
    r->change_fn = fn;
    r->change_arg = arg;
    pthread_rwlock_unlock(&r->rw);
}

static bool keep_prefix(const ns_entry *e, const void *arg)
{
    return strncmp(e->name, arg, strlen(arg)) == 0;
}

int ns_registry_snapshot(ns_registry *r, const char *prefix, roc_arena *a,
                         roc_ns_entry **out, size_t *n, uint64_t *seq,
                         roc_error *err)
{
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > ROC_NS_MAX_NAME)
        return roc_error_set(err, ROC_EBADARGS,
                             "prefix longer than %d characters",
                             ROC_NS_MAX_NAME);
    pthread_rwlock_rdlock(&r->rw);
    int rc = collect(r, a, keep_prefix, prefix, out, n, err);
    *seq = r->seq;
    pthread_rwlock_unlock(&r->rw);
    return rc;
}

int ns_registry_list(ns_registry *r, const char *pattern, roc_ns_match how,
                     roc_arena *a, roc_ns_entry **out, size_t *n,
                     roc_error *err)
{
    matcher m;
    int rc = matcher_init(&m, pattern, how, err);
    if (!rc) {
        pthread_rwlock_rdlock(&r->rw);
        rc = collect(r, a, keep_match, &m, out, n, err);
        pthread_rwlock_unlock(&r->rw);
    }
    matcher_done(&m);
    return rc;
}

typedef struct meta_q {
    const char *const *tags;
    size_t n;
    bool any;
} meta_q;

static bool keep_meta(const ns_entry *e, const void *arg)
{
    const meta_q *q = arg;
    for (size_t i = 0; i < q->n; i++) {
        bool has = strv_has(e->meta, e->n_meta, q->tags[i]);
        if (q->any && has)
            return true;
        if (!q->any && !has)
            return false;
    }
    return !q->any;
}

int ns_registry_meta(ns_registry *r, const char *const *tags, size_t n_tags,
                     bool any, roc_arena *a, roc_ns_entry **out, size_t *n,
                     roc_error *err)
{
    int rc = check_tags(tags, n_tags, err);
    if (rc)
        return rc;
    meta_q q = {tags, n_tags, any};
    pthread_rwlock_rdlock(&r->rw);
    rc = collect(r, a, keep_meta, &q, out, n, err);
    pthread_rwlock_unlock(&r->rw);
    return rc;
}
