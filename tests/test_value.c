/* roc_value: constructors, accessors, setters, deep equality and copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

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

/* A NaN with a chosen payload, so that bit patterns can differ. */
static double nan_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ---- constructors and accessors ---- */

static void test_value_nil(void **state)
{
    roc_value *v = roc_value_nil(*state);
    assert_non_null(v);
    assert_int_equal(v->type, ROC_NIL);
    bool b;
    assert_int_equal(roc_value_get_bool(v, &b), ROC_EINVAL);
    assert_int_equal(roc_value_len(v), 0);
}

static void test_value_bool(void **state)
{
    bool b = false;
    roc_value *t = roc_value_bool(*state, true);
    roc_value *f = roc_value_bool(*state, false);
    assert_int_equal(t->type, ROC_BOOL);
    assert_int_equal(roc_value_get_bool(t, &b), 0);
    assert_true(b);
    assert_int_equal(roc_value_get_bool(f, &b), 0);
    assert_false(b);
    int64_t i;
    assert_int_equal(roc_value_get_int(t, &i), ROC_EINVAL);
}

static void test_value_int_edges(void **state)
{
    const int64_t cases[] = {INT64_MIN, INT64_MIN + 1,    -1,       0, 1, 127,
                             128,       (int64_t)1 << 32, INT64_MAX};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        roc_value *v = roc_value_int(*state, cases[k]);
        assert_non_null(v);
        assert_int_equal(v->type, ROC_INT);
        int64_t i = 0;
        assert_int_equal(roc_value_get_int(v, &i), 0);
        assert_true(i == cases[k]);
        uint64_t u = 0;
        if (cases[k] >= 0) {
            assert_int_equal(roc_value_get_uint(v, &u), 0);
            assert_true(u == (uint64_t)cases[k]);
        } else {
            assert_int_equal(roc_value_get_uint(v, &u), ROC_EINVAL);
        }
    }
}

static void test_value_uint_edges(void **state)
{
    roc_value *max = roc_value_uint(*state, UINT64_MAX);
    assert_int_equal(max->type, ROC_UINT);
    uint64_t u = 0;
    assert_int_equal(roc_value_get_uint(max, &u), 0);
    assert_true(u == UINT64_MAX);
    int64_t i = 0;
    assert_int_equal(roc_value_get_int(max, &i), ROC_EINVAL);

    roc_value *big = roc_value_uint(*state, (uint64_t)INT64_MAX + 1);
    assert_int_equal(roc_value_get_int(big, &i), ROC_EINVAL);

    roc_value *fits = roc_value_uint(*state, (uint64_t)INT64_MAX);
    assert_int_equal(roc_value_get_int(fits, &i), 0);
    assert_true(i == INT64_MAX);
}

static void test_value_float(void **state)
{
    double d = 0;
    roc_value *v = roc_value_float(*state, 1.5);
    assert_int_equal(v->type, ROC_FLOAT);
    assert_int_equal(roc_value_get_float(v, &d), 0);
    assert_true(d == 1.5);
    int64_t i;
    assert_int_equal(roc_value_get_int(v, &i), ROC_EINVAL);

    roc_value *n = roc_value_float(*state, NAN);
    assert_int_equal(roc_value_get_float(n, &d), 0);
    assert_true(isnan(d));
    roc_value *inf = roc_value_float(*state, -INFINITY);
    assert_int_equal(roc_value_get_float(inf, &d), 0);
    assert_true(isinf(d) && d < 0);
}

static void test_value_get_float_from_ints(void **state)
{
    double d = 0;
    assert_int_equal(roc_value_get_float(roc_value_int(*state, -3), &d), 0);
    assert_true(d == -3.0);
    assert_int_equal(roc_value_get_float(roc_value_int(*state, INT64_MIN), &d),
                     0);
    assert_true(d == -9223372036854775808.0);
    assert_int_equal(
        roc_value_get_float(roc_value_uint(*state, (uint64_t)1 << 63), &d), 0);
    assert_true(d == 9223372036854775808.0);
    /* Not exactly representable: refused rather than rounded. */
    assert_int_equal(
        roc_value_get_float(roc_value_int(*state, ((int64_t)1 << 53) + 1), &d),
        ROC_EINVAL);
    assert_int_equal(roc_value_get_float(roc_value_int(*state, INT64_MAX), &d),
                     ROC_EINVAL);
    assert_int_equal(
        roc_value_get_float(roc_value_uint(*state, UINT64_MAX), &d),
        ROC_EINVAL);
    assert_int_equal(roc_value_get_float(roc_value_str(*state, "1"), &d),
                     ROC_EINVAL);
}

