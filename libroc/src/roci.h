/* Internal interfaces of the runtime: connections (conn.c), the client
 * side registry and pending calls (proxy.c), the daemon (daemon.c). Never
 * installed. */
#ifndef ROCI_H
#define ROCI_H

#include <pthread.h>
#include <stdatomic.h>

#include <nng/nng.h>

#include "codec.h"
#include "roc/roc.h"

/* Envelope kinds of protocol v1. */
enum {
    ROCI_HELLO = 0,
    ROCI_CALL = 1,
    ROCI_ONEWAY = 2,
    ROCI_RESULT = 3,
    ROCI_ERROR = 4,
    ROCI_CANCEL = 5,
    ROCI_PING = 6,
    ROCI_PONG = 7,
    ROCI_BYE = 8,
    ROCI_AUTH = 9,
};

/* now + timeout_ms for a call's deadline, from the coarse clock (never
 * earlier than the fine clock would give, up to a few ms later) */
uint64_t roci_deadline_ms(int timeout_ms);
uint64_t roci_now_ms(void);
int roci_nng_err(int nng_rv);
int roci_set_nng_err(roc_error *err, int nng_rv, const char *what,
                     const char *url);

typedef struct roci_conn roci_conn;
typedef struct roci_pending roci_pending;

/* ---- security (security.c) ---- */
#define ROCI_NONCE_LEN 16
#define ROCI_PROOF_LEN 32
typedef struct roci_key {
    uint8_t bytes[256];
    size_t len; /* 0: no key */
} roci_key;
int roci_key_load(const char *path, roci_key *k, roc_error *err);
int roci_key_set(roci_key *k, const void *key, size_t len, roc_error *err);
int roci_random(uint8_t *buf, size_t n);
int roci_proof(const roci_key *k, const char *label, const uint8_t *cn,
               const uint8_t *sn, uint8_t out[ROCI_PROOF_LEN]);
bool roci_proof_equal(const uint8_t *a, const uint8_t *b);
/* The process's client key (roc_client_set_key*, else ROC_KEY_FILE); len 0
 * when none. */
int roci_client_key(roci_key *k, roc_error *err);
bool roci_url_is_tls(const char *url);
struct nng_tls_config;
int roci_tls_client_config(const char *url, struct nng_tls_config **out,
                           roc_error *err);
int roci_tls_server_config(const roc_tls_opts *o, struct nng_tls_config **out,
                           roc_error *err);

/* A call or oneway that arrived, decoded up to its arguments. object and
 * method point into the frame and are NOT NUL-terminated; args is a reader
 * over the argument array (validated). All of it is valid only during
 * on_call. */
typedef struct roci_incoming {
    uint64_t id; /* 0 for oneway */
    const char *object;
    uint32_t object_len;
    const char *method;
    uint32_t method_len;
    roci_rd args;
    int64_t deadline_ms; /* from meta, relative; -1 when absent */
} roci_incoming;

/* What a connection's owner does with what arrives. Every hook is optional
 * and runs on the connection's I/O thread. */
typedef struct roci_conn_ops {
    void (*on_call)(roci_conn *c, roci_incoming *in);
    void (*on_cancel)(roci_conn *c, uint64_t id);
    void (*on_close)(roci_conn *c);
    /* last reference dropped: free the owner's per-connection data */
    void (*on_free)(roci_conn *c);
    /* server: the client's hello arrived (the connection is open) */
    void (*on_open)(roci_conn *c);
} roci_conn_ops;

/* A call this side made and waits for. complete runs exactly once, with
 * the connection lock NOT held: rc 0 and r at the result value, or rc
 * ROCI_GOT_ERROR and r at the error array, or another code with r NULL and
 * why a message. */
#define ROCI_GOT_ERROR (-1)
struct roci_pending {
    roci_pending *next;
    uint64_t id;
    uint64_t deadline_ms; /* absolute, 0: none (futures only) */
    void (*complete)(roci_pending *p, int rc, roci_rd *r, const char *why);
};

enum roci_state {
    ROCI_ST_HELLO = 0, /* server: waiting for the client's hello */
    ROCI_ST_AUTH,      /* server: hello done, waiting for the key proof */
    ROCI_ST_OPEN,
    ROCI_ST_LINGER,    /* refused something: draining input, then close */
    ROCI_ST_CLOSED,
};

/* A synchronous caller waiting on a connection (roci_conn_wait). */
typedef struct roci_waiter {
    roci_pending p; /* first */
    pthread_cond_t *cv; /* the waiting thread's (roci_thread_cond) */
    bool done;
    struct roci_waiter *wnext; /* the connection's waiters */
} roci_waiter;

