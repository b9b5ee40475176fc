/* roc-ns's registry and stores (nameserver/registry.c, store_*.c), in
 * process: the same conformance cases against the memory, the SQLite and
 * the etcd store (a 3-member cluster started here: tests/support/etcdfx;
 * the etcd cases are skipped only when etcd is not installed); then the
 * SQLite store across a real roc-ns process killed with kill -9 (1000
 * registrations survive) and restarted. test_ns_etcd.c has etcd's fault
 * tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <roc/roc.h>

#include "etcdfx.h"
#include "registry.h"
#include "testutil.h"

static char ns_bin[1024];

/* ------------------------------------------------------------ fixtures */

typedef struct fx {
    bool sqlite;
    bool durable; /* sqlite, etcd */
    char *dir;
    char db[600];
    char store[600]; /* --store form, for etcd */
    ns_registry *reg;
} fx;

static etcdfx cluster;
static bool have_etcd;

static void fx_open(fx *f)
{
    roc_error err = ROC_ERROR_INIT;
    ns_store *st = NULL;
    if (f->store[0])
        assert_ok(ns_store_open(&st, f->store, &err), &err);
    else if (f->sqlite)
        assert_ok(ns_store_sqlite_open(&st, f->db, &err), &err);
    else
        assert_ok(ns_store_memory_open(&st, &err), &err);
    assert_ok(ns_registry_open(&f->reg, st, &err), &err);
}

static int setup_mem(void **state)
{
    fx *f = calloc(1, sizeof *f);
    fx_open(f);
    *state = f;
    return 0;
}

/* A fresh key prefix on the shared cluster for each test. */
static int setup_etcd(void **state)
{
    static int seq;
    fx *f = calloc(1, sizeof *f);
    *state = f;
    if (!have_etcd)
        return 0; /* the test skips */
    f->durable = true;
    snprintf(f->store, sizeof f->store, "etcd://%s/conf-%d-%d",
             cluster.endpoints, (int)getpid(), ++seq);
    fx_open(f);
    return 0;
}

#define SKIP_IF_NO_STORE(f)                                                    \
    do {                                                                       \
        if (!(f)->reg)                                                         \
            skip();                                                            \
    } while (0)

