/* msgpack codec: exact minimal encodings, round trips of every type and edge
 * value, and a table of malformed inputs, each with its exact error code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roc/codec.h"

#define MiB (1024u * 1024u)

static int setup(void **state)
{
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return -1;
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    roc_arena_free(*state);
    return 0;
}

static double nan_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%02x", i ? " " : "", p[i]);
    if (n && k + 4 >= cap)
        snprintf(out + cap - 4, 4, "...");
}

/* Encodes v (which must succeed) into a fresh buffer. */
static roc_buf enc(const roc_value *v)
{
    roc_buf b = ROC_BUF_INIT;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_encode(&b, v, &err);
    if (rc != 0)
        fail_msg("roc_encode failed (%d): %s", rc, err.message);
    roc_error_clear(&err);
    return b;
}

/* Decodes, expecting success. */
static roc_value *dec(roc_arena *a, const void *p, size_t n)
{
    roc_value *v = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_decode(a, p, n, 0, &v, &err);
    if (rc != 0) {
        char h[200];
        hex(p, n, h, sizeof h);
        fail_msg("roc_decode(%s) failed (%d): %s", h, rc, err.message);
    }
    roc_error_clear(&err);
    assert_non_null(v);
    return v;
}

static roc_value *round_trip(roc_arena *a, const roc_value *v)
{
    roc_buf b = enc(v);
    roc_value *back = dec(a, b.data, b.len);
    if (!roc_value_equal(v, back)) {
        char h[200];
        hex(b.data, b.len, h, sizeof h);
        fail_msg("%s value does not round-trip (bytes %s)",
                 roc_type_name(v->type), h);
    }
    roc_buf_free(&b);
    return back;
}

/* Asserts the exact encoding of v, and that the bytes decode back to v. */
static void check_bytes(roc_arena *a, const roc_value *v, const char *want,
                        size_t wlen)
{
    roc_buf b = enc(v);
    if (b.len != wlen || memcmp(b.data, want, wlen) != 0) {
        char got[200], exp[200];
        hex(b.data, b.len, got, sizeof got);
        hex((const uint8_t *)want, wlen, exp, sizeof exp);
        fail_msg("%s encodes as %s, expected %s", roc_type_name(v->type), got,
                 exp);
    }
    assert_true(roc_value_equal(v, dec(a, b.data, b.len)));
    roc_buf_free(&b);
}

#define BYTES(v, lit) check_bytes(a, (v), (lit), sizeof(lit) - 1)

/* ---- exact minimal encodings ---- */

static void test_codec_bytes_scalars(void **state)
{
    roc_arena *a = *state;
    BYTES(roc_value_nil(a), "\xc0");
    BYTES(roc_value_bool(a, false), "\xc2");
    BYTES(roc_value_bool(a, true), "\xc3");
    BYTES(roc_value_float(a, 1.5), "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00");
}

