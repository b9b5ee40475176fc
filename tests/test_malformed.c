/* A raw nng_stream client speaks to a daemon byte by byte: first a correct
 * session (the wire protocol as docs/wire.md states it), then malformed
 * input — bad length prefixes, garbage, truncated envelopes, wrong version
 * or kind, a call before hello, an auth nobody asked for, deep nesting,
 * wrong shapes — each of which must be answered with the documented error
 * frame and a closed connection, while another, well-behaved client keeps
 * getting answers the whole time. Also the slow-loris guard: a connection
 * that sends no hello is closed after hello_timeout_ms.
 *
 * Runs over tcp and ipc (inproc is ROC's own in-process channel, which a
 * raw nng_stream cannot dial).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <msgpack.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roc/roc.h>

#include "testutil.h"

#define HELLO_TIMEOUT_MS 300
#define CLOSE_WITHIN_MS 5000

/* ------------------------------------------------------------------ */
/* the daemon and a well-behaved client running throughout             */

static int t_echo(roc_call *call, const roc_value *args, roc_value **result)
{
    *result = roc_value_copy(roc_call_arena(call), roc_value_at(args, 0));
    return 0;
}

static const roc_method t_methods[] = {
    {"echo", t_echo, 1, 0, "any x", "any"},
};

static const roc_servant t_servant = {
    .iface = "test.Echo",
    .methods = t_methods,
    .n_methods = 1,
    .mode = ROC_INSTANCE_SINGLE,
};

static struct {
    const char *transport;
    roc_daemon *d;
    char url[512];
    pthread_t bg;
    atomic_bool stop;
    atomic_long ok, failed;
    char first_failure[512];
} F;

/* The other client: a proxy calling echo in a loop until told to stop. */
static void *bg_client(void *arg)
{
    (void)arg;
    char uri[600];
    snprintf(uri, sizeof uri, "ROC:t@%s", F.url);
    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_error e = ROC_ERROR_INIT;
    if (roc_arena_new(&a) != 0 || roc_proxy_open(&p, uri, &e) != 0) {
        atomic_fetch_add(&F.failed, 1);
        return NULL;
    }
    roc_proxy_set_timeout(p, 5000);
    for (int64_t i = 0; !atomic_load(&F.stop); i++) {
        roc_value *args = roc_value_arrayv(a, 1, roc_value_int(a, i));
        roc_value *res = NULL;
        int64_t got = -1;
        int rv = roc_proxy_call(p, "echo", args, &res, a, &e);
        if (rv == 0 && roc_value_get_int(res, &got) == 0 && got == i) {
            atomic_fetch_add(&F.ok, 1);
        } else {
            if (atomic_fetch_add(&F.failed, 1) == 0)
                snprintf(F.first_failure, sizeof F.first_failure,
                         "call %lld: %d %s: %s", (long long)i, rv,
                         e.type ? e.type : roc_strerror(rv),
                         e.message ? e.message : "");
        }
        roc_arena_reset(a);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_error_clear(&e);
    return NULL;
}

static int group_setup(const char *transport)
{
    memset(&F, 0, sizeof F);
    F.transport = transport;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.hello_timeout_ms = HELLO_TIMEOUT_MS;
    char buf[512];
    roc_error e = ROC_ERROR_INIT;
    if (roc_daemon_open(&F.d, tu_url(transport, buf, sizeof buf), &o, &e) !=
        0) {
        fprintf(stderr, "daemon open %s: %s\n", buf,
                e.message ? e.message : "?");
        return -1;
    }
    snprintf(F.url, sizeof F.url, "%s", roc_daemon_url(F.d));
    if (roc_daemon_register(F.d, "t", &t_servant, NULL) != 0 ||
        roc_daemon_start(F.d) != 0)
        return -1;
    if (pthread_create(&F.bg, NULL, bg_client, NULL) != 0)
        return -1;
    return 0;
}

static int setup_tcp(void **state)
{
    (void)state;
    return group_setup("tcp");
}

static int setup_ipc(void **state)
{
    (void)state;
    return group_setup("ipc");
}

static bool bg_progressed(void *arg)
{
    return atomic_load(&F.ok) > *(long *)arg;
}

/* The other client is answered: its count of good calls moves on. */
static void assert_other_client_served(void)
{
    long ok0 = atomic_load(&F.ok);
    if (!tu_wait_for(bg_progressed, &ok0, 5000))
        fail_msg("the well-behaved client got no answer for 5 s");
    if (atomic_load(&F.failed) != 0)
        fail_msg("the well-behaved client saw a failure: %s", F.first_failure);
}

static int group_teardown(void **state)
{
    (void)state;
    atomic_store(&F.stop, true);
    pthread_join(F.bg, NULL);
    int rv = 0;
    if (atomic_load(&F.failed) != 0) {
        fprintf(stderr, "well-behaved client failures: %ld (%s)\n",
                atomic_load(&F.failed), F.first_failure);
        rv = -1;
    }
    roc_daemon_close(F.d);
    return rv;
}

/* ------------------------------------------------------------------ */
/* a raw client                                                         */

typedef struct raw {
    nng_stream_dialer *dialer;
    nng_stream *s;
    nng_aio *aio;
} raw;

static void raw_dial(raw *r)
{
    memset(r, 0, sizeof *r);
    int rv = nng_stream_dialer_alloc(&r->dialer, F.url);
    if (rv != 0)
        fail_msg("dialer %s: %s", F.url, nng_strerror(rv));
    assert_int_equal(nng_aio_alloc(&r->aio, NULL, NULL), 0);
    nng_aio_set_timeout(r->aio, 5000);
    nng_stream_dialer_dial(r->dialer, r->aio);
    nng_aio_wait(r->aio);
    if ((rv = nng_aio_result(r->aio)) != 0)
        fail_msg("dial %s: %s", F.url, nng_strerror(rv));
    r->s = nng_aio_get_output(r->aio, 0);
}

static void raw_close(raw *r)
{
    if (r->s) {
        nng_stream_close(r->s);
        nng_stream_free(r->s);
    }
    nng_aio_free(r->aio);
    nng_stream_dialer_free(r->dialer);
    memset(r, 0, sizeof *r);
}

/* Sends all len bytes; returns 0 or the nng error (a peer that already
 * closed may refuse the rest, which some cases expect). */
static int raw_send(raw *r, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        nng_iov iov = {(void *)p, len};
        nng_aio_set_iov(r->aio, 1, &iov);
        nng_aio_set_timeout(r->aio, 5000);
        nng_stream_send(r->s, r->aio);
        nng_aio_wait(r->aio);
        int rv = nng_aio_result(r->aio);
        if (rv != 0)
            return rv;
        size_t n = nng_aio_count(r->aio);
        p += n;
        len -= n;
    }
    return 0;
}

