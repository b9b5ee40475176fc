/* The daemon: a stream listener, the objects it hosts, dispatch of calls
 * (inline on the I/O thread, or on the worker pool for handlers that may
 * block), instance modes, the built-in roc.daemon object and shutdown. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "roci.h"
#include "roci_discovery.h"

#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/tls/tls.h>

#define OBJ_BUCKETS 64

typedef struct dobj {
    struct dobj *next;
    char *id;
    size_t id_len;
    roc_servant sv;
    pthread_mutex_t serial;
    atomic_int refs;
    atomic_bool withdrawn; /* exports: no new calls */
    atomic_bool unlisted;  /* unregistered: per-connection caches let go */
    bool is_export;        /* roc_export_free waits for active to drain */
    atomic_int active;     /* calls running in it */
} dobj;

/* A local object exported for callbacks (service.h). */
struct roc_export {
    dobj *obj;
};

typedef struct dsess {
    struct dsess *next;
    dobj *obj;
    void *self;
    bool service; /* the connection's service state: on_disconnect */
} dsess;

/* An object this side exports on one connection (callbacks). */
typedef struct dexp {
    struct dexp *next;
    dobj *obj;
    char *alias; /* id on this connection when not obj->id */
} dexp;

/* Per-connection data of the daemon (roci_conn.owner_data). */
typedef struct dconn {
    roc_daemon *d;
    roci_conn *conn;
    struct dconn *next; /* daemon's list of open connections */
    pthread_mutex_t mtx;
    dsess *sessions;
    roc_call *running;  /* worker calls, for cancel */
    dexp *exports;      /* objects this side exports on the connection */
    atomic_bool has_exports; /* exports != NULL, without mtx */
    /* the object of the connection's last call (a reference), touched
     * only by the thread parsing the connection's frames: pipelined calls
     * to one object skip the daemon's table */
    dobj *last_obj;
    atomic_uint inline_active; /* inline calls running now */
    /* a client's own service on this connection (a copy) */
    roc_service client_svc;
    bool has_client_svc;
    void *client_state;
    unsigned inflight;  /* worker calls queued or running */
    roc_arena *inline_arena;
    bool listed;
    bool closed;        /* the connection closed */
    atomic_bool closed_flag; /* the same, for the inline path's check */
    bool disconnected;  /* sessions ended, on_disconnect ran */
} dconn;

struct roc_call {
    roc_call *next;     /* worker queue */
    roc_call *run_next; /* dconn.running */
    roc_daemon *d;
    roci_conn *conn;
    dconn *dc;
    dobj *obj;
    const roc_method *m;
    uint64_t id;
    bool oneway;
    bool on_worker;
    roc_arena *arena;
    roc_value *args;
    void *self;
    uint64_t deadline; /* absolute ms, 0: none (worker calls) */
    int64_t deadline_rel; /* ms from receipt, -1: none (inline calls) */
    atomic_bool cancelled;
    const char *object;
    const char *method;
    /* outcome when the handler fails */
    int ecode;
    int wire;
    const char *etype;
    const char *emsg;
    roc_value *edata;
};

struct roc_daemon {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    pthread_rwlock_t objs_lock;
    dobj *objs[OBJ_BUCKETS];
    size_t nobjs;
    char *url;
    nng_stream_listener *l;
    nng_aio *acc_aio;
    roc_daemon_opts opts;
    dconn *conns;
    unsigned nconns;
    unsigned live;      /* dconns not yet freed */
    atomic_uint active; /* calls running now */
    /* worker pool */
    pthread_t *workers;
    unsigned nworkers;
    roc_call *wq_head;
    roc_call *wq_tail;
    pthread_cond_t wq_cv;
    bool stopping_workers;
    roci_key key;       /* pre-shared key (len 0: none) */
    roc_service svc;    /* roc_serve: the root service */
    bool has_svc;
    nng_socket pub;     /* events */
    bool has_pub;
    char *events_url;
    pthread_mutex_t pub_mtx;
    bool started;
    bool shutting_down;
    bool shut;
    uint64_t started_ms;
    atomic_uint_fast64_t calls, errors, oneways, proto_errors, accepted;
    /* names in the name server (roc_daemon_register_name), under ns_mtx */
    pthread_mutex_t ns_mtx;
    roc_ns_keeper *keeper;  /* NULL until the first name */
    size_t ns_names;        /* names the keeper holds */
    char *ns_pub;           /* the URL in their URIs */
    char *ns_url, *ns_host; /* copies of opts.ns_url, opts.ns_host */
};

static const roc_servant builtin_servant;

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, m, &ts);
}

void roc_daemon_opts_init(roc_daemon_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->max_frame = ROC_DEFAULT_MAX_FRAME;
    o->max_depth = ROC_DEFAULT_MAX_DEPTH;
    o->max_conns = 1024;
    o->max_inflight = 256;
    o->workers = 4;
    o->hello_timeout_ms = 5000;
    o->keepalive_ms = 10000;
}

/* ------------------------------------------------------------ objects */

static size_t hash(const char *s, size_t n)
{
    size_t h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + (unsigned char)s[i];
    return h % OBJ_BUCKETS;
}

static dobj *obj_find(roc_daemon *d, const char *id, size_t n)
{
    pthread_rwlock_rdlock(&d->objs_lock);
    dobj *o = d->objs[hash(id, n)];
    for (; o; o = o->next)
        if (o->id_len == n && memcmp(o->id, id, n) == 0)
            break;
    if (o)
        atomic_fetch_add(&o->refs, 1);
    pthread_rwlock_unlock(&d->objs_lock);
    return o;
}

static void obj_unref(dobj *o)
{
    if (atomic_fetch_sub(&o->refs, 1) == 1) {
        pthread_mutex_destroy(&o->serial);
        free(o->id);
        free(o);
    }
}

static int format_uri(roc_daemon *d, const char *id, char **out)
{
    size_t n = strlen(id) + strlen(d->url) + 6;
    char *s = malloc(n);
    if (!s)
        return ROC_ENOMEM;
    snprintf(s, n, "ROC:%s@%s", id, d->url);
    *out = s;
    return 0;
}

static int do_register(roc_daemon *d, const char *object_id,
                       const roc_servant *sv, char **uri_out, bool builtin)
{
    if (!d || !object_id || !sv || (!sv->methods && sv->n_methods))
        return ROC_EINVAL;
    if (!roc_id_valid(object_id))
        return ROC_EINVAL;
    if (!builtin && strcmp(object_id, "roc.daemon") == 0)
        return ROC_EEXIST;
    if (sv->mode != ROC_INSTANCE_SINGLE && !sv->create)
        return ROC_EINVAL;
    for (size_t i = 0; i < sv->n_methods; i++)
        if (!sv->methods[i].name || !sv->methods[i].fn)
            return ROC_EINVAL;
    dobj *o = calloc(1, sizeof *o);
    if (!o || !(o->id = strdup(object_id))) {
        free(o);
        return ROC_ENOMEM;
    }
    o->id_len = strlen(object_id);
    o->sv = *sv;
    pthread_mutex_init(&o->serial, NULL);
    atomic_init(&o->refs, 1);
    atomic_init(&o->withdrawn, false);
    atomic_init(&o->active, 0);
    pthread_rwlock_wrlock(&d->objs_lock);
    size_t h = hash(o->id, o->id_len);
    for (dobj *e = d->objs[h]; e; e = e->next) {
        if (e->id_len == o->id_len && memcmp(e->id, o->id, o->id_len) == 0) {
            pthread_rwlock_unlock(&d->objs_lock);
            free(o->id);
            free(o);
            return ROC_EEXIST;
        }
    }
    o->next = d->objs[h];
    d->objs[h] = o;
    d->nobjs++;
    pthread_rwlock_unlock(&d->objs_lock);
    if (uri_out)
        return format_uri(d, object_id, uri_out);
    return 0;
}

int roc_daemon_register(roc_daemon *d, const char *object_id,
                        const roc_servant *servant, char **uri_out)
{
    int rc = do_register(d, object_id, servant, uri_out, false);
    if (rc == 0) /* LAN announcement, when d->opts.announce */
        roci_discovery_object(d, &d->opts, object_id, servant->iface, true);
    return rc;
}

static void ns_unregister(roc_daemon *d, const char *object_id);

