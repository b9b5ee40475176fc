/* JSON text of values: exact output, round trips, special forms, refusals
 * and bad JSON. docs/json.md states the mapping tested here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "roc/value.h"

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

/* Asserts that v prints as want (compact), and that want reads back to a
 * value equal to v. */
static void check_exact(roc_arena *a, const roc_value *v, const char *want)
{
    char *s = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_value_to_json(v, 0, &s, &err);
    if (rc != 0)
        fail_msg("to_json failed (%d): %s", rc, err.message);
    assert_string_equal(s, want);
    roc_value *back = NULL;
    rc = roc_value_from_json(a, s, &back, &err);
    if (rc != 0)
        fail_msg("from_json('%s') failed (%d): %s", s, rc, err.message);
    if (!roc_value_equal(v, back))
        fail_msg("'%s' does not read back equal", s);
    free(s);
    roc_error_clear(&err);
}

/* Round trip only; returns the value read back. */
static roc_value *round_trip(roc_arena *a, const roc_value *v, unsigned flags)
{
    char *s = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_value_to_json(v, flags, &s, &err);
    if (rc != 0)
        fail_msg("to_json failed (%d): %s", rc, err.message);
    roc_value *back = NULL;
    rc = roc_value_from_json(a, s, &back, &err);
    if (rc != 0)
        fail_msg("from_json failed (%d): %s", rc, err.message);
    assert_true(roc_value_equal(v, back));
    free(s);
    roc_error_clear(&err);
    return back;
}

static roc_value *parse_ok(roc_arena *a, const char *json)
{
    roc_value *v = NULL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_value_from_json(a, json, &v, &err);
    if (rc != 0)
        fail_msg("from_json('%s') failed (%d): %s", json, rc, err.message);
    roc_error_clear(&err);
    return v;
}

static void expect_refusal(const roc_value *v, int code, const char *needle)
{
    char *s = (char *)"untouched";
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_value_to_json(v, 0, &s, &err), code);
    assert_null(s);
    assert_int_equal(err.code, code);
    if (needle && !strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
    roc_error_clear(&err);
}

/* ---- scalars ---- */

static void test_json_nil_bool(void **state)
{
    check_exact(*state, roc_value_nil(*state), "null");
    check_exact(*state, roc_value_bool(*state, true), "true");
    check_exact(*state, roc_value_bool(*state, false), "false");
}

static void test_json_int_edges(void **state)
{
    roc_arena *a = *state;
    check_exact(a, roc_value_int(a, 0), "0");
    check_exact(a, roc_value_int(a, -1), "-1");
    check_exact(a, roc_value_int(a, 128), "128");
    check_exact(a, roc_value_int(a, (int64_t)1 << 32), "4294967296");
    check_exact(a, roc_value_int(a, INT64_MIN), "-9223372036854775808");
    check_exact(a, roc_value_int(a, INT64_MAX), "9223372036854775807");
    roc_value *v = parse_ok(a, "-9223372036854775808");
    assert_int_equal(v->type, ROC_INT);
    assert_true(v->u.i == INT64_MIN);
}

static void test_json_uint_small_is_plain_integer(void **state)
{
    roc_arena *a = *state;
    check_exact(a, roc_value_uint(a, 5), "5");
    check_exact(a, roc_value_uint(a, (uint64_t)INT64_MAX),
                "9223372036854775807");
}

static void test_json_uint_big_is_u64_form(void **state)
{
    roc_arena *a = *state;
    check_exact(a, roc_value_uint(a, UINT64_MAX),
                "{\"$u64\":\"18446744073709551615\"}");
    check_exact(a, roc_value_uint(a, (uint64_t)INT64_MAX + 1),
                "{\"$u64\":\"9223372036854775808\"}");
    roc_value *v = parse_ok(a, "{\"$u64\": \"18446744073709551615\"}");
    assert_int_equal(v->type, ROC_UINT);
    assert_true(v->u.u == UINT64_MAX);
    v = parse_ok(a, "{\"$u64\":\"007\"}");
    assert_int_equal(v->type, ROC_UINT);
    assert_true(v->u.u == 7);
}