/* Receives exactly len bytes before deadline (ms since boot). 0, or
 * NNG_ETIMEDOUT, or another nng error when the peer closed. */
static int raw_recv(raw *r, void *buf, size_t len, uint64_t deadline)
{
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t now = tu_now_ms();
        if (now >= deadline)
            return NNG_ETIMEDOUT;
        nng_iov iov = {p, len};
        nng_aio_set_iov(r->aio, 1, &iov);
        nng_aio_set_timeout(r->aio, (nng_duration)(deadline - now));
        nng_stream_recv(r->s, r->aio);
        nng_aio_wait(r->aio);
        int rv = nng_aio_result(r->aio);
        if (rv != 0)
            return rv;
        size_t n = nng_aio_count(r->aio);
        if (n == 0)
            return NNG_ECONNSHUT;
        p += n;
        len -= n;
    }
    return 0;
}

/* Reads one frame and decodes its envelope into a. 0, NNG_ETIMEDOUT or the
 * nng error of a closed connection; a frame that does not decode fails the
 * test. */
static int raw_recv_envelope(raw *r, roc_arena *a, roc_value **env,
                             int timeout_ms)
{
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    uint8_t hdr[4];
    int rv = raw_recv(r, hdr, 4, deadline);
    if (rv != 0)
        return rv;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                 (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > 1024 * 1024)
        fail_msg("daemon sent a frame of length %u", n);
    uint8_t *body = malloc(n);
    assert_non_null(body);
    rv = raw_recv(r, body, n, deadline);
    if (rv != 0) {
        free(body);
        body = NULL;
        fail_msg("frame body cut short: %s", nng_strerror(rv));
    }
    roc_error e = ROC_ERROR_INIT;
    rv = roc_decode(a, body, n, 0, env, &e);
    free(body);
    if (rv != 0)
        fail_msg("daemon sent an undecodable frame: %s",
                 e.message ? e.message : "?");
    roc_error_clear(&e);
    if ((*env)->type != ROC_ARRAY || roc_value_len(*env) < 2)
        fail_msg("daemon sent an envelope that is not [v, kind, ...]");
    return 0;
}

static int64_t env_int(const roc_value *env, size_t i)
{
    int64_t v = -1;
    if (roc_value_get_int(roc_value_at(env, i), &v) != 0)
        fail_msg("envelope element %zu is not an integer", i);
    return v;
}

static int64_t env_kind(const roc_value *env)
{
    assert_int_equal(env_int(env, 0), 1);
    return env_int(env, 1);
}

/* ---- building frames with msgpack-c ---- */

typedef struct out {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} out;

static void out_init(out *o)
{
    msgpack_sbuffer_init(&o->sb);
    msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
}

static void out_free(out *o)
{
    msgpack_sbuffer_destroy(&o->sb);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Sends the packed bytes of o as one frame. */
static int send_frame(raw *r, const void *body, size_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                      (uint8_t)(len >> 8), (uint8_t)len};
    uint8_t *buf = malloc(len + 4);
    assert_non_null(buf);
    memcpy(buf, hdr, 4);
    if (len)
        memcpy(buf + 4, body, len);
    int rv = raw_send(r, buf, len + 4);
    free(buf);
    return rv;
}

/* [1, 0, {"v": [lo, hi]}] */
static void pack_hello(msgpack_packer *pk, int lo, int hi)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 0);
    msgpack_pack_map(pk, 1);
    pk_str(pk, "v");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, lo);
    msgpack_pack_int(pk, hi);
}

/* [1, 1, id, "t", method, [arg...], {}] with int args */
static void pack_call(msgpack_packer *pk, uint64_t id, const char *object,
                      const char *method, int nargs, const int64_t *args)
{
    msgpack_pack_array(pk, 7);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_uint64(pk, id);
    pk_str(pk, object);
    pk_str(pk, method);
    msgpack_pack_array(pk, (size_t)nargs);
    for (int i = 0; i < nargs; i++)
        msgpack_pack_int64(pk, args[i]);
    msgpack_pack_map(pk, 0);
}

