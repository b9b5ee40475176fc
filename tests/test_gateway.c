/* roc-gateway (gateway/gateway.c) over real HTTP, through libcurl: a real
 * roc-gateway process in front of a real roc-ns, echo-server and
 * calc-server. Every endpoint, the JSON mapping through /api/call, the
 * allow-list, the HTTP statuses of errors, bad requests, /metrics, the
 * console's files, 200 concurrent clients and slow calls that hold up
 * nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include <roc/roc.h>

#include "testutil.h"

typedef struct proc {
    pid_t pid;
    int out;
    char line[600]; /* the first line it printed */
    char url[600];  /* after '@' */
} proc;

static proc ns, echo, calc, gw;
static proc gws; /* test_gateway_https's gateway */
static char G[600]; /* http://127.0.0.1:PORT */

static void proc_start(proc *p, char *const argv[])
{
    memset(p, 0, sizeof *p);
    p->pid = tu_spawn(argv, &p->out);
    assert_true(p->pid > 0);
    if (tu_read_line(p->out, p->line, sizeof p->line, 10000) != 0)
        fail_msg("%s did not print its URI", argv[0]);
    const char *at = strchr(p->line, '@');
    snprintf(p->url, sizeof p->url, "%s", at ? at + 1 : p->line);
}

static void proc_stop(proc *p)
{
    assert_int_equal(tu_stop(p->pid), 0);
    close(p->out);
}

/* ------------------------------------------------------------ HTTP */

typedef struct buf {
    char *p;
    size_t len;
} buf;

static size_t on_data(char *d, size_t sz, size_t n, void *arg)
{
    buf *b = arg;
    char *q = realloc(b->p, b->len + sz * n + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, d, sz * n);
    b->len += sz * n;
    q[b->len] = 0;
    b->p = q;
    return sz * n;
}

typedef struct resp {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    char ctype[128];
} resp;

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

static CURL *easy(const char *method, const char *path, const char *ctype,
                  const char *body, size_t body_len, buf *out,
                  struct curl_slist **hdrs)
{
    CURL *c = curl_easy_init();
    char url[2048];
    snprintf(url, sizeof url, "%s%s", G, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    *hdrs = curl_slist_append(NULL, "Expect:");
    if (ctype) {
        char h[160];
        snprintf(h, sizeof h, "Content-Type: %s", ctype);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    return c;
}

static resp http(const char *method, const char *path, const char *ctype,
                 const char *body)
{
    buf b = {NULL, 0};
    struct curl_slist *h = NULL;
    CURL *c = easy(method, path, ctype, body, body ? strlen(body) : 0, &b, &h);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    resp r = {0, b.p ? b.p : strdup(""), ""};
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return r;
}

static resp get(const char *path)
{
    return http("GET", path, NULL, NULL);
}

/* POST /api/call with a JSON body built from fmt. */
static resp call(const char *fmt, ...) ROC_PRINTF(1, 2);
static resp call(const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return http("POST", "/api/call", "application/json", body);
}

static void expect_(const resp *r, long st, const char *sub, int line)
{
    if (r->status != st || (sub && !strstr(r->body, sub)))
        fail_msg("line %d: status %ld (want %ld), body: %s", line, r->status,
                 st, r->body);
}
#define expect(r, st, sub) expect_(&(r), (st), (sub), __LINE__)

/* ------------------------------------------------------------ fixture */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char nsb[1024], eb[1024], cb[1024], gb[1024];
    tu_bin("nameserver/roc-ns", nsb, sizeof nsb);
    tu_bin("examples/echo/echo-server", eb, sizeof eb);
    tu_bin("examples/calculator/calc-server", cb, sizeof cb);
    tu_bin("gateway/roc-gateway", gb, sizeof gb);
    char *nsv[] = {nsb, "--url", "tcp://127.0.0.1:0", "--log", "warn", NULL};
    proc_start(&ns, nsv);
    char *ev[] = {eb, "tcp://127.0.0.1:0", NULL};
    proc_start(&echo, ev);
    char *cv[] = {cb, "tcp://127.0.0.1:0", NULL};
    proc_start(&calc, cv);

    roc_ns *c = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_ns_open(&c, ns.url, &err), 0);
    const char *et[] = {"echo", "demo"}, *ct[] = {"calc", "demo"};
    assert_int_equal(roc_ns_register(c, "demo.echo", echo.line, et, 2, 0, &err),
                     0);
    assert_int_equal(roc_ns_register(c, "demo.calc", calc.line, ct, 2, 0, &err),
                     0);
    roc_ns_close(c);

