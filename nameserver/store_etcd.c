/* The etcd store (store.h): registrations in an etcd 3.4 cluster, reached
 * through etcd's v3 JSON gateway (libcurl for HTTP, jansson for JSON).
 *
 * One key per registration: <prefix>/n/<name>, whose value is the JSON
 * object {"uris": [...], "meta": [...]}; a registration under a lease is
 * put with that etcd lease. Writes are transactions conditional on the
 * key's mod_revision, so several roc-ns processes can share one registry;
 * a prefix watch reports every change to the registry's view, resumed from
 * the last revision seen after a break. ../shared/notes/etcd.md has the
 * measurements behind the choices here (timeouts, progress, double
 * application of a retried write).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "store.h"

#define DEFAULT_PREFIX "/roc"
#define DEFAULT_TIMEOUT_MS 1000
#define TOTAL_MS 10000
/* etcd's default --max-txn-ops */
#define MAX_TXN_OPS 128
/* a watch with nothing to say for this long is probed */
#define SILENCE_MS 2000

typedef struct et_store {
    ns_store base;
    char **eps; /* "http://host:port" */
    size_t n_eps;
    char *key_prefix; /* "<prefix>/n/" */
    char *range_end;  /* key_prefix with its last byte + 1 */
    int timeout_ms;
    pthread_mutex_t mtx; /* the request handle and cur */
    CURL *h;
    size_t cur;          /* endpoint that answered last */
    uint64_t loaded_rev; /* revision of the last load() */
    /* watch */
    ns_sink sink;
    void *sink_arg;
    pthread_t wthread;
    bool watching;
    CURLM *wm;
    pthread_mutex_t wmtx; /* stop and wm's wakeup */
    bool stop;
} et_store;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ base64 */