static void test_codec_bytes_ints(void **state)
{
    roc_arena *a = *state;
    BYTES(roc_value_int(a, 0), "\x00");
    BYTES(roc_value_int(a, 1), "\x01");
    BYTES(roc_value_int(a, 127), "\x7f");
    BYTES(roc_value_int(a, 128), "\xcc\x80");
    BYTES(roc_value_int(a, 255), "\xcc\xff");
    BYTES(roc_value_int(a, 256), "\xcd\x01\x00");
    BYTES(roc_value_int(a, 65536), "\xce\x00\x01\x00\x00");
    BYTES(roc_value_int(a, (int64_t)1 << 32),
          "\xcf\x00\x00\x00\x01\x00\x00\x00\x00");
    BYTES(roc_value_int(a, -1), "\xff");
    BYTES(roc_value_int(a, -32), "\xe0");
    BYTES(roc_value_int(a, -33), "\xd0\xdf");
    BYTES(roc_value_int(a, -129), "\xd1\xff\x7f");
    BYTES(roc_value_int(a, INT64_MIN), "\xd3\x80\x00\x00\x00\x00\x00\x00\x00");
    BYTES(roc_value_uint(a, 1), "\x01");
    BYTES(roc_value_uint(a, UINT64_MAX),
          "\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
}

static void test_codec_bytes_str_bin(void **state)
{
    roc_arena *a = *state;
    BYTES(roc_value_str(a, ""), "\xa0");
    BYTES(roc_value_str(a, "a"), "\xa1\x61");
    BYTES(roc_value_str(a, "é"), "\xa2\xc3\xa9");
    char s32[33];
    memset(s32, 'x', 32);
    s32[32] = 0;
    roc_buf b = enc(roc_value_str(a, s32));
    assert_int_equal(b.len, 34);
    assert_memory_equal(b.data, "\xd9\x20", 2); /* str8 from 32 bytes on */
    roc_buf_free(&b);
    BYTES(roc_value_bin(a, NULL, 0), "\xc4\x00");
    BYTES(roc_value_bin(a, "\x01\x02", 2), "\xc4\x02\x01\x02");
}

static void test_codec_bytes_containers(void **state)
{
    roc_arena *a = *state;
    BYTES(roc_value_array(a, 0), "\x90");
    BYTES(roc_value_arrayv(a, 3, roc_value_int(a, 1), roc_value_int(a, 2),
                           roc_value_int(a, 3)),
          "\x93\x01\x02\x03");
    BYTES(roc_value_map(a, 0), "\x80");
    roc_value *m = roc_value_map(a, 1);
    roc_value_map_set(m, 0, roc_value_str(a, "a"), roc_value_nil(a));
    BYTES(m, "\x81\xa1\x61\xc0");
    roc_buf b = enc(roc_value_array(a, 16));
    assert_int_equal(b.len, 3 + 16);
    assert_memory_equal(b.data, "\xdc\x00\x10", 3);
    roc_buf_free(&b);
}

/* The encoder writes headers itself (not through msgpack-c's packer): every
 * width boundary is checked. */
static void head_is(roc_arena *a, const roc_value *v, const char *want,
                    size_t wlen, size_t total)
{
    roc_buf b = enc(v);
    assert_int_equal(b.len, total);
    assert_memory_equal(b.data, want, wlen);
    assert_true(roc_value_equal(v, dec(a, b.data, b.len)));
    roc_buf_free(&b);
}

static void test_codec_bytes_boundaries(void **state)
{
    roc_arena *a = *state;
    BYTES(roc_value_int(a, 65535), "\xcd\xff\xff");
    BYTES(roc_value_int(a, 4294967295), "\xce\xff\xff\xff\xff");
    BYTES(roc_value_int(a, -128), "\xd0\x80");
    BYTES(roc_value_int(a, -32768), "\xd1\x80\x00");
    BYTES(roc_value_int(a, -32769), "\xd2\xff\xff\x7f\xff");
    BYTES(roc_value_int(a, INT32_MIN), "\xd2\x80\x00\x00\x00");
    BYTES(roc_value_int(a, (int64_t)INT32_MIN - 1),
          "\xd3\xff\xff\xff\xff\x7f\xff\xff\xff");
    BYTES(roc_value_uint(a, 255), "\xcc\xff");
    BYTES(roc_value_float(a, -0.0), "\xcb\x80\x00\x00\x00\x00\x00\x00\x00");
    static char s[70000];
    memset(s, 'y', sizeof s - 1);
    s[31] = 0;
    head_is(a, roc_value_str(a, s), "\xbf", 1, 32);
    s[31] = 'y';
    s[255] = 0;
    head_is(a, roc_value_str(a, s), "\xd9\xff", 2, 257);
    s[255] = 'y';
    s[256] = 0;
    head_is(a, roc_value_str(a, s), "\xda\x01\x00", 3, 259);
    s[256] = 'y';
    s[65536] = 0;
    head_is(a, roc_value_str(a, s), "\xdb\x00\x01\x00\x00", 5, 65541);
    head_is(a, roc_value_array(a, 15), "\x9f", 1, 16);
    head_is(a, roc_value_array(a, 65536), "\xdd\x00\x01\x00\x00", 5,
            5 + 65536);
    roc_value *m = roc_value_map(a, 16);
    for (size_t i = 0; i < 16; i++)
        roc_value_map_set(m, i, roc_value_int(a, (int64_t)i), roc_value_nil(a));
    head_is(a, m, "\xde\x00\x10", 3, 3 + 32);
    /* an invalid UTF-8 string inside an array is still refused */
    roc_value *arr = roc_value_arrayv(a, 2, roc_value_int(a, 1),
                                      roc_value_strn(a, "\xff", 1));
    roc_buf b = {0};
    assert_int_not_equal(roc_encode(&b, arr, NULL), 0);
    roc_buf_free(&b);
}

static void test_codec_bytes_refs(void **state)
{
    roc_arena *a = *state;
    /* ext type 1 holds the URI, ext type 2 the callback's object id. */
    BYTES(roc_value_ref(a, "ROC:calc@tcp://h:1"),
          "\xc7\x12\x01ROC:calc@tcp://h:1");
    roc_value *cb = roc_value_ref(a, "ab");
    cb->u.ref.kind = ROC_REF_CALLBACK;
    BYTES(cb, "\xd5\x02"
              "ab");
}

/* ---- round trips ---- */

static void test_codec_roundtrip_ints(void **state)
{
    roc_arena *a = *state;
    const int64_t is[] = {INT64_MIN,
                          INT64_MIN + 1,
                          -(1LL << 31) - 1,
                          -(1LL << 31),
                          -32769,
                          -32768,
                          -129,
                          -128,
                          -33,
                          -32,
                          -1,
                          0,
                          1,
                          127,
                          128,
                          255,
                          256,
                          65535,
                          65536,
                          (1LL << 32) - 1,
                          1LL << 32,
                          INT64_MAX};
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
        roc_value *back = round_trip(a, roc_value_int(a, is[i]));
        assert_int_equal(back->type, ROC_INT);
        assert_true(back->u.i == is[i]);
    }
}