    char *gv[] = {gb,        "--listen", "http://127.0.0.1:0",
                  "--ns",    ns.url,     "--allow",
                  "echo",    "--allow",  "demo.calc/divide",
                  "--allow", "missing",  "--timeout",
                  "5000",    NULL};
    proc_start(&gw, gv);
    snprintf(G, sizeof G, "%s", gw.line);
    assert_non_null(strstr(G, "http://127.0.0.1:"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    proc_stop(&gw); /* exit status 0: a clean stop */
    proc_stop(&calc);
    proc_stop(&echo);
    proc_stop(&ns);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_gateway_names(void **state)
{
    (void)state;
    resp r = get("/api/names");
    expect(r, 200, "\"name\":\"demo.calc\"");
    assert_non_null(strstr(r.body, "\"name\":\"demo.echo\""));
    assert_non_null(strstr(r.body, echo.line));
    assert_string_equal(r.ctype, "application/json");
    resp_free(&r);
    r = get("/api/names?prefix=demo.c");
    expect(r, 200, "demo.calc");
    assert_null(strstr(r.body, "demo.echo"));
    resp_free(&r);
    r = get("/api/names?meta=echo");
    expect(r, 200, "\"meta\":[\"echo\",\"demo\"]");
    assert_null(strstr(r.body, "demo.calc"));
    resp_free(&r);
    r = get("/api/names?meta=echo,calc&any=1");
    expect(r, 200, "demo.calc");
    assert_non_null(strstr(r.body, "demo.echo"));
    resp_free(&r);
    r = get("/api/names?regex=%5Edemo%5C.e"); /* ^demo\.e */
    expect(r, 200, "demo.echo");
    assert_null(strstr(r.body, "demo.calc"));
    resp_free(&r);
    r = get("/api/names?regex=(");
    expect(r, 400, "roc.BadArguments");
    resp_free(&r);
    r = get("/api/names?prefix=a&meta=b");
    expect(r, 400, "gateway.BadRequest");
    resp_free(&r);
}

static void test_gateway_objects_describe(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "/api/objects?daemon=%s", echo.url);
    resp r = get(path);
    expect(r, 200, "\"objects\":[\"echo\",\"roc.daemon\"]");
    resp_free(&r);
    r = get("/api/objects?daemon=ROCNAME:demo.calc"); /* a URI's daemon */
    expect(r, 200, "\"calc\"");
    resp_free(&r);
    r = get("/api/objects");
    expect(r, 400, "daemon=URL is required");
    resp_free(&r);
    r = get("/api/objects?daemon=nope://x");
    expect(r, 400, "\"type\":\"gateway.BadRequest\"");
    resp_free(&r);
    r = get("/api/objects?daemon=tcp://127.0.0.1:1");
    expect(r, 502, "gateway.ConnectionRefused");
    resp_free(&r);

    r = get("/api/describe?uri=ROCNAME:demo.calc");
    expect(r, 200, "\"interface\":\"demo.Calculator\"");
    assert_non_null(strstr(r.body, "\"params\":\"f64 a, f64 b\""));
    assert_non_null(strstr(r.body, "exception DivideByZero")); /* the IDL */
    assert_non_null(strstr(r.body, "\"object\":\"calc\""));
    resp_free(&r);
    r = get("/api/describe?uri=ROCNAME:not.there");
    expect(r, 404, "roc.naming.NotFound");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/describe?uri=ROC:ghost@%s", echo.url);
    r = get(path);
    expect(r, 404, "roc.NoSuchObject");
    resp_free(&r);
    r = get("/api/describe?uri=garbage");
    expect(r, 400, "gateway.BadRequest");
    resp_free(&r);
}

/* Values through echo come back as the same JSON text (docs/json.md). */
static void test_gateway_call_json_mapping(void **state)
{
    (void)state;
    static const char *const values[] = {
        "null",
        "true",
        "-9223372036854775808",
        "9223372036854775807",
        "{\"$u64\":\"18446744073709551615\"}",
        "0.1",
        "-0.0",
        "1e-300",
        "\"h\xc3\xa9llo \\\"q\\\" \\u0000 end\"",
        "{\"$bytes\":\"AAEC/w==\"}",
        "{\"$ref\":\"ROC:calc@tcp://127.0.0.1:9\"}",
        "[1,\"x\",[],{}]",
        "{\"b\":1,\"a\":{\"c\":[null,false]}}",
    };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        resp r = call("{\"uri\":\"%s\",\"method\":\"echo\",\"args\":[%s]}",
                      echo.line, values[i]);
        char want[1024];
        snprintf(want, sizeof want, "{\"result\":%s}", values[i]);
        if (r.status != 200 || strcmp(r.body, want) != 0)
            fail_msg("echo %s: %ld %s", values[i], r.status, r.body);
        resp_free(&r);
    }
    /* an integer too large for i64 without the marker is refused */
    resp r = call("{\"uri\":\"%s\",\"method\":\"echo\",\"args\":"
                  "[18446744073709551615]}",
                  echo.line);
    expect(r, 400, "the body is not JSON");
    resp_free(&r);
    /* JSON integers become floats for f64 parameters (describe) */
    r = call("{\"uri\":\"ROCNAME:demo.calc\",\"method\":\"divide\","
             "\"args\":[1,4]}");
    expect(r, 200, NULL);
    assert_string_equal(r.body, "{\"result\":0.25}");
    resp_free(&r);
    /* through tags, with the default read-only roc.daemon methods */
    r = call("{\"uri\":\"ROCMETA:echo\",\"method\":\"add\",\"args\":[40,2]}");
    expect(r, 200, "{\"result\":42}");
    resp_free(&r);
    r = call("{\"uri\":\"ROC:roc.daemon@%s\",\"method\":\"stats\"}", calc.url);
    expect(r, 200, "\"calls\":");
    resp_free(&r);
}

/* calls handled by calc's daemon so far (roc.daemon.stats, asked directly) */
static uint64_t calc_calls(void)
{
    char uri[700];
    snprintf(uri, sizeof uri, "ROC:roc.daemon@%s", calc.url);
    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_arena_new(&a), 0);
    assert_int_equal(roc_proxy_open(&p, uri, &err), 0);
    roc_value *res = NULL;
    assert_int_equal(roc_proxy_call(p, "stats", NULL, &res, a, &err), 0);
    int64_t n = -1;
    assert_int_equal(roc_value_get_int(roc_value_map_get(res, "calls"), &n),
                     0);
    roc_proxy_close(p);
    roc_arena_free(a);
    return (uint64_t)n;
}

