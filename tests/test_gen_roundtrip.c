/* Generated stubs and skeletons (tests/idl/types.roc) through a real
 * daemon: every IDL type makes a round trip, over inproc and over tcp (one
 * cmocka group per transport). Also exceptions with fields, oneway,
 * idempotent and async calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "testutil.h"
#include "types.roc.h"

/* ---- the servant: echoes everything back ---- */

static atomic_int pokes;

static int h_all(void *self, roc_call *call, const rt_All *v, rt_All *ret)
{
    (void)self, (void)call;
    *ret = *v;
    return 0;
}
static int h_blob(void *self, roc_call *call, roc_bytes b, roc_bytes *ret)
{
    (void)self, (void)call;
    *ret = b;
    return 0;
}
static int h_dynamic(void *self, roc_call *call, roc_value *v, roc_value **ret)
{
    (void)self, (void)call;
    *ret = v;
    return 0;
}
static int h_points(void *self, roc_call *call, rt_PointList p,
                    rt_PointList *ret)
{
    (void)self, (void)call;
    *ret = p;
    return 0;
}
static int h_names(void *self, roc_call *call, rt_Level_stringMap m,
                   rt_Level_stringMap *ret)
{
    (void)self, (void)call;
    *ret = m;
    return 0;
}
static int h_maybe(void *self, roc_call *call, rt_Point *p, rt_Point **ret)
{
    (void)self, (void)call;
    *ret = p;
    return 0;
}
static int h_tree(void *self, roc_call *call, const rt_Node *n, rt_Node *ret)
{
    (void)self, (void)call;
    *ret = *n;
    return 0;
}
static int h_big(void *self, roc_call *call, uint64_t v, int64_t w,
                 uint64_t *ret)
{
    (void)self, (void)call;
    *ret = v - (uint64_t)(w == INT64_MIN ? 0 : 1);
    return 0;
}
static int h_level(void *self, roc_call *call, rt_Level l, rt_Level *ret)
{
    (void)self, (void)call;
    *ret = l;
    return 0;
}
static int h_fail(void *self, roc_call *call, const char *what, int32_t code)
{
    (void)self;
    const char *hints[] = {"check the input", what};
    rt_Oops ex = {what, code, {hints, 2}};
    return rt_Oops_raise(call, &ex, "oops: %s", what);
}
static int h_poke(void *self, roc_call *call, int32_t n)
{
    (void)self, (void)call;
    atomic_fetch_add(&pokes, n);
    return 0;
}
static int h_pokes(void *self, roc_call *call, int32_t *ret)
{
    (void)self, (void)call;
    *ret = atomic_load(&pokes);
    return 0;
}
static int h_twice(void *self, roc_call *call, int32_t n, int32_t *ret)
{
    (void)self, (void)call;
    *ret = 2 * n;
    return 0;
}

static const rt_Echo_ops echo_ops = {
    .all = h_all, .blob = h_blob, .dynamic = h_dynamic, .points = h_points,
    .names = h_names, .maybe = h_maybe, .tree = h_tree, .big = h_big,
    .level = h_level, .fail = h_fail, .poke = h_poke, .pokes = h_pokes,
    .twice = h_twice,
};
static rt_Echo_impl echo_impl = {&echo_ops, NULL, 0};

/* ---- fixture: one daemon per group (transport) ---- */

typedef struct fixture {
    roc_daemon *d;
    rt_Echo *echo;
    roc_arena *a;
} fixture;

static int setup(void **state, const char *transport)
{
    fixture *fx = calloc(1, sizeof *fx);
    char url[256];
    roc_error err = ROC_ERROR_INIT;
    tu_url(transport, url, sizeof url);
    if (roc_daemon_open(&fx->d, url, NULL, &err) != 0) {
        fprintf(stderr, "daemon_open %s: %s\n", url, err.message);
        return -1;
    }
    roc_servant s = rt_Echo_servant(&echo_impl);
    char *uri = NULL;
    if (roc_daemon_register(fx->d, "echo", &s, &uri) != 0 ||
        roc_daemon_start(fx->d) != 0)
        return -1;
    if (rt_Echo_open(&fx->echo, uri, &err) != 0)
        return -1;
    free(uri);
    roc_arena_new(&fx->a);
    roc_error_clear(&err);
    *state = fx;
    return 0;
}
static int setup_inproc(void **state) { return setup(state, "inproc"); }
static int setup_tcp(void **state) { return setup(state, "tcp"); }

