/* roc-ns over etcd, with real processes: a 3-member etcd cluster on
 * 127.0.0.1 (tests/support/etcdfx), roc-ns processes started with
 * --store etcd://..., and faults: two name servers sharing one registry,
 * the etcd leader killed during a stream of registrations, a roc-ns
 * killed, a lease holder killed, every roc-ns restarted. Exits 77 (skip)
 * only when etcd is not installed. test_nameserver.c runs the conformance
 * cases on the etcd store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <roc/roc.h>

#include "etcdfx.h"
#include "naming.roc.h"
#include "registry.h"
#include "testutil.h"

static char self_bin[1024];
static etcdfx cluster;

/* A fresh key prefix per test: "etcd://eps/<tag>-<pid>". */
static void store_url(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "etcd://%s/%s-%d?timeout_ms=500", cluster.endpoints, tag,
             (int)getpid());
}

/* ------------------------------------------------------------ processes */

typedef tu_ns nsproc;

static void ns_start(nsproc *s, const char *store)
{
    const char *x[] = {"--store", store, NULL};
    if (tu_ns_start(s, NULL, x) != 0)
        fail_msg("roc-ns --store %s did not start", store);
}

static void ns_kill(nsproc *s)
{
    tu_ns_kill(s);
}

static void ns_stop(nsproc *s)
{
    assert_int_equal(tu_ns_stop(s), 0);
}

static roc_ns *ns_client(const nsproc *s)
{
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_open(&ns, s->url, &err), &err);
    roc_ns_set_timeout(ns, 20000);
    return ns;
}

typedef struct count_wait {
    roc_ns *ns;
    uint64_t want;
} count_wait;

static bool count_is(void *arg)
{
    count_wait *w = arg;
    uint64_t n = 0;
    return roc_ns_count(w->ns, &n, NULL) == 0 && n == w->want;
}


static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------ in process */

typedef struct adder {
    ns_registry *reg;
    int who;
    int rc;
} adder;

static void *add_replicas(void *arg)
{
    adder *a = arg;
    for (int i = 0; i < 20 && !a->rc; i++) {
        char uri[64];
        snprintf(uri, sizeof uri, "ROC:r@tcp://h%d:%d", a->who, i + 1);
        a->rc = ns_registry_register(a->reg, "shared.name", uri, NULL, 0,
                                     ROC_NS_ADD_REPLICA, NULL);
    }
    return NULL;
}

typedef struct view_wait {
    ns_registry *reg;
    const char *name;
    size_t n_uris; /* 0: absent */
} view_wait;

static bool view_has(void *arg)
{
    view_wait *w = arg;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_ns_entry e;
    int rc = ns_registry_lookup(w->reg, w->name, a, &e, NULL);
    bool ok =
        w->n_uris ? rc == 0 && e.n_uris == w->n_uris : rc == ROC_ENOTFOUND;
    roc_arena_free(a);
    return ok;
}

/* Two registries (two roc-ns, in one process) over one prefix: each sees
 * the other's changes through its watch; "register if absent" holds across
 * them; concurrent read-modify-writes (replicas added from both at once)
 * lose nothing. */