/* A burst of calls with arguments asks describe (and the name server) once,
 * not once per call: what a call needs is kept a few seconds. */
static void test_gateway_call_facts_kept(void **state)
{
    (void)state;
    resp r = call("{\"uri\":\"ROCNAME:demo.calc\",\"method\":\"divide\","
                  "\"args\":[1,4]}");
    expect(r, 200, "{\"result\":0.25}");
    resp_free(&r);
    uint64_t before = calc_calls();
    for (int i = 0; i < 10; i++) {
        r = call("{\"uri\":\"ROCNAME:demo.calc\",\"method\":\"divide\","
                 "\"args\":[3,4]}");
        expect(r, 200, "{\"result\":0.75}");
        resp_free(&r);
    }
    uint64_t delta = calc_calls() - before;
    /* 10 divides and the first stats call; a describe per call would make
     * it 21 */
    if (delta > 12)
        fail_msg("10 calls through the gateway made %llu calls on the "
                 "daemon",
                 (unsigned long long)delta);
}

static void test_gateway_call_error_statuses(void **state)
{
    (void)state;
    resp r = call("{\"uri\":\"ROCNAME:demo.calc\",\"method\":\"divide\","
                  "\"args\":[1,0]}");
    expect(r, 500, "\"type\":\"demo.DivideByZero\"");
    assert_non_null(strstr(r.body, "\"data\":[1.0]"));
    resp_free(&r);
    r = call("{\"uri\":\"%s\",\"method\":\"fail\",\"args\":[\"on purpose\"]}",
             echo.line);
    expect(r, 500,
           "{\"error\":{\"type\":\"echo.Failure\",\"code\":100,"
           "\"message\":\"on purpose\"");
    resp_free(&r);
    r = call("{\"uri\":\"%s\",\"method\":\"nope\"}", echo.line);
    expect(r, 404, "roc.NoSuchMethod");
    resp_free(&r);
    r = call("{\"uri\":\"ROC:missing@%s\",\"method\":\"x\"}", echo.url);
    expect(r, 404, "roc.NoSuchObject");
    resp_free(&r);
    r = call("{\"uri\":\"ROCNAME:not.there\",\"method\":\"x\"}");
    expect(r, 404, "roc.naming.NotFound");
    resp_free(&r);
    r = call("{\"uri\":\"%s\",\"method\":\"echo\",\"args\":[1,2]}", echo.line);
    expect(r, 400, "roc.BadArguments");
    resp_free(&r);
    r = call("{\"uri\":\"%s\",\"method\":\"sleep\",\"args\":[5000],"
             "\"timeout_ms\":100}",
             echo.line);
    expect(r, 504, "roc.Timeout");
    resp_free(&r);
    r = call("{\"uri\":\"ROC:echo@tcp://127.0.0.1:1\",\"method\":\"echo\","
             "\"args\":[1]}");
    expect(r, 502, "gateway.ConnectionRefused");
    resp_free(&r);
    /* the allow list: demo.calc/divide only; roc.ns changes never */
    r = call(
        "{\"uri\":\"ROCNAME:demo.calc\",\"method\":\"add\",\"args\":[1,2]}");
    expect(r, 403, "roc.Unauthorized");
    resp_free(&r);
    r = call("{\"uri\":\"%s\",\"method\":\"add\",\"args\":[1,2]}", calc.line);
    expect(r, 403, "calc.add is not callable");
    resp_free(&r);
    r = call("{\"uri\":\"ROC:roc.ns@%s\",\"method\":\"remove\",\"args\":"
             "[\"\",1]}",
             ns.url);
    expect(r, 403, "roc.Unauthorized");
    resp_free(&r);
    r = call("{\"uri\":\"ROC:roc.ns@%s\",\"method\":\"count\"}", ns.url);
    expect(r, 200, "{\"result\":2}");
    resp_free(&r);
    r = call("{\"uri\":\"ROC:roc.daemon@%s\",\"method\":\"shutdown\"}",
             echo.url);
    expect(r, 403, "roc.Unauthorized");
    resp_free(&r);
}

