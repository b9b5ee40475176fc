/* A full-duplex connection over an nng_stream carrying protocol v1 frames:
 * one read loop, a coalescing send queue, calls in flight matched by id in
 * both directions (either side may call the other).
 *
 * Threads: the read loop runs as the callback of rd_aio, on nng's task
 * threads; it parses every whole frame it holds and hands calls to the
 * owner (the daemon), which may run a handler inline and queue its reply.
 * Replies queued while the loop parses a batch go out together ("cork").
 * Sends are chained through wr_aio's callback; a synchronous caller on an
 * idle connection writes directly from its own buffer on its own
 * callback-less aio, which costs no thread hand-off. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "roci.h"

#include <nng/supplemental/tls/tls.h>

#define RBUF_INITIAL (64u * 1024u)
#define ROCI_KEEP_BUF (4u * 1024u * 1024u)
#define LINGER_MS 1000
#define LINGER_MAX_BYTES (4u * 1024u * 1024u)

uint64_t roci_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t roci_deadline_ms(int timeout_ms)
{
    /* the coarse clock (a memory read, not a clock read): it lags by up to
     * its resolution, which is added so that a deadline is never early;
     * deadlines are checked every 10 ms anyway (reaper.c) */
    static _Atomic uint64_t res_ms; /* 0: not known yet */
    uint64_t r = atomic_load_explicit(&res_ms, memory_order_relaxed);
    if (!r) {
        struct timespec rs;
        r = clock_getres(CLOCK_MONOTONIC_COARSE, &rs) == 0 && rs.tv_sec == 0
                ? (uint64_t)rs.tv_nsec / 1000000u + 1
                : 0;
        if (!r || r > 20) /* no usable coarse clock: the fine one */
            r = UINT64_MAX;
        atomic_store_explicit(&res_ms, r, memory_order_relaxed);
    }
    if (r == UINT64_MAX)
        return roci_now_ms() + (uint64_t)timeout_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + r +
           (uint64_t)timeout_ms;
}

int roci_nng_err(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case NNG_ENOMEM:
        return ROC_ENOMEM;
    case NNG_ETIMEDOUT:
        return ROC_ETIMEDOUT;
    case NNG_ECONNREFUSED:
    case NNG_ENOENT:
        return ROC_ECONNREFUSED;
    case NNG_EADDRINUSE:
        return ROC_EADDRINUSE;
    case NNG_EADDRINVAL:
    case NNG_EINVAL:
    case NNG_ENOTSUP:
        return ROC_EINVAL;
    case NNG_ECLOSED:
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
    case NNG_ECONNABORTED:
        return ROC_ECLOSED;
    case NNG_EUNREACHABLE:
        return ROC_EUNREACHABLE;
    case NNG_ECANCELED:
        return ROC_ECANCELED;
    case NNG_ECRYPTO:
    case NNG_EPEERAUTH:
        return ROC_EUNAUTH; /* TLS: certificate not trusted / wrong name */
    default:
        return ROC_ETRANSPORT;
    }
}

int roci_set_nng_err(roc_error *err, int rv, const char *what,
                     const char *url)
{
    return roc_error_set(err, roci_nng_err(rv), "%s %s: %s", what,
                         url ? url : "", nng_strerror(rv));
}

const char *roci_transport_url(const char *url, char *buf, size_t len)
{
    if (strncasecmp(url, "inproc://", 9) != 0)
        return url;
    snprintf(buf, len, "abstract://roc.inproc.%d.%s", (int)getpid(), url + 9);
    return buf;
}

/* ------------------------------------------------------ thread locals */

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
typedef struct tls_state {
    nng_aio *aio;
    roc_buf scratch;
    roci_seg seg;
    pthread_cond_t cv;
    bool has_cv;
} tls_state;

static _Thread_local tls_state *tl_cached; /* no key look-up per use */

static void tl_free(void *p)
{
    tls_state *t = p;
    tl_cached = NULL; /* key destructors run on the exiting thread */
    if (t->aio)
        nng_aio_free(t->aio);
    if (t->has_cv)
        pthread_cond_destroy(&t->cv);
    roc_buf_free(&t->scratch);
    free(t);
}

static void tl_init(void)
{
    pthread_key_create(&tl_key, tl_free);
}

static tls_state *tls(void)
{
    if (tl_cached)
        return tl_cached;
    pthread_once(&tl_once, tl_init);
    tls_state *t = pthread_getspecific(tl_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
        pthread_setspecific(tl_key, t);
    }
    tl_cached = t;
    return t;
}

nng_aio *roci_thread_aio(void)
{
    tls_state *t = tls();
    if (!t)
        return NULL;
    if (!t->aio && nng_aio_alloc(&t->aio, NULL, NULL) != 0)
        return NULL;
    return t->aio;
}

void roci_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

pthread_cond_t *roci_thread_cond(void)
{
    tls_state *t = tls();
    if (!t)
        return NULL;
    if (!t->has_cv) {
        roci_cond_init_mono(&t->cv);
        t->has_cv = true;
    }
    return &t->cv;
}

roc_buf *roci_scratch(void)
{
    tls_state *t = tls();
    return t ? &t->scratch : NULL;
}

roci_seg *roci_scratch_seg(void)
{
    tls_state *t = tls();
    return t ? &t->seg : NULL;
}

/* ------------------------------------------------------ frames */

/* The length prefix (filled in by roci_frame_end), the envelope's array
 * header (nelem < 16), the version and the kind (< 128), written directly. */
static void frame_head(roc_buf *b, uint32_t nelem, unsigned kind)
{
    if (b->cap < 8 && roci_buf_grow(b, 8) != 0)
        return; /* roci_frame_end sees the empty buffer */
    uint8_t *p = b->data;
    p[0] = p[1] = p[2] = p[3] = 0;
    p[4] = (uint8_t)(0x90 | (nelem & 15));
    p[5] = 1;
    p[6] = (uint8_t)(kind & 0x7f);
    b->len = 7;
}

void roci_frame_begin(msgpack_packer *pk, roc_buf *b, uint32_t nelem,
                      unsigned kind)
{
    b->len = 0;
    roci_packer_init(pk, b);
    frame_head(b, nelem, kind);
}

void roci_frame_begin_seg(msgpack_packer *pk, roci_wbuf *w, uint32_t nelem,
                          unsigned kind)
{
    w->b->len = 0;
    w->seg->off = 0;
    w->seg->ptr = NULL;
    w->seg->len = 0;
    roci_packer_init_seg(pk, w);
    frame_head(w->b, nelem, kind);
}

int roci_frame_end_seg(roc_buf *b, const roci_seg *seg)
{
    if (!b->data || b->len < 4)
        return ROC_ENOMEM;
    size_t n = b->len - 4 + (seg && seg->ptr ? seg->len : 0);
    if (n > UINT32_MAX)
        return ROC_ETOOBIG;
    b->data[0] = (uint8_t)(n >> 24);
    b->data[1] = (uint8_t)(n >> 16);
    b->data[2] = (uint8_t)(n >> 8);
    b->data[3] = (uint8_t)n;
    return 0;
}

int roci_frame_end(roc_buf *b)
{
    return roci_frame_end_seg(b, NULL);
}

/* ------------------------------------------------------ lifetime */

static pthread_mutex_t all_mtx = PTHREAD_MUTEX_INITIALIZER;
static roci_conn *all_head;
static uint64_t all_serial;

static void all_add(roci_conn *c)
{
    pthread_mutex_lock(&all_mtx);
    c->serial = ++all_serial;
    c->all_next = all_head;
    all_head = c;
    pthread_mutex_unlock(&all_mtx);
}

static void all_remove(roci_conn *c)
{
    pthread_mutex_lock(&all_mtx);
    for (roci_conn **pp = &all_head; *pp; pp = &(*pp)->all_next)
        if (*pp == c) {
            *pp = c->all_next;
            break;
        }
    pthread_mutex_unlock(&all_mtx);
}

/* Takes a reference unless the last one is gone (the connection is then
 * on its way to the reaper: never revive it). Under all_mtx. */
static bool ref_if_alive(roci_conn *c)
{
    int r = atomic_load(&c->refs);
    while (r > 0 && !atomic_compare_exchange_weak(&c->refs, &r, r + 1))
        ;
    return r > 0;
}

roci_conn *roci_conn_by_serial(uint64_t serial)
{
    roci_conn *found = NULL;
    pthread_mutex_lock(&all_mtx);
    for (roci_conn *c = all_head; c; c = c->all_next)
        if (c->serial == serial) {
            if (ref_if_alive(c))
                found = c;
            break;
        }
    pthread_mutex_unlock(&all_mtx);
    return found;
}

static void send_ping(roci_conn *c);

/* Milliseconds from stamp to now; 0 when the stamp is newer. */
static uint64_t since(uint64_t now, uint64_t stamp)
{
    return stamp >= now ? 0 : now - stamp;
}