static const char b64c[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_enc(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *o = malloc((len + 2) / 3 * 4 + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *q++ = b64c[(v >> 18) & 63];
        *q++ = b64c[(v >> 12) & 63];
        *q++ = i + 1 < len ? b64c[(v >> 6) & 63] : '=';
        *q++ = i + 2 < len ? b64c[v & 63] : '=';
    }
    *q = 0;
    return o;
}

static int b64v(int c)
{
    const char *p = c ? strchr(b64c, c) : NULL;
    return p ? (int)(p - b64c) : -1;
}

/* Decodes s into a malloc'd, NUL-terminated buffer; NULL when malformed. */
static char *b64_dec(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *o = malloc(n / 4 * 3 + 1);
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = b64v(s[i]);
        if (v < 0) {
            free(o);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    o[k] = 0;
    if (len)
        *len = k;
    return o;
}

/* ------------------------------------------------------------ JSON helpers */

static uint64_t jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    return 0;
}

static json_t *jstr_u64(uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

static json_t *jb64(const char *s)
{
    char *e = b64_enc(s, strlen(s));
    json_t *j = e ? json_string(e) : NULL;
    free(e);
    return j;
}

static char *key_of(const et_store *s, const char *name)
{
    size_t a = strlen(s->key_prefix), b = strlen(name);
    char *k = malloc(a + b + 1);
    if (k) {
        memcpy(k, s->key_prefix, a);
        memcpy(k + a, name, b + 1);
    }
    return k;
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int json_strv(json_t *a, char ***v, size_t *n)
{
    *v = NULL;
    *n = 0;
    size_t k = json_array_size(a);
    if (!k)
        return 0;
    char **o = calloc(k, sizeof *o);
    if (!o)
        return ROC_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        const char *t = json_string_value(json_array_get(a, i));
        if (!(o[i] = strdup(t ? t : ""))) {
            for (size_t j = 0; j < i; j++)
                free(o[j]);
            free(o);
            return ROC_ENOMEM;
        }
    }
    *v = o;
    *n = k;
    return 0;
}

/* The value stored for e. */
static char *entry_value(const ns_entry *e)
{
    json_t *o = json_pack("{s:o, s:o}", "uris", strv_json(e->uris, e->n_uris),
                          "meta", strv_json(e->meta, e->n_meta));
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

/* An entry from a kv of etcd's (key, value, mod_revision, lease), or NULL
 * when it is not one of ours or malformed. */
static ns_entry *entry_from_kv(const et_store *s, json_t *kv)
{
    const char *k64 = json_string_value(json_object_get(kv, "key"));
    const char *v64 = json_string_value(json_object_get(kv, "value"));
    if (!k64)
        return NULL;
    char *key = b64_dec(k64, NULL);
    size_t pl = strlen(s->key_prefix);
    if (!key || strncmp(key, s->key_prefix, pl) != 0 || !key[pl]) {
        free(key);
        return NULL;
    }
    ns_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(key + pl))) {
        free(e);
        free(key);
        return NULL;
    }
    free(key);
    e->rev = jnum(kv, "mod_revision");
    e->lease = jnum(kv, "lease");
    if (v64) {
        char *val = b64_dec(v64, NULL);
        json_t *o = val ? json_loads(val, 0, NULL) : NULL;
        free(val);
        if (o &&
            (json_strv(json_object_get(o, "uris"), &e->uris, &e->n_uris) != 0 ||
             json_strv(json_object_get(o, "meta"), &e->meta, &e->n_meta) !=
                 0)) {
            json_decref(o);
            ns_entry_free(e);
            return NULL;
        }
        json_decref(o);
    }
    return e;
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* ------------------------------------------------------------ requests */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static size_t on_body(char *data, size_t sz, size_t nm, void *arg)
{
    buf *b = arg;
    size_t len = sz * nm;
    if (b->n + len + 1 > b->cap) {
        size_t nc = (b->n + len + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = 0;
    return len;
}

static struct curl_slist *json_headers(void)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                   "application/json");
    return curl_slist_append(h, "Expect:"); /* no 100-continue round */
}

/* How one attempt ended. */
enum { AT_OK, AT_RETRY, AT_AMBIGUOUS, AT_FAIL };

/* One POST of body to ep+path on h within timeout_ms. AT_RETRY: nothing
 * happened, try another endpoint; AT_AMBIGUOUS: the request may have been
 * applied; AT_FAIL: etcd refused it (err says why). */
static int attempt(CURL *h, const char *ep, const char *path, const char *body,
                   int timeout_ms, json_t **out, roc_error *err)
{
    char url[600];
    snprintf(url, sizeof url, "%s%s", ep, path);
    buf b = {0};
    struct curl_slist *hd = json_headers();
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < 500 ? timeout_ms : 500));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hd);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int res;
    if (cc != CURLE_OK) {
        res = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST
                  ? AT_RETRY
                  : AT_AMBIGUOUS;
        roc_error_set(err, ROC_EUNREACHABLE, "etcd at %s: %s", ep,
                      curl_easy_strerror(cc));
    } else {
        json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
        if (status == 200 && j) {
            *out = j;
            res = AT_OK;
        } else {
            /* {"error": "...", "code": N, "message": "..."}: gRPC codes 14
             * (unavailable: no leader, leader changed, stopping) and 4
             * (deadline exceeded) may succeed elsewhere or later. */
            json_int_t code = json_integer_value(json_object_get(j, "code"));
            const char *msg = json_string_value(json_object_get(j, "message"));
            res = code == 14 || code == 4 || status >= 500 ? AT_AMBIGUOUS
                                                           : AT_FAIL;
            if (code == 14 && msg && strstr(msg, "no leader"))
                res = AT_RETRY;
            roc_error_set(err, code == 5 ? ROC_ENOTFOUND : ROC_EUNAVAIL,
                          "etcd at %s: HTTP %ld: %s", ep, status,
                          msg   ? msg
                          : b.p ? b.p
                                : "no answer");
            json_decref(j);
        }
    }
    free(b.p);
    return res;
}

/* POSTs req (consumed) to path on the endpoints in turn, from the one that
 * answered last, until one answers or TOTAL_MS have passed. *ambiguous
 * (may be NULL) tells whether a failed attempt may have been applied. */
