/* roc-gateway: HTTP/JSON access to ROC objects, and the browser console.
 *
 *   roc-gateway [--listen URL] [--ns URL] [--allow PATTERN]... [--timeout MS]
 *               [--key-file F] [--tls-cert F] [--roc-tls-ca F]
 *               [--roc-tls-cert F] [--roc-tls-server-name NAME]
 *               [--console DIR] [--max-body BYTES] [--threads N]
 *
 * Serves on nng's HTTP server (docs/gateway.md):
 *   GET  /api/names[?prefix=|regex=|meta=a,b[&any=1]]   the name server's names
 *   GET  /api/objects?daemon=URL                        roc.daemon.objects
 *   GET  /api/describe?uri=URI                          roc.daemon.describe
 *   POST /api/call {"uri","method","args","timeout_ms"} a call, JSON <-> value
 *   GET  /api/health, GET /metrics (Prometheus text)
 *   GET  /...                                           the console's files
 *
 * Threads: nng's HTTP callbacks only look at the request and queue it; a
 * small pool of workers does what may block (name look-ups, describe), then
 * sends the call asynchronously: its answer finishes the HTTP request from
 * the completion callback. So a slow object holds no thread, and many calls
 * are in flight at once over the pooled proxies.
 *
 * Prints the URL it listens on (with the real port when asked for port 0)
 * as the first line on stdout; stops cleanly on SIGINT/SIGTERM (exit 0).
 * Exit status 2 for bad usage, 1 when it cannot start.
 */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>

#include <roc/roc.h>

#include "jsonargs.h"
#include "metrics.h"

#define DEFAULT_LISTEN "http://127.0.0.1:8080"
#define MAX_ALLOW 64
#define POOL_MAX 256
#define MAX_CALL_TIMEOUT_MS 300000
#define BODY_READ_TIMEOUT_MS 10000

/* ------------------------------------------------------------ settings */

static struct {
    const char *listen;
    const char *allow[MAX_ALLOW];
    size_t n_allow;
    const char *console;
    int timeout_ms; /* default deadline of a call */
    int meta_ms;    /* deadline of look-ups: names, describe, objects */
    size_t max_body;
    int threads;
} cfg = {DEFAULT_LISTEN, {0}, 0, NULL, 10000, 5000, 1 << 20, 16};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------ requests */

typedef enum endpoint {
    EP_NAMES,
    EP_OBJECTS,
    EP_DESCRIBE,
    EP_CALL,
    EP_HEALTH,
    EP_METRICS,
    EP_API_OTHER,
    EP_COUNT
} endpoint;

static const char *const ep_path[EP_COUNT] = {
    "/api/names",  "/api/objects", "/api/describe", "/api/call",
    "/api/health", "/metrics",     "/api"};
static const endpoint ep_ids[EP_COUNT] = {EP_NAMES,    EP_OBJECTS, EP_DESCRIBE,
                                          EP_CALL,     EP_HEALTH,  EP_METRICS,
                                          EP_API_OTHER};

typedef struct pool_entry pool_entry;

typedef struct gw_req {
    struct gw_req *next; /* work queue */
    endpoint ep;
    nng_aio *aio; /* the HTTP handler's aio: finished once */
    char *target; /* the request's URI (path and query), copied */
    char *body;
    size_t body_len;
    nng_aio *body_aio; /* reads a POST body */
    /* a call in flight */
    pool_entry *pe;
    int series;
    uint64_t t0;
} gw_req;

static void req_free(gw_req *r)
{
    if (r->body_aio)
        nng_aio_reap(r->body_aio); /* may run in its own callback */
    free(r->target);
    free(r->body);
    free(r);
}

/* Answers r with status and body (JSON unless ctype says otherwise), then
 * frees r. extra_close closes the connection afterwards (a body left
 * unread must not be taken for the next request). */
static void respond_full(gw_req *r, uint16_t status, const char *ctype,
                         const char *body, size_t len, bool close,
                         const char *allow_hdr)
{
    nng_http_res *res = NULL;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(r->aio, NNG_ENOMEM); /* nng closes the connection */
        req_free(r);
        return;
    }
    nng_http_res_set_status(res, status);
    nng_http_res_set_header(res, "Content-Type", ctype);
    nng_http_res_set_header(res, "Cache-Control", "no-store");
    nng_http_res_set_header(res, "X-Content-Type-Options", "nosniff");
    if (close)
        nng_http_res_set_header(res, "Connection", "close");
    if (allow_hdr)
        nng_http_res_set_header(res, "Allow", allow_hdr);
    if (nng_http_res_copy_data(res, body, len) != 0) {
        nng_http_res_free(res);
        nng_aio_finish(r->aio, NNG_ENOMEM);
        req_free(r);
        return;
    }
    gwm_http(ep_path[r->ep], status);
    nng_aio_set_output(r->aio, 0, res);
    nng_aio_finish(r->aio, 0);
    req_free(r);
}

/* Answers with the JSON text of j (stolen). */
static void respond_json(gw_req *r, uint16_t status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] = "{\"error\":{\"type\":\"roc.Internal\","
                                  "\"message\":\"out of memory\"}}";
        respond_full(r, 500, "application/json", oom, sizeof oom - 1, false,
                     NULL);
        return;
    }
    respond_full(r, status, "application/json", s, strlen(s), false, NULL);
    free(s);
}

/* A JSON string of s, or of a placeholder when s is not UTF-8. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("(text that is not UTF-8)");
}

/* Error types of local codes (the wire codes have their roc.* types). */
static const char *local_type(int rc)
{
    switch (rc) {
    case ROC_ECONNREFUSED:
        return "gateway.ConnectionRefused";
    case ROC_EUNREACHABLE:
        return "gateway.Unreachable";
    case ROC_ECLOSED:
        return "gateway.ConnectionClosed";
    case ROC_ETRANSPORT:
        return "gateway.TransportError";
    case ROC_ENOTFOUND:
        return "gateway.NotFound";
    case ROC_EPARSE:
    case ROC_EINVAL:
        return "gateway.BadRequest";
    case ROC_EBUSY:
        return "gateway.Busy";
    case ROC_ECANCELED:
        return "gateway.Cancelled";
    case ROC_EUNAVAIL:
        return "gateway.Unavailable";
    default:
        return "roc.Internal";
    }
}

