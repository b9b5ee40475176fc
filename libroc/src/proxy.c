/* The client side: the process's registry of connections (one per
 * endpoint, shared by every proxy), proxies, synchronous and asynchronous
 * calls, futures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roci.h"
#include "roci_discovery.h"

/* ------------------------------------------------------------ registry */

typedef struct dialing {
    struct dialing *next;
    const char *url;
} dialing;

static pthread_mutex_t reg_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static roci_conn *reg_head;
static dialing *reg_dialing;

static void client_on_close(roci_conn *c)
{
    bool found = false;
    pthread_mutex_lock(&reg_mtx);
    for (roci_conn **pp = &reg_head; *pp; pp = &(*pp)->cl_next)
        if (*pp == c) {
            *pp = c->cl_next;
            found = true;
            break;
        }
    pthread_mutex_unlock(&reg_mtx);
    if (found)
        roci_conn_unref(c); /* the registry's reference */
}

static int client_prep(roci_conn *c, void *arg)
{
    (void)arg;
    c->on_close2 = client_on_close;
    return roci_client_attach(c, NULL);
}


/* A proxy or future starts/stops using c. When nothing uses a connection
 * any more it is closed, so that the server sees the session end. */
static void use_conn(roci_conn *c)
{
    atomic_fetch_add(&c->users, 1);
}

static void unuse_conn(roci_conn *c)
{
    /* not the last user (the common case: the proxy is one): no lock */
    int n = atomic_load(&c->users);
    while (n > 1)
        if (atomic_compare_exchange_weak(&c->users, &n, n - 1))
            return;
    /* under reg_mtx, so that get_conn never hands out a connection that is
     * about to close for want of users */
    pthread_mutex_lock(&reg_mtx);
    bool last = atomic_fetch_sub(&c->users, 1) == 1;
    pthread_mutex_unlock(&reg_mtx);
    if (last)
        roci_conn_close(c, ROC_ECLOSED, "no proxy uses the connection");
}

/* Gives a referenced, usable connection to url, dialing when needed. */
static int get_conn(const char *url, int timeout_ms, roci_conn **out,
                    roc_error *err)
{
    pthread_mutex_lock(&reg_mtx);
    for (;;) {
        for (roci_conn *c = reg_head; c; c = c->cl_next) {
            if (strcmp(c->url, url) == 0 && roci_conn_usable(c) &&
                atomic_load(&c->users) > 0) {
                roci_conn_ref(c);
                use_conn(c);
                pthread_mutex_unlock(&reg_mtx);
                *out = c;
                return 0;
            }
        }
        bool busy = false;
        for (dialing *d = reg_dialing; d; d = d->next)
            if (strcmp(d->url, url) == 0)
                busy = true;
        if (!busy)
            break;
        pthread_cond_wait(&reg_cv, &reg_mtx);
    }
    dialing me = {reg_dialing, url};
    reg_dialing = &me;
    pthread_mutex_unlock(&reg_mtx);

    roci_conn *c = NULL;
    int rc = roci_conn_dial(url, timeout_ms, client_prep, NULL, &c, err);

    pthread_mutex_lock(&reg_mtx);
    for (dialing **pp = &reg_dialing; *pp; pp = &(*pp)->next)
        if (*pp == &me) {
            *pp = me.next;
            break;
        }
    if (rc == 0) {
        c->cl_next = reg_head;
        reg_head = c; /* the creation reference becomes the registry's */
        roci_conn_ref(c);
        use_conn(c);
    }
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg_mtx);
    if (rc == 0) {
        /* closed between the dial and now: make sure it leaves the list */
        if (c->state == ROCI_ST_CLOSED)
            client_on_close(c);
        *out = c;
    }
    return rc;
}


/* ------------------------------------------------------------ proxies */

/* One place the object lives: a ROC: URI's id and url, and the connection
 * the proxy uses for it (under the proxy's mutex). */
typedef struct target {
    char *object;
    char *url;        /* NULL for a fixed connection */
    roci_conn *conn;
    bool fixed;       /* callbacks, roc_conn: this connection or nothing */
} target;

struct roc_proxy {
    pthread_mutex_t mtx;
    roc_export *local;  /* roc_proxy_open_export: stands for a local object */
    char *uri;          /* as opened (normalised for ROC:) */
    roc_arena *ua;      /* holds u */
    roc_uri u;          /* parsed uri, for re-resolution of names */
    bool named;         /* ROCNAME:/ROCMETA:: resolved through the name server */
    char *discover;     /* ROCDISCOVER:NAME: resolved on the LAN (NAME) */
    target **t;         /* replicas; calls rotate over them */
    size_t nt;
    size_t rr;
    target **retired;   /* replaced by a re-resolution, freed at close */
    size_t nretired;
    roci_follow *follow; /* ROCNAME: the name's URIs as they change */
    _Atomic uint64_t fver; /* the version of them t was made from */
    int timeout_ms;
};

static int default_timeout(void)
{
    const char *e = getenv("ROC_TIMEOUT_MS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == 0 && v != 0 && v >= -1 && v <= INT32_MAX)
            return (int)v;
    }
    return ROC_DEFAULT_TIMEOUT_MS;
}

static void target_free(target *t)
{
    if (!t)
        return;
    if (t->conn) {
        if (!t->fixed)
            unuse_conn(t->conn);
        roci_conn_unref(t->conn);
    }
    free(t->object);
    free(t->url);
    free(t);
}

/* Makes targets from ROC: URI strings; 0 or an error. */
static int make_targets(char **uris, size_t n, target ***out, size_t *nout,
                        roc_error *err)
{
    target **ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    size_t k = 0;
    roc_arena *a = NULL;
    int rc = roc_arena_new(&a);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        roc_uri u;
        if (roc_uri_parse(a, uris[i], &u, NULL) != 0 ||
            u.kind != ROC_URI_OBJECT)
            continue; /* a bad registration: skip it */
        target *t = calloc(1, sizeof *t);
        if (!t || !(t->object = strdup(u.id)) || !(t->url = strdup(u.url))) {
            target_free(t);
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
            break;
        }
        ts[k++] = t;
    }
    roc_arena_free(a);
    if (rc == 0 && k == 0)
        rc = roc_error_set(err, ROC_ENOTFOUND,
                           "no usable object URI was registered");
    if (rc) {
        for (size_t i = 0; i < k; i++)
            target_free(ts[i]);
        free(ts);
        return rc;
    }
    *out = ts;
    *nout = k;
    return 0;
}