void roci_conn_keepalive_tick(void)
{
    roci_conn *todo[256];
    size_t n = 0;
    uint64_t now = roci_now_ms();
    pthread_mutex_lock(&all_mtx);
    for (roci_conn *c = all_head; c && n < 256; c = c->all_next) {
        /* I/O threads move these stamps while we look: a stamp after
         * "now" is no silence at all (never an unsigned wrap-around) */
        bool idle = c->idle_timeout_ms > 0 && c->state == ROCI_ST_OPEN &&
                    since(now, c->last_call_ms) >= (uint64_t)c->idle_timeout_ms;
        /* a connection whose reading is paused (back-pressure) is busy,
         * not silent */
        bool silent = c->keepalive_ms > 0 && c->state == ROCI_ST_OPEN &&
                      !atomic_load(&c->paused) &&
                      since(now, c->last_rx_ms) >= (uint64_t)c->keepalive_ms;
        if (!idle && !silent)
            continue;
        if (ref_if_alive(c))
            todo[n++] = c;
    }
    pthread_mutex_unlock(&all_mtx);
    for (size_t i = 0; i < n; i++) {
        roci_conn *c = todo[i];
        uint64_t silent = since(now, c->last_rx_ms);
        if (c->idle_timeout_ms > 0 &&
            since(now, c->last_call_ms) >= (uint64_t)c->idle_timeout_ms) {
            roci_conn_close(c, ROC_ECLOSED, "idle timeout");
        } else if (c->keepalive_ms <= 0) {
            /* only idle was due */
        } else if (silent >= 3u * (uint64_t)c->keepalive_ms) {
            roci_conn_close(c, ROC_ECLOSED,
                            "the peer stopped answering (keepalive)");
        } else if (!c->ping_out) {
            c->ping_out = true;
            send_ping(c);
        }
        roci_conn_unref(c);
    }
}

static void rd_cb(void *arg);
static void wr_cb(void *arg);

static roci_conn *conn_new(nng_stream *s)
{
    roci_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mtx, NULL);
    pthread_mutex_init(&c->smtx, NULL);
    atomic_init(&c->refs, 1);
    c->stream = s;
    c->rcap = RBUF_INITIAL;
    c->rbuf = malloc(c->rcap);
    c->max_frame = ROC_DEFAULT_MAX_FRAME;
    c->max_depth = ROC_DEFAULT_MAX_DEPTH;
    c->next_id = 1;
    c->last_rx_ms = roci_now_ms();
    if (!c->rbuf || nng_aio_alloc(&c->rd_aio, rd_cb, c) != 0 ||
        nng_aio_alloc(&c->wr_aio, wr_cb, c) != 0) {
        if (c->rd_aio)
            nng_aio_free(c->rd_aio);
        free(c->rbuf);
        free(c);
        return NULL;
    }
    all_add(c);
    snprintf(c->peer, sizeof c->peer, "unknown");
    if (s) {
        nng_sockaddr sa;
        if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) == 0) {
            if (sa.s_family == NNG_AF_INET) {
                const uint8_t *a = (const uint8_t *)&sa.s_in.sa_addr;
                const uint8_t *p = (const uint8_t *)&sa.s_in.sa_port;
                snprintf(c->peer, sizeof c->peer, "tcp://%u.%u.%u.%u:%u",
                         a[0], a[1], a[2], a[3], (unsigned)(p[0] << 8 | p[1]));
            } else if (sa.s_family == NNG_AF_INET6) {
                const uint8_t *p = (const uint8_t *)&sa.s_in6.sa_port;
                snprintf(c->peer, sizeof c->peer, "tcp://[ipv6]:%u",
                         (unsigned)(p[0] << 8 | p[1]));
            } else if (sa.s_family == NNG_AF_IPC) {
                snprintf(c->peer, sizeof c->peer, "ipc://%.80s", sa.s_ipc.sa_path);
            } else if (sa.s_family == NNG_AF_INPROC) {
                snprintf(c->peer, sizeof c->peer, "inproc://%.80s",
                         sa.s_inproc.sa_name);
            }
        }
    }
    return c;
}

/* Runs on the reaper thread, never inside an aio callback of c. */
void roci_conn_destroy(roci_conn *c)
{
    all_remove(c);
    if (c->ops && c->ops->on_free)
        c->ops->on_free(c);
    nng_aio_stop(c->rd_aio);
    nng_aio_stop(c->wr_aio);
    nng_aio_free(c->rd_aio);
    nng_aio_free(c->wr_aio);
    if (c->stream)
        nng_stream_free(c->stream);
    if (c->dialer)
        nng_stream_dialer_free(c->dialer);
    roc_buf_free(&c->out);
    roc_buf_free(&c->next);
    roc_buf_free(&c->cork);
    free(c->out_seg_owner);
    free(c->rbuf);
    free(c->url);
    pthread_mutex_destroy(&c->mtx);
    pthread_mutex_destroy(&c->smtx);
    free(c);
}

void roci_conn_ref(roci_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void roci_conn_unref(roci_conn *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        roci_reaper_defer_free(c);
}

/* Start a send or a receive on c's stream, unless the stream is closed:
 * then the operation completes at once with NNG_ECLOSED (nng 1.5.2 never
 * completes one started on a stream after its close, and a caller
 * waiting on it would wait forever). */
static void stream_io(roci_conn *c, nng_aio *aio, bool send)
{
    pthread_mutex_lock(&c->smtx);
    if (c->stream_closed) {
        if (nng_aio_begin(aio))
            nng_aio_finish(aio, NNG_ECLOSED);
    } else if (send) {
        nng_stream_send(c->stream, aio);
    } else {
        nng_stream_recv(c->stream, aio);
    }
    pthread_mutex_unlock(&c->smtx);
}

static void stream_send(roci_conn *c, nng_aio *aio)
{
    stream_io(c, aio, true);
}

static void stream_recv(roci_conn *c, nng_aio *aio)
{
    stream_io(c, aio, false);
}

bool roci_conn_usable(roci_conn *c)
{
    /* a snapshot without the lock (taken on every call): a connection
     * that closes right after is seen by the send, as it would be after a
     * locked look */
    return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == ROCI_ST_OPEN &&
           !__atomic_load_n(&c->peer_bye, __ATOMIC_ACQUIRE);
}

void roci_conn_close(roci_conn *c, int code, const char *why)
{
    pthread_mutex_lock(&c->mtx);
    if (c->state == ROCI_ST_CLOSED) {
        pthread_mutex_unlock(&c->mtx);
        return;
    }
    __atomic_store_n(&c->state, ROCI_ST_CLOSED, __ATOMIC_RELEASE);
    c->close_code = code;
    snprintf(c->close_why, sizeof c->close_why, "%s",
             why ? why : "connection closed");
    roci_pending *all = NULL;
    for (size_t i = 0; i < ROCI_BUCKETS; i++) {
        roci_pending *p = c->buckets[i];
        while (p) {
            roci_pending *n = p->next;
            p->next = all;
            all = p;
            p = n;
        }
        c->buckets[i] = NULL;
    }
    c->npending = 0;
    atomic_store(&c->npending_hint, 0);
    pthread_mutex_unlock(&c->mtx);
    pthread_mutex_lock(&c->smtx);
    c->stream_closed = true;
    nng_stream_close(c->stream);
    pthread_mutex_unlock(&c->smtx);
    char msg[300];
    snprintf(msg, sizeof msg, "connection to %.100s closed: %.159s",
             c->url ? c->url : c->peer, c->close_why);
    while (all) {
        roci_pending *n = all->next;
        all->complete(all, ROC_ECLOSED, NULL, msg);
        all = n;
    }
    if (c->ops && c->ops->on_close)
        c->ops->on_close(c);
    if (c->on_close2)
        c->on_close2(c);
}

/* ------------------------------------------------------ pending calls */

uint64_t roci_conn_reserve_id(roci_conn *c)
{
    return atomic_fetch_add_explicit(&c->next_id, 1, memory_order_relaxed);
}

static void insert_pending_locked(roci_conn *c, roci_pending *p)
{
    roci_pending **b = &c->buckets[p->id % ROCI_BUCKETS];
    p->next = *b;
    *b = p;
    c->npending++;
    atomic_store(&c->npending_hint, c->npending);
}

uint64_t roci_conn_add_pending(roci_conn *c, roci_pending *p)
{
    pthread_mutex_lock(&c->mtx);
    if (c->state != ROCI_ST_OPEN || c->peer_bye) {
        pthread_mutex_unlock(&c->mtx);
        return 0;
    }
    p->id = roci_conn_reserve_id(c);
    insert_pending_locked(c, p);
    pthread_mutex_unlock(&c->mtx);
    return p->id;
}

static roci_pending *take_locked(roci_conn *c, uint64_t id)
{
    roci_pending **pp = &c->buckets[id % ROCI_BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            roci_pending *p = *pp;
            *pp = p->next;
            c->npending--;
            atomic_store(&c->npending_hint, c->npending);
            return p;
        }
    }
    return NULL;
}

bool roci_conn_remove_pending(roci_conn *c, roci_pending *p)
{
    pthread_mutex_lock(&c->mtx);
    roci_pending **pp = &c->buckets[p->id % ROCI_BUCKETS];
    bool found = false;
    for (; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            c->npending--;
            atomic_store(&c->npending_hint, c->npending);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&c->mtx);
    return found;
}

roci_pending *roci_conn_take_expired(roci_conn *c, uint64_t now)
{
    roci_pending *out = NULL;
    pthread_mutex_lock(&c->mtx);
    if (c->npending) {
        for (size_t i = 0; i < ROCI_BUCKETS; i++) {
            roci_pending **pp = &c->buckets[i];
            while (*pp) {
                roci_pending *p = *pp;
                if (p->deadline_ms && p->deadline_ms <= now) {
                    *pp = p->next;
                    c->npending--;
                    atomic_store(&c->npending_hint, c->npending);
                    p->next = out;
                    out = p;
                } else {
                    pp = &p->next;
                }
            }
        }
    }
    pthread_mutex_unlock(&c->mtx);
    return out;
}

/* ------------------------------------------------------ writing */