int roc_daemon_unregister(roc_daemon *d, const char *object_id)
{
    if (!d || !object_id || strcmp(object_id, "roc.daemon") == 0)
        return ROC_EINVAL;
    size_t n = strlen(object_id);
    pthread_rwlock_wrlock(&d->objs_lock);
    dobj **pp = &d->objs[hash(object_id, n)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id_len == n && memcmp((*pp)->id, object_id, n) == 0) {
            dobj *o = *pp;
            *pp = o->next;
            d->nobjs--;
            atomic_store(&o->unlisted, true);
            pthread_rwlock_unlock(&d->objs_lock);
            obj_unref(o);
            roci_discovery_object(d, NULL, object_id, NULL, false);
            ns_unregister(d, object_id);
            return 0;
        }
    }
    pthread_rwlock_unlock(&d->objs_lock);
    return ROC_ENOTFOUND;
}

/* ------------------------------------------------------------ calls */

roc_arena *roc_call_arena(roc_call *c)
{
    return c->arena;
}

void *roc_call_self(roc_call *c)
{
    return c->self;
}

const char *roc_call_object(roc_call *c)
{
    return c->object;
}

const char *roc_call_method(roc_call *c)
{
    return c->method;
}

const char *roc_call_peer(roc_call *c)
{
    return c->conn->peer;
}

int roc_call_remaining_ms(roc_call *c)
{
    if (!c->deadline && c->deadline_rel >= 0) /* inline: it just arrived */
        c->deadline = roci_now_ms() + (uint64_t)c->deadline_rel;
    if (!c->deadline)
        return -1;
    uint64_t now = roci_now_ms();
    return now >= c->deadline ? 0 : (int)(c->deadline - now);
}

bool roc_call_cancelled(roc_call *c)
{
    return atomic_load(&c->cancelled);
}

static const char *vfmt(roc_arena *a, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt ? fmt : "", ap);
    const char *s = roc_arena_strdup(a, buf);
    return s ? s : "out of memory";
}

int roc_call_raise(roc_call *c, const char *type, const roc_value *data,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->emsg = vfmt(c->arena, fmt, ap);
    va_end(ap);
    c->ecode = ROC_EREMOTE;
    c->wire = ROC_WIRE_APPLICATION;
    c->etype = roc_arena_strdup(c->arena, type ? type : "roc.Exception");
    c->edata = data ? roc_value_copy(c->arena, data) : NULL;
    return ROC_EREMOTE;
}

int roc_call_error(roc_call *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->emsg = vfmt(c->arena, fmt, ap);
    va_end(ap);
    c->ecode = code;
    c->wire = roc_error_to_wire(code);
    c->etype = roc_error_wire_type(c->wire);
    c->edata = NULL;
    return code;
}

static void reply_error(roc_call *c, int wire, const char *type,
                        const char *msg, const roc_value *data)
{
    atomic_fetch_add(&c->d->errors, 1);
    if (c->oneway)
        return;
    atomic_fetch_add(&c->d->calls, 1);
    roci_conn_send_error(c->conn, c->id, wire, type, msg, data);
}

static void reply_result(roc_call *c, const roc_value *result)
{
    if (c->oneway) {
        atomic_fetch_add(&c->d->oneways, 1);
        return;
    }
    atomic_fetch_add(&c->d->calls, 1);
    roc_buf *b = roci_scratch();
    roci_seg *seg = roci_scratch_seg();
    if (!b || !seg)
        return;
    msgpack_packer pk;
    roci_wbuf w = {b, seg};
    roci_frame_begin_seg(&pk, &w, 4, ROCI_RESULT);
    roci_pack_u64(&pk, c->id);
    roci_pack_set_export(roci_export_on, c->conn); /* results may be callbacks */
    int rc = roci_pack_value(&pk, result, 0);
    roci_pack_set_export(NULL, NULL);
    if (rc == 0)
        rc = roci_frame_end_seg(b, seg);
    size_t total = b->len + (seg->ptr ? seg->len : 0);
    if (rc == 0 && total - 4 > c->conn->max_frame)
        rc = ROC_ETOOBIG;
    if (rc != 0) {
        atomic_fetch_sub(&c->d->calls, 1);
        char msg[160];
        snprintf(msg, sizeof msg, "the result of %s.%s cannot be sent: %s",
                 c->object, c->method,
                 rc == ROC_ETOOBIG ? "larger than the frame limit"
                                   : "it cannot be encoded");
        reply_error(c, rc == ROC_ETOOBIG ? ROC_ETOOBIG : ROC_EINTERNAL,
                    rc == ROC_ETOOBIG ? "roc.MessageTooLarge" : "roc.Internal",
                    msg, NULL);
        return;
    }
    roci_conn *conn = c->conn;
    if (seg->ptr && !c->on_worker && seg->ptr >= conn->rbuf &&
        seg->ptr + seg->len <= conn->rbuf + conn->rlen) {
        /* a big payload that is part of the request (an echo): the read
         * buffer travels to the send queue instead of being copied */
        void *owner = roci_conn_take_rbuf(conn);
        if (owner) {
            roci_conn_send_owned(conn, b, seg, owner);
            return;
        }
    }
    roci_conn_send_buf(conn, b, seg, NULL);
}

/* Finds or makes the instance for this call. */
static int get_self(roc_call *c)
{
    const roc_servant *sv = &c->obj->sv;
    if (sv->mode == ROC_INSTANCE_SINGLE) {
        c->self = sv->self;
        return 0;
    }
    if (sv->mode == ROC_INSTANCE_PERCALL) {
        c->self = sv->create(sv->factory_arg);
        return c->self ? 0 : ROC_EINTERNAL;
    }
    dconn *dc = c->dc;
    pthread_mutex_lock(&dc->mtx);
    for (dsess *s = dc->sessions; s; s = s->next) {
        if (s->obj == c->obj) {
            c->self = s->self;
            pthread_mutex_unlock(&dc->mtx);
            return 0;
        }
    }
    dsess *s = calloc(1, sizeof *s);
    if (s)
        s->self = sv->create(sv->factory_arg);
    if (!s || !s->self) {
        pthread_mutex_unlock(&dc->mtx);
        free(s);
        return ROC_EINTERNAL;
    }
    s->obj = c->obj;
    atomic_fetch_add(&c->obj->refs, 1);
    s->next = dc->sessions;
    dc->sessions = s;
    c->self = s->self;
    pthread_mutex_unlock(&dc->mtx);
    return 0;
}

/* Runs the handler and sends the outcome. */
static _Thread_local roci_conn *tl_inline_conn;

roci_conn *roci_inline_conn(void)
{
    return tl_inline_conn;
}

static void run_call(roc_call *c)
{
    atomic_fetch_add(&c->d->active, 1);
    bool counted = c->obj->is_export;
    if (counted)
        atomic_fetch_add(&c->obj->active, 1);
    bool serial = c->obj->sv.flags & ROC_SERVANT_SERIALIZED;
    /* counted first, then checked: roc_export_free marks the object
     * withdrawn and then waits for the count, so either it waits for this
     * call or this call sees the mark (found before it, run after it) */
    if (atomic_load(&c->obj->withdrawn)) {
        reply_error(c, ROC_ENOOBJ, "roc.NoSuchObject",
                    "the object was withdrawn", NULL);
        goto out;
    }
    if (c->deadline && roci_now_ms() > c->deadline) {
        reply_error(c, ROC_ETIMEDOUT, "roc.Timeout",
                    "the caller's deadline passed before the call could run",
                    NULL);
        goto out;
    }
    if (get_self(c) != 0) {
        reply_error(c, ROC_EINTERNAL, "roc.Internal",
                    "the servant could not be created", NULL);
        goto out;
    }
    if (serial)
        pthread_mutex_lock(&c->obj->serial);
    roc_value *result = NULL;
    roci_conn *outer = tl_inline_conn;
    if (!c->on_worker)
        tl_inline_conn = c->conn; /* a sync call back over it would hang */
    int rc = c->m->fn(c, c->args, &result);
    tl_inline_conn = outer;
    if (serial)
        pthread_mutex_unlock(&c->obj->serial);
    if (c->obj->sv.mode == ROC_INSTANCE_PERCALL && c->obj->sv.destroy)
        c->obj->sv.destroy(c->self);
    if (rc == 0) {
        reply_result(c, result);
    } else if (c->etype) {
        reply_error(c, c->wire, c->etype, c->emsg, c->edata);
    } else {
        int w = roc_error_to_wire(rc);
        char msg[200];
        snprintf(msg, sizeof msg, "%s.%s failed: %s", c->object, c->method,
                 roc_strerror(rc));
        reply_error(c, w, roc_error_wire_type(w), msg, NULL);
    }
out:
    if (counted)
        atomic_fetch_sub(&c->obj->active, 1);
    atomic_fetch_sub(&c->d->active, 1);
}

/* ------------------------------------------------------------ workers */

static void disconnect(roci_conn *conn);

