/* Baseline 2: raw nng REQ/REP (req0 / rep0), for reference: what ROC would
 * cost had calls ridden nng's SP sockets (DESIGN.md measured 2.7x the
 * latency of a stream).
 *
 * Server: a rep0 socket with one context per possible concurrent request,
 * each a callback-driven recv -> send loop that sends the request message
 * back as its reply (no copy).
 *
 * Client: one req0 socket per workload, one context per client thread (or
 * per call in flight when pipelined), callback-less aios and nng_aio_wait.
 * A reply message is re-stamped and sent as the next request, so the
 * payload is never copied by the bench. */
#include "bench.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

/* ---- server ---- */

typedef struct rr_worker {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
} rr_worker;

typedef struct rr_server {
    nng_socket s;
    bool open;
    rr_worker *workers;
    int n_workers;
    char url[256];
} rr_server;

static void rr_worker_cb(void *arg)
{
    rr_worker *w = arg;
    int rv = nng_aio_result(w->aio);
    if (!w->sending) {
        if (rv != 0) {
            return; /* closed */
        }
        nng_msg *m = nng_aio_get_msg(w->aio);
        nng_aio_set_msg(w->aio, m); /* the request is its own reply */
        w->sending = true;
        nng_ctx_send(w->ctx, w->aio);
        return;
    }
    if (rv != 0) {
        nng_msg_free(nng_aio_get_msg(w->aio));
        if (rv == NNG_ECLOSED) {
            return;
        }
    }
    w->sending = false;
    nng_ctx_recv(w->ctx, w->aio);
}

static void rr_stop(void *sys)
{
    rr_server *srv = sys;
    if (srv == NULL) {
        return;
    }
    if (srv->open) {
        nng_close(srv->s);
    }
    for (int i = 0; i < srv->n_workers; i++) {
        if (srv->workers[i].aio != NULL) {
            nng_aio_stop(srv->workers[i].aio);
            nng_aio_free(srv->workers[i].aio);
        }
    }
    free(srv->workers);
    free(srv);
}

static int rr_start(const bench_opts *o, void **sys, bench_err *e)
{
    rr_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return bench_fail(e, "out of memory");
    }
    *sys = srv;
    bench_listen_url(o, "nng_reqrep", srv->url, sizeof srv->url);
    int rv;
    if ((rv = nng_rep0_open(&srv->s)) != 0) {
        return bench_fail(e, "nng_rep0_open: %s", nng_strerror(rv));
    }
    srv->open = true;
    (void)nng_socket_set_size(srv->s, NNG_OPT_RECVMAXSZ, 0); /* no limit */
    nng_listener l;
    if ((rv = nng_listener_create(&l, srv->s, srv->url)) != 0 ||
        (rv = nng_listener_start(l, 0)) != 0) {
        return bench_fail(e, "listen %s: %s", srv->url, nng_strerror(rv));
    }
    int port;
    if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        bench_url_with_port(srv->url, sizeof srv->url, port);
    }
    /* Enough contexts that no request waits for one. */
    int n = o->max_inflight > o->max_threads ? o->max_inflight
                                              : o->max_threads;
    srv->n_workers = n < 16 ? 16 : n;
    srv->workers = calloc((size_t)srv->n_workers, sizeof *srv->workers);
    if (srv->workers == NULL) {
        return bench_fail(e, "out of memory");
    }
    for (int i = 0; i < srv->n_workers; i++) {
        rr_worker *w = &srv->workers[i];
        if ((rv = nng_aio_alloc(&w->aio, rr_worker_cb, w)) != 0 ||
            (rv = nng_ctx_open(&w->ctx, srv->s)) != 0) {
            return bench_fail(e, "rep context: %s", nng_strerror(rv));
        }
        nng_ctx_recv(w->ctx, w->aio);
    }
    return 0;
}

/* ---- client ---- */

typedef struct rc_slot {
    nng_ctx ctx;
    nng_aio *aio; /* callback-less */
    nng_msg *msg; /* the last reply, re-stamped as the next request */
    uint64_t seq;
    uint64_t issued_ns;
    bool live; /* pipelined: a request is outstanding */
} rc_slot;

typedef struct rc_client {
    nng_socket s; /* shared by the workload's clients; cli[0] closes it */
    bool owns_socket;
    rc_slot *slots;
    int n_slots;
    uint64_t seq;
} rc_client;

static void rc_close(rc_client *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < c->n_slots; i++) {
        rc_slot *sl = &c->slots[i];
        if (sl->aio != NULL) {
            nng_aio_stop(sl->aio);
            nng_aio_free(sl->aio);
        }
        if (sl->msg != NULL) {
            nng_msg_free(sl->msg);
        }
        nng_ctx_close(sl->ctx);
    }
    if (c->owns_socket) {
        nng_close(c->s);
    }
    free(c->slots);
    free(c);
}