/* Starts an async send of c->out from out_off. Caller holds mtx and has set
 * sending. Takes a reference for the aio. */
/* The iovs of what is left of buf with seg spliced in, after done bytes. */
static unsigned build_iov(nng_iov iov[3], const uint8_t *buf, size_t len,
                          const roci_seg *seg, size_t done)
{
    size_t sl = seg && seg->ptr ? seg->len : 0;
    size_t off = sl ? seg->off : len;
    unsigned n = 0;
    if (done < off)
        iov[n++] = (nng_iov){(void *)(buf + done), off - done};
    if (sl && done < off + sl) {
        size_t k = done > off ? done - off : 0;
        iov[n++] = (nng_iov){(void *)(seg->ptr + k), sl - k};
    }
    if (sl && len > off) {
        size_t k = done > off + sl ? done - off - sl : 0;
        iov[n++] = (nng_iov){(void *)(buf + off + k), len - off - k};
    }
    return n;
}

static size_t out_total(const roci_conn *c)
{
    return c->out.len + (c->out_seg.ptr ? c->out_seg.len : 0);
}

static void start_send_locked(roci_conn *c)
{
    nng_iov iov[3];
    unsigned n = build_iov(iov, c->out.data, c->out.len, &c->out_seg,
                           c->out_off);
    nng_aio_set_iov(c->wr_aio, n, iov);
    roci_conn_ref(c);
    stream_send(c, c->wr_aio);
}

static void drop_out_seg_locked(roci_conn *c)
{
    free(c->out_seg_owner);
    c->out_seg_owner = NULL;
    c->out_seg.ptr = NULL;
    c->out_seg.len = 0;
}

static void swap_and_send_locked(roci_conn *c)
{
    roc_buf t = c->out;
    c->out = c->next;
    c->next = t;
    c->next.len = 0;
    c->out_off = 0;
    drop_out_seg_locked(c);
    c->sending = true;
    start_send_locked(c);
}

static void wr_cb(void *arg)
{
    roci_conn *c = arg;
    int rv = nng_aio_result(c->wr_aio);
    if (rv != 0) {
        pthread_mutex_lock(&c->mtx);
        c->sending = false;
        c->out.len = 0;
        drop_out_seg_locked(c);
        pthread_mutex_unlock(&c->mtx);
        roci_conn_close(c, roci_nng_err(rv), nng_strerror(rv));
        roci_conn_unref(c);
        return;
    }
    pthread_mutex_lock(&c->mtx);
    c->out_off += nng_aio_count(c->wr_aio);
    if (c->out_off < out_total(c) && c->state != ROCI_ST_CLOSED) {
        start_send_locked(c);
    } else {
        c->out.len = 0;
        c->out_off = 0;
        drop_out_seg_locked(c);
        if (c->next.len && !c->corked && c->state != ROCI_ST_CLOSED) {
            swap_and_send_locked(c);
        } else {
            c->sending = false;
            /* don't keep a huge buffer around after a rare big message */
            if (c->out.cap > ROCI_KEEP_BUF)
                roc_buf_free(&c->out);
        }
    }
    bool flushed_close = c->close_when_flushed && !c->sending &&
                         !c->corked && c->state != ROCI_ST_CLOSED;
    pthread_mutex_unlock(&c->mtx);
    if (flushed_close)
        roci_conn_close(c, ROC_ECLOSED, c->close_why);
    roci_conn_unref(c);
}

/* the connection whose batch this thread parses (see roci_conn.cork) */
static _Thread_local roci_conn *tl_parsing;

/* Moves the parsing thread's held replies to next (under mtx). */
static int merge_cork_locked(roci_conn *c)
{
    if (!c->cork.len)
        return 0;
    if (!c->next.len) {
        roc_buf t = c->next;
        c->next = c->cork;
        c->cork = t;
        c->cork.len = 0;
        return 0;
    }
    if (roci_buf_reserve(&c->next, c->cork.len) != 0)
        return ROC_ENOMEM;
    memcpy(c->next.data + c->next.len, c->cork.data, c->cork.len);
    c->next.len += c->cork.len;
    c->cork.len = 0;
    return 0;
}

static int append_locked(roci_conn *c, const uint8_t *frame, size_t len,
                         const roci_seg *seg)
{
    if (tl_parsing == c && merge_cork_locked(c) != 0)
        return ROC_ENOMEM;
    size_t sl = seg && seg->ptr ? seg->len : 0;
    if (roci_buf_reserve(&c->next, len + sl) != 0)
        return ROC_ENOMEM;
    uint8_t *d = c->next.data + c->next.len;
    if (sl) {
        memcpy(d, frame, seg->off);
        memcpy(d + seg->off, seg->ptr, sl);
        memcpy(d + seg->off + sl, frame + seg->off, len - seg->off);
    } else {
        memcpy(d, frame, len);
    }
    c->next.len += len + sl;
    return 0;
}

/* Writes buf (with seg spliced in) on the caller's callback-less aio. */
static int write_direct(roci_conn *c, nng_aio *aio, const uint8_t *buf,
                        size_t len, const roci_seg *seg)
{
    size_t total = len + (seg && seg->ptr ? seg->len : 0);
    size_t done = 0;
    while (done < total) {
        nng_iov iov[3];
        unsigned n = build_iov(iov, buf, len, seg, done);
        nng_aio_set_iov(aio, n, iov);
        nng_aio_set_timeout(aio, NNG_DURATION_DEFAULT);
        stream_send(c, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv != 0)
            return rv;
        done += nng_aio_count(aio);
    }
    return 0;
}

/* The one send path. owned: the frame is in *owned, whose buffer may be
 * swapped into the queue instead of copied (owned then holds another
 * buffer). */
static int send_impl(roci_conn *c, const uint8_t *frame, size_t len,
                     const roci_seg *seg, nng_aio *sync_aio, roc_buf *owned,
                     void *seg_owner)
{
    if (tl_parsing == c && !(seg && seg->ptr)) {
        /* a reply made while this thread parses c's batch: held without
         * the lock, it leaves with the batch's other replies */
        if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == ROCI_ST_CLOSED)
            return ROC_ECLOSED;
        if (roci_buf_reserve(&c->cork, len) != 0)
            return ROC_ENOMEM;
        memcpy(c->cork.data + c->cork.len, frame, len);
        c->cork.len += len;
        return 0;
    }
    pthread_mutex_lock(&c->mtx);
    if (c->state == ROCI_ST_CLOSED) {
        pthread_mutex_unlock(&c->mtx);
        free(seg_owner);
        return ROC_ECLOSED;
    }
    bool idle = !c->sending && c->next.len == 0;
    if (sync_aio && idle && !c->corked) {
        /* Direct write from the caller's memory: no copy, no hand-off. */
        c->sending = true;
        pthread_mutex_unlock(&c->mtx);
        int rv = write_direct(c, sync_aio, frame, len, seg);
        pthread_mutex_lock(&c->mtx);
        c->sending = false;
        if (rv == 0 && c->next.len && !c->corked &&
            c->state != ROCI_ST_CLOSED)
            swap_and_send_locked(c);
        pthread_mutex_unlock(&c->mtx);
        if (rv != 0) {
            roci_conn_close(c, roci_nng_err(rv), nng_strerror(rv));
            return ROC_ECLOSED;
        }
        return 0;
    }
    bool has_seg = seg && seg->ptr;
    size_t total = len + (has_seg ? seg->len : 0);
    if (owned && (!has_seg || seg_owner) && idle &&
        (!c->corked || total >= ROCI_SEG_MIN)) {
        /* Take the caller's buffer (and payload) as the ones being sent:
         * no copy. */
        roc_buf t = c->out;
        c->out = *owned;
        *owned = t;
        owned->len = 0;
        c->out_off = 0;
        if (has_seg) {
            c->out_seg = *seg;
            c->out_seg_owner = seg_owner;
        }
        c->sending = true;
        start_send_locked(c);
        pthread_mutex_unlock(&c->mtx);
        return 0;
    }
    int rc = append_locked(c, frame, len, seg);
    if (rc == 0 && !c->sending && !c->corked)
        swap_and_send_locked(c);
    pthread_mutex_unlock(&c->mtx);
    free(seg_owner);
    return rc;
}

int roci_conn_send_nowait(roci_conn *c, const uint8_t *frame, size_t len,
                          size_t max_backlog)
{
    pthread_mutex_lock(&c->mtx);
    int rc = 0;
    if (c->state == ROCI_ST_CLOSED)
        rc = ROC_ECLOSED;
    else if (c->next.len + (c->sending ? c->out.len - c->out_off : 0) + len >
             max_backlog)
        rc = ROC_EBUSY;
    else if ((rc = append_locked(c, frame, len, NULL)) == 0 && !c->sending &&
             !c->corked)
        swap_and_send_locked(c);
    pthread_mutex_unlock(&c->mtx);
    return rc;
}

int roci_conn_call_deferred(roci_conn *c, roci_pending *p,
                            const uint8_t *frame, size_t len)
{
    pthread_mutex_lock(&c->mtx);
    if (c->state != ROCI_ST_OPEN || c->peer_bye) {
        pthread_mutex_unlock(&c->mtx);
        return ROC_ECLOSED;
    }
    int rc = append_locked(c, frame, len, NULL);
    if (rc == 0) {
        insert_pending_locked(c, p);
        if (c->next.len >= 64u * 1024u && !c->sending && !c->corked)
            swap_and_send_locked(c);
    }
    pthread_mutex_unlock(&c->mtx);
    return rc;
}