static int teardown(void **state)
{
    fixture *fx = *state;
    rt_Echo_close(fx->echo);
    roc_daemon_close(fx->d);
    roc_arena_free(fx->a);
    free(fx);
    return 0;
}

/* ---- tests ---- */

static void test_gen_all_types_round_trip(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    size_t big = 1024 * 1024;
    uint8_t *blob = malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (uint8_t)(i * 31 + 7);

    rt_Point pts[] = {{1, 2}, {-3, 4}};
    int32_t row0[] = {1, 2, 3}, row1[] = {4};
    rt_i32List rows[] = {{row0, 3}, {row1, 1}, {NULL, 0}};
    rt_Level keys[] = {RT_LEVEL_LOW, RT_LEVEL_HIGH};
    const char *vals[] = {"low", "high"};
    int64_t ids[] = {-7, 1LL << 40};
    rt_Point idpts[] = {{7, 7}, {8, 8}};
    rt_Point origin = {0, -1};
    roc_value *dyn = roc_value_arrayv(fx->a, 2, roc_value_str(fx->a, "x"),
                                      roc_value_float(fx->a, 2.5));
    rt_All in = {
        .b = true, .i8v = -128, .i16v = 32767, .i32v = INT32_MIN,
        .i64v = INT64_MAX, .u8v = 255, .u16v = 65535, .u32v = UINT32_MAX,
        .u64v = UINT64_MAX, .f32v = 1.5f, .f64v = -2.25e300,
        .s = "h\xc3\xa9llo", .data = {blob, big}, .dyn = dyn,
        .level = RT_LEVEL_MID, .points = {pts, 2}, .grid = {rows, 3},
        .names = {keys, vals, 2}, .by_id = {ids, idpts, 2}, .origin = &origin,
        .note = NULL, .corner = {9, 10},
    };
    rt_All out;
    assert_ok(rt_Echo_all(fx->echo, &in, &out, fx->a, &err), &err);
    assert_true(out.b);
    assert_int_equal(out.i8v, -128);
    assert_int_equal(out.i16v, 32767);
    assert_int_equal(out.i32v, INT32_MIN);
    assert_true(out.i64v == INT64_MAX);
    assert_int_equal(out.u8v, 255);
    assert_int_equal(out.u16v, 65535);
    assert_true(out.u32v == UINT32_MAX);
    assert_true(out.u64v == UINT64_MAX);
    assert_true(out.f32v == 1.5f);
    assert_true(out.f64v == -2.25e300);
    assert_string_equal(out.s, "h\xc3\xa9llo");
    assert_int_equal(out.data.len, big);
    assert_memory_equal(out.data.data, blob, big);
    assert_true(roc_value_equal(out.dyn, dyn));
    assert_int_equal(out.level, RT_LEVEL_MID);
    assert_int_equal(out.points.len, 2);
    assert_int_equal(out.points.items[1].x, -3);
    assert_int_equal(out.grid.len, 3);
    assert_int_equal(out.grid.items[0].len, 3);
    assert_int_equal(out.grid.items[0].items[2], 3);
    assert_int_equal(out.grid.items[1].items[0], 4);
    assert_int_equal(out.grid.items[2].len, 0);
    assert_int_equal(out.names.len, 2);
    assert_int_equal(out.names.keys[1], RT_LEVEL_HIGH);
    assert_string_equal(out.names.values[1], "high");
    assert_true(out.by_id.keys[1] == (1LL << 40));
    assert_int_equal(out.by_id.values[0].x, 7);
    assert_non_null(out.origin);
    assert_int_equal(out.origin->y, -1);
    assert_null(out.note);
    assert_int_equal(out.corner.y, 10);

    /* a defaulted struct: empty bytes, NULL string, NULL any */
    rt_All zero;
    memset(&zero, 0, sizeof zero);
    zero.level = RT_LEVEL_LOW;
    assert_ok(rt_Echo_all(fx->echo, &zero, &out, fx->a, &err), &err);
    assert_string_equal(out.s, "");
    assert_int_equal(out.data.len, 0);
    assert_int_equal(out.dyn->type, ROC_NIL);
    assert_null(out.origin);
    free(blob);
    roc_error_clear(&err);
}