static void *worker_main(void *arg)
{
    roc_daemon *d = arg;
    pthread_mutex_lock(&d->mtx);
    for (;;) {
        while (!d->wq_head && !d->stopping_workers)
            pthread_cond_wait(&d->wq_cv, &d->mtx);
        roc_call *c = d->wq_head;
        if (!c)
            break;
        d->wq_head = c->next;
        if (!d->wq_head)
            d->wq_tail = NULL;
        pthread_mutex_unlock(&d->mtx);

        run_call(c);

        dconn *dc = c->dc;
        roci_conn *conn = c->conn;
        bool resume = false;
        pthread_mutex_lock(&dc->mtx);
        for (roc_call **pp = &dc->running; *pp; pp = &(*pp)->run_next)
            if (*pp == c) {
                *pp = c->run_next;
                break;
            }
        dc->inflight--;
        resume = atomic_load(&conn->paused) &&
                 dc->inflight < d->opts.max_inflight;
        bool last = dc->closed && dc->inflight == 0 &&
                    atomic_load(&dc->inline_active) == 0;
        pthread_mutex_unlock(&dc->mtx);
        if (last)
            disconnect(conn);
        obj_unref(c->obj);
        roc_arena_free(c->arena);
        free(c);
        if (resume)
            roci_conn_resume(conn);
        roci_conn_unref(conn);
        pthread_mutex_lock(&d->mtx);
    }
    pthread_mutex_unlock(&d->mtx);
    return NULL;
}

/* ------------------------------------------------------------ dispatch */

static const roc_method *find_method(const roc_servant *sv, const char *name,
                                     size_t n)
{
    for (size_t i = 0; i < sv->n_methods; i++) {
        const char *m = sv->methods[i].name;
        if (strncmp(m, name, n) == 0 && m[n] == 0)
            return &sv->methods[i];
    }
    return NULL;
}

static void early_error(roci_conn *conn, roci_incoming *in, int code,
                        const char *fmt, ...) ROC_PRINTF(4, 5);
static void early_error(roci_conn *conn, roci_incoming *in, int code,
                        const char *fmt, ...)
{
    roc_daemon *d = conn->owner;
    atomic_fetch_add(&d->errors, 1);
    if (!in->id)
        return;
    atomic_fetch_add(&d->calls, 1);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    roci_conn_send_error(conn, in->id, code, roc_error_wire_type(code), msg,
                         NULL);
}

static inline void put_obj(dobj *o, bool cached)
{
    if (!cached)
        obj_unref(o);
}

static void on_call(roci_conn *conn, roci_incoming *in)
{
    roc_daemon *d = conn->owner;
    dconn *dc = conn->owner_data;
    int ol = in->object_len > 200 ? 200 : (int)in->object_len;
    int ml = in->method_len > 200 ? 200 : (int)in->method_len;
    if (d->shutting_down) {
        early_error(conn, in, ROC_EINTERNAL, "the daemon is shutting down");
        return;
    }
    if (d->opts.authorize) {
        char obj[256], meth[256];
        snprintf(obj, sizeof obj, "%.*s", ol, in->object);
        snprintf(meth, sizeof meth, "%.*s", ml, in->method);
        /* TLS verifies during the first I/O: ask now, not at accept; a
         * peer counts as verified only when the daemon checks client
         * certificates */
        bool verified = false;
        if (conn->tls && d->opts.tls.ca_file)
            nng_stream_get_bool(conn->stream, NNG_OPT_TLS_VERIFIED, &verified);
        roc_peer_info pi = {conn->peer, conn->tls, verified,
                            conn->authenticated};
        if (d->opts.authorize(&pi, obj, meth, d->opts.authorize_arg) != 0) {
            early_error(conn, in, ROC_EUNAUTH, "not authorized to call %s.%s",
                        obj, meth);
            return;
        }
    }
    dobj *o = NULL;
    /* o is the connection's cached object: the cache's reference keeps it
     * while this thread (the only one that replaces the cache) runs the
     * call; a worker call takes its own */
    bool cached = false;
    if (dc && atomic_load_explicit(&dc->has_exports, memory_order_acquire)) {
        /* objects exported on this very connection come first */
        pthread_mutex_lock(&dc->mtx);
        for (dexp *x = dc->exports; x; x = x->next) {
            const char *id = x->alias ? x->alias : x->obj->id;
            if (strlen(id) == in->object_len &&
                memcmp(id, in->object, in->object_len) == 0 &&
                !atomic_load(&x->obj->withdrawn)) {
                o = x->obj;
                atomic_fetch_add(&o->refs, 1);
                break;
            }
        }
        pthread_mutex_unlock(&dc->mtx);
    }
    if (!o && dc) {
        dobj *lo = dc->last_obj;
        if (lo && lo->id_len == in->object_len &&
            memcmp(lo->id, in->object, in->object_len) == 0 &&
            !atomic_load_explicit(&lo->unlisted, memory_order_acquire)) {
            o = lo;
            cached = true;
        }
    }
    if (!o) {
        o = obj_find(d, in->object, in->object_len);
        if (o && dc) {
            if (dc->last_obj)
                obj_unref(dc->last_obj);
            dc->last_obj = o; /* the look-up's reference */
            cached = true;
        }
    }
    if (!o) {
        early_error(conn, in, ROC_ENOOBJ, "no object '%.*s' on this daemon",
                    ol, in->object);
        return;
    }
    const roc_method *m = find_method(&o->sv, in->method, in->method_len);
    if (!m) {
        early_error(conn, in, ROC_ENOMETHOD, "object '%.*s' has no method '%.*s'",
                    ol, in->object, ml, in->method);
        put_obj(o, cached);
        return;
    }
    uint32_t nargs;
    roci_rd probe = in->args;
    roci_rd_array(&probe, &nargs); /* validated by the connection */
    if (m->nargs >= 0 && (uint32_t)m->nargs != nargs) {
        early_error(conn, in, ROC_EBADARGS,
                    "%.*s.%s takes %d argument%s, got %u", ol, in->object,
                    m->name, m->nargs, m->nargs == 1 ? "" : "s", nargs);
        put_obj(o, cached);
        return;
    }
    bool blocking = (m->flags & ROC_METHOD_BLOCKING) ||
                    (o->sv.flags & (ROC_SERVANT_BLOCKING | ROC_SERVANT_SERIALIZED));
    roc_call stack_call;
    roc_call *c;
    roc_arena *a;
    if (blocking) {
        c = calloc(1, sizeof *c);
        if (!c || roc_arena_new(&a) != 0) {
            free(c);
            early_error(conn, in, ROC_EINTERNAL, "out of memory");
            put_obj(o, cached);
            return;
        }
    } else {
        c = &stack_call;
        memset(c, 0, sizeof *c);
        a = dc->inline_arena;
    }
    c->d = d;
    c->conn = conn;
    c->dc = dc;
    c->obj = o;
    c->m = m;
    c->id = in->id;
    c->oneway = in->id == 0;
    c->arena = a;
    c->object = o->id;
    c->method = m->name;
    atomic_init(&c->cancelled, false);
    /* a worker call may wait in the queue: its deadline is fixed now; an
     * inline call runs at once (its deadline only when asked) */
    c->deadline_rel = in->deadline_ms;
    if (in->deadline_ms >= 0 && blocking)
        c->deadline = roci_now_ms() + (uint64_t)in->deadline_ms;
    c->args = roc_arena_alloc(a, sizeof *c->args);
    /* an inline call finishes before the read buffer moves: its bytes
     * arguments can point into it */
    in->args.borrow = !blocking;
    int rc = c->args ? roci_rd_value(&in->args, a, c->args) : ROC_ENOMEM;
    if (rc != 0) {
        early_error(conn, in, rc == ROC_ENOMEM ? ROC_EINTERNAL : ROC_EBADARGS,
                    "arguments of %s could not be decoded: %s", m->name,
                    rc == ROC_ENOMEM ? "out of memory" : roci_rd_why());
        put_obj(o, cached);
        if (blocking) {
            roc_arena_free(a);
            free(c);
        } else {
            roc_arena_reset(a);
        }
        return;
    }
    if (!blocking) {
        /* counted, so that a close from another thread waits for it
         * before the connection's sessions end */
        atomic_fetch_add(&dc->inline_active, 1);
        run_call(c);
        put_obj(o, cached);
        roc_arena_reset(a);
        if (atomic_fetch_sub(&dc->inline_active, 1) == 1 &&
            atomic_load(&dc->closed_flag)) {
            pthread_mutex_lock(&dc->mtx);
            bool last = dc->inflight == 0;
            pthread_mutex_unlock(&dc->mtx);
            if (last)
                disconnect(conn);
        }
        return;
    }
    c->on_worker = true;
    if (cached)
        atomic_fetch_add(&o->refs, 1); /* the worker's (it unrefs) */
    roci_conn_ref(conn);
    pthread_mutex_lock(&dc->mtx);
    c->run_next = dc->running;
    dc->running = c;
    if (++dc->inflight >= d->opts.max_inflight)
        atomic_store(&conn->paused, true); /* read parks after this frame */
    pthread_mutex_unlock(&dc->mtx);
    pthread_mutex_lock(&d->mtx);
    if (d->wq_tail)
        d->wq_tail->next = c;
    else
        d->wq_head = c;
    d->wq_tail = c;
    pthread_cond_signal(&d->wq_cv);
    pthread_mutex_unlock(&d->mtx);
}

