/* roc-ns watches (watch.h). */
#include "watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* One change, as the registry told it. */
typedef struct change {
    struct change *next;
    uint64_t seq;
    roc_naming_Entry e; /* uris/meta empty when removed */
    bool removed;
} change;

typedef struct watcher {
    _Atomic int refs;
    _Atomic bool dead;
    uint64_t id;
    uint64_t start_seq; /* told the changes after this one */
    char *prefix;
    size_t plen;
    roc_naming_Watcher *proxy;
} watcher;

struct ns_watch_hub {
    ns_registry *reg;
    size_t max; /* watchers at most */
    /* watchers, under wmtx (taken before the registry's locks) */
    pthread_mutex_t wmtx;
    watcher **w;
    size_t n, cap;
    _Atomic size_t active; /* n, for the change listener's quick check */
    /* changes queued, under qmtx */
    pthread_mutex_t qmtx;
    pthread_cond_t qcv;
    change *head, *tail;
    size_t queued;
    bool overflow, stop;
    pthread_t thread;
};

static void change_free(change *c)
{
    if (!c)
        return;
    free((char *)c->e.name);
    for (size_t i = 0; i < c->e.uris.len; i++)
        free((char *)c->e.uris.items[i]);
    free(c->e.uris.items);
    for (size_t i = 0; i < c->e.meta.len; i++)
        free((char *)c->e.meta.items[i]);
    free(c->e.meta.items);
    free(c);
}

static bool strv_dup(const char ***out, size_t *len, char *const *v, size_t n)
{
    *len = 0;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((*out)[i] = strdup(v[i])))
            return false;
        (*len)++;
    }
    return true;
}

static void watcher_unref(watcher *w)
{
    if (!w || atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    roc_naming_Watcher_close(w->proxy);
    free(w->prefix);
    free(w);
}

/* The registry's listener: copies the change into the queue (under the
 * registry's write lock: quick, no I/O). */
static void on_change(void *arg, uint64_t seq, const char *name,
                      const ns_entry *e)
{
    ns_watch_hub *h = arg;
    if (atomic_load(&h->active) == 0)
        return;
    change *c = calloc(1, sizeof *c);
    bool ok = c && (c->e.name = strdup(name)) != NULL;
    if (ok && e)
        ok = strv_dup(&c->e.uris.items, &c->e.uris.len, e->uris, e->n_uris) &&
             strv_dup(&c->e.meta.items, &c->e.meta.len, e->meta, e->n_meta);
    pthread_mutex_lock(&h->qmtx);
    if (!ok || h->queued >= NS_MAX_QUEUED) {
        /* a change no watcher will hear of: they must all start over */
        h->overflow = true;
        change_free(c);
    } else {
        c->seq = seq;
        c->removed = e == NULL;
        if (h->tail)
            h->tail->next = c;
        else
            h->head = c;
        h->tail = c;
        h->queued++;
    }
    pthread_cond_signal(&h->qcv);
    pthread_mutex_unlock(&h->qmtx);
}

/* Takes the watchers marked dead (or all) out of the list; with check,
 * also those whose connection has closed (no I/O: a callback proxy knows
 * its connection). Caller holds wmtx. */
static void sweep_locked(ns_watch_hub *h, bool all, bool check)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (check && !atomic_load(&h->w[i]->dead) &&
            roc_proxy_bind(roc_naming_Watcher_proxy(h->w[i]->proxy), NULL) !=
                0)
            atomic_store(&h->w[i]->dead, true);
        if (all || atomic_load(&h->w[i]->dead))
            watcher_unref(h->w[i]);
        else
            h->w[k++] = h->w[i];
    }
    h->n = k;
    atomic_store(&h->active, k);
}

static void sweep(ns_watch_hub *h, bool all, bool check)
{
    pthread_mutex_lock(&h->wmtx);
    sweep_locked(h, all, check);
    pthread_mutex_unlock(&h->wmtx);
}

/* Tells the watchers of c (a referenced copy of the list). */
static void tell(watcher **ws, size_t n, const change *c)
{
    for (size_t i = 0; i < n; i++) {
        watcher *w = ws[i];
        if (atomic_load(&w->dead) || c->seq <= w->start_seq ||
            strncmp(c->e.name, w->prefix, w->plen) != 0)
            continue;
        roc_error err = ROC_ERROR_INIT;
        int rc = c->removed ? roc_naming_Watcher_removed(w->proxy, w->id,
                                                         c->seq, c->e.name,
                                                         &err)
                            : roc_naming_Watcher_put(w->proxy, w->id, c->seq,
                                                     &c->e, &err);
        if (rc)
            atomic_store(&w->dead, true); /* its connection is gone */
        roc_error_clear(&err);
    }
}