static void test_gateway_bad_requests(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *sub;
    } bad[] = {
        {"{\"uri\":", "the body is not JSON"},
        {"\xff", "the body is not JSON"},
        {"[1]", "must be a JSON object"},
        {"{\"method\":\"echo\"}", "must be a string"},
        {"{\"uri\":5,\"method\":\"echo\"}", "must be a string"},
        {"{\"uri\":\"ROCNAME:demo.echo\"}", "must be a method name"},
        {"{\"uri\":\"ROCNAME:demo.echo\",\"method\":\"a b\"}",
         "must be a method name"},
        {"{\"uri\":\"ROCNAME:demo.echo\",\"method\":\"echo\",\"args\":5}",
         "must be an array"},
        {"{\"uri\":\"ROCNAME:demo.echo\",\"method\":\"echo\",\"args\":[1],"
         "\"timeout_ms\":0}",
         "must be an integer from 1"},
        {"{\"uri\":\"ROCNAME:demo.echo\",\"method\":\"echo\",\"args\":[1],"
         "\"timeout_ms\":\"x\"}",
         "must be an integer from 1"},
        {"{\"uri\":\"nope\",\"method\":\"echo\"}", "gateway.BadRequest"},
        {"{\"a\":1,\"a\":2}", "the body is not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = http("POST", "/api/call", "application/json", bad[i].body);
        if (r.status != 400 || !strstr(r.body, bad[i].sub) ||
            !strstr(r.body, "{\"error\":"))
            fail_msg("%s: %ld %s", bad[i].body, r.status, r.body);
        resp_free(&r);
    }
    /* a body larger than --max-body (1 MiB): 413 before it is read */
    size_t n = 3u << 20;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, ' ', n);
    huge[n] = 0;
    resp r = http("POST", "/api/call", "application/json", huge);
    free(huge);
    expect(r, 413, "roc.MessageTooLarge");
    resp_free(&r);
    r = http("POST", "/api/call", "text/plain", "{}");
    expect(r, 415, "application/json");
    resp_free(&r);
    r = http("POST", "/api/call", "application/json", "");
    expect(r, 400, "empty");
    resp_free(&r);
    r = get("/api/call");
    expect(r, 405, "gateway.MethodNotAllowed");
    resp_free(&r);
    r = http("DELETE", "/api/names", NULL, NULL);
    expect(r, 405, "gateway.MethodNotAllowed");
    resp_free(&r);
    r = http("PUT", "/metrics", "application/json", "{}");
    expect(r, 405, "gateway.MethodNotAllowed");
    resp_free(&r);
    r = get("/api/nothing/here");
    expect(r, 404, "no such endpoint: /api/nothing/here");
    assert_string_equal(r.ctype, "application/json");
    resp_free(&r);
    r = get("/no-such-file.html");
    expect(r, 404, NULL);
    resp_free(&r);
    /* and it keeps serving */
    r = get("/api/health");
    expect(r, 200, "\"reachable\":true");
    resp_free(&r);
}