static void on_cancel(roci_conn *conn, uint64_t id)
{
    dconn *dc = conn->owner_data;
    pthread_mutex_lock(&dc->mtx);
    for (roc_call *c = dc->running; c; c = c->run_next)
        if (c->id == id)
            atomic_store(&c->cancelled, true);
    pthread_mutex_unlock(&dc->mtx);
}

static void on_close(roci_conn *conn)
{
    dconn *dc = conn->owner_data;
    roc_daemon *d = dc->d;
    pthread_mutex_lock(&dc->mtx);
    for (roc_call *c = dc->running; c; c = c->run_next)
        atomic_store(&c->cancelled, true);
    dc->closed = true;
    atomic_store(&dc->closed_flag, true);
    bool idle = dc->inflight == 0 && atomic_load(&dc->inline_active) == 0;
    pthread_mutex_unlock(&dc->mtx);
    if (idle)
        disconnect(conn);
    if (conn->close_code == ROC_EPROTO || conn->close_code == ROC_ETOOBIG)
        atomic_fetch_add(&d->proto_errors, 1);
    pthread_mutex_lock(&d->mtx);
    if (dc->listed) {
        for (dconn **pp = &d->conns; *pp; pp = &(*pp)->next)
            if (*pp == dc) {
                *pp = dc->next;
                break;
            }
        dc->listed = false;
        d->nconns--;
        pthread_mutex_unlock(&d->mtx);
        roci_conn_unref(conn); /* the daemon list's reference */
        return;
    }
    pthread_mutex_unlock(&d->mtx);
}

/* The connection is gone and none of its calls runs: its sessions end and
 * the services hear of it. Once, from on_close, the last worker call, or
 * on_free at the latest. */
static void disconnect(roci_conn *conn)
{
    dconn *dc = conn->owner_data;
    roc_daemon *d = dc->d;
    pthread_mutex_lock(&dc->mtx);
    bool go = !dc->disconnected;
    dc->disconnected = true;
    pthread_mutex_unlock(&dc->mtx);
    if (!go)
        return;
    while (dc->sessions) {
        dsess *s = dc->sessions;
        dc->sessions = s->next;
        if (s->service) {
            if (d->svc.on_disconnect)
                d->svc.on_disconnect((roc_peer *)conn, d->svc.arg, s->self);
        } else if (s->obj->sv.destroy) {
            s->obj->sv.destroy(s->self);
        }
        obj_unref(s->obj);
        free(s);
    }
    if (dc->has_client_svc && dc->client_svc.on_disconnect)
        dc->client_svc.on_disconnect((roc_peer *)conn, dc->client_svc.arg,
                                     dc->client_state);
}

static void on_free(roci_conn *conn)
{
    dconn *dc = conn->owner_data;
    if (!dc)
        return;
    roc_daemon *d = dc->d;
    disconnect(conn);
    if (dc->last_obj)
        obj_unref(dc->last_obj);
    while (dc->exports) {
        dexp *x = dc->exports;
        dc->exports = x->next;
        obj_unref(x->obj);
        free(x->alias);
        free(x);
    }
    roc_arena_free(dc->inline_arena);
    pthread_mutex_destroy(&dc->mtx);
    free(dc);
    conn->owner_data = NULL;
    pthread_mutex_lock(&d->mtx);
    d->live--;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mtx);
}

/* The client's hello arrived: a service gets its per-connection state
 * before the first call. */
static void on_open(roci_conn *conn)
{
    dconn *dc = conn->owner_data;
    roc_daemon *d = dc->d;
    if (!d->has_svc)
        return;
    dobj *o = obj_find(d, ROC_SERVICE_ROOT, strlen(ROC_SERVICE_ROOT));
    dsess *ss = calloc(1, sizeof *ss);
    void *state = NULL;
    int rc = ss && o ? 0 : ROC_ENOMEM;
    if (rc == 0 && d->svc.on_connect)
        rc = d->svc.on_connect((roc_peer *)conn, d->svc.arg, &state);
    if (rc != 0) {
        free(ss);
        if (o)
            obj_unref(o);
        roci_conn_refuse(conn, 0, ROC_EUNAUTH,
                         "the service refused the connection: %s",
                         roc_strerror(rc));
        return;
    }
    ss->obj = o; /* keeps the reference */
    ss->self = state;
    ss->service = true;
    pthread_mutex_lock(&dc->mtx);
    ss->next = dc->sessions;
    dc->sessions = ss;
    pthread_mutex_unlock(&dc->mtx);
}

static const roci_conn_ops daemon_conn_ops = {
    .on_call = on_call,
    .on_cancel = on_cancel,
    .on_close = on_close,
    .on_free = on_free,
    .on_open = on_open,
};

/* Makes dc for c and records it in d's list (the list holds a reference
 * to c). */
static dconn *attach(roc_daemon *d, roci_conn *c)
{
    dconn *dc = calloc(1, sizeof *dc);
    if (!dc)
        return NULL;
    if (roc_arena_new(&dc->inline_arena) != 0) {
        free(dc);
        return NULL;
    }
    pthread_mutex_init(&dc->mtx, NULL);
    dc->d = d;
    dc->conn = c;
    c->owner = d;
    c->owner_data = dc;
    c->ops = &daemon_conn_ops;
    roci_conn_ref(c); /* the daemon list's */
    pthread_mutex_lock(&d->mtx);
    dc->next = d->conns;
    d->conns = dc;
    dc->listed = true;
    d->nconns++;
    d->live++;
    pthread_mutex_unlock(&d->mtx);
    return dc;
}

/* ------------------------------------------------------------ accept */

static void acc_cb(void *arg)
{
    roc_daemon *d = arg;
    int rv = nng_aio_result(d->acc_aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv == 0) {
        nng_stream *s = nng_aio_get_output(d->acc_aio, 0);
        pthread_mutex_lock(&d->mtx);
        bool refuse = d->shutting_down || d->nconns >= d->opts.max_conns;
        pthread_mutex_unlock(&d->mtx);
        roci_conn *c = NULL;
        if (!refuse &&
            roci_conn_accept(s, &daemon_conn_ops, d, d->opts.max_frame,
                             d->opts.max_depth, d->opts.hello_timeout_ms,
                             &c) == 0) {
            c->keepalive_ms = d->opts.keepalive_ms;
            c->idle_timeout_ms = d->opts.idle_timeout_ms;
            c->key = d->key.len ? &d->key : NULL;
            c->key_optional = d->opts.key_optional;
            c->tls = roci_url_is_tls(d->url);
            if (attach(d, c)) {
                atomic_fetch_add(&d->accepted, 1);
                roci_conn_start(c);
            } else {
                roci_conn_close(c, ROC_ENOMEM, "out of memory");
            }
            roci_conn_unref(c); /* creation reference */
        } else {
            nng_stream_free(s);
        }
    } else {
        /* e.g. out of file descriptors: back off a little */
        usleep(10000);
    }
    pthread_mutex_lock(&d->mtx);
    bool go = !d->shutting_down;
    pthread_mutex_unlock(&d->mtx);
    if (go)
        nng_stream_listener_accept(d->l, d->acc_aio);
}

/* ------------------------------------------------------------ names */

/* Keeps opts.ns_url and opts.ns_host (without brackets around an IPv6
 * address: roci_uri_with_host adds them). */
static int ns_opts_copy(roc_daemon *d, const roc_daemon_opts *o)
{
    if (!o)
        return 0;
    if (o->ns_url && !(d->ns_url = strdup(o->ns_url)))
        return ROC_ENOMEM;
    if (o->ns_host && *o->ns_host) {
        const char *h = o->ns_host;
        size_t n = strlen(h);
        if (n > 2 && h[0] == '[' && h[n - 1] == ']')
            h++, n -= 2;
        if (!(d->ns_host = strndup(h, n)))
            return ROC_ENOMEM;
    }
    return 0;
}

