/* The services examples run as real processes: examples/chat (an
 * rpyc-style service whose clients receive each other's messages through
 * callbacks over their own connections) and examples/stockquotes (events
 * published on topics, two subscribers filtering by prefix). Output is read
 * line by line with deadlines; every process is stopped by its pid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define LINE_MS 10000 /* deadline for an expected line */

static const char *g_transport = "tcp";

/* A child with its stdin and stdout (stderr merged in) on pipes. */
typedef struct child {
    pid_t pid;
    int in;  /* write end of its stdin, -1 once closed */
    int out; /* read end of its stdout + stderr */
    char name[32];
} child;

/* The children of the running test live here, so that a failing test
 * (cmocka longjmps out of it) still leaves no process behind: see
 * teardown. */
static child started[16];
static size_t nstarted;

static child *child_start(const char *name, char *const argv[])
{
    assert_true(nstarted < sizeof started / sizeof started[0]);
    child *c = &started[nstarted++];
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->pid = pid;
    c->in = in[1];
    c->out = out[0];
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static void child_write(child *c, const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(write(c->in, line, n), (ssize_t)n);
    assert_int_equal(write(c->in, "\n", 1), 1);
}

static void child_close_stdin(child *c)
{
    if (c->in >= 0)
        close(c->in);
    c->in = -1;
}

/* Reads lines until one equals want; fails at the deadline, showing what
 * was read instead. */
static void expect_line(child *c, const char *want)
{
    char line[512], seen[2048] = "";
    uint64_t end = tu_now_ms() + LINE_MS;
    for (;;) {
        uint64_t now = tu_now_ms();
        if (now >= end ||
            tu_read_line(c->out, line, sizeof line, (int)(end - now)) != 0)
            fail_msg("%s: no line \"%s\" within %d ms; read:\n%s", c->name,
                     want, LINE_MS, seen);
        if (strcmp(line, want) == 0)
            return;
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof seen - used, "  %s\n", line);
    }
}

/* Waits for the child to exit by itself; its exit status, or -1 when it is
 * still running at the deadline (it is then killed). */
static int child_wait_exit(child *c, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t)timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid)
            break;
        if (tu_now_ms() >= end) {
            tu_kill9(c->pid);
            c->pid = -1;
            return -1;
        }
        usleep(1000);
    }
    c->pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static void child_free(child *c)
{
    if (c->pid > 0)
        tu_kill9(c->pid);
    child_close_stdin(c);
    if (c->out >= 0)
        close(c->out);
    c->out = -1;
    c->pid = -1;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < nstarted; i++)
        child_free(&started[i]);
    nstarted = 0;
    return 0;
}

static char *bin(const char *rel)
{
    char buf[512];
    return strdup(tu_bin(rel, buf, sizeof buf));
}

/* ------------------------------------------------------------ chat */

static child *start_client(char *prog, const char *url, const char *name)
{
    char *argv[] = {prog, (char *)url, (char *)name, NULL};
    return child_start(name, argv);
}