/* Who reads a client connection: its callback read loop, nobody (the next
 * synchronous caller may read itself, without a thread hand-off), or a
 * synchronous caller on its own thread. Server connections always loop. */
enum { ROCI_RM_LOOP = 0, ROCI_RM_IDLE, ROCI_RM_THREAD };

#define ROCI_BUCKETS 64

struct roci_conn {
    pthread_mutex_t mtx;
    /* orders operations started on the stream against its close (nng
     * 1.5.2 never completes one started after the close) */
    pthread_mutex_t smtx;
    bool stream_closed; /* under smtx */
    atomic_int refs;
    atomic_int users; /* client: proxies and futures using it */
    nng_stream *stream;
    nng_stream_dialer *dialer;
    nng_aio *rd_aio;
    nng_aio *wr_aio;
    bool is_server;
    int state;
    bool peer_bye;
    bool close_when_flushed; /* server got bye: close once sent */
    const roci_conn_ops *ops;
    void (*on_close2)(roci_conn *c); /* client registry's close hook */
    uint64_t serial;  /* process-unique, names the connection safely */
    roci_conn *all_next; /* list of all live connections */
    uint64_t last_rx_ms; /* when something last arrived */
    int keepalive_ms;    /* ping after this much silence, close after 3x */
    bool ping_out;
    /* security */
    const roci_key *key;    /* server: the daemon's key (NULL: none) */
    bool key_optional;      /* server: serve peers without the key too */
    uint8_t cnonce[ROCI_NONCE_LEN];
    uint8_t snonce[ROCI_NONCE_LEN];
    bool has_cnonce;
    bool authenticated;
    bool tls;
    bool tls_verified;
    uint64_t last_call_ms;  /* server: idle timeout */
    int idle_timeout_ms;
    void *owner;      /* daemon (server side) */
    void *owner_data; /* owner's per-connection data */
    size_t max_frame;
    unsigned max_depth;
    uint64_t hello_deadline; /* server: absolute ms */
    uint64_t linger_deadline;
    size_t lingered;
    /* reading: only the thread that holds the read side touches these */
    uint8_t *rbuf;
    size_t rcap;
    size_t rlen;
    size_t roff;   /* parsed up to here (non-zero while paused) */
    bool rbuf_takeable; /* the frame being handled starts rbuf and is big */
    atomic_bool paused; /* owner: too many calls in flight, stop reading */
    bool parked;   /* under mtx: the read loop stopped because of paused */
    /* writing, under mtx */
    roc_buf out;   /* being sent */
    roci_seg out_seg;    /* a payload sent from outside out (no copy) */
    void *out_seg_owner; /* freed once out_seg is sent */
    roc_buf next;  /* queued while a send is in flight */
    /* replies made by the thread parsing a batch, queued without mtx;
     * they join next when the batch ends (or before anything else joins
     * it, keeping the order) */
    roc_buf cork;
    size_t out_off;
    bool sending;
    bool corked;   /* the read thread is parsing a batch: hold replies */
    /* calls this side made, under mtx */
    roci_pending *buckets[ROCI_BUCKETS];
    int rmode;            /* ROCI_RM_*, under mtx */
    unsigned nfut;        /* futures pending (need the loop) */
    roci_waiter *waiters; /* synchronous callers waiting */
    bool sync_completed;  /* the loop just completed a synchronous call */
    uint64_t idle_since;
    size_t npending;
    atomic_size_t npending_hint; /* npending, readable without mtx */
    /* futures completed on this connection that their owner has not freed
     * yet: while there are some, the owner is working through a pipeline
     * and new calls are held back to leave together (roc_future_free) */
    atomic_int done_unclaimed;
    _Atomic uint64_t next_id; /* call ids (roci_conn_reserve_id) */
    int close_code;
    char close_why[160];
    char peer[96];
    char *url;         /* client: the dialed URL */
    roci_conn *reg_next; /* reaper's list of connections to free */
    roci_conn *cl_next;  /* client registry */
};

/* Client: dials url, exchanges hellos, runs prep(c, arg) (may be NULL; a
 * non-zero result fails the dial), then starts the read loop. */
int roci_conn_dial(const char *url, int timeout_ms,
                   int (*prep)(roci_conn *c, void *arg), void *arg,
                   roci_conn **out, roc_error *err);
/* Server: wraps an accepted stream; the read loop starts at once and
 * expects the client's hello within hello_timeout_ms. */
int roci_conn_accept(nng_stream *s, const roci_conn_ops *ops, void *owner,
                     size_t max_frame, unsigned max_depth,
                     int hello_timeout_ms, roci_conn **out);