/* The local address this host sends from towards the host of ns_uri (a
 * UDP socket connected there: no packet is sent), as text in buf. */
static bool route_addr(const char *ns_uri, int family, char *buf, size_t len)
{
    const char *h;
    size_t hn;
    char host[256];
    if (roci_url_host(ns_uri, &h, &hn) != 0 || hn == 0 || hn >= sizeof host)
        return false;
    if (hn > 2 && h[0] == '[')
        h++, hn -= 2;
    memcpy(host, h, hn);
    host[hn] = 0;
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, "9", &hints, &res) != 0)
        return false;
    bool ok = false;
    for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            const void *a =
                ss.ss_family == AF_INET6
                    ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                    : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
            ok = inet_ntop(ss.ss_family, a, buf, (socklen_t)len) != NULL;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

/* The URL other hosts reach d at, for the URIs it registers (malloc'd):
 * d->url with its host replaced by opts.ns_host, or, for a wildcard bind,
 * by the address on the way to the name server at ns_uri (loopback when
 * none is found: the name server is then on this host, or unreachable
 * anyway). ipc:// and inproc:// URLs are kept as they are. */
static char *public_url(roc_daemon *d, const char *ns_uri)
{
    const char *h;
    size_t hn;
    if (roci_url_host(d->url, &h, &hn) != 0)
        return strdup(d->url);
    const char *host = d->ns_host;
    char addr[INET6_ADDRSTRLEN];
    if (!host && roci_host_is_wildcard(h, hn)) {
        bool v4 = hn == 7 && memcmp(h, "0.0.0.0", 7) == 0;
        if (route_addr(ns_uri, v4 ? AF_INET : AF_UNSPEC, addr, sizeof addr))
            host = addr;
        else
            host = v4 ? "127.0.0.1" : "::1";
    }
    return host ? roci_uri_with_host(d->url, host) : strdup(d->url);
}

/* A registration failed without an answer from a name server (refused,
 * unreachable, timed out): says what was being done. Answers of a name
 * server (roc.naming.Exists, ...) keep their type and message. */
static int ns_fail(roc_error *err, int rc, const char *name)
{
    if (!rc || !err || err->wire_code || !err->message)
        return rc;
    char *m = strdup(err->message);
    if (m)
        roc_error_set(err, rc, "cannot register '%s' with the name server: %s",
                      name, m);
    free(m);
    return rc;
}