static void test_gateway_console_files(void **state)
{
    (void)state;
    resp r = get("/");
    expect(r, 200, "<title>ROC console</title>");
    assert_non_null(strstr(r.ctype, "text/html"));
    resp_free(&r);
    r = get("/app.js");
    expect(r, 200, "/api/call");
    resp_free(&r);
    r = get("/style.css");
    expect(r, 200, NULL);
    resp_free(&r);
}

static void test_gateway_metrics(void **state)
{
    (void)state;
    resp c =
        call("{\"uri\":\"%s\",\"method\":\"echo\",\"args\":[1]}", echo.line);
    expect(c, 200, NULL);
    resp_free(&c);
    resp r = get("/metrics");
    expect(r, 200, "roc_gateway_calls_total{object=\"echo\",method=\"echo\"}");
    assert_non_null(strstr(r.ctype, "text/plain"));
    assert_non_null(strstr(r.body, "# TYPE roc_gateway_call_duration_seconds "
                                   "histogram"));
    assert_non_null(strstr(r.body, "roc_gateway_call_duration_seconds_bucket{"
                                   "object=\"echo\",method=\"echo\",le=\"+Inf"
                                   "\"}"));
    assert_non_null(strstr(r.body, "roc_gateway_call_errors_total{object="
                                   "\"calc\",method=\"divide\",type=\"demo."
                                   "DivideByZero\"} 1"));
    assert_non_null(strstr(r.body, "roc_gateway_http_requests_total{endpoint="
                                   "\"/api/call\",code=\"403\"}"));
    assert_non_null(strstr(r.body, "roc_gateway_connections "));
    assert_non_null(strstr(r.body, "roc_gateway_calls_in_flight 0"));
    resp_free(&r);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A handle for url, resolved by rs, trusting the CAs in cafile. */
static CURL *https_easy(const char *url, struct curl_slist *rs,
                        const char *cafile, struct curl_slist *hs, buf *b)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_RESOLVE, rs);
    curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    return c;
}