/* Server: starts the read loop of an accepted connection. */
void roci_conn_start(roci_conn *c);
/* A referenced live connection by serial, or NULL. */
roci_conn *roci_conn_by_serial(uint64_t serial);
/* Sends keepalive pings and closes silent connections (reaper tick). */
void roci_conn_keepalive_tick(void);
/* Frees c now (reaper thread; never inside c's own aio callbacks). */
void roci_conn_destroy(roci_conn *c);
void roci_conn_ref(roci_conn *c);
void roci_conn_unref(roci_conn *c);
/* Closes the connection: fails calls in flight with ROC_ECLOSED (message
 * why), stops I/O. Idempotent. */
void roci_conn_close(roci_conn *c, int code, const char *why);
bool roci_conn_usable(roci_conn *c);

/* Frames. roci_frame_begin reserves the length prefix and starts the
 * envelope array; roci_frame_end writes the length. */
void roci_frame_begin(msgpack_packer *pk, roc_buf *b, uint32_t nelem,
                      unsigned kind);
int roci_frame_end(roc_buf *b);
/* The same for a frame whose large bytes payload stays in the caller's
 * memory (see roci_seg). */
void roci_frame_begin_seg(msgpack_packer *pk, roci_wbuf *w, uint32_t nelem,
                          unsigned kind);
int roci_frame_end_seg(roc_buf *b, const roci_seg *seg);
/* Queues a whole frame (copied). With sync_aio (a callback-less aio of the
 * calling thread) and an idle connection, the frame is written from the
 * caller's buffer at once, without a hand-off. */
int roci_conn_send(roci_conn *c, const uint8_t *frame, size_t len,
                   nng_aio *sync_aio);
/* Sends the frame in *b (plus seg, when given, spliced in at seg->off).
 * Without seg, b's buffer may be swapped into the send queue instead of
 * being copied: b then holds another (empty) buffer. */
int roci_conn_send_buf(roci_conn *c, roc_buf *b, const roci_seg *seg,
                       nng_aio *sync_aio);
/* As roci_conn_send_buf without a sync aio, for a seg inside owner (a
 * malloc'd buffer, e.g. from roci_conn_take_rbuf): the connection takes
 * owner and frees it once sent, so the payload is never copied. */
int roci_conn_send_owned(roci_conn *c, roc_buf *b, const roci_seg *seg,
                         void *owner);
/* Queues a frame and starts the write in the background: never waits for
 * the peer. ROC_EBUSY when more than max_backlog bytes wait already (the
 * peer does not read), ROC_ECLOSED when closed. For oneway calls. */
#define ROCI_ONEWAY_BACKLOG (8u * 1024u * 1024u)
int roci_conn_send_nowait(roci_conn *c, const uint8_t *frame, size_t len,
                          size_t max_backlog);
/* Writes what is queued, from this thread when no write is in flight. */
void roci_conn_flush(roci_conn *c, nng_aio *sync_aio);
/* Builds and queues an error reply [1,4,id,[code,type,message,data]]. */
int roci_conn_send_error(roci_conn *c, uint64_t id, int wire_code,
                         const char *type, const char *message,
                         const roc_value *data);
/* Protocol violation: sends a roc.ProtocolError (or MessageTooLarge) frame
 * and closes after a bounded lingering drain. */
void roci_conn_refuse(roci_conn *c, uint64_t id, int code, const char *fmt,
                      ...) ROC_PRINTF(4, 5);
/* Owner: reading stops after the current frame once the owner sets
 * c->paused (on the read thread, e.g. too many calls in flight);
 * roci_conn_resume clears it from any thread and a parked read loop
 * continues on the resuming thread. */
void roci_conn_resume(roci_conn *c);

/* Pending calls (this side's outgoing calls). */
/* A call id for a call registered later by roci_conn_call_deferred. */
uint64_t roci_conn_reserve_id(roci_conn *c);
/* Registers p (p->id from roci_conn_reserve_id) and queues its frame, in
 * one critical section; ROC_ECLOSED when the connection is not open. The
 * frame leaves with the next flush (or at 64 KiB). */
int roci_conn_call_deferred(roci_conn *c, roci_pending *p,
                            const uint8_t *frame, size_t len);
uint64_t roci_conn_add_pending(roci_conn *c, roci_pending *p);
/* Waits until w completes or deadline_ms (absolute; 0: none) passes:
 * reads the connection on this thread when nobody else does. 0 when done,
 * ROC_ETIMEDOUT otherwise (w is then still pending). */
int roci_conn_wait(roci_conn *c, roci_waiter *w, uint64_t deadline_ms);
/* Marks w done and wakes its thread (from its complete function). */
void roci_conn_waiter_done(roci_conn *c, roci_waiter *w);
/* Futures with a completion callback: one more / one fewer; the read
 * loop runs while any are (other futures are read by the thread that
 * waits for them). */