/* Sends our hello and checks the daemon's: [1, 0, {"v": [lo, hi], ...}]
 * with lo <= 1 <= hi. */
static void handshake(raw *r)
{
    out o;
    out_init(&o);
    pack_hello(&o.pk, 1, 1);
    assert_int_equal(send_frame(r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    roc_arena *a = NULL;
    roc_value *env = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    int rv = raw_recv_envelope(r, a, &env, 5000);
    if (rv != 0)
        fail_msg("no hello from the daemon: %s", nng_strerror(rv));
    assert_int_equal(env_kind(env), 0);
    assert_int_equal(roc_value_len(env), 3);
    const roc_value *opts = roc_value_at(env, 2);
    assert_int_equal(opts->type, ROC_MAP);
    const roc_value *v = roc_value_map_get(opts, "v");
    assert_non_null(v);
    assert_int_equal(roc_value_len(v), 2);
    int64_t lo = env_int(v, 0), hi = env_int(v, 1);
    assert_true(lo <= 1 && 1 <= hi);
    roc_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* a correct session, byte by byte                                      */

/* Receives envelopes until one of kind `kind` arrives (failing on others
 * except where allowed) and returns it. */
static roc_value *expect_kind(raw *r, roc_arena *a, int64_t kind)
{
    roc_value *env = NULL;
    int rv = raw_recv_envelope(r, a, &env, 5000);
    if (rv != 0)
        fail_msg("waiting for kind %lld: %s", (long long)kind,
                 nng_strerror(rv));
    if (env_kind(env) != kind)
        fail_msg("want kind %lld, got kind %lld", (long long)kind,
                 (long long)env_kind(env));
    return env;
}

static void check_error_body(const roc_value *env, int64_t id, int64_t code,
                             const char *type)
{
    assert_int_equal(roc_value_len(env), 4);
    assert_int_equal(env_int(env, 2), id);
    const roc_value *e = roc_value_at(env, 3);
    assert_int_equal(e->type, ROC_ARRAY);
    assert_int_equal(roc_value_len(e), 4);
    assert_int_equal(env_int(e, 0), code);
    const char *s;
    size_t len;
    assert_int_equal(roc_value_get_str(roc_value_at(e, 1), &s, &len), 0);
    assert_string_equal(s, type);
    assert_int_equal(roc_value_get_str(roc_value_at(e, 2), &s, &len), 0);
}

static void test_valid_session(void **state)
{
    (void)state;
    raw r;
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    raw_dial(&r);
    handshake(&r);
    out o;

    /* call -> result [1, 3, id, value] */
    out_init(&o);
    int64_t arg = 42;
    pack_call(&o.pk, 1, "t", "echo", 1, &arg);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    roc_value *env = expect_kind(&r, a, 3);
    assert_int_equal(roc_value_len(env), 4);
    assert_int_equal(env_int(env, 2), 1);
    assert_int_equal(env_int(env, 3), 42);

    /* meta keys: deadline, trace, and an unknown key (ignored) */
    out_init(&o);
    msgpack_pack_array(&o.pk, 7);
    msgpack_pack_int(&o.pk, 1);
    msgpack_pack_int(&o.pk, 1);
    msgpack_pack_int(&o.pk, 2);
    pk_str(&o.pk, "t");
    pk_str(&o.pk, "echo");
    msgpack_pack_array(&o.pk, 1);
    pk_str(&o.pk, "x");
    msgpack_pack_map(&o.pk, 3);
    pk_str(&o.pk, "deadline");
    msgpack_pack_uint32(&o.pk, 5000);
    pk_str(&o.pk, "trace");
    pk_str(&o.pk, "abc-123");
    pk_str(&o.pk, "x-unknown");
    msgpack_pack_array(&o.pk, 0);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    env = expect_kind(&r, a, 3);
    assert_int_equal(env_int(env, 2), 2);

    /* ping -> pong with the token unchanged */
    out_init(&o);
    msgpack_pack_array(&o.pk, 3);
    msgpack_pack_int(&o.pk, 1);
    msgpack_pack_int(&o.pk, 6);
    msgpack_pack_map(&o.pk, 1);
    pk_str(&o.pk, "tok");
    msgpack_pack_array(&o.pk, 2);
    msgpack_pack_int(&o.pk, -7);
    msgpack_pack_nil(&o.pk);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    env = expect_kind(&r, a, 7);
    assert_int_equal(roc_value_len(env), 3);
    roc_value *tok = NULL;
    assert_int_equal(roc_value_from_json(a, "{\"tok\":[-7,null]}", &tok, NULL),
                     0);
    assert_true(roc_value_equal(roc_value_at(env, 2), tok));

    /* cancel of an unknown id and a result nobody asked for: ignored */
    static const uint8_t cancel77[] = {0x93, 0x01, 0x05, 0x4d};
    assert_int_equal(send_frame(&r, cancel77, sizeof cancel77), 0);
    static const uint8_t result999[] = {0x94, 0x01, 0x03, 0xcd,
                                        0x03, 0xe7, 0xc0};
    assert_int_equal(send_frame(&r, result999, sizeof result999), 0);

    /* errors for one call keep the connection: no such object/method, bad
     * argument count */
    /* three envelopes, framed one by one but written at once */
    msgpack_sbuffer whole;
    msgpack_sbuffer_init(&whole);
    {
        out one;
        int64_t ids[3] = {3, 4, 5};
        const char *objs[3] = {"nobody", "t", "t"};
        const char *meths[3] = {"echo", "nomethod", "echo"};
        int nargs[3] = {1, 1, 0};
        for (int i = 0; i < 3; i++) {
            out_init(&one);
            pack_call(&one.pk, (uint64_t)ids[i], objs[i], meths[i], nargs[i],
                      &arg);
            uint8_t hdr[4] = {0, 0, (uint8_t)(one.sb.size >> 8),
                              (uint8_t)one.sb.size};
            msgpack_sbuffer_write(&whole, (const char *)hdr, 4);
            msgpack_sbuffer_write(&whole, one.sb.data, one.sb.size);
            out_free(&one);
        }
    }
    assert_int_equal(raw_send(&r, whole.data, whole.size), 0);
    msgpack_sbuffer_destroy(&whole);
    bool seen[3] = {false, false, false};
    for (int i = 0; i < 3; i++) {
        env = expect_kind(&r, a, 4);
        int64_t id = env_int(env, 2);
        assert_in_range(id, 3, 5);
        seen[id - 3] = true;
        if (id == 3)
            check_error_body(env, 3, 1, "roc.NoSuchObject");
        else if (id == 4)
            check_error_body(env, 4, 2, "roc.NoSuchMethod");
        else
            check_error_body(env, 5, 3, "roc.BadArguments");
    }
    assert_true(seen[0] && seen[1] && seen[2]);

    /* an empty object id is just an unknown object */
    out_init(&o);
    pack_call(&o.pk, 8, "", "echo", 1, &arg);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    env = expect_kind(&r, a, 4);
    check_error_body(env, 8, 1, "roc.NoSuchObject");

    /* an unsolicited pong is ignored */
    static const uint8_t pong[] = {0x93, 0x01, 0x07, 0x01};
    assert_int_equal(send_frame(&r, pong, sizeof pong), 0);

    /* still served after all that */
    out_init(&o);
    pack_call(&o.pk, 6, "t", "echo", 1, &arg);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    env = expect_kind(&r, a, 3);
    assert_int_equal(env_int(env, 2), 6);

    /* roc.daemon.ping() -> "pong" */
    out_init(&o);
    pack_call(&o.pk, 7, "roc.daemon", "ping", 0, NULL);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    env = expect_kind(&r, a, 3);
    const char *s;
    size_t len;
    assert_int_equal(roc_value_get_str(roc_value_at(env, 3), &s, &len), 0);
    assert_string_equal(s, "pong");

    raw_close(&r);
    roc_arena_free(a);
    assert_other_client_served();
}

/* bye [1, 8, reason]: the daemon starts no new calls and closes (it may say
 * bye too). */
static void test_bye_closes(void **state)
{
    (void)state;
    raw r;
    roc_arena *a = NULL;
    roc_value *env = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    raw_dial(&r);
    handshake(&r);
    static const uint8_t bye[] = {0x93, 0x01, 0x08, 0xa4, 'd', 'o', 'n', 'e'};
    assert_int_equal(send_frame(&r, bye, sizeof bye), 0);
    uint64_t end = tu_now_ms() + CLOSE_WITHIN_MS;
    int rv;
    while ((rv = raw_recv_envelope(&r, a, &env, (int)(end - tu_now_ms()))) == 0)
        if (env_kind(env) != 8)
            fail_msg("after bye the daemon sent kind %lld",
                     (long long)env_kind(env));
    if (rv == NNG_ETIMEDOUT)
        fail_msg("the daemon did not close within %d ms after bye",
                 CLOSE_WITHIN_MS);
    raw_close(&r);
    roc_arena_free(a);
    assert_other_client_served();
}

/* A connection that finished its hello may stay idle past the hello
 * deadline. */
static void test_idle_after_hello_stays_open(void **state)
{
    (void)state;
    raw r;
    raw_dial(&r);
    handshake(&r);
    uint8_t b;
    assert_int_equal(raw_recv(&r, &b, 1, tu_now_ms() + 3 * HELLO_TIMEOUT_MS),
                     NNG_ETIMEDOUT);
    out o;
    out_init(&o);
    int64_t arg = 5;
    pack_call(&o.pk, 1, "t", "echo", 1, &arg);
    assert_int_equal(send_frame(&r, o.sb.data, o.sb.size), 0);
    out_free(&o);
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value *env = expect_kind(&r, a, 3);
    assert_int_equal(env_int(env, 3), 5);
    roc_arena_free(a);
    raw_close(&r);
}

/* ------------------------------------------------------------------ */
/* malformed input                                                      */

typedef void (*builder)(msgpack_sbuffer *bytes);

typedef struct bad_case {
    const char *name;
    bool hello_first; /* do a correct handshake before sending */
    builder build;    /* writes everything sent, length prefixes included */
    int code;         /* wire code expected in the error frame */
    const char *type;
    int64_t id;     /* the error's id */
    int64_t alt_id; /* another id allowed (-1: none); see docs/wire.md */
} bad_case;

static void put(msgpack_sbuffer *b, const void *p, size_t n)
{
    msgpack_sbuffer_write(b, p, n);
}

/* Appends o's bytes to b as one frame. */
static void put_frame(msgpack_sbuffer *b, const void *body, size_t n)
{
    uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};
    put(b, hdr, 4);
    put(b, body, n);
}

#define PACKED_FRAME(b, code)                                                  \
    do {                                                                       \
        out o_;                                                                \
        out_init(&o_);                                                         \
        msgpack_packer *pk = &o_.pk;                                           \
        code;                                                                  \
        put_frame((b), o_.sb.data, o_.sb.size);                                \
        out_free(&o_);                                                         \
    } while (0)

static void b_zero_length(msgpack_sbuffer *b)
{
    put(b, "\0\0\0\0", 4);
}

static void b_too_long(msgpack_sbuffer *b)
{
    /* 16 MiB + 1, then some of the body: refused before it is read */
    static const uint8_t hdr[4] = {0x01, 0x00, 0x00, 0x01};
    put(b, hdr, 4);
    static uint8_t some[64 * 1024];
    put(b, some, sizeof some);
}

static void b_huge_length(msgpack_sbuffer *b)
{
    static const uint8_t hdr[4] = {0xff, 0xff, 0xff, 0xff};
    put(b, hdr, 4);
}

static void b_http(msgpack_sbuffer *b)
{
    /* "GET " read as a length is 0x47455420, over the limit */
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    put(b, req, sizeof req - 1);
}

static void b_garbage_body(msgpack_sbuffer *b)
{
    static const uint8_t junk[] = {0xc1, 0xc1, 0xc1, 0xc1, 0x00, 0xff};
    put_frame(b, junk, sizeof junk);
}

static void b_not_array(msgpack_sbuffer *b)
{
    static const uint8_t five[] = {0x05};
    put_frame(b, five, 1);
}

static void b_map_envelope(msgpack_sbuffer *b)
{
    static const uint8_t m[] = {0x81, 0xa1, 'v', 0x01};
    put_frame(b, m, sizeof m);
}

static void b_trailing_bytes(msgpack_sbuffer *b)
{
    /* [1, 6, 1] then a stray nil inside the same frame */
    static const uint8_t p[] = {0x93, 0x01, 0x06, 0x01, 0xc0};
    put_frame(b, p, sizeof p);
}

static void b_truncated_string(msgpack_sbuffer *b)
{
    /* [1, 1, 5, "e... : the string says 4 bytes, the frame ends after 1 */
    static const uint8_t p[] = {0x97, 0x01, 0x01, 0x05, 0xa4, 'e'};
    put_frame(b, p, sizeof p);
}

static void b_truncated_array(msgpack_sbuffer *b)
{
    /* an array of 7 with 3 elements present */
    static const uint8_t p[] = {0x97, 0x01, 0x01, 0x05};
    put_frame(b, p, sizeof p);
}

static void b_hello_v2(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, pack_hello(pk, 2, 3));
}

static void b_hello_v0(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, pack_hello(pk, 0, 0));
}

