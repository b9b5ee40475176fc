/* libroc's lease client and name server fail-over (roc/naming.h), with real
 * processes:
 * - roc_ns_register_lease / keepalive / revoke against a roc-ns;
 * - roc_ns_keeper: a "daemon" (this program run with --keep) holds a name
 *   with a TTL of 2 s; killed with kill -9, its name goes within TTL +
 *   margin; a clean stop removes its names at once; a lease revoked behind
 *   its back is taken again;
 * - a list of name servers (url, ROC_NS): a dead first one is skipped;
 *   over a 3-member etcd cluster (tests/support/etcdfx) two roc-ns share
 *   one registry, the first is killed with kill -9, and roc_ns_lookup,
 *   ROCNAME: resolution and a keeper's renewals go on through the second.
 *   That part is skipped (with a message) when etcd is not installed.
 * - watches (roc_ns_watch_*): every kind of change told in order, a killed
 *   daemon's lease end told, nothing after stop, bad requests refused; a
 *   watch over two roc-ns on etcd moves to the second when the first is
 *   killed and its view is whole again (names gone and come meanwhile),
 *   and is told when a killed daemon's etcd lease ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <roc/roc.h>

#include "etcdfx.h"
#include "roci.h"
#include "testutil.h"

static char self_bin[1024];
static etcdfx cluster;
static bool have_etcd;

/* ------------------------------------------------------------ processes */

typedef tu_ns nsproc;

/* Starts roc-ns with store (NULL: memory) and up to two more arguments. */
static void ns_start_x(nsproc *s, const char *store, const char *x1,
                       const char *x2)
{
    const char *x[] = {"--store", store ? store : "memory", x1, x2, NULL};
    assert_int_equal(tu_ns_start(s, NULL, x), 0);
}

static void ns_start(nsproc *s, const char *store)
{
    ns_start_x(s, store, NULL, NULL);
}

static void ns_kill(nsproc *s)
{
    tu_ns_kill(s);
}

static void ns_stop(nsproc *s)
{
    assert_int_equal(tu_ns_stop(s), 0);
}


static int lookup_rc(roc_ns *ns, const char *name)
{
    tu_name_wait w = {ns, name, true};
    return tu_name_state(&w) ? 0 : ROC_ENOTFOUND;
}

/* Starts this program as a daemon holding name under a keeper with a TTL
 * of ttl s, through the name server(s) nsurl; returns when it registered. */