static void test_codec_roundtrip_uints(void **state)
{
    roc_arena *a = *state;
    /* Values up to INT64_MAX come back as ROC_INT (value.h). */
    roc_value *back = round_trip(a, roc_value_uint(a, 5));
    assert_int_equal(back->type, ROC_INT);
    back = round_trip(a, roc_value_uint(a, (uint64_t)INT64_MAX));
    assert_int_equal(back->type, ROC_INT);
    back = round_trip(a, roc_value_uint(a, (uint64_t)INT64_MAX + 1));
    assert_int_equal(back->type, ROC_UINT);
    back = round_trip(a, roc_value_uint(a, UINT64_MAX));
    assert_int_equal(back->type, ROC_UINT);
    assert_true(back->u.u == UINT64_MAX);
}

static void test_codec_roundtrip_floats(void **state)
{
    roc_arena *a = *state;
    const double fs[] = {0.0,
                         -0.0,
                         1.5,
                         -1e300,
                         4.9e-324,
                         INFINITY,
                         -INFINITY,
                         nan_bits(0x7ff8000000000000ull),
                         nan_bits(0xfff0000000000001ull)};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        roc_value *back = round_trip(a, roc_value_float(a, fs[i]));
        assert_int_equal(back->type, ROC_FLOAT);
        assert_memory_equal(&back->u.f, &fs[i], sizeof(double)); /* bits */
    }
}

static void test_codec_roundtrip_nil_bool(void **state)
{
    roc_arena *a = *state;
    round_trip(a, roc_value_nil(a));
    round_trip(a, roc_value_bool(a, true));
    round_trip(a, roc_value_bool(a, false));
}

static void test_codec_roundtrip_strings(void **state)
{
    roc_arena *a = *state;
    round_trip(a, roc_value_str(a, ""));
    round_trip(a, roc_value_str(a, "héllo ☃ 𝄞"));
    roc_value *back = round_trip(a, roc_value_strn(a, "a\0b", 3));
    assert_int_equal(back->u.str.len, 3);
    assert_int_equal(back->u.str.ptr[3], 0);
    /* Lengths at each header boundary: fixstr, str8, str16, str32. */
    const size_t lens[] = {31, 32, 255, 256, 65535, 65536};
    char *s = malloc(65537);
    assert_non_null(s);
    memset(s, 'q', 65536);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        round_trip(a, roc_value_strn(a, s, lens[i]));
    free(s);
}

static void test_codec_roundtrip_str_1mib(void **state)
{
    char *s = malloc(MiB);
    assert_non_null(s);
    for (size_t i = 0; i < MiB; i++)
        s[i] = (char)('a' + i % 26);
    roc_value *back = round_trip(*state, roc_value_strn(*state, s, MiB));
    assert_int_equal(back->u.str.len, MiB);
    free(s);
}