static int setup_sqlite(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->sqlite = true;
    f->durable = true;
    f->dir = tu_mkdtemp();
    snprintf(f->db, sizeof f->db, "%s/ns.db", f->dir);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown_fx(void **state)
{
    fx *f = *state;
    ns_registry_close(f->reg);
    if (f->dir)
        tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Closes and reopens the registry: the SQLite store must give back what it
 * had, the memory store nothing. */
static void fx_reopen(fx *f)
{
    ns_registry_close(f->reg);
    f->reg = NULL;
    fx_open(f);
}

/* ------------------------------------------------------------ conformance */

static void test_store_register_and_reload(void **state)
{
    fx *f = *state;
    SKIP_IF_NO_STORE(f);
    roc_error err = ROC_ERROR_INIT;
    const char *tags[] = {"a", "b", "a"}; /* duplicates kept once */
    assert_ok(ns_registry_register(f->reg, "n.one", "ROC:o@tcp://h:1", tags, 3,
                                   0, &err),
              &err);
    assert_ok(ns_registry_register(f->reg, "n.one", "ROC:o@tcp://h:2", NULL, 0,
                                   ROC_NS_ADD_REPLICA, &err),
              &err);
    assert_ok(ns_registry_register(f->reg, "n.two", "ROC:t@tcp://h:3", NULL, 0,
                                   0, &err),
              &err);
    assert_int_equal(ns_registry_register(f->reg, "n.two", "ROC:t@tcp://h:4",
                                          NULL, 0, 0, &err),
                     ROC_EEXIST);
    assert_int_equal(ns_registry_count(f->reg), 2);
    fx_reopen(f);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry e;
    int rc = ns_registry_lookup(f->reg, "n.one", a, &e, &err);
    if (!f->durable) {
        assert_int_equal(rc, ROC_ENOTFOUND);
        assert_int_equal(ns_registry_count(f->reg), 0);
    } else {
        assert_ok(rc, &err);
        assert_int_equal(e.n_uris, 2);
        assert_string_equal(e.uris[0], "ROC:o@tcp://h:1");
        assert_string_equal(e.uris[1], "ROC:o@tcp://h:2");
        assert_int_equal(e.n_meta, 2);
        assert_string_equal(e.meta[0], "a");
        assert_string_equal(e.meta[1], "b");
        assert_int_equal(ns_registry_count(f->reg), 2);
    }
    roc_arena_free(a);
    roc_error_clear(&err);
}

static void test_store_remove_and_reload(void **state)
{
    fx *f = *state;
    SKIP_IF_NO_STORE(f);
    roc_error err = ROC_ERROR_INIT;
    char name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "rm.%02d", i);
        assert_ok(ns_registry_register(f->reg, name, "ROC:x@tcp://h:1", NULL, 0,
                                       0, &err),
                  &err);
    }
    size_t k = 0;
    assert_ok(ns_registry_remove(f->reg, "^rm\\.0", ROC_NS_REGEX, &k, &err),
              &err);
    assert_int_equal(k, 10);
    assert_ok(ns_registry_remove(f->reg, "rm.15", ROC_NS_EXACT, &k, &err),
              &err);
    assert_int_equal(k, 1);
    assert_ok(
        ns_registry_remove_uri(f->reg, "rm.16", "ROC:x@tcp://h:1", &k, &err),
        &err);
    assert_int_equal(k, 1);
    const char *t[] = {"kept"};
    assert_ok(ns_registry_set_meta(f->reg, "rm.17", t, 1, &err), &err);
    fx_reopen(f);
    if (!f->durable)
        return;
    assert_int_equal(ns_registry_count(f->reg), 8);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry *es;
    size_t n;
    assert_ok(ns_registry_meta(f->reg, t, 1, false, a, &es, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].name, "rm.17");
    assert_ok(ns_registry_list(f->reg, "rm.1", ROC_NS_PREFIX, a, &es, &n, &err),
              &err);
    assert_int_equal(n, 8);
    assert_string_equal(es[0].name, "rm.10");
    assert_string_equal(es[7].name, "rm.19");
    roc_arena_free(a);
    roc_error_clear(&err);
}

static void test_store_limits(void **state)
{
    fx *f = *state;
    SKIP_IF_NO_STORE(f);
    roc_error err = ROC_ERROR_INIT;
    char uri[64];
    for (int i = 0; i < ROC_NS_MAX_URIS; i++) {
        snprintf(uri, sizeof uri, "ROC:x@tcp://h:%d", i + 1);
        assert_ok(ns_registry_register(f->reg, "many", uri, NULL, 0,
                                       ROC_NS_ADD_REPLICA, &err),
                  &err);
    }
    assert_int_equal(ns_registry_register(f->reg, "many", "ROC:x@tcp://h:999",
                                          NULL, 0, ROC_NS_ADD_REPLICA, &err),
                     ROC_EBADARGS);
    /* merged tags past the limit */
    const char *t16a[16], *t17b[17];
    char buf[33][8];
    for (int i = 0; i < 16; i++) {
        snprintf(buf[i], 8, "a%d", i);
        t16a[i] = buf[i];
    }
    for (int i = 0; i < 17; i++) {
        snprintf(buf[16 + i], 8, "b%d", i);
        t17b[i] = buf[16 + i];
    }
    assert_ok(ns_registry_register(f->reg, "tags", "ROC:x@tcp://h:1", t16a, 16,
                                   0, &err),
              &err);
    assert_int_equal(ns_registry_register(f->reg, "tags", "ROC:x@tcp://h:2",
                                          t17b, 17, ROC_NS_ADD_REPLICA, &err),
                     ROC_EBADARGS);
    assert_non_null(strstr(err.message, "at most 32"));
    roc_error_clear(&err);
}

typedef struct lease_wait {
    ns_registry *reg;
    const char *name;
} lease_wait;

