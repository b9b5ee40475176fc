/* Keyed authentication and authorization: a client with the daemon's key
 * is served; a wrong key fails on both sides with a message that says so;
 * no key gets roc.Unauthorized; a raw client calling before proving the
 * key is refused and closed; a replayed handshake fails (fresh nonces); an
 * empty or unreadable key file stops the daemon from opening; the
 * authorization hook lets read-only methods through for everyone and the
 * rest only for authenticated peers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <roc/roc.h>

#include "testutil.h"

static char *dir;
static char keyfile[600], otherkey[600], emptykey[600];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_all(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    snprintf(keyfile, sizeof keyfile, "%s/key", dir);
    snprintf(otherkey, sizeof otherkey, "%s/other", dir);
    snprintf(emptykey, sizeof emptykey, "%s/empty", dir);
    write_file(keyfile, "correct horse battery staple\n");
    write_file(otherkey, "not the key\n");
    write_file(emptykey, "");
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    roc_client_set_key(NULL, 0, NULL);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static int h_get(roc_call *c, const roc_value *args, roc_value **res)
{
    (void)args;
    *res = roc_value_str(roc_call_arena(c), "value");
    return 0;
}

static const roc_method methods[] = {
    {"get", h_get, 0, 0, "", "string"},
    {"set", h_get, 0, 0, "", "string"},
};
static const roc_servant servant = {.methods = methods, .n_methods = 2};

/* read-only methods for everyone, the rest for authenticated peers */
static int authz(const roc_peer_info *p, const char *object,
                 const char *method, void *arg)
{
    (void)object;
    (void)arg;
    if (strcmp(method, "get") == 0 || strcmp(method, "ping") == 0)
        return 0;
    return p->authenticated ? 0 : ROC_EUNAUTH;
}

static roc_daemon *keyed_daemon(const char *key, bool hook)
{
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.key_file = key;
    o.hello_timeout_ms = 2000;
    if (hook)
        o.authorize = authz;
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err) != 0) {
        fprintf(stderr, "daemon: %s\n", err.message);
        roc_error_clear(&err);
        return NULL;
    }
    roc_daemon_register(d, "obj", &servant, NULL);
    roc_daemon_start(d);
    return d;
}

static int call(roc_daemon *d, const char *method, roc_error *err)
{
    char uri[256];
    snprintf(uri, sizeof uri, "ROC:obj@%s", roc_daemon_url(d));
    roc_proxy *p = NULL;
    int rc = roc_proxy_open(&p, uri, err);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *r = NULL;
    if (rc == 0)
        rc = roc_proxy_call(p, method, NULL, &r, a, err);
    roc_arena_free(a);
    roc_proxy_close(p);
    return rc;
}

static void test_auth_right_key_served(void **state)
{
    (void)state;
    roc_daemon *d = keyed_daemon(keyfile, false);
    assert_non_null(d);
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_client_set_key_file(keyfile, &err), 0);
    int rc = call(d, "get", &err);
    if (rc)
        fail_msg("%s", err.message);
    roc_error_clear(&err);
    roc_client_set_key(NULL, 0, NULL);
    roc_daemon_close(d);
}

static void test_auth_wrong_key_fails_both_sides(void **state)
{
    (void)state;
    roc_daemon *d = keyed_daemon(keyfile, false);
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_client_set_key_file(otherkey, &err), 0);
    assert_int_equal(call(d, "get", &err), ROC_EUNAUTH);
    assert_non_null(strstr(err.message, "wrong key"));
    roc_error_clear(&err);
    roc_client_set_key(NULL, 0, NULL);
    roc_daemon_close(d);
}

static void test_auth_no_key_unauthorized(void **state)
{
    (void)state;
    roc_daemon *d = keyed_daemon(keyfile, false);
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(call(d, "get", &err), ROC_EUNAUTH);
    assert_non_null(strstr(err.message, "requires a key"));
    roc_error_clear(&err);
    /* and the daemon keeps serving those who have it */
    assert_int_equal(roc_client_set_key_file(keyfile, &err), 0);
    assert_int_equal(call(d, "get", &err), 0);
    roc_client_set_key(NULL, 0, NULL);
    roc_daemon_close(d);
}

static void test_auth_bad_key_file_refused_at_open(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    o.key_file = emptykey;
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err),
                     ROC_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    char missing[700];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    o.key_file = missing;
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err),
                     ROC_EINVAL);
    assert_non_null(strstr(err.message, "cannot read"));
    roc_error_clear(&err);
    assert_int_equal(roc_client_set_key_file(emptykey, &err), ROC_EINVAL);
    roc_error_clear(&err);
}

/* ---- raw client ---- */

typedef struct raw {
    nng_stream_dialer *d;
    nng_stream *s;
    nng_aio *aio;
} raw;