static void test_codec_roundtrip_bins(void **state)
{
    roc_arena *a = *state;
    round_trip(a, roc_value_bin(a, NULL, 0));
    const size_t lens[] = {1, 255, 256, 65535, 65536, MiB};
    uint8_t *p = malloc(MiB);
    assert_non_null(p);
    for (size_t i = 0; i < MiB; i++)
        p[i] = (uint8_t)(i * 13u);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        roc_value *back = round_trip(a, roc_value_bin(a, p, lens[i]));
        assert_int_equal(back->type, ROC_BIN);
        assert_int_equal(back->u.bin.len, lens[i]);
    }
    free(p);
}

static void test_codec_roundtrip_refs(void **state)
{
    roc_arena *a = *state;
    roc_value *back =
        round_trip(a, roc_value_ref(a, "ROC:calc@tcp://10.0.0.5:9100"));
    assert_int_equal(back->u.ref.kind, ROC_REF_URI);
    assert_string_equal(back->u.ref.uri, "ROC:calc@tcp://10.0.0.5:9100");
    /* Each fixext size (1, 2, 4, 8, 16) and ext8. */
    const char *ids[] = {"a",   "ab",   "abcd", "abcdefgh", "abcdefghijklmnop",
                         "abc", "cb.17"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        roc_value *cb = roc_value_ref(a, ids[i]);
        cb->u.ref.kind = ROC_REF_CALLBACK;
        back = round_trip(a, cb);
        assert_int_equal(back->u.ref.kind, ROC_REF_CALLBACK);
        assert_string_equal(back->u.ref.uri, ids[i]);
    }
}

static void test_codec_roundtrip_nested(void **state)
{
    roc_arena *a = *state;
    roc_value *cb = roc_value_ref(a, "cb");
    cb->u.ref.kind = ROC_REF_CALLBACK;
    roc_value *m = roc_value_map(a, 3);
    roc_value_map_set(
        m, 0, roc_value_str(a, "k"),
        roc_value_arrayv(a, 3, roc_value_array(a, 0), roc_value_map(a, 0), cb));
    roc_value_map_set(m, 1, roc_value_int(a, -5),
                      roc_value_uint(a, UINT64_MAX));
    roc_value_map_set(m, 2, roc_value_arrayv(a, 1, roc_value_nil(a)),
                      roc_value_float(a, nan_bits(0x7ff8000000000001ull)));
    roc_value *v = roc_value_arrayv(
        a, 6, m, roc_value_int(a, INT64_MIN), roc_value_bin(a, "\0", 1),
        roc_value_ref(a, "ROC:x@ipc:///tmp/x"), roc_value_str(a, "end"),
        roc_value_array(a, 20));
    round_trip(a, v);
}

static void test_codec_roundtrip_large_counts(void **state)
{
    roc_arena *a = *state;
    /* array16 / array32 and map16 / map32 headers. */
    const size_t ns[] = {15, 16, 65535, 65536};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        roc_value *arr = roc_value_array(a, ns[i]);
        for (size_t k = 0; k < ns[i]; k++)
            arr->u.array.items[k] = *roc_value_int(a, (int64_t)k);
        round_trip(a, arr);
        roc_value *m = roc_value_map(a, ns[i]);
        for (size_t k = 0; k < ns[i]; k++)
            roc_value_map_set(m, k, roc_value_int(a, (int64_t)k),
                              roc_value_bool(a, k & 1));
        round_trip(a, m);
    }
}

static void test_codec_depth_limit_roundtrip(void **state)
{
    roc_arena *a = *state;
    /* 64 nested arrays around a scalar: the deepest the default allows. */
    roc_value *v = roc_value_int(a, 1);
    for (int i = 0; i < ROC_DEFAULT_MAX_DEPTH; i++)
        v = roc_value_arrayv(a, 1, v);
    round_trip(a, v);
}

/* Whatever roc_encode accepts, roc_decode with the default limit must read
 * back: the two sides' depth limits have to agree. */