void roci_conn_flush(roci_conn *c, nng_aio *sync_aio)
{
    pthread_mutex_lock(&c->mtx);
    if (c->sending || c->corked || !c->next.len ||
        c->state == ROCI_ST_CLOSED) {
        pthread_mutex_unlock(&c->mtx);
        return;
    }
    if (!sync_aio) {
        swap_and_send_locked(c);
        pthread_mutex_unlock(&c->mtx);
        return;
    }
    /* the queue becomes the buffer being sent, written from this thread */
    roc_buf t = c->out;
    c->out = c->next;
    c->next = t;
    c->next.len = 0;
    c->out_off = 0;
    c->sending = true;
    pthread_mutex_unlock(&c->mtx);
    int rv = write_direct(c, sync_aio, c->out.data, c->out.len, NULL);
    pthread_mutex_lock(&c->mtx);
    c->out.len = 0;
    c->sending = false;
    if (rv == 0 && c->next.len && !c->corked && c->state != ROCI_ST_CLOSED)
        swap_and_send_locked(c);
    pthread_mutex_unlock(&c->mtx);
    if (rv != 0)
        roci_conn_close(c, roci_nng_err(rv), nng_strerror(rv));
}

int roci_conn_send(roci_conn *c, const uint8_t *frame, size_t len,
                   nng_aio *sync_aio)
{
    return send_impl(c, frame, len, NULL, sync_aio, NULL, NULL);
}

int roci_conn_send_buf(roci_conn *c, roc_buf *b, const roci_seg *seg,
                       nng_aio *sync_aio)
{
    return send_impl(c, b->data, b->len, seg, sync_aio,
                     seg && seg->ptr ? NULL : b, NULL);
}

int roci_conn_send_owned(roci_conn *c, roc_buf *b, const roci_seg *seg,
                         void *owner)
{
    return send_impl(c, b->data, b->len, seg, NULL, b, owner);
}

int roci_conn_send_error(roci_conn *c, uint64_t id, int wire_code,
                         const char *type, const char *message,
                         const roc_value *data)
{
    roc_buf *b = roci_scratch();
    if (!b)
        return ROC_ENOMEM;
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 4, ROCI_ERROR);
    roci_pack_u64(&pk, id);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int64(&pk, wire_code);
    roci_pack_str(&pk, type, strlen(type));
    roci_pack_str(&pk, message, strlen(message));
    if (roci_pack_value(&pk, data, 0) != 0) {
        /* data that cannot be encoded: send the error without it */
        roci_frame_begin(&pk, b, 4, ROCI_ERROR);
        roci_pack_u64(&pk, id);
        msgpack_pack_array(&pk, 4);
        msgpack_pack_int64(&pk, wire_code);
        roci_pack_str(&pk, type, strlen(type));
        roci_pack_str(&pk, message, strlen(message));
        msgpack_pack_nil(&pk);
    }
    int rc = roci_frame_end(b);
    if (rc)
        return rc;
    return roci_conn_send(c, b->data, b->len, NULL);
}

void roci_conn_refuse(roci_conn *c, uint64_t id, int code, const char *fmt,
                      ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->mtx);
    bool open = c->state == ROCI_ST_OPEN || c->state == ROCI_ST_HELLO ||
                c->state == ROCI_ST_AUTH;
    if (open) {
        __atomic_store_n(&c->state, ROCI_ST_LINGER, __ATOMIC_RELEASE);
        c->linger_deadline = roci_now_ms() + LINGER_MS;
        c->lingered = 0;
    }
    pthread_mutex_unlock(&c->mtx);
    if (!open)
        return;
    snprintf(c->close_why, sizeof c->close_why, "%.159s", msg);
    roci_conn_send_error(c, id, code, roc_error_wire_type(code), msg, NULL);
}

/* ------------------------------------------------------ reading */

/* Makes room in the read buffer when little is left: doubles it, or sizes
 * it for the frame whose header it holds (checked against max_frame by the
 * parser first). false when out of memory (the connection is closed). */
static bool rbuf_room(roci_conn *c)
{
    if (c->rcap - c->rlen >= 4096 || c->roff != 0)
        return true;
    size_t need = c->rcap * 2;
    if (c->rlen >= 4) {
        const uint8_t *h = c->rbuf;
        size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) |
                   ((size_t)h[2] << 8) | h[3];
        if (n + 4 > need)
            need = n + 4;
    }
    uint8_t *nb = realloc(c->rbuf, need);
    if (!nb) {
        roci_conn_close(c, ROC_ENOMEM, "out of memory");
        return false;
    }
    c->rbuf = nb;
    c->rcap = need;
    return true;
}

static void start_read(roci_conn *c)
{
    if (!rbuf_room(c)) {
        roci_conn_unref(c);
        return;
    }
    nng_iov iov = {c->rbuf + c->rlen, c->rcap - c->rlen};
    nng_aio_set_iov(c->rd_aio, 1, &iov);
    nng_duration to = NNG_DURATION_INFINITE;
    uint64_t now = roci_now_ms();
    if (c->state == ROCI_ST_HELLO || c->state == ROCI_ST_AUTH)
        to = c->hello_deadline > now ? (nng_duration)(c->hello_deadline - now)
                                     : 1;
    else if (c->state == ROCI_ST_LINGER)
        to = c->linger_deadline > now
                 ? (nng_duration)(c->linger_deadline - now)
                 : 1;
    nng_aio_set_timeout(c->rd_aio, to);
    stream_recv(c, c->rd_aio);
}

static int handle_frame(roci_conn *c, const uint8_t *f, size_t n);

enum { P_READ, P_PARKED, P_CLOSED };

/* Parses every whole frame in rbuf from roff. Returns P_READ when the loop
 * should read on (also while lingering), P_PARKED when the owner paused
 * reading (the read reference is kept for roci_conn_resume), P_CLOSED when
 * the connection is closed (the caller drops the read reference). */
static int parse_frames(roci_conn *c)
{
    pthread_mutex_lock(&c->mtx);
    c->corked = true;
    pthread_mutex_unlock(&c->mtx);
    roci_conn *outer = tl_parsing;
    tl_parsing = c;
    bool parked = false;
    for (;;) {
        if (c->state == ROCI_ST_CLOSED || c->state == ROCI_ST_LINGER) {
            c->roff = c->rlen = 0;
            break;
        }
        if (atomic_load(&c->paused)) {
            pthread_mutex_lock(&c->mtx);
            if (atomic_load(&c->paused))
                parked = c->parked = true;
            pthread_mutex_unlock(&c->mtx);
            if (parked)
                break;
            continue;
        }
        size_t avail = c->rlen - c->roff;
        if (avail < 4)
            break;
        const uint8_t *h = c->rbuf + c->roff;
        size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) |
                   ((size_t)h[2] << 8) | h[3];
        if (n > c->max_frame) {
            roci_conn_refuse(c, 0, ROC_ETOOBIG,
                             "frame of %zu bytes exceeds the limit of %zu",
                             n, c->max_frame);
            c->roff = c->rlen = 0;
            break;
        }
        if (n == 0) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "empty frame");
            c->roff = c->rlen = 0;
            break;
        }
        if (avail - 4 < n)
            break;
        c->rbuf_takeable = c->roff == 0 && n >= ROCI_SEG_MIN;
        c->roff += 4 + n;
        handle_frame(c, h + 4, n);
        c->rbuf_takeable = false;
    }
    if (c->roff && !parked) {
        memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
        c->rlen -= c->roff;
        c->roff = 0;
    }
    tl_parsing = outer;
    pthread_mutex_lock(&c->mtx);
    c->corked = false;
    if (merge_cork_locked(c) != 0)
        c->cork.len = 0; /* out of memory: those replies are lost */
    if (!c->sending && c->next.len && c->state != ROCI_ST_CLOSED)
        swap_and_send_locked(c);
    bool flushed_close = c->close_when_flushed && !c->sending &&
                         c->state != ROCI_ST_CLOSED;
    pthread_mutex_unlock(&c->mtx);
    if (flushed_close)
        roci_conn_close(c, ROC_ECLOSED, c->close_why);
    if (c->state == ROCI_ST_CLOSED)
        return P_CLOSED;
    return parked ? P_PARKED : P_READ;
}

/* The loop of a client connection steps aside when synchronous callers
 * can read for themselves: they then need no hand-off from an I/O thread.
 * Returns true when it stepped aside (its reference is dropped). */
static bool loop_yield(roci_conn *c)
{
    if (c->is_server || c->state != ROCI_ST_OPEN)
        return false;
    pthread_mutex_lock(&c->mtx);
    bool yield = c->nfut == 0 && c->rmode == ROCI_RM_LOOP &&
                 (c->waiters || c->sync_completed) && !c->parked;
    c->sync_completed = false;
    if (yield) {
        c->rmode = ROCI_RM_IDLE;
        c->idle_since = roci_now_ms();
        if (c->waiters)
            pthread_cond_signal(c->waiters->cv);
    }
    pthread_mutex_unlock(&c->mtx);
    if (yield)
        roci_conn_unref(c);
    return yield;
}

static void parse_and_continue(roci_conn *c)
{
    switch (parse_frames(c)) {
    case P_READ:
        if (c->state == ROCI_ST_LINGER || !loop_yield(c))
            start_read(c);
        break;
    case P_PARKED:
        break;
    default:
        roci_conn_unref(c);
        break;
    }
}