/* The HTTP status of an outcome (docs/gateway.md has the table). */
static uint16_t status_of(int rc)
{
    switch (rc) {
    case ROC_ENOOBJ:
    case ROC_ENOMETHOD:
    case ROC_ENOTFOUND:
        return 404;
    case ROC_EBADARGS:
    case ROC_EINVAL:
    case ROC_EPARSE:
        return 400;
    case ROC_EUNAUTH:
        return 403;
    case ROC_ETOOBIG:
        return 413;
    case ROC_ETIMEDOUT:
        return 504;
    case ROC_EBUSY:
        return 503;
    case ROC_ECONNREFUSED:
    case ROC_EUNREACHABLE:
    case ROC_ECLOSED:
    case ROC_ETRANSPORT:
    case ROC_EPROTO:
    case ROC_ECANCELED:
        return 502;
    case ROC_EREMOTE: /* the method raised: the object's own error */
    case ROC_EINTERNAL:
    default:
        return 500;
    }
}

static const char *type_of(int rc, const roc_error *err)
{
    if (err && err->type)
        return err->type;
    const char *t = roc_error_wire_type(rc);
    return t ? t : local_type(rc);
}

/* {"error": {"type", "code", "message", "data"}} with the status of rc. */
static void respond_error(gw_req *r, int rc, const roc_error *err)
{
    json_t *data = json_null();
    if (err && err->data) {
        char *s = NULL;
        if (roc_value_to_json(err->data, 0, &s, NULL) == 0) {
            json_t *d = json_loads(s, JSON_DECODE_ANY, NULL);
            if (d) {
                json_decref(data);
                data = d;
            }
        }
        free(s);
    }
    const char *msg = err && err->message ? err->message : roc_strerror(rc);
    json_t *e = json_pack("{s:{s:o,s:i,s:o,s:o}}", "error", "type",
                          jstr(type_of(rc, err)), "code", rc, "message",
                          jstr(msg), "data", data);
    respond_json(r, status_of(rc), e);
}

/* An error made by the gateway itself (bad request and the like). */
static void respond_fail(gw_req *r, uint16_t status, const char *type,
                         const char *fmt, ...) ROC_PRINTF(4, 5);
static void respond_fail(gw_req *r, uint16_t status, const char *type,
                         const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:{s:s,s:o,s:n}}", "error", "type", type, "message",
                          jstr(msg), "data");
    respond_json(r, status, e);
}

/* ------------------------------------------------------------ queries */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The decoded value of key in the query of target (after '?'), malloc'd;
 * NULL when absent. %XX and '+' are decoded; a NUL byte ends the value. */
static char *query_get(const char *target, const char *key)
{
    const char *q = strchr(target, '?');
    size_t kl = strlen(key);
    while (q && *q) {
        q++;
        const char *end = strchr(q, '&');
        size_t n = end ? (size_t)(end - q) : strlen(q);
        if (n >= kl && strncmp(q, key, kl) == 0 && (n == kl || q[kl] == '=')) {
            const char *v = n == kl ? q + n : q + kl + 1;
            size_t vl = (size_t)(q + n - v);
            char *out = malloc(vl + 1);
            if (!out)
                return NULL;
            size_t j = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] == '+') {
                    out[j++] = ' ';
                } else if (v[i] == '%' && i + 2 < vl && hexval(v[i + 1]) >= 0 &&
                           hexval(v[i + 2]) >= 0) {
                    out[j++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
                    i += 2;
                } else {
                    out[j++] = v[i];
                }
            }
            out[j] = 0;
            return out;
        }
        q = end;
    }
    return NULL;
}

/* ------------------------------------------------------------ allow list */

/* Read-only methods of roc.daemon and roc.ns: always callable. */
static bool builtin_allowed(const char *id, const char *method)
{
    static const char *const daemon_ro[] = {"ping", "objects", "describe",
                                            "stats"};
    static const char *const ns_ro[] = {"ping", "lookup", "list_names",
                                        "lookup_meta", "count"};
    if (strcmp(id, "roc.daemon") == 0) {
        for (size_t i = 0; i < sizeof daemon_ro / sizeof *daemon_ro; i++)
            if (strcmp(method, daemon_ro[i]) == 0)
                return true;
    } else if (strcmp(id, ROC_NS_OBJECT) == 0) {
        for (size_t i = 0; i < sizeof ns_ro / sizeof *ns_ro; i++)
            if (strcmp(method, ns_ro[i]) == 0)
                return true;
    }
    return false;
}

/* An --allow PATTERN is OBJECT or OBJECT/METHOD, each a shell glob
 * (fnmatch): OBJECT matches the object id, or the name of a ROCNAME: URI. */
