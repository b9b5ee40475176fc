/* The IDL.md example (tests/idl/shop.roc) served and called through the
 * generated code over tcp: attributes, inheritance (a Shop proxy calls
 * Warehouse methods), typed exceptions, an object reference returned by one
 * call used for the next (branch), a Listener reference passed as an
 * argument and called back, oneway, arguments of the wrong type from a raw
 * client rejected with roc.BadArguments, and roc.daemon.describe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "shop.roc.h"
#include "testutil.h"

/* ---- the server: a shop with a few items, branches per city ---- */

#define MAX_ITEMS 16
typedef struct shop {
    pthread_mutex_t mu;
    char *motto;
    char *names[MAX_ITEMS];
    double prices[MAX_ITEMS];
    int qty[MAX_ITEMS];
    int n;
    int touches;
    demo_shop_Listener *listeners[4];
    int n_listeners;
    roc_daemon *d;
    demo_shop_Warehouse *branches[4]; /* proxies we hand out (kept) */
    int n_branches;
} shop;

static int find(shop *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    return -1;
}

static int h_get_count(void *self, roc_call *call, int32_t *ret)
{
    (void)call;
    shop *s = self;
    *ret = s->n;
    return 0;
}
static int h_get_motto(void *self, roc_call *call, const char **ret)
{
    shop *s = self;
    pthread_mutex_lock(&s->mu);
    *ret = roc_arena_strdup(roc_call_arena(call), s->motto);
    pthread_mutex_unlock(&s->mu);
    return 0;
}
static int h_set_motto(void *self, roc_call *call, const char *value)
{
    (void)call;
    shop *s = self;
    pthread_mutex_lock(&s->mu);
    free(s->motto);
    s->motto = strdup(value);
    pthread_mutex_unlock(&s->mu);
    return 0;
}
static int h_contents(void *self, roc_call *call, demo_shop_Items *ret)
{
    shop *s = self;
    ret->len = (size_t)s->n;
    ret->items = roc_arena_calloc(roc_call_arena(call), (size_t)s->n + 1,
                                  sizeof *ret->items);
    for (int i = 0; i < s->n; i++) {
        ret->items[i].name = s->names[i];
        ret->items[i].price = s->prices[i];
    }
    return 0;
}
static int h_get(void *self, roc_call *call, const char *name,
                 demo_shop_Item *ret)
{
    shop *s = self;
    int i = find(s, name);
    if (i < 0) {
        demo_shop_NotFound nf = {name};
        return demo_shop_NotFound_raise(call, &nf, "no item '%s'", name);
    }
    ret->name = s->names[i];
    ret->price = s->prices[i];
    return 0;
}
static int h_store(void *self, roc_call *call, const demo_shop_Item *item,
                   int32_t quantity)
{
    shop *s = self;
    if (quantity > 1000) {
        demo_shop_OutOfStock oos = {item->name, quantity};
        return demo_shop_OutOfStock_raise(call, &oos, "too many");
    }
    int i = find(s, item->name);
    if (i < 0) {
        if (s->n == MAX_ITEMS)
            return roc_call_error(call, ROC_EBUSY, "full");
        i = s->n++;
        s->names[i] = strdup(item->name);
    }
    s->prices[i] = item->price;
    s->qty[i] += quantity;
    /* tell the listeners (oneway, from a blocking-capable servant) */
    for (int k = 0; k < s->n_listeners; k++) {
        roc_value *detail = roc_value_int(roc_call_arena(call), quantity);
        demo_shop_Listener_changed(s->listeners[k], item->name, detail, NULL);
    }
    return 0;
}
static int h_touch(void *self, roc_call *call)
{
    (void)call;
    shop *s = self;
    pthread_mutex_lock(&s->mu);
    s->touches++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}
static int h_subscribe(void *self, roc_call *call,
                       demo_shop_Listener *listener)
{
    shop *s = self;
    /* the argument's proxy is closed when the handler returns: keep a dup */
    demo_shop_Listener *mine = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (demo_shop_Listener_dup(listener, &mine, &err) != 0) {
        roc_error_clear(&err);
        return roc_call_error(call, ROC_EINTERNAL, "cannot keep listener");
    }
    s->listeners[s->n_listeners++] = mine;
    return 0;
}