static void test_value_str(void **state)
{
    roc_value *v = roc_value_str(*state, "héllo");
    assert_int_equal(v->type, ROC_STR);
    const char *s = NULL;
    size_t len = 0;
    assert_int_equal(roc_value_get_str(v, &s, &len), 0);
    assert_int_equal(len, strlen("héllo"));
    assert_string_equal(s, "héllo");
    assert_int_equal(s[len], '\0');
    assert_int_equal(roc_value_get_str(v, &s, NULL), 0);
    const uint8_t *b;
    assert_int_equal(roc_value_get_bin(v, &b, &len), ROC_EINVAL);
}

static void test_value_str_is_copied(void **state)
{
    char buf[8] = "abc";
    roc_value *v = roc_value_str(*state, buf);
    buf[0] = 'x';
    assert_string_equal(v->u.str.ptr, "abc");
}

static void test_value_str_empty(void **state)
{
    roc_value *v = roc_value_str(*state, "");
    assert_non_null(v);
    assert_int_equal(v->u.str.len, 0);
    assert_non_null(v->u.str.ptr);
    assert_string_equal(v->u.str.ptr, "");
    roc_value *w = roc_value_strn(*state, NULL, 0);
    assert_non_null(w);
    assert_true(roc_value_equal(v, w));
}

static void test_value_strn_embedded_nul(void **state)
{
    roc_value *v = roc_value_strn(*state, "a\0b", 3);
    assert_int_equal(v->u.str.len, 3);
    assert_memory_equal(v->u.str.ptr, "a\0b", 4);
    assert_false(roc_value_equal(v, roc_value_str(*state, "a")));
}

static void test_value_str_null_refused(void **state)
{
    assert_null(roc_value_str(*state, NULL));
    assert_null(roc_value_strn(*state, NULL, 3));
}

static void test_value_str_1mib(void **state)
{
    char *big = malloc(MiB + 1);
    assert_non_null(big);
    memset(big, 'x', MiB);
    big[MiB] = 0;
    roc_value *v = roc_value_str(*state, big);
    assert_non_null(v);
    assert_int_equal(v->u.str.len, MiB);
    assert_int_equal(v->u.str.ptr[MiB], 0);
    assert_memory_equal(v->u.str.ptr, big, MiB);
    roc_value *w = roc_value_strn(*state, big, MiB);
    assert_true(roc_value_equal(v, w));
    w->u.str.ptr = roc_arena_strdup(*state, big);
    ((char *)w->u.str.ptr)[MiB - 1] = 'y';
    assert_false(roc_value_equal(v, w));
    free(big);
}