static bool allowed(const char *id, const char *name, const char *method)
{
    if (builtin_allowed(id, method))
        return true;
    for (size_t i = 0; i < cfg.n_allow; i++) {
        char pat[512];
        snprintf(pat, sizeof pat, "%s", cfg.allow[i]);
        char *slash = strchr(pat, '/');
        const char *mpat = "*";
        if (slash) {
            *slash = 0;
            mpat = slash + 1;
        }
        if ((fnmatch(pat, id, 0) == 0 ||
             (name && fnmatch(pat, name, 0) == 0)) &&
            fnmatch(mpat, method, 0) == 0)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ proxy pool */

/* Proxies are thread-safe and share one connection per endpoint, so one
 * proxy per URI called serves every request for it. An entry in use is
 * never closed; an idle one is closed to make room. */
struct pool_entry {
    char *uri;
    char *url; /* the endpoint (for the connections gauge), or NULL */
    roc_proxy *p;
    int refs;
    uint64_t last;
};

static pthread_mutex_t pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static pool_entry *pool[POOL_MAX];
static size_t pool_n;

static void entry_free(pool_entry *e)
{
    roc_proxy_close(e->p);
    free(e->uri);
    free(e->url);
    free(e);
}

/* A pooled proxy for uri (refs + 1); url is its resolved endpoint. Called
 * on a worker: opening a ROCNAME: proxy asks the name server. */
static int pool_get(const char *uri, const char *url, pool_entry **out,
                    roc_error *err)
{
    pthread_mutex_lock(&pool_mtx);
    for (size_t i = 0; i < pool_n; i++)
        if (strcmp(pool[i]->uri, uri) == 0) {
            pool[i]->refs++;
            pool[i]->last = now_us();
            *out = pool[i];
            pthread_mutex_unlock(&pool_mtx);
            return 0;
        }
    pthread_mutex_unlock(&pool_mtx);

    pool_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->uri = strdup(uri)) || (url && !(e->url = strdup(url)))) {
        if (e)
            free(e->uri);
        free(e);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    int rc = roc_proxy_open(&e->p, uri, err);
    if (rc) {
        free(e->url);
        free(e->uri);
        free(e);
        return rc;
    }
    e->refs = 1;
    e->last = now_us();

    pool_entry *victim = NULL;
    pthread_mutex_lock(&pool_mtx);
    for (size_t i = 0; i < pool_n; i++)
        if (strcmp(pool[i]->uri, uri) == 0) { /* another worker was first */
            pool[i]->refs++;
            *out = pool[i];
            pthread_mutex_unlock(&pool_mtx);
            entry_free(e);
            return 0;
        }
    if (pool_n == POOL_MAX) {
        size_t v = POOL_MAX;
        for (size_t i = 0; i < pool_n; i++)
            if (pool[i]->refs == 0 &&
                (v == POOL_MAX || pool[i]->last < pool[v]->last))
                v = i;
        if (v == POOL_MAX) {
            pthread_mutex_unlock(&pool_mtx);
            entry_free(e);
            return roc_error_set(err, ROC_EBUSY,
                                 "%d objects in use at once: try again",
                                 POOL_MAX);
        }
        victim = pool[v];
        pool[v] = pool[--pool_n];
    }
    pool[pool_n++] = e;
    pthread_mutex_unlock(&pool_mtx);
    if (victim)
        entry_free(victim);
    *out = e;
    return 0;
}

static void pool_put(pool_entry *e)
{
    pthread_mutex_lock(&pool_mtx);
    e->refs--;
    pthread_mutex_unlock(&pool_mtx);
}

static void pool_counts(size_t *proxies, size_t *endpoints)
{
    pthread_mutex_lock(&pool_mtx);
    size_t ne = 0;
    for (size_t i = 0; i < pool_n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = pool[i]->url && pool[j]->url &&
                   strcmp(pool[i]->url, pool[j]->url) == 0;
        ne += !seen && pool[i]->url;
    }
    *proxies = pool_n;
    *endpoints = ne;
    pthread_mutex_unlock(&pool_mtx);
}

static void pool_close_all(void)
{
    pthread_mutex_lock(&pool_mtx);
    for (size_t i = 0; i < pool_n; i++)
        entry_free(pool[i]);
    pool_n = 0;
    pthread_mutex_unlock(&pool_mtx);
}

/* ------------------------------------------------------------ endpoints */

/* A roc_value as a jansson value (through its JSON text, docs/json.md). */
static json_t *value_json(const roc_value *v, roc_error *err)
{
    char *s = NULL;
    roc_value nil = {.type = ROC_NIL};
    if (roc_value_to_json(v ? v : &nil, 0, &s, err) != 0)
        return NULL;
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    free(s);
    return j;
}

static json_t *strv_json(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, jstr(v[i]));
    return a;
}

static void do_names(gw_req *r, roc_arena *a)
{
    char *prefix = query_get(r->target, "prefix");
    char *regex = query_get(r->target, "regex");
    char *meta = query_get(r->target, "meta");
    char *any = query_get(r->target, "any");
    roc_error err = ROC_ERROR_INIT;
    roc_ns *ns = NULL;
    roc_ns_entry *es = NULL;
    size_t n = 0;
    int rc = 0;
    if ((prefix != NULL) + (regex != NULL) + (meta != NULL) > 1) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "give one of prefix, regex and meta");
        goto out;
    }
    rc = roc_ns_open(&ns, NULL, &err);
    if (rc == 0) {
        roc_ns_set_timeout(ns, cfg.meta_ms);
        if (meta) {
            const char *tags[ROC_NS_MAX_TAGS + 1];
            size_t nt = 0;
            for (char *t = strtok(meta, ","); t && nt <= ROC_NS_MAX_TAGS;
                 t = strtok(NULL, ","))
                tags[nt++] = t;
            bool anyt = any && strcmp(any, "0") != 0 && strcmp(any, "false");
            rc = roc_ns_lookup_meta(ns, tags, nt, anyt, a, &es, &n, &err);
        } else if (regex) {
            rc = roc_ns_list(ns, regex, ROC_NS_REGEX, a, &es, &n, &err);
        } else {
            rc = roc_ns_list(ns, prefix ? prefix : "", ROC_NS_PREFIX, a, &es,
                             &n, &err);
        }
    }
    if (rc) {
        respond_error(r, rc, &err);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:o,s:o,s:o}", "name", jstr(es[i].name),
                               "uris", strv_json(es[i].uris, es[i].n_uris),
                               "meta", strv_json(es[i].meta, es[i].n_meta)));
        respond_json(
            r, 200,
            json_pack("{s:o,s:o}", "ns", jstr(roc_ns_uri(ns)), "names", arr));
    }
out:
    roc_ns_close(ns);
    roc_error_clear(&err);
    free(prefix);
    free(regex);
    free(meta);
    free(any);
}

/* The daemon URL of text: an nng URL, or the endpoint of a URI. */
static int daemon_url(roc_arena *a, const char *text, const char **url,
                      roc_error *err)
{
    if (strncasecmp(text, "ROC", 3) == 0) {
        const char *id;
        return jsonargs_resolve(a, text, cfg.meta_ms, &id, url, err);
    }
    int rc = roc_url_check(text, err);
    if (rc == 0)
        *url = text;
    return rc;
}

static void do_objects(gw_req *r, roc_arena *a)
{
    char *d = query_get(r->target, "daemon");
    roc_error err = ROC_ERROR_INIT;
    const char *url = NULL;
    roc_value *res = NULL;
    int rc;
    if (!d || !*d) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "daemon=URL is required (tcp://host:port, or a URI)");
        goto out;
    }
    rc = daemon_url(a, d, &url, &err);
    if (rc == 0)
        rc = jsonargs_daemon_call(url, "objects", NULL, cfg.meta_ms, &res, a,
                                  &err);
    if (rc) {
        respond_error(r, rc, &err);
    } else {
        json_t *objs = value_json(res, &err);
        if (!objs)
            respond_error(r, ROC_EINTERNAL, &err);
        else
            respond_json(
                r, 200,
                json_pack("{s:o,s:o}", "daemon", jstr(url), "objects", objs));
    }
out:
    roc_error_clear(&err);
    free(d);
}

