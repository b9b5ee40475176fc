/* Baseline 1: raw nng_stream echo with 4-byte big-endian length framing,
 * the floor ROC's design sits on (DESIGN.md, "Why nng streams").
 *
 * Server: callback-driven nng_stream_recv / nng_stream_send. A read takes
 * what the socket has; every whole frame it holds is echoed in one write
 * (the frames are their own replies, so the write goes straight from the
 * read buffer); a partial frame stays for the next read.
 *
 * Client: callback-less aios and nng_aio_wait, the cheapest way nng allows
 * to wait (one wake-up from the poller). Pipelined, it writes up to N frames
 * ahead in one write and refills after each read. */
#include "bench.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SS_INITIAL_BUF (64u * 1024u)
#define SS_MAX_FRAME (64u * 1024u * 1024u)

/* ---- server ---- */

typedef struct ss_server ss_server;

typedef struct ss_conn {
    ss_server *srv;
    nng_stream *s;
    nng_aio *raio;
    nng_aio *saio;
    uint8_t *buf;
    size_t cap;
    size_t fill;   /* bytes read and not yet answered */
    size_t tosend; /* whole frames being echoed: buf[0..tosend) */
    size_t sent;
    struct ss_conn *next;
} ss_conn;

struct ss_server {
    nng_stream_listener *l;
    nng_aio *accept_aio;
    pthread_mutex_t mtx;
    ss_conn *conns;
    char url[256];
};

static void ss_process(ss_conn *c);

static void ss_recv_more(ss_conn *c)
{
    nng_iov iov = {c->buf + c->fill, c->cap - c->fill};
    nng_aio_set_iov(c->raio, 1, &iov);
    nng_stream_recv(c->s, c->raio);
}

static void ss_send_more(ss_conn *c)
{
    nng_iov iov = {c->buf + c->sent, c->tosend - c->sent};
    nng_aio_set_iov(c->saio, 1, &iov);
    nng_stream_send(c->s, c->saio);
}

/* Echoes every whole frame in the buffer in one write, or reads more. The
 * connection has at most one operation outstanding (a read or a write), so
 * its callbacks never run at once and need no lock. */
static void ss_process(ss_conn *c)
{
    size_t off = 0;
    while (c->fill - off >= 4) {
        uint32_t n = bench_get_be32(c->buf + off);
        if (c->fill - off - 4 < n) {
            break;
        }
        off += 4 + (size_t)n;
    }
    if (off > 0) {
        c->tosend = off;
        c->sent = 0;
        ss_send_more(c);
        return;
    }
    if (c->fill >= 4) { /* a partial frame at the front: room for all of it */
        size_t need = 4 + (size_t)bench_get_be32(c->buf);
        if (need > SS_MAX_FRAME) {
            nng_stream_close(c->s);
            return;
        }
        if (need > c->cap) {
            uint8_t *nb = realloc(c->buf, need);
            if (nb == NULL) {
                nng_stream_close(c->s);
                return;
            }
            c->buf = nb;
            c->cap = need;
        }
    }
    ss_recv_more(c);
}

static void ss_recv_cb(void *arg)
{
    ss_conn *c = arg;
    if (nng_aio_result(c->raio) != 0) {
        return; /* closed: the server's stop frees the connection */
    }
    c->fill += nng_aio_count(c->raio);
    ss_process(c);
}

static void ss_send_cb(void *arg)
{
    ss_conn *c = arg;
    if (nng_aio_result(c->saio) != 0) {
        return;
    }
    c->sent += nng_aio_count(c->saio);
    if (c->sent < c->tosend) {
        ss_send_more(c);
        return;
    }
    memmove(c->buf, c->buf + c->tosend, c->fill - c->tosend);
    c->fill -= c->tosend;
    c->tosend = c->sent = 0;
    ss_process(c);
}

static void ss_conn_free(ss_conn *c)
{
    nng_stream_close(c->s);
    nng_aio_stop(c->raio);
    nng_aio_stop(c->saio);
    nng_aio_free(c->raio);
    nng_aio_free(c->saio);
    nng_stream_free(c->s);
    free(c->buf);
    free(c);
}

static void ss_accept_cb(void *arg)
{
    ss_server *srv = arg;
    if (nng_aio_result(srv->accept_aio) != 0) {
        return;
    }
    nng_stream *s = nng_aio_get_output(srv->accept_aio, 0);
    (void)nng_stream_set_bool(s, NNG_OPT_TCP_NODELAY, true); /* ipc: no-op */
    ss_conn *c = calloc(1, sizeof *c);
    if (c == NULL || (c->buf = malloc(SS_INITIAL_BUF)) == NULL ||
        nng_aio_alloc(&c->raio, ss_recv_cb, c) != 0 ||
        nng_aio_alloc(&c->saio, ss_send_cb, c) != 0) {
        if (c != NULL) {
            nng_aio_free(c->raio);
            free(c->buf);
            free(c);
        }
        nng_stream_free(s);
    } else {
        c->srv = srv;
        c->s = s;
        c->cap = SS_INITIAL_BUF;
        pthread_mutex_lock(&srv->mtx);
        c->next = srv->conns;
        srv->conns = c;
        pthread_mutex_unlock(&srv->mtx);
        ss_process(c);
    }
    nng_stream_listener_accept(srv->l, srv->accept_aio);
}