/* Starts the keeper of d's names (d->ns_mtx held). */
static int ns_keeper_start(roc_daemon *d, unsigned ttl, roc_error *err)
{
    roc_ns *ns = NULL;
    int rc = roc_ns_open(&ns, d->ns_url, err);
    if (rc == 0)
        rc = roc_ns_keeper_start(ns, NULL, NULL, 0, ttl, &d->keeper, err);
    if (rc == 0 && !(d->ns_pub = public_url(d, roc_ns_uri(ns)))) {
        roc_ns_keeper_stop(d->keeper);
        d->keeper = NULL;
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    roc_ns_close(ns);
    return rc;
}

int roc_daemon_register_name(roc_daemon *d, const char *name,
                             const char *object_id, const char *const *meta,
                             size_t n_meta, unsigned flags, roc_error *err)
{
    if (!d || !name || !object_id || (n_meta && !meta))
        return roc_error_set(err, ROC_EINVAL,
                             "roc_daemon_register_name: daemon, name and "
                             "object id are required");
    if (!d->l)
        return roc_error_set(err, ROC_ESTATE,
                             "roc_daemon_register_name: the daemon has no "
                             "listener");
    dobj *o = obj_find(d, object_id, strlen(object_id));
    if (!o)
        return roc_error_set(err, ROC_ENOTFOUND,
                             "cannot register '%s': the daemon hosts no "
                             "object '%s'",
                             name, object_id);
    obj_unref(o);
    unsigned ttl = d->opts.ns_ttl_s ? d->opts.ns_ttl_s : 10;
    if (ttl > 3600)
        return roc_error_set(err, ROC_EINVAL,
                             "cannot register '%s': ns_ttl_s %u is not in "
                             "1..3600",
                             name, ttl);
    pthread_mutex_lock(&d->ns_mtx);
    pthread_mutex_lock(&d->mtx);
    bool down = d->shutting_down;
    pthread_mutex_unlock(&d->mtx);
    int rc = down ? roc_error_set(err, ROC_ESTATE,
                                  "cannot register '%s': the daemon is shut "
                                  "down",
                                  name)
                  : 0;
    if (rc == 0 && !d->keeper)
        rc = ns_fail(err, ns_keeper_start(d, ttl, err), name);
    char *uri = NULL;
    if (rc == 0) {
        size_t n = strlen(object_id) + strlen(d->ns_pub) + 6;
        if (!(uri = malloc(n)))
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        else
            snprintf(uri, n, "ROC:%s@%s", object_id, d->ns_pub);
    }
    if (rc == 0) {
        rc = roc_ns_keeper_add(d->keeper, name, uri, meta, n_meta, flags, err);
        rc = ns_fail(err, rc, name);
    }
    if (rc == 0)
        d->ns_names++;
    if (rc && d->keeper && d->ns_names == 0) {
        /* nothing kept: the next registration starts afresh (the name
         * server may be another one by then) */
        roc_ns_keeper_stop(d->keeper);
        d->keeper = NULL;
        free(d->ns_pub);
        d->ns_pub = NULL;
    }
    pthread_mutex_unlock(&d->ns_mtx);
    free(uri);
    return rc;
}

/* Withdraws the names object_id was registered under (their URI goes from
 * each name), as roc_daemon_unregister removes it. */
static void ns_unregister(roc_daemon *d, const char *object_id)
{
    pthread_mutex_lock(&d->ns_mtx);
    if (d->keeper && d->ns_pub) {
        size_t n = strlen(object_id) + strlen(d->ns_pub) + 6;
        char *uri = malloc(n);
        size_t gone = 0;
        if (uri) {
            snprintf(uri, n, "ROC:%s@%s", object_id, d->ns_pub);
            roc_ns_keeper_remove(d->keeper, NULL, uri, &gone, NULL);
        }
        free(uri);
        d->ns_names -= gone < d->ns_names ? gone : d->ns_names;
    }
    pthread_mutex_unlock(&d->ns_mtx);
}

/* Stops the keeper: its lease is revoked, d's names go at once (or within
 * the TTL when no name server answers). */
static void ns_withdraw(roc_daemon *d)
{
    pthread_mutex_lock(&d->ns_mtx);
    roc_ns_keeper *k = d->keeper;
    d->keeper = NULL;
    d->ns_names = 0;
    pthread_mutex_unlock(&d->ns_mtx);
    roc_ns_keeper_stop(k);
}

/* ------------------------------------------------------------ lifecycle */

/* Rewrites the port of url (tcp/ws/tls) to the one actually bound. */
static char *bound_url(const char *url, int port)
{
    const char *hs = strstr(url, "://");
    if (!hs || port <= 0)
        return strdup(url);
    hs += 3;
    const char *path = strchr(hs, '/');
    const char *hend = path ? path : hs + strlen(hs);
    const char *colon = NULL;
    for (const char *p = hs; p < hend; p++)
        if (*p == ':')
            colon = p;
    if (colon && hs[0] == '[' && memchr(colon, ']', (size_t)(hend - colon)))
        colon = NULL;
    if (!colon)
        return strdup(url);
    size_t n = (size_t)(colon - url) + 16 + strlen(hend);
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%.*s:%d%s", (int)(colon - url), url, port, hend);
    return s;
}

/* url NULL: a daemon without a listener (the process's callback daemon,
 * which serves what clients export on their own connections). */
static int daemon_open(roc_daemon **out, const char *url,
                       const roc_daemon_opts *opts, roc_error *err)
{
    int rc = url ? roc_url_check(url, err) : 0;
    if (rc)
        return rc;
    roc_daemon *d = calloc(1, sizeof *d);
    if (!d)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    roc_daemon_opts_init(&d->opts);
    if (opts) {
        d->opts = *opts;
        roc_daemon_opts defs;
        roc_daemon_opts_init(&defs);
        if (!d->opts.max_frame)
            d->opts.max_frame = defs.max_frame;
        if (!d->opts.max_depth)
            d->opts.max_depth = defs.max_depth;
        if (!d->opts.max_conns)
            d->opts.max_conns = defs.max_conns;
        if (!d->opts.max_inflight)
            d->opts.max_inflight = defs.max_inflight;
        if (!d->opts.workers)
            d->opts.workers = defs.workers;
        if (d->opts.hello_timeout_ms <= 0)
            d->opts.hello_timeout_ms = defs.hello_timeout_ms;
    }
    d->opts.ns_url = d->opts.ns_host = NULL; /* copied below */
    pthread_mutex_init(&d->mtx, NULL);
    pthread_mutex_init(&d->pub_mtx, NULL);
    pthread_mutex_init(&d->ns_mtx, NULL);
    roci_cond_init_mono(&d->cv);
    roci_cond_init_mono(&d->wq_cv);
    pthread_rwlock_init(&d->objs_lock, NULL);
    if (!url) {
        d->url = strdup("local:");
        d->opts.tls = (roc_tls_opts){0};
        d->opts.key_file = NULL;
        d->opts.authorize = NULL;
        d->started_ms = roci_now_ms();
        *out = d;
        return d->url ? 0 : ROC_ENOMEM;
    }
    /* the key: an empty or unreadable key file is an error, not an open
     * daemon */
    const char *kf = d->opts.key_file;
    if (!kf && getenv("ROC_KEY_FILE") && *getenv("ROC_KEY_FILE"))
        kf = getenv("ROC_KEY_FILE");
    if (kf && (rc = roci_key_load(kf, &d->key, err)) != 0) {
        free(d);
        return rc;
    }
    nng_tls_config *tls = NULL;
    if (roci_url_is_tls(url) &&
        (rc = roci_tls_server_config(&d->opts.tls, &tls, err)) != 0) {
        free(d);
        return rc;
    }
    char tbuf[256];
    int rv = nng_stream_listener_alloc(&d->l,
                                       roci_transport_url(url, tbuf, sizeof tbuf));
    if (rv == 0) {
        nng_stream_listener_set_bool(d->l, NNG_OPT_TCP_NODELAY, true);
        if (tls)
            rv = nng_stream_listener_set_ptr(d->l, NNG_OPT_TLS_CONFIG, tls);
    }
    if (tls)
        nng_tls_config_free(tls); /* the listener holds it */
    if (rv == 0)
        rv = nng_stream_listener_listen(d->l);
    if (rv != 0) {
        rc = roci_set_nng_err(err, rv, "cannot listen on", url);
        if (d->l)
            nng_stream_listener_free(d->l);
        free(d);
        return rc;
    }
    int port = 0;
    if (nng_stream_listener_get_int(d->l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        port = 0;
    d->url = bound_url(url, port);
    if (!d->url || ns_opts_copy(d, opts) != 0 ||
        nng_aio_alloc(&d->acc_aio, acc_cb, d) != 0) {
        nng_stream_listener_free(d->l);
        free(d->url);
        free(d->ns_url);
        free(d->ns_host);
        free(d);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    d->started_ms = roci_now_ms();
    do_register(d, "roc.daemon", &builtin_servant, NULL, true);
    /* the built-in object's self is the daemon */
    dobj *b = obj_find(d, "roc.daemon", 10);
    b->sv.self = d;
    obj_unref(b);
    *out = d;
    return 0;
}

int roc_daemon_open(roc_daemon **out, const char *url,
                    const roc_daemon_opts *opts, roc_error *err)
{
    if (!out || !url)
        return roc_error_set(err, ROC_EINVAL, "roc_daemon_open: no url");
    return daemon_open(out, url, opts, err);
}

const char *roc_daemon_url(const roc_daemon *d)
{
    return d ? d->url : NULL;
}

int roc_daemon_start(roc_daemon *d)
{
    if (!d)
        return ROC_EINVAL;
    pthread_mutex_lock(&d->mtx);
    if (d->started || d->shutting_down) {
        bool st = d->started;
        pthread_mutex_unlock(&d->mtx);
        return st ? 0 : ROC_ESTATE;
    }
    d->started = true;
    d->workers = calloc(d->opts.workers, sizeof *d->workers);
    for (unsigned i = 0; d->workers && i < d->opts.workers; i++)
        if (pthread_create(&d->workers[i], NULL, worker_main, d) == 0)
            d->nworkers++;
    pthread_mutex_unlock(&d->mtx);
    if (d->nworkers == 0)
        return ROC_ENOMEM;
    if (d->opts.keepalive_ms > 0 || d->opts.idle_timeout_ms > 0)
        roci_reaper_add_tick(roci_conn_keepalive_tick);
    roci_reaper_add_tick(roci_conn_deadline_tick); /* its callbacks' futures */
    roci_reaper_add_tick(roci_conn_idle_tick);     /* and their held calls */
    if (d->l)
        nng_stream_listener_accept(d->l, d->acc_aio);
    roci_discovery_start(d, &d->opts); /* announce, when asked to */
    return 0;
}

int roc_daemon_serve(roc_daemon *d)
{
    int rc = roc_daemon_start(d);
    if (rc)
        return rc;
    pthread_mutex_lock(&d->mtx);
    while (!d->shut)
        pthread_cond_wait(&d->cv, &d->mtx);
    pthread_mutex_unlock(&d->mtx);
    return 0;
}

static void send_bye(roci_conn *c)
{
    roc_buf *b = roci_scratch();
    if (!b)
        return;
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 3, ROCI_BYE);
    roci_pack_str(&pk, "shutdown", 8);
    if (roci_frame_end(b) == 0)
        roci_conn_send(c, b->data, b->len, NULL);
}

void roc_daemon_shutdown(roc_daemon *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mtx);
    if (d->shutting_down) {
        while (!d->shut)
            pthread_cond_wait(&d->cv, &d->mtx);
        pthread_mutex_unlock(&d->mtx);
        return;
    }
    d->shutting_down = true;
    pthread_mutex_unlock(&d->mtx);
    ns_withdraw(d);         /* names and */
    roci_discovery_stop(d); /* LAN announcements go first */
    if (d->l) {
        nng_stream_listener_close(d->l);
        nng_aio_stop(d->acc_aio);
    }
    /* tell every client, then let calls in progress finish (bounded) */
    pthread_mutex_lock(&d->mtx);
    for (dconn *dc = d->conns; dc; dc = dc->next)
        send_bye(dc->conn);
    pthread_mutex_unlock(&d->mtx);
    uint64_t end = roci_now_ms() + 10000;
    pthread_mutex_lock(&d->mtx);
    while ((d->wq_head || atomic_load(&d->active)) && roci_now_ms() < end) {
        pthread_mutex_unlock(&d->mtx);
        usleep(1000);
        pthread_mutex_lock(&d->mtx);
    }
    /* close every connection */
    while (d->conns) {
        roci_conn *c = d->conns->conn;
        roci_conn_ref(c);
        pthread_mutex_unlock(&d->mtx);
        roci_conn_close(c, ROC_ECLOSED, "daemon shut down");
        roci_conn_unref(c);
        pthread_mutex_lock(&d->mtx);
    }
    d->stopping_workers = true;
    pthread_cond_broadcast(&d->wq_cv);
    pthread_mutex_unlock(&d->mtx);
    for (unsigned i = 0; i < d->nworkers; i++)
        pthread_join(d->workers[i], NULL);
    pthread_mutex_lock(&d->mtx);
    d->shut = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mtx);
}

void roc_daemon_close(roc_daemon *d)
{
    if (!d)
        return;
    roc_daemon_shutdown(d);
    /* wait until the reaper freed every connection (they point at us) */
    pthread_mutex_lock(&d->mtx);
    uint64_t end = roci_now_ms() + 10000;
    while (d->live && roci_now_ms() < end)
        timed_wait(&d->cv, &d->mtx, 20);
    bool leak = d->live != 0;
    pthread_mutex_unlock(&d->mtx);
    if (leak)
        return; /* something still holds a connection: never free under it */
    if (d->l) {
        nng_aio_free(d->acc_aio);
        nng_stream_listener_free(d->l);
    }
    if (d->has_pub)
        nng_close(d->pub);
    free(d->events_url);
    pthread_mutex_destroy(&d->pub_mtx);
    for (size_t i = 0; i < OBJ_BUCKETS; i++) {
        while (d->objs[i]) {
            dobj *o = d->objs[i];
            d->objs[i] = o->next;
            obj_unref(o);
        }
    }
    free(d->workers);
    free(d->url);
    free(d->ns_pub);
    free(d->ns_url);
    free(d->ns_host);
    pthread_mutex_destroy(&d->ns_mtx);
    pthread_rwlock_destroy(&d->objs_lock);
    pthread_cond_destroy(&d->wq_cv);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mtx);
    free(d);
}