static void b_hello_no_v(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 3);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 0);
        msgpack_pack_map(pk, 0);
    });
}

static void b_hello_v_not_range(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 3);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 0);
        msgpack_pack_map(pk, 1);
        pk_str(pk, "v");
        pk_str(pk, "1");
    });
}

static void b_hello_envelope_v2(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 3);
        msgpack_pack_int(pk, 2);
        msgpack_pack_int(pk, 0);
        msgpack_pack_map(pk, 1);
        pk_str(pk, "v");
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 2);
    });
}

static void b_call_v2(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 7);
        msgpack_pack_int(pk, 2);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 5);
        pk_str(pk, "t");
        pk_str(pk, "echo");
        msgpack_pack_array(pk, 1);
        msgpack_pack_int(pk, 1);
        msgpack_pack_map(pk, 0);
    });
}

static void b_unknown_kind(msgpack_sbuffer *b)
{
    static const uint8_t p[] = {0x93, 0x01, 0x2a, 0x07}; /* [1, 42, 7] */
    put_frame(b, p, sizeof p);
}

static void b_negative_kind(msgpack_sbuffer *b)
{
    static const uint8_t p[] = {0x93, 0x01, 0xff, 0x07}; /* [1, -1, 7] */
    put_frame(b, p, sizeof p);
}