static void do_describe(gw_req *r, roc_arena *a)
{
    char *uri = query_get(r->target, "uri");
    roc_error err = ROC_ERROR_INIT;
    const char *id = NULL, *url = NULL;
    roc_value *desc = NULL;
    int rc;
    if (!uri || !*uri) {
        respond_fail(r, 400, "gateway.BadRequest", "uri=URI is required");
        goto out;
    }
    rc = jsonargs_resolve(a, uri, cfg.meta_ms, &id, &url, &err);
    if (rc == 0) {
        roc_value *args = roc_value_arrayv(a, 1, roc_value_str(a, id));
        rc = args ? jsonargs_daemon_call(url, "describe", args, cfg.meta_ms,
                                         &desc, a, &err)
                  : roc_error_set(&err, ROC_ENOMEM, "out of memory");
    }
    if (rc) {
        respond_error(r, rc, &err);
    } else {
        json_t *j = value_json(desc, &err);
        if (!j || !json_is_object(j)) {
            json_decref(j);
            respond_error(r, ROC_EINTERNAL, &err);
        } else {
            json_object_set_new(j, "uri", jstr(uri));
            json_object_set_new(j, "object", jstr(id));
            json_object_set_new(j, "url", jstr(url));
            respond_json(r, 200, j);
        }
    }
out:
    roc_error_clear(&err);
    free(uri);
}

static void do_health(gw_req *r)
{
    roc_error err = ROC_ERROR_INIT;
    roc_ns *ns = NULL;
    int rc = roc_ns_open(&ns, NULL, &err);
    if (rc == 0) {
        roc_ns_set_timeout(ns, 1000);
        rc = roc_ns_ping(ns, &err);
    }
    respond_json(
        r, 200,
        json_pack("{s:s,s:{s:o,s:b,s:o}}", "status", "ok", "ns", "uri",
                  jstr(ns ? roc_ns_uri(ns) : ""), "reachable", rc == 0, "error",
                  rc ? jstr(err.message ? err.message : roc_strerror(rc))
                     : json_null()));
    roc_ns_close(ns);
    roc_error_clear(&err);
}

/* ------------------------------------------------------------ call facts */

/* What a call needs before it is sent — the object's id and endpoint (for
 * ROCNAME:, a name server look-up) and the method's declared parameter
 * types (describe) — kept META_TTL_MS per URI and method, so that a burst
 * of calls asks once. An entry goes when a call through it fails for a
 * reason that may mean it is stale (no such object or method, bad
 * arguments, the endpoint gone). */
#define META_TTL_MS 5000
#define META_MAX 256

typedef struct meta_entry {
    char *uri, *method, *id, *url;
    char **types; /* NULL: not described (yet) */
    size_t ntypes;
    bool typed; /* describe answered and declares the method */
    uint64_t expires_us;
} meta_entry;

static pthread_mutex_t meta_mtx = PTHREAD_MUTEX_INITIALIZER;
static meta_entry *meta[META_MAX];
static size_t meta_n;

static void meta_free(meta_entry *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntypes; i++)
        free(m->types[i]);
    free(m->types);
    free(m->uri);
    free(m->method);
    free(m->id);
    free(m->url);
    free(m);
}

/* The entry for uri and method, copied into a; false when none is fresh.
 * *described says whether its types were asked for. */
static bool meta_get(roc_arena *a, const char *uri, const char *method,
                     const char **id, const char **url, char ***types,
                     size_t *ntypes, bool *typed, bool *described)
{
    bool hit = false;
    uint64_t now = now_us();
    pthread_mutex_lock(&meta_mtx);
    for (size_t i = 0; i < meta_n && !hit; i++) {
        meta_entry *m = meta[i];
        if (strcmp(m->uri, uri) != 0 || strcmp(m->method, method) != 0 ||
            m->expires_us <= now)
            continue;
        *id = roc_arena_strdup(a, m->id);
        *url = roc_arena_strdup(a, m->url);
        *typed = m->typed;
        *described = m->types != NULL || m->typed;
        *ntypes = 0;
        *types = roc_arena_calloc(a, m->ntypes ? m->ntypes : 1, sizeof **types);
        hit = *id && *url && *types;
        for (size_t k = 0; hit && k < m->ntypes; k++)
            hit = ((*types)[k] = roc_arena_strdup(a, m->types[k])) != NULL;
        if (hit)
            *ntypes = m->ntypes;
    }
    pthread_mutex_unlock(&meta_mtx);
    return hit;
}

static void meta_put(const char *uri, const char *method, const char *id,
                     const char *url, char **types, size_t ntypes, bool typed,
                     bool described)
{
    meta_entry *m = calloc(1, sizeof *m);
    bool ok = m && (m->uri = strdup(uri)) && (m->method = strdup(method)) &&
              (m->id = strdup(id)) && (m->url = strdup(url));
    if (ok && described) {
        ok = (m->types = calloc(ntypes ? ntypes : 1, sizeof *m->types)) !=
             NULL;
        for (; ok && m->ntypes < ntypes; m->ntypes++)
            ok = (m->types[m->ntypes] = strdup(types[m->ntypes])) != NULL;
    }
    if (!ok) {
        meta_free(m);
        return;
    }
    m->typed = typed;
    m->expires_us = now_us() + META_TTL_MS * 1000ull;
    pthread_mutex_lock(&meta_mtx);
    meta_entry *old = NULL;
    size_t at = meta_n;
    for (size_t i = 0; i < meta_n; i++)
        if (strcmp(meta[i]->uri, uri) == 0 &&
            strcmp(meta[i]->method, method) == 0)
            at = i;
    if (at == meta_n && meta_n == META_MAX) {
        at = 0; /* full: the one that expires first goes */
        for (size_t i = 1; i < meta_n; i++)
            if (meta[i]->expires_us < meta[at]->expires_us)
                at = i;
    }
    if (at < meta_n)
        old = meta[at];
    else
        meta_n++;
    meta[at] = m;
    pthread_mutex_unlock(&meta_mtx);
    meta_free(old);
}

static void meta_drop(const char *uri)
{
    meta_entry *gone[META_MAX];
    size_t ng = 0;
    pthread_mutex_lock(&meta_mtx);
    size_t k = 0;
    for (size_t i = 0; i < meta_n; i++) {
        if (strcmp(meta[i]->uri, uri) == 0)
            gone[ng++] = meta[i];
        else
            meta[k++] = meta[i];
    }
    meta_n = k;
    pthread_mutex_unlock(&meta_mtx);
    for (size_t i = 0; i < ng; i++)
        meta_free(gone[i]);
}