static void test_json_float_shortest(void **state)
{
    roc_arena *a = *state;
    check_exact(a, roc_value_float(a, 1.5), "1.5");
    check_exact(a, roc_value_float(a, 0.1), "0.1");
    check_exact(a, roc_value_float(a, 100.0), "100.0");
    check_exact(a, roc_value_float(a, 0.0), "0.0");
    check_exact(a, roc_value_float(a, 123456.5), "123456.5");
    roc_value *v = parse_ok(a, "1.0");
    assert_int_equal(v->type, ROC_FLOAT); /* a real stays a float */
    v = parse_ok(a, "1");
    assert_int_equal(v->type, ROC_INT);
}

static void test_json_float_exact_round_trip(void **state)
{
    roc_arena *a = *state;
    const double cases[] = {0.1,
                            1.0 / 3,
                            -2.5e-308,
                            4.9e-324,
                            1e300,
                            1e21,
                            DBL_MAX,
                            -DBL_MIN,
                            123456789.123,
                            9007199254740993.0,
                            2.2250738585072014e-308};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        roc_value *back = round_trip(a, roc_value_float(a, cases[i]), 0);
        assert_int_equal(back->type, ROC_FLOAT);
        assert_memory_equal(&back->u.f, &cases[i], sizeof(double));
    }
    /* Several floats in one value share the printer's precision. */
    roc_value *arr = roc_value_arrayv(a, 3, roc_value_float(a, 0.1),
                                      roc_value_float(a, 1.0 / 3),
                                      roc_value_float(a, 1e-300));
    round_trip(a, arr, 0);
}

static void test_json_negative_zero(void **state)
{
    roc_value *back = round_trip(*state, roc_value_float(*state, -0.0), 0);
    assert_int_equal(back->type, ROC_FLOAT);
    assert_true(signbit(back->u.f));
}

static void test_json_str(void **state)
{
    roc_arena *a = *state;
    check_exact(a, roc_value_str(a, ""), "\"\"");
    check_exact(a, roc_value_str(a, "héllo ☃"), "\"héllo ☃\"");
    check_exact(a, roc_value_str(a, "q\"b\\n\n"), "\"q\\\"b\\\\n\\n\"");
    check_exact(a, roc_value_strn(a, "a\0b", 3), "\"a\\u0000b\"");
}

static void test_json_str_1mib(void **state)
{
    char *big = malloc(MiB + 1);
    assert_non_null(big);
    for (size_t i = 0; i < MiB; i++)
        big[i] = (char)('a' + i % 26);
    big[MiB] = 0;
    roc_value *back = round_trip(*state, roc_value_str(*state, big), 0);
    assert_int_equal(back->u.str.len, MiB);
    free(big);
}

static void test_json_str_invalid_utf8_refused(void **state)
{
    expect_refusal(roc_value_str(*state, "\xc3\x28"), ROC_EINVAL, "UTF-8");
    expect_refusal(roc_value_str(*state, "\xff"), ROC_EINVAL, "UTF-8");
}

/* ---- bytes ---- */

static void test_json_bytes_vectors(void **state)
{
    roc_arena *a = *state;
    /* RFC 4648 test vectors. */
    check_exact(a, roc_value_bin(a, NULL, 0), "{\"$bytes\":\"\"}");
    check_exact(a, roc_value_bin(a, "f", 1), "{\"$bytes\":\"Zg==\"}");
    check_exact(a, roc_value_bin(a, "fo", 2), "{\"$bytes\":\"Zm8=\"}");
    check_exact(a, roc_value_bin(a, "foo", 3), "{\"$bytes\":\"Zm9v\"}");
    check_exact(a, roc_value_bin(a, "foob", 4), "{\"$bytes\":\"Zm9vYg==\"}");
    check_exact(a, roc_value_bin(a, "fooba", 5), "{\"$bytes\":\"Zm9vYmE=\"}");
    check_exact(a, roc_value_bin(a, "foobar", 6), "{\"$bytes\":\"Zm9vYmFy\"}");
    check_exact(a, roc_value_bin(a, "\xfb\xff\xbf", 3),
                "{\"$bytes\":\"+/+/\"}");
}