static void test_two_registries_share_one_store(void **state)
{
    (void)state;
    char url[600];
    store_url(url, sizeof url, "two");
    roc_error err = ROC_ERROR_INIT;
    ns_store *sa = NULL, *sb = NULL;
    ns_registry *ra = NULL, *rb = NULL;
    assert_ok(ns_store_open(&sa, url, &err), &err);
    assert_ok(ns_registry_open(&ra, sa, &err), &err);
    assert_ok(ns_store_open(&sb, url, &err), &err);
    assert_ok(ns_registry_open(&rb, sb, &err), &err);

    assert_ok(
        ns_registry_register(ra, "two.a", "ROC:a@tcp://h:1", NULL, 0, 0, &err),
        &err);
    view_wait w = {rb, "two.a", 1};
    uint64_t t0 = now_us();
    assert_true(tu_wait_for(view_has, &w, 5000));
    print_message("    a registration on A is visible on B after %llu us\n",
                  (unsigned long long)(now_us() - t0));
    /* B knows it exists; and even with a view that lagged, etcd's
     * condition refuses a second "register if absent" */
    assert_int_equal(
        ns_registry_register(rb, "two.a", "ROC:b@tcp://h:2", NULL, 0, 0, &err),
        ROC_EEXIST);

    adder x = {ra, 1, 0}, y = {rb, 2, 0};
    pthread_t tx, ty;
    pthread_create(&tx, NULL, add_replicas, &x);
    pthread_create(&ty, NULL, add_replicas, &y);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    assert_int_equal(x.rc, 0);
    assert_int_equal(y.rc, 0);
    view_wait wa = {ra, "shared.name", 40}, wb = {rb, "shared.name", 40};
    assert_true(tu_wait_for(view_has, &wa, 5000));
    assert_true(tu_wait_for(view_has, &wb, 5000));

    size_t k = 0;
    assert_ok(ns_registry_remove(rb, "two.a", ROC_NS_EXACT, &k, &err), &err);
    assert_int_equal(k, 1);
    view_wait gone = {ra, "two.a", 0};
    assert_true(tu_wait_for(view_has, &gone, 5000));
    ns_registry_close(ra);
    ns_registry_close(rb);
    roc_error_clear(&err);
}

/* ------------------------------------------------------------ faults */

typedef struct member {
    int i;
} member;

static bool member_healthy(void *arg)
{
    return etcdfx_healthy(&cluster, ((member *)arg)->i);
}

#define STREAM 300
#define KILL_AT 100

/* kill -9 the etcd leader during a stream of registrations through one
 * roc-ns: every registration acknowledged is there afterwards (also seen
 * by a roc-ns started later), and registrations resume within a bounded
 * time. */
static void test_leader_killed_during_registrations(void **state)
{
    (void)state;
    char url[600];
    store_url(url, sizeof url, "leader");
    nsproc a;
    ns_start(&a, url);
    roc_ns *ns = ns_client(&a);
    roc_error err = ROC_ERROR_INIT;
    uint64_t worst_us = 0, killed_at = 0, first_after = 0;
    int victim = -1;
    for (int i = 0; i < STREAM; i++) {
        if (i == KILL_AT) {
            victim = etcdfx_leader(&cluster);
            assert_true(victim >= 0);
            etcdfx_kill(&cluster, victim);
            killed_at = now_us();
        }
        char name[32], uri[64];
        snprintf(name, sizeof name, "lk.%04d", i);
        snprintf(uri, sizeof uri, "ROC:o%d@tcp://127.0.0.1:%d", i, 2000 + i);
        uint64_t t = now_us();
        assert_ok(roc_ns_register(ns, name, uri, NULL, 0, 0, &err), &err);
        uint64_t dt = now_us() - t;
        if (i >= KILL_AT && dt > worst_us)
            worst_us = dt;
        if (i == KILL_AT)
            first_after = now_us() - killed_at;
    }
    print_message("    leader (member %d) killed: first registration after it "
                  "took %llu ms, the slowest after it %llu ms\n",
                  victim, (unsigned long long)(first_after / 1000),
                  (unsigned long long)(worst_us / 1000));
    assert_true(worst_us < 5000000); /* bounded: 5 s */
    uint64_t n = 0;
    assert_ok(roc_ns_count(ns, &n, &err), &err);
    assert_int_equal(n, STREAM);
    roc_ns_close(ns);
    /* a new roc-ns (no state of its own) finds every acknowledged one */
    nsproc b;
    ns_start(&b, url);
    roc_ns *nb = ns_client(&b);
    roc_arena *ar = NULL;
    roc_arena_new(&ar);
    roc_ns_entry *es;
    size_t ne;
    assert_ok(roc_ns_list(nb, "lk.", ROC_NS_PREFIX, ar, &es, &ne, &err), &err);
    assert_int_equal(ne, STREAM);
    for (int i = 0; i < STREAM; i++) {
        char uri[64];
        snprintf(uri, sizeof uri, "ROC:o%d@tcp://127.0.0.1:%d", i, 2000 + i);
        assert_int_equal(es[i].n_uris, 1);
        assert_string_equal(es[i].uris[0], uri);
    }
    roc_arena_free(ar);
    roc_ns_close(nb);
    ns_stop(&a);
    ns_stop(&b);
    /* the member comes back for the next tests */
    assert_int_equal(etcdfx_restart(&cluster, victim), 0);
    member m = {victim};
    assert_true(tu_wait_for(member_healthy, &m, 15000));
    roc_error_clear(&err);
}