static void test_gen_bytes_empty_and_1mib(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    roc_bytes out;
    roc_bytes empty = {NULL, 0};
    assert_ok(rt_Echo_blob(fx->echo, empty, &out, fx->a, &err), &err);
    assert_int_equal(out.len, 0);
    size_t n = 1024 * 1024;
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i ^ (i >> 8));
    roc_bytes in = {p, n};
    assert_ok(rt_Echo_blob(fx->echo, in, &out, fx->a, &err), &err);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, p, n);
    free(p);
}

static void test_gen_any_and_containers(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    roc_value *m = roc_value_map(fx->a, 1);
    roc_value_map_set(m, 0, roc_value_str(fx->a, "k"),
                      roc_value_bin(fx->a, "\x00\x01", 2));
    roc_value *out = NULL;
    assert_ok(rt_Echo_dynamic(fx->echo, m, &out, fx->a, &err), &err);
    assert_true(roc_value_equal(out, m));

    rt_PointList pl = {NULL, 0}, pout;
    assert_ok(rt_Echo_points(fx->echo, pl, &pout, fx->a, &err), &err);
    assert_int_equal(pout.len, 0);

    rt_Level ks[] = {RT_LEVEL_HIGH, RT_LEVEL_MID, RT_LEVEL_LOW};
    const char *vs[] = {"h", "m", "l"};
    rt_Level_stringMap nm = {ks, vs, 3}, nout;
    assert_ok(rt_Echo_names(fx->echo, nm, &nout, fx->a, &err), &err);
    assert_int_equal(nout.len, 3);
    assert_int_equal(nout.keys[1], RT_LEVEL_MID);
    assert_string_equal(nout.values[2], "l");

    rt_Point p = {5, 6}, *po = NULL;
    assert_ok(rt_Echo_maybe(fx->echo, &p, &po, fx->a, &err), &err);
    assert_non_null(po);
    assert_int_equal(po->x, 5);
    assert_ok(rt_Echo_maybe(fx->echo, NULL, &po, fx->a, &err), &err);
    assert_null(po);

    rt_Level l;
    assert_ok(rt_Echo_level(fx->echo, RT_LEVEL_HIGH, &l, NULL, &err), &err);
    assert_int_equal(l, RT_LEVEL_HIGH);
    uint64_t u;
    assert_ok(rt_Echo_big(fx->echo, UINT64_MAX, INT64_MIN, &u, NULL, &err),
              &err);
    assert_true(u == UINT64_MAX);
}

static void test_gen_recursive_struct(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    rt_Node leaf = {"leaf", NULL, {NULL, 0}};
    rt_Node kids[] = {{"a", NULL, {NULL, 0}}, {"b", &leaf, {NULL, 0}}};
    rt_Node root = {"root", &leaf, {kids, 2}};
    rt_Node out;
    assert_ok(rt_Echo_tree(fx->echo, &root, &out, fx->a, &err), &err);
    assert_string_equal(out.label, "root");
    assert_string_equal(out.next->label, "leaf");
    assert_null(out.next->next);
    assert_int_equal(out.children.len, 2);
    assert_string_equal(out.children.items[1].next->label, "leaf");
}