static void *hub_main(void *arg)
{
    ns_watch_hub *h = arg;
    watcher **ws = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&h->qmtx);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += NS_WATCH_SWEEP_S;
        int w = 0;
        while (!h->head && !h->overflow && !h->stop && w == 0)
            w = pthread_cond_timedwait(&h->qcv, &h->qmtx, &ts);
        if (h->stop) {
            pthread_mutex_unlock(&h->qmtx);
            break;
        }
        if (!h->head && !h->overflow) {
            /* quiet for a while: drop the watchers that left */
            pthread_mutex_unlock(&h->qmtx);
            sweep(h, false, true);
            continue;
        }
        change *batch = h->head;
        bool overflow = h->overflow;
        h->head = h->tail = NULL;
        h->queued = 0;
        h->overflow = false;
        pthread_mutex_unlock(&h->qmtx);
        if (overflow) {
            sweep(h, true, false);
            while (batch) {
                change *nx = batch->next;
                change_free(batch);
                batch = nx;
            }
            continue;
        }
        pthread_mutex_lock(&h->wmtx);
        size_t n = h->n;
        if (n > cap) {
            watcher **nw = realloc(ws, n * sizeof *nw);
            if (nw) {
                ws = nw;
                cap = n;
            } else {
                n = cap;
            }
        }
        for (size_t i = 0; i < n; i++) {
            ws[i] = h->w[i];
            atomic_fetch_add(&ws[i]->refs, 1);
        }
        pthread_mutex_unlock(&h->wmtx);
        bool any_dead = false;
        while (batch) {
            change *nx = batch->next;
            tell(ws, n, batch);
            change_free(batch);
            batch = nx;
        }
        for (size_t i = 0; i < n; i++) {
            any_dead |= atomic_load(&ws[i]->dead);
            watcher_unref(ws[i]);
        }
        if (any_dead)
            sweep(h, false, false);
    }
    free(ws);
    return NULL;
}

int ns_watch_hub_open(ns_watch_hub **out, ns_registry *r, size_t max,
                      roc_error *err)
{
    ns_watch_hub *h = calloc(1, sizeof *h);
    if (!h)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    h->reg = r;
    h->max = max;
    pthread_mutex_init(&h->wmtx, NULL);
    pthread_mutex_init(&h->qmtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->qcv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
        pthread_mutex_destroy(&h->wmtx);
        pthread_mutex_destroy(&h->qmtx);
        pthread_cond_destroy(&h->qcv);
        free(h);
        return roc_error_set(err, ROC_ENOMEM, "cannot start a thread");
    }
    ns_registry_on_change(r, on_change, h);
    *out = h;
    return 0;
}

void ns_watch_hub_close(ns_watch_hub *h)
{
    if (!h)
        return;
    ns_registry_on_change(h->reg, NULL, NULL);
    pthread_mutex_lock(&h->qmtx);
    h->stop = true;
    pthread_cond_signal(&h->qcv);
    pthread_mutex_unlock(&h->qmtx);
    pthread_join(h->thread, NULL);
    while (h->head) {
        change *nx = h->head->next;
        change_free(h->head);
        h->head = nx;
    }
    sweep(h, true, false);
    free(h->w);
    pthread_mutex_destroy(&h->wmtx);
    pthread_mutex_destroy(&h->qmtx);
    pthread_cond_destroy(&h->qcv);
    free(h);
}

static uint64_t new_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        static _Atomic uint64_t k;
        id = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
             (atomic_fetch_add(&k, 1) << 48);
    }
    return id ? id : 1;
}

int ns_watch_hub_add(ns_watch_hub *h, const char *prefix,
                     roc_naming_Watcher *proxy, roc_arena *a, uint64_t *id,
                     uint64_t *seq, roc_ns_entry **es, size_t *n,
                     roc_error *err)
{
    if (!prefix)
        prefix = "";
    watcher *w = calloc(1, sizeof *w);
    if (!w || !(w->prefix = strdup(prefix))) {
        free(w);
        roc_naming_Watcher_close(proxy);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    atomic_init(&w->refs, 1);
    atomic_init(&w->dead, false);
    w->plen = strlen(prefix);
    w->proxy = proxy;
    w->id = new_id();
    int rc = 0;
    pthread_mutex_lock(&h->wmtx);
    if (h->n >= h->max)
        sweep_locked(h, false, true); /* some may have left */
    if (h->n >= h->max) {
        rc = roc_error_set(err, ROC_EBUSY,
                           "this name server holds %zu watches already "
                           "(roc-ns --max-watches)",
                           h->max);
    } else if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 16;
        watcher **nw = realloc(h->w, nc * sizeof *nw);
        if (nw) {
            h->w = nw;
            h->cap = nc;
        } else {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        }
    }
    if (rc == 0) {
        /* counted before the snapshot, so that every change after it is
         * queued; told only those after its seq */
        atomic_fetch_add(&h->active, 1);
        rc = ns_registry_snapshot(h->reg, prefix, a, es, n, &w->start_seq,
                                  err);
        if (rc == 0)
            h->w[h->n++] = w;
        atomic_store(&h->active, h->n);
    }
    pthread_mutex_unlock(&h->wmtx);
    if (rc) {
        watcher_unref(w);
        return rc;
    }
    *id = w->id;
    *seq = w->start_seq;
    return 0;
}

bool ns_watch_hub_has(ns_watch_hub *h, uint64_t id)
{
    bool found = false;
    pthread_mutex_lock(&h->wmtx);
    for (size_t i = 0; i < h->n && !found; i++)
        found = h->w[i]->id == id && !atomic_load(&h->w[i]->dead);
    pthread_mutex_unlock(&h->wmtx);
    return found;
}

void ns_watch_hub_remove(ns_watch_hub *h, uint64_t id)
{
    pthread_mutex_lock(&h->wmtx);
    for (size_t i = 0; i < h->n; i++)
        if (h->w[i]->id == id) {
            atomic_store(&h->w[i]->dead, true);
            watcher_unref(h->w[i]);
            h->w[i] = h->w[--h->n];
            break;
        }
    atomic_store(&h->active, h->n);
    pthread_mutex_unlock(&h->wmtx);
}

size_t ns_watch_hub_count(ns_watch_hub *h)
{
    pthread_mutex_lock(&h->wmtx);
    size_t n = h->n;
    pthread_mutex_unlock(&h->wmtx);
    return n;
}