static shop branch_state[4];
static demo_shop_Warehouse_impl branch_impl[4];
static const demo_shop_Warehouse_ops branch_ops = {
    .get_count = h_get_count, .get_motto = h_get_motto,
    .set_motto = h_set_motto, .get = h_get, .store = h_store,
};

static int h_branch(void *self, roc_call *call, const char *city,
                    demo_shop_Warehouse **ret)
{
    shop *s = self;
    if (s->n_branches == 4)
        return roc_call_error(call, ROC_EBUSY, "no more branches");
    int k = s->n_branches;
    shop *b = &branch_state[k];
    pthread_mutex_init(&b->mu, NULL);
    b->motto = strdup(city);
    branch_impl[k].ops = &branch_ops;
    branch_impl[k].self = b;
    roc_servant sv = demo_shop_Warehouse_servant(&branch_impl[k]);
    char id[64], *uri = NULL;
    snprintf(id, sizeof id, "branch-%d", k);
    if (roc_daemon_register(s->d, id, &sv, &uri) != 0)
        return roc_call_error(call, ROC_EINTERNAL, "register failed");
    /* the result is borrowed: the shop keeps the proxy it returns */
    int rc = demo_shop_Warehouse_open(&s->branches[k], uri, NULL);
    free(uri);
    if (rc != 0)
        return roc_call_error(call, ROC_EINTERNAL, "open failed");
    s->n_branches++;
    *ret = s->branches[k];
    return 0;
}
static int h_checkout(void *self, roc_call *call, demo_shop_stringList names,
                      double *ret)
{
    shop *s = self;
    double sum = 0;
    for (size_t i = 0; i < names.len; i++) {
        int k = find(s, names.items[i]);
        if (k < 0) {
            demo_shop_NotFound nf = {names.items[i]};
            return demo_shop_NotFound_raise(call, &nf, "no item");
        }
        sum += s->prices[k];
    }
    *ret = sum;
    return 0;
}

static const demo_shop_Shop_ops shop_ops = {
    .get_count = h_get_count, .get_motto = h_get_motto,
    .set_motto = h_set_motto, .contents = h_contents, .get = h_get,
    .store = h_store, .touch = h_touch, .subscribe = h_subscribe,
    .branch = h_branch, .checkout = h_checkout,
};

/* the client's listener */
static atomic_int changes;
static int h_changed(void *self, roc_call *call, const char *item,
                     roc_value *detail)
{
    (void)self, (void)call, (void)item;
    int64_t q = 0;
    roc_value_get_int(detail, &q);
    atomic_fetch_add(&changes, (int)q);
    return 0;
}
static const demo_shop_Listener_ops listener_ops = {.changed = h_changed};

/* ---- fixture ---- */

static shop the_shop;
static demo_shop_Shop_impl shop_impl = {&shop_ops, &the_shop,
                                        ROC_SERVANT_BLOCKING};
static demo_shop_Listener_impl listener_impl = {&listener_ops, NULL, 0};
static roc_daemon *daemon_;
static char *shop_uri, *listener_uri;