/* Two roc-ns over one registry, one killed with kill -9: the other keeps
 * answering everything; a replacement needs no state of its own. */
static void test_ns_killed_other_answers(void **state)
{
    (void)state;
    char url[600];
    store_url(url, sizeof url, "nskill");
    nsproc a, b;
    ns_start(&a, url);
    ns_start(&b, url);
    roc_ns *na = ns_client(&a), *nb = ns_client(&b);
    roc_error err = ROC_ERROR_INIT;
    for (int i = 0; i < 50; i++) {
        char name[32], uri[64];
        snprintf(name, sizeof name, "nk.%02d", i);
        snprintf(uri, sizeof uri, "ROC:o%d@tcp://127.0.0.1:%d", i, 3000 + i);
        assert_ok(roc_ns_register(na, name, uri, NULL, 0, 0, &err), &err);
    }
    count_wait cw = {nb, 50};
    assert_true(tu_wait_for(count_is, &cw, 5000));
    ns_kill(&a);
    roc_ns_close(na);
    for (int i = 0; i < 50; i++) {
        char name[32], *uri = NULL;
        snprintf(name, sizeof name, "nk.%02d", i);
        assert_ok(roc_ns_lookup(nb, name, 0, &uri, &err), &err);
        free(uri);
    }
    assert_ok(roc_ns_register(nb, "nk.after", "ROC:x@tcp://127.0.0.1:1", NULL,
                              0, 0, &err),
              &err);
    nsproc c;
    ns_start(&c, url);
    roc_ns *nc = ns_client(&c);
    uint64_t n = 0;
    assert_ok(roc_ns_count(nc, &n, &err), &err);
    assert_int_equal(n, 51);
    /* and after every roc-ns is restarted, nothing is lost */
    roc_ns_close(nb);
    roc_ns_close(nc);
    ns_stop(&b);
    ns_kill(&c);
    ns_start(&a, url);
    na = ns_client(&a);
    assert_ok(roc_ns_count(na, &n, &err), &err);
    assert_int_equal(n, 51);
    roc_ns_close(na);
    ns_stop(&a);
    roc_error_clear(&err);
}

/* A "daemon" (this program run with --hold-lease) registers a name with a
 * TTL of 2 s through one roc-ns and keeps it alive on a timer; killed with
 * kill -9, its name disappears from another roc-ns within TTL + margin. */
static void test_lease_holder_killed(void **state)
{
    (void)state;
    char url[600];
    store_url(url, sizeof url, "lease");
    nsproc a, b;
    ns_start(&a, url);
    ns_start(&b, url);
    char *argv[] = {self_bin, "--hold-lease", a.url, "dd.svc", "2", NULL};
    int out = -1;
    pid_t holder = tu_spawn(argv, &out);
    char line[64];
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "registered");
    roc_ns *nb = ns_client(&b);
    tu_name_wait seen = {nb, "dd.svc", true};
    assert_true(tu_wait_for(tu_name_state, &seen, 5000));
    /* kept alive well past its TTL */
    tu_name_wait gone = {nb, "dd.svc", false};
    assert_false(tu_wait_for(tu_name_state, &gone, 3000));
    tu_kill9(holder);
    close(out);
    uint64_t t0 = tu_now_ms();
    assert_true(tu_wait_for(tu_name_state, &gone, 2 * 2000 + 3000));
    print_message("    lease holder killed: its name (TTL 2 s) gone after "
                  "%llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    roc_ns_close(nb);
    ns_stop(&a);
    ns_stop(&b);
}

