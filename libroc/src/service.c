/* rpyc-style client connections (roc_connect) and event subscriptions.
 * The server side of services lives in daemon.c (roc_serve), since a
 * service is a daemon whose root object has per-connection state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "roci.h"
#include "roci_discovery.h"

#include <nng/protocol/pubsub0/sub.h>

struct roc_conn {
    roci_conn *c;
    roc_proxy *root;
};

typedef struct connect_arg {
    const roc_service *svc;
} connect_arg;

static int connect_prep(roci_conn *c, void *arg)
{
    connect_arg *ca = arg;
    return roci_client_attach(c, ca->svc);
}

int roc_connect(roc_conn **out, const char *url, const roc_service *client_svc,
                roc_error *err)
{
    if (!out || !url)
        return roc_error_set(err, ROC_EINVAL, "roc_connect: no url");
    roc_arena *a;
    if (roc_arena_new(&a) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    const char *object = ROC_SERVICE_ROOT;
    const char *nurl = url;
    int rc = 0;
    char **found = NULL; /* service:NAME: what the LAN announces (rpyc's
                            connect_by_service); the first one is taken */
    size_t nfound = 0;
    if (strncasecmp(url, "service:", 8) == 0) {
        const char *e = getenv("ROC_TIMEOUT_MS");
        rc = roci_discover_resolve(url + 8, e && atoi(e) > 0 ? atoi(e) : 0,
                                   &found, &nfound, err);
        if (rc == 0)
            url = found[0];
    }
    if (rc) {
        /* rc set */
    } else if (strncasecmp(url, "ROC", 3) == 0 && strchr(url, '@') &&
               strchr(url, ':') < strstr(url, "://")) {
        roc_uri u;
        rc = roc_uri_parse(a, url, &u, err);
        if (rc == 0 && u.kind != ROC_URI_OBJECT)
            rc = roc_error_set(err, ROC_EINVAL,
                               "roc_connect takes an nng URL or a ROC: URI, "
                               "not '%s'",
                               url);
        if (rc == 0) {
            object = u.id;
            nurl = u.url;
        }
    } else {
        rc = roc_url_check(url, err);
    }
    roc_conn *c = NULL;
    if (rc == 0 && !(c = calloc(1, sizeof *c)))
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    connect_arg ca = {client_svc};
    if (rc == 0) {
        const char *e = getenv("ROC_TIMEOUT_MS");
        int to = e && atoi(e) > 0 ? atoi(e) : ROC_DEFAULT_TIMEOUT_MS;
        rc = roci_conn_dial(nurl, to, connect_prep, &ca, &c->c, err);
    }
    if (rc == 0)
        rc = roci_proxy_fixed(c->c, object, &c->root, err);
    roc_arena_free(a);
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    if (rc) {
        if (c && c->c) {
            roci_conn_close(c->c, ROC_ECLOSED, "connect failed");
            roci_conn_unref(c->c);
        }
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int roc_conn_call(roc_conn *c, const char *method, const roc_value *args,
                  roc_value **result, roc_arena *arena, roc_error *err)
{
    if (!c)
        return roc_error_set(err, ROC_EINVAL, "roc_conn_call: no connection");
    return roc_proxy_call(c->root, method, args, result, arena, err);
}

int roc_conn_call_async(roc_conn *c, const char *method, const roc_value *args,
                        const roc_call_opts *opts, roc_future **f,
                        roc_error *err)
{
    if (!c)
        return roc_error_set(err, ROC_EINVAL, "roc_conn_call: no connection");
    return roc_proxy_call_async(c->root, method, args, opts, f, err);
}

int roc_conn_oneway(roc_conn *c, const char *method, const roc_value *args,
                    roc_error *err)
{
    if (!c)
        return roc_error_set(err, ROC_EINVAL, "roc_conn_call: no connection");
    return roc_proxy_oneway(c->root, method, args, err);
}

roc_proxy *roc_conn_root(roc_conn *c)
{
    return c ? c->root : NULL;
}

int roc_conn_proxy(roc_conn *c, const char *object_id, roc_proxy **p,
                   roc_error *err)
{
    if (!c || !object_id || !p)
        return roc_error_set(err, ROC_EINVAL, "roc_conn_proxy: bad arguments");
    return roci_proxy_fixed(c->c, object_id, p, err);
}

bool roc_conn_alive(roc_conn *c)
{
    return c && roci_conn_usable(c->c);
}

void roc_conn_close(roc_conn *c)
{
    if (!c)
        return;
    roci_conn_close(c->c, ROC_ECLOSED, "closed by the client");
    roc_proxy_close(c->root);
    roci_conn_unref(c->c);
    free(c);
}

int roc_peer_proxy(roc_peer *peer, const char *object_id, roc_proxy **p,
                   roc_error *err)
{
    if (!peer || !p)
        return roc_error_set(err, ROC_EINVAL, "roc_peer_proxy: no peer");
    return roci_proxy_fixed((roci_conn *)peer,
                            object_id ? object_id : ROC_SERVICE_ROOT, p, err);
}

/* ------------------------------------------------------------ events */

struct roc_subscription {
    nng_socket sock;
    pthread_t thr;
    atomic_bool stop;
    roc_event_fn fn;
    void *arg;
};

static void *sub_main(void *arg)
{
    roc_subscription *s = arg;
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return NULL;
    while (!atomic_load(&s->stop)) {
        void *buf = NULL;
        size_t len = 0;
        int rv = nng_recv(s->sock, &buf, &len, NNG_FLAG_ALLOC);
        if (rv == NNG_ETIMEDOUT)
            continue;
        if (rv != 0)
            break;
        const char *topic = buf;
        const char *nul = memchr(buf, 0, len);
        if (nul) {
            size_t off = (size_t)(nul - topic) + 1;
            roc_value *v = NULL;
            if (roc_decode(a, (const uint8_t *)buf + off, len - off, 0, &v,
                           NULL) == 0)
                s->fn(topic, v, s->arg);
        }
        nng_free(buf, len);
        roc_arena_reset(a);
    }
    roc_arena_free(a);
    return NULL;
}

int roc_subscribe_url(const char *events_url, const char *prefix,
                      roc_event_fn fn, void *arg, roc_subscription **out,
                      roc_error *err)
{
    if (!events_url || !fn || !out)
        return roc_error_set(err, ROC_EINVAL, "roc_subscribe: bad arguments");
    roc_subscription *s = calloc(1, sizeof *s);
    if (!s)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    s->fn = fn;
    s->arg = arg;
    atomic_init(&s->stop, false);
    int rv = nng_sub0_open(&s->sock);
    if (rv == 0)
        rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, prefix ? prefix : "",
                            prefix ? strlen(prefix) : 0);
    if (rv == 0)
        rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, 100);
    if (rv == 0) /* room for a burst while the handler runs (default 128) */
        rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, ROCI_EVENT_QUEUE);
    /* non-blocking dial: nng keeps redialing if the publisher restarts */
    if (rv == 0)
        rv = nng_dial(s->sock, events_url, NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        nng_close(s->sock);
        free(s);
        return roci_set_nng_err(err, rv, "cannot subscribe to", events_url);
    }
    if (pthread_create(&s->thr, NULL, sub_main, s) != 0) {
        nng_close(s->sock);
        free(s);
        return roc_error_set(err, ROC_ENOMEM, "cannot start a thread");
    }
    *out = s;
    return 0;
}