static int resolve(roc_proxy *p, target ***ts, size_t *n, roc_error *err)
{
    char **uris = NULL;
    size_t nu = 0;
    int rc = p->discover
                 ? roci_discover_resolve(p->discover, p->timeout_ms, &uris,
                                         &nu, err)
                 : roci_naming_resolve(&p->u, p->timeout_ms, &uris, &nu, err);
    if (rc == 0)
        rc = make_targets(uris, nu, ts, n, err);
    for (size_t i = 0; i < nu; i++)
        free(uris[i]);
    free(uris);
    return rc;
}

/* Failures that happen before a call is sent: another replica may serve. */
static bool not_reached(int rc)
{
    return rc == ROC_ECONNREFUSED || rc == ROC_EUNREACHABLE ||
           rc == ROC_ECLOSED || rc == ROC_ETRANSPORT || rc == ROC_ETIMEDOUT;
}

/* Retires the targets of p not in keep (n of them) and makes keep p's
 * targets. Caller holds p->mtx. */
static int replace_targets(roc_proxy *p, target **keep, size_t n)
{
    size_t gone = 0;
    for (size_t i = 0; i < p->nt; i++) {
        bool kept = false;
        for (size_t j = 0; j < n && !kept; j++)
            kept = keep[j] == p->t[i];
        gone += !kept;
    }
    target **ret = realloc(p->retired, (p->nretired + gone + 1) * sizeof *ret);
    if (!ret)
        return ROC_ENOMEM;
    p->retired = ret;
    for (size_t i = 0; i < p->nt; i++) {
        bool kept = false;
        for (size_t j = 0; j < n && !kept; j++)
            kept = keep[j] == p->t[i];
        if (!kept)
            p->retired[p->nretired++] = p->t[i];
    }
    free(p->t);
    p->t = keep;
    p->nt = n;
    return 0;
}

/* A followed name's URIs changed: the targets follow (the connections of
 * replicas that stay are kept). A name that is no longer registered
 * leaves the targets as they are: calls fail or succeed as the objects
 * do, and re-resolution says when the name is gone. */
static void follow_refresh(roc_proxy *p)
{
    uint64_t ver = atomic_load(&p->fver);
    char **uris = NULL;
    size_t n = 0;
    if (!roci_follow_uris(p->follow, &ver, &uris, &n))
        return;
    target **ts = NULL;
    size_t nts = 0;
    bool made = n && make_targets(uris, n, &ts, &nts, NULL) == 0;
    for (size_t i = 0; i < n; i++)
        free(uris[i]);
    free(uris);
    pthread_mutex_lock(&p->mtx);
    if (ver <= atomic_load(&p->fver)) { /* another thread was first */
        pthread_mutex_unlock(&p->mtx);
        made = false;
    } else {
        atomic_store(&p->fver, ver);
        if (made)
            for (size_t j = 0; j < nts; j++)
                for (size_t i = 0; i < p->nt; i++)
                    if (!p->t[i]->fixed &&
                        strcmp(p->t[i]->object, ts[j]->object) == 0 &&
                        strcmp(p->t[i]->url, ts[j]->url) == 0) {
                        target_free(ts[j]);
                        ts[j] = p->t[i]; /* same replica: keep it */
                        break;
                    }
        if (made && replace_targets(p, ts, nts) == 0)
            ts = NULL;
        pthread_mutex_unlock(&p->mtx);
    }
    if (ts) { /* not taken: free what is not one of p's */
        for (size_t j = 0; j < nts; j++) {
            bool ours = false;
            pthread_mutex_lock(&p->mtx);
            for (size_t i = 0; i < p->nt && !ours; i++)
                ours = p->t[i] == ts[j];
            pthread_mutex_unlock(&p->mtx);
            if (!ours)
                target_free(ts[j]);
        }
        free(ts);
    }
}