static void rd_cb(void *arg)
{
    roci_conn *c = arg;
    int rv = nng_aio_result(c->rd_aio);
    if (rv != 0) {
        const char *why = nng_strerror(rv);
        if (rv == NNG_ETIMEDOUT && c->state == ROCI_ST_HELLO)
            why = "no hello before the handshake deadline";
        if (rv == NNG_ETIMEDOUT && c->state == ROCI_ST_AUTH)
            why = "no key proof before the handshake deadline";
        if (c->state == ROCI_ST_LINGER)
            why = c->close_why;
        roci_conn_close(c, c->state == ROCI_ST_LINGER ? ROC_EPROTO
                                                      : roci_nng_err(rv),
                        why);
        roci_conn_unref(c);
        return;
    }
    size_t n = nng_aio_count(c->rd_aio);
    if (c->keepalive_ms > 0 || !c->is_server)
        c->last_rx_ms = roci_now_ms();
    c->ping_out = false;
    if (c->state == ROCI_ST_LINGER) {
        c->lingered += n;
        if (c->lingered > LINGER_MAX_BYTES ||
            roci_now_ms() >= c->linger_deadline) {
            roci_conn_close(c, ROC_EPROTO, c->close_why);
            roci_conn_unref(c);
            return;
        }
        c->rlen = c->roff = 0;
        start_read(c);
        return;
    }
    c->rlen += n;
    parse_and_continue(c);
}

void roci_conn_resume(roci_conn *c)
{
    bool resume = false;
    pthread_mutex_lock(&c->mtx);
    atomic_store(&c->paused, false);
    if (c->parked) {
        c->parked = false;
        resume = true;
    }
    pthread_mutex_unlock(&c->mtx);
    if (resume)
        parse_and_continue(c);
}

/* Arms the read loop of a client connection nobody reads. */
void roci_conn_arm(roci_conn *c)
{
    pthread_mutex_lock(&c->mtx);
    bool arm = c->rmode == ROCI_RM_IDLE && c->state != ROCI_ST_CLOSED;
    if (arm)
        c->rmode = ROCI_RM_LOOP;
    pthread_mutex_unlock(&c->mtx);
    if (arm) {
        roci_conn_ref(c);
        start_read(c);
    }
}

void roci_conn_waiter_done(roci_conn *c, roci_waiter *w)
{
    pthread_mutex_lock(&c->mtx);
    w->done = true;
    c->sync_completed = true;
    pthread_cond_signal(w->cv);
    pthread_mutex_unlock(&c->mtx);
}

void roci_conn_future_add(roci_conn *c)
{
    pthread_mutex_lock(&c->mtx);
    c->nfut++;
    pthread_mutex_unlock(&c->mtx);
    roci_conn_arm(c);
}

void roci_conn_future_done(roci_conn *c)
{
    pthread_mutex_lock(&c->mtx);
    if (c->nfut)
        c->nfut--;
    pthread_mutex_unlock(&c->mtx);
}

/* This thread reads c until w is done, the deadline passes or the
 * connection closes. The caller set rmode THREAD. Returns the rmode the
 * thread leaves: IDLE normally, LOOP when reading was paused (the resume
 * path continues it as a loop). */
static int thread_read(roci_conn *c, roci_waiter *w, uint64_t deadline)
{
    nng_aio *aio = roci_thread_aio();
    /* one clock read per read: it stamps the arrival and the next wait */
    uint64_t now = roci_now_ms();
    c->idle_since = now;
    for (;;) {
        pthread_mutex_lock(&c->mtx);
        bool done = w->done;
        pthread_mutex_unlock(&c->mtx);
        if (done || !aio || c->state == ROCI_ST_CLOSED)
            return ROCI_RM_IDLE;
        if (deadline && now >= deadline)
            return ROCI_RM_IDLE;
        if (!rbuf_room(c))
            return ROCI_RM_IDLE;
        nng_iov iov = {c->rbuf + c->rlen, c->rcap - c->rlen};
        nng_aio_set_iov(aio, 1, &iov);
        nng_aio_set_timeout(aio, deadline ? (nng_duration)(deadline - now)
                                          : NNG_DURATION_INFINITE);
        stream_recv(c, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv == NNG_ETIMEDOUT)
            return ROCI_RM_IDLE;
        if (rv != 0) {
            roci_conn_close(c, roci_nng_err(rv), nng_strerror(rv));
            return ROCI_RM_IDLE;
        }
        c->rlen += nng_aio_count(aio);
        now = roci_now_ms();
        c->last_rx_ms = now;
        c->idle_since = now; /* when this reader leaves, the idle clock runs */
        c->ping_out = false;
        int st = parse_frames(c);
        if (st == P_CLOSED || c->state == ROCI_ST_LINGER) {
            if (c->state == ROCI_ST_LINGER)
                roci_conn_close(c, ROC_EPROTO, c->close_why);
            return ROCI_RM_IDLE;
        }
        if (st == P_PARKED) {
            roci_conn_ref(c); /* the parked loop's, taken by resume */
            return ROCI_RM_LOOP;
        }
    }
}

int roci_conn_wait(roci_conn *c, roci_waiter *w, uint64_t deadline)
{
    pthread_mutex_lock(&c->mtx);
    w->wnext = c->waiters;
    c->waiters = w;
    while (!w->done) {
        if (c->rmode == ROCI_RM_IDLE && c->state != ROCI_ST_CLOSED) {
            c->rmode = ROCI_RM_THREAD;
            pthread_mutex_unlock(&c->mtx);
            int next = thread_read(c, w, deadline); /* sets idle_since */
            pthread_mutex_lock(&c->mtx);
            c->rmode = next;
            /* hand the reading on: to another waiter, or to the loop
             * when futures need it */
            bool arm = false;
            if (next == ROCI_RM_IDLE) {
                roci_waiter *o = c->waiters;
                while (o && o == w)
                    o = o->wnext;
                if (o)
                    pthread_cond_signal(o->cv);
                else if (c->nfut)
                    arm = true;
            }
            if (arm) {
                pthread_mutex_unlock(&c->mtx);
                roci_conn_arm(c);
                pthread_mutex_lock(&c->mtx);
            }
            if (!w->done && deadline && roci_now_ms() >= deadline)
                break;
            continue;
        }
        if (!deadline) {
            pthread_cond_wait(w->cv, &c->mtx);
        } else {
            struct timespec ts = {(time_t)(deadline / 1000),
                                  (long)(deadline % 1000) * 1000000L};
            if (pthread_cond_timedwait(w->cv, &c->mtx, &ts) != 0 &&
                !w->done && roci_now_ms() >= deadline)
                break;
        }
    }
    for (roci_waiter **pp = &c->waiters; *pp; pp = &(*pp)->wnext)
        if (*pp == w) {
            *pp = w->wnext;
            break;
        }
    bool done = w->done;
    pthread_mutex_unlock(&c->mtx);
    return done ? 0 : ROC_ETIMEDOUT;
}

void roci_conn_send_cancel(roci_conn *c, uint64_t id)
{
    roc_buf *b = roci_scratch();
    if (!b)
        return;
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 3, ROCI_CANCEL);
    roci_pack_u64(&pk, id);
    if (roci_frame_end(b) == 0)
        roci_conn_send(c, b->data, b->len, NULL);
}

void roci_conn_deadline_tick(void)
{
    roci_conn *todo[256];
    size_t n = 0;
    uint64_t now = roci_now_ms();
    pthread_mutex_lock(&all_mtx);
    for (roci_conn *c = all_head; c && n < 256; c = c->all_next) {
        if (!atomic_load_explicit(&c->npending_hint, memory_order_relaxed))
            continue;
        if (ref_if_alive(c))
            todo[n++] = c;
    }
    pthread_mutex_unlock(&all_mtx);
    for (size_t i = 0; i < n; i++) {
        roci_pending *p = roci_conn_take_expired(todo[i], now);
        while (p) {
            roci_pending *next = p->next;
            roci_conn_send_cancel(todo[i], p->id);
            p->complete(p, ROC_ETIMEDOUT, NULL, "the call timed out");
            p = next;
        }
        roci_conn_unref(todo[i]);
    }
}

void roci_conn_idle_tick(void)
{
    roci_conn *todo[256];
    size_t n = 0;
    uint64_t now = roci_now_ms();
    pthread_mutex_lock(&all_mtx);
    for (roci_conn *c = all_head; c && n < 256; c = c->all_next) {
        bool queued = c->next.len && !c->sending; /* racy peek; rechecked */
        if (!queued && (c->is_server || c->rmode != ROCI_RM_IDLE ||
                        since(now, c->idle_since) < 10))
            continue;
        if (ref_if_alive(c))
            todo[n++] = c;
    }
    pthread_mutex_unlock(&all_mtx);
    for (size_t i = 0; i < n; i++) {
        roci_conn_flush(todo[i], NULL); /* held-back calls nobody waits for */
        if (!todo[i]->is_server)
            roci_conn_arm(todo[i]);
        roci_conn_unref(todo[i]);
    }
}

/* ------------------------------------------------------ envelopes */

/* What a hello says. */
typedef struct hello_info {
    uint64_t vmin, vmax;
    bool has_nonce;
    uint8_t nonce[ROCI_NONCE_LEN];
    bool auth; /* the daemon requires the key */
    bool has_proof;
    uint8_t proof[ROCI_PROOF_LEN];
} hello_info;

/* Reads a bin of exactly n bytes into out. */
static int rd_fixed_bin(roci_rd *r, uint8_t *out, size_t n)
{
    if (r->p >= r->end || *r->p != 0xc4 || r->end - r->p < 2 ||
        r->p[1] != n || (size_t)(r->end - r->p) < 2 + n)
        return ROC_EPROTO;
    memcpy(out, r->p + 2, n);
    r->p += 2 + n;
    return 0;
}