static int et_call(et_store *s, const char *path, json_t *req, json_t **out,
                   bool *ambiguous, roc_error *err)
{
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    if (ambiguous)
        *ambiguous = false;
    pthread_mutex_lock(&s->mtx);
    uint64_t deadline = now_ms() + TOTAL_MS;
    int rc = ROC_EUNREACHABLE;
    size_t failed = 0;
    for (;;) {
        int at =
            attempt(s->h, s->eps[s->cur], path, body, s->timeout_ms, out, err);
        if (at == AT_OK) {
            roc_error_clear(err);
            rc = 0;
            break;
        }
        if (at == AT_FAIL) {
            rc = err ? err->code : ROC_EUNAVAIL;
            break;
        }
        if (at == AT_AMBIGUOUS && ambiguous)
            *ambiguous = true;
        s->cur = (s->cur + 1) % s->n_eps;
        if (now_ms() >= deadline) {
            rc = err ? err->code : ROC_EUNREACHABLE;
            break;
        }
        if (++failed % s->n_eps == 0) {
            /* every member refused: an election, or all down. Pause a
             * little before the next round. */
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_unlock(&s->mtx);
    free(body);
    return rc;
}

/* ------------------------------------------------------------ ops */

static int et_load(ns_store *base, int (*fn)(void *, const ns_entry *),
                   void *arg, roc_error *err)
{
    et_store *s = (et_store *)base;
    json_t *resp = NULL;
    int rc = et_call(s, "/v3/kv/range",
                     json_pack("{s:o, s:o}", "key", jb64(s->key_prefix),
                               "range_end", jb64(s->range_end)),
                     &resp, NULL, err);
    if (rc)
        return rc;
    json_t *kvs = json_object_get(resp, "kvs");
    for (size_t i = 0; rc == 0 && i < json_array_size(kvs); i++) {
        ns_entry *e = entry_from_kv(s, json_array_get(kvs, i));
        if (e)
            rc = fn(arg, e);
        ns_entry_free(e);
    }
    pthread_mutex_lock(&s->mtx);
    s->loaded_rev = jnum(json_object_get(resp, "header"), "revision");
    pthread_mutex_unlock(&s->mtx);
    json_decref(resp);
    return rc;
}

static int et_put(ns_store *base, ns_entry *e, uint64_t expect, ns_entry **cur,
                  roc_error *err)
{
    et_store *s = (et_store *)base;
    char *key = key_of(s, e->name);
    char *val = entry_value(e);
    if (cur)
        *cur = NULL;
    if (!key || !val) {
        free(key);
        free(val);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    char *v64 = b64_enc(val, strlen(val));
    json_t *put = json_pack("{s:o, s:s?}", "key", jb64(key), "value", v64);
    if (put && e->lease)
        json_object_set_new(put, "lease", jstr_u64(e->lease));
    json_t *cmp = json_array();
    if (expect != NS_ANY_REV)
        json_array_append_new(cmp, json_pack("{s:o, s:s, s:s, s:o}", "key",
                                             jb64(key), "target", "MOD",
                                             "result", "EQUAL", "mod_revision",
                                             jstr_u64(expect)));
    json_t *req = json_pack("{s:o, s:[{s:o}], s:[{s:{s:o}}]}", "compare", cmp,
                            "success", "request_put", put, "failure",
                            "request_range", "key", jb64(key));
    free(v64);
    free(val);
    free(key);
    if (!req)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    json_t *resp = NULL;
    bool ambiguous = false;
    int rc = et_call(s, "/v3/kv/txn", req, &resp, &ambiguous, err);
    if (rc) {
        if (rc == ROC_ENOTFOUND)
            roc_error_set(err, rc, "lease %" PRIu64 " has expired", e->lease);
        return rc;
    }
    if (json_is_true(json_object_get(resp, "succeeded"))) {
        e->rev = jnum(json_object_get(resp, "header"), "revision");
        json_decref(resp);
        return 0;
    }
    /* refused: what is there now? */
    json_t *kvs = json_object_get(
        json_object_get(json_array_get(json_object_get(resp, "responses"), 0),
                        "response_range"),
        "kvs");
    ns_entry *now =
        json_array_size(kvs) ? entry_from_kv(s, json_array_get(kvs, 0)) : NULL;
    json_decref(resp);
    /* A retried write may have been applied by the attempt that timed out:
     * finding exactly what we wrote is success. */
    if (ambiguous && now && now->lease == e->lease &&
        strv_eq(now->uris, now->n_uris, e->uris, e->n_uris) &&
        strv_eq(now->meta, now->n_meta, e->meta, e->n_meta)) {
        e->rev = now->rev;
        ns_entry_free(now);
        return 0;
    }
    if (cur)
        *cur = now;
    else
        ns_entry_free(now);
    return roc_error_set(err, ROC_ESTATE,
                         "'%s' was changed by another name server", e->name);
}

static int et_del(ns_store *base, char *const *names, size_t n, uint64_t *rev,
                  roc_error *err)
{
    et_store *s = (et_store *)base;
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < n; at += MAX_TXN_OPS) {
        json_t *ops = json_array();
        for (size_t i = at; i < n && i < at + MAX_TXN_OPS; i++) {
            char *key = key_of(s, names[i]);
            if (key)
                json_array_append_new(ops, json_pack("{s:{s:o}}",
                                                     "request_delete_range",
                                                     "key", jb64(key)));
            free(key);
        }
        json_t *resp = NULL;
        rc = et_call(s, "/v3/kv/txn", json_pack("{s:o}", "success", ops), &resp,
                     NULL, err);
        if (rc == 0 && rev)
            *rev = jnum(json_object_get(resp, "header"), "revision");
        json_decref(resp);
    }
    return rc;
}

static int et_lease_grant(ns_store *base, unsigned ttl_s, uint64_t *lease,
                          roc_error *err)
{
    et_store *s = (et_store *)base;
    json_t *resp = NULL;
    int rc =
        et_call(s, "/v3/lease/grant",
                json_pack("{s:o}", "TTL", jstr_u64(ttl_s)), &resp, NULL, err);
    if (rc == 0) {
        *lease = jnum(resp, "ID");
        if (!*lease)
            rc = roc_error_set(err, ROC_EUNAVAIL, "etcd granted no lease");
    }
    json_decref(resp);
    return rc;
}

static int et_lease_keepalive(ns_store *base, uint64_t lease, unsigned *ttl_s,
                              roc_error *err)
{
    et_store *s = (et_store *)base;
    json_t *resp = NULL;
    int rc =
        et_call(s, "/v3/lease/keepalive",
                json_pack("{s:o}", "ID", jstr_u64(lease)), &resp, NULL, err);
    if (rc == 0) {
        /* a dead lease answers 200 with no TTL */
        uint64_t ttl = jnum(json_object_get(resp, "result"), "TTL");
        if (!ttl)
            rc = roc_error_set(err, ROC_ENOTFOUND,
                               "lease %" PRIu64 " has expired", lease);
        else if (ttl_s)
            *ttl_s = (unsigned)ttl;
    }
    json_decref(resp);
    return rc;
}

static int et_lease_revoke(ns_store *base, uint64_t lease, uint64_t *rev,
                           roc_error *err)
{
    et_store *s = (et_store *)base;
    json_t *resp = NULL;
    int rc =
        et_call(s, "/v3/lease/revoke",
                json_pack("{s:o}", "ID", jstr_u64(lease)), &resp, NULL, err);
    if (rc == 0 && rev)
        *rev = jnum(json_object_get(resp, "header"), "revision");
    json_decref(resp);
    if (rc == ROC_ENOTFOUND) { /* gone already */
        roc_error_clear(err);
        rc = 0;
    }
    return rc;
}

/* ------------------------------------------------------------ watch */

typedef struct wstate {
    et_store *s;
    buf line;
    uint64_t next;    /* first revision not reported yet */
    uint64_t last_ms; /* last byte from the stream */
    bool resync;      /* compacted past next: reload */
} wstate;

/* One message of the watch stream. */
static void on_message(wstate *w, json_t *m)
{
    et_store *s = w->s;
    json_t *r = json_object_get(m, "result");
    if (!r)
        return;
    uint64_t compact = jnum(r, "compact_revision");
    if (compact) {
        w->resync = true;
        return;
    }
    json_t *evs = json_object_get(r, "events");
    uint64_t hrev = jnum(json_object_get(r, "header"), "revision");
    if (json_array_size(evs) == 0) {
        /* created (the events from `next` still come) or progress */
        if (!json_is_true(json_object_get(r, "created")) && hrev >= w->next) {
            w->next = hrev + 1;
            s->sink(s->sink_arg, NS_EV_PROGRESS, NULL, hrev);
        }
        return;
    }
    for (size_t i = 0; i < json_array_size(evs); i++) {
        json_t *ev = json_array_get(evs, i);
        json_t *kv = json_object_get(ev, "kv");
        const char *type = json_string_value(json_object_get(ev, "type"));
        ns_entry *e = entry_from_kv(s, kv);
        if (!e)
            continue;
        bool del = type && strcmp(type, "DELETE") == 0;
        s->sink(s->sink_arg, del ? NS_EV_DEL : NS_EV_PUT, e, e->rev);
        if (e->rev >= w->next)
            w->next = e->rev + 1;
        ns_entry_free(e);
    }
}

static size_t on_stream(char *data, size_t sz, size_t nm, void *arg)
{
    wstate *w = arg;
    size_t len = sz * nm;
    w->last_ms = now_ms();
    if (on_body(data, sz, nm, &w->line) != len)
        return 0;
    /* one JSON object per line; chunks do not follow lines */
    char *start = w->line.p, *nl;
    while (
        (nl = memchr(start, '\n', w->line.n - (size_t)(start - w->line.p)))) {
        json_t *m = json_loadb(start, (size_t)(nl - start), 0, NULL);
        if (m)
            on_message(w, m);
        json_decref(m);
        start = nl + 1;
    }
    size_t rest = w->line.n - (size_t)(start - w->line.p);
    memmove(w->line.p, start, rest);
    w->line.n = rest;
    w->line.p[rest] = 0;
    return len;
}

/* Asks ep, on a handle of its own, whether it still serves linearizable
 * reads: a frozen or cut-off member does not. */
static bool probe(et_store *s, const char *ep)
{
    CURL *h = curl_easy_init();
    json_t *req =
        json_pack("{s:o, s:b}", "key", jb64(s->key_prefix), "count_only", 1);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_t *out = NULL;
    bool ok = h && body &&
              attempt(h, ep, "/v3/kv/range", body, s->timeout_ms, &out, NULL) ==
                  AT_OK;
    json_decref(out);
    json_decref(req);
    free(body);
    if (h)
        curl_easy_cleanup(h);
    return ok;
}

static bool stopping(et_store *s)
{
    pthread_mutex_lock(&s->wmtx);
    bool st = s->stop;
    pthread_mutex_unlock(&s->wmtx);
    return st;
}

static void *watch_main(void *arg)
{
    et_store *s = arg;
    wstate w = {.s = s};
    pthread_mutex_lock(&s->mtx);
    w.next = s->loaded_rev + 1;
    size_t ep = s->cur;
    pthread_mutex_unlock(&s->mtx);
    struct curl_slist *hd = json_headers();
    unsigned fails = 0;
    while (!stopping(s)) {
        if (w.resync) {
            s->sink(s->sink_arg, NS_EV_RESYNC, NULL, 0);
            pthread_mutex_lock(&s->mtx);
            w.next = s->loaded_rev + 1;
            pthread_mutex_unlock(&s->mtx);
            w.resync = false;
        }
        json_t *req =
            json_pack("{s:{s:o, s:o, s:o, s:b}}", "create_request", "key",
                      jb64(s->key_prefix), "range_end", jb64(s->range_end),
                      "start_revision", jstr_u64(w.next), "progress_notify", 1);
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        char url[600];
        snprintf(url, sizeof url, "%s/v3/watch", s->eps[ep]);
        CURL *h = curl_easy_init();
        uint64_t began = now_ms(), before = w.next;
        if (h && body) {
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
            curl_multi_add_handle(s->wm, h);
            w.last_ms = now_ms();
            w.line.n = 0;
            int running = 1;
            while (running && !stopping(s) && !w.resync) {
                curl_multi_perform(s->wm, &running);
                if (!running)
                    break;
                if (now_ms() - w.last_ms > SILENCE_MS) {
                    if (!probe(s, s->eps[ep]))
                        break; /* a silent member: go elsewhere */
                    w.last_ms = now_ms();
                }
                curl_multi_poll(s->wm, NULL, 0, 250, NULL);
            }
            curl_multi_remove_handle(s->wm, h);
        }
        if (h)
            curl_easy_cleanup(h);
        free(body);
        if (stopping(s))
            break;
        /* the stream ended: resume elsewhere from w.next */
        ep = (ep + 1) % s->n_eps;
        fails = w.next > before || now_ms() - began > 1000 ? 0 : fails + 1;
        if (fails >= s->n_eps) {
            /* nobody serves a watch: wait a little (woken by close) */
            curl_multi_poll(s->wm, NULL, 0, 100, NULL);
        }
    }
    curl_slist_free_all(hd);
    free(w.line.p);
    return NULL;
}

static int et_watch(ns_store *base, ns_sink sink, void *arg, roc_error *err)
{
    et_store *s = (et_store *)base;
    s->sink = sink;
    s->sink_arg = arg;
    if (!(s->wm = curl_multi_init()))
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    if (pthread_create(&s->wthread, NULL, watch_main, s) != 0)
        return roc_error_set(err, ROC_EINTERNAL, "cannot start a thread");
    s->watching = true;
    return 0;
}

static void et_close(ns_store *base)
{
    et_store *s = (et_store *)base;
    if (!s)
        return;
    if (s->watching) {
        pthread_mutex_lock(&s->wmtx);
        s->stop = true;
        pthread_mutex_unlock(&s->wmtx);
        curl_multi_wakeup(s->wm);
        pthread_join(s->wthread, NULL);
    }
    if (s->wm)
        curl_multi_cleanup(s->wm);
    if (s->h)
        curl_easy_cleanup(s->h);
    for (size_t i = 0; i < s->n_eps; i++)
        free(s->eps[i]);
    free(s->eps);
    free(s->key_prefix);
    free(s->range_end);
    free(s->base.where);
    pthread_mutex_destroy(&s->mtx);
    pthread_mutex_destroy(&s->wmtx);
    free(s);
}

static const ns_store_ops et_ops = {
    .kind = "etcd",
    .shared = true,
    .load = et_load,
    .put = et_put,
    .del = et_del,
    .watch = et_watch,
    .lease_grant = et_lease_grant,
    .lease_keepalive = et_lease_keepalive,
    .lease_revoke = et_lease_revoke,
    .close = et_close,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ns_store_etcd_open(ns_store **out, const char *spec, roc_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    et_store *s = calloc(1, sizeof *s);
    if (!s)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mtx, NULL);
    pthread_mutex_init(&s->wmtx, NULL);
    s->base.ops = &et_ops;
    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    int rc = 0;
    char *copy = strdup(spec ? spec : "");
    char *q = copy ? strchr(copy, '?') : NULL;
    if (q) {
        *q++ = 0;
        char *end;
        if (strncmp(q, "timeout_ms=", 11) != 0 ||
            (s->timeout_ms = (int)strtol(q + 11, &end, 10)) < 50 || *end ||
            s->timeout_ms > 60000)
            rc = roc_error_set(err, ROC_EBADARGS,
                               "etcd store: unknown option '%s' (only "
                               "timeout_ms=50..60000)",
                               q);
    }
    char *slash = copy ? strchr(copy, '/') : NULL;
    char prefix[256] = DEFAULT_PREFIX;
    if (slash) {
        if (slash[1])
            snprintf(prefix, sizeof prefix, "%s", slash);
        *slash = 0;
    }
    if (!rc && copy && *copy) {
        char *save = NULL;
        for (char *h = strtok_r(copy, ",", &save); h && !rc;
             h = strtok_r(NULL, ",", &save)) {
            char **ne = realloc(s->eps, (s->n_eps + 1) * sizeof *ne);
            if (!ne || !(ne[s->n_eps] = malloc(strlen(h) + 8))) {
                if (ne)
                    s->eps = ne;
                rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
                break;
            }
            s->eps = ne;
            snprintf(ne[s->n_eps++], strlen(h) + 8, "http://%s", h);
        }
    }
    if (!rc && s->n_eps == 0)
        rc = roc_error_set(err, ROC_EBADARGS,
                           "etcd store: no endpoint in '%s' (want "
                           "etcd://host:port[,host:port...][/prefix])",
                           spec ? spec : "");
    if (!rc) {
        size_t pl = strlen(prefix);
        while (pl > 1 && prefix[pl - 1] == '/')
            pl--;
        s->key_prefix = malloc(pl + 4);
        s->range_end = malloc(pl + 4);
        s->base.where = malloc(strlen(spec) + 8);
        if (!s->key_prefix || !s->range_end || !s->base.where ||
            !(s->h = curl_easy_init())) {
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        } else {
            snprintf(s->key_prefix, pl + 4, "%.*s/n/", (int)pl, prefix);
            snprintf(s->range_end, pl + 4, "%.*s/n0", (int)pl, prefix);
            snprintf(s->base.where, strlen(spec) + 8, "etcd://%s", spec);
        }
    }
    free(copy);
    if (rc) {
        et_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
