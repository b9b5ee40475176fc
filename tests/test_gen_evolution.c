/* Struct evolution: tests/idl/evolve_v1.roc and evolve_v2.roc hold two
 * versions of one struct (v2 appends fields with defaults), compiled into
 * different modules. Data encoded by one decodes with the other: missing
 * trailing fields take their defaults, extra trailing fields are ignored —
 * locally and through a daemon in both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "evolve_v1.roc.h"
#include "evolve_v2.roc.h"
#include "testutil.h"

static void test_evolution_old_to_new_takes_defaults(void **state)
{
    (void)state;
    roc_arena *a;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    ev_v1_Profile old = {"Ann", 41};
    roc_value *v = NULL;
    assert_ok(ev_v1_Profile_encode(&old, a, &v, &err), &err);
    assert_int_equal(roc_value_len(v), 2);
    ev_v2_Profile neu;
    assert_ok(ev_v2_Profile_decode(v, a, &neu, &err), &err);
    assert_string_equal(neu.name, "Ann");
    assert_int_equal(neu.age, 41);
    assert_string_equal(neu.city, "Paris");
    assert_int_equal(neu.tags.len, 0);
    roc_arena_free(a);
}

static void test_evolution_new_to_old_ignores_extra(void **state)
{
    (void)state;
    roc_arena *a;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    const char *tags[] = {"x"};
    ev_v2_Profile neu = {"Bob", 7, "Oslo", {tags, 1}};
    roc_value *v = NULL;
    assert_ok(ev_v2_Profile_encode(&neu, a, &v, &err), &err);
    assert_int_equal(roc_value_len(v), 4);
    ev_v1_Profile old;
    assert_ok(ev_v1_Profile_decode(v, a, &old, &err), &err);
    assert_string_equal(old.name, "Bob");
    assert_int_equal(old.age, 7);
    roc_arena_free(a);
}

/* servers of both versions: v2 reports what it saw in its city field */
static int v2_echo(void *self, roc_call *call, const ev_v2_Profile *p,
                   ev_v2_Profile *ret)
{
    (void)self, (void)call;
    *ret = *p;
    ret->age = p->age + 1;
    return 0;
}
static int v1_echo(void *self, roc_call *call, const ev_v1_Profile *p,
                   ev_v1_Profile *ret)
{
    (void)self, (void)call;
    *ret = *p;
    ret->age = p->age + 1;
    return 0;
}
static const ev_v2_Registry_ops v2_ops = {.echo = v2_echo};
static const ev_v1_Registry_ops v1_ops = {.echo = v1_echo};
static ev_v2_Registry_impl v2_impl = {&v2_ops, NULL, 0};
static ev_v1_Registry_impl v1_impl = {&v1_ops, NULL, 0};

static void test_evolution_through_daemon(void **state)
{
    (void)state;
    char url[256];
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d;
    tu_url("tcp", url, sizeof url);
    assert_ok(roc_daemon_open(&d, url, NULL, &err), &err);
    roc_servant s2 = ev_v2_Registry_servant(&v2_impl);
    roc_servant s1 = ev_v1_Registry_servant(&v1_impl);
    char *u2, *u1;
    assert_int_equal(roc_daemon_register(d, "new", &s2, &u2), 0);
    assert_int_equal(roc_daemon_register(d, "old", &s1, &u1), 0);
    assert_int_equal(roc_daemon_start(d), 0);
    roc_arena *a;
    roc_arena_new(&a);

    /* an old client calls a new server */
    ev_v1_Registry *oldp;
    assert_ok(ev_v1_Registry_open(&oldp, u2, &err), &err);
    ev_v1_Profile op = {"Cy", 30}, oout;
    assert_ok(ev_v1_Registry_echo(oldp, &op, &oout, a, &err), &err);
    assert_string_equal(oout.name, "Cy");
    assert_int_equal(oout.age, 31);
    ev_v1_Registry_close(oldp);

    /* a new client calls an old server: extra fields are dropped there,
     * and come back as defaults */
    ev_v2_Registry *newp;
    assert_ok(ev_v2_Registry_open(&newp, u1, &err), &err);
    const char *tags[] = {"a", "b"};
    ev_v2_Profile np = {"Di", 50, "Rome", {tags, 2}}, nout;
    assert_ok(ev_v2_Registry_echo(newp, &np, &nout, a, &err), &err);
    assert_string_equal(nout.name, "Di");
    assert_int_equal(nout.age, 51);
    assert_string_equal(nout.city, "Paris");
    assert_int_equal(nout.tags.len, 0);
    ev_v2_Registry_close(newp);

    roc_daemon_close(d);
    free(u1);
    free(u2);
    roc_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evolution_old_to_new_takes_defaults),
        cmocka_unit_test(test_evolution_new_to_old_ignores_extra),
        cmocka_unit_test(test_evolution_through_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