static pid_t holder_start(const char *nsurl, const char *name, int *out)
{
    char *argv[] = {self_bin, "--keep", (char *)nsurl, (char *)name, "2",
                    NULL};
    pid_t pid = tu_spawn(argv, out);
    assert_true(pid > 0);
    char line[64];
    assert_int_equal(tu_read_line(*out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "registered");
    return pid;
}

/* The daemon side: a keeper, then nothing until killed. */
static int keep(const char *nsurl, const char *name, unsigned ttl)
{
    roc_ns *ns = NULL;
    roc_ns_keeper *k = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (roc_ns_open(&ns, nsurl, &err) != 0 ||
        roc_ns_keeper_start(ns, name, "ROC:svc@tcp://127.0.0.1:1", 0, ttl, &k,
                            &err) != 0) {
        fprintf(stderr, "--keep: %s\n", tu_errtext(&err));
        return 1;
    }
    roc_ns_close(ns);
    printf("registered\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* ------------------------------------------------------------ leases */

static void test_lease_calls(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    uint64_t lease = 0;
    const char *tags[] = {"t1"};
    assert_ok(roc_ns_register_lease(ns, "l.one", "ROC:a@tcp://h:1", tags, 1, 0,
                                    30, &lease, &err),
              &err);
    assert_true(lease != 0);
    uint64_t joined = lease;
    assert_ok(roc_ns_register_lease(ns, "l.two", "ROC:b@tcp://h:1", NULL, 0, 0,
                                    0, &joined, &err),
              &err);
    assert_true(joined == lease);
    unsigned ttl = 0;
    assert_ok(roc_ns_keepalive(ns, lease, &ttl, &err), &err);
    assert_int_equal(ttl, 30);
    assert_int_equal(lookup_rc(ns, "l.one"), 0);
    assert_ok(roc_ns_revoke(ns, lease, &err), &err);
    assert_int_equal(lookup_rc(ns, "l.one"), ROC_ENOTFOUND);
    assert_int_equal(lookup_rc(ns, "l.two"), ROC_ENOTFOUND);
    assert_int_equal(roc_ns_keepalive(ns, lease, NULL, &err), ROC_ENOTFOUND);
    assert_ok(roc_ns_revoke(ns, lease, &err), &err); /* again: fine */
    uint64_t gone = lease;
    assert_int_equal(roc_ns_register_lease(ns, "l.three", "ROC:c@tcp://h:1",
                                           NULL, 0, 0, 0, &gone, &err),
                     ROC_ENOTFOUND);
    assert_int_equal(roc_ns_register_lease(ns, "l.four", "ROC:c@tcp://h:1",
                                           NULL, 0, 0, 0, NULL, &err),
                     ROC_EINVAL);
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_keeper_holder_killed(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    int out = -1;
    pid_t holder = holder_start(s.url, "k.svc", &out);
    roc_ns *ns = tu_ns_client(s.url);
    assert_int_equal(lookup_rc(ns, "k.svc"), 0);
    /* kept alive well past its TTL (2 s) */
    tu_name_wait gone = {ns, "k.svc", false};
    assert_false(tu_wait_for(tu_name_state, &gone, 3500));
    tu_kill9(holder);
    close(out);
    uint64_t t0 = tu_now_ms();
    assert_true(tu_wait_for(tu_name_state, &gone, 2000 + 2000));
    print_message("    keeper killed: its name (TTL 2 s) gone after %llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    roc_ns_close(ns);
    ns_stop(&s);
}

static void test_keeper_clean_stop(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    roc_ns_keeper *k = NULL;
    assert_ok(roc_ns_keeper_start(ns, "c.one", "ROC:a@tcp://h:1", 0, 2, &k,
                                  &err),
              &err);
    const char *tags[] = {"svc", "v2"};
    assert_ok(roc_ns_keeper_add(k, "c.two", "ROC:b@tcp://h:1", tags, 2, 0,
                                &err),
              &err);
    uint64_t lease = roc_ns_keeper_lease(k);
    assert_true(lease != 0);
    /* a name that is taken: the keeper's add fails, the rest stays */
    assert_ok(roc_ns_register(ns, "c.taken", "ROC:x@tcp://h:1", NULL, 0, 0,
                              &err),
              &err);
    assert_int_equal(roc_ns_keeper_add(k, "c.taken", "ROC:c@tcp://h:1", NULL,
                                       0, 0, &err),
                     ROC_EEXIST);
    /* renewed past its TTL */
    tu_name_wait gone = {ns, "c.two", false};
    assert_false(tu_wait_for(tu_name_state, &gone, 2500));
    assert_int_equal(lookup_rc(ns, "c.one"), 0);
    /* one given up: gone at once, the other kept */
    assert_ok(roc_ns_keeper_add(k, "c.three", "ROC:d@tcp://h:1", NULL, 0, 0,
                                &err),
              &err);
    size_t n = 0;
    assert_ok(roc_ns_keeper_remove(k, NULL, "ROC:d@tcp://h:1", &n, &err),
              &err);
    assert_int_equal(n, 1);
    assert_int_equal(lookup_rc(ns, "c.three"), ROC_ENOTFOUND);
    assert_ok(roc_ns_keeper_remove(k, "c.nothing", NULL, &n, &err), &err);
    assert_int_equal(n, 0);
    gone.name = "c.one";
    assert_false(tu_wait_for(tu_name_state, &gone, 2500));
    roc_ns_keeper_stop(k);
    /* at once: no wait */
    assert_int_equal(lookup_rc(ns, "c.one"), ROC_ENOTFOUND);
    assert_int_equal(lookup_rc(ns, "c.two"), ROC_ENOTFOUND);
    assert_int_equal(lookup_rc(ns, "c.taken"), 0);
    /* a keeper over a name that is taken does not start */
    assert_int_equal(roc_ns_keeper_start(ns, "c.taken", "ROC:c@tcp://h:1", 0,
                                         2, &k, &err),
                     ROC_EEXIST);
    assert_null(k);
    assert_int_equal(roc_ns_keeper_start(ns, "c.x", "ROC:c@tcp://h:1", 0, 0,
                                         &k, &err),
                     ROC_EINVAL);
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* The lease revoked behind the keeper's back (as when the name servers
 * were out of reach longer than the TTL): it registers again. */
static void test_keeper_registers_again(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    roc_ns_keeper *k = NULL;
    assert_ok(roc_ns_keeper_start(ns, "r.one", "ROC:a@tcp://h:1", 0, 1, &k,
                                  &err),
              &err);
    uint64_t lease = roc_ns_keeper_lease(k);
    assert_ok(roc_ns_revoke(ns, lease, &err), &err);
    assert_int_equal(lookup_rc(ns, "r.one"), ROC_ENOTFOUND);
    tu_name_wait back = {ns, "r.one", true};
    assert_true(tu_wait_for(tu_name_state, &back, 3000));
    assert_true(roc_ns_keeper_lease(k) != lease);
    roc_ns_keeper_stop(k);
    assert_int_equal(lookup_rc(ns, "r.one"), ROC_ENOTFOUND);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* ------------------------------------------------------------ fail-over */

static void test_list_skips_dead_server(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    char dead[64], dead2[64], list[700];
    tu_dead_url(dead, sizeof dead);
    tu_dead_url(dead2, sizeof dead2);
    snprintf(list, sizeof list, "%s, ROC:roc.ns@%s", dead, s.url);
    roc_ns *ns = tu_ns_client(list);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_register(ns, "f.one", "ROC:a@tcp://127.0.0.1:7", NULL, 0,
                              0, &err),
              &err);
    assert_non_null(strstr(roc_ns_uri(ns), s.url));
    roc_ns_close(ns);
    /* a handle opened later on the same list begins with the one that
     * answered (a dead host would cost a timeout each time) */
    ns = tu_ns_client(list);
    assert_non_null(strstr(roc_ns_uri(ns), s.url));
    roc_ns_close(ns);
    /* ROC_NS with a list: lookups with a wait, and ROCNAME: resolution */
    setenv("ROC_NS", list, 1);
    ns = tu_ns_client(NULL);
    char *uri = NULL;
    assert_ok(roc_ns_lookup(ns, "f.one", 2000, &uri, &err), &err);
    assert_string_equal(uri, "ROC:a@tcp://127.0.0.1:7");
    free(uri);
    roc_ns_close(ns);
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_uri u;
    assert_ok(roc_uri_parse(a, "ROCNAME:f.one", &u, &err), &err);
    char **uris = NULL;
    size_t n = 0;
    assert_ok(roci_naming_resolve(&u, 5000, &uris, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(uris[0], "ROC:a@tcp://127.0.0.1:7");
    free(uris[0]);
    free(uris);
    unsetenv("ROC_NS");
    /* and a list in the URI itself */
    char u2[800];
    snprintf(u2, sizeof u2, "ROCNAME:f.one@%s,%s", dead, s.url);
    assert_ok(roc_uri_parse(a, u2, &u, &err), &err);
    assert_ok(roci_naming_resolve(&u, 5000, &uris, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(uris[0], "ROC:a@tcp://127.0.0.1:7");
    free(uris[0]);
    free(uris);
    roc_proxy *pp = NULL;
    assert_ok(roc_proxy_open(&pp, u2, &err), &err);
    roc_proxy_close(pp);
    /* none answers: the error says so */
    snprintf(list, sizeof list, "%s,%s", dead, dead2);
    ns = tu_ns_client(list);
    int rc = roc_ns_ping(ns, &err);
    assert_true(rc == ROC_ECONNREFUSED || rc == ROC_EUNREACHABLE);
    assert_non_null(strstr(err.message, "none of the 2 name servers"));
    roc_ns_close(ns);
    /* a bad entry in a list */
    ns = NULL;
    snprintf(list, sizeof list, "%s,,%s", dead, s.url);
    assert_int_equal(roc_ns_open(&ns, list, &err), ROC_EINVAL);
    assert_null(ns);
    roc_error_clear(&err);
    roc_arena_free(a);
    ns_stop(&s);
}

/* Starts two roc-ns over one registry in the test cluster (under a key
 * prefix of their own) and gives "url1,url2" in list; false (the test
 * skips) when etcd is not installed. */
static bool two_ns_over_etcd(const char *tag, nsproc *a, nsproc *b,
                             char *list, size_t len)
{
    if (!have_etcd) {
        print_message("    SKIP: etcd is not installed (apt-get install "
                      "etcd-server)\n");
        return false;
    }
    char store[600];
    snprintf(store, sizeof store, "etcd://%s/%s-%d?timeout_ms=500",
             cluster.endpoints, tag, (int)getpid());
    ns_start(a, store);
    ns_start(b, store);
    snprintf(list, len, "%s,%s", a->url, b->url);
    return true;
}

/* Two roc-ns over one etcd registry; the first killed with kill -9: the
 * client, ROCNAME: resolution and a keeper's renewals go on through the
 * second. */
static void test_failover_two_ns_over_etcd(void **state)
{
    (void)state;
    nsproc a, b;
    char list[1100];
    if (!two_ns_over_etcd("fo", &a, &b, list, sizeof list))
        return;
    roc_ns *ns = tu_ns_client(list);
    roc_error err = ROC_ERROR_INIT;
    for (int i = 0; i < 20; i++) {
        char name[32], uri[64];
        snprintf(name, sizeof name, "fo.%02d", i);
        snprintf(uri, sizeof uri, "ROC:o%d@tcp://127.0.0.1:%d", i, 3000 + i);
        assert_ok(roc_ns_register(ns, name, uri, NULL, 0, 0, &err), &err);
    }
    assert_non_null(strstr(roc_ns_uri(ns), a.url));
    int out = -1;
    pid_t holder = holder_start(list, "fo.daemon", &out);
    /* the second one has everything (its watch delivers within ~1 ms) */
    roc_ns *nb = tu_ns_client(b.url);
    tu_name_wait seen = {nb, "fo.19", true};
    assert_true(tu_wait_for(tu_name_state, &seen, 5000));
    roc_ns_close(nb);

    ns_kill(&a);
    uint64_t t0 = tu_now_ms();
    char *uri = NULL;
    assert_ok(roc_ns_lookup(ns, "fo.07", 0, &uri, &err), &err);
    uint64_t took = tu_now_ms() - t0;
    assert_string_equal(uri, "ROC:o7@tcp://127.0.0.1:3007");
    free(uri);
    assert_non_null(strstr(roc_ns_uri(ns), b.url));
    print_message("    first roc-ns killed: the next lookup answered by the "
                  "second after %llu ms\n",
                  (unsigned long long)took);
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "fo.%02d", i);
        assert_int_equal(lookup_rc(ns, name), 0);
    }
    assert_ok(roc_ns_register(ns, "fo.after", "ROC:x@tcp://127.0.0.1:1", NULL,
                              0, 0, &err),
              &err);
    /* ROCNAME: resolution with ROC_NS listing the dead one first */
    setenv("ROC_NS", list, 1);
    roc_arena *ar = NULL;
    assert_int_equal(roc_arena_new(&ar), 0);
    roc_uri u;
    assert_ok(roc_uri_parse(ar, "ROCNAME:fo.03", &u, &err), &err);
    char **uris = NULL;
    size_t n = 0;
    assert_ok(roci_naming_resolve(&u, 5000, &uris, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(uris[0], "ROC:o3@tcp://127.0.0.1:3003");
    free(uris[0]);
    free(uris);
    roc_arena_free(ar);
    unsetenv("ROC_NS");
    /* the keeper's lease lives in etcd: renewed through the second roc-ns,
     * the daemon's name outlives several TTLs (2 s) */
    tu_name_wait gone = {ns, "fo.daemon", false};
    assert_false(tu_wait_for(tu_name_state, &gone, 5000));
    tu_kill9(holder);
    close(out);
    assert_true(tu_wait_for(tu_name_state, &gone, 2 * 2000 + 3000));
    roc_error_clear(&err);
    roc_ns_close(ns);
    ns_stop(&b);
}

/* ------------------------------------------------------------ watches */

/* What a watch told, one line per event ("put NAME URI... [| TAG...]",
 * "removed NAME", "synced", "lost"), appended under a mutex. */
typedef struct wlog {
    pthread_mutex_t mu;
    char buf[65536];
    size_t len;
    int synced, lost;
} wlog;

static void wlog_fn(void *arg, roc_ns_event ev, const roc_ns_entry *e)
{
    wlog *l = arg;
    char line[2048];
    int n = 0;
    switch (ev) {
    case ROC_NS_PUT:
        n = snprintf(line, sizeof line, "put %s", e->name);
        for (size_t i = 0; i < e->n_uris && n < (int)sizeof line; i++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %s",
                          e->uris[i]);
        for (size_t i = 0; i < e->n_meta && n < (int)sizeof line; i++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%s",
                          i ? " " : " | ", e->meta[i]);
        break;
    case ROC_NS_REMOVED:
        n = snprintf(line, sizeof line, "removed %s", e->name);
        break;
    case ROC_NS_SYNCED:
        n = snprintf(line, sizeof line, "synced");
        break;
    case ROC_NS_LOST:
        n = snprintf(line, sizeof line, "lost");
        break;
    }
    pthread_mutex_lock(&l->mu);
    l->synced += ev == ROC_NS_SYNCED;
    l->lost += ev == ROC_NS_LOST;
    if (n > 0 && l->len + (size_t)n + 2 < sizeof l->buf) {
        memcpy(l->buf + l->len, line, (size_t)n);
        l->len += (size_t)n;
        l->buf[l->len++] = '\n';
        l->buf[l->len] = 0;
    }
    pthread_mutex_unlock(&l->mu);
}

static void wlog_init(wlog *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
}

/* Position just after the line "what" (a whole line) told at or after
 * from, or 0 when not told (yet). */
static size_t wlog_find(wlog *l, const char *what, size_t from)
{
    char want[600];
    snprintf(want, sizeof want, "%s\n", what);
    pthread_mutex_lock(&l->mu);
    size_t at = 0;
    for (const char *p = l->buf + from; (p = strstr(p, want)) != NULL; p++)
        if (p == l->buf || p[-1] == '\n') {
            at = (size_t)(p - l->buf) + strlen(want);
            break;
        }
    pthread_mutex_unlock(&l->mu);
    return at;
}

typedef struct wlog_wait {
    wlog *l;
    const char *what;
    size_t from;
} wlog_wait;

static bool wlog_told(void *arg)
{
    wlog_wait *w = arg;
    return wlog_find(w->l, w->what, w->from) != 0;
}

/* Waits (up to ms) for the line what after position *from; moves *from
 * past it. */
static void expect_told(wlog *l, const char *what, size_t *from, int ms)
{
    wlog_wait w = {l, what, *from};
    if (!tu_wait_for(wlog_told, &w, ms)) {
        pthread_mutex_lock(&l->mu);
        fail_msg("the watch did not tell \"%s\"; it told:\n%s", what,
                 l->buf + *from);
    }
    *from = wlog_find(l, what, *from);
}

static size_t wlog_len(wlog *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->len;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* Every kind of change, by this client and by a daemon whose lease ends
 * (killed with kill -9), is told to a watcher in order; names outside the
 * prefix are not; after roc_ns_watch_stop nothing is. */
static void test_watch_tells_changes(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    const char *tags[] = {"blue"};
    assert_ok(roc_ns_register(ns, "w.a", "ROC:a@tcp://127.0.0.1:1", tags, 1,
                              0, &err),
              &err);
    assert_ok(roc_ns_register(ns, "x.out", "ROC:x@tcp://127.0.0.1:1", NULL, 0,
                              0, &err),
              &err);
    wlog l;
    wlog_init(&l);
    roc_ns_watch *w = NULL;
    assert_ok(roc_ns_watch_start(ns, "w.", wlog_fn, &l, &w, &err), &err);
    /* what is there now, told before it returned */
    assert_string_equal(l.buf, "put w.a ROC:a@tcp://127.0.0.1:1 | blue\n"
                               "synced\n");
    size_t at = wlog_len(&l);
    assert_ok(roc_ns_register(ns, "w.b", "ROC:b@tcp://127.0.0.1:2", NULL, 0,
                              0, &err),
              &err);
    assert_ok(roc_ns_register(ns, "x.other", "ROC:x@tcp://127.0.0.1:1", NULL,
                              0, 0, &err),
              &err);
    assert_ok(roc_ns_register(ns, "w.b", "ROC:b2@tcp://127.0.0.1:3", NULL, 0,
                              ROC_NS_ADD_REPLICA, &err),
              &err);
    const char *tags2[] = {"green", "v2"};
    assert_ok(roc_ns_set_meta(ns, "w.a", tags2, 2, &err), &err);
    assert_ok(roc_ns_remove_uri(ns, "w.b", "ROC:b@tcp://127.0.0.1:2", NULL,
                                &err),
              &err);
    assert_ok(roc_ns_remove(ns, "w.a", ROC_NS_EXACT, NULL, &err), &err);
    expect_told(&l, "put w.b ROC:b@tcp://127.0.0.1:2", &at, 3000);
    expect_told(&l, "put w.b ROC:b@tcp://127.0.0.1:2 ROC:b2@tcp://127.0.0.1:3",
                &at, 3000);
    expect_told(&l, "put w.a ROC:a@tcp://127.0.0.1:1 | green v2", &at, 3000);
    expect_told(&l, "put w.b ROC:b2@tcp://127.0.0.1:3", &at, 3000);
    expect_told(&l, "removed w.a", &at, 3000);
    assert_null(strstr(l.buf, "x."));
    /* the watch's view */
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    roc_ns_entry *es = NULL;
    size_t n = 0;
    assert_ok(roc_ns_watch_entries(w, a, &es, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].name, "w.b");
    assert_int_equal(es[0].n_uris, 1);
    assert_string_equal(es[0].uris[0], "ROC:b2@tcp://127.0.0.1:3");
    /* a daemon holding a name under a lease (TTL 2 s) dies: the watcher is
     * told of the name, then of its removal within TTL + margin */
    int out = -1;
    pid_t holder = holder_start(s.url, "w.daemon", &out);
    expect_told(&l, "put w.daemon ROC:svc@tcp://127.0.0.1:1", &at, 3000);
    tu_kill9(holder);
    close(out);
    uint64_t t0 = tu_now_ms();
    expect_told(&l, "removed w.daemon", &at, 2000 + 2500);
    print_message("    daemon killed: its name's removal (TTL 2 s) told to "
                  "the watcher after %llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    assert_int_equal(l.lost, 0);
    /* stopped: nothing more is told */
    roc_ns_watch_stop(w);
    size_t end = wlog_len(&l);
    assert_ok(roc_ns_register(ns, "w.late", "ROC:l@tcp://127.0.0.1:1", NULL, 0,
                              0, &err),
              &err);
    usleep(300 * 1000);
    assert_int_equal(wlog_len(&l), end);
    roc_arena_free(a);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* Bad watch requests get clear errors and leave roc-ns serving. */
static void test_watch_bad_input(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    wlog l;
    wlog_init(&l);
    roc_ns_watch *w = NULL;
    assert_int_equal(roc_ns_watch_start(ns, "bad prefix!", wlog_fn, &l, &w,
                                        &err),
                     ROC_EINVAL);
    assert_null(w);
    assert_int_equal(roc_ns_watch_start(ns, "", NULL, &l, &w, &err),
                     ROC_EINVAL);
    roc_error_clear(&err);
    /* by hand: a watcher that is not a reference, a nil one, a bad prefix */
    char uri[600];
    snprintf(uri, sizeof uri, "ROC:roc.ns@%s", s.url);
    roc_proxy *p = NULL;
    assert_ok(roc_proxy_open(&p, uri, &err), &err);
    roc_arena *a = NULL;
    assert_int_equal(roc_arena_new(&a), 0);
    static const char *const bad[] = {
        "[\"w.\", \"ROC:x\"]", "[\"w.\", null]", "[\"w w\", null]",
        "[\"w.\"]", "[1, 2]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        roc_value *args = NULL, *res = NULL;
        assert_ok(roc_value_from_json(a, bad[i], &args, &err), &err);
        int rc = roc_proxy_call(p, "watch", args, &res, a, &err);
        if (rc != ROC_EBADARGS)
            fail_msg("watch %s: %s", bad[i], tu_errtext(&err));
        roc_error_clear(&err);
    }
    assert_ok(roc_ns_ping(ns, &err), &err);
    /* unknown watches: not held, unwatch is harmless */
    roc_value *args = NULL, *res = NULL;
    assert_ok(roc_value_from_json(a, "[12345]", &args, &err), &err);
    assert_ok(roc_proxy_call(p, "watching", args, &res, a, &err), &err);
    assert_int_equal(res->type, ROC_BOOL);
    assert_false(res->u.b);
    assert_ok(roc_proxy_call(p, "unwatch", args, &res, a, &err), &err);
    roc_proxy_close(p);
    roc_arena_free(a);
    roc_ns_close(ns);
    ns_stop(&s);
}

static void ignore_change(void *arg, roc_ns_event ev, const roc_ns_entry *e)
{
    (void)arg, (void)ev, (void)e;
}

/* The client side of the next test: n watches, then nothing until killed. */
static int hold_watches(const char *nsurl, int n)
{
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    roc_ns_watch *w[8];
    if (roc_ns_open(&ns, nsurl, &err) != 0)
        return 1;
    for (int i = 0; i < n && i < 8; i++)
        if (roc_ns_watch_start(ns, "h.", ignore_change, NULL, &w[i], &err)) {
            fprintf(stderr, "--watch: %s\n", tu_errtext(&err));
            return 1;
        }
    printf("watching\n");
    fflush(stdout);
    for (;;)
        pause();
}

typedef struct watch_try {
    roc_ns *ns;
    roc_ns_watch *w;
} watch_try;

static bool watch_taken(void *arg)
{
    watch_try *t = arg;
    return roc_ns_watch_start(t->ns, "h.", ignore_change, NULL, &t->w,
                              NULL) == 0;
}

/* roc-ns --max-watches 2: a client holding both makes a third refused with
 * a clear error (roc-ns serving on); once that client is killed, its
 * watches are dropped and a new one is taken. */
static void test_watch_limit_and_dead_client(void **state)
{
    (void)state;
    nsproc s;
    ns_start_x(&s, NULL, "--max-watches", "2");
    char *argv[] = {self_bin, "--watch", s.url, "2", NULL};
    int out = -1;
    pid_t holder = tu_spawn(argv, &out);
    assert_true(holder > 0);
    char line[64];
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "watching");
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    watch_try t = {ns, NULL};
    int rc = roc_ns_watch_start(ns, "h.", ignore_change, NULL, &t.w, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(err.message);
    assert_non_null(strstr(err.message, "holds 2 watches already"));
    roc_error_clear(&err);
    assert_ok(roc_ns_ping(ns, &err), &err);
    tu_kill9(holder);
    close(out);
    uint64_t t0 = tu_now_ms();
    assert_true(tu_wait_for(watch_taken, &t, 3000));
    print_message("    watcher killed: its watches freed after %llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    roc_ns_watch_stop(t.w);
    roc_ns_close(ns);
    ns_stop(&s);
}

typedef struct count_arg {
    wlog *l;
    int want;
} count_arg;

static bool puts_told(void *arg)
{
    count_arg *c = arg;
    pthread_mutex_lock(&c->l->mu);
    int n = 0;
    for (const char *p = c->l->buf; (p = strstr(p, "put h.")) != NULL; p++)
        n++;
    pthread_mutex_unlock(&c->l->mu);
    return n >= c->want;
}

static void count_fn(void *arg, roc_ns_event ev, const roc_ns_entry *e)
{
    wlog *l = arg;
    if (ev == ROC_NS_PUT && strncmp(e->name, "h.", 2) == 0) {
        pthread_mutex_lock(&l->mu);
        if (l->len + 8 < sizeof l->buf) {
            memcpy(l->buf + l->len, "put h.\n", 7);
            l->len += 7;
            l->buf[l->len] = 0;
        }
        pthread_mutex_unlock(&l->mu);
    }
}

/* A watcher whose process is stopped (SIGSTOP: its connection open, not
 * read) does not hold the others up: the changes for it queue up to a
 * bound, then it is dropped; once it runs again, it watches again. */
static void test_watch_stopped_watcher_not_waited_for(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    char *argv[] = {self_bin, "--watch", s.url, "1", NULL};
    int out = -1;
    pid_t stuck = tu_spawn(argv, &out);
    assert_true(stuck > 0);
    char line[64];
    assert_int_equal(tu_read_line(out, line, sizeof line, 10000), 0);
    assert_string_equal(line, "watching");
    assert_int_equal(kill(stuck, SIGSTOP), 0);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    wlog l;
    wlog_init(&l);
    roc_ns_watch *w = NULL;
    assert_ok(roc_ns_watch_start(ns, "h.", count_fn, &l, &w, &err), &err);
    /* ~12 MiB of changes: more than the stopped one's socket and queue */
    static char tag[32][121];
    const char *tags[32];
    for (int i = 0; i < 32; i++) {
        memset(tag[i], 'a' + i % 26, 120);
        tag[i][0] = 't', tag[i][1] = (char)('a' + i / 26);
        tags[i] = tag[i];
    }
    enum { N = 3000 };
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "h.%04d", i);
        assert_ok(roc_ns_register(ns, name, "ROC:x@tcp://127.0.0.1:1", tags,
                                  32, 0, &err),
                  &err);
    }
    count_arg c = {&l, N};
    assert_true(tu_wait_for(puts_told, &c, 20000));
    print_message("    one watcher stopped: another told of %d changes "
                  "(~12 MiB) in %llu ms\n",
                  N, (unsigned long long)(tu_now_ms() - t0));
    roc_ns_watch_stop(w);
    kill(stuck, SIGCONT);
    tu_kill9(stuck);
    close(out);
    roc_ns_close(ns);
    ns_stop(&s);
}

typedef struct churn_arg {
    const char *url;
    atomic_bool *stop;
    int rounds;
    int failures;
} churn_arg;

static atomic_int churn_foreign; /* names told outside the prefix */

static void churn_fn(void *arg, roc_ns_event ev, const roc_ns_entry *e)
{
    (void)arg, (void)ev;
    if (e && strncmp(e->name, "c.", 2) != 0)
        atomic_fetch_add(&churn_foreign, 1); /* (not fail_msg: any thread) */
}

/* Watches started and stopped over and over by several threads while names
 * come and go (under ASan this is the race test of the watch code). */
static void *churn_main(void *arg)
{
    churn_arg *c = arg;
    roc_ns *ns = NULL;
    if (roc_ns_open(&ns, c->url, NULL) != 0) {
        c->failures++;
        return NULL;
    }
    while (!atomic_load(c->stop)) {
        roc_ns_watch *w = NULL;
        if (roc_ns_watch_start(ns, "c.", churn_fn, NULL, &w, NULL) != 0) {
            c->failures++;
            continue;
        }
        usleep((useconds_t)(rand() % 20000));
        roc_ns_watch_stop(w);
        c->rounds++;
    }
    roc_ns_close(ns);
    return NULL;
}

typedef struct view_match {
    roc_ns_watch *w;
    roc_ns *ns;
} view_match;

/* The watch's view is what the name server lists now. */
static bool view_matches(void *arg)
{
    view_match *m = arg;
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return false;
    roc_ns_entry *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool same = roc_ns_watch_entries(m->w, a, &x, &nx, NULL) == 0 &&
                roc_ns_list(m->ns, "c.", ROC_NS_PREFIX, a, &y, &ny, NULL) == 0 &&
                nx == ny;
    for (size_t i = 0; same && i < nx; i++)
        same = strcmp(x[i].name, y[i].name) == 0 &&
               x[i].n_uris == y[i].n_uris &&
               strcmp(x[i].uris[x[i].n_uris - 1],
                      y[i].uris[y[i].n_uris - 1]) == 0;
    roc_arena_free(a);
    return same;
}

static void test_watch_churn(void **state)
{
    (void)state;
    nsproc s;
    ns_start(&s, NULL);
    roc_ns *ns = tu_ns_client(s.url);
    roc_error err = ROC_ERROR_INIT;
    roc_ns_watch *steady = NULL;
    assert_ok(roc_ns_watch_start(ns, "c.", churn_fn, NULL, &steady, &err),
              &err);
    atomic_bool stop;
    atomic_init(&stop, false);
    enum { T = 6 };
    churn_arg ca[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        ca[i] = (churn_arg){s.url, &stop, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, churn_main, &ca[i]), 0);
    }
    uint64_t end = tu_now_ms() + 2000;
    for (int i = 0; tu_now_ms() < end; i++) {
        char name[32], uri[64];
        snprintf(name, sizeof name, "c.%02d", i % 50);
        snprintf(uri, sizeof uri, "ROC:o%d@tcp://127.0.0.1:%d", i, 1000 + i % 7);
        if (i % 10 == 0)
            roc_ns_register(ns, "d.outside", uri, NULL, 0, ROC_NS_REPLACE,
                            NULL);
        if (i % 3 == 2)
            roc_ns_remove(ns, name, ROC_NS_EXACT, NULL, NULL);
        else
            roc_ns_register(ns, name, uri, NULL, 0,
                            i % 3 ? ROC_NS_ADD_REPLICA : ROC_NS_REPLACE, NULL);
    }
    atomic_store(&stop, true);
    int rounds = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ca[i].failures, 0);
        rounds += ca[i].rounds;
    }
    print_message("    %d watches started and stopped during 2 s of "
                  "changes\n",
                  rounds);
    assert_true(rounds > T);
    view_match m = {steady, ns};
    assert_true(tu_wait_for(view_matches, &m, 3000));
    assert_int_equal(atomic_load(&churn_foreign), 0);
    roc_ns_watch_stop(steady);
    roc_ns_close(ns);
    ns_stop(&s);
}

/* Two roc-ns over one etcd registry: a watch made through the first goes
 * on through the second when the first is killed; names registered while
 * it moved are told, and so are later changes. */
static void test_watch_fails_over_etcd(void **state)
{
    (void)state;
    nsproc a, b;
    char list[1100];
    if (!two_ns_over_etcd("wfo", &a, &b, list, sizeof list))
        return;
    roc_ns *ns = tu_ns_client(list);
    roc_ns *nb = tu_ns_client(b.url);
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_register(ns, "wf.one", "ROC:o@tcp://127.0.0.1:1", NULL,
                              0, 0, &err),
              &err);
    wlog l;
    wlog_init(&l);
    roc_ns_watch *w = NULL;
    assert_ok(roc_ns_watch_start(ns, "wf.", wlog_fn, &l, &w, &err), &err);
    size_t at = 0;
    expect_told(&l, "put wf.one ROC:o@tcp://127.0.0.1:1", &at, 1000);
    expect_told(&l, "synced", &at, 1000);
    /* a change made through the other roc-ns reaches the watch through
     * etcd and the first */
    assert_ok(roc_ns_register(nb, "wf.two", "ROC:t@tcp://127.0.0.1:2", NULL, 0,
                              0, &err),
              &err);
    expect_told(&l, "put wf.two ROC:t@tcp://127.0.0.1:2", &at, 3000);
    ns_kill(&a);
    uint64_t t0 = tu_now_ms();
    /* while the watch moves: one name goes, one comes */
    assert_ok(roc_ns_remove(nb, "wf.one", ROC_NS_EXACT, NULL, &err), &err);
    assert_ok(roc_ns_register(nb, "wf.three", "ROC:h@tcp://127.0.0.1:3", NULL,
                              0, 0, &err),
              &err);
    expect_told(&l, "lost", &at, 5000);
    expect_told(&l, "synced", &at, 5000);
    print_message("    first roc-ns killed: the watch was whole again "
                  "through the second after %llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    assert_non_null(wlog_find(&l, "removed wf.one", 0) ? "" : NULL);
    assert_non_null(wlog_find(&l, "put wf.three ROC:h@tcp://127.0.0.1:3", 0)
                        ? ""
                        : NULL);
    assert_ok(roc_ns_register(nb, "wf.four", "ROC:f@tcp://127.0.0.1:4", NULL,
                              0, 0, &err),
              &err);
    expect_told(&l, "put wf.four ROC:f@tcp://127.0.0.1:4", &at, 3000);
    /* a daemon holding a name under an etcd lease (TTL 2 s) dies: etcd
     * ends the lease, every roc-ns sees the deletion, the watcher is told */
    int out = -1;
    pid_t holder = holder_start(b.url, "wf.daemon", &out);
    expect_told(&l, "put wf.daemon ROC:svc@tcp://127.0.0.1:1", &at, 3000);
    tu_kill9(holder);
    close(out);
    t0 = tu_now_ms();
    expect_told(&l, "removed wf.daemon", &at, 2 * 2000 + 3000);
    print_message("    daemon killed: its etcd lease's end told to the "
                  "watcher after %llu ms\n",
                  (unsigned long long)(tu_now_ms() - t0));
    roc_ns_watch_stop(w);
    roc_ns_close(nb);
    roc_ns_close(ns);
    ns_stop(&b);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 5 && strcmp(argv[1], "--keep") == 0)
        return keep(argv[2], argv[3], (unsigned)atoi(argv[4]));
    if (argc == 4 && strcmp(argv[1], "--watch") == 0)
        return hold_watches(argv[2], atoi(argv[3]));
    tu_bin("tests/test_ns_lease", self_bin, sizeof self_bin);
    unsetenv("ROC_NS");
    have_etcd = etcdfx_bin() != NULL;
    if (have_etcd && etcdfx_start(&cluster, 3, 20000) != 0) {
        etcdfx_stop(&cluster);
        fprintf(stderr, "the etcd cluster did not start\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_calls),
        cmocka_unit_test(test_keeper_holder_killed),
        cmocka_unit_test(test_keeper_clean_stop),
        cmocka_unit_test(test_keeper_registers_again),
        cmocka_unit_test(test_list_skips_dead_server),
        cmocka_unit_test(test_failover_two_ns_over_etcd),
        cmocka_unit_test(test_watch_tells_changes),
        cmocka_unit_test(test_watch_bad_input),
        cmocka_unit_test(test_watch_limit_and_dead_client),
        cmocka_unit_test(test_watch_stopped_watcher_not_waited_for),
        cmocka_unit_test(test_watch_churn),
        cmocka_unit_test(test_watch_fails_over_etcd),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (have_etcd)
        etcdfx_stop(&cluster);
    return rc;
}