static void b_call_before_hello(msgpack_sbuffer *b)
{
    int64_t arg = 1;
    PACKED_FRAME(b, pack_call(pk, 3, "t", "echo", 1, &arg));
}

static void b_ping_before_hello(msgpack_sbuffer *b)
{
    static const uint8_t p[] = {0x93, 0x01, 0x06, 0x01}; /* [1, 6, 1] */
    put_frame(b, p, sizeof p);
}

static void b_auth_unasked(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 3);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 9);
        msgpack_pack_bin(pk, 32);
        msgpack_pack_bin_body(pk, "0123456789abcdef0123456789abcdef", 32);
    });
}

static void b_deep_nesting(msgpack_sbuffer *b)
{
    /* [1, 1, 11, "t", "echo", [[[[...1000 deep...]]]], {}] */
    enum { DEPTH = 1000 };
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 7);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 11);
        pk_str(pk, "t");
        pk_str(pk, "echo");
        msgpack_pack_array(pk, 1); /* the args array */
        for (int i = 0; i < DEPTH - 1; i++)
            msgpack_pack_array(pk, 1);
        msgpack_pack_array(pk, 0);
        msgpack_pack_map(pk, 0);
    });
}

/* A call envelope with one element replaced; which: 0 args not an array,
 * 1 id 0, 2 object not a string, 3 method nil, 4 meta not a map, 5 no
 * meta, 6 one element too many, 7 negative id, 8 string id, 9 object not
 * UTF-8. */