static int setup(void **state)
{
    (void)state;
    char url[256];
    roc_error err = ROC_ERROR_INIT;
    tu_url("tcp", url, sizeof url);
    if (roc_daemon_open(&daemon_, url, NULL, &err) != 0)
        return -1;
    pthread_mutex_init(&the_shop.mu, NULL);
    the_shop.motto = strdup("cheap and cheerful");
    the_shop.d = daemon_;
    roc_servant s = demo_shop_Shop_servant(&shop_impl);
    roc_servant l = demo_shop_Listener_servant(&listener_impl);
    if (roc_daemon_register(daemon_, "shop", &s, &shop_uri) != 0 ||
        roc_daemon_register(daemon_, "listener", &l, &listener_uri) != 0 ||
        roc_daemon_start(daemon_) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    roc_daemon_close(daemon_);
    for (int i = 0; i < the_shop.n_listeners; i++)
        demo_shop_Listener_close(the_shop.listeners[i]);
    for (int i = 0; i < the_shop.n_branches; i++) {
        demo_shop_Warehouse_close(the_shop.branches[i]);
        free(branch_state[i].motto);
        for (int k = 0; k < branch_state[i].n; k++)
            free(branch_state[i].names[k]);
    }
    for (int i = 0; i < the_shop.n; i++)
        free(the_shop.names[i]);
    free(the_shop.motto);
    free(shop_uri);
    free(listener_uri);
    return 0;
}

/* ---- tests ---- */

static void test_gen_inheritance_and_attributes(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a;
    roc_arena_new(&a);
    demo_shop_Shop *sp;
    assert_ok(demo_shop_Shop_open(&sp, shop_uri, &err), &err);
    demo_shop_Item apple = {.name = "apple", .price = 0.5};
    demo_shop_Item pear = {.name = "pear", .price = 0.75};
    assert_ok(demo_shop_Shop_store(sp, &apple, 10, &err), &err);
    assert_ok(demo_shop_Shop_store(sp, &pear, 3, &err), &err);

    /* a Warehouse view of the Shop proxy */
    demo_shop_Warehouse *wp = demo_shop_Shop_as_Warehouse(sp);
    int32_t count = 0;
    assert_ok(demo_shop_Warehouse_get_count(wp, &count, NULL, &err), &err);
    assert_int_equal(count, 2);
    demo_shop_Item got;
    assert_ok(demo_shop_Warehouse_get(wp, "pear", &got, a, &err), &err);
    assert_string_equal(got.name, "pear");
    assert_true(got.price == 0.75);
    demo_shop_Items all;
    assert_ok(demo_shop_Shop_contents(sp, &all, a, &err), &err);
    assert_int_equal(all.len, 2);
    assert_string_equal(all.items[0].name, "apple");

    const char *names[] = {"apple", "pear", "apple"};
    double total = 0;
    demo_shop_stringList nl = {names, 3};
    assert_ok(demo_shop_Shop_checkout(sp, nl, &total, NULL, &err), &err);
    assert_true(total == 1.75);

    /* attributes */
    const char *motto = NULL;
    assert_ok(demo_shop_Shop_get_motto(sp, &motto, a, &err), &err);
    assert_string_equal(motto, "cheap and cheerful");
    assert_ok(demo_shop_Shop_set_motto(sp, "always open", &err), &err);
    assert_ok(demo_shop_Shop_get_motto(sp, &motto, a, &err), &err);
    assert_string_equal(motto, "always open");
    /* readonly: no setter on the wire either */
    roc_value *args = roc_value_arrayv(a, 1, roc_value_int(a, 3));
    assert_int_equal(roc_proxy_call(demo_shop_Shop_proxy(sp), "set_count",
                                     args, NULL, a, &err),
                     ROC_ENOMETHOD);
    demo_shop_Shop_close(sp);
    roc_arena_free(a);
    roc_error_clear(&err);
}

static void test_gen_typed_exceptions(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a;
    roc_arena_new(&a);
    demo_shop_Shop *sp;
    assert_ok(demo_shop_Shop_open(&sp, shop_uri, &err), &err);
    demo_shop_Item it;
    assert_int_equal(demo_shop_Shop_get(sp, "durian", &it, a, &err),
                     ROC_EREMOTE);
    assert_string_equal(err.type, "demo.shop.NotFound");
    assert_string_equal(err.message, "no item 'durian'");
    demo_shop_NotFound nf;
    assert_int_equal(demo_shop_NotFound_catch(&err, &nf, a), 0);
    assert_string_equal(nf.name, "durian");
    demo_shop_OutOfStock oos;
    assert_int_equal(demo_shop_OutOfStock_catch(&err, &oos, a), ROC_ENOTFOUND);

    demo_shop_Item lots = {.name = "fig", .price = 1};
    assert_int_equal(demo_shop_Shop_store(sp, &lots, 5000, &err), ROC_EREMOTE);
    assert_int_equal(demo_shop_OutOfStock_catch(&err, &oos, a), 0);
    assert_string_equal(oos.item, "fig");
    assert_int_equal(oos.requested, 5000);
    demo_shop_Shop_close(sp);
    roc_arena_free(a);
    roc_error_clear(&err);
}

static void test_gen_reference_returned_then_used(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a;
    roc_arena_new(&a);
    demo_shop_Shop *sp;
    assert_ok(demo_shop_Shop_open(&sp, shop_uri, &err), &err);
    demo_shop_Warehouse *lyon = NULL;
    assert_ok(demo_shop_Shop_branch(sp, "Lyon", &lyon, a, &err), &err);
    assert_non_null(lyon);
    assert_non_null(strstr(roc_proxy_uri(demo_shop_Warehouse_proxy(lyon)),
                           "ROC:branch-"));
    const char *motto = NULL;
    assert_ok(demo_shop_Warehouse_get_motto(lyon, &motto, a, &err), &err);
    assert_string_equal(motto, "Lyon");
    demo_shop_Item cheese = {.name = "cheese", .price = 9};
    assert_ok(demo_shop_Warehouse_store(lyon, &cheese, 1, &err), &err);
    int32_t n = 0;
    assert_ok(demo_shop_Warehouse_get_count(lyon, &n, NULL, &err), &err);
    assert_int_equal(n, 1);
    /* a method the branch does not implement */
    demo_shop_Items items;
    assert_int_equal(demo_shop_Warehouse_contents(lyon, &items, a, &err),
                     ROC_ENOMETHOD);
    demo_shop_Warehouse_close(lyon);
    demo_shop_Shop_close(sp);
    roc_arena_free(a);
    roc_error_clear(&err);
}

static bool changes_reach(void *arg)
{
    return atomic_load(&changes) >= *(int *)arg;
}

static void test_gen_reference_argument_called_back(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    demo_shop_Shop *sp;
    demo_shop_Listener *lp;
    assert_ok(demo_shop_Shop_open(&sp, shop_uri, &err), &err);
    assert_ok(demo_shop_Listener_open(&lp, listener_uri, &err), &err);
    assert_ok(demo_shop_Shop_subscribe(sp, lp, &err), &err);
    demo_shop_Item kiwi = {.name = "kiwi", .price = 0.2};
    assert_ok(demo_shop_Shop_store(sp, &kiwi, 7, &err), &err);
    int want = 7;
    assert_true(tu_wait_for(changes_reach, &want, 5000));
    /* oneway touch */
    assert_ok(demo_shop_Shop_touch(sp, &err), &err);
    demo_shop_Listener_close(lp);
    demo_shop_Shop_close(sp);
}

/* A local servant passed through the generated API: it travels as a
 * callback reference (ext type 2) and the shop calls it back over the
 * connection the client opened; the client has no listener of its own. */
static void test_gen_local_servant_as_callback(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    demo_shop_Shop *sp;
    assert_ok(demo_shop_Shop_open(&sp, shop_uri, &err), &err);
    roc_servant ls = demo_shop_Listener_servant(&listener_impl);
    roc_export *e = NULL;
    assert_ok(roc_export_new(&e, &ls, &err), &err);
    roc_proxy *local = NULL;
    assert_ok(roc_proxy_open_export(&local, e, &err), &err);
    int before = atomic_load(&changes);
    assert_ok(demo_shop_Shop_subscribe(sp, demo_shop_Listener_from_proxy(local),
                                       &err),
              &err);
    demo_shop_Item fig = {.name = "fig", .price = 0.5};
    assert_ok(demo_shop_Shop_store(sp, &fig, 5, &err), &err);
    int want = before + 5;
    assert_true(tu_wait_for(changes_reach, &want, 5000));
    /* calling a local stand-in directly is refused with a clear error */
    assert_int_equal(demo_shop_Listener_changed(
                         demo_shop_Listener_from_proxy(local), "x", NULL, &err),
                     ROC_EINVAL);
    roc_error_clear(&err);
    roc_proxy_close(local);
    demo_shop_Shop_close(sp);
    roc_export_free(e);
}

static void test_gen_bad_arguments_rejected(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a;
    roc_arena_new(&a);
    roc_proxy *p;
    assert_ok(roc_proxy_open(&p, shop_uri, &err), &err);
    struct {
        const char *method;
        const char *json;
        const char *message;
    } cases[] = {
        {"store", "[\"apple\", 1]",
         "demo.shop.Shop.store: parameter 'item': expected demo.shop.Item, "
         "got str"},
        {"store", "[[\"apple\", \"cheap\"], 1]",
         "demo.shop.Shop.store: parameter 'item': field 'price': expected "
         "f64, got str"},
        {"store", "[[\"apple\", 1.0], 3000000000]",
         "demo.shop.Shop.store: parameter 'quantity': expected i32, got "
         "3000000000 (out of range)"},
        {"store", "[[\"apple\", 1.0, [\"a\", 2]], 1]",
         "demo.shop.Shop.store: parameter 'item': field 'tags': element 1: "
         "expected string, got int"},
        {"store", "[[\"apple\", 1.0, [], 3], 1]",
         "demo.shop.Shop.store: parameter 'item': field 'color': expected "
         "demo.shop.Color, got 3 (not a value of the enum)"},
        {"get", "[]", "1 argument, got 0"}, /* checked by the daemon */
        {"checkout", "[[\"a\", null]]",
         "demo.shop.Shop.checkout: parameter 'names': element 1: expected "
         "string, got nil"},
        {"subscribe", "[\"ROC:x@tcp://127.0.0.1:1\"]",
         "demo.shop.Shop.subscribe: parameter 'listener': expected a "
         "reference to demo.shop.Listener, got str"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        roc_value *args = NULL;
        assert_ok(roc_value_from_json(a, cases[i].json, &args, &err), &err);
        int rc = roc_proxy_call(p, cases[i].method, args, NULL, a, &err);
        if (rc != ROC_EBADARGS || strstr(err.message, cases[i].message) == NULL)
            fail_msg("case %zu: rc %d type %s message '%s'", i, rc,
                     err.type ? err.type : "-", err.message);
        assert_string_equal(err.type, "roc.BadArguments");
    }
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_error_clear(&err);
}

static void test_gen_describe_has_idl(void **state)
{
    (void)state;
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a;
    roc_arena_new(&a);
    char uri[512];
    snprintf(uri, sizeof uri, "ROC:roc.daemon@%s", roc_daemon_url(daemon_));
    roc_proxy *p;
    assert_ok(roc_proxy_open(&p, uri, &err), &err);
    roc_value *args = roc_value_arrayv(a, 1, roc_value_str(a, "shop"));
    roc_value *res = NULL;
    assert_ok(roc_proxy_call(p, "describe", args, &res, a, &err), &err);
    char *json = NULL;
    assert_ok(roc_value_to_json(res, 0, &json, &err), &err);
    assert_non_null(strstr(json, "demo.shop.Shop"));
    assert_non_null(strstr(json, "interface Shop : Warehouse"));
    assert_non_null(strstr(json, "checkout"));
    assert_non_null(strstr(json, "list<string> names"));
    assert_non_null(strstr(json, "Item item, i32 quantity"));
    free(json);
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_inheritance_and_attributes),
        cmocka_unit_test(test_gen_typed_exceptions),
        cmocka_unit_test(test_gen_reference_returned_then_used),
        cmocka_unit_test(test_gen_reference_argument_called_back),
        cmocka_unit_test(test_gen_local_servant_as_callback),
        cmocka_unit_test(test_gen_bad_arguments_rejected),
        cmocka_unit_test(test_gen_describe_has_idl),
    };
    return cmocka_run_group_tests_name("gen/shop", tests, setup, teardown);
}