static void test_value_bin(void **state)
{
    const uint8_t bytes[] = {0, 1, 0xff, 0x80};
    roc_value *v = roc_value_bin(*state, bytes, sizeof bytes);
    assert_int_equal(v->type, ROC_BIN);
    const uint8_t *p = NULL;
    size_t len = 0;
    assert_int_equal(roc_value_get_bin(v, &p, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(p, bytes, 4);
    assert_ptr_not_equal(p, bytes);
    const char *s;
    assert_int_equal(roc_value_get_str(v, &s, &len), ROC_EINVAL);
}

static void test_value_bin_empty(void **state)
{
    roc_value *v = roc_value_bin(*state, NULL, 0);
    assert_non_null(v);
    assert_int_equal(v->u.bin.len, 0);
    assert_non_null(v->u.bin.ptr);
    roc_value *w = roc_value_bin(*state, "", 0);
    assert_true(roc_value_equal(v, w));
    assert_false(roc_value_equal(v, roc_value_str(*state, "")));
    assert_null(roc_value_bin(*state, NULL, 1));
}

static void test_value_bin_1mib(void **state)
{
    uint8_t *big = malloc(MiB);
    assert_non_null(big);
    for (size_t i = 0; i < MiB; i++)
        big[i] = (uint8_t)(i * 31u);
    roc_value *v = roc_value_bin(*state, big, MiB);
    assert_non_null(v);
    assert_int_equal(v->u.bin.len, MiB);
    assert_memory_equal(v->u.bin.ptr, big, MiB);
    free(big);
}

static void test_value_bin_ref_not_copied(void **state)
{
    uint8_t buf[3] = {1, 2, 3};
    roc_value *v = roc_value_bin_ref(*state, buf, sizeof buf);
    assert_ptr_equal(v->u.bin.ptr, buf);
    buf[0] = 9;
    assert_int_equal(v->u.bin.ptr[0], 9);
    roc_value *e = roc_value_bin_ref(*state, NULL, 0);
    assert_non_null(e);
    assert_non_null(e->u.bin.ptr);
}

static void test_value_array(void **state)
{
    roc_value *arr = roc_value_array(*state, 3);
    assert_int_equal(arr->type, ROC_ARRAY);
    assert_int_equal(roc_value_len(arr), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(roc_value_at(arr, i)->type, ROC_NIL);
    assert_int_equal(roc_value_array_set(arr, 1, roc_value_int(*state, 7)), 0);
    int64_t i = 0;
    assert_int_equal(roc_value_get_int(roc_value_at(arr, 1), &i), 0);
    assert_int_equal(i, 7);
    assert_null(roc_value_at(arr, 3));
    assert_int_equal(roc_value_array_set(arr, 3, roc_value_nil(*state)),
                     ROC_EINVAL);
    assert_int_equal(roc_value_array_set(arr, 0, NULL), ROC_EINVAL);
    assert_int_equal(
        roc_value_array_set(roc_value_map(*state, 1), 0, roc_value_nil(*state)),
        ROC_EINVAL);
    assert_null(roc_value_at(roc_value_int(*state, 1), 0));
}

static void test_value_array_empty(void **state)
{
    roc_value *arr = roc_value_array(*state, 0);
    assert_non_null(arr);
    assert_int_equal(roc_value_len(arr), 0);
    assert_null(roc_value_at(arr, 0));
    assert_int_equal(roc_value_array_set(arr, 0, roc_value_nil(*state)),
                     ROC_EINVAL);
}

static void test_value_arrayv(void **state)
{
    roc_arena *a = *state;
    roc_value *arr = roc_value_arrayv(
        a, 3, roc_value_int(a, 1), roc_value_str(a, "two"), roc_value_nil(a));
    assert_non_null(arr);
    assert_int_equal(roc_value_len(arr), 3);
    assert_int_equal(roc_value_at(arr, 0)->u.i, 1);
    assert_string_equal(roc_value_at(arr, 1)->u.str.ptr, "two");
    assert_int_equal(roc_value_at(arr, 2)->type, ROC_NIL);
    assert_int_equal(roc_value_len(roc_value_arrayv(a, 0)), 0);
}

static void test_value_arrayv_null_propagates(void **state)
{
    roc_arena *a = *state;
    assert_null(
        roc_value_arrayv(a, 3, roc_value_int(a, 1), NULL, roc_value_int(a, 3)));
    assert_null(roc_value_arrayv(a, 1, (roc_value *)NULL));
}

static void test_value_map(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 3);
    assert_int_equal(m->type, ROC_MAP);
    assert_int_equal(roc_value_len(m), 3);
    assert_int_equal(m->u.map.entries[2].key.type, ROC_NIL);
    assert_int_equal(m->u.map.entries[2].val.type, ROC_NIL);
    assert_int_equal(
        roc_value_map_set(m, 0, roc_value_str(a, "a"), roc_value_int(a, 1)), 0);
    assert_int_equal(
        roc_value_map_set(m, 1, roc_value_int(a, 5), roc_value_int(a, 2)), 0);
    assert_int_equal(
        roc_value_map_set(m, 2, roc_value_str(a, "a"), roc_value_int(a, 3)), 0);
    const roc_value *v = roc_value_map_get(m, "a");
    assert_non_null(v);
    assert_int_equal(v->u.i, 1); /* the first entry with that key */
    assert_null(roc_value_map_get(m, "b"));
    assert_null(roc_value_map_get(m, "5")); /* int key 5 is not "5" */
    assert_null(roc_value_map_get(roc_value_array(a, 1), "a"));
    assert_int_equal(
        roc_value_map_set(m, 3, roc_value_nil(a), roc_value_nil(a)),
        ROC_EINVAL);
    assert_int_equal(roc_value_map_set(m, 0, NULL, roc_value_nil(a)),
                     ROC_EINVAL);
    assert_int_equal(roc_value_map_set(roc_value_array(a, 1), 0,
                                       roc_value_nil(a), roc_value_nil(a)),
                     ROC_EINVAL);
}

static void test_value_map_get_prefix_key(void **state)
{
    roc_arena *a = *state;
    roc_value *m = roc_value_map(a, 1);
    roc_value_map_set(m, 0, roc_value_strn(a, "ab\0c", 4), roc_value_int(a, 1));
    assert_null(roc_value_map_get(m, "ab"));
    assert_null(roc_value_map_get(m, "a"));
}

static void test_value_ref(void **state)
{
    roc_value *r = roc_value_ref(*state, "ROC:calc@tcp://h:1");
    assert_non_null(r);
    assert_int_equal(r->type, ROC_REF);
    assert_int_equal(r->u.ref.kind, ROC_REF_URI);
    assert_string_equal(r->u.ref.uri, "ROC:calc@tcp://h:1");
    assert_null(r->u.ref.priv_);
    assert_null(roc_value_ref(*state, NULL));
}

static void test_value_accessors_null(void **state)
{
    (void)state;
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    const uint8_t *p;
    size_t len;
    assert_int_equal(roc_value_get_bool(NULL, &b), ROC_EINVAL);
    assert_int_equal(roc_value_get_int(NULL, &i), ROC_EINVAL);
    assert_int_equal(roc_value_get_uint(NULL, &u), ROC_EINVAL);
    assert_int_equal(roc_value_get_float(NULL, &d), ROC_EINVAL);
    assert_int_equal(roc_value_get_str(NULL, &s, &len), ROC_EINVAL);
    assert_int_equal(roc_value_get_bin(NULL, &p, &len), ROC_EINVAL);
    assert_int_equal(roc_value_len(NULL), 0);
    assert_null(roc_value_at(NULL, 0));
    assert_null(roc_value_map_get(NULL, "a"));
}

static void test_value_type_names(void **state)
{
    (void)state;
    assert_string_equal(roc_type_name(ROC_NIL), "nil");
    assert_string_equal(roc_type_name(ROC_BOOL), "bool");
    assert_string_equal(roc_type_name(ROC_INT), "int");
    assert_string_equal(roc_type_name(ROC_UINT), "uint");
    assert_string_equal(roc_type_name(ROC_FLOAT), "float");
    assert_string_equal(roc_type_name(ROC_STR), "str");
    assert_string_equal(roc_type_name(ROC_BIN), "bin");
    assert_string_equal(roc_type_name(ROC_ARRAY), "array");
    assert_string_equal(roc_type_name(ROC_MAP), "map");
    assert_string_equal(roc_type_name(ROC_REF), "ref");
    assert_string_equal(roc_type_name((roc_type)99), "unknown");
}

/* ---- equality ---- */

static void test_equal_int_uint_by_value(void **state)
{
    roc_arena *a = *state;
    assert_true(roc_value_equal(roc_value_int(a, 5), roc_value_uint(a, 5)));
    assert_true(roc_value_equal(roc_value_uint(a, 5), roc_value_int(a, 5)));
    assert_false(
        roc_value_equal(roc_value_int(a, -1), roc_value_uint(a, UINT64_MAX)));
    assert_false(
        roc_value_equal(roc_value_uint(a, UINT64_MAX), roc_value_int(a, -1)));
    assert_true(roc_value_equal(roc_value_int(a, INT64_MIN),
                                roc_value_int(a, INT64_MIN)));
    assert_false(roc_value_equal(roc_value_int(a, INT64_MIN),
                                 roc_value_uint(a, (uint64_t)1 << 63)));
    assert_true(roc_value_equal(roc_value_uint(a, UINT64_MAX),
                                roc_value_uint(a, UINT64_MAX)));
}

static void test_equal_int_float_differ(void **state)
{
    roc_arena *a = *state;
    assert_false(roc_value_equal(roc_value_int(a, 1), roc_value_float(a, 1.0)));
    assert_false(roc_value_equal(roc_value_nil(a), roc_value_bool(a, false)));
    assert_false(
        roc_value_equal(roc_value_str(a, "a"), roc_value_bin(a, "a", 1)));
}

static void test_equal_float_nan(void **state)
{
    roc_arena *a = *state;
    double n1 = nan_bits(0x7ff8000000000001ull);
    double n2 = nan_bits(0x7ff8000000000002ull);
    assert_true(
        roc_value_equal(roc_value_float(a, n1), roc_value_float(a, n1)));
    assert_false(
        roc_value_equal(roc_value_float(a, n1), roc_value_float(a, n2)));
    assert_false(
        roc_value_equal(roc_value_float(a, n1), roc_value_float(a, 0)));
    assert_true(
        roc_value_equal(roc_value_float(a, 0.0), roc_value_float(a, -0.0)));
    assert_true(roc_value_equal(roc_value_float(a, INFINITY),
                                roc_value_float(a, INFINITY)));
    assert_false(roc_value_equal(roc_value_float(a, INFINITY),
                                 roc_value_float(a, -INFINITY)));
}

static void test_equal_null_args(void **state)
{
    roc_value *v = roc_value_nil(*state);
    assert_true(roc_value_equal(NULL, NULL));
    assert_false(roc_value_equal(v, NULL));
    assert_false(roc_value_equal(NULL, v));
}

static void test_equal_arrays(void **state)
{
    roc_arena *a = *state;
    roc_value *x =
        roc_value_arrayv(a, 2, roc_value_int(a, 1), roc_value_str(a, "s"));
    roc_value *y =
        roc_value_arrayv(a, 2, roc_value_uint(a, 1), roc_value_str(a, "s"));
    roc_value *z =
        roc_value_arrayv(a, 2, roc_value_str(a, "s"), roc_value_int(a, 1));
    roc_value *w = roc_value_arrayv(a, 1, roc_value_int(a, 1));
    assert_true(roc_value_equal(x, y));
    assert_false(roc_value_equal(x, z)); /* arrays are ordered */
    assert_false(roc_value_equal(x, w));
    assert_true(roc_value_equal(roc_value_array(a, 0), roc_value_array(a, 0)));
    assert_false(roc_value_equal(roc_value_array(a, 0), roc_value_map(a, 0)));
}

static roc_value *map2(roc_arena *a, roc_value *k1, roc_value *v1,
                       roc_value *k2, roc_value *v2)
{
    roc_value *m = roc_value_map(a, 2);
    roc_value_map_set(m, 0, k1, v1);
    roc_value_map_set(m, 1, k2, v2);
    return m;
}

static void test_equal_maps_unordered(void **state)
{
    roc_arena *a = *state;
    roc_value *x = map2(a, roc_value_str(a, "a"), roc_value_int(a, 1),
                        roc_value_int(a, 2), roc_value_str(a, "b"));
    roc_value *y = map2(a, roc_value_uint(a, 2), roc_value_str(a, "b"),
                        roc_value_str(a, "a"), roc_value_int(a, 1));
    roc_value *z = map2(a, roc_value_str(a, "a"), roc_value_int(a, 1),
                        roc_value_int(a, 2), roc_value_str(a, "c"));
    assert_true(roc_value_equal(x, y));
    assert_false(roc_value_equal(x, z));
}

static void test_equal_maps_duplicates(void **state)
{
    roc_arena *a = *state;
    /* {a:1, a:1} vs {a:1, b:2}: the same length, one entry in common. */
    roc_value *x = map2(a, roc_value_str(a, "a"), roc_value_int(a, 1),
                        roc_value_str(a, "a"), roc_value_int(a, 1));
    roc_value *y = map2(a, roc_value_str(a, "b"), roc_value_int(a, 2),
                        roc_value_str(a, "a"), roc_value_int(a, 1));
    assert_false(roc_value_equal(x, y));
    assert_false(roc_value_equal(y, x));
}

static void test_equal_refs(void **state)
{
    roc_arena *a = *state;
    roc_value *r1 = roc_value_ref(a, "ROC:x@tcp://h:1");
    roc_value *r2 = roc_value_ref(a, "ROC:x@tcp://h:1");
    roc_value *r3 = roc_value_ref(a, "ROC:y@tcp://h:1");
    assert_true(roc_value_equal(r1, r2));
    assert_false(roc_value_equal(r1, r3));
    r2->u.ref.kind = ROC_REF_CALLBACK;
    assert_false(roc_value_equal(r1, r2));
    assert_false(roc_value_equal(r1, roc_value_str(a, "ROC:x@tcp://h:1")));
}

/* ---- deep copy ---- */

static roc_value *sample_tree(roc_arena *a)
{
    roc_value *cb = roc_value_ref(a, "obj7");
    cb->u.ref.kind = ROC_REF_CALLBACK;
    roc_value *inner = roc_value_arrayv(a, 3, roc_value_bin(a, "\x00\x01", 2),
                                        roc_value_float(a, NAN), cb);
    roc_value *m =
        map2(a, roc_value_str(a, "k"), inner, roc_value_int(a, INT64_MIN),
             roc_value_uint(a, UINT64_MAX));
    return roc_value_arrayv(a, 7, roc_value_nil(a), roc_value_bool(a, true),
                            roc_value_int(a, -1), roc_value_str(a, "text"),
                            roc_value_ref(a, "ROC:calc@tcp://h:1"), m,
                            roc_value_array(a, 0));
}

static void test_copy_deep_equal(void **state)
{
    roc_value *src = sample_tree(*state);
    roc_arena *b = NULL;
    assert_int_equal(roc_arena_new(&b), 0);
    roc_value *dst = roc_value_copy(b, src);
    assert_non_null(dst);
    assert_true(roc_value_equal(src, dst));
    /* Nothing is shared: strings, bytes and containers were copied. */
    assert_ptr_not_equal(dst->u.array.items, src->u.array.items);
    assert_ptr_not_equal(dst->u.array.items[3].u.str.ptr,
                         src->u.array.items[3].u.str.ptr);
    const roc_value *m = &dst->u.array.items[5];
    assert_ptr_not_equal(m->u.map.entries, src->u.array.items[5].u.map.entries);
    const roc_value *inner = roc_value_map_get(m, "k");
    assert_non_null(inner);
    assert_int_equal(inner->u.array.items[2].u.ref.kind, ROC_REF_CALLBACK);
    assert_ptr_not_equal(
        inner->u.array.items[0].u.bin.ptr,
        src->u.array.items[5].u.map.entries[0].val.u.array.items[0].u.bin.ptr);
    /* The copy survives the source arena. */
    roc_arena_reset(*state);
    assert_string_equal(dst->u.array.items[3].u.str.ptr, "text");
    assert_string_equal(dst->u.array.items[4].u.ref.uri, "ROC:calc@tcp://h:1");
    roc_arena_free(b);
}

static void test_copy_scalars(void **state)
{
    roc_arena *a = *state;
    roc_value *vals[] = {roc_value_nil(a),
                         roc_value_bool(a, false),
                         roc_value_int(a, INT64_MIN),
                         roc_value_uint(a, UINT64_MAX),
                         roc_value_float(a, -0.0),
                         roc_value_str(a, ""),
                         roc_value_bin(a, NULL, 0)};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        roc_value *c = roc_value_copy(a, vals[i]);
        assert_non_null(c);
        assert_int_equal(c->type, vals[i]->type);
        assert_true(roc_value_equal(c, vals[i]));
    }
    assert_true(signbit(roc_value_copy(a, vals[4])->u.f));
    assert_null(roc_value_copy(a, NULL));
}

static void test_copy_bin_ref_copies_bytes(void **state)
{
    uint8_t buf[2] = {1, 2};
    roc_value *v = roc_value_bin_ref(*state, buf, 2);
    roc_value *c = roc_value_copy(*state, v);
    buf[0] = 7;
    assert_int_equal(c->u.bin.ptr[0], 1);
}

static void test_copy_1mib(void **state)
{
    uint8_t *big = calloc(1, MiB);
    assert_non_null(big);
    big[MiB - 1] = 0x5a;
    roc_value *v = roc_value_arrayv(*state, 2, roc_value_bin(*state, big, MiB),
                                    roc_value_strn(*state, (char *)big + 1, 0));
    roc_value *c = roc_value_copy(*state, v);
    assert_non_null(c);
    assert_true(roc_value_equal(v, c));
    assert_int_equal(c->u.array.items[0].u.bin.ptr[MiB - 1], 0x5a);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_value_nil),
        T(test_value_bool),
        T(test_value_int_edges),
        T(test_value_uint_edges),
        T(test_value_float),
        T(test_value_get_float_from_ints),
        T(test_value_str),
        T(test_value_str_is_copied),
        T(test_value_str_empty),
        T(test_value_strn_embedded_nul),
        T(test_value_str_null_refused),
        T(test_value_str_1mib),
        T(test_value_bin),
        T(test_value_bin_empty),
        T(test_value_bin_1mib),
        T(test_value_bin_ref_not_copied),
        T(test_value_array),
        T(test_value_array_empty),
        T(test_value_arrayv),
        T(test_value_arrayv_null_propagates),
        T(test_value_map),
        T(test_value_map_get_prefix_key),
        T(test_value_ref),
        T(test_value_accessors_null),
        T(test_value_type_names),
        T(test_equal_int_uint_by_value),
        T(test_equal_int_float_differ),
        T(test_equal_float_nan),
        T(test_equal_null_args),
        T(test_equal_arrays),
        T(test_equal_maps_unordered),
        T(test_equal_maps_duplicates),
        T(test_equal_refs),
        T(test_copy_deep_equal),
        T(test_copy_scalars),
        T(test_copy_bin_ref_copies_bytes),
        T(test_copy_1mib),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