static void test_json_bytes_all_lengths(void **state)
{
    roc_arena *a = *state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= sizeof buf; n += (n < 16 ? 1 : 37))
        round_trip(a, roc_value_bin(a, buf, n), 0);
}

static void test_json_bytes_unpadded_accepted(void **state)
{
    roc_value *v = parse_ok(*state, "{\"$bytes\":\"Zg\"}");
    assert_int_equal(v->type, ROC_BIN);
    assert_int_equal(v->u.bin.len, 1);
    assert_int_equal(v->u.bin.ptr[0], 'f');
    v = parse_ok(*state, "{\"$bytes\":\"Zm8\"}");
    assert_int_equal(v->u.bin.len, 2);
}

static void test_json_bytes_1mib(void **state)
{
    uint8_t *big = malloc(MiB);
    assert_non_null(big);
    for (size_t i = 0; i < MiB; i++)
        big[i] = (uint8_t)(i * 7u + 3u);
    roc_value *back = round_trip(*state, roc_value_bin(*state, big, MiB), 0);
    assert_int_equal(back->type, ROC_BIN);
    assert_int_equal(back->u.bin.len, MiB);
    free(big);
}

/* ---- references ---- */

static void test_json_ref_uri(void **state)
{
    roc_arena *a = *state;
    check_exact(a, roc_value_ref(a, "ROC:calc@tcp://h:1"),
                "{\"$ref\":\"ROC:calc@tcp://h:1\"}");
    roc_value *v = parse_ok(a, "{\"$ref\":\"rocname:demo.calc\"}");
    assert_int_equal(v->type, ROC_REF);
    assert_int_equal(v->u.ref.kind, ROC_REF_URI);
    assert_string_equal(v->u.ref.uri, "rocname:demo.calc");
}

static void test_json_ref_callback(void **state)
{
    roc_arena *a = *state;
    roc_value *r = roc_value_ref(a, "obj.7");
    r->u.ref.kind = ROC_REF_CALLBACK;
    check_exact(a, r, "{\"$ref\":\"obj.7\"}");
    roc_value *v = parse_ok(a, "{\"$ref\":\"obj.7\"}");
    assert_int_equal(v->u.ref.kind, ROC_REF_CALLBACK);
}

/* ---- containers ---- */

static void test_json_array_nested(void **state)
{
    roc_arena *a = *state;
    roc_value *v = roc_value_arrayv(
        a, 4, roc_value_int(a, 1),
        roc_value_arrayv(a, 2, roc_value_array(a, 0), roc_value_nil(a)),
        roc_value_str(a, "x"), roc_value_uint(a, UINT64_MAX));
    check_exact(a, v,
                "[1,[[],null],\"x\",{\"$u64\":\"18446744073709551615\"}]");
}

static void test_json_map_string_keys(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, roc_value_str(a, "b"), roc_value_int(a, 1));
    roc_value_map_set(m, 1, roc_value_str(a, "a"), roc_value_map(a, 0));
    check_exact(a, m, "{\"b\":1,\"a\":{}}"); /* order kept */
}

static void test_json_map_nonstring_keys(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 6);
    roc_value_map_set(m, 0, roc_value_int(a, 1), roc_value_str(a, "one"));
    roc_value_map_set(m, 1, roc_value_bool(a, true), roc_value_int(a, 2));
    roc_value_map_set(m, 2, roc_value_nil(a), roc_value_int(a, 3));
    roc_value_map_set(
        m, 3,
        roc_value_arrayv(a, 2, roc_value_int(a, 1), roc_value_str(a, "x")),
        roc_value_int(a, 4));
    roc_value_map_set(m, 4, roc_value_float(a, 2.5), roc_value_int(a, 5));
    roc_value_map_set(m, 5, roc_value_bin(a, "f", 1), roc_value_int(a, 6));
    char *s = NULL;
    assert_int_equal(roc_value_to_json(m, 0, &s, NULL), 0);
    assert_string_equal(s, "{\"1\":\"one\",\"true\":2,\"null\":3,"
                           "\"[1,\\\"x\\\"]\":4,\"2.5\":5,"
                           "\"{\\\"$bytes\\\":\\\"Zg==\\\"}\":6}");
    /* Keys come back as strings: that part is one-way. */
    roc_value *back = parse_ok(a, s);
    assert_int_equal(back->type, ROC_MAP);
    assert_int_equal(back->u.map.len, 6);
    assert_int_equal(back->u.map.entries[0].key.type, ROC_STR);
    assert_string_equal(roc_value_map_get(back, "1")->u.str.ptr, "one");
    free(s);
}