static bool name_gone(void *arg)
{
    lease_wait *w = arg;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry e;
    bool gone =
        ns_registry_lookup(w->reg, w->name, a, &e, NULL) == ROC_ENOTFOUND;
    roc_arena_free(a);
    return gone;
}

/* Registrations under a lease: kept alive by keepalive, gone when it is
 * revoked or lapses; a dead lease cannot be renewed or joined. */
static void test_store_leases(void **state)
{
    fx *f = *state;
    SKIP_IF_NO_STORE(f);
    roc_error err = ROC_ERROR_INIT;
    uint64_t l1 = 0, l2 = 0;
    assert_ok(ns_registry_register_lease(f->reg, "ls.a", "ROC:a@tcp://h:1",
                                         NULL, 0, 0, 1, &l1, &err),
              &err);
    assert_true(l1 != 0);
    /* a second name joins the lease */
    assert_ok(ns_registry_register_lease(f->reg, "ls.b", "ROC:b@tcp://h:1",
                                         NULL, 0, 0, 0, &l1, &err),
              &err);
    assert_ok(ns_registry_register_lease(f->reg, "ls.c", "ROC:c@tcp://h:1",
                                         NULL, 0, 0, 30, &l2, &err),
              &err);
    assert_ok(ns_registry_register(f->reg, "ls.plain", "ROC:p@tcp://h:1", NULL,
                                   0, 0, &err),
              &err);
    assert_int_equal(ns_registry_register_lease(f->reg, "ls.bad",
                                                "ROC:p@tcp://h:1", NULL, 0, 0,
                                                0, &(uint64_t){0}, &err),
                     ROC_EBADARGS);
    /* kept alive past its TTL of 1 s */
    uint64_t until = tu_now_ms() + 1600;
    unsigned ttl = 0;
    while (tu_now_ms() < until) {
        assert_ok(ns_registry_keepalive(f->reg, l1, &ttl, &err), &err);
        lease_wait w = {f->reg, "ls.a"};
        assert_false(name_gone(&w));
        tu_wait_for(name_gone, &(lease_wait){f->reg, "ls.none"}, 250);
    }
    assert_true(ttl >= 1);
    /* then left alone: both names go within TTL + margin (etcd: up to 2 x
     * TTL and an election, notes/etcd.md) */
    uint64_t t0 = tu_now_ms();
    lease_wait wa = {f->reg, "ls.a"}, wb = {f->reg, "ls.b"};
    assert_true(tu_wait_for(name_gone, &wa, 5000));
    assert_true(tu_wait_for(name_gone, &wb, 1000));
    print_message("    lease of 1 s lapsed: names gone after %llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    assert_int_equal(ns_registry_keepalive(f->reg, l1, &ttl, &err),
                     ROC_ENOTFOUND);
    assert_int_equal(ns_registry_register_lease(f->reg, "ls.d",
                                                "ROC:d@tcp://h:1", NULL, 0, 0,
                                                0, &l1, &err),
                     ROC_ENOTFOUND);
    /* revoke: at once */
    assert_ok(ns_registry_revoke(f->reg, l2, &err), &err);
    lease_wait wc = {f->reg, "ls.c"};
    assert_true(name_gone(&wc));
    assert_int_equal(ns_registry_count(f->reg), 1);
    roc_error_clear(&err);
}

/* ------------------------------------------------------------ roc-ns + kill -9
 */

typedef tu_ns nsproc;

static void ns_start(nsproc *s, const char *db)
{
    const char *x[] = {"--db", db, NULL};
    assert_int_equal(tu_ns_start(s, NULL, x), 0);
}

#define NAMES 1000