static void test_chat_two_clients_see_each_other(void **state)
{
    (void)state;
    char *server_prog = bin("examples/chat/chat-server");
    char *client_prog = bin("examples/chat/chat-client");
    char listen[256], url[256];
    tu_url(g_transport, listen, sizeof listen);

    char *sargv[] = {server_prog, listen, NULL};
    child *srv = child_start("chat-server", sargv);
    assert_int_equal(tu_read_line(srv->out, url, sizeof url, LINE_MS), 0);
    assert_true(strncmp(url, g_transport, strlen(g_transport)) == 0);

    child *alice = start_client(client_prog, url, "alice");
    expect_line(alice, "* joined as alice");
    child *bob = start_client(client_prog, url, "bob");
    expect_line(bob, "* joined as bob");
    expect_line(alice, "* bob joined");

    /* each sees the other's message, called back on its listener */
    child_write(alice, "hello from alice");
    expect_line(bob, "alice: hello from alice");
    child_write(bob, "hi alice");
    expect_line(alice, "bob: hi alice");
    child_write(bob, "/who");
    expect_line(bob, "* members: alice, bob");

    /* a name is taken once */
    child *dup = start_client(client_prog, url, "alice");
    expect_line(dup, "chat-client: join: chat.NameTaken: cannot join as "
                     "alice");
    assert_int_equal(child_wait_exit(dup, LINE_MS), 1);

    /* leaving at the end of stdin: a clean exit, the others are told */
    child_close_stdin(bob);
    assert_int_equal(child_wait_exit(bob, LINE_MS), 0);
    expect_line(alice, "* bob left");

    /* a client that is killed leaves too (on_disconnect) */
    child *carol = start_client(client_prog, url, "carol");
    expect_line(carol, "* joined as carol");
    expect_line(alice, "* carol joined");
    child_write(carol, "about to crash");
    expect_line(alice, "carol: about to crash");
    tu_kill9(carol->pid);
    carol->pid = -1;
    expect_line(alice, "* carol left");
    child_write(alice, "/who");
    expect_line(alice, "* members: alice");

    child_close_stdin(alice);
    assert_int_equal(child_wait_exit(alice, LINE_MS), 0);
    assert_int_equal(tu_stop(srv->pid), 0);
    srv->pid = -1;
    expect_line(srv, "alice left");

    child_free(alice);
    child_free(bob);
    child_free(carol);
    child_free(dup);
    child_free(srv);
    free(server_prog);
    free(client_prog);
}

static void test_chat_client_without_server_fails(void **state)
{
    (void)state;
    char *client_prog = bin("examples/chat/chat-client");

    /* nothing listens there: port 1 on tcp, a fresh path on ipc */
    char url[256];
    if (strcmp(g_transport, "tcp") == 0)
        snprintf(url, sizeof url, "tcp://127.0.0.1:1");
    else
        tu_url(g_transport, url, sizeof url);
    child *c = start_client(client_prog, url, "nobody");
    assert_int_equal(child_wait_exit(c, LINE_MS), 1);
    child_free(c);
    free(client_prog);
}

/* ------------------------------------------------------------ quotes */

/* Reads n event lines ("quote.SYM PRICE #SEQ") from a watcher: each topic
 * starts with prefix, each symbol's sequence numbers increase. Returns a
 * bit per symbol index seen (in syms). */
static unsigned read_quotes(child *w, const char *prefix, int n,
                            const char *const *syms, size_t nsyms)
{
    unsigned seen = 0;
    unsigned long long last[8] = {0};
    for (int i = 0; i < n; i++) {
        char line[256], topic[64];
        double price = 0;
        unsigned long long seq = 0;
        if (tu_read_line(w->out, line, sizeof line, LINE_MS) != 0)
            fail_msg("%s: only %d of %d events", w->name, i, n);
        if (sscanf(line, "%63s %lf #%llu", topic, &price, &seq) != 3)
            fail_msg("%s: not an event line: %s", w->name, line);
        if (strncmp(topic, prefix, strlen(prefix)) != 0)
            fail_msg("%s: event %s outside its prefix %s", w->name, topic,
                     prefix);
        assert_true(price > 0);
        size_t k = 0;
        while (k < nsyms && strcmp(topic + strlen("quote."), syms[k]) != 0)
            k++;
        if (k == nsyms)
            fail_msg("%s: unknown symbol in %s", w->name, topic);
        if (seq <= last[k])
            fail_msg("%s: %s went from #%llu to #%llu", w->name, topic, last[k],
                     seq);
        last[k] = seq;
        seen |= 1u << k;
    }
    return seen;
}

/* A watcher exits by itself once it has its events: roc_unsubscribe
 * never blocks (it once could, inside nng 1.5.2's close of SUB sockets; it
 * now waits at most 1 s for that close). The budget is generous: under
 * AddressSanitizer on a loaded 2-CPU machine an exit took over 3 s. */