static void test_json_map_key_collision_refused(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, roc_value_int(a, 1), roc_value_int(a, 1));
    roc_value_map_set(m, 1, roc_value_str(a, "1"), roc_value_int(a, 2));
    expect_refusal(m, ROC_EINVAL, "occurs twice");
    roc_value_map_set(m, 0, roc_value_str(a, "1"), roc_value_int(a, 1));
    expect_refusal(m, ROC_EINVAL, "occurs twice");
}

static void test_json_map_special_only_key_refused(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 1);
    roc_value_map_set(m, 0, roc_value_str(a, "$u64"), roc_value_str(a, "5"));
    expect_refusal(m, ROC_EINVAL, "special form");
    roc_value_map_set(m, 0, roc_value_str(a, "$ref"), roc_value_int(a, 1));
    expect_refusal(m, ROC_EINVAL, "special form");
    /* With a second key it is an ordinary map. */
    roc_value *m2 = roc_value_map(a, 2);
    roc_value_map_set(m2, 0, roc_value_str(a, "$u64"), roc_value_str(a, "5"));
    roc_value_map_set(m2, 1, roc_value_str(a, "x"), roc_value_nil(a));
    round_trip(a, m2, 0);
    roc_value *v = parse_ok(a, "{\"$bytes\":\"Zg==\",\"y\":1}");
    assert_int_equal(v->type, ROC_MAP);
    assert_int_equal(v->u.map.len, 2);
}

static void test_json_map_invalid_utf8_key_refused(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 1);
    roc_value_map_set(m, 0, roc_value_str(a, "\xff"), roc_value_int(a, 1));
    expect_refusal(m, ROC_EINVAL, "UTF-8");
}

/* Valid JSON is written, but jansson cannot read a NUL in a key back: that
 * is refused with ROC_EPARSE rather than truncated. */
static void test_json_map_key_with_nul(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 1);
    roc_value_map_set(m, 0, roc_value_strn(a, "k\0z", 3), roc_value_int(a, 1));
    char *s = NULL;
    assert_int_equal(roc_value_to_json(m, 0, &s, NULL), 0);
    assert_string_equal(s, "{\"k\\u0000z\":1}");
    roc_value *v = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_value_from_json(a, s, &v, &err), ROC_EPARSE);
    assert_non_null(strstr(err.message, "NUL"));
    roc_error_clear(&err);
    free(s);
}

static void test_json_pretty(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, roc_value_str(a, "a"), roc_value_int(a, 1));
    roc_value_map_set(
        m, 1, roc_value_str(a, "b"),
        roc_value_arrayv(a, 2, roc_value_int(a, 2), roc_value_bool(a, false)));
    char *s = NULL;
    assert_int_equal(roc_value_to_json(m, ROC_JSON_PRETTY, &s, NULL), 0);
    assert_string_equal(
        s, "{\n  \"a\": 1,\n  \"b\": [\n    2,\n    false\n  ]\n}");
    free(s);
    round_trip(a, m, ROC_JSON_PRETTY);
}

static void test_json_every_type_round_trip(void **state)
{
    roc_arena *a = *state;
    roc_value *cb = roc_value_ref(a, "cb1");
    cb->u.ref.kind = ROC_REF_CALLBACK;
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, roc_value_str(a, "k"),
                      roc_value_arrayv(a, 2, cb, roc_value_bin(a, "\0\1", 2)));
    roc_value_map_set(m, 1, roc_value_str(a, "u"),
                      roc_value_uint(a, UINT64_MAX));
    roc_value *v = roc_value_arrayv(
        a, 10, roc_value_nil(a), roc_value_bool(a, true),
        roc_value_int(a, INT64_MIN), roc_value_uint(a, UINT64_MAX),
        roc_value_float(a, -1.25), roc_value_str(a, "s"),
        roc_value_bin(a, "xyz", 3), roc_value_ref(a, "ROC:o@ipc:///tmp/s"), m,
        roc_value_array(a, 0));
    round_trip(a, v, 0);
    round_trip(a, v, ROC_JSON_PRETTY);
}