static void pack_bad_call(msgpack_packer *pk, int which, int64_t id)
{
    msgpack_pack_array(pk, which == 5 ? 6 : which == 6 ? 8 : 7);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
    if (which == 1)
        msgpack_pack_int(pk, 0);
    else if (which == 7)
        msgpack_pack_int(pk, -1);
    else if (which == 8)
        pk_str(pk, "12");
    else
        msgpack_pack_int64(pk, id);
    if (which == 2)
        msgpack_pack_int(pk, 5);
    else if (which == 9) {
        msgpack_pack_str(pk, 2);
        msgpack_pack_str_body(pk, "\xff\xfe", 2);
    } else
        pk_str(pk, "t");
    if (which == 3)
        msgpack_pack_nil(pk);
    else
        pk_str(pk, "echo");
    if (which == 0) {
        msgpack_pack_int(pk, 5);
    } else {
        msgpack_pack_array(pk, 1);
        msgpack_pack_int(pk, 1);
    }
    if (which == 4)
        msgpack_pack_int(pk, 5);
    else if (which != 5)
        msgpack_pack_map(pk, 0);
    if (which == 6)
        msgpack_pack_int(pk, 0);
}

#define BAD_CALL(fn, which, id)                                                \
    static void fn(msgpack_sbuffer *b)                                         \
    {                                                                          \
        PACKED_FRAME(b, pack_bad_call(pk, which, id));                         \
    }
BAD_CALL(b_args_not_array, 0, 12)
BAD_CALL(b_id_zero, 1, 0)
BAD_CALL(b_object_not_str, 2, 13)
BAD_CALL(b_method_nil, 3, 14)
BAD_CALL(b_meta_not_map, 4, 15)
BAD_CALL(b_no_meta, 5, 16)
BAD_CALL(b_extra_element, 6, 17)
BAD_CALL(b_negative_id, 7, 0)
BAD_CALL(b_string_id, 8, 0)
BAD_CALL(b_object_bad_utf8, 9, 18)

static void b_oneway_with_id(msgpack_sbuffer *b)
{
    PACKED_FRAME(b, {
        msgpack_pack_array(pk, 7);
        msgpack_pack_int(pk, 1);
        msgpack_pack_int(pk, 2);
        msgpack_pack_int(pk, 5);
        pk_str(pk, "t");
        pk_str(pk, "echo");
        msgpack_pack_array(pk, 1);
        msgpack_pack_int(pk, 1);
        msgpack_pack_map(pk, 0);
    });
}

static void b_cancel_no_id(msgpack_sbuffer *b)
{
    static const uint8_t p[] = {0x92, 0x01, 0x05}; /* [1, 5] */
    put_frame(b, p, sizeof p);
}

static void b_ping_no_token(msgpack_sbuffer *b)
{
    static const uint8_t p[] = {0x92, 0x01, 0x06}; /* [1, 6] */
    put_frame(b, p, sizeof p);
}

static void b_empty_envelope(msgpack_sbuffer *b)
{
    static const uint8_t p[] = {0x90}; /* [] */
    put_frame(b, p, sizeof p);
}

#define PE 4, "roc.ProtocolError"
#define TOOBIG 5, "roc.MessageTooLarge"

static const bad_case bad_cases[] = {
    /* length prefixes */
    {"length 0 before hello", false, b_zero_length, PE, 0, -1},
    {"length 0 after hello", true, b_zero_length, PE, 0, -1},
    {"length 16 MiB + 1", true, b_too_long, TOOBIG, 0, -1},
    {"length 4 GiB - 1 before hello", false, b_huge_length, TOOBIG, 0, -1},
    {"HTTP request instead of ROC", false, b_http, TOOBIG, 0, -1},
    /* garbage */
    {"garbage body before hello", false, b_garbage_body, PE, 0, -1},
    {"garbage body", true, b_garbage_body, PE, 0, -1},
    {"envelope not an array", true, b_not_array, PE, 0, -1},
    {"envelope a map", true, b_map_envelope, PE, 0, -1},
    {"empty envelope", true, b_empty_envelope, PE, 0, -1},
    {"trailing bytes after the envelope", true, b_trailing_bytes, PE, 0, -1},
    /* truncation */
    {"truncated string", true, b_truncated_string, PE, 0, 5},
    {"truncated array", true, b_truncated_array, PE, 0, 5},
    /* versions */
    {"hello speaking only v2..3", false, b_hello_v2, PE, 0, -1},
    {"hello speaking only v0", false, b_hello_v0, PE, 0, -1},
    {"hello without v", false, b_hello_no_v, PE, 0, -1},
    {"hello with v not a range", false, b_hello_v_not_range, PE, 0, -1},
    {"hello envelope of version 2", false, b_hello_envelope_v2, PE, 0, -1},
    {"call envelope of version 2", true, b_call_v2, PE, 0, -1},
    /* kinds */
    {"unknown kind 42", true, b_unknown_kind, PE, 0, -1},
    {"negative kind", true, b_negative_kind, PE, 0, -1},
    {"unknown kind before hello", false, b_unknown_kind, PE, 0, -1},
    {"call before hello", false, b_call_before_hello, PE, 3, -1},
    {"ping before hello", false, b_ping_before_hello, PE, 0, -1},
    {"auth nobody asked for", true, b_auth_unasked, PE, 0, -1},
    {"auth before hello", false, b_auth_unasked, PE, 0, -1},
    /* depth */
    {"1000 nested arrays", true, b_deep_nesting, PE, 0, 11},
    /* shapes */
    {"call args not an array", true, b_args_not_array, PE, 0, 12},
    {"call id 0", true, b_id_zero, PE, 0, -1},
    {"call id negative", true, b_negative_id, PE, 0, -1},
    {"call id a string", true, b_string_id, PE, 0, -1},
    {"call object not a string", true, b_object_not_str, PE, 0, 13},
    {"call object not UTF-8", true, b_object_bad_utf8, PE, 0, 18},
    {"call method nil", true, b_method_nil, PE, 0, 14},
    {"call meta not a map", true, b_meta_not_map, PE, 0, 15},
    {"call without meta", true, b_no_meta, PE, 0, 16},
    {"call with an extra element", true, b_extra_element, PE, 0, 17},
    {"oneway with an id", true, b_oneway_with_id, PE, 0, -1},
    {"cancel without id", true, b_cancel_no_id, PE, 0, -1},
    {"ping without token", true, b_ping_no_token, PE, 0, -1},
};