void roc_daemon_get_stats(roc_daemon *d, roc_daemon_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!d)
        return;
    st->calls = atomic_load(&d->calls);
    st->errors = atomic_load(&d->errors);
    st->oneways = atomic_load(&d->oneways);
    st->protocol_errors = atomic_load(&d->proto_errors);
    st->accepted = atomic_load(&d->accepted);
    pthread_mutex_lock(&d->mtx);
    st->connections = d->nconns;
    pthread_mutex_unlock(&d->mtx);
    st->uptime_s = (double)(roci_now_ms() - d->started_ms) / 1000.0;
}

/* ------------------------------------------------------------ roc.daemon */

static int bi_ping(roc_call *c, const roc_value *args, roc_value **res)
{
    (void)args;
    *res = roc_value_str(roc_call_arena(c), "pong");
    return *res ? 0 : ROC_ENOMEM;
}

static int bi_objects(roc_call *c, const roc_value *args, roc_value **res)
{
    (void)args;
    roc_daemon *d = roc_call_self(c);
    roc_arena *a = roc_call_arena(c);
    pthread_rwlock_rdlock(&d->objs_lock);
    roc_value *arr = roc_value_array(a, d->nobjs);
    size_t k = 0;
    for (size_t i = 0; arr && i < OBJ_BUCKETS; i++)
        for (dobj *o = d->objs[i]; o && k < d->nobjs; o = o->next) {
            roc_value *s = roc_value_str(a, o->id);
            if (s)
                arr->u.array.items[k++] = *s;
        }
    pthread_rwlock_unlock(&d->objs_lock);
    if (!arr)
        return ROC_ENOMEM;
    arr->u.array.len = k;
    *res = arr;
    return 0;
}

static roc_value *kv(roc_value *map, size_t i, roc_arena *a, const char *k,
                     roc_value *v)
{
    roc_value *key = roc_value_str(a, k);
    if (!key || !v)
        return NULL;
    map->u.map.entries[i].key = *key;
    map->u.map.entries[i].val = *v;
    return map;
}

static int bi_describe(roc_call *c, const roc_value *args, roc_value **res)
{
    roc_daemon *d = roc_call_self(c);
    roc_arena *a = roc_call_arena(c);
    const char *id;
    size_t len;
    if (roc_value_get_str(roc_value_at(args, 0), &id, &len) != 0)
        return roc_call_error(c, ROC_EBADARGS,
                              "describe(object_id): object_id must be a string");
    dobj *o = obj_find(d, id, len);
    if (!o)
        return roc_call_error(c, ROC_ENOOBJ, "no object '%s' on this daemon",
                              id);
    const roc_servant *sv = &o->sv;
    roc_value *ms = roc_value_array(a, sv->n_methods);
    for (size_t i = 0; ms && i < sv->n_methods; i++) {
        const roc_method *m = &sv->methods[i];
        roc_value *mm = roc_value_map(a, 5);
        roc_value *fl = roc_value_array(a, 0);
        if (!mm || !fl) {
            ms = NULL;
            break;
        }
        size_t nf = 0;
        const char *flags[3];
        if (m->flags & ROC_METHOD_ONEWAY)
            flags[nf++] = "oneway";
        if (m->flags & ROC_METHOD_IDEMPOTENT)
            flags[nf++] = "idempotent";
        if (m->flags & ROC_METHOD_BLOCKING)
            flags[nf++] = "blocking";
        fl = roc_value_array(a, nf);
        for (size_t k = 0; fl && k < nf; k++)
            fl->u.array.items[k] = *roc_value_str(a, flags[k]);
        if (!kv(mm, 0, a, "name", roc_value_str(a, m->name)) ||
            !kv(mm, 1, a, "params",
                m->params ? roc_value_str(a, m->params) : roc_value_nil(a)) ||
            !kv(mm, 2, a, "result",
                m->result ? roc_value_str(a, m->result) : roc_value_nil(a)) ||
            !kv(mm, 3, a, "nargs", roc_value_int(a, m->nargs)) ||
            !kv(mm, 4, a, "flags", fl)) {
            ms = NULL;
            break;
        }
        ms->u.array.items[i] = *mm;
    }
    static const char *modes[] = {"single", "session", "percall"};
    roc_value *r = roc_value_map(a, 7);
    int rc = 0;
    const char *ev = roc_daemon_events_url(d);
    if (!ms || !r ||
        !kv(r, 0, a, "id", roc_value_str(a, o->id)) ||
        !kv(r, 1, a, "interface",
            sv->iface ? roc_value_str(a, sv->iface) : roc_value_nil(a)) ||
        !kv(r, 2, a, "methods", ms) ||
        !kv(r, 3, a, "idl", sv->idl ? roc_value_str(a, sv->idl) : roc_value_nil(a)) ||
        !kv(r, 4, a, "instance", roc_value_str(a, modes[sv->mode % 3])) ||
        !kv(r, 5, a, "serialized",
            roc_value_bool(a, sv->flags & ROC_SERVANT_SERIALIZED)) ||
        !kv(r, 6, a, "events", ev ? roc_value_str(a, ev) : roc_value_nil(a)))
        rc = ROC_ENOMEM;
    obj_unref(o);
    *res = r;
    return rc;
}

static int bi_stats(roc_call *c, const roc_value *args, roc_value **res)
{
    (void)args;
    roc_daemon *d = roc_call_self(c);
    roc_arena *a = roc_call_arena(c);
    roc_daemon_stats st;
    roc_daemon_get_stats(d, &st);
    roc_value *r = roc_value_map(a, 8);
    if (!r || !kv(r, 0, a, "calls", roc_value_uint(a, st.calls)) ||
        !kv(r, 1, a, "errors", roc_value_uint(a, st.errors)) ||
        !kv(r, 2, a, "oneways", roc_value_uint(a, st.oneways)) ||
        !kv(r, 3, a, "connections", roc_value_uint(a, st.connections)) ||
        !kv(r, 4, a, "accepted", roc_value_uint(a, st.accepted)) ||
        !kv(r, 5, a, "protocol_errors", roc_value_uint(a, st.protocol_errors)) ||
        !kv(r, 6, a, "uptime_s", roc_value_float(a, st.uptime_s)) ||
        !kv(r, 7, a, "url", roc_value_str(a, d->url)))
        return ROC_ENOMEM;
    *res = r;
    return 0;
}

static const roc_method builtin_methods[] = {
    {"ping", bi_ping, 0, ROC_METHOD_IDEMPOTENT, "", "string"},
    {"objects", bi_objects, 0, ROC_METHOD_IDEMPOTENT, "", "list<string>"},
    {"describe", bi_describe, 1, ROC_METHOD_IDEMPOTENT, "string object_id",
     "map<string, any>"},
    {"stats", bi_stats, 0, ROC_METHOD_IDEMPOTENT, "", "map<string, any>"},
};

static const roc_servant builtin_servant = {
    .iface = "roc.Daemon",
    .methods = builtin_methods,
    .n_methods = sizeof builtin_methods / sizeof builtin_methods[0],
    .mode = ROC_INSTANCE_SINGLE,
    .idl = "module roc {\n"
           "    interface Daemon {\n"
           "        idempotent string ping();\n"
           "        idempotent list<string> objects();\n"
           "        idempotent map<string, any> describe(string object_id);\n"
           "        idempotent map<string, any> stats();\n"
           "    }\n"
           "}\n",
};

/* ------------------------------------------------------------ callbacks */

static atomic_uint_fast64_t export_seq;