static int rc_clients_open(void *sys, const workload *w, int n, void **cli,
                           bench_err *e)
{
    rr_server *srv = sys;
    nng_socket s;
    int rv;
    if ((rv = nng_req0_open(&s)) != 0) {
        return bench_fail(e, "nng_req0_open: %s", nng_strerror(rv));
    }
    (void)nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
    if ((rv = nng_dial(s, srv->url, NULL, 0)) != 0) {
        nng_close(s);
        return bench_fail(e, "dial %s: %s", srv->url, nng_strerror(rv));
    }
    int slots = w->kind == WL_PIPE ? w->n : 1;
    for (int i = 0; i < n; i++) {
        rc_client *c = calloc(1, sizeof *c);
        cli[i] = c;
        if (c == NULL) {
            if (i == 0) {
                nng_close(s);
            }
            return bench_fail(e, "out of memory");
        }
        c->s = s;
        c->owns_socket = i == 0;
        c->slots = calloc((size_t)slots, sizeof *c->slots);
        if (c->slots == NULL) {
            return bench_fail(e, "out of memory");
        }
        c->n_slots = slots;
        for (int j = 0; j < slots; j++) {
            rc_slot *sl = &c->slots[j];
            if ((rv = nng_ctx_open(&sl->ctx, s)) != 0 ||
                (rv = nng_aio_alloc(&sl->aio, NULL, NULL)) != 0 ||
                (rv = nng_msg_alloc(&sl->msg, w->payload)) != 0) {
                return bench_fail(e, "req context: %s", nng_strerror(rv));
            }
            bench_payload_fill(nng_msg_body(sl->msg), w->payload);
        }
    }
    return 0;
}

static void rc_clients_close(void *sys, int n, void **cli)
{
    (void)sys;
    /* cli[0] owns the socket: close the others' contexts first. */
    for (int i = n - 1; i >= 0; i--) {
        rc_close(cli[i]);
        cli[i] = NULL;
    }
}

/* Sends the slot's message stamped with seq. */
static int rc_send(rc_slot *sl, const workload *w, uint64_t seq,
                   bench_err *e)
{
    bench_payload_stamp(nng_msg_body(sl->msg), w->payload, seq);
    sl->seq = seq;
    nng_aio_set_msg(sl->aio, sl->msg);
    nng_ctx_send(sl->ctx, sl->aio);
    nng_aio_wait(sl->aio);
    int rv = nng_aio_result(sl->aio);
    if (rv != 0) {
        nng_msg_free(sl->msg);
        sl->msg = NULL;
        return bench_fail(e, "nng_ctx_send: %s", nng_strerror(rv));
    }
    sl->msg = NULL; /* nng owns it now */
    return 0;
}

static int rc_recv_wait(rc_slot *sl, const workload *w, bench_err *e)
{
    nng_aio_wait(sl->aio);
    int rv = nng_aio_result(sl->aio);
    if (rv != 0) {
        return bench_fail(e, "nng_ctx_recv: %s", nng_strerror(rv));
    }
    sl->msg = nng_aio_get_msg(sl->aio);
    return bench_payload_check(nng_msg_body(sl->msg), nng_msg_len(sl->msg),
                               w->payload, sl->seq, e);
}

static int rc_call(void *cli, const workload *w, uint64_t seq, bench_err *e)
{
    rc_client *c = cli;
    rc_slot *sl = &c->slots[0];
    if (rc_send(sl, w, seq, e) != 0) {
        return -1;
    }
    nng_ctx_recv(sl->ctx, sl->aio);
    return rc_recv_wait(sl, w, e);
}

/* N contexts, each with one request outstanding; the client thread waits
 * on them in turn and re-issues each as soon as its reply is checked. */
static int rc_pipe(void *cli, const workload *w, pipe_run *r, bench_err *e)
{
    rc_client *c = cli;
    int n = c->n_slots;
    int outstanding = 0;
    for (int i = 0; i < n; i++) {
        rc_slot *sl = &c->slots[i];
        sl->issued_ns = bench_now_ns();
        if (rc_send(sl, w, c->seq++, e) != 0) {
            return -1;
        }
        nng_ctx_recv(sl->ctx, sl->aio);
        sl->live = true;
        outstanding++;
    }
    int rv = 0;
    for (int i = 0; outstanding > 0; i = (i + 1) % n) {
        rc_slot *sl = &c->slots[i];
        if (!sl->live) {
            continue;
        }
        if ((rv = rc_recv_wait(sl, w, e)) != 0) {
            break;
        }
        uint64_t now = bench_now_ns();
        if (r->h != NULL) {
            hist_add(r->h, now - sl->issued_ns);
        }
        r->calls++;
        if (now >= r->until_ns) {
            sl->live = false;
            outstanding--;
            continue;
        }
        sl->issued_ns = now;
        if ((rv = rc_send(sl, w, c->seq++, e)) != 0) {
            break;
        }
        nng_ctx_recv(sl->ctx, sl->aio);
    }
    return rv;
}

const bench_system bench_sys_nng_reqrep = {
    .name = "nng_reqrep",
    .start = rr_start,
    .stop = rr_stop,
    .clients_open = rc_clients_open,
    .clients_close = rc_clients_close,
    .call = rc_call,
    .pipe = rc_pipe,
};