/* Parses [.., .., {"v": [min, max], "nonce": bin16, "auth": bool,
 * "proof": bin32}]; unknown keys are ignored. ROC_EINVAL: no common
 * version. */
static int check_hello(roci_rd *r, uint32_t nelem, hello_info *h)
{
    memset(h, 0, sizeof *h);
    if (nelem != 3)
        return ROC_EPROTO;
    uint32_t nm;
    if (roci_rd_map(r, &nm))
        return ROC_EPROTO;
    bool have_v = false;
    for (uint32_t i = 0; i < nm; i++) {
        const char *k;
        uint32_t kl;
        if (roci_rd_str(r, &k, &kl))
            return ROC_EPROTO;
        if (kl == 1 && k[0] == 'v') {
            uint32_t na;
            if (roci_rd_array(r, &na) || na != 2 || roci_rd_u64(r, &h->vmin) ||
                roci_rd_u64(r, &h->vmax))
                return ROC_EPROTO;
            have_v = true;
        } else if (kl == 5 && memcmp(k, "nonce", 5) == 0) {
            if (rd_fixed_bin(r, h->nonce, ROCI_NONCE_LEN))
                return ROC_EPROTO;
            h->has_nonce = true;
        } else if (kl == 5 && memcmp(k, "proof", 5) == 0) {
            if (rd_fixed_bin(r, h->proof, ROCI_PROOF_LEN))
                return ROC_EPROTO;
            h->has_proof = true;
        } else if (kl == 4 && memcmp(k, "auth", 4) == 0) {
            if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
                return ROC_EPROTO;
            h->auth = *r->p++ == 0xc3;
        } else if (roci_rd_skip(r)) {
            return ROC_EPROTO;
        }
    }
    if (!have_v)
        return ROC_EPROTO;
    if (h->vmin > ROC_PROTOCOL_MAX || h->vmax < ROC_PROTOCOL_MIN ||
        h->vmin > h->vmax)
        return ROC_EINVAL; /* no common version */
    return 0;
}

/* A hello; with nonce (and, from a keyed daemon, auth + proof). */
static int build_hello(roc_buf *b, const uint8_t *nonce, bool auth,
                       const uint8_t *proof)
{
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 3, ROCI_HELLO);
    msgpack_pack_map(&pk, 1 + (nonce != NULL) + (auth ? 1 : 0) +
                              (proof != NULL));
    roci_pack_str(&pk, "v", 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, ROC_PROTOCOL_MIN);
    msgpack_pack_uint8(&pk, ROC_PROTOCOL_MAX);
    if (nonce) {
        roci_pack_str(&pk, "nonce", 5);
        msgpack_pack_bin(&pk, ROCI_NONCE_LEN);
        msgpack_pack_bin_body(&pk, nonce, ROCI_NONCE_LEN);
    }
    if (auth) {
        roci_pack_str(&pk, "auth", 4);
        msgpack_pack_true(&pk);
    }
    if (proof) {
        roci_pack_str(&pk, "proof", 5);
        msgpack_pack_bin(&pk, ROCI_PROOF_LEN);
        msgpack_pack_bin_body(&pk, proof, ROCI_PROOF_LEN);
    }
    return roci_frame_end(b);
}

static int build_auth(roc_buf *b, const uint8_t *proof)
{
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 3, ROCI_AUTH);
    msgpack_pack_bin(&pk, ROCI_PROOF_LEN);
    msgpack_pack_bin_body(&pk, proof, ROCI_PROOF_LEN);
    return roci_frame_end(b);
}

/* The connection is open for calls (after hello, or after auth). */
static void opened(roci_conn *c)
{
    c->last_call_ms = roci_now_ms();
    if (c->ops && c->ops->on_open)
        c->ops->on_open(c);
}

static void send_ping(roci_conn *c)
{
    roc_buf *b = roci_scratch();
    if (!b)
        return;
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 3, ROCI_PING);
    msgpack_pack_uint64(&pk, roci_now_ms());
    if (roci_frame_end(b) == 0)
        roci_conn_send(c, b->data, b->len, NULL);
}

static void send_pong(roci_conn *c, const uint8_t *tok, size_t tlen)
{
    roc_buf *b = roci_scratch();
    if (!b)
        return;
    msgpack_packer pk;
    roci_frame_begin(&pk, b, 3, ROCI_PONG);
    if (roci_buf_reserve(b, tlen) != 0)
        return;
    memcpy(b->data + b->len, tok, tlen);
    b->len += tlen;
    if (roci_frame_end(b) == 0)
        roci_conn_send(c, b->data, b->len, NULL);
}

uint8_t *roci_conn_take_rbuf(roci_conn *c)
{
    if (!c->rbuf_takeable)
        return NULL;
    size_t tail = c->rlen - c->roff;
    size_t cap = tail + 4096 > RBUF_INITIAL ? tail + 4096 : RBUF_INITIAL;
    uint8_t *nb = malloc(cap);
    if (!nb)
        return NULL;
    memcpy(nb, c->rbuf + c->roff, tail);
    uint8_t *old = c->rbuf;
    c->rbuf = nb;
    c->rcap = cap;
    c->rlen = tail;
    c->roff = 0;
    c->rbuf_takeable = false;
    return old;
}

static void dispatch_reply(roci_conn *c, uint64_t id, int rc, roci_rd *r)
{
    pthread_mutex_lock(&c->mtx);
    roci_pending *p = take_locked(c, id);
    pthread_mutex_unlock(&c->mtx);
    if (p) /* else: a reply to a call we gave up on; dropped */
        p->complete(p, rc, r, NULL);
}