void roci_conn_future_add(roci_conn *c);
void roci_conn_future_done(roci_conn *c);
/* Arms the read loop of a client connection that nobody reads. */
void roci_conn_arm(roci_conn *c);
/* Client connections: re-arms the read loop of connections idle for a
 * while, so that pings, callbacks and closes are seen (reaper tick). */
void roci_conn_idle_tick(void);
/* Fails every call past its deadline, on every connection (reaper tick). */
void roci_conn_deadline_tick(void);
void roci_conn_send_cancel(roci_conn *c, uint64_t id);
/* Removes p if still pending; true when removed (it will not complete). */
bool roci_conn_remove_pending(roci_conn *c, roci_pending *p);
/* Removes and returns every pending whose deadline is before now. */
roci_pending *roci_conn_take_expired(roci_conn *c, uint64_t now);

/* During a pending's complete (on the read thread): when the reply frame
 * is large and starts the read buffer, takes that buffer (malloc'd; the
 * caller frees it or gives it to an arena) so that the reply can be decoded
 * in place. NULL when not possible. */
uint8_t *roci_conn_take_rbuf(roci_conn *c);
int roci_arena_adopt(roc_arena *a, void *p);

/* A condition variable on CLOCK_MONOTONIC (every timed wait here uses
 * that clock); the calling thread's own one, made once, for waiters. */
void roci_cond_init_mono(pthread_cond_t *cv);
pthread_cond_t *roci_thread_cond(void);

/* Events: messages queued per subscriber by a publisher, and by a
 * subscriber for its handler (nng allows up to 8192). */
#define ROCI_EVENT_QUEUE 1024

/* The calling thread's callback-less aio (for synchronous sends/reads). */
nng_aio *roci_thread_aio(void);

/* Reaper: frees connections off the I/O threads, and ticks timers. */
void roci_reaper_defer_free(roci_conn *c);
void roci_reaper_add_tick(void (*fn)(void));

/* Shared thread-local scratch buffer for encoding frames, and its
 * segment. */
roc_buf *roci_scratch(void);
roci_seg *roci_scratch_seg(void);

/* The URL nng is given for a ROC URL: inproc://NAME becomes a Linux
 * abstract socket private to this process (nng 1.5.2 has no inproc
 * streams). Writes into buf; returns buf or the url itself. */
const char *roci_transport_url(const char *url, char *buf, size_t len);

/* Naming (naming.c): resolves a ROCNAME: or ROCMETA: URI through the name
 * server (the URI's @url, else ROC_NS, else tcp://127.0.0.1:9090) to the
 * object URIs ("ROC:id@url") registered for it: *uris is a malloc'd array
 * of malloc'd strings (free each and the array). ROC_ENOTFOUND when nothing
 * is registered, ROC_EUNAVAIL/ROC_ECONNREFUSED when no name server answers. */
int roci_naming_resolve(const roc_uri *u, int timeout_ms, char ***uris,
                        size_t *n, roc_error *err);

/* Following a name (naming.c): the URIs registered under a ROCNAME: URI's
 * name, kept current by a name server watch shared by every proxy bound
 * to that name through the same name server(s). Get fails (ROC_EUNAVAIL)
 * when ROC_NS_FOLLOW=0, for other URIs, when no name server is known, or
 * when the watch cannot be made; err is set only when no name server
 * answered (then resolution need not be tried). roci_follow_uris gives the URIs (a
 * malloc'd array of malloc'd strings; none when the name is not
 * registered) and true when they changed since *ver, updating *ver. */
typedef struct roci_follow roci_follow;
int roci_follow_get(const roc_uri *u, int timeout_ms, roci_follow **f,
                    roc_error *err);
void roci_follow_put(roci_follow *f);
bool roci_follow_uris(roci_follow *f, uint64_t *ver, char ***uris, size_t *n);

/* Callbacks (daemon.c): exports a roc_export on conn (a roci_export_fn
 * for roci_pack_set_export); serves a client connection through the
 * process's callback daemon, with the client's own service (may be NULL)
 * exported on it as "service"; the connection the calling thread is
 * running an inline handler of, if any. */
int roci_export_on(void *conn, void *export, const char **id);
int roci_client_attach(roci_conn *c, const roc_service *client_svc);
roci_conn *roci_inline_conn(void);
/* A proxy for object over the connection c only (proxy.c). */
int roci_proxy_fixed(roci_conn *c, const char *object, roc_proxy **out,
                     roc_error *err);
/* A proxy to another object where p's (first) object lives. */
int roci_proxy_sibling(roc_proxy *p, const char *object, roc_proxy **out,
                       roc_error *err);



#endif
