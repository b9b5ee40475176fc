/* The measured system: ROC through its public API only (roc/roc.h).
 *
 * Server: a roc_daemon serving object "bench" with small(i) -> i + 1 and
 * echo(bytes) -> bytes, both non-blocking, so they run inline on the I/O
 * thread that read the request.
 *
 * Client: one roc_proxy per workload, shared by all client threads (the
 * proxy is thread-safe and multiplexes them over one connection). Each
 * client thread keeps its own argument value (built once, re-stamped per
 * call) and a result arena reset before every call, so the bench itself
 * allocates nothing per call. */
#include "bench.h"

#include <roc/roc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- server ---- */

static int h_small(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t i;
    if (roc_value_get_int(roc_value_at(args, 0), &i) != 0) {
        return roc_call_error(call, ROC_EBADARGS, "small(i): i is an int");
    }
    *result = roc_value_int(roc_call_arena(call), i + 1);
    return *result != NULL ? 0 : roc_call_error(call, ROC_EINTERNAL, "oom");
}

/* Answers with the request's own bytes, without a copy. */
static int h_echo(roc_call *call, const roc_value *args, roc_value **result)
{
    const uint8_t *p;
    size_t len;
    if (roc_value_get_bin(roc_value_at(args, 0), &p, &len) != 0) {
        return roc_call_error(call, ROC_EBADARGS, "echo(b): b is bytes");
    }
    *result = roc_value_bin_ref(roc_call_arena(call), p, len);
    return *result != NULL ? 0 : roc_call_error(call, ROC_EINTERNAL, "oom");
}

static const roc_method bench_methods[] = {
    {"small", h_small, 1, 0, "i64 i", "i64"},
    {"echo", h_echo, 1, 0, "bytes b", "bytes"},
};

typedef struct rs_server {
    roc_daemon *d;
    char uri[512];
} rs_server;

static void rs_stop(void *sys)
{
    rs_server *srv = sys;
    if (srv == NULL) {
        return;
    }
    roc_daemon_close(srv->d);
    free(srv);
}

static int rs_start(const bench_opts *o, void **sys, bench_err *e)
{
    rs_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return bench_fail(e, "out of memory");
    }
    *sys = srv;
    char url[256];
    bench_listen_url(o, "roc", url, sizeof url);
    roc_daemon_opts opts;
    roc_daemon_opts_init(&opts);
    if (o->max_inflight > 0 && (unsigned)o->max_inflight > opts.max_inflight) {
        opts.max_inflight = (unsigned)o->max_inflight;
    }
    roc_error err = ROC_ERROR_INIT;
    int rv = roc_daemon_open(&srv->d, url, &opts, &err);
    if (rv != 0) {
        bench_fail(e, "roc_daemon_open %s: %s: %s", url, roc_strerror(rv),
                   err.message != NULL ? err.message : "");
        roc_error_clear(&err);
        return -1;
    }
    roc_servant sv;
    memset(&sv, 0, sizeof sv);
    sv.iface = "bench.Bench";
    sv.methods = bench_methods;
    sv.n_methods = sizeof bench_methods / sizeof bench_methods[0];
    sv.mode = ROC_INSTANCE_SINGLE;
    if ((rv = roc_daemon_register(srv->d, "bench", &sv, NULL)) != 0) {
        return bench_fail(e, "roc_daemon_register: %s", roc_strerror(rv));
    }
    if ((rv = roc_daemon_start(srv->d)) != 0) {
        return bench_fail(e, "roc_daemon_start: %s", roc_strerror(rv));
    }
    snprintf(srv->uri, sizeof srv->uri, "ROC:bench@%s", roc_daemon_url(srv->d));
    return 0;
}

/* ---- client ---- */

typedef struct rs_slot {
    roc_future *f;
    uint64_t seq;
    uint64_t issued_ns;
} rs_slot;

typedef struct rs_client {
    roc_proxy *p; /* shared; cli[0] closes it */
    bool owns_proxy;
    roc_arena *args_arena; /* holds args, built once */
    roc_arena *res_arena;  /* reset before every result */
    roc_value *args;       /* [i] or [bytes], re-stamped per call */
    uint8_t *payload;      /* the bytes args[0] points to (no copy) */
    size_t payload_len;
    rs_slot *slots; /* pipelined calls, a ring */
    int n_slots;
    uint64_t seq;
    roc_error err;
} rs_client;

static int roc_fail(bench_err *e, const char *what, int rv, roc_error *err)
{
    bench_fail(e, "%s: %s%s%s", what, roc_strerror(rv),
               err->message != NULL ? ": " : "",
               err->message != NULL ? err->message : "");
    roc_error_clear(err);
    return -1;
}

static void rs_client_free(rs_client *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < c->n_slots; i++) {
        roc_future_free(c->slots[i].f);
    }
    if (c->owns_proxy) {
        roc_proxy_close(c->p);
    }
    roc_arena_free(c->args_arena);
    roc_arena_free(c->res_arena);
    roc_error_clear(&c->err);
    free(c->payload);
    free(c->slots);
    free(c);
}

static void rs_clients_close(void *sys, int n, void **cli)
{
    (void)sys;
    for (int i = n - 1; i >= 0; i--) { /* cli[0] owns the proxy */
        rs_client_free(cli[i]);
        cli[i] = NULL;
    }
}