static void test_sqlite_survives_kill9(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char db[600];
    snprintf(db, sizeof db, "%s/names.db", dir);
    nsproc s;
    ns_start(&s, db);
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_open(&ns, s.url, &err), &err);
    roc_ns_set_timeout(ns, 10000);
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < NAMES; i++) {
        char name[32], uri[64];
        snprintf(name, sizeof name, "persist.%04d", i);
        snprintf(uri, sizeof uri, "ROC:obj%d@tcp://127.0.0.1:%d", i, 10000 + i);
        const char *tags[] = {i % 3 ? "plain" : "third"};
        assert_ok(roc_ns_register(ns, name, uri, tags, 1, 0, &err), &err);
    }
    uint64_t dt = tu_now_ms() - t0;
    print_message("    %d durable registrations in %llu ms\n", NAMES,
                  (unsigned long long)dt);
    roc_ns_close(ns);
    /* no clean shutdown: every acknowledged registration must be on disk */
    tu_kill9(s.pid);
    close(s.out);

    ns_start(&s, db);
    assert_ok(roc_ns_open(&ns, s.url, &err), &err);
    uint64_t n = 0;
    assert_ok(roc_ns_count(ns, &n, &err), &err);
    assert_int_equal(n, NAMES);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry *es;
    size_t ne;
    assert_ok(roc_ns_list(ns, "persist.", ROC_NS_PREFIX, a, &es, &ne, &err),
              &err);
    assert_int_equal(ne, NAMES);
    for (int i = 0; i < NAMES; i++) {
        char name[32], uri[64];
        snprintf(name, sizeof name, "persist.%04d", i);
        snprintf(uri, sizeof uri, "ROC:obj%d@tcp://127.0.0.1:%d", i, 10000 + i);
        assert_string_equal(es[i].name, name);
        assert_int_equal(es[i].n_uris, 1);
        assert_string_equal(es[i].uris[0], uri);
        assert_string_equal(es[i].meta[0], i % 3 ? "plain" : "third");
    }
    const char *third[] = {"third"};
    assert_ok(roc_ns_lookup_meta(ns, third, 1, false, a, &es, &ne, &err), &err);
    assert_int_equal(ne, (NAMES + 2) / 3);
    /* a removal is as durable */
    size_t k = 0;
    assert_ok(roc_ns_remove(ns, "persist.00", ROC_NS_PREFIX, &k, &err), &err);
    assert_int_equal(k, 1000 / 10);
    roc_ns_close(ns);
    tu_kill9(s.pid);
    close(s.out);
    ns_start(&s, db);
    assert_ok(roc_ns_open(&ns, s.url, &err), &err);
    assert_ok(roc_ns_count(ns, &n, &err), &err);
    assert_int_equal(n, NAMES - NAMES / 10);
    roc_ns_close(ns);
    assert_int_equal(tu_stop(s.pid), 0);
    close(s.out);
    roc_arena_free(a);
    roc_error_clear(&err);
    tu_rmtree(dir);
    free(dir);
}

static void test_sqlite_unusable_file(void **state)
{
    (void)state;
    /* a directory that does not exist: roc-ns says so and exits 1 */
    char *argv[] = {ns_bin,
                    "--url",
                    "tcp://127.0.0.1:0",
                    "--db",
                    "/nonexistent-dir/x/names.db",
                    NULL};
    int out = -1;
    pid_t pid = tu_spawn(argv, &out);
    int st = 0;
    waitpid(pid, &st, 0);
    close(out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_bin("nameserver/roc-ns", ns_bin, sizeof ns_bin);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_register_and_reload,
                                        setup_mem, teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_register_and_reload,
                                        setup_sqlite, teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_remove_and_reload, setup_mem,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_remove_and_reload,
                                        setup_sqlite, teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_limits, setup_mem,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_limits, setup_sqlite,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_register_and_reload,
                                        setup_etcd, teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_remove_and_reload,
                                        setup_etcd, teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_limits, setup_etcd,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_leases, setup_mem,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_leases, setup_sqlite,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_store_leases, setup_etcd,
                                        teardown_fx),
        cmocka_unit_test(test_sqlite_survives_kill9),
        cmocka_unit_test(test_sqlite_unusable_file),
    };
    if (!etcdfx_bin())
        print_message("[  NOTE    ] etcd is not installed "
                      "(apt-get install etcd-server): etcd cases skip\n");
    else if (etcdfx_start(&cluster, 3, 20000) != 0)
        fail_msg("the etcd cluster did not start");
    else
        have_etcd = true;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    etcdfx_stop(&cluster);
    return rc;
}