static void ss_stop(void *sys)
{
    ss_server *srv = sys;
    if (srv == NULL) {
        return;
    }
    if (srv->l != NULL) {
        nng_stream_listener_close(srv->l);
    }
    if (srv->accept_aio != NULL) {
        nng_aio_stop(srv->accept_aio);
        nng_aio_free(srv->accept_aio);
    }
    nng_stream_listener_free(srv->l);
    ss_conn *c = srv->conns;
    while (c != NULL) {
        ss_conn *next = c->next;
        ss_conn_free(c);
        c = next;
    }
    pthread_mutex_destroy(&srv->mtx);
    free(srv);
}

static int ss_start(const bench_opts *o, void **sys, bench_err *e)
{
    ss_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return bench_fail(e, "out of memory");
    }
    *sys = srv;
    bench_listen_url(o, "nng_stream", srv->url, sizeof srv->url);
    pthread_mutex_init(&srv->mtx, NULL);
    int rv;
    if ((rv = nng_aio_alloc(&srv->accept_aio, ss_accept_cb, srv)) != 0 ||
        (rv = nng_stream_listener_alloc(&srv->l, srv->url)) != 0) {
        return bench_fail(e, "nng_stream listener %s: %s", srv->url,
                          nng_strerror(rv));
    }
    (void)nng_stream_listener_set_bool(srv->l, NNG_OPT_TCP_NODELAY, true);
    if ((rv = nng_stream_listener_listen(srv->l)) != 0) {
        return bench_fail(e, "listen %s: %s", srv->url, nng_strerror(rv));
    }
    int port;
    if (nng_stream_listener_get_int(srv->l, NNG_OPT_TCP_BOUND_PORT, &port) ==
        0) {
        bench_url_with_port(srv->url, sizeof srv->url, port);
    }
    nng_stream_listener_accept(srv->l, srv->accept_aio);
    return 0;
}

/* ---- client ---- */

typedef struct sc_client {
    nng_stream_dialer *d;
    nng_stream *s;
    nng_aio *aio; /* callback-less: nng_aio_wait */
    uint8_t *sbuf;
    size_t scap;
    uint8_t *rbuf;
    size_t rcap;
    size_t rfill;
    uint64_t *issued; /* pipelined: issue time of seq, by seq % n */
    uint64_t seq;
} sc_client;

static int sc_send_all(sc_client *c, const uint8_t *p, size_t n,
                       bench_err *e)
{
    while (n > 0) {
        nng_iov iov = {(void *)p, n};
        nng_aio_set_iov(c->aio, 1, &iov);
        nng_stream_send(c->s, c->aio);
        nng_aio_wait(c->aio);
        int rv = nng_aio_result(c->aio);
        if (rv != 0) {
            return bench_fail(e, "nng_stream_send: %s", nng_strerror(rv));
        }
        size_t k = nng_aio_count(c->aio);
        p += k;
        n -= k;
    }
    return 0;
}

/* Reads whatever the socket has (at least one byte) into rbuf. */
static int sc_recv_some(sc_client *c, bench_err *e)
{
    if (c->rfill == c->rcap) {
        return bench_fail(e, "client read buffer full");
    }
    nng_iov iov = {c->rbuf + c->rfill, c->rcap - c->rfill};
    nng_aio_set_iov(c->aio, 1, &iov);
    nng_stream_recv(c->s, c->aio);
    nng_aio_wait(c->aio);
    int rv = nng_aio_result(c->aio);
    if (rv != 0) {
        return bench_fail(e, "nng_stream_recv: %s", nng_strerror(rv));
    }
    c->rfill += nng_aio_count(c->aio);
    return 0;
}

static void sc_close(sc_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->s != NULL) {
        nng_stream_close(c->s);
        nng_stream_free(c->s);
    }
    nng_stream_dialer_free(c->d);
    if (c->aio != NULL) {
        nng_aio_free(c->aio);
    }
    free(c->sbuf);
    free(c->rbuf);
    free(c->issued);
    free(c);
}