/* https: a second gateway with a certificate from a test CA. Answers come
 * over TLS to a client that trusts that CA only, and kept-alive requests
 * are not held up by Nagle's algorithm (nng's HTTP server leaves it on;
 * the gateway turns it off): each took ~44 ms before. */
static void test_gateway_https(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    assert_non_null(dir);
    assert_int_equal(tu_make_ca(dir, "ca"), 0);
    assert_int_equal(tu_make_ca(dir, "other"), 0);
    assert_int_equal(tu_make_cert(dir, "srv", "localhost", "ca"), 0);
    char gb[1024], cert[1200], ca[1200], other[1200];
    tu_bin("gateway/roc-gateway", gb, sizeof gb);
    snprintf(cert, sizeof cert, "%s/srv.pem", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(other, sizeof other, "%s/other.pem", dir);
    char *gv[] = {gb,      "--listen", "https://127.0.0.1:0", "--tls-cert",
                  cert,    "--ns",     ns.url,                "--allow",
                  "echo",  NULL};
    proc_start(&gws, gv);
    const char *port = strrchr(gws.line, ':');
    assert_non_null(strstr(gws.line, "https://127.0.0.1:"));
    char url[700], resolve[200], body[800];
    snprintf(url, sizeof url, "https://localhost%s/api/call", port);
    snprintf(resolve, sizeof resolve, "localhost%s:127.0.0.1", port);
    struct curl_slist *rs = curl_slist_append(NULL, resolve);
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: "
                                                    "application/json");
    hs = curl_slist_append(hs, "Expect:");

    /* a client that does not trust the gateway's CA is refused */
    buf b = {NULL, 0};
    CURL *c = https_easy(url, rs, other, hs, &b);
    assert_int_not_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);

    /* one kept-alive connection, 20 calls */
    c = https_easy(url, rs, ca, hs, &b);
    double took[20];
    long conns = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(body, sizeof body,
                 "{\"uri\":\"%s\",\"method\":\"echo\",\"args\":[%d]}",
                 echo.line, i);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        free(b.p);
        b.p = NULL;
        b.len = 0;
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK)
            fail_msg("https call %d: %s", i, curl_easy_strerror(rc));
        long st = 0, nc = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &took[i]);
        conns += nc;
        char want[64];
        snprintf(want, sizeof want, "{\"result\":%d", i);
        if (st != 200 || !b.p || !strstr(b.p, want))
            fail_msg("https call %d: status %ld, body %s", i, st,
                     b.p ? b.p : "");
    }
    assert_int_equal(conns, 1); /* all on one kept-alive connection */
    qsort(took + 1, 19, sizeof took[0], cmp_double);
    double median = took[10]; /* of the 19 after the handshake */
    if (median > 0.020)
        fail_msg("kept-alive https calls take %.1f ms (median); Nagle's "
                 "algorithm is on again?",
                 median * 1000);
    free(b.p);
    curl_easy_cleanup(c);
    curl_slist_free_all(rs);
    curl_slist_free_all(hs);
    proc_stop(&gws);
    gws.pid = 0;
    tu_rmtree(dir);
    free(dir);
}

/* a failed check leaves the https gateway running: stopped here */
static int https_teardown(void **state)
{
    (void)state;
    if (gws.pid > 0) {
        tu_stop(gws.pid);
        close(gws.out);
        gws.pid = 0;
    }
    return 0;
}