static void test_codec_encoder_depth_matches_decoder(void **state)
{
    roc_arena *a = *state;
    for (int levels = ROC_DEFAULT_MAX_DEPTH - 1;
         levels <= ROC_DEFAULT_MAX_DEPTH + 2; levels++) {
        roc_value *v = roc_value_array(a, 0);
        for (int i = 1; i < levels; i++)
            v = roc_value_arrayv(a, 1, v);
        roc_buf b = ROC_BUF_INIT;
        int erc = roc_encode(&b, v, NULL);
        if (erc == 0) {
            roc_value *out = NULL;
            roc_error err = ROC_ERROR_INIT;
            int drc = roc_decode(a, b.data, b.len, 0, &out, &err);
            char msg[300];
            snprintf(msg, sizeof msg, "%s", err.message ? err.message : "");
            roc_error_clear(&err);
            if (drc != 0) {
                roc_buf_free(&b);
                fail_msg("%d nested arrays: roc_encode accepts, roc_decode "
                         "refuses (%d: %s)",
                         levels, drc, msg);
            }
        } else {
            assert_int_equal(erc, ROC_EINVAL);
            assert_int_equal(b.len, 0);
        }
        roc_buf_free(&b);
    }
}

static void test_codec_decode_normalizes_wide_encodings(void **state)
{
    roc_arena *a = *state;
    /* Non-minimal but valid encodings from other implementations. */
    roc_value *v = dec(a, "\xcf\x00\x00\x00\x00\x00\x00\x00\x05", 9);
    assert_int_equal(v->type, ROC_INT);
    assert_int_equal(v->u.i, 5);
    v = dec(a, "\xd3\x00\x00\x00\x00\x00\x00\x00\x05", 9);
    assert_int_equal(v->type, ROC_INT);
    assert_int_equal(v->u.i, 5);
    v = dec(a, "\xd0\x80", 2);
    assert_int_equal(v->u.i, -128);
    v = dec(a, "\xd9\x01\x61", 3);
    assert_string_equal(v->u.str.ptr, "a");
    v = dec(a, "\xdb\x00\x00\x00\x01\x61", 6);
    assert_string_equal(v->u.str.ptr, "a");
    v = dec(a, "\xdd\x00\x00\x00\x01\x01", 6);
    assert_int_equal(roc_value_len(v), 1);
    v = dec(a, "\xdf\x00\x00\x00\x01\x01\x02", 7);
    assert_int_equal(v->type, ROC_MAP);
    v = dec(a, "\xc6\x00\x00\x00\x01\x09", 6);
    assert_int_equal(v->type, ROC_BIN);
    v = dec(a, "\xca\x3f\xc0\x00\x00", 5); /* float32 1.5 */
    assert_int_equal(v->type, ROC_FLOAT);
    assert_true(v->u.f == 1.5);
    v = dec(a, "\xc8\x00\x01\x01x", 5); /* ext16 ref */
    assert_int_equal(v->type, ROC_REF);
    assert_string_equal(v->u.ref.uri, "x");
}