static int handle_frame(roci_conn *c, const uint8_t *f, size_t n)
{
    roci_rd r;
    roci_rd_init(&r, f, n, c->max_depth + 2);
    uint32_t nelem;
    uint64_t ver, kind, id = 0;
    if (roci_rd_array(&r, &nelem) || nelem < 2 || roci_rd_u64(&r, &ver)) {
        roci_conn_refuse(c, 0, ROC_EPROTO, "malformed envelope");
        return ROC_EPROTO;
    }
    if (ver != 1) {
        roci_conn_refuse(c, 0, ROC_EPROTO, "unsupported protocol version %llu",
                         (unsigned long long)ver);
        return ROC_EPROTO;
    }
    if (roci_rd_u64(&r, &kind)) {
        roci_conn_refuse(c, 0, ROC_EPROTO, "malformed envelope kind");
        return ROC_EPROTO;
    }
    if (c->state == ROCI_ST_HELLO) {
        if (kind != ROCI_HELLO) {
            /* answer with the frame's call id when it carries one */
            uint64_t cid = 0;
            roci_rd t = r;
            if ((kind == ROCI_CALL || kind == ROCI_RESULT ||
                 kind == ROCI_ERROR || kind == ROCI_CANCEL) &&
                nelem >= 3 && roci_rd_u64(&t, &cid) != 0)
                cid = 0;
            roci_conn_refuse(c, cid, ROC_EPROTO,
                             "expected hello as the first frame, got kind %llu",
                             (unsigned long long)kind);
            return ROC_EPROTO;
        }
        hello_info h;
        int rc = check_hello(&r, nelem, &h);
        if (rc == 0 && r.p != r.end)
            rc = ROC_EPROTO;
        if (rc) {
            roci_conn_refuse(c, 0, ROC_EPROTO,
                             rc == ROC_EINVAL
                                 ? "no common protocol version (this side "
                                   "speaks 1..1)"
                                 : "malformed hello");
            return ROC_EPROTO;
        }
        roc_buf *b = roci_scratch();
        if (c->key) {
            /* keyed daemon: our nonce, and our proof when the client sent
             * a nonce; then wait for the client's proof */
            uint8_t proof[ROCI_PROOF_LEN];
            c->has_cnonce = h.has_nonce;
            memcpy(c->cnonce, h.nonce, ROCI_NONCE_LEN);
            rc = roci_random(c->snonce, ROCI_NONCE_LEN);
            if (rc == 0 && h.has_nonce)
                rc = roci_proof(c->key, "roc-server", c->cnonce, c->snonce,
                                proof);
            if (rc == 0)
                rc = b ? build_hello(b, c->snonce, !c->key_optional,
                                     h.has_nonce ? proof : NULL)
                       : ROC_ENOMEM;
            if (rc) {
                roci_conn_close(c, rc, "cannot make the handshake");
                return rc;
            }
            pthread_mutex_lock(&c->mtx);
            if (c->state == ROCI_ST_HELLO)
                __atomic_store_n(&c->state,
                                 c->key_optional ? ROCI_ST_OPEN
                                                 : ROCI_ST_AUTH,
                                 __ATOMIC_RELEASE);
            pthread_mutex_unlock(&c->mtx);
            int src = roci_conn_send(c, b->data, b->len, NULL);
            if (src == 0 && c->key_optional)
                opened(c); /* served at once; proving the key is optional */
            return src;
        }
        if (!b || build_hello(b, NULL, false, NULL) != 0) {
            roci_conn_close(c, ROC_ENOMEM, "out of memory");
            return ROC_ENOMEM;
        }
        pthread_mutex_lock(&c->mtx);
        if (c->state == ROCI_ST_HELLO)
            __atomic_store_n(&c->state, ROCI_ST_OPEN, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&c->mtx);
        int src = roci_conn_send(c, b->data, b->len, NULL);
        if (src == 0)
            opened(c);
        return src;
    }
    if (c->state == ROCI_ST_AUTH ||
        (kind == ROCI_AUTH && c->key && c->key_optional && !c->authenticated)) {
        if (kind == ROCI_AUTH) {
            uint8_t got[ROCI_PROOF_LEN], want[ROCI_PROOF_LEN];
            if (nelem != 3 || rd_fixed_bin(&r, got, ROCI_PROOF_LEN) ||
                r.p != r.end) {
                roci_conn_refuse(c, 0, ROC_EPROTO, "malformed auth");
                return ROC_EPROTO;
            }
            if (!c->has_cnonce ||
                roci_proof(c->key, "roc-client", c->cnonce, c->snonce, want) ||
                !roci_proof_equal(got, want)) {
                roci_conn_refuse(c, 0, ROC_EUNAUTH,
                                 "wrong key: the client's proof does not "
                                 "match this daemon's key");
                return ROC_EUNAUTH;
            }
            pthread_mutex_lock(&c->mtx);
            c->authenticated = true;
            bool was_auth = c->state == ROCI_ST_AUTH;
            if (was_auth)
                __atomic_store_n(&c->state, ROCI_ST_OPEN, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&c->mtx);
            if (was_auth)
                opened(c);
            return 0;
        }
        uint64_t cid = 0;
        roci_rd t = r;
        if (kind == ROCI_CALL && nelem >= 3 && roci_rd_u64(&t, &cid) != 0)
            cid = 0;
        roci_conn_refuse(c, cid, ROC_EUNAUTH,
                         "this daemon requires a key: the client must prove "
                         "it (ROC_KEY_FILE) before calling");
        return ROC_EUNAUTH;
    }
    switch (kind) {
    case ROCI_CALL:
    case ROCI_ONEWAY: {
        roci_incoming in;
        memset(&in, 0, sizeof in);
        in.deadline_ms = -1;
        if (roci_rd_u64(&r, &id)) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "malformed call id");
            return ROC_EPROTO;
        }
        if (nelem != 7) {
            roci_conn_refuse(c, id, ROC_EPROTO,
                             "call envelope must have 7 elements, not %u",
                             nelem);
            return ROC_EPROTO;
        }
        if (kind == ROCI_CALL && id == 0) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "call id 0 is reserved");
            return ROC_EPROTO;
        }
        if (kind == ROCI_ONEWAY && id != 0) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "oneway must carry id 0");
            return ROC_EPROTO;
        }
        in.id = id;
        if (roci_rd_str(&r, &in.object, &in.object_len) ||
            roci_rd_str(&r, &in.method, &in.method_len)) {
            roci_conn_refuse(c, id, ROC_EPROTO,
                             "object and method must be strings");
            return ROC_EPROTO;
        }
        in.args = r;
        in.args.max_depth = c->max_depth + 1; /* + the argument array */
        in.args.conn_serial = c->serial;
        uint32_t na;
        roci_rd probe = r;
        probe.max_depth = c->max_depth + 1;
        if (roci_rd_array(&probe, &na)) {
            roci_conn_refuse(c, id, ROC_EPROTO, "arguments must be an array");
            return ROC_EPROTO;
        }
        probe = r;
        probe.max_depth = c->max_depth + 1;
        if (roci_rd_skip(&probe)) {
            roci_conn_refuse(c, id, ROC_EPROTO, "malformed arguments: %s",
                             roci_rd_why());
            return ROC_EPROTO;
        }
        r = probe;
        uint32_t nm;
        if (roci_rd_map(&r, &nm)) {
            roci_conn_refuse(c, id, ROC_EPROTO, "meta must be a map");
            return ROC_EPROTO;
        }
        for (uint32_t i = 0; i < nm; i++) {
            const char *k;
            uint32_t kl;
            if (roci_rd_str(&r, &k, &kl)) {
                roci_conn_refuse(c, id, ROC_EPROTO, "meta keys must be strings");
                return ROC_EPROTO;
            }
            uint64_t dl;
            if (kl == 8 && memcmp(k, "deadline", 8) == 0) {
                if (roci_rd_u64(&r, &dl)) {
                    roci_conn_refuse(c, id, ROC_EPROTO,
                                     "meta deadline must be an unsigned int");
                    return ROC_EPROTO;
                }
                in.deadline_ms = dl > INT32_MAX ? INT32_MAX : (int64_t)dl;
            } else if (roci_rd_skip(&r)) {
                roci_conn_refuse(c, id, ROC_EPROTO, "malformed meta");
                return ROC_EPROTO;
            }
        }
        if (r.p != r.end) {
            roci_conn_refuse(c, id, ROC_EPROTO, "trailing bytes in frame");
            return ROC_EPROTO;
        }
        if (c->peer_bye)
            return 0; /* after bye no new calls start */
        if (c->idle_timeout_ms > 0)
            c->last_call_ms = roci_now_ms();
        if (c->ops && c->ops->on_call)
            c->ops->on_call(c, &in);
        else if (kind == ROCI_CALL)
            roci_conn_send_error(c, id, ROC_ENOOBJ, "roc.NoSuchObject",
                                 "this side exports no objects", NULL);
        return 0;
    }
    case ROCI_RESULT:
    case ROCI_ERROR: {
        if (kind == ROCI_ERROR && nelem == 4 && roci_rd_u64(&r, &id) == 0 &&
            id == 0) {
            /* a connection-level error: the peer is closing on us */
            uint32_t ea;
            int64_t code = ROC_EPROTO;
            const char *t = "", *m = "";
            uint32_t tl = 0, ml = 0;
            if (roci_rd_array(&r, &ea) || ea != 4 || roci_rd_i64(&r, &code) ||
                roci_rd_str(&r, &t, &tl) || roci_rd_str(&r, &m, &ml)) {
                roci_conn_refuse(c, 0, ROC_EPROTO, "malformed error body");
                return ROC_EPROTO;
            }
            char why[160];
            snprintf(why, sizeof why, "the peer reported %.*s: %.*s",
                     (int)(tl > 40 ? 40 : tl), t, (int)(ml > 100 ? 100 : ml), m);
            roci_conn_close(c, roc_error_from_wire(code > 0 && code < 1000
                                                       ? (int)code
                                                       : ROC_EPROTO),
                            why);
            return 0;
        }
        r.p = f; /* re-read the envelope head */
        roci_rd_array(&r, &nelem);
        roci_rd_u64(&r, &ver);
        roci_rd_u64(&r, &kind);
        if (nelem != 4 || roci_rd_u64(&r, &id) || id == 0) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "malformed reply envelope");
            return ROC_EPROTO;
        }
        roci_rd v = r;
        v.max_depth = c->max_depth + 1; /* + the error array */
        v.conn_serial = c->serial;
        if (kind == ROCI_ERROR) {
            uint32_t ne;
            roci_rd e = r;
            if (roci_rd_array(&e, &ne) || ne != 4) {
                roci_conn_refuse(c, id, ROC_EPROTO, "malformed error body");
                return ROC_EPROTO;
            }
        }
        roci_rd probe = v;
        if (roci_rd_skip(&probe) || probe.p != probe.end) {
            roci_conn_refuse(c, id, ROC_EPROTO, "malformed reply: %s",
                             roci_rd_why());
            return ROC_EPROTO;
        }
        dispatch_reply(c, id, kind == ROCI_RESULT ? 0 : ROCI_GOT_ERROR, &v);
        return 0;
    }
    case ROCI_CANCEL:
        if (nelem != 3 || roci_rd_u64(&r, &id) || r.p != r.end) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "malformed cancel");
            return ROC_EPROTO;
        }
        if (c->ops && c->ops->on_cancel)
            c->ops->on_cancel(c, id);
        return 0;
    case ROCI_PING:
    case ROCI_PONG: {
        const uint8_t *tok = r.p;
        if (nelem != 3 || roci_rd_skip(&r) || r.p != r.end) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "malformed ping/pong");
            return ROC_EPROTO;
        }
        if (kind == ROCI_PING)
            send_pong(c, tok, (size_t)(r.p - tok));
        return 0;
    }
    case ROCI_BYE: {
        const char *why;
        uint32_t wl;
        if (nelem != 3 || roci_rd_str(&r, &why, &wl) || r.p != r.end) {
            roci_conn_refuse(c, 0, ROC_EPROTO, "malformed bye");
            return ROC_EPROTO;
        }
        pthread_mutex_lock(&c->mtx);
        __atomic_store_n(&c->peer_bye, true, __ATOMIC_RELEASE);
        snprintf(c->close_why, sizeof c->close_why, "peer said bye: %.*s",
                 (int)(wl > 100 ? 100 : wl), why);
        pthread_mutex_unlock(&c->mtx);
        if (c->is_server) {
            /* replies already queued go out, then the connection closes */
            pthread_mutex_lock(&c->mtx);
            c->close_when_flushed = true;
            pthread_mutex_unlock(&c->mtx);
        }
        return 0;
    }
    case ROCI_AUTH:
        roci_conn_refuse(c, 0, ROC_EPROTO, "auth frame that nobody asked for");
        return ROC_EPROTO;
    case ROCI_HELLO:
        roci_conn_refuse(c, 0, ROC_EPROTO, "hello after the handshake");
        return ROC_EPROTO;
    default:
        roci_conn_refuse(c, 0, ROC_EPROTO, "unknown envelope kind %llu",
                         (unsigned long long)kind);
        return ROC_EPROTO;
    }
}

/* ------------------------------------------------------ setup */