/* ---- refusals ---- */

static void test_json_nan_refused(void **state)
{
    expect_refusal(roc_value_float(*state, NAN), ROC_EINVAL, "NaN");
}

static void test_json_infinity_refused(void **state)
{
    expect_refusal(roc_value_float(*state, INFINITY), ROC_EINVAL, "Infinity");
    expect_refusal(roc_value_float(*state, -INFINITY), ROC_EINVAL, "-Infinity");
}

static void test_json_nan_nested_refused(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 1);
    roc_value_map_set(
        m, 0, roc_value_str(a, "x"),
        roc_value_arrayv(a, 2, roc_value_int(a, 1), roc_value_float(a, NAN)));
    expect_refusal(m, ROC_EINVAL, "NaN");
    roc_value_map_set(m, 0, roc_value_float(a, INFINITY), roc_value_int(a, 1));
    expect_refusal(m, ROC_EINVAL, "Infinity");
}

static void test_json_bad_type_refused(void **state)
{
    roc_value *v = roc_value_nil(*state);
    v->type = (roc_type)42;
    expect_refusal(v, ROC_EINVAL, "unknown value type");
}

static void test_json_null_args(void **state)
{
    char *s;
    roc_value *v;
    assert_int_equal(roc_value_to_json(NULL, 0, &s, NULL), ROC_EINVAL);
    assert_int_equal(roc_value_to_json(roc_value_nil(*state), 0, NULL, NULL),
                     ROC_EINVAL);
    assert_int_equal(roc_value_from_json(NULL, "1", &v, NULL), ROC_EINVAL);
    assert_int_equal(roc_value_from_json(*state, NULL, &v, NULL), ROC_EINVAL);
    assert_int_equal(roc_value_from_json(*state, "1", NULL, NULL), ROC_EINVAL);
}

/* ---- bad JSON ---- */

typedef struct bad_json {
    const char *text;
    const char *needle;
} bad_json;

static const bad_json bad_texts[] = {
    {"", "line 1, column 0"},
    {"   ", "line 1"},
    {"[1,2", "line 1, column 4"},
    {"{\"a\":}", "line 1, column 6"},
    {"nul", "line 1"},
    {"1 2", "end of file expected"},
    {"[1,]", "line 1"},
    {"{'a':1}", "line 1"},
    {"[\n1,\n]", "line 3, column 1"},
    {"\"\xff\"", "unable to decode byte 0xff"},
    {"[1e400]", "overflow"},
    {"18446744073709551615", "too big"},
    {"NaN", "line 1"},
    {"{\"a\":1,\"a\":2}", "duplicate"},
    {"[\"unterminated]", "line 1"},
};