int roc_export_new(roc_export **out, const roc_servant *sv, roc_error *err)
{
    if (!out || !sv || (!sv->methods && sv->n_methods))
        return roc_error_set(err, ROC_EINVAL, "roc_export_new: no servant");
    for (size_t i = 0; i < sv->n_methods; i++)
        if (!sv->methods[i].name || !sv->methods[i].fn)
            return roc_error_set(err, ROC_EINVAL,
                                 "roc_export_new: method %zu has no name or "
                                 "handler",
                                 i);
    roc_export *e = calloc(1, sizeof *e);
    dobj *o = calloc(1, sizeof *o);
    char id[32];
    snprintf(id, sizeof id, "cb.%llu",
             (unsigned long long)atomic_fetch_add(&export_seq, 1) + 1);
    if (!e || !o || !(o->id = strdup(id))) {
        free(e);
        free(o);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    o->id_len = strlen(id);
    o->sv = *sv;
    o->sv.mode = ROC_INSTANCE_SINGLE;
    o->is_export = true;
    pthread_mutex_init(&o->serial, NULL);
    atomic_init(&o->refs, 1);
    atomic_init(&o->withdrawn, false);
    atomic_init(&o->active, 0);
    e->obj = o;
    *out = e;
    return 0;
}

const char *roc_export_id(const roc_export *e)
{
    return e ? e->obj->id : NULL;
}

void roc_export_free(roc_export *e)
{
    if (!e)
        return;
    atomic_store(&e->obj->withdrawn, true);
    uint64_t end = roci_now_ms() + 30000;
    while (atomic_load(&e->obj->active) > 0 && roci_now_ms() < end)
        usleep(1000);
    obj_unref(e->obj);
    free(e);
}

roc_value *roc_value_export(roc_arena *a, roc_export *e)
{
    if (!e)
        return NULL;
    roc_value *v = roc_value_nil(a);
    if (!v)
        return NULL;
    v->type = ROC_REF;
    v->u.ref.uri = e->obj->id;
    v->u.ref.kind = ROC_REF_LOCAL;
    v->u.ref.priv_ = e;
    return v;
}

/* Exports obj on conn under alias (or its own id); idempotent. */
static int export_install(roci_conn *conn, dobj *obj, const char *alias)
{
    dconn *dc = conn->owner_data;
    if (!dc || conn->ops != &daemon_conn_ops)
        return ROC_EINVAL;
    if (atomic_load(&obj->withdrawn))
        return ROC_ECLOSED;
    pthread_mutex_lock(&dc->mtx);
    for (dexp *x = dc->exports; x; x = x->next)
        if (x->obj == obj && (!alias || (x->alias && !strcmp(x->alias, alias)))) {
            pthread_mutex_unlock(&dc->mtx);
            return 0;
        }
    dexp *x = calloc(1, sizeof *x);
    if (!x || (alias && !(x->alias = strdup(alias)))) {
        free(x);
        pthread_mutex_unlock(&dc->mtx);
        return ROC_ENOMEM;
    }
    x->obj = obj;
    atomic_fetch_add(&obj->refs, 1);
    x->next = dc->exports;
    dc->exports = x;
    atomic_store_explicit(&dc->has_exports, true, memory_order_release);
    pthread_mutex_unlock(&dc->mtx);
    return 0;
}

int roci_export_on(void *conn, void *export, const char **id)
{
    roc_export *e = export;
    int rc = export_install(conn, e->obj, NULL);
    if (rc == 0)
        *id = e->obj->id;
    return rc;
}

/* The process's daemon for what it exports on its client connections. */
static roc_daemon *local_daemon;
static pthread_once_t local_once = PTHREAD_ONCE_INIT;

static void local_init(void)
{
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.keepalive_ms = -1;
    if (daemon_open(&local_daemon, NULL, &o, NULL) == 0 &&
        roc_daemon_start(local_daemon) != 0) {
        local_daemon = NULL; /* leaked on purpose: never happens */
    }
}

int roci_client_attach(roci_conn *c, const roc_service *client_svc)
{
    pthread_once(&local_once, local_init);
    if (!local_daemon)
        return ROC_ENOMEM;
    dconn *dc = attach(local_daemon, c);
    if (!dc)
        return ROC_ENOMEM;
    if (!client_svc)
        return 0;
    /* the client's own service, exported on this connection as "service" */
    void *state = NULL;
    int rc = client_svc->on_connect
                 ? client_svc->on_connect((roc_peer *)c, client_svc->arg, &state)
                 : 0;
    if (rc)
        return rc;
    roc_servant sv = {
        .iface = client_svc->name,
        .methods = client_svc->methods,
        .n_methods = client_svc->n_methods,
        .self = state,
        .mode = ROC_INSTANCE_SINGLE,
        .flags = client_svc->flags,
        .idl = client_svc->idl,
    };
    roc_export *e = NULL;
    if ((rc = roc_export_new(&e, &sv, NULL)) != 0)
        return rc;
    dc->client_svc = *client_svc;
    dc->has_client_svc = true;
    dc->client_state = state;
    rc = export_install(c, e->obj, ROC_SERVICE_ROOT);
    /* the connection's export list keeps the object; the handle goes */
    obj_unref(e->obj);
    free(e);
    return rc;
}

/* ------------------------------------------------------------ services */

static void *svc_no_create(void *arg)
{
    (void)arg;
    return NULL; /* state is made by on_connect when the connection opens */
}

int roc_serve(const char *url, const roc_service *svc,
              const roc_daemon_opts *opts, roc_daemon **out, roc_error *err)
{
    if (!svc || !out || (!svc->methods && svc->n_methods))
        return roc_error_set(err, ROC_EINVAL, "roc_serve: no service");
    roc_daemon *d;
    int rc = roc_daemon_open(&d, url, opts, err);
    if (rc)
        return rc;
    d->svc = *svc;
    d->has_svc = true;
    roc_servant sv = {
        .iface = svc->name,
        .methods = svc->methods,
        .n_methods = svc->n_methods,
        .mode = ROC_INSTANCE_SESSION,
        .create = svc_no_create,
        .flags = svc->flags,
        .idl = svc->idl,
    };
    if ((rc = roc_daemon_register(d, ROC_SERVICE_ROOT, &sv, NULL)) != 0 ||
        (rc = roc_daemon_start(d)) != 0) {
        roc_daemon_close(d);
        return roc_error_set(err, rc, "roc_serve: %s", roc_strerror(rc));
    }
    *out = d;
    return 0;
}

roc_peer *roc_call_peer_handle(roc_call *call)
{
    return (roc_peer *)call->conn;
}

const char *roc_peer_address(roc_peer *peer)
{
    return peer ? ((roci_conn *)peer)->peer : "";
}

/* ------------------------------------------------------------ events */

int roc_daemon_events_open(roc_daemon *d, const char *url, roc_error *err)
{
    if (!d || !url)
        return roc_error_set(err, ROC_EINVAL, "roc_daemon_events_open: no url");
    if (strncasecmp(url, "tls+", 4) == 0 || strncasecmp(url, "wss", 3) == 0)
        /* nng would listen, but with no certificate every subscriber's
         * handshake would fail: say so now */
        return roc_error_set(err, ROC_EINVAL,
                             "events have no TLS: %s cannot carry them; use "
                             "tcp:// on 127.0.0.1 or a trusted network, or "
                             "ipc:// (docs/security.md, Events)",
                             url);
    pthread_mutex_lock(&d->pub_mtx);
    if (d->has_pub) {
        pthread_mutex_unlock(&d->pub_mtx);
        return roc_error_set(err, ROC_EEXIST, "events are already open on %s",
                             d->events_url);
    }
    nng_listener l;
    int rv = nng_pub0_open(&d->pub);
    /* room for a burst per subscriber (nng's default is 16 messages): a
     * subscriber that is descheduled for a few milliseconds loses nothing */
    if (rv == 0 && (rv = nng_socket_set_int(d->pub, NNG_OPT_SENDBUF,
                                            ROCI_EVENT_QUEUE)) != 0)
        nng_close(d->pub);
    else if (rv == 0 && (rv = nng_listen(d->pub, url, &l, 0)) != 0)
        nng_close(d->pub);
    if (rv != 0) {
        pthread_mutex_unlock(&d->pub_mtx);
        return roci_set_nng_err(err, rv, "cannot publish events on", url);
    }
    int port = 0;
    if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        port = 0;
    d->events_url = bound_url(url, port);
    d->has_pub = true;
    pthread_mutex_unlock(&d->pub_mtx);
    return 0;
}

const char *roc_daemon_events_url(const roc_daemon *d)
{
    return d && d->has_pub ? d->events_url : NULL;
}

int roc_daemon_publish(roc_daemon *d, const char *topic,
                       const roc_value *value, roc_error *err)
{
    if (!d || !topic || !d->has_pub)
        return roc_error_set(err, d && topic ? ROC_ESTATE : ROC_EINVAL,
                             "no event endpoint: call roc_daemon_events_open "
                             "first");
    if (strlen(topic) > 255)
        return roc_error_set(err, ROC_EINVAL, "topic longer than 255 bytes");
    /* topic bytes, NUL, msgpack value: subscribers filter on the prefix */
    roc_buf b = ROC_BUF_INIT;
    size_t tl = strlen(topic);
    int rc = roci_buf_reserve(&b, tl + 1);
    if (rc == 0) {
        memcpy(b.data, topic, tl + 1);
        b.len = tl + 1;
        rc = roc_encode(&b, value, err);
    }
    if (rc == 0) {
        int rv = nng_send(d->pub, b.data, b.len, NNG_FLAG_NONBLOCK);
        if (rv != 0 && rv != NNG_EAGAIN)
            rc = roci_set_nng_err(err, rv, "cannot publish on",
                                  d->events_url);
    } else if (rc == ROC_ENOMEM) {
        roc_error_set(err, rc, "out of memory");
    }
    roc_buf_free(&b);
    return rc;
}