static void test_gen_exception_with_fields(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    int rc = rt_Echo_fail(fx->echo, "disk", 42, &err);
    assert_int_equal(rc, ROC_EREMOTE);
    assert_string_equal(err.type, "rt.Oops");
    assert_string_equal(err.message, "oops: disk");
    rt_Oops ex;
    assert_int_equal(rt_Oops_catch(&err, &ex, fx->a), 0);
    roc_error_clear(&err); /* the caught copy lives in fx->a */
    assert_string_equal(ex.what, "disk");
    assert_int_equal(ex.code, 42);
    assert_int_equal(ex.hints.len, 2);
    assert_string_equal(ex.hints.items[1], "disk");
    /* not that exception */
    roc_error other = ROC_ERROR_INIT;
    roc_error_set(&other, ROC_ETIMEDOUT, "late");
    assert_int_equal(rt_Oops_catch(&other, &ex, fx->a), ROC_ENOTFOUND);
    roc_error_clear(&other);
}

static bool pokes_reach(void *arg)
{
    return atomic_load(&pokes) >= *(int *)arg;
}

static void test_gen_oneway_idempotent_async(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    int before = atomic_load(&pokes);
    for (int i = 0; i < 5; i++)
        assert_ok(rt_Echo_poke(fx->echo, 2, &err), &err);
    int want = before + 10;
    assert_true(tu_wait_for(pokes_reach, &want, 5000));
    int32_t n = 0;
    assert_ok(rt_Echo_pokes(fx->echo, &n, NULL, &err), &err);
    assert_true(n >= want);

    assert_ok(rt_Echo_twice(fx->echo, 21, &n, NULL, &err), &err);
    assert_int_equal(n, 42);

    roc_future *f1 = NULL, *f2 = NULL;
    assert_ok(rt_Echo_twice_async(fx->echo, 5, &f1, &err), &err);
    assert_ok(rt_Echo_level_async(fx->echo, RT_LEVEL_LOW, &f2, &err), &err);
    rt_Level l;
    assert_ok(rt_Echo_level_finish(f2, &l, NULL, &err), &err);
    assert_ok(rt_Echo_twice_finish(f1, &n, NULL, &err), &err);
    assert_int_equal(n, 10);
    assert_int_equal(l, RT_LEVEL_LOW);
    /* a result with pointers needs an arena */
    rt_Point p = {1, 1}, *po;
    assert_int_equal(rt_Echo_maybe(fx->echo, &p, &po, NULL, &err), ROC_EINVAL);
    roc_error_clear(&err);
}

static void test_gen_struct_codec_local(void **state)
{
    fixture *fx = *state;
    roc_error err = ROC_ERROR_INIT;
    rt_Point p = {3, 4}, q;
    roc_value *v = NULL;
    assert_ok(rt_Point_encode(&p, fx->a, &v, &err), &err);
    assert_int_equal(v->type, ROC_ARRAY);
    assert_int_equal(roc_value_len(v), 2);
    assert_ok(rt_Point_decode(v, fx->a, &q, &err), &err);
    assert_int_equal(q.y, 4);
    /* wrong shape */
    roc_value *s = roc_value_str(fx->a, "no");
    assert_int_equal(rt_Point_decode(s, fx->a, &q, &err), ROC_EBADARGS);
    assert_string_equal(err.message, "expected rt.Point, got str");
    roc_value *bad = roc_value_arrayv(fx->a, 2, roc_value_int(fx->a, 1),
                                      roc_value_str(fx->a, "y"));
    assert_int_equal(rt_Point_decode(bad, fx->a, &q, &err), ROC_EBADARGS);
    assert_string_equal(err.message, "field 'y': expected i32, got str");
    roc_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_all_types_round_trip),
        cmocka_unit_test(test_gen_bytes_empty_and_1mib),
        cmocka_unit_test(test_gen_any_and_containers),
        cmocka_unit_test(test_gen_recursive_struct),
        cmocka_unit_test(test_gen_exception_with_fields),
        cmocka_unit_test(test_gen_oneway_idempotent_async),
        cmocka_unit_test(test_gen_struct_codec_local),
    };
    int fails = cmocka_run_group_tests_name("gen/inproc", tests, setup_inproc,
                                            teardown);
    fails += cmocka_run_group_tests_name("gen/tcp", tests, setup_tcp, teardown);
    return fails;
}