static void test_codec_encode_appends(void **state)
{
    roc_arena *a = *state;
    roc_buf b = ROC_BUF_INIT;
    assert_int_equal(roc_encode(&b, roc_value_int(a, 1), NULL), 0);
    assert_int_equal(roc_encode(&b, roc_value_nil(a), NULL), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\x01\xc0", 2);
    roc_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_codec_encode_refusals(void **state)
{
    roc_arena *a = *state;
    roc_buf b = ROC_BUF_INIT;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_encode(&b, roc_value_int(a, 1), NULL), 0);
    roc_value *bad = roc_value_nil(a);
    bad->type = (roc_type)77;
    roc_value *arr = roc_value_arrayv(a, 2, roc_value_int(a, 2), bad);
    assert_int_equal(roc_encode(&b, arr, &err), ROC_EINVAL);
    assert_int_equal(err.code, ROC_EINVAL);
    assert_int_equal(b.len, 1); /* nothing of the failed value left behind */
    roc_value *deep = roc_value_int(a, 1);
    for (int i = 0; i < 200; i++)
        deep = roc_value_arrayv(a, 1, deep);
    assert_int_equal(roc_encode(&b, deep, NULL), ROC_EINVAL);
    assert_int_equal(b.len, 1);
    assert_int_equal(roc_encode(NULL, arr, NULL), ROC_EINVAL);
    roc_buf_free(&b);
    roc_error_clear(&err);
}

static void test_codec_decode_bad_args(void **state)
{
    roc_value *v = NULL;
    assert_int_equal(roc_decode(NULL, "\xc0", 1, 0, &v, NULL), ROC_EINVAL);
    assert_int_equal(roc_decode(*state, "\xc0", 1, 0, NULL, NULL), ROC_EINVAL);
    assert_int_equal(roc_decode(*state, NULL, 1, 0, &v, NULL), ROC_EINVAL);
}

/* ---- malformed input ---- */

typedef struct bad_input {
    const char *what;
    const char *bytes;
    size_t len;
    unsigned max_depth;
    int code;
} bad_input;

#define BAD(what, lit)                                                         \
    {                                                                          \
        what, lit, sizeof(lit) - 1, 0, ROC_EPROTO                              \
    }
#define BAD_DEPTH(what, lit, d)                                                \
    {                                                                          \
        what, lit, sizeof(lit) - 1, d, ROC_EPROTO                              \
    }

static const bad_input malformed[] = {
    BAD("empty buffer", ""),
    BAD("reserved byte 0xc1", "\xc1"),
    BAD("reserved byte 0xc1 in an array", "\x92\x01\xc1"),
    BAD("reserved byte 0xc1 as a map key", "\x81\xc1\x01"),
    BAD("trailing byte after nil", "\xc0\xc0"),
    BAD("trailing byte after int", "\x01\x00"),
    BAD("trailing byte after an array", "\x91\x01\x02"),
    BAD("two empty arrays", "\x90\x90"),
    BAD("array32 claiming 2^32-1 elements in 6 bytes",
        "\xdd\xff\xff\xff\xff\x00"),
    BAD("array32 claiming 2^31 elements", "\xdd\x80\x00\x00\x00\x01\x02"),
    BAD("array16 claiming 65535 elements", "\xdc\xff\xff\x00"),
    BAD("fixarray claiming 15 elements with 2", "\x9f\x01\x02"),
    BAD("map32 claiming 2^32-1 entries", "\xdf\xff\xff\xff\xff\x00\x00"),
    BAD("map16 claiming 65535 entries", "\xde\xff\xff\x01\x02"),
    BAD("map with a key and no value", "\x81\x01"),
    BAD("fixmap claiming 2 entries with 3 bytes", "\x82\x01\x02\x03"),
    BAD("str32 claiming 4 GiB", "\xdb\xff\xff\xff\xff\x61"),
    BAD("str16 longer than the buffer", "\xda\x00\x10\x61\x62"),
    BAD("str8 longer than the buffer", "\xd9\x05\x61"),
    BAD("fixstr longer than the buffer", "\xa5\x61\x62"),
    BAD("bin32 claiming 4 GiB", "\xc6\xff\xff\xff\xff\x00"),
    BAD("bin8 longer than the buffer", "\xc4\x03\x00"),
    BAD("ext32 claiming 4 GiB", "\xc9\xff\xff\xff\xff\x01\x61"),
    BAD("ext8 longer than the buffer", "\xc7\x05\x01\x61"),
    BAD("ext8 without its type byte", "\xc7\x00"),
    BAD("fixext1 without payload", "\xd4\x01"),
    BAD("fixext16 short", "\xd8\x01\x61\x62"),
    BAD("ext of unknown type 3", "\xd4\x03\x61"),
    BAD("ext of type -1 (timestamp)", "\xd6\xff\x00\x00\x00\x00"),
    BAD("ref of zero length", "\xc7\x00\x01"),
    BAD("ref holding a NUL", "\xd5\x01\x61\x00"),
    BAD("ref holding invalid UTF-8", "\xd4\x01\xff"),
    BAD("str with byte 0xff", "\xa1\xff"),
    BAD("str with a lone continuation byte", "\xa1\x80"),
    BAD("str with a truncated sequence", "\xa1\xc3"),
    BAD("str with a bad continuation", "\xa2\xc3\x28"),
    BAD("str with an overlong NUL", "\xa2\xc0\x80"),
    BAD("str with an overlong 3-byte form", "\xa3\xe0\x80\xaf"),
    BAD("str with a surrogate", "\xa3\xed\xa0\x80"),
    BAD("str above U+10FFFF", "\xa4\xf4\x90\x80\x80"),
    BAD("str with a 5-byte form", "\xa5\xf8\x88\x80\x80\x80"),
    BAD("invalid UTF-8 in a map key", "\x81\xa1\xff\x01"),
    BAD("invalid UTF-8 deep inside", "\x91\x91\x81\x01\xa1\xfe"),
    BAD("truncated uint8", "\xcc"),
    BAD("truncated uint16", "\xcd\x00"),
    BAD("truncated uint32", "\xce\x00\x00\x00"),
    BAD("truncated uint64", "\xcf\x00\x00\x00\x00\x00\x00\x00"),
    BAD("truncated int64", "\xd3\x00"),
    BAD("truncated float32", "\xca\x00\x00"),
    BAD("truncated float64", "\xcb\x00\x00\x00\x00\x00\x00\x00"),
    BAD("truncated str8 header", "\xd9"),
    BAD("truncated str32 header", "\xdb\x00\x00"),
    BAD("truncated array32 header", "\xdd\x00\x00\x00"),
    BAD("truncated map16 header", "\xde\x00"),
    BAD_DEPTH("two arrays over a depth limit of 1", "\x91\x91\xc0", 1),
    BAD_DEPTH("a map in an array over a depth limit of 1", "\x91\x81\x01\x02",
              1),
    BAD_DEPTH("a map as a map key over a depth limit of 1", "\x81\x80\x01", 1),
};

static void expect_bad(roc_arena *a, const char *what, const void *p, size_t n,
                       unsigned max_depth, int code)
{
    roc_value *v = (roc_value *)0x1;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_decode(a, p, n, max_depth, &v, &err);
    if (rc != code) {
        char h[200];
        hex(p, n, h, sizeof h);
        fail_msg("%s (%s): expected %d, got %d (%s)", what, h, code, rc,
                 err.message ? err.message : "no message");
    }
    assert_int_equal(err.code, code);
    assert_non_null(err.message);
    roc_error_clear(&err);
}

static void test_codec_malformed_table(void **state)
{
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        const bad_input *b = &malformed[i];
        /* Copy to the heap so that ASan sees any read past the end. */
        uint8_t *p = malloc(b->len ? b->len : 1);
        assert_non_null(p);
        memcpy(p, b->bytes, b->len);
        expect_bad(*state, b->what, p, b->len, b->max_depth, b->code);
        free(p);
    }
}