static void raw_open(raw *r, const char *url)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(nng_stream_dialer_alloc(&r->d, url), 0);
    assert_int_equal(nng_aio_alloc(&r->aio, NULL, NULL), 0);
    nng_aio_set_timeout(r->aio, 3000);
    nng_stream_dialer_dial(r->d, r->aio);
    nng_aio_wait(r->aio);
    assert_int_equal(nng_aio_result(r->aio), 0);
    r->s = nng_aio_get_output(r->aio, 0);
}

static void raw_close(raw *r)
{
    nng_stream_free(r->s);
    nng_stream_dialer_free(r->d);
    nng_aio_free(r->aio);
}

static int raw_io(raw *r, void *buf, size_t len, bool send)
{
    size_t off = 0;
    while (off < len) {
        nng_iov iov = {(char *)buf + off, len - off};
        nng_aio_set_iov(r->aio, 1, &iov);
        if (send)
            nng_stream_send(r->s, r->aio);
        else
            nng_stream_recv(r->s, r->aio);
        nng_aio_wait(r->aio);
        if (nng_aio_result(r->aio) != 0)
            return -1;
        off += nng_aio_count(r->aio);
    }
    return 0;
}

static void raw_send(raw *r, const msgpack_sbuffer *sb)
{
    uint8_t h[4] = {(uint8_t)(sb->size >> 24), (uint8_t)(sb->size >> 16),
                    (uint8_t)(sb->size >> 8), (uint8_t)sb->size};
    assert_int_equal(raw_io(r, h, 4, true), 0);
    assert_int_equal(raw_io(r, sb->data, sb->size, true), 0);
}

/* Receives one frame and unpacks it into *o (zone z); -1 when closed. */
static int raw_recv(raw *r, msgpack_zone *z, msgpack_object *o, char **buf)
{
    uint8_t h[4];
    if (raw_io(r, h, 4, false))
        return -1;
    size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    *buf = malloc(n);
    if (raw_io(r, *buf, n, false))
        return -1;
    size_t off = 0;
    return msgpack_unpack(*buf, n, &off, z, o) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}

static void hello(msgpack_sbuffer *sb, const uint8_t *nonce)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_map(&pk, nonce ? 2 : 1);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 1);
    if (nonce) {
        msgpack_pack_str_with_body(&pk, "nonce", 5);
        msgpack_pack_bin_with_body(&pk, nonce, 16);
    }
}

static void auth_frame(msgpack_sbuffer *sb, const uint8_t *proof)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 9);
    msgpack_pack_bin_with_body(&pk, proof, 32);
}

static void call_frame(msgpack_sbuffer *sb, uint64_t id)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_str_with_body(&pk, "obj", 3);
    msgpack_pack_str_with_body(&pk, "get", 3);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_map(&pk, 0);
}

static const char *KEY = "correct horse battery staple";

static void proof(const char *label, const uint8_t *cn, const uint8_t *sn,
                  uint8_t out[32])
{
    uint8_t msg[64];
    size_t ll = strlen(label);
    memcpy(msg, label, ll);
    memcpy(msg + ll, cn, 16);
    memcpy(msg + ll + 16, sn, 16);
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                    (const uint8_t *)KEY, strlen(KEY), msg, ll + 32, out);
}

/* The server's nonce from its hello map. */
static bool server_nonce(const msgpack_object *o, uint8_t sn[16])
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
        return false;
    const msgpack_object *m = &o->via.array.ptr[2];
    for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        if (kv->key.via.str.size == 5 && !memcmp(kv->key.via.str.ptr, "nonce", 5) &&
            kv->val.type == MSGPACK_OBJECT_BIN && kv->val.via.bin.size == 16) {
            memcpy(sn, kv->val.via.bin.ptr, 16);
            return true;
        }
    }
    return false;
}

/* error frame [1,4,id,[code,...]]: its code, or -1 */
static int64_t error_code(const msgpack_object *o, uint64_t *id)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4 ||
        o->via.array.ptr[1].via.u64 != 4)
        return -1;
    *id = o->via.array.ptr[2].via.u64;
    return o->via.array.ptr[3].via.array.ptr[0].via.i64;
}

static void test_auth_call_before_proof_refused(void **state)
{
    (void)state;
    roc_daemon *d = keyed_daemon(keyfile, false);
    raw r;
    raw_open(&r, roc_daemon_url(d));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hello(&sb, NULL);
    raw_send(&r, &sb);
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    char *buf = NULL;
    assert_int_equal(raw_recv(&r, &z, &o, &buf), 0); /* its hello */
    free(buf);
    call_frame(&sb, 3);
    raw_send(&r, &sb);
    assert_int_equal(raw_recv(&r, &z, &o, &buf), 0);
    uint64_t id = 0;
    assert_int_equal(error_code(&o, &id), 6); /* roc.Unauthorized */
    assert_int_equal(id, 3);
    free(buf);
    buf = NULL;
    assert_int_equal(raw_recv(&r, &z, &o, &buf), -1); /* then closed */
    free(buf);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    raw_close(&r);
    roc_daemon_close(d);
}