/* The child side of test_lease_holder_killed. */
static int hold_lease(const char *url, const char *name, unsigned ttl)
{
    char uri[600];
    snprintf(uri, sizeof uri, "ROC:roc.ns@%s", url);
    roc_naming_NameServer *p = NULL;
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    uint64_t lease = 0;
    roc_naming_stringList none = {NULL, 0};
    if (roc_naming_NameServer_open(&p, uri, &err) != 0 ||
        roc_naming_NameServer_register_lease(p, name, "ROC:svc@tcp://h:1", none,
                                             0, ttl, 0, &lease, a, &err) != 0) {
        fprintf(stderr, "hold-lease: %s\n", tu_errtext(&err));
        return 1;
    }
    printf("registered\n");
    fflush(stdout);
    for (;;) {
        /* a timer, as a daemon keeps its registrations: every TTL/3 */
        struct timespec ts = {0, (long)ttl * 1000000000L / 3};
        if (ttl >= 3)
            ts = (struct timespec){(time_t)ttl / 3, 0};
        nanosleep(&ts, NULL);
        uint32_t left = 0;
        roc_arena_reset(a);
        if (roc_naming_NameServer_keepalive(p, lease, &left, a, &err) != 0)
            fprintf(stderr, "hold-lease: keepalive: %s\n", tu_errtext(&err));
    }
}

/* ------------------------------------------------------------ latency */

/* Median register and lookup latency through a roc-ns on store. */
static void measure(const char *store, const char *label)
{
    nsproc s;
    ns_start(&s, store);
    roc_ns *ns = ns_client(&s);
    roc_error err = ROC_ERROR_INIT;
    enum { NREG = 200, NLOOK = 2000 };
    static uint64_t reg[NREG], look[NLOOK];
    for (int i = 0; i < NREG; i++) {
        char name[32];
        snprintf(name, sizeof name, "bench.%04d", i);
        uint64_t t = now_us();
        assert_ok(roc_ns_register(ns, name, "ROC:b@tcp://127.0.0.1:9", NULL, 0,
                                  0, &err),
                  &err);
        reg[i] = now_us() - t;
    }
    for (int i = 0; i < NLOOK; i++) {
        char name[32], *uri = NULL;
        snprintf(name, sizeof name, "bench.%04d", i % NREG);
        uint64_t t = now_us();
        assert_ok(roc_ns_lookup(ns, name, 0, &uri, &err), &err);
        look[i] = now_us() - t;
        free(uri);
    }
    qsort(reg, NREG, sizeof reg[0], cmp_u64);
    qsort(look, NLOOK, sizeof look[0], cmp_u64);
    print_message("    %-7s register p50 %6llu us p99 %6llu us | lookup p50 "
                  "%4llu us p99 %5llu us\n",
                  label, (unsigned long long)reg[NREG / 2],
                  (unsigned long long)reg[NREG * 99 / 100],
                  (unsigned long long)look[NLOOK / 2],
                  (unsigned long long)look[NLOOK * 99 / 100]);
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_latency_per_backend(void **state)
{
    (void)state;
    char url[600], db[700];
    char *dir = tu_mkdtemp();
    measure("memory", "memory");
    snprintf(db, sizeof db, "sqlite:%s/bench.db", dir);
    measure(db, "sqlite");
    store_url(url, sizeof url, "bench");
    measure(url, "etcd");
    tu_rmtree(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 5 && strcmp(argv[1], "--hold-lease") == 0)
        return hold_lease(argv[2], argv[3], (unsigned)atoi(argv[4]));
    if (!etcdfx_bin()) {
        printf("SKIP: etcd is not installed (apt-get install etcd-server; "
               "scripts/deps.sh does)\n");
        return 77;
    }
    tu_bin("tests/test_ns_etcd", self_bin, sizeof self_bin);
    uint64_t t0 = tu_now_ms();
    if (etcdfx_start(&cluster, 3, 20000) != 0) {
        etcdfx_stop(&cluster);
        fprintf(stderr, "the etcd cluster did not start\n");
        return 1;
    }
    printf("[  NOTE    ] 3-member etcd cluster healthy after %llu ms\n",
           (unsigned long long)(tu_now_ms() - t0));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_registries_share_one_store),
        cmocka_unit_test(test_leader_killed_during_registrations),
        cmocka_unit_test(test_ns_killed_other_answers),
        cmocka_unit_test(test_lease_holder_killed),
        cmocka_unit_test(test_latency_per_backend),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    etcdfx_stop(&cluster);
    return rc;
}