/* Connections that got their error frame and must now be closed. */
#define MAX_LINGERING 64
static struct {
    raw r;
    const bad_case *c;
} lingering[MAX_LINGERING];
static size_t n_lingering;
static uint64_t proto_errors_base;

/* Runs one case: the error frame must arrive (the close is checked later). */
static void run_bad_case(const bad_case *c)
{
    if (n_lingering == 0) {
        roc_daemon_stats st;
        roc_daemon_get_stats(F.d, &st);
        proto_errors_base = st.protocol_errors;
    }
    raw r;
    raw_dial(&r);
    if (c->hello_first)
        handshake(&r);
    msgpack_sbuffer bytes;
    msgpack_sbuffer_init(&bytes);
    c->build(&bytes);
    /* The daemon may close before it has read all of it. */
    (void)raw_send(&r, bytes.data, bytes.size);
    msgpack_sbuffer_destroy(&bytes);

    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value *env = NULL;
    int rv = raw_recv_envelope(&r, a, &env, CLOSE_WITHIN_MS);
    /* before our hello was accepted the daemon may still send its own */
    if (rv == 0 && !c->hello_first && env_kind(env) == 0)
        rv = raw_recv_envelope(&r, a, &env, CLOSE_WITHIN_MS);
    if (rv != 0)
        fail_msg("[%s] no error frame (%s)", c->name, nng_strerror(rv));
    if (env_kind(env) != 4) {
        char *j = NULL;
        roc_value_to_json(env, 0, &j, NULL);
        fail_msg("[%s] want an error frame, got %s", c->name, j ? j : "?");
    }
    assert_int_equal(roc_value_len(env), 4);
    int64_t id = env_int(env, 2);
    if (id != c->id && id != c->alt_id)
        fail_msg("[%s] error id %lld, want %lld", c->name, (long long)id,
                 (long long)c->id);
    const roc_value *e = roc_value_at(env, 3);
    if (e->type != ROC_ARRAY || roc_value_len(e) != 4)
        fail_msg("[%s] error body is not [code, type, message, data]", c->name);
    const char *type = "", *msg = NULL;
    size_t len;
    roc_value_get_str(roc_value_at(e, 1), &type, &len);
    if (env_int(e, 0) != c->code || strcmp(type, c->type) != 0)
        fail_msg("[%s] error %lld %s, want %d %s", c->name,
                 (long long)env_int(e, 0), type, c->code, c->type);
    if (roc_value_get_str(roc_value_at(e, 2), &msg, &len) != 0)
        fail_msg("[%s] error message is not a string", c->name);

    /* Then the connection closes, after a bounded lingering drain (about a
     * second): checked for all cases at once by test_bad_cases_closed, so
     * that the lingering periods overlap. */
    assert_true(n_lingering < MAX_LINGERING);
    lingering[n_lingering].r = r;
    lingering[n_lingering].c = c;
    n_lingering++;
    roc_arena_free(a);
    assert_other_client_served();
}

static bool proto_errors_at_least(void *arg)
{
    roc_daemon_stats st;
    roc_daemon_get_stats(F.d, &st);
    return st.protocol_errors >= *(uint64_t *)arg;
}

/* Every connection that got an error frame is closed by the daemon, with
 * nothing but a bye after the error; and each closing for a protocol error
 * is counted in the daemon's stats. */
static void test_bad_cases_closed(void **state)
{
    (void)state;
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    uint64_t end = tu_now_ms() + CLOSE_WITHIN_MS;
    int not_closed = 0;
    uint64_t n_proto = 0;
    for (size_t i = 0; i < n_lingering; i++) {
        raw *r = &lingering[i].r;
        const bad_case *c = lingering[i].c;
        roc_value *env = NULL;
        int rv;
        uint64_t now;
        while ((now = tu_now_ms()) < end &&
               (rv = raw_recv_envelope(r, a, &env, (int)(end - now))) == 0)
            if (env_kind(env) != 8) /* a bye may precede the close */
                fail_msg("[%s] after the error the daemon sent kind %lld",
                         c->name, (long long)env_kind(env));
        if (now >= end || rv == NNG_ETIMEDOUT) {
            print_message("[%s] the connection was not closed\n", c->name);
            not_closed++;
        }
        if (c->code == 4)
            n_proto++;
        raw_close(r);
    }
    roc_arena_free(a);
    n_lingering = 0;
    assert_int_equal(not_closed, 0);
    uint64_t want = proto_errors_base + n_proto;
    if (!tu_wait_for(proto_errors_at_least, &want, 5000)) {
        roc_daemon_stats st;
        roc_daemon_get_stats(F.d, &st);
        fail_msg("stats.protocol_errors is %llu, want at least %llu",
                 (unsigned long long)st.protocol_errors,
                 (unsigned long long)want);
    }
    assert_other_client_served();
}