/* Every proper prefix of a valid encoding is truncated. */
static void test_codec_truncated_at_every_offset(void **state)
{
    roc_arena *a = *state;
    roc_value *cb = roc_value_ref(a, "cb.1");
    cb->u.ref.kind = ROC_REF_CALLBACK;
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, roc_value_str(a, "key"), roc_value_float(a, 2.5));
    roc_value_map_set(m, 1, roc_value_int(a, -300), cb);
    char s40[41];
    memset(s40, 's', 40);
    s40[40] = 0;
    roc_value *v = roc_value_arrayv(
        a, 12, roc_value_nil(a), roc_value_bool(a, true),
        roc_value_int(a, INT64_MIN), roc_value_uint(a, UINT64_MAX),
        roc_value_int(a, 70000), roc_value_str(a, "héllo"),
        roc_value_str(a, s40), roc_value_bin(a, "\x00\x01\x02", 3),
        roc_value_ref(a, "ROC:calc@tcp://h:1"), m, roc_value_array(a, 0),
        roc_value_array(a, 17));
    roc_buf b = enc(v);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, b.data, n);
        char what[64];
        snprintf(what, sizeof what, "prefix of %zu of %zu bytes", n, b.len);
        expect_bad(a, what, p, n, 0, ROC_EPROTO);
        free(p);
    }
    assert_true(roc_value_equal(v, dec(a, b.data, b.len)));
    roc_buf_free(&b);
}