/* Reads until a whole first frame is in c->rbuf (before the read loop
 * runs); returns its length in *n. */
static int read_first_frame(roci_conn *c, nng_aio *aio, uint64_t end,
                            size_t *n)
{
    for (;;) {
        if (c->rlen >= 4) {
            size_t fl = ((size_t)c->rbuf[0] << 24) | ((size_t)c->rbuf[1] << 16) |
                        ((size_t)c->rbuf[2] << 8) | c->rbuf[3];
            if (fl > c->rcap - 4 || fl == 0)
                return ROC_EPROTO;
            if (c->rlen >= 4 + fl) {
                *n = fl;
                return 0;
            }
        }
        uint64_t now = roci_now_ms();
        if (now >= end)
            return ROC_ETIMEDOUT;
        nng_iov iov = {c->rbuf + c->rlen, c->rcap - c->rlen};
        nng_aio_set_iov(aio, 1, &iov);
        nng_aio_set_timeout(aio, (nng_duration)(end - now));
        stream_recv(c, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv != 0)
            return roci_nng_err(rv);
        c->rlen += nng_aio_count(aio);
    }
}

/* The client's side of the handshake: hello (with a nonce when we hold a
 * key), the daemon's hello, and the key proofs. */
static int client_handshake(roci_conn *c, nng_aio *aio, int timeout_ms,
                            const char *url, roc_error *err)
{
    roci_key key;
    int rc = roci_client_key(&key, err);
    if (rc)
        return rc;
    roc_buf *b = roci_scratch();
    if (!b)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    if (key.len && roci_random(c->cnonce, ROCI_NONCE_LEN) != 0)
        return roc_error_set(err, ROC_EINTERNAL, "no random numbers");
    if ((rc = build_hello(b, key.len ? c->cnonce : NULL, false, NULL)) != 0 ||
        (rc = roci_conn_send(c, b->data, b->len, aio)) != 0) {
        if (c->close_code)
            rc = c->close_code;
        return roc_error_set(err, rc == ROC_ECLOSED ? ROC_ECONNREFUSED : rc,
                             "handshake with %s failed: %s%s", url,
                             c->close_why[0] ? c->close_why : "cannot send",
                             rc == ROC_EUNAUTH
                                 ? " (TLS: the certificate is not trusted "
                                   "or not for this name)"
                                 : "");
    }
    uint64_t end =
        roci_now_ms() + (uint64_t)(timeout_ms < 0 ? 10000 : timeout_ms);
    size_t n = 0;
    rc = read_first_frame(c, aio, end, &n);
    if (rc)
        return roc_error_set(err, rc == ROC_ECLOSED ? ROC_ECONNREFUSED : rc,
                             "handshake with %s failed: %s", url,
                             rc == ROC_ETIMEDOUT ? "no hello from the daemon "
                                                   "in time"
                             : rc == ROC_EUNAUTH
                                 ? "TLS: the certificate is not trusted or "
                                   "not for this name"
                                 : roc_strerror(rc));
    roci_rd r;
    roci_rd_init(&r, c->rbuf + 4, n, 8);
    uint32_t ne;
    uint64_t ver, kind;
    if (roci_rd_array(&r, &ne) || roci_rd_u64(&r, &ver) ||
        roci_rd_u64(&r, &kind) || ver != 1)
        return roc_error_set(err, ROC_EPROTO,
                             "handshake with %s failed: not a ROC v1 peer",
                             url);
    if (kind == ROCI_ERROR) {
        /* the daemon refused us: say what it said */
        uint64_t id;
        uint32_t ea;
        int64_t code;
        const char *t, *m;
        uint32_t tl, ml;
        if (ne == 4 && !roci_rd_u64(&r, &id) && !roci_rd_array(&r, &ea) &&
            ea == 4 && !roci_rd_i64(&r, &code) && !roci_rd_str(&r, &t, &tl) &&
            !roci_rd_str(&r, &m, &ml))
            return roc_error_set(err, roc_error_from_wire((int)code),
                                 "handshake with %s refused: %.*s: %.*s", url,
                                 (int)tl, t, (int)ml, m);
        return roc_error_set(err, ROC_EPROTO,
                             "handshake with %s failed: error frame", url);
    }
    hello_info h;
    if (kind != ROCI_HELLO || (rc = check_hello(&r, ne, &h)) != 0)
        return roc_error_set(err, ROC_EPROTO,
                             "handshake with %s failed: %s", url,
                             rc == ROC_EINVAL
                                 ? "no common protocol version"
                                 : "the daemon's hello is malformed");
    c->roff = 4 + n;
    /* a daemon whose key is optional proves it too: a client holding a key
     * then proves its own and is served as authenticated */
    if (!h.auth && !(key.len && h.has_proof))
        return 0;
    if (!key.len)
        return roc_error_set(err, ROC_EUNAUTH,
                             "the daemon at %s requires a key: set one with "
                             "ROC_KEY_FILE or roc_client_set_key_file",
                             url);
    uint8_t want[ROCI_PROOF_LEN], mine[ROCI_PROOF_LEN];
    if (!h.has_nonce || !h.has_proof ||
        roci_proof(&key, "roc-server", c->cnonce, h.nonce, want) != 0 ||
        !roci_proof_equal(want, h.proof))
        return roc_error_set(err, ROC_EUNAUTH,
                             "the daemon at %s does not prove our key: wrong "
                             "key (or not the daemon we meant)",
                             url);
    memcpy(c->snonce, h.nonce, ROCI_NONCE_LEN);
    if (roci_proof(&key, "roc-client", c->cnonce, c->snonce, mine) != 0 ||
        build_auth(b, mine) != 0 ||
        roci_conn_send(c, b->data, b->len, aio) != 0)
        return roc_error_set(err, ROC_ECLOSED,
                             "handshake with %s failed: cannot send auth",
                             url);
    c->authenticated = true;
    return 0;
}

int roci_conn_dial(const char *url, int timeout_ms,
                   int (*prep)(roci_conn *c, void *arg), void *arg,
                   roci_conn **out, roc_error *err)
{
    nng_stream_dialer *d = NULL;
    char tbuf[256];
    int rv = nng_stream_dialer_alloc(&d, roci_transport_url(url, tbuf, sizeof tbuf));
    if (rv != 0)
        return roci_set_nng_err(err, rv, "cannot dial", url);
    nng_stream_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, true);
    bool tls = roci_url_is_tls(url);
    if (tls) {
        nng_tls_config *cfg = NULL;
        int rc = roci_tls_client_config(url, &cfg, err);
        if (rc) {
            nng_stream_dialer_free(d);
            return rc;
        }
        rv = nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg); /* the dialer holds it */
        if (rv) {
            nng_stream_dialer_free(d);
            return roci_set_nng_err(err, rv, "cannot use TLS for", url);
        }
    }
    nng_aio *aio = roci_thread_aio();
    if (!aio) {
        nng_stream_dialer_free(d);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    nng_aio_set_timeout(aio, timeout_ms < 0 ? NNG_DURATION_INFINITE
                                            : (nng_duration)timeout_ms);
    nng_stream_dialer_dial(d, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        nng_stream_dialer_free(d);
        if (tls && rv == NNG_ECRYPTO)
            return roc_error_set(err, ROC_EUNAUTH,
                                 "TLS handshake with %s failed: the server's "
                                 "certificate is not trusted or not for this "
                                 "name (%s)",
                                 url, nng_strerror(rv));
        return roci_set_nng_err(err, rv, "cannot connect to", url);
    }
    nng_stream *s = nng_aio_get_output(aio, 0);
    roci_conn *c = conn_new(s);
    if (!c) {
        nng_stream_free(s);
        nng_stream_dialer_free(d);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    c->dialer = d;
    c->url = strdup(url);
    __atomic_store_n(&c->state, ROCI_ST_OPEN, __ATOMIC_RELEASE);
    c->tls = tls;
    if (tls)
        nng_stream_get_bool(s, NNG_OPT_TLS_VERIFIED, &c->tls_verified);
    int rc = client_handshake(c, aio, timeout_ms, url, err);
    if (rc == 0 && prep && (rc = prep(c, arg)) != 0)
        roc_error_set(err, rc, "connection to %s: setup failed: %s", url,
                      roc_strerror(rc));
    if (rc != 0) {
        roci_conn_close(c, rc, "handshake failed");
        roci_conn_unref(c);
        return rc;
    }
    roci_reaper_add_tick(roci_conn_idle_tick);
    roci_reaper_add_tick(roci_conn_deadline_tick);
    /* leftovers after the hello, then the read loop */
    memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
    c->rlen -= c->roff;
    c->roff = 0;
    roci_conn_ref(c); /* the read loop's */
    parse_and_continue(c);
    *out = c;
    return 0;
}

int roci_conn_accept(nng_stream *s, const roci_conn_ops *ops, void *owner,
                     size_t max_frame, unsigned max_depth,
                     int hello_timeout_ms, roci_conn **out)
{
    roci_conn *c = conn_new(s);
    if (!c)
        return ROC_ENOMEM;
    c->is_server = true;
    c->ops = ops;
    c->owner = owner;
    c->max_frame = max_frame;
    c->max_depth = max_depth;
    __atomic_store_n(&c->state, ROCI_ST_HELLO, __ATOMIC_RELEASE);
    c->hello_deadline = roci_now_ms() + (uint64_t)hello_timeout_ms;
    *out = c;
    return 0;
}

void roci_conn_start(roci_conn *c)
{
    roci_conn_ref(c);
    start_read(c);
}