/* One cmocka test per table row, named after it. */
static void test_bad_case(void **state)
{
    run_bad_case(*state);
}

static void test_daemon_alive_after_all(void **state)
{
    (void)state;
    /* The daemon's own view: still serving, back to one connection (the
     * well-behaved client's). */
    char uri[600];
    snprintf(uri, sizeof uri, "ROC:roc.daemon@%s", F.url);
    roc_proxy *p = NULL;
    roc_arena *a = NULL;
    roc_error e = ROC_ERROR_INIT;
    roc_value *r = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    assert_int_equal(roc_proxy_open(&p, uri, &e), 0);
    assert_int_equal(roc_proxy_call(p, "ping", NULL, &r, a, &e), 0);
    assert_int_equal(roc_proxy_call(p, "stats", NULL, &r, a, &e), 0);
    assert_int_equal(r->type, ROC_MAP);
    int64_t calls = -1;
    assert_int_equal(roc_value_get_int(roc_value_map_get(r, "calls"), &calls),
                     0);
    assert_true(calls > 0);
    roc_daemon_stats st;
    roc_daemon_get_stats(F.d, &st);
    assert_true(st.accepted > 10);
    assert_true(st.protocol_errors > 10);
    assert_true(st.connections >= 1);
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_error_clear(&e);
    assert_other_client_served();
}

/* ------------------------------------------------------------------ */
/* slow loris                                                           */

/* Reads until the daemon closes; returns the ms it took, or -1 on
 * timeout. */
static int64_t ms_until_closed(raw *r, int timeout_ms)
{
    uint64_t t0 = tu_now_ms(), end = t0 + (uint64_t)timeout_ms;
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_value *env;
    int rv;
    /* the daemon may say why (an error frame) before it closes */
    while ((rv = raw_recv_envelope(r, a, &env, (int)(end - tu_now_ms()))) == 0)
        ;
    roc_arena_free(a);
    return rv == NNG_ETIMEDOUT ? -1 : (int64_t)(tu_now_ms() - t0);
}

static void test_slow_loris_silent(void **state)
{
    (void)state;
    raw r;
    raw_dial(&r);
    int64_t ms = ms_until_closed(&r, 5000);
    raw_close(&r);
    if (ms < 0)
        fail_msg("a silent connection stayed open for 5 s "
                 "(hello_timeout_ms = %d)",
                 HELLO_TIMEOUT_MS);
    assert_true(ms >= HELLO_TIMEOUT_MS - 50);
    assert_true(ms < HELLO_TIMEOUT_MS + 2000);
    assert_other_client_served();
}

static void test_slow_loris_partial_hello(void **state)
{
    (void)state;
    raw r;
    raw_dial(&r);
    /* a length prefix saying 9 bytes, then 3 of them, then nothing */
    static const uint8_t part[] = {0x00, 0x00, 0x00, 0x09, 0x93, 0x01, 0x00};
    assert_int_equal(raw_send(&r, part, sizeof part), 0);
    int64_t ms = ms_until_closed(&r, 5000);
    raw_close(&r);
    if (ms < 0)
        fail_msg("a half-sent hello kept the connection open for 5 s");
    assert_true(ms < HELLO_TIMEOUT_MS + 2000);
    assert_other_client_served();
}

static void test_slow_loris_many(void **state)
{
    (void)state;
    enum { N = 20 };
    raw r[N];
    for (int i = 0; i < N; i++)
        raw_dial(&r[i]);
    /* while they hang, the daemon serves */
    assert_other_client_served();
    for (int i = 0; i < N; i++) {
        int64_t ms = ms_until_closed(&r[i], 5000);
        raw_close(&r[i]);
        if (ms < 0)
            fail_msg("silent connection %d stayed open", i);
    }
    assert_other_client_served();
}

/* ------------------------------------------------------------------ */

int main(void)
{
    enum { N_BAD = sizeof bad_cases / sizeof bad_cases[0] };
    struct CMUnitTest tests[N_BAD + 9];
    size_t n = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_valid_session);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_idle_after_hello_stays_open);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_bye_closes);
    for (size_t i = 0; i < N_BAD; i++)
        tests[n++] = (struct CMUnitTest){bad_cases[i].name, test_bad_case, NULL,
                                         NULL, (void *)&bad_cases[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_bad_cases_closed);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_slow_loris_silent);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_slow_loris_partial_hello);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_slow_loris_many);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_daemon_alive_after_all);

    const char *only = getenv("ROC_TEST_TRANSPORT");
    int failed = 0;
    if (!only || strcmp(only, "tcp") == 0)
        failed += _cmocka_run_group_tests("malformed/tcp", tests, n, setup_tcp,
                                          group_teardown);
    if (!only || strcmp(only, "ipc") == 0)
        failed += _cmocka_run_group_tests("malformed/ipc", tests, n, setup_ipc,
                                          group_teardown);
    return failed ? 1 : 0;
}