static int rs_clients_open(void *sys, const workload *w, int n, void **cli,
                           bench_err *e)
{
    rs_server *srv = sys;
    roc_proxy *p = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rv = roc_proxy_open(&p, srv->uri, &err);
    if (rv == 0) {
        rv = roc_proxy_bind(p, &err);
    }
    if (rv != 0) {
        roc_proxy_close(p);
        return roc_fail(e, srv->uri, rv, &err);
    }
    for (int i = 0; i < n; i++) {
        rs_client *c = calloc(1, sizeof *c);
        cli[i] = c;
        if (c == NULL) {
            if (i == 0) {
                roc_proxy_close(p);
            }
            return bench_fail(e, "out of memory");
        }
        c->p = p;
        c->owns_proxy = i == 0;
        roc_error_init(&c->err);
        if (roc_arena_new(&c->args_arena) != 0 ||
            roc_arena_new(&c->res_arena) != 0) {
            return bench_fail(e, "out of memory");
        }
        roc_arena *a = c->args_arena;
        if (w->kind == WL_ECHO) {
            c->payload_len = w->payload;
            c->payload = malloc(w->payload);
            if (c->payload == NULL) {
                return bench_fail(e, "out of memory");
            }
            bench_payload_fill(c->payload, w->payload);
            c->args = roc_value_arrayv(
                a, 1, roc_value_bin_ref(a, c->payload, w->payload));
        } else {
            c->args = roc_value_arrayv(a, 1, roc_value_int(a, 0));
        }
        if (c->args == NULL) {
            return bench_fail(e, "out of memory");
        }
        if (w->kind == WL_PIPE) {
            c->slots = calloc((size_t)w->n, sizeof *c->slots);
            if (c->slots == NULL) {
                return bench_fail(e, "out of memory");
            }
            c->n_slots = w->n;
        }
    }
    return 0;
}

static int rs_check_small(const roc_value *res, uint64_t seq, bench_err *e)
{
    int64_t got;
    if (roc_value_get_int(res, &got) != 0) {
        return bench_fail(e, "small returned a %s",
                          res != NULL ? roc_type_name(res->type) : "NULL");
    }
    if (got != (int64_t)seq + 1) {
        return bench_fail(e, "small(%llu) returned %lld",
                          (unsigned long long)seq, (long long)got);
    }
    return 0;
}

static int rs_call(void *cli, const workload *w, uint64_t seq, bench_err *e)
{
    rs_client *c = cli;
    roc_value *res = NULL;
    int rv;
    roc_arena_reset(c->res_arena);
    if (w->kind == WL_ECHO) {
        bench_payload_stamp(c->payload, c->payload_len, seq);
        rv = roc_proxy_call(c->p, "echo", c->args, &res, c->res_arena,
                            &c->err);
        if (rv != 0) {
            return roc_fail(e, "roc_proxy_call(echo)", rv, &c->err);
        }
        const uint8_t *p;
        size_t len;
        if (roc_value_get_bin(res, &p, &len) != 0) {
            return bench_fail(e, "echo returned a %s",
                              res != NULL ? roc_type_name(res->type) : "NULL");
        }
        return bench_payload_check(p, len, w->payload, seq, e);
    }
    c->args->u.array.items[0].u.i = (int64_t)seq;
    rv = roc_proxy_call(c->p, "small", c->args, &res, c->res_arena, &c->err);
    if (rv != 0) {
        return roc_fail(e, "roc_proxy_call(small)", rv, &c->err);
    }
    return rs_check_small(res, seq, e);
}

/* now: the issue time (the caller's clock reading, as the raw baseline
 * stamps a whole batch with one reading) */
static int rs_issue(rs_client *c, rs_slot *sl, uint64_t now, bench_err *e)
{
    sl->seq = c->seq++;
    c->args->u.array.items[0].u.i = (int64_t)sl->seq;
    sl->issued_ns = now;
    int rv = roc_proxy_call_async(c->p, "small", c->args, NULL, &sl->f,
                                  &c->err);
    if (rv != 0) {
        sl->f = NULL;
        return roc_fail(e, "roc_proxy_call_async(small)", rv, &c->err);
    }
    return 0;
}

/* Keeps n calls in flight: waits for the oldest, checks it, issues the next
 * in its place. Replies may come in any order; waiting in issue order only
 * delays noticing a reply that overtook an older one. */
static int rs_pipe(void *cli, const workload *w, pipe_run *r, bench_err *e)
{
    (void)w;
    rs_client *c = cli;
    int n = c->n_slots;
    int outstanding = 0;
    int rv = 0;
    uint64_t start = bench_now_ns();
    for (int i = 0; i < n; i++) {
        if ((rv = rs_issue(c, &c->slots[i], start, e)) != 0) {
            return rv;
        }
        outstanding++;
    }
    for (int i = 0; outstanding > 0; i = (i + 1) % n) {
        rs_slot *sl = &c->slots[i];
        if (sl->f == NULL) {
            continue;
        }
        if ((rv = roc_future_wait(sl->f, -1)) != 0) {
            return roc_fail(e, "roc_future_wait", rv, &c->err);
        }
        uint64_t now = bench_now_ns();
        roc_value *res = NULL;
        roc_arena_reset(c->res_arena);
        rv = roc_future_result(sl->f, &res, c->res_arena, &c->err);
        roc_future_free(sl->f);
        sl->f = NULL;
        if (rv != 0) {
            return roc_fail(e, "roc_future_result", rv, &c->err);
        }
        if ((rv = rs_check_small(res, sl->seq, e)) != 0) {
            return rv;
        }
        if (r->h != NULL) {
            hist_add(r->h, now - sl->issued_ns);
        }
        r->calls++;
        if (now >= r->until_ns) {
            outstanding--;
            continue;
        }
        if ((rv = rs_issue(c, sl, now, e)) != 0) {
            return rv;
        }
    }
    return 0;
}

const bench_system bench_sys_roc = {
    .name = "roc",
    .start = rs_start,
    .stop = rs_stop,
    .clients_open = rs_clients_open,
    .clients_close = rs_clients_close,
    .call = rs_call,
    .pipe = rs_pipe,
};