static void test_auth_replayed_handshake_fails(void **state)
{
    (void)state;
    roc_daemon *d = keyed_daemon(keyfile, false);
    uint8_t cn[16];
    for (int i = 0; i < 16; i++)
        cn[i] = (uint8_t)(i * 7 + 1);
    msgpack_sbuffer sb, recorded;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&recorded);
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    char *buf = NULL;
    uint64_t id = 0;

    /* a legitimate session, recorded */
    raw r;
    raw_open(&r, roc_daemon_url(d));
    hello(&sb, cn);
    raw_send(&r, &sb);
    assert_int_equal(raw_recv(&r, &z, &o, &buf), 0);
    uint8_t sn[16], pr[32];
    assert_true(server_nonce(&o, sn));
    free(buf);
    proof("roc-client", cn, sn, pr);
    auth_frame(&recorded, pr);
    raw_send(&r, &recorded);
    call_frame(&sb, 1);
    raw_send(&r, &sb);
    assert_int_equal(raw_recv(&r, &z, &o, &buf), 0);
    assert_int_equal(o.via.array.ptr[1].via.u64, 3); /* a result */
    free(buf);
    raw_close(&r);

    /* the same bytes again: the daemon's fresh nonce makes them useless */
    raw_open(&r, roc_daemon_url(d));
    hello(&sb, cn);
    raw_send(&r, &sb);
    assert_int_equal(raw_recv(&r, &z, &o, &buf), 0);
    uint8_t sn2[16];
    assert_true(server_nonce(&o, sn2));
    assert_memory_not_equal(sn, sn2, 16);
    free(buf);
    raw_send(&r, &recorded);
    assert_int_equal(raw_recv(&r, &z, &o, &buf), 0);
    assert_int_equal(error_code(&o, &id), 6);
    free(buf);
    buf = NULL;
    assert_int_equal(raw_recv(&r, &z, &o, &buf), -1);
    free(buf);
    raw_close(&r);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&recorded);
    roc_daemon_close(d);
}

static void test_auth_authorization_hook(void **state)
{
    (void)state;
    /* an open daemon (no key) with the hook: get for all, set refused */
    roc_daemon *d = keyed_daemon(NULL, true);
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(call(d, "get", &err), 0);
    assert_int_equal(call(d, "set", &err), ROC_EUNAUTH);
    assert_string_equal(err.type, "roc.Unauthorized");
    assert_non_null(strstr(err.message, "obj.set"));
    roc_daemon_close(d);
    /* a keyed daemon with the hook: the authenticated peer may set */
    d = keyed_daemon(keyfile, true);
    assert_int_equal(roc_client_set_key_file(keyfile, &err), 0);
    assert_int_equal(call(d, "set", &err), 0);
    roc_client_set_key(NULL, 0, NULL);
    roc_error_clear(&err);
    roc_daemon_close(d);
}

/* A keyed daemon whose key is optional: lookups stay open to everyone,
 * changes need the key (roc-ns --open-lookups). */
static void test_auth_optional_key_open_reads(void **state)
{
    (void)state;
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.key_file = keyfile;
    o.key_optional = true;
    o.authorize = authz;
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err), 0);
    roc_daemon_register(d, "obj", &servant, NULL);
    roc_daemon_start(d);
    roc_client_set_key(NULL, 0, NULL);
    assert_int_equal(call(d, "get", &err), 0);
    assert_int_equal(call(d, "set", &err), ROC_EUNAUTH);
    roc_daemon_close(d);
    /* a new daemon (a new connection): with the key, set is allowed */
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err), 0);
    roc_daemon_register(d, "obj", &servant, NULL);
    roc_daemon_start(d);
    assert_int_equal(roc_client_set_key_file(keyfile, &err), 0);
    assert_int_equal(call(d, "set", &err), 0);
    roc_daemon_close(d);
    /* and a wrong key is still told so */
    assert_int_equal(roc_daemon_open(&d, "tcp://127.0.0.1:0", &o, &err), 0);
    roc_daemon_register(d, "obj", &servant, NULL);
    roc_daemon_start(d);
    assert_int_equal(roc_client_set_key_file(otherkey, &err), 0);
    assert_int_equal(call(d, "get", &err), ROC_EUNAUTH);
    roc_client_set_key(NULL, 0, NULL);
    roc_error_clear(&err);
    roc_daemon_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_right_key_served),
        cmocka_unit_test(test_auth_wrong_key_fails_both_sides),
        cmocka_unit_test(test_auth_no_key_unauthorized),
        cmocka_unit_test(test_auth_bad_key_file_refused_at_open),
        cmocka_unit_test(test_auth_call_before_proof_refused),
        cmocka_unit_test(test_auth_replayed_handshake_fails),
        cmocka_unit_test(test_auth_authorization_hook),
        cmocka_unit_test(test_auth_optional_key_open_reads),
    };
    return cmocka_run_group_tests_name("auth", tests, setup_all, teardown_all);
}