static void test_codec_nesting_over_default_limit(void **state)
{
    roc_arena *a = *state;
    const unsigned lim = ROC_DEFAULT_MAX_DEPTH;
    uint8_t buf[2 * ROC_DEFAULT_MAX_DEPTH + 8];
    /* lim arrays around nil: fine; lim + 1: refused. */
    for (unsigned levels = lim; levels <= lim + 1; levels++) {
        memset(buf, 0x91, levels);
        buf[levels] = 0xc0;
        roc_value *v = NULL;
        int rc = roc_decode(a, buf, levels + 1, 0, &v, NULL);
        assert_int_equal(rc, levels <= lim ? 0 : ROC_EPROTO);
    }
    /* Maps nested through their values. */
    for (unsigned levels = lim; levels <= lim + 1; levels++) {
        size_t n = 0;
        for (unsigned i = 0; i < levels; i++) {
            buf[n++] = 0x81;
            buf[n++] = 0x01;
        }
        buf[n++] = 0xc0;
        roc_value *v = NULL;
        assert_int_equal(roc_decode(a, buf, n, 0, &v, NULL),
                         levels <= lim ? 0 : ROC_EPROTO);
    }
    /* An explicit limit. */
    roc_value *v = NULL;
    assert_int_equal(roc_decode(a, "\x91\x91\xc0", 3, 2, &v, NULL), 0);
    assert_int_equal(roc_decode(a, "\x91\x91\x91\xc0", 4, 2, &v, NULL),
                     ROC_EPROTO);
}

static void test_codec_nesting_far_too_deep(void **state)
{
    /* A million nested arrays: refused at the limit, no stack overflow. */
    size_t n = 1000000;
    uint8_t *p = malloc(n + 1);
    assert_non_null(p);
    memset(p, 0x91, n);
    p[n] = 0xc0;
    expect_bad(*state, "1e6 nested arrays", p, n + 1, 0, ROC_EPROTO);
    free(p);
}

/* Every single-byte change of a valid encoding decodes or fails cleanly. */
static void test_codec_mutations_never_crash(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, roc_value_str(a, "k"), roc_value_float(a, 2.5));
    roc_value_map_set(m, 1, roc_value_int(a, 300), roc_value_bin(a, "xy", 2));
    roc_value *v = roc_value_arrayv(a, 5, roc_value_uint(a, UINT64_MAX), m,
                                    roc_value_str(a, "héllo"),
                                    roc_value_ref(a, "ROC:c@tcp://h:1"),
                                    roc_value_arrayv(a, 1, roc_value_nil(a)));
    roc_buf b = enc(v);
    uint8_t *p = malloc(b.len);
    assert_non_null(p);
    for (size_t i = 0; i < b.len; i++) {
        for (unsigned x = 0; x < 256; x++) {
            memcpy(p, b.data, b.len);
            p[i] = (uint8_t)x;
            roc_value *out = NULL;
            int rc = roc_decode(a, p, b.len, 0, &out, NULL);
            if (rc != 0 && rc != ROC_EPROTO)
                fail_msg("byte %zu = 0x%02x: code %d", i, x, rc);
            if (rc == 0) {
                roc_buf again = ROC_BUF_INIT;
                assert_int_equal(roc_encode(&again, out, NULL), 0);
                roc_buf_free(&again);
            }
        }
        roc_arena_reset(a);
    }
    free(p);
    roc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_codec_bytes_scalars),
        T(test_codec_bytes_ints),
        T(test_codec_bytes_str_bin),
        T(test_codec_bytes_containers),
        T(test_codec_bytes_boundaries),
        T(test_codec_bytes_refs),
        T(test_codec_roundtrip_ints),
        T(test_codec_roundtrip_uints),
        T(test_codec_roundtrip_floats),
        T(test_codec_roundtrip_nil_bool),
        T(test_codec_roundtrip_strings),
        T(test_codec_roundtrip_str_1mib),
        T(test_codec_roundtrip_bins),
        T(test_codec_roundtrip_refs),
        T(test_codec_roundtrip_nested),
        T(test_codec_roundtrip_large_counts),
        T(test_codec_depth_limit_roundtrip),
        T(test_codec_encoder_depth_matches_decoder),
        T(test_codec_decode_normalizes_wide_encodings),
        T(test_codec_encode_appends),
        T(test_codec_encode_refusals),
        T(test_codec_decode_bad_args),
        T(test_codec_malformed_table),
        T(test_codec_truncated_at_every_offset),
        T(test_codec_nesting_over_default_limit),
        T(test_codec_nesting_far_too_deep),
        T(test_codec_mutations_never_crash),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