static void watcher_exits(child *w)
{
    assert_int_equal(child_wait_exit(w, 10000), 0);
}

static void test_stockquotes_subscribers_by_prefix(void **state)
{
    (void)state;
    static const char *const syms[] = {"ACME", "AJAX", "GLOBEX", "INITECH",
                                       "UMBRELLA"};
    char *feed_prog = bin("examples/stockquotes/quote-feed");
    char *watch_prog = bin("examples/stockquotes/quote-watch");
    char l1[256], l2[256], uri[300], evurl[256];
    tu_url(g_transport, l1, sizeof l1);
    tu_url(g_transport, l2, sizeof l2);

    char *fargv[] = {feed_prog, "--interval", "10", l1, l2, NULL};
    child *feed = child_start("quote-feed", fargv);
    assert_int_equal(tu_read_line(feed->out, uri, sizeof uri, LINE_MS), 0);
    assert_int_equal(tu_read_line(feed->out, evurl, sizeof evurl, LINE_MS), 0);
    assert_true(strncmp(uri, "ROC:feed@", 9) == 0);

    char *aargv[] = {watch_prog, "--count", "40", uri, "quote.A", NULL};
    char *gargv[] = {watch_prog, "--count", "20", uri, "quote.GLOBEX", NULL};
    char *allargv[] = {watch_prog, "--count", "50", uri, "quote.", NULL};
    child *wa = child_start("watch quote.A", aargv);
    child *wg = child_start("watch quote.GLOBEX", gargv);
    child *wall = child_start("watch quote.", allargv);
    expect_line(wa, "* subscribed to quote.A");
    expect_line(wg, "* subscribed to quote.GLOBEX");
    expect_line(wall, "* subscribed to quote.");

    /* quote.A: ACME and AJAX only; quote.GLOBEX: GLOBEX only */
    assert_int_equal(read_quotes(wa, "quote.A", 40, syms, 5), 0x3);
    assert_int_equal(read_quotes(wg, "quote.GLOBEX", 20, syms, 5), 0x4);
    assert_int_equal(read_quotes(wall, "quote.", 50, syms, 5), 0x1f);
    /* each stops after its count */
    watcher_exits(wa);
    watcher_exits(wg);
    watcher_exits(wall);
    assert_int_equal(tu_stop(feed->pid), 0);
    feed->pid = -1;

    child_free(wa);
    child_free(wg);
    child_free(wall);
    child_free(feed);
    free(feed_prog);
    free(watch_prog);
}

static void test_stockquotes_watch_without_feed_fails(void **state)
{
    (void)state;
    char *watch_prog = bin("examples/stockquotes/quote-watch");
    char l[256], uri[300];
    if (strcmp(g_transport, "tcp") == 0)
        snprintf(l, sizeof l, "tcp://127.0.0.1:1");
    else
        tu_url(g_transport, l, sizeof l);
    snprintf(uri, sizeof uri, "ROC:feed@%s", l);
    char *argv[] = {watch_prog, "--count", "1", uri, "quote.", NULL};
    child *w = child_start("watch", argv);
    assert_int_equal(child_wait_exit(w, LINE_MS), 1);
    child_free(w);
    free(watch_prog);
}

static int group_tcp(void **state)
{
    (void)state;
    g_transport = "tcp";
    return 0;
}

static int group_ipc(void **state)
{
    (void)state;
    g_transport = "ipc";
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chat_two_clients_see_each_other,
                                  teardown),
        cmocka_unit_test_teardown(test_chat_client_without_server_fails,
                                  teardown),
        cmocka_unit_test_teardown(test_stockquotes_subscribers_by_prefix,
                                  teardown),
        cmocka_unit_test_teardown(test_stockquotes_watch_without_feed_fails,
                                  teardown),
    };
    int fails = cmocka_run_group_tests_name("examples_services/tcp", tests,
                                            group_tcp, NULL);
    fails += cmocka_run_group_tests_name("examples_services/ipc", tests,
                                         group_ipc, NULL);
    return fails;
}