int roc_proxy_open(roc_proxy **out, const char *uri, roc_error *err)
{
    if (!out || !uri)
        return roc_error_set(err, ROC_EINVAL, "roc_proxy_open: no URI");
    roc_proxy *p = calloc(1, sizeof *p);
    if (!p || roc_arena_new(&p->ua) != 0) {
        free(p);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mtx, NULL);
    p->timeout_ms = default_timeout();
    int rc = 0;
    if (strncasecmp(uri, "ROCDISCOVER:", 12) == 0) {
        /* an object or service announced on the LAN (discovery.c) */
        p->named = true;
        p->uri = strdup(uri);
        p->discover = strdup(uri + 12);
        rc = p->uri && p->discover
                 ? resolve(p, &p->t, &p->nt, err)
                 : roc_error_set(err, ROC_ENOMEM, "out of memory");
    } else if ((rc = roc_uri_parse(p->ua, uri, &p->u, err)) != 0) {
        /* rc set */
    } else if (p->u.kind == ROC_URI_OBJECT) {
        size_t n = strlen(p->u.id) + strlen(p->u.url) + 6;
        char *one = malloc(n);
        if (one) {
            snprintf(one, n, "ROC:%s@%s", p->u.id, p->u.url);
            p->uri = one;
            rc = make_targets(&one, 1, &p->t, &p->nt, err);
        } else {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        }
    } else {
        p->named = true;
        p->uri = strdup(uri);
        /* a name is followed (its replicas as they come and go) when a
         * name server watch can be had; its first answer gives the
         * targets */
        int frc = p->uri && p->u.kind == ROC_URI_NAME
                      ? roci_follow_get(&p->u, p->timeout_ms, &p->follow, err)
                      : ROC_EUNAVAIL;
        if (frc == 0) {
            char **uris = NULL;
            size_t n = 0;
            uint64_t ver = 0;
            roci_follow_uris(p->follow, &ver, &uris, &n);
            atomic_store(&p->fver, ver);
            if (n == 0 || make_targets(uris, n, &p->t, &p->nt, NULL) != 0)
                p->nt = 0;
            for (size_t i = 0; i < n; i++)
                free(uris[i]);
            free(uris);
        }
        rc = !p->uri          ? roc_error_set(err, ROC_ENOMEM, "out of memory")
             : p->nt         ? 0
             : not_reached(frc) ? frc /* err says so */
                             : resolve(p, &p->t, &p->nt, err);
    }
    if (rc) {
        roc_proxy_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

void roc_proxy_close(roc_proxy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nt; i++)
        target_free(p->t[i]);
    free(p->t);
    for (size_t i = 0; i < p->nretired; i++)
        target_free(p->retired[i]);
    free(p->retired);
    roci_follow_put(p->follow);
    free(p->uri);
    free(p->discover);
    roc_arena_free(p->ua);
    pthread_mutex_destroy(&p->mtx);
    free(p);
}

const char *roc_proxy_uri(const roc_proxy *p)
{
    return p ? p->uri : NULL;
}

const char *roc_proxy_object(const roc_proxy *p)
{
    /* targets are only ever added, never freed before close */
    return p && p->nt ? p->t[0]->object : NULL;
}

void roc_proxy_set_timeout(roc_proxy *p, int timeout_ms)
{
    if (p)
        p->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

int roc_proxy_get_timeout(const roc_proxy *p)
{
    return p ? p->timeout_ms : -1;
}

/* A referenced usable connection for target t (redials when the old one
 * died). */
static int target_conn(roc_proxy *p, target *t, int timeout_ms,
                       roci_conn **out, roc_error *err)
{
    pthread_mutex_lock(&p->mtx);
    roci_conn *c = t->conn;
    if (c && roci_conn_usable(c)) {
        roci_conn_ref(c);
        pthread_mutex_unlock(&p->mtx);
        *out = c;
        return 0;
    }
    if (t->fixed) {
        pthread_mutex_unlock(&p->mtx);
        return roc_error_set(err, ROC_ECLOSED,
                             "the connection to the peer of '%s' is closed",
                             t->object);
    }
    t->conn = NULL;
    pthread_mutex_unlock(&p->mtx);
    if (c) {
        unuse_conn(c);
        roci_conn_unref(c);
    }
    int rc = get_conn(t->url, timeout_ms, &c, err);
    if (rc)
        return rc;
    roci_conn_ref(c);
    pthread_mutex_lock(&p->mtx);
    roci_conn *old = t->conn;
    t->conn = c;
    pthread_mutex_unlock(&p->mtx);
    if (old) {
        unuse_conn(old);
        roci_conn_unref(old);
    }
    *out = c;
    return 0;
}

/* Picks a replica (rotating) and gives a connection to it. When no replica
 * can be reached and the proxy stands for a name, asks the name server
 * again once (the server may have moved). */
static int acquire(roc_proxy *p, int timeout_ms, target **tout,
                   roci_conn **cout, roc_error *err)
{
    if (p->local)
        return roc_error_set(err, ROC_EINVAL,
                             "%s stands for a local object: pass it in calls, "
                             "call its servant directly",
                             p->uri);
    if (p->follow)
        follow_refresh(p);
    /* the common case in one critical section: the next replica's
     * connection is up */
    pthread_mutex_lock(&p->mtx);
    if (p->nt) {
        target *t = p->t[p->rr % p->nt];
        roci_conn *c = t->conn;
        if (c && roci_conn_usable(c)) {
            p->rr++;
            roci_conn_ref(c);
            pthread_mutex_unlock(&p->mtx);
            *tout = t;
            *cout = c;
            return 0;
        }
    }
    pthread_mutex_unlock(&p->mtx);
    bool reresolved = false;
    int rc = ROC_ENOTFOUND;
    for (;;) {
        pthread_mutex_lock(&p->mtx);
        size_t n = p->nt;
        size_t start = p->rr++;
        pthread_mutex_unlock(&p->mtx);
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_lock(&p->mtx);
            target *t = p->t[(start + i) % p->nt];
            pthread_mutex_unlock(&p->mtx);
            rc = target_conn(p, t, timeout_ms, cout, err);
            if (rc == 0) {
                *tout = t;
                return 0;
            }
            if (!not_reached(rc))
                return rc;
        }
        if (!p->named || reresolved)
            return rc;
        reresolved = true;
        target **ts;
        size_t nts;
        roc_error rerr = ROC_ERROR_INIT;
        if (resolve(p, &ts, &nts, &rerr) != 0) {
            roc_error_clear(&rerr);
            return rc; /* keep the connection error */
        }
        roc_error_clear(&rerr);
        pthread_mutex_lock(&p->mtx);
        target **ret = realloc(p->retired,
                               (p->nretired + p->nt) * sizeof *ret);
        if (!ret) {
            pthread_mutex_unlock(&p->mtx);
            for (size_t i = 0; i < nts; i++)
                target_free(ts[i]);
            free(ts);
            return rc;
        }
        p->retired = ret;
        memcpy(p->retired + p->nretired, p->t, p->nt * sizeof *ret);
        p->nretired += p->nt;
        free(p->t);
        p->t = ts;
        p->nt = nts;
        pthread_mutex_unlock(&p->mtx);
    }
}

int roc_proxy_bind(roc_proxy *p, roc_error *err)
{
    if (!p)
        return roc_error_set(err, ROC_EINVAL, "no proxy");
    roci_conn *c;
    target *t;
    int rc = acquire(p, p->timeout_ms, &t, &c, err);
    if (rc == 0)
        roci_conn_unref(c);
    return rc;
}

/* ------------------------------------------------------------ encoding */

/* Encodes a call frame into b. With seg, one large bytes argument stays
 * in the caller's memory (sent by a gather write). */
static int encode_call(roc_buf *b, roci_seg *seg, roci_conn *export_conn,
                       unsigned kind, uint64_t id, const char *object,
                       const char *method, const roc_value *args,
                       int timeout_ms, const char *trace)
{
    msgpack_packer pk;
    roci_wbuf w = {b, seg};
    if (seg)
        roci_frame_begin_seg(&pk, &w, 7, kind);
    else
        roci_frame_begin(&pk, b, 7, kind);
    roci_pack_u64(&pk, id);
    int rc = roci_pack_str(&pk, object, strlen(object));
    if (!rc)
        rc = roci_pack_str(&pk, method, strlen(method));
    if (rc)
        return rc;
    if (args) {
        roci_pack_set_export(roci_export_on, export_conn);
        rc = roci_pack_value(&pk, args, 0);
        roci_pack_set_export(NULL, NULL);
    } else
        rc = roci_pack_container(&pk, false, 0);
    if (rc)
        return rc;
    roci_pack_container(&pk, true, (timeout_ms > 0) + (trace != NULL));
    if (timeout_ms > 0) {
        roci_pack_str(&pk, "deadline", 8);
        roci_pack_u64(&pk, (uint32_t)timeout_ms);
    }
    if (trace) {
        roci_pack_str(&pk, "trace", 5);
        roci_pack_str(&pk, trace, strlen(trace));
    }
    rc = roci_frame_end_seg(b, seg);
    if (rc == 0 &&
        b->len - 4 + (seg && seg->ptr ? seg->len : 0) > ROC_DEFAULT_MAX_FRAME)
        rc = ROC_ETOOBIG;
    return rc;
}

static int encode_fail(roc_error *err, int rc, const char *method)
{
    if (rc == ROC_ETOOBIG)
        return roc_error_set(err, rc,
                             "call of %s is larger than the %u-byte frame "
                             "limit",
                             method, ROC_DEFAULT_MAX_FRAME);
    if (rc == ROC_ENOMEM)
        return roc_error_set(err, rc, "out of memory encoding %s", method);
    return roc_error_set(err, ROC_EINVAL,
                         "arguments of %s cannot be encoded (not an array, "
                         "bad value or nesting too deep)",
                         method);
}


/* Decodes [code, type, message, data] into err; returns the local code. */
static int decode_error(roci_rd *r, roc_error *err)
{
    uint32_t n;
    int64_t code = ROC_EINTERNAL;
    const char *t = "roc.Internal", *m = "";
    uint32_t tl = 12, ml = 0;
    if (roci_rd_array(r, &n) || n != 4 || roci_rd_i64(r, &code) ||
        roci_rd_str(r, &t, &tl) || roci_rd_str(r, &m, &ml))
        return roc_error_set(err, ROC_EPROTO, "malformed error reply");
    int local = roc_error_from_wire(code > INT32_MAX || code < 0 ? 8 : (int)code);
    if (!err)
        return local;
    roc_error_clear(err);
    err->code = local;
    err->wire_code = (int)code;
    err->type = strndup(t, tl);
    err->message = strndup(m, ml);
    if (!roci_rd_is_nil(r) && roc_arena_new(&err->arena_) == 0) {
        roc_value *v = roc_arena_alloc(err->arena_, sizeof *v);
        if (v && roci_rd_value(r, err->arena_, v) == 0)
            err->data = v;
    }
    return local;
}

/* ------------------------------------------------------------ sync calls */

typedef struct sync_wait {
    roci_waiter w; /* first: the pending is the wait */
    roci_conn *c;
    int rc;
    roc_arena *arena;
    roc_value **result;
    roc_error *err;
} sync_wait;

static void sync_complete(roci_pending *pp, int rc, roci_rd *r,
                          const char *why)
{
    sync_wait *w = (sync_wait *)pp;
    int out;
    if (rc == 0) {
        out = 0;
        if (w->result) {
            roc_value *v = roc_arena_alloc(w->arena, sizeof *v);
            /* a big reply: keep the received buffer, decode in place */
            uint8_t *buf = v ? roci_conn_take_rbuf(w->c) : NULL;
            bool adopted = buf && roci_arena_adopt(w->arena, buf) == 0;
            r->borrow = adopted;
            out = v ? roci_rd_value(r, w->arena, v) : ROC_ENOMEM;
            if (buf && !adopted)
                free(buf); /* decoded by copy */
            if (out)
                out = roc_error_set(w->err, out, "cannot decode the result");
            else
                *w->result = v;
        }
    } else if (rc == ROCI_GOT_ERROR) {
        out = decode_error(r, w->err);
    } else {
        out = roc_error_set(w->err, rc, "%s", why ? why : roc_strerror(rc));
    }
    w->rc = out;
    roci_conn_waiter_done(w->c, &w->w);
}

static int resolve_timeout(const roc_proxy *p, const roc_call_opts *o)
{
    if (o && o->timeout_ms != 0)
        return o->timeout_ms < 0 ? -1 : o->timeout_ms;
    return p->timeout_ms;
}

static int call_once(roc_proxy *p, const char *method, const roc_value *args,
                     const roc_call_opts *opts, roc_value **result,
                     roc_arena *arena, roc_error *err)
{
    int timeout = resolve_timeout(p, opts);
    uint64_t start = roci_now_ms();
    roci_conn *c;
    target *t;
    int rc = acquire(p, timeout, &t, &c, err);
    if (rc)
        return rc;
    if (c == roci_inline_conn()) {
        roci_conn_unref(c);
        return roc_error_set(err, ROC_ESTATE,
                             "%s.%s: a handler that calls back over its own "
                             "connection must be declared ROC_METHOD_BLOCKING "
                             "(the connection cannot read the reply while the "
                             "handler holds its I/O thread)",
                             t->object, method);
    }
    sync_wait w;
    memset(&w, 0, sizeof w);
    w.w.cv = roci_thread_cond(); /* made once per thread */
    if (!w.w.cv) {
        roci_conn_unref(c);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    w.w.p.complete = sync_complete;
    w.c = c;
    w.arena = arena;
    w.result = result;
    w.err = err;
    uint64_t id = roci_conn_add_pending(c, &w.w.p);
    if (!id) {
        rc = roc_error_set(err, ROC_ECLOSED, "connection to %s closed",
                           t->url);
        goto out;
    }
    int left = timeout;
    if (timeout > 0) {
        uint64_t spent = roci_now_ms() - start;
        left = spent >= (uint64_t)timeout ? 1 : timeout - (int)spent;
    }
    roc_buf *b = roci_scratch();
    roci_seg *seg = roci_scratch_seg();
    rc = b && seg ? encode_call(b, seg, c, ROCI_CALL, id, t->object, method,
                                args, left, opts ? opts->trace : NULL)
                  : ROC_ENOMEM;
    if (rc) {
        if (roci_conn_remove_pending(c, &w.w.p)) {
            rc = encode_fail(err, rc, method);
            goto out;
        }
        /* the connection closed meanwhile and completed it */
    } else {
        roci_conn_send_buf(c, b, seg, roci_thread_aio());
    }
    /* wait: reading the reply on this thread when nobody else reads */
    uint64_t dl = timeout < 0 ? 0 : start + (uint64_t)timeout;
    if (roci_conn_wait(c, &w.w, dl) != 0) {
        if (roci_conn_remove_pending(c, &w.w.p)) {
            roci_conn_send_cancel(c, id);
            rc = roc_error_set(err, ROC_ETIMEDOUT,
                               "%s.%s timed out after %d ms", t->object,
                               method, timeout);
            goto out;
        }
        roci_conn_wait(c, &w.w, 0); /* completing right now */
    }
    rc = w.rc;
out:
    roci_conn_unref(c);
    return rc;
}

int roc_proxy_call_opts(roc_proxy *p, const char *method,
                        const roc_value *args, const roc_call_opts *opts,
                        roc_value **result, roc_arena *arena, roc_error *err)
{
    if (!p || !method || (result && !arena))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_proxy_call: proxy, method and (with a "
                             "result) arena are required");
    if (args && args->type != ROC_ARRAY)
        return roc_error_set(err, ROC_EINVAL,
                             "arguments of %s must be an array", method);
    if (result)
        *result = NULL;
    int rc = call_once(p, method, args, opts, result, arena, err);
    if (rc == ROC_ECLOSED && opts && opts->idempotent)
        rc = call_once(p, method, args, opts, result, arena, err);
    return rc;
}

int roc_proxy_call(roc_proxy *p, const char *method, const roc_value *args,
                   roc_value **result, roc_arena *arena, roc_error *err)
{
    return roc_proxy_call_opts(p, method, args, NULL, result, arena, err);
}

int roc_proxy_oneway(roc_proxy *p, const char *method, const roc_value *args,
                     roc_error *err)
{
    if (!p || !method)
        return roc_error_set(err, ROC_EINVAL, "roc_proxy_oneway: no method");
    if (args && args->type != ROC_ARRAY)
        return roc_error_set(err, ROC_EINVAL,
                             "arguments of %s must be an array", method);
    roci_conn *c;
    target *t;
    int rc = acquire(p, p->timeout_ms, &t, &c, err);
    if (rc)
        return rc;
    roc_buf *b = roci_scratch();
    rc = b ? encode_call(b, NULL, c, ROCI_ONEWAY, 0, t->object, method, args, -1,
                         NULL)
           : ROC_ENOMEM;
    if (rc)
        rc = encode_fail(err, rc, method);
    else if ((rc = roci_conn_send_nowait(c, b->data, b->len,
                                         ROCI_ONEWAY_BACKLOG)) == ROC_EBUSY)
        rc = roc_error_set(err, rc,
                           "oneway %s to %s: more than %u bytes wait to be "
                           "sent already (the peer does not read)",
                           method, t->url ? t->url : t->object,
                           ROCI_ONEWAY_BACKLOG);
    else if (rc)
        rc = roc_error_set(err, rc, "oneway %s to %s failed: %s", method,
                           t->url ? t->url : t->object, roc_strerror(rc));
    roci_conn_unref(c);
    return rc;
}

/* ------------------------------------------------------------ futures */

struct roc_future {
    roci_pending p; /* first */
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    atomic_int refs;
    roci_conn *c;
    bool uses;  /* counts as a user of a shared (registry) connection */
    atomic_bool done; /* set under mtx; read without it on fast paths */
    bool counted; /* in c->done_unclaimed (under mtx, then done is set) */
    bool freed;   /* the owner let go before completion (under mtx) */
    int rc;
    roc_error err;
    uint8_t *reply;       /* the result's bytes: small ones in inline_reply */
    size_t reply_len;
    uint8_t inline_reply[64];
    roc_future *pool_next;
    void (*cb)(roc_future *, void *);
    void *cb_arg;
    bool needs_loop;      /* a callback waits: the read loop must run */
    bool waiting;         /* a thread waits in roc_future_wait */
    roci_waiter *waiter;  /* ...on this, reading the connection itself */
    char desc[96];
};

/* Freed futures are kept for reuse (their mutex and condition variable
 * stay initialised): no heap traffic per call on a steady pipeline. */
#define FUT_POOL_MAX 256
static pthread_mutex_t fut_pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static roc_future *fut_pool;
static size_t fut_pool_n;

/* Each thread keeps a few freed futures of its own first (no lock on a
 * pipeline, where one thread issues and frees); they go back to the shared
 * pool when the thread exits. */
#define FUT_TL_MAX 128
static _Thread_local struct {
    roc_future *head;
    int n;
    bool keyed;
} tl_fut;
static pthread_key_t fut_key;
static pthread_once_t fut_key_once = PTHREAD_ONCE_INIT;

static void fut_tl_drain(void *arg)
{
    (void)arg;
    while (tl_fut.head) {
        roc_future *f = tl_fut.head;
        tl_fut.head = f->pool_next;
        pthread_mutex_lock(&fut_pool_mtx);
        bool keep = fut_pool_n < FUT_POOL_MAX;
        if (keep) {
            f->pool_next = fut_pool;
            fut_pool = f;
            fut_pool_n++;
        }
        pthread_mutex_unlock(&fut_pool_mtx);
        if (!keep) {
            pthread_cond_destroy(&f->cv);
            pthread_mutex_destroy(&f->mtx);
            free(f);
        }
    }
    tl_fut.n = 0;
}

static void fut_key_init(void)
{
    pthread_key_create(&fut_key, fut_tl_drain);
}

static roc_future *fut_alloc(void)
{
    roc_future *f = tl_fut.head;
    if (f) {
        tl_fut.head = f->pool_next;
        tl_fut.n--;
    } else {
        pthread_mutex_lock(&fut_pool_mtx);
        f = fut_pool;
        if (f) {
            fut_pool = f->pool_next;
            fut_pool_n--;
        }
        pthread_mutex_unlock(&fut_pool_mtx);
    }
    if (f) {
        pthread_mutex_t m = f->mtx;
        pthread_cond_t cv = f->cv;
        memset(f, 0, sizeof *f);
        f->mtx = m;
        f->cv = cv;
        return f;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mtx, NULL);
    roci_cond_init_mono(&f->cv);
    return f;
}

static void fut_unref(roc_future *f)
{
    if (atomic_fetch_sub(&f->refs, 1) == 1) {
        roc_error_clear(&f->err);
        if (f->reply != f->inline_reply)
            free(f->reply);
        if (f->c) {
            if (f->uses)
                unuse_conn(f->c);
            roci_conn_unref(f->c);
        }
        if (tl_fut.n < FUT_TL_MAX) {
            if (!tl_fut.keyed) { /* so that the thread's exit drains them */
                pthread_once(&fut_key_once, fut_key_init);
                pthread_setspecific(fut_key, &tl_fut);
                tl_fut.keyed = true;
            }
            f->pool_next = tl_fut.head;
            tl_fut.head = f;
            tl_fut.n++;
            return;
        }
        pthread_mutex_lock(&fut_pool_mtx);
        if (fut_pool_n < FUT_POOL_MAX) {
            f->pool_next = fut_pool;
            fut_pool = f;
            fut_pool_n++;
            f = NULL;
        }
        pthread_mutex_unlock(&fut_pool_mtx);
        if (f) {
            pthread_cond_destroy(&f->cv);
            pthread_mutex_destroy(&f->mtx);
            free(f);
        }
    }
}

static void fut_finish(roc_future *f, int rc)
{
    pthread_mutex_lock(&f->mtx);
    f->rc = rc;
    if (!f->cb && !f->freed) {
        f->counted = true;
        atomic_fetch_add_explicit(&f->c->done_unclaimed, 1,
                                  memory_order_relaxed);
    }
    /* release: whoever sees done sees rc, the reply and counted */
    atomic_store_explicit(&f->done, true, memory_order_release);
    pthread_cond_broadcast(&f->cv);
    if (f->waiter) /* under f->mtx: the waiter cannot go away meanwhile */
        roci_conn_waiter_done(f->c, f->waiter);
    bool needs_loop = f->needs_loop;
    void (*cb)(roc_future *, void *) = f->cb;
    void *arg = f->cb_arg;
    pthread_mutex_unlock(&f->mtx);
    if (needs_loop)
        roci_conn_future_done(f->c);
    if (cb)
        cb(f, arg);
    fut_unref(f); /* the pending's reference */
}

static void fut_complete(roci_pending *pp, int rc, roci_rd *r,
                         const char *why)
{
    roc_future *f = (roc_future *)pp;
    int out = 0;
    if (rc == 0) {
        size_t n = (size_t)(r->end - r->p);
        f->reply = n <= sizeof f->inline_reply ? f->inline_reply
                                               : malloc(n ? n : 1);
        if (f->reply) {
            memcpy(f->reply, r->p, n);
            f->reply_len = n;
        } else {
            out = roc_error_set(&f->err, ROC_ENOMEM, "out of memory");
        }
    } else if (rc == ROCI_GOT_ERROR) {
        out = decode_error(r, &f->err);
    } else {
        out = roc_error_set(&f->err, rc, "%s", why ? why : roc_strerror(rc));
    }
    fut_finish(f, out);
}

int roc_proxy_call_async(roc_proxy *p, const char *method,
                         const roc_value *args, const roc_call_opts *opts,
                         roc_future **out, roc_error *err)
{
    if (!p || !method || !out)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_proxy_call_async: bad arguments");
    if (args && args->type != ROC_ARRAY)
        return roc_error_set(err, ROC_EINVAL,
                             "arguments of %s must be an array", method);
    int timeout = resolve_timeout(p, opts);
    roci_conn *c;
    target *t;
    int rc = acquire(p, timeout, &t, &c, err);
    if (rc)
        return rc;
    roc_future *f = fut_alloc();
    if (!f) {
        roci_conn_unref(c);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    atomic_init(&f->refs, 2); /* the user's and the pending's */
    f->c = c;
    /* only connections of the shared registry are closed for want of users;
     * a callback's or roc_conn's connection belongs to its owner */
    f->uses = !t->fixed;
    if (f->uses)
        use_conn(c);
    f->p.complete = fut_complete;
    f->p.deadline_ms = timeout > 0 ? roci_deadline_ms(timeout) : 0;
    /* for messages; no snprintf on this path */
    size_t ol = strnlen(t->object, 40), ml = strnlen(method, 40);
    memcpy(f->desc, t->object, ol);
    f->desc[ol] = '.';
    memcpy(f->desc + ol + 1, method, ml);
    f->desc[ol + 1 + ml] = 0;
    /* A lone call is written at once (no hand-off). Calls issued while
     * others are in flight on the connection, or while completed futures
     * wait for their owner (a pipeline refilling), are held back and leave
     * together when the caller waits (or a callback is attached, or the
     * queue grows): pipelined calls share one gather write. A held-back
     * call is registered and queued in one critical section. */
    bool defer = atomic_load(&c->npending_hint) > 0 ||
                 atomic_load_explicit(&c->done_unclaimed,
                                      memory_order_relaxed) > 0;
    uint64_t id = defer ? roci_conn_reserve_id(c)
                        : roci_conn_add_pending(c, &f->p);
    if (!id) {
        atomic_store(&f->refs, 1);
        fut_unref(f);
        return roc_error_set(err, ROC_ECLOSED, "connection to %s closed",
                             t->url);
    }
    roc_buf *b = roci_scratch();
    rc = b ? encode_call(b, NULL, c, ROCI_CALL, id, t->object, method, args,
                         timeout, opts ? opts->trace : NULL)
           : ROC_ENOMEM;
    if (rc) {
        if (defer || roci_conn_remove_pending(c, &f->p))
            atomic_fetch_sub(&f->refs, 1);
        else
            roc_future_wait(f, -1); /* closed meanwhile */
        roc_future_free(f);
        return encode_fail(err, rc, method);
    }
    if (defer) {
        f->p.id = id;
        if (roci_conn_call_deferred(c, &f->p, b->data, b->len) != 0) {
            atomic_store(&f->refs, 1);
            fut_unref(f);
            return roc_error_set(err, ROC_ECLOSED,
                                 "connection to %s closed", t->url);
        }
    } else {
        roci_conn_send(c, b->data, b->len, roci_thread_aio());
    }
    *out = f;
    return 0;
}

bool roc_future_ready(roc_future *f)
{
    if (!f)
        return false;
    pthread_mutex_lock(&f->mtx);
    bool d = f->done;
    pthread_mutex_unlock(&f->mtx);
    if (!d) { /* someone polls: send what waits, let the read loop run */
        roci_conn_flush(f->c, roci_thread_aio());
        roci_conn_arm(f->c);
    }
    return d;
}

int roc_future_wait(roc_future *f, int timeout_ms)
{
    if (!f)
        return ROC_EINVAL;
    if (atomic_load_explicit(&f->done, memory_order_acquire))
        return 0; /* pipelined replies are mostly in already */
    pthread_mutex_lock(&f->mtx);
    if (!f->done)
        roci_conn_flush(f->c, roci_thread_aio()); /* held-back calls go */
    pthread_cond_t *tcv = f->done || f->waiting ? NULL : roci_thread_cond();
    if (tcv) {
        /* this thread reads the connection itself when nobody else does,
         * as a synchronous caller would (no hand-off from an I/O thread) */
        roci_waiter w;
        memset(&w, 0, sizeof w);
        w.cv = tcv;
        f->waiting = true;
        f->waiter = &w;
        pthread_mutex_unlock(&f->mtx);
        uint64_t dl = timeout_ms < 0 ? 0 : roci_now_ms() + (uint64_t)timeout_ms;
        roci_conn_wait(f->c, &w, dl);
        pthread_mutex_lock(&f->mtx);
        f->waiter = NULL;
        f->waiting = false;
        bool d = f->done;
        pthread_mutex_unlock(&f->mtx);
        return d ? 0 : ROC_ETIMEDOUT;
    }
    if (timeout_ms < 0) {
        while (!f->done)
            pthread_cond_wait(&f->cv, &f->mtx);
    } else {
        uint64_t dl = roci_now_ms() + (uint64_t)timeout_ms;
        struct timespec ts = {(time_t)(dl / 1000), (long)(dl % 1000) * 1000000L};
        while (!f->done)
            if (pthread_cond_timedwait(&f->cv, &f->mtx, &ts) != 0 &&
                roci_now_ms() >= dl)
                break;
    }
    bool d = f->done;
    pthread_mutex_unlock(&f->mtx);
    return d ? 0 : ROC_ETIMEDOUT;
}

int roc_future_result(roc_future *f, roc_value **result, roc_arena *arena,
                      roc_error *err)
{
    if (!f || (result && !arena))
        return roc_error_set(err, ROC_EINVAL, "roc_future_result: bad args");
    roc_future_wait(f, -1);
    if (result)
        *result = NULL;
    if (f->rc) {
        if (err)
            roc_error_copy(err, &f->err);
        return f->rc;
    }
    if (!result)
        return 0;
    roci_rd r;
    roci_rd_init(&r, f->reply, f->reply_len, ROC_DEFAULT_MAX_DEPTH + 1);
    r.conn_serial = f->c->serial; /* callbacks in the result */
    roc_value *v = roc_arena_alloc(arena, sizeof *v);
    int rc = v ? roci_rd_value(&r, arena, v) : ROC_ENOMEM;
    if (rc)
        return roc_error_set(err, rc, "cannot decode the result of %s",
                             f->desc);
    *result = v;
    return 0;
}

int roc_future_on_complete(roc_future *f, void (*cb)(roc_future *, void *),
                           void *arg)
{
    if (!f || !cb)
        return ROC_EINVAL;
    pthread_mutex_lock(&f->mtx);
    if (f->cb) {
        pthread_mutex_unlock(&f->mtx);
        return ROC_ESTATE;
    }
    f->cb = cb;
    f->cb_arg = arg;
    bool done = f->done;
    f->needs_loop = !done;
    pthread_mutex_unlock(&f->mtx);
    if (done) {
        cb(f, arg);
    } else {
        roci_conn_future_add(f->c); /* only the read loop can complete it */
        roci_conn_flush(f->c, roci_thread_aio());
    }
    return 0;
}

void roc_future_cancel(roc_future *f)
{
    if (!f || atomic_load_explicit(&f->done, memory_order_acquire))
        return; /* done: no longer pending */
    if (roci_conn_remove_pending(f->c, &f->p)) {
        roci_conn_send_cancel(f->c, f->p.id);
        roc_error_set(&f->err, ROC_ECANCELED, "%s was cancelled", f->desc);
        fut_finish(f, ROC_ECANCELED);
    }
}

void roc_future_free(roc_future *f)
{
    if (!f)
        return;
    roc_future_cancel(f);
    bool counted;
    if (atomic_load_explicit(&f->done, memory_order_acquire)) {
        counted = f->counted; /* written before done */
    } else { /* completing on another thread right now */
        pthread_mutex_lock(&f->mtx);
        f->freed = true;
        counted = f->counted;
        pthread_mutex_unlock(&f->mtx);
    }
    if (counted)
        atomic_fetch_sub_explicit(&f->c->done_unclaimed, 1,
                                  memory_order_relaxed);
    fut_unref(f);
}

/* ------------------------------------------------------------ fixed */

/* A proxy for object on the connection c only (no redial). */
int roci_proxy_fixed(roci_conn *c, const char *object, roc_proxy **out,
                     roc_error *err)
{
    roc_proxy *p = calloc(1, sizeof *p);
    target *t = calloc(1, sizeof *t);
    target **ts = calloc(1, sizeof *ts);
    if (!p || !t || !ts || roc_arena_new(&p->ua) != 0 ||
        !(t->object = strdup(object))) {
        free(p);
        free(ts);
        target_free(t);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mtx, NULL);
    p->timeout_ms = default_timeout();
    t->fixed = true;
    t->conn = c;
    roci_conn_ref(c);
    ts[0] = t;
    p->t = ts;
    p->nt = 1;
    size_t n = strlen(object) + strlen(c->peer) + 32;
    p->uri = malloc(n);
    if (p->uri)
        snprintf(p->uri, n, "ROC:%s@peer:%s", object, c->peer);
    *out = p;
    return 0;
}

int roc_proxy_open_ref(roc_proxy **out, const roc_value *ref, roc_error *err)
{
    if (!out || !ref || ref->type != ROC_REF || !ref->u.ref.uri)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_proxy_open_ref: not a reference value");
    if (ref->u.ref.kind == ROC_REF_URI)
        return roc_proxy_open(out, ref->u.ref.uri, err);
    if (ref->u.ref.kind != ROC_REF_CALLBACK)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_proxy_open_ref: a local object needs no "
                             "proxy");
    uint64_t serial = (uint64_t)(uintptr_t)ref->u.ref.priv_;
    roci_conn *c = serial ? roci_conn_by_serial(serial) : NULL;
    if (!c)
        return roc_error_set(err, ROC_ECLOSED,
                             "the connection the callback '%s' came over is "
                             "closed",
                             ref->u.ref.uri);
    int rc = roci_proxy_fixed(c, ref->u.ref.uri, out, err);
    roci_conn_unref(c);
    return rc;
}

int roci_proxy_sibling(roc_proxy *p, const char *object, roc_proxy **out,
                       roc_error *err)
{
    pthread_mutex_lock(&p->mtx);
    target *t = p->t[0];
    roci_conn *c = t->fixed ? t->conn : NULL;
    if (c)
        roci_conn_ref(c);
    char *url = t->url ? strdup(t->url) : NULL;
    pthread_mutex_unlock(&p->mtx);
    int rc;
    if (c) {
        rc = roci_proxy_fixed(c, object, out, err);
        roci_conn_unref(c);
    } else if (url) {
        size_t n = strlen(object) + strlen(url) + 6;
        char *u = malloc(n);
        if (u) {
            snprintf(u, n, "ROC:%s@%s", object, url);
            rc = roc_proxy_open(out, u, err);
            free(u);
        } else {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        }
    } else {
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    free(url);
    if (rc == 0)
        (*out)->timeout_ms = p->timeout_ms;
    return rc;
}

/* ------------------------------------------------------------ refs */

int roc_proxy_open_export(roc_proxy **out, roc_export *e, roc_error *err)
{
    if (!out || !e)
        return roc_error_set(err, ROC_EINVAL, "roc_proxy_open_export: no export");
    roc_proxy *p = calloc(1, sizeof *p);
    if (!p || roc_arena_new(&p->ua) != 0) {
        free(p);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mtx, NULL);
    p->timeout_ms = default_timeout();
    p->local = e;
    size_t n = strlen(roc_export_id(e)) + 16;
    p->uri = malloc(n);
    if (!p->uri) {
        roc_proxy_close(p);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    snprintf(p->uri, n, "ROC:%s@local:", roc_export_id(e));
    *out = p;
    return 0;
}

roc_value *roc_proxy_ref_value(roc_arena *a, const roc_proxy *p)
{
    if (!p)
        return NULL;
    if (p->local)
        return roc_value_export(a, p->local);
    roc_value *v = roc_value_ref(a, p->uri);
    if (v && p->nt == 1 && p->t[0]->fixed) {
        /* an object reached over a connection: it can only be named back
         * on that connection, where it is the peer's own callback id */
        v->u.ref.kind = ROC_REF_CALLBACK;
        v->u.ref.uri = roc_arena_strdup(a, p->t[0]->object);
        v->u.ref.priv_ = (void *)(uintptr_t)p->t[0]->conn->serial;
    }
    return v;
}

int roc_proxy_dup(roc_proxy *p, roc_proxy **out, roc_error *err)
{
    if (!p || !out)
        return roc_error_set(err, ROC_EINVAL, "roc_proxy_dup: no proxy");
    if (p->local)
        return roc_proxy_open_export(out, p->local, err);
    if (p->nt == 1 && p->t[0]->fixed) {
        int rc = roci_proxy_fixed(p->t[0]->conn, p->t[0]->object, out, err);
        if (rc == 0)
            (*out)->timeout_ms = p->timeout_ms;
        return rc;
    }
    int rc = roc_proxy_open(out, p->uri, err);
    if (rc == 0)
        (*out)->timeout_ms = p->timeout_ms;
    return rc;
}