/* Failures after which what is kept for the URI may be stale. */
static bool meta_stale(int rc)
{
    return rc == ROC_ENOOBJ || rc == ROC_ENOMETHOD || rc == ROC_EBADARGS ||
           rc == ROC_ECONNREFUSED || rc == ROC_EUNREACHABLE ||
           rc == ROC_ECLOSED || rc == ROC_ENOTFOUND;
}

static void call_done(roc_future *f, void *arg)
{
    gw_req *r = arg;
    roc_arena *a = NULL;
    roc_error err = ROC_ERROR_INIT;
    roc_value *res = NULL;
    int rc = roc_arena_new(&a);
    if (rc == 0)
        rc = roc_future_result(f, &res, a, &err);
    double secs = (double)(now_us() - r->t0) / 1e6;
    gwm_call(r->series, rc, rc ? type_of(rc, &err) : NULL, secs);
    gwm_inflight(-1);
    if (rc && meta_stale(rc))
        meta_drop(r->pe->uri);
    pool_put(r->pe);
    roc_future_free(f); /* safe here: the pending's reference is held */
    char *s = NULL;
    if (rc) {
        respond_error(r, rc, &err);
    } else if ((rc = roc_value_to_json(res, 0, &s, &err)) != 0) {
        respond_fail(r, 502, "gateway.BadResult",
                     "the result has no JSON form: %s",
                     err.message ? err.message : roc_strerror(rc));
    } else {
        size_t n = strlen(s);
        char *body = malloc(n + 12);
        if (!body) {
            respond_fail(r, 500, "roc.Internal", "out of memory");
        } else {
            memcpy(body, "{\"result\":", 10);
            memcpy(body + 10, s, n);
            memcpy(body + 10 + n, "}", 2);
            respond_full(r, 200, "application/json", body, n + 11, false, NULL);
            free(body);
        }
    }
    free(s);
    roc_error_clear(&err);
    roc_arena_free(a);
}

static void do_call(gw_req *r, roc_arena *a)
{
    roc_error err = ROC_ERROR_INIT;
    roc_value *req = NULL;
    int rc = roc_value_from_json(a, r->body, &req, &err);
    const char *uri, *method, *id, *url;
    size_t len;
    if (rc) {
        respond_fail(r, 400, "gateway.BadRequest", "the body is not JSON: %s",
                     err.message ? err.message : roc_strerror(rc));
        goto out;
    }
    if (req->type != ROC_MAP) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "the body must be a JSON object {\"uri\", \"method\", "
                     "\"args\", \"timeout_ms\"}");
        goto out;
    }
    const roc_value *vargs = roc_value_map_get(req, "args");
    const roc_value *vto = roc_value_map_get(req, "timeout_ms");
    if (roc_value_get_str(roc_value_map_get(req, "uri"), &uri, &len) != 0 ||
        strlen(uri) != len || !len) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "\"uri\" must be a string (ROC:id@url, ROCNAME:name, "
                     "ROCMETA:tags)");
        goto out;
    }
    if (roc_value_get_str(roc_value_map_get(req, "method"), &method, &len) !=
            0 ||
        strlen(method) != len || !roc_id_valid(method) || len > 255) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "\"method\" must be a method name ([A-Za-z0-9_.:-]+)");
        goto out;
    }
    if (vargs && vargs->type != ROC_ARRAY && vargs->type != ROC_NIL) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "\"args\" must be an array of JSON values");
        goto out;
    }
    int64_t tmo = cfg.timeout_ms;
    if (vto && vto->type != ROC_NIL &&
        (roc_value_get_int(vto, &tmo) != 0 || tmo < 1 ||
         tmo > MAX_CALL_TIMEOUT_MS)) {
        respond_fail(r, 400, "gateway.BadRequest",
                     "\"timeout_ms\" must be an integer from 1 to %d",
                     MAX_CALL_TIMEOUT_MS);
        goto out;
    }
    roc_uri pu;
    if ((rc = roc_uri_parse(a, uri, &pu, &err)) != 0) {
        respond_error(r, rc, &err);
        goto out;
    }
    char **types = NULL;
    size_t ntypes = 0;
    bool typed = false, described = false;
    bool want_types = vargs && vargs->type == ROC_ARRAY && vargs->u.array.len;
    bool cached = meta_get(a, uri, method, &id, &url, &types, &ntypes, &typed,
                           &described);
    if (!cached &&
        (rc = jsonargs_resolve(a, uri, cfg.meta_ms, &id, &url, &err)) != 0) {
        respond_error(r, rc, &err);
        goto out;
    }
    if (!allowed(id, pu.kind == ROC_URI_NAME ? pu.id : NULL, method)) {
        respond_fail(r, 403, "roc.Unauthorized",
                     "%s.%s is not callable through this gateway (see its "
                     "--allow patterns)",
                     id, method);
        goto out;
    }

    /* JSON cannot tell 1 from 1.0 for an f64, nor bytes from text: convert
     * toward the declared types, as `roc call` does */
    roc_value *args = roc_value_array(
        a, vargs && vargs->type == ROC_ARRAY ? vargs->u.array.len : 0);
    if (!args) {
        respond_fail(r, 500, "roc.Internal", "out of memory");
        goto out;
    }
    if (want_types && !described) {
        roc_value *desc = NULL;
        roc_value *dargs = roc_value_arrayv(a, 1, roc_value_str(a, id));
        typed = dargs &&
                jsonargs_daemon_call(url, "describe", dargs, cfg.meta_ms,
                                     &desc, a, NULL) == 0 &&
                jsonargs_param_types(a, desc, method, &types, &ntypes);
        described = true;
        cached = false; /* keep the types too */
    }
    if (!cached)
        meta_put(uri, method, id, url, types, ntypes, typed, described);
    if (want_types) {
        for (size_t k = 0; k < vargs->u.array.len; k++) {
            args->u.array.items[k] = vargs->u.array.items[k];
            jsonargs_convert(a, &args->u.array.items[k],
                             typed && k < ntypes ? types[k] : NULL);
        }
    }

    if ((rc = pool_get(uri, url, &r->pe, &err)) != 0) {
        respond_error(r, rc, &err);
        goto out;
    }
    r->series = gwm_series(id, method);
    r->t0 = now_us();
    roc_call_opts opts = {.timeout_ms = (int)tmo};
    roc_future *f = NULL;
    rc = roc_proxy_call_async(r->pe->p, method, args, &opts, &f, &err);
    if (rc) {
        gwm_call(r->series, rc, type_of(rc, &err),
                 (double)(now_us() - r->t0) / 1e6);
        pool_put(r->pe);
        respond_error(r, rc, &err);
        goto out;
    }
    gwm_inflight(1);
    roc_future_on_complete(f, call_done, r); /* r belongs to call_done now */