int roc_subscribe(roc_proxy *p, const char *prefix, roc_event_fn fn,
                  void *arg, roc_subscription **out, roc_error *err)
{
    if (!p)
        return roc_error_set(err, ROC_EINVAL, "roc_subscribe: no proxy");
    roc_proxy *dp;
    int rc = roci_proxy_sibling(p, "roc.daemon", &dp, err);
    if (rc)
        return rc;
    roc_arena *a;
    if (roc_arena_new(&a) != 0) {
        roc_proxy_close(dp);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    roc_value *res = NULL;
    roc_value *args = roc_value_arrayv(a, 1, roc_value_str(a, "roc.daemon"));
    rc = roc_proxy_call(dp, "describe", args, &res, a, err);
    const roc_value *ev = rc == 0 ? roc_value_map_get(res, "events") : NULL;
    const char *url = NULL;
    size_t ul;
    if (rc == 0 && roc_value_get_str(ev, &url, &ul) != 0)
        rc = roc_error_set(err, ROC_EUNAVAIL,
                           "the daemon of %s publishes no events",
                           roc_proxy_uri(p));
    if (rc == 0)
        rc = roc_subscribe_url(url, prefix, fn, arg, out, err);
    roc_arena_free(a);
    roc_proxy_close(dp);
    return rc;
}

/* Closing the SUB socket runs on a thread of its own: in nng 1.5.2 it can
 * block forever now and then (seen ~1 in 20 with a publisher in another
 * process still sending). roc_unsubscribe waits for it a bounded time
 * (normally it takes microseconds, so nothing is still closing when the
 * process exits), then leaves it. The last of the two frees s. */
typedef struct closer {
    roc_subscription *s;
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool done;
    atomic_int refs;
} closer;

static void closer_unref(closer *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        free(c->s);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->m);
        free(c);
    }
}

static void *close_sub(void *arg)
{
    closer *c = arg;
    nng_close(c->s->sock);
    pthread_mutex_lock(&c->m);
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->m);
    closer_unref(c);
    return NULL;
}

void roc_unsubscribe(roc_subscription *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thr, NULL); /* no callback runs after this */
    closer *c = calloc(1, sizeof *c);
    if (!c) {
        nng_close(s->sock);
        free(s);
        return;
    }
    c->s = s;
    pthread_mutex_init(&c->m, NULL);
    roci_cond_init_mono(&c->cv);
    atomic_init(&c->refs, 2);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, close_sub, c) != 0) {
        atomic_store(&c->refs, 1);
        close_sub(c); /* frees c */
        pthread_attr_destroy(&at);
        return;
    }
    pthread_attr_destroy(&at);
    uint64_t end = roci_now_ms() + 1000;
    pthread_mutex_lock(&c->m);
    while (!c->done) {
        struct timespec ts = {(time_t)(end / 1000), (long)(end % 1000) * 1000000L};
        if (pthread_cond_timedwait(&c->cv, &c->m, &ts) != 0 &&
            roci_now_ms() >= end)
            break;
    }
    pthread_mutex_unlock(&c->m);
    closer_unref(c);
}
