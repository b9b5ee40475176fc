/* chat-client: joins a chat-server's room and chats from stdin.
 *
 *   chat-client URL NAME        e.g. chat-client tcp://10.0.0.5:9300 alice
 *
 * Each line read from stdin is said to the room; "/who" lists the members;
 * "/quit" or the end of stdin leaves. What the room sends arrives on a
 * listener object that this program exports and passes to join(): the
 * server calls it back over the connection this program opened, so the
 * client listens on no port and works behind NAT or a firewall that lets
 * no connection in.
 *
 * Output, one line each, flushed at once:
 *   * joined as NAME           once joined
 *   FROM: TEXT                 a message from another member
 *   * TEXT                     a notice from the room ("bob joined", ...)
 *   * members: a, b, ...       the answer to /who
 * Exit status 0 after a clean leave, 1 when the server cannot be reached
 * or refuses the name, 2 for bad usage.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* Listener callbacks and the main loop both print: one line at a time. */
static void say_line(const char *prefix, const char *a, const char *b)
{
    pthread_mutex_lock(&out_lock);
    printf("%s%s%s\n", prefix, a, b ? b : "");
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

/* ---- the listener, called back by the server ---- */

/* message(from, text) */
static int listener_message(roc_call *call, const roc_value *args,
                            roc_value **result)
{
    (void)result;
    const char *from, *text;
    size_t n1, n2;
    if (roc_value_get_str(roc_value_at(args, 0), &from, &n1) != 0 ||
        roc_value_get_str(roc_value_at(args, 1), &text, &n2) != 0)
        return roc_call_error(call, ROC_EBADARGS,
                              "message: expected (string, string)");
    pthread_mutex_lock(&out_lock);
    printf("%.*s: %.*s\n", (int)n1, from, (int)n2, text);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    return 0;
}

/* notice(text) */
static int listener_notice(roc_call *call, const roc_value *args,
                           roc_value **result)
{
    (void)result;
    const char *text;
    size_t n;
    if (roc_value_get_str(roc_value_at(args, 0), &text, &n) != 0)
        return roc_call_error(call, ROC_EBADARGS, "notice: expected a string");
    pthread_mutex_lock(&out_lock);
    printf("* %.*s\n", (int)n, text);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    return 0;
}

/* Both only print: they do not block, so they run inline on the I/O thread
 * that read the call. */
static const roc_method listener_methods[] = {
    {"message", listener_message, 2, 0, "string from, string text", "void"},
    {"notice", listener_notice, 1, 0, "string text", "void"},
};

static int fail(const char *what, int rv, roc_error *err)
{
    fprintf(stderr, "chat-client: %s: %s: %s\n", what,
            err->type ? err->type : roc_strerror(rv),
            err->message ? err->message : roc_strerror(rv));
    roc_error_clear(err);
    return 1;
}

static int who(roc_conn *c, roc_arena *a, roc_error *err)
{
    roc_value *r = NULL;
    int rv = roc_conn_call(c, "who", NULL, &r, a, err);
    if (rv != 0)
        return rv;
    char line[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < roc_value_len(r); i++) {
        const char *s;
        size_t n;
        if (roc_value_get_str(roc_value_at(r, i), &s, &n) != 0)
            continue;
        int k = snprintf(line + used, sizeof line - used, "%s%.*s",
                         i ? ", " : "", (int)n, s);
        if (k < 0 || (size_t)k >= sizeof line - used)
            break;
        used += (size_t)k;
    }
    say_line("* members: ", line, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] == '-') {
        fprintf(stderr,
                "usage: %s URL NAME   (e.g. tcp://127.0.0.1:9300 alice)\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    roc_error err = ROC_ERROR_INIT;
    const roc_servant listener = {
        .iface = "chat.Listener",
        .methods = listener_methods,
        .n_methods = sizeof listener_methods / sizeof listener_methods[0],
    };
    roc_export *e = NULL;
    int rv = roc_export_new(&e, &listener, &err);
    if (rv != 0)
        return fail("export", rv, &err);
    roc_conn *c = NULL;
    rv = roc_connect(&c, argv[1], NULL, &err);
    if (rv != 0) {
        roc_export_free(e);
        return fail(argv[1], rv, &err);
    }
    roc_arena *a = NULL;
    roc_arena_new(&a);

    /* join(name, listener): the listener travels as a callback reference */
    roc_value *r = NULL;
    roc_value *args = roc_value_arrayv(a, 2, roc_value_str(a, argv[2]),
                                       roc_value_export(a, e));
    rv = roc_conn_call(c, "join", args, &r, a, &err);
    if (rv != 0) {
        roc_conn_close(c);
        roc_export_free(e);
        roc_arena_free(a);
        return fail("join", rv, &err);
    }
    say_line("* joined as ", argv[2], NULL);

    char line[1024];
    int status = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        roc_arena_reset(a);
        if (strcmp(line, "/quit") == 0)
            break;
        if (strcmp(line, "/who") == 0)
            rv = who(c, a, &err);
        else if (line[0] != 0)
            rv = roc_conn_call(c, "say",
                               roc_value_arrayv(a, 1, roc_value_str(a, line)),
                               &r, a, &err);
        if (rv != 0) {
            status = fail("say", rv, &err);
            break;
        }
    }
    if (status == 0) {
        rv = roc_conn_call(c, "leave", NULL, &r, a, &err);
        if (rv != 0)
            status = fail("leave", rv, &err);
    }
    /* close first: no callback can arrive for the export after this */
    roc_conn_close(c);
    roc_export_free(e);
    roc_arena_free(a);
    roc_error_clear(&err);
    return status;
}