static void test_json_bad_json_table(void **state)
{
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
        roc_value *v = (roc_value *)1;
        roc_error err = ROC_ERROR_INIT;
        int rc = roc_value_from_json(*state, bad_texts[i].text, &v, &err);
        if (rc != ROC_EPARSE)
            fail_msg("'%s': expected ROC_EPARSE, got %d", bad_texts[i].text,
                     rc);
        assert_null(v);
        if (!strstr(err.message, bad_texts[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad_texts[i].text,
                     err.message, bad_texts[i].needle);
        roc_error_clear(&err);
    }
}

static const bad_json bad_special[] = {
    {"{\"$u64\":5}", "must be a string"},
    {"{\"$u64\":\"\"}", "not a decimal"},
    {"{\"$u64\":\"-1\"}", "not a decimal"},
    {"{\"$u64\":\"+1\"}", "not a decimal"},
    {"{\"$u64\":\"1.0\"}", "not a decimal"},
    {"{\"$u64\":\"18446744073709551616\"}", "not a decimal"},
    {"{\"$u64\":\"99999999999999999999999\"}", "not a decimal"},
    {"{\"$bytes\":null}", "must be a string"},
    {"{\"$bytes\":\"Z\"}", "invalid base64 at character 1"},
    {"{\"$bytes\":\"Zm9v*A==\"}", "invalid base64 at character 5"},
    {"{\"$bytes\":\"Zg=\"}", "invalid base64"},
    {"{\"$bytes\":\"Z===\"}", "invalid base64"},
    {"{\"$bytes\":\"Zm 9v\"}", "invalid base64 at character 3"},
    {"{\"$ref\":1}", "must be a string"},
    {"{\"$ref\":\"ROC:calc\"}", "missing '@<url>'"},
    {"{\"$ref\":\"ROC:calc@bogus://x\"}", "unknown transport"},
    {"{\"$ref\":\"ROCMETA:a,b\"}", "no single object"},
    {"{\"$ref\":\"a b\"}", "neither a ROC: URI nor an object id"},
    {"{\"$ref\":\"\"}", "neither"},
    {"[{\"$u64\":\"x\"}]", "not a decimal"},
};

static void test_json_bad_special_forms(void **state)
{
    for (size_t i = 0; i < sizeof bad_special / sizeof bad_special[0]; i++) {
        roc_value *v = NULL;
        roc_error err = ROC_ERROR_INIT;
        int rc = roc_value_from_json(*state, bad_special[i].text, &v, &err);
        if (rc != ROC_EPARSE)
            fail_msg("'%s': expected ROC_EPARSE, got %d", bad_special[i].text,
                     rc);
        assert_null(v);
        if (!strstr(err.message, bad_special[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad_special[i].text,
                     err.message, bad_special[i].needle);
        roc_error_clear(&err);
    }
}

static void test_json_deep_nesting_refused(void **state)
{
    /* Far past jansson's depth limit: an error, not a stack overflow. */
    size_t depth = 100000;
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = 0;
    roc_value *v = NULL;
    assert_int_equal(roc_value_from_json(*state, s, &v, NULL), ROC_EPARSE);
    free(s);

    /* The same from the value side. */
    roc_arena *a = *state;
    roc_value *top = roc_value_array(a, 0);
    for (int i = 0; i < 5000; i++)
        top = roc_value_arrayv(a, 1, top);
    expect_refusal(top, ROC_EINVAL, "deeper");
}

static void test_json_top_level_scalars(void **state)
{
    roc_arena *a = *state;
    assert_int_equal(parse_ok(a, "  42 ")->u.i, 42);
    assert_string_equal(parse_ok(a, "\"s\"")->u.str.ptr, "s");
    assert_int_equal(parse_ok(a, "null")->type, ROC_NIL);
    roc_value *v = parse_ok(a, "\"a\\u0000b\"");
    assert_int_equal(v->u.str.len, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_json_nil_bool),
        T(test_json_int_edges),
        T(test_json_uint_small_is_plain_integer),
        T(test_json_uint_big_is_u64_form),
        T(test_json_float_shortest),
        T(test_json_float_exact_round_trip),
        T(test_json_negative_zero),
        T(test_json_str),
        T(test_json_str_1mib),
        T(test_json_str_invalid_utf8_refused),
        T(test_json_bytes_vectors),
        T(test_json_bytes_all_lengths),
        T(test_json_bytes_unpadded_accepted),
        T(test_json_bytes_1mib),
        T(test_json_ref_uri),
        T(test_json_ref_callback),
        T(test_json_array_nested),
        T(test_json_map_string_keys),
        T(test_json_map_nonstring_keys),
        T(test_json_map_key_collision_refused),
        T(test_json_map_special_only_key_refused),
        T(test_json_map_invalid_utf8_key_refused),
        T(test_json_map_key_with_nul),
        T(test_json_pretty),
        T(test_json_every_type_round_trip),
        T(test_json_nan_refused),
        T(test_json_infinity_refused),
        T(test_json_nan_nested_refused),
        T(test_json_bad_type_refused),
        T(test_json_null_args),
        T(test_json_bad_json_table),
        T(test_json_bad_special_forms),
        T(test_json_deep_nesting_refused),
        T(test_json_top_level_scalars),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