out:
    roc_error_clear(&err);
}

/* ------------------------------------------------------------ workers */

static pthread_mutex_t q_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static gw_req *q_head, *q_tail;
static bool q_stop;

static void enqueue(gw_req *r)
{
    pthread_mutex_lock(&q_mtx);
    r->next = NULL;
    if (q_tail)
        q_tail->next = r;
    else
        q_head = r;
    q_tail = r;
    pthread_cond_signal(&q_cv);
    pthread_mutex_unlock(&q_mtx);
}

static void *worker(void *arg)
{
    (void)arg;
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&q_mtx);
        while (!q_head && !q_stop)
            pthread_cond_wait(&q_cv, &q_mtx);
        gw_req *r = q_head;
        if (r) {
            q_head = r->next;
            if (!q_head)
                q_tail = NULL;
        }
        pthread_mutex_unlock(&q_mtx);
        if (!r)
            break;
        switch (r->ep) {
        case EP_NAMES:
            do_names(r, a);
            break;
        case EP_OBJECTS:
            do_objects(r, a);
            break;
        case EP_DESCRIBE:
            do_describe(r, a);
            break;
        case EP_HEALTH:
            do_health(r);
            break;
        case EP_CALL:
            do_call(r, a);
            break;
        default:
            respond_fail(r, 500, "roc.Internal", "no worker for this path");
        }
        roc_arena_reset(a);
    }
    roc_arena_free(a);
    return NULL;
}

/* ------------------------------------------------------------ HTTP */

static void body_done(void *arg)
{
    gw_req *r = arg;
    int rv = nng_aio_result(r->body_aio);
    if (rv != 0 || nng_aio_count(r->body_aio) != r->body_len) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "{\"error\":{\"type\":\"gateway.BadRequest\",\"message\":"
                 "\"could not read the body: %s\",\"data\":null}}",
                 rv ? nng_strerror(rv) : "short");
        respond_full(r, 400, "application/json", msg, strlen(msg), true, NULL);
        return;
    }
    r->body[r->body_len] = 0;
    enqueue(r);
}

/* The path part of a request target, without its query, in buf. */
static void target_path(const char *target, char *buf, size_t len)
{
    size_t n = strcspn(target, "?#");
    if (n >= len)
        n = len - 1;
    memcpy(buf, target, n);
    buf[n] = 0;
}

static void api_cb(nng_aio *aio)
{
    nng_http_req *hreq = nng_aio_get_input(aio, 0);
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    nng_http_conn *conn = nng_aio_get_input(aio, 2);
    gw_req *r = calloc(1, sizeof *r);
    if (!r || !(r->target = strdup(nng_http_req_get_uri(hreq)))) {
        free(r);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    r->aio = aio;
    r->ep = *(const endpoint *)nng_http_handler_get_data(h);
    r->series = -1;
    const char *m = nng_http_req_get_method(hreq);

    if (r->ep == EP_API_OTHER) {
        char path[256];
        target_path(r->target, path, sizeof path);
        respond_fail(r, 404, "gateway.NotFound", "no such endpoint: %s", path);
        return;
    }
    if (r->ep != EP_CALL) {
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
            static const char b[] = "{\"error\":{\"type\":\"gateway."
                                    "MethodNotAllowed\",\"message\":\"use GET"
                                    "\",\"data\":null}}";
            respond_full(r, 405, "application/json", b, sizeof b - 1, false,
                         "GET, HEAD");
            return;
        }
        if (r->ep == EP_METRICS) {
            size_t np, ne, len = 0;
            pool_counts(&np, &ne);
            char *text = gwm_render(np, ne, &len);
            if (!text) {
                respond_fail(r, 500, "roc.Internal", "out of memory");
                return;
            }
            respond_full(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                         text, len, false, NULL);
            free(text);
            return;
        }
        enqueue(r);
        return;
    }

    /* POST /api/call: the body is read here, not collected by nng, so that
     * a body too large is answered 413 with JSON, before it is read */
    if (strcmp(m, "POST") != 0) {
        static const char b[] = "{\"error\":{\"type\":\"gateway."
                                "MethodNotAllowed\",\"message\":\"use POST "
                                "with a JSON body\",\"data\":null}}";
        respond_full(r, 405, "application/json", b, sizeof b - 1, true, "POST");
        return;
    }
    const char *te = nng_http_req_get_header(hreq, "Transfer-Encoding");
    const char *cl = nng_http_req_get_header(hreq, "Content-Length");
    const char *ct = nng_http_req_get_header(hreq, "Content-Type");
    char *end = NULL;
    errno = 0;
    unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
    if (te || !cl || errno || end == cl || *end) {
        static const char b[] =
            "{\"error\":{\"type\":\"gateway.LengthRequired\",\"message\":"
            "\"send the body with a Content-Length (no chunked "
            "encoding)\",\"data\":null}}";
        respond_full(r, 411, "application/json", b, sizeof b - 1, true, NULL);
        return;
    }
    if (n > cfg.max_body) {
        char b[200];
        snprintf(b, sizeof b,
                 "{\"error\":{\"type\":\"roc.MessageTooLarge\",\"message\":"
                 "\"the body has %llu bytes; at most %zu are taken\","
                 "\"data\":null}}",
                 n, cfg.max_body);
        respond_full(r, 413, "application/json", b, strlen(b), true, NULL);
        return;
    }
    /* application/json only: a cross-site form or a "simple" fetch cannot
     * send it without a CORS preflight, which the gateway never grants */
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        static const char b[] = "{\"error\":{\"type\":\"gateway."
                                "UnsupportedMediaType\",\"message\":\"send "
                                "Content-Type: application/json\",\"data\":"
                                "null}}";
        respond_full(r, 415, "application/json", b, sizeof b - 1, true, NULL);
        return;
    }
    if (n == 0) {
        respond_fail(r, 400, "gateway.BadRequest", "the body is empty");
        return;
    }
    r->body_len = (size_t)n;
    r->body = malloc(r->body_len + 1);
    if (!r->body || nng_aio_alloc(&r->body_aio, body_done, r) != 0) {
        respond_fail(r, 500, "roc.Internal", "out of memory");
        return;
    }
    nng_iov iov = {r->body, r->body_len};
    nng_aio_set_iov(r->body_aio, 1, &iov);
    nng_aio_set_timeout(r->body_aio, BODY_READ_TIMEOUT_MS);
    nng_http_conn_read_all(conn, r->body_aio);
}