static int sc_open(ss_server *srv, const workload *w, sc_client **out,
                   bench_err *e)
{
    sc_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return bench_fail(e, "out of memory");
    }
    *out = c;
    size_t frames = w->kind == WL_PIPE ? (size_t)w->n : 1;
    c->scap = frames * (4 + w->payload);
    c->rcap = c->scap < SS_INITIAL_BUF ? SS_INITIAL_BUF : c->scap;
    c->sbuf = malloc(c->scap);
    c->rbuf = malloc(c->rcap);
    c->issued = calloc(frames, sizeof *c->issued);
    if (c->sbuf == NULL || c->rbuf == NULL || c->issued == NULL) {
        return bench_fail(e, "out of memory");
    }
    for (size_t i = 0; i < frames; i++) {
        uint8_t *f = c->sbuf + i * (4 + w->payload);
        bench_put_be32(f, (uint32_t)w->payload);
        bench_payload_fill(f + 4, w->payload);
    }
    int rv;
    if ((rv = nng_aio_alloc(&c->aio, NULL, NULL)) != 0 ||
        (rv = nng_stream_dialer_alloc(&c->d, srv->url)) != 0) {
        return bench_fail(e, "nng_stream dialer %s: %s", srv->url,
                          nng_strerror(rv));
    }
    (void)nng_stream_dialer_set_bool(c->d, NNG_OPT_TCP_NODELAY, true);
    nng_stream_dialer_dial(c->d, c->aio);
    nng_aio_wait(c->aio);
    if ((rv = nng_aio_result(c->aio)) != 0) {
        return bench_fail(e, "dial %s: %s", srv->url, nng_strerror(rv));
    }
    c->s = nng_aio_get_output(c->aio, 0);
    return 0;
}

static int ss_clients_open(void *sys, const workload *w, int n, void **cli,
                           bench_err *e)
{
    for (int i = 0; i < n; i++) {
        sc_client *c = NULL;
        int rv = sc_open(sys, w, &c, e);
        cli[i] = c;
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static void ss_clients_close(void *sys, int n, void **cli)
{
    (void)sys;
    for (int i = 0; i < n; i++) {
        sc_close(cli[i]);
        cli[i] = NULL;
    }
}

/* One frame out, one frame back. */
static int ss_call(void *cli, const workload *w, uint64_t seq, bench_err *e)
{
    sc_client *c = cli;
    size_t flen = 4 + w->payload;
    bench_payload_stamp(c->sbuf + 4, w->payload, seq);
    if (sc_send_all(c, c->sbuf, flen, e) != 0) {
        return -1;
    }
    while (c->rfill < 4 || c->rfill < 4 + (size_t)bench_get_be32(c->rbuf)) {
        if (c->rfill >= 4 && 4 + (size_t)bench_get_be32(c->rbuf) > c->rcap) {
            return bench_fail(e, "reply frame of %u bytes",
                              bench_get_be32(c->rbuf));
        }
        if (sc_recv_some(c, e) != 0) {
            return -1;
        }
    }
    size_t rlen = bench_get_be32(c->rbuf);
    if (bench_payload_check(c->rbuf + 4, rlen, w->payload, seq, e) != 0) {
        return -1;
    }
    c->rfill -= 4 + rlen;
    memmove(c->rbuf, c->rbuf + 4 + rlen, c->rfill);
    return 0;
}

/* Writes `k` frames (the next sequence numbers) in one write. */
static int sc_issue(sc_client *c, const workload *w, size_t k, bench_err *e)
{
    size_t flen = 4 + w->payload;
    uint64_t now = bench_now_ns();
    for (size_t i = 0; i < k; i++) {
        uint64_t seq = c->seq++;
        bench_payload_stamp(c->sbuf + i * flen + 4, w->payload, seq);
        c->issued[seq % (uint64_t)w->n] = now;
    }
    return sc_send_all(c, c->sbuf, k * flen, e);
}

static int ss_pipe(void *cli, const workload *w, pipe_run *r, bench_err *e)
{
    sc_client *c = cli;
    size_t n = (size_t)w->n;
    uint64_t done = c->seq; /* next reply expected: replies come in order */
    if (sc_issue(c, w, n, e) != 0) {
        return -1;
    }
    while (done < c->seq) {
        if (sc_recv_some(c, e) != 0) {
            return -1;
        }
        uint64_t now = bench_now_ns();
        size_t off = 0;
        while (c->rfill - off >= 4) {
            size_t len = bench_get_be32(c->rbuf + off);
            if (c->rfill - off - 4 < len) {
                break;
            }
            if (bench_payload_check(c->rbuf + off + 4, len, w->payload, done,
                                    e) != 0) {
                return -1;
            }
            if (r->h != NULL) {
                hist_add(r->h, now - c->issued[done % n]);
            }
            done++;
            r->calls++;
            off += 4 + len;
        }
        c->rfill -= off;
        memmove(c->rbuf, c->rbuf + off, c->rfill);
        size_t inflight = (size_t)(c->seq - done);
        if (now < r->until_ns && inflight < n) {
            if (sc_issue(c, w, n - inflight, e) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

const bench_system bench_sys_nng_stream = {
    .name = "nng_stream",
    .start = ss_start,
    .stop = ss_stop,
    .clients_open = ss_clients_open,
    .clients_close = ss_clients_close,
    .call = ss_call,
    .pipe = ss_pipe,
};