/* 200 clients at once, each on its own connection, each with its value. */
static void test_gateway_200_concurrent_clients(void **state)
{
    (void)state;
    enum { N = 200 };
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    CURL *h[N];
    buf out[N];
    struct curl_slist *hd[N];
    char *bodies[N];
    for (int i = 0; i < N; i++) {
        out[i] = (buf){NULL, 0};
        bodies[i] = malloc(1024);
        snprintf(bodies[i], 1024,
                 "{\"uri\":\"%s\",\"method\":\"add\",\"args\":[%d,1000]}",
                 i % 2 ? "ROCNAME:demo.echo" : echo.line, i);
        h[i] = easy("POST", "/api/call", "application/json", bodies[i],
                    strlen(bodies[i]), &out[i], &hd[i]);
        curl_easy_setopt(h[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_multi_add_handle(m, h[i]);
    }
    int running = 1;
    uint64_t end = tu_now_ms() + 60000;
    while (running && tu_now_ms() < end) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    assert_int_equal(running, 0);
    for (int i = 0; i < N; i++) {
        long st = 0;
        curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &st);
        char want[64];
        snprintf(want, sizeof want, "{\"result\":%d}", i + 1000);
        if (st != 200 || !out[i].p || strcmp(out[i].p, want) != 0)
            fail_msg("client %d: %ld %s", i, st, out[i].p ? out[i].p : "");
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
        curl_slist_free_all(hd[i]);
        free(out[i].p);
        free(bodies[i]);
    }
    curl_multi_cleanup(m);
}

/* Slow calls in flight hold up no other request. */
typedef struct slow {
    int n;
    long status[32];
} slow;

static void *slow_calls(void *arg)
{
    slow *s = arg;
    CURLM *m = curl_multi_init();
    CURL *h[32];
    buf out[32];
    struct curl_slist *hd[32];
    char body[1024];
    snprintf(body, sizeof body,
             "{\"uri\":\"%s\",\"method\":\"sleep\",\"args\":[1000],"
             "\"timeout_ms\":60000}",
             echo.line);
    for (int i = 0; i < s->n; i++) {
        out[i] = (buf){NULL, 0};
        h[i] = easy("POST", "/api/call", "application/json", body, strlen(body),
                    &out[i], &hd[i]);
        curl_easy_setopt(h[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, 60000L);
        curl_multi_add_handle(m, h[i]);
    }
    int running = 1;
    uint64_t end = tu_now_ms() + 60000;
    while (running && tu_now_ms() < end) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < s->n; i++) {
        curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &s->status[i]);
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
        curl_slist_free_all(hd[i]);
        free(out[i].p);
    }
    curl_multi_cleanup(m);
    return NULL;
}

static bool in_flight_at_least(void *arg)
{
    resp r = get("/metrics");
    const char *p = strstr(r.body, "\nroc_gateway_calls_in_flight ");
    bool ok =
        p && atoi(p + strlen("\nroc_gateway_calls_in_flight ")) >= *(int *)arg;
    resp_free(&r);
    return ok;
}

static void test_gateway_slow_calls_block_nothing(void **state)
{
    (void)state;
    slow s = {.n = 24}; /* more than the gateway's 16 workers */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_calls, &s), 0);
    assert_true(tu_wait_for(in_flight_at_least, &s.n, 10000));
    uint64_t t0 = tu_now_ms();
    resp r = call("{\"uri\":\"%s\",\"method\":\"echo\",\"args\":[\"quick\"]}",
                  echo.line);
    uint64_t took = tu_now_ms() - t0;
    expect(r, 200, "{\"result\":\"quick\"}");
    resp_free(&r);
    r = get("/api/names");
    expect(r, 200, NULL);
    resp_free(&r);
    pthread_join(t, NULL);
    /* echo-server runs 4 sleeps at a time: the first slow calls end after
     * 1000 ms, the last after 6 s */
    assert_true(took < 1000);
    for (int i = 0; i < s.n; i++)
        assert_int_equal(s.status[i], 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_names),
        cmocka_unit_test(test_gateway_objects_describe),
        cmocka_unit_test(test_gateway_call_json_mapping),
        cmocka_unit_test(test_gateway_call_facts_kept),
        cmocka_unit_test(test_gateway_call_error_statuses),
        cmocka_unit_test(test_gateway_bad_requests),
        cmocka_unit_test(test_gateway_console_files),
        cmocka_unit_test(test_gateway_metrics),
        cmocka_unit_test_teardown(test_gateway_https, https_teardown),
        cmocka_unit_test(test_gateway_200_concurrent_clients),
        cmocka_unit_test(test_gateway_slow_calls_block_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