/* ------------------------------------------------------------ main */

static int usage(FILE *f, int status)
{
    fprintf(
        f,
        "usage: roc-gateway [--listen URL] [--ns URL] [--allow PATTERN]...\n"
        "                   [--timeout MS] [--key-file F] [--tls-cert F]\n"
        "                   [--roc-tls-ca F] [--roc-tls-cert F] "
        "[--roc-tls-server-name NAME]\n"
        "                   [--console DIR] [--max-body BYTES] [--threads N]\n"
        "\n"
        "  --listen URL     http://HOST:PORT or https://HOST:PORT (default "
        "%s;\n"
        "                   port 0 picks a free port)\n"
        "  --ns URL         the name server (else $ROC_NS, else %s)\n"
        "  --allow PATTERN  objects callable through POST /api/call: OBJECT "
        "or\n"
        "                   OBJECT/METHOD, shell globs on the object id or "
        "name;\n"
        "                   repeatable. Without it only the read-only "
        "methods of\n"
        "                   roc.daemon and roc.ns are callable.\n"
        "  --timeout MS     default deadline of a call (10000)\n"
        "  --key-file F     pre-shared key for daemons that ask for one\n"
        "  --tls-cert F     certificate and key (one PEM file) for https\n"
        "  --roc-tls-ca F, --roc-tls-cert F, --roc-tls-server-name NAME\n"
        "                   TLS for outgoing tls+tcp:// and wss:// calls\n"
        "  --console DIR    the console's files (default: the installed "
        "ones)\n"
        "  --max-body BYTES largest POST body taken (1048576)\n"
        "  --threads N      workers for look-ups (16)\n",
        DEFAULT_LISTEN, ROC_NS_DEFAULT_URL);
    return status;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static long num_arg(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return lo - 1;
    return v;
}

/* nng 1.5.2's HTTP server turns Nagle's algorithm on for every connection
 * it accepts and has no option of its own to change that: a kept-alive
 * https answer (nng's TLS writes the head and the body as two records)
 * then waits for the client's delayed ACK, ~40 ms. A websocket listener on
 * the same URL shares nng's server (nng keeps one per host and port) and
 * passes options it does not know to the server's TCP listener: set
 * through it before the server starts, TCP_NODELAY reaches every accepted
 * connection. The listener itself never listens. */
static nng_stream_listener *nodelay_via_ws(const char *listen_url)
{
    const char *rest = strstr(listen_url, "://");
    if (!rest)
        return NULL;
    char ws[512];
    int n = snprintf(ws, sizeof ws, "ws://%s", rest + 3);
    if (n < 0 || (size_t)n >= sizeof ws)
        return NULL;
    char *path = strchr(ws + 5, '/');
    if (path)
        *path = 0; /* host:port only */
    nng_stream_listener *l = NULL;
    if (nng_stream_listener_alloc(&l, ws) != 0)
        return NULL;
    if (nng_stream_listener_set_bool(l, NNG_OPT_TCP_NODELAY, true) != 0) {
        nng_stream_listener_free(l);
        return NULL;
    }
    return l;
}

int main(int argc, char **argv)
{
    const char *key_file = NULL, *tls_cert = NULL;
    roc_tls_opts rtls = {0};
    bool rtls_set = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
            return usage(stdout, 0);
        if (!v) {
            fprintf(stderr,
                    "roc-gateway: unknown option or missing value: "
                    "%s\n",
                    o);
            return usage(stderr, 2);
        }
        i++;
        if (strcmp(o, "--listen") == 0) {
            cfg.listen = v;
        } else if (strcmp(o, "--ns") == 0) {
            setenv("ROC_NS", v, 1); /* for roc_ns_open and ROCNAME: */
        } else if (strcmp(o, "--allow") == 0) {
            if (cfg.n_allow == MAX_ALLOW || strlen(v) >= 500) {
                fprintf(stderr, "roc-gateway: too many or too long --allow\n");
                return 2;
            }
            cfg.allow[cfg.n_allow++] = v;
        } else if (strcmp(o, "--timeout") == 0) {
            long t = num_arg(v, 1, MAX_CALL_TIMEOUT_MS);
            if (t < 1) {
                fprintf(stderr, "roc-gateway: bad --timeout '%s'\n", v);
                return 2;
            }
            cfg.timeout_ms = (int)t;
        } else if (strcmp(o, "--key-file") == 0) {
            key_file = v;
        } else if (strcmp(o, "--tls-cert") == 0) {
            tls_cert = v;
        } else if (strcmp(o, "--roc-tls-ca") == 0) {
            rtls.ca_file = v;
            rtls_set = true;
        } else if (strcmp(o, "--roc-tls-cert") == 0) {
            rtls.cert_key_file = v;
            rtls_set = true;
        } else if (strcmp(o, "--roc-tls-server-name") == 0) {
            rtls.server_name = v;
            rtls_set = true;
        } else if (strcmp(o, "--console") == 0) {
            cfg.console = v;
        } else if (strcmp(o, "--max-body") == 0) {
            long b = num_arg(v, 2, 64L << 20);
            if (b < 2) {
                fprintf(stderr, "roc-gateway: bad --max-body '%s'\n", v);
                return 2;
            }
            cfg.max_body = (size_t)b;
        } else if (strcmp(o, "--threads") == 0) {
            long t = num_arg(v, 1, 256);
            if (t < 1) {
                fprintf(stderr, "roc-gateway: bad --threads '%s'\n", v);
                return 2;
            }
            cfg.threads = (int)t;
        } else {
            fprintf(stderr, "roc-gateway: unknown option: %s\n", o);
            return usage(stderr, 2);
        }
    }
    bool https = strncasecmp(cfg.listen, "https://", 8) == 0;
    if (!https && strncasecmp(cfg.listen, "http://", 7) != 0) {
        fprintf(stderr, "roc-gateway: --listen takes http:// or https://\n");
        return 2;
    }
    if (https != (tls_cert != NULL)) {
        fprintf(stderr, "roc-gateway: an https:// --listen URL and "
                        "--tls-cert go together\n");
        return 2;
    }
    if (!cfg.console) {
        const char *env = getenv("ROC_GATEWAY_CONSOLE");
        cfg.console = is_dir(env) ? env
                      : is_dir(ROC_GATEWAY_CONSOLE_INSTALLED)
                          ? ROC_GATEWAY_CONSOLE_INSTALLED
                          : ROC_GATEWAY_CONSOLE_SOURCE;
    }

    roc_error err = ROC_ERROR_INIT;
    if (key_file && roc_client_set_key_file(key_file, &err) != 0) {
        fprintf(stderr, "roc-gateway: --key-file: %s\n", err.message);
        return 1;
    }
    if (rtls_set && roc_client_set_tls(&rtls, &err) != 0) {
        fprintf(stderr, "roc-gateway: TLS for ROC calls: %s\n", err.message);
        return 1;
    }

    /* signals are taken by sigwait below, in no other thread */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    gwm_init();

    nng_url *url = NULL;
    nng_http_server *srv = NULL;
    int rv = nng_url_parse(&url, cfg.listen);
    if (rv == 0)
        rv = nng_http_server_hold(&srv, url);
    if (rv != 0) {
        fprintf(stderr, "roc-gateway: %s: %s\n", cfg.listen, nng_strerror(rv));
        nng_url_free(url);
        return 1;
    }
    if (https) {
        nng_tls_config *tc = NULL;
        rv = nng_tls_config_alloc(&tc, NNG_TLS_MODE_SERVER);
        if (rv == 0)
            rv = nng_tls_config_cert_key_file(tc, tls_cert, NULL);
        if (rv == 0)
            rv = nng_http_server_set_tls(srv, tc);
        if (tc)
            nng_tls_config_free(tc);
        if (rv != 0) {
            fprintf(stderr, "roc-gateway: --tls-cert %s: %s\n", tls_cert,
                    nng_strerror(rv));
            nng_http_server_release(srv);
            nng_url_free(url);
            return 1;
        }
    }
    /* nng dispatches to the first handler that matches, in the order
     * added: the exact API paths, then /api/ as a tree (a JSON 404), then
     * the console's directory for everything else */
    for (int k = 0; k < EP_COUNT && rv == 0; k++) {
        nng_http_handler *h = NULL;
        rv = nng_http_handler_alloc(&h, ep_path[k], api_cb);
        if (rv == 0)
            rv = nng_http_handler_set_method(h, NULL); /* 405 is ours */
        if (rv == 0)
            rv = nng_http_handler_set_data(h, (void *)&ep_ids[k], NULL);
        if (rv == 0 && k == EP_CALL)
            rv = nng_http_handler_collect_body(h, false, 0);
        else if (rv == 0)
            rv = nng_http_handler_collect_body(h, true, 65536);
        if (rv == 0 && k == EP_API_OTHER)
            rv = nng_http_handler_set_tree(h);
        if (rv == 0)
            rv = nng_http_server_add_handler(srv, h);
        if (rv != 0 && h)
            nng_http_handler_free(h);
    }
    if (rv == 0 && is_dir(cfg.console)) {
        nng_http_handler *h = NULL;
        rv = nng_http_handler_alloc_directory(&h, "/", cfg.console);
        if (rv == 0)
            rv = nng_http_handler_set_tree(h);
        if (rv == 0)
            rv = nng_http_server_add_handler(srv, h);
        if (rv != 0 && h)
            nng_http_handler_free(h);
    } else if (rv == 0) {
        fprintf(stderr,
                "roc-gateway: no console at %s: serving the API "
                "only\n",
                cfg.console);
    }
    nng_stream_listener *nodelay = NULL;
    if (rv == 0) {
        nodelay = nodelay_via_ws(cfg.listen);
        if (!nodelay)
            fprintf(stderr, "roc-gateway: warning: cannot turn Nagle's "
                            "algorithm off (kept-alive https answers may "
                            "wait ~40 ms)\n");
        rv = nng_http_server_start(srv);
    }
    if (rv != 0) {
        fprintf(stderr, "roc-gateway: cannot serve %s: %s\n", cfg.listen,
                nng_strerror(rv));
        nng_http_server_release(srv);
        nng_url_free(url);
        return 1;
    }
    nng_sockaddr sa;
    int port = atoi(url->u_port);
    if (nng_http_server_get_addr(srv, &sa) == 0 && sa.s_family == NNG_AF_INET)
        port = ntohs(sa.s_in.sa_port);
    else if (nng_http_server_get_addr(srv, &sa) == 0 &&
             sa.s_family == NNG_AF_INET6)
        port = ntohs(sa.s_in6.sa_port);

    printf("%s://%s:%d\n", https ? "https" : "http", url->u_hostname, port);
    fflush(stdout);

    pthread_t *th = calloc((size_t)cfg.threads, sizeof *th);
    int started = 0;
    while (th && started < cfg.threads &&
           pthread_create(&th[started], NULL, worker, NULL) == 0)
        started++;
    if (started == 0) {
        fprintf(stderr, "roc-gateway: cannot start worker threads\n");
        nng_http_server_release(srv);
        nng_url_free(url);
        return 1;
    }
    fprintf(stderr,
            "roc-gateway: serving %s://%s:%d (console %s, name server %s, "
            "%zu --allow pattern%s)\n",
            https ? "https" : "http", url->u_hostname, port, cfg.console,
            roc_ns_default_url(), cfg.n_allow, cfg.n_allow == 1 ? "" : "s");

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "roc-gateway: signal %d, stopping\n", sig);

    /* stop taking requests, let the workers drain the queue, wait for the
     * calls in flight (each has a deadline), then close */
    nng_http_server_stop(srv);
    pthread_mutex_lock(&q_mtx);
    q_stop = true;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mtx);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    free(th);
    for (;;) {
        size_t busy = 0;
        pthread_mutex_lock(&pool_mtx);
        for (size_t k = 0; k < pool_n; k++)
            busy += (size_t)pool[k]->refs;
        pthread_mutex_unlock(&pool_mtx);
        if (!busy)
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL); /* calls in flight end by their deadlines */
    }
    if (nodelay)
        nng_stream_listener_free(nodelay);
    nng_http_server_release(srv);
    nng_url_free(url);
    pool_close_all();
    gwm_fini();
    return 0;
}
