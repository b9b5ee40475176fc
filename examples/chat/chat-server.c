/* chat-server: a chat room served as an rpyc-style service.
 *
 *   chat-server [--keepalive MS] URL      e.g. chat-server tcp://0.0.0.0:9300
 *
 * Prints the bound URL (with the real port when URL asked for port 0) as
 * the first line on stdout, then serves until SIGINT or SIGTERM.
 *
 * The service (root object "service", interface chat.Room):
 *   join(name, listener)   enter the room; listener is a callback object
 *                          with message(from, text) and notice(text)
 *   say(text)              send text to every other member
 *   leave()                leave the room (the connection stays open)
 *   who() -> [name, ...]   the members, in order of arrival
 *
 * Each connection is one session: the member it joined as is its
 * connection state, made by on_connect and dropped by on_disconnect, so a
 * client that closes, crashes or vanishes (keepalive) leaves the room by
 * itself. Messages reach the members through their listeners, called back
 * over the connection each member opened: clients need no listener of
 * their own and may sit behind NAT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

/* How long one delivery to one listener may take before it is given up. */
#define DELIVERY_TIMEOUT_MS 5000
#define MAX_NAME 64

/* A member of the room. Broadcasts take a reference while they call its
 * listener outside the room's lock; the last reference frees it.
 *
 * The member keeps the listener's reference value, not a proxy: a proxy
 * opened from a callback reference holds the connection it came on, and
 * as long as one is open the runtime does not run on_disconnect for that
 * connection. A proxy is opened for each delivery instead (no I/O, a few
 * allocations); once the client is gone, opening it fails with
 * ROC_ECLOSED. */
typedef struct member {
    atomic_int refs;
    char name[MAX_NAME + 1];
    roc_arena *arena;    /* holds listener */
    roc_value *listener; /* callback reference into the member's client */
    struct member *next;
} member;

/* Per-connection state: the member this connection joined as, or NULL. */
typedef struct session {
    member *m;
} session;

static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static member *room; /* newest last */
static size_t room_size;

static void member_release(member *m)
{
    if (atomic_fetch_sub(&m->refs, 1) == 1) {
        roc_arena_free(m->arena);
        free(m);
    }
}

/* Calls method(args) on the listener of every member but skip, outside the
 * room's lock, one after the other; each delivery may take at most
 * DELIVERY_TIMEOUT_MS (the listener proxy's timeout). A member whose
 * listener fails is reported on stderr; it leaves by its connection's
 * on_disconnect. Runs on a worker: it waits for the replies.
 *
 * Sending them all at once with roc_proxy_call_async would bound a
 * broadcast by one timeout instead of one per slow member, but freeing the
 * future of an async call made through a callback proxy currently closes
 * that connection (reported to the runtime), so deliveries are
 * synchronous for now. */
static void broadcast(const member *skip, const char *method,
                      const roc_value *args)
{
    pthread_mutex_lock(&room_lock);
    member **to = calloc(room_size ? room_size : 1, sizeof *to);
    size_t n = 0;
    for (member *m = room; to && m; m = m->next)
        if (m != skip) {
            atomic_fetch_add(&m->refs, 1);
            to[n++] = m;
        }
    pthread_mutex_unlock(&room_lock);
    if (!to)
        return;

    roc_error err = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    for (size_t i = 0; i < n; i++) {
        roc_value *r = NULL;
        roc_proxy *p = NULL;
        int rc = a ? roc_proxy_open_ref(&p, to[i]->listener, &err) : ROC_ENOMEM;
        if (rc == 0) {
            roc_proxy_set_timeout(p, DELIVERY_TIMEOUT_MS);
            rc = roc_proxy_call(p, method, args, &r, a, &err);
            roc_proxy_close(p);
        }
        if (rc != 0)
            fprintf(stderr, "chat-server: delivery to %s failed: %s\n",
                    to[i]->name, err.message ? err.message : roc_strerror(rc));
        roc_arena_reset(a);
        member_release(to[i]);
    }
    roc_arena_free(a);
    roc_error_clear(&err);
    free(to);
}

static void notice_all(const member *skip, roc_arena *a, const char *fmt,
                       const char *name)
{
    char text[256];
    snprintf(text, sizeof text, fmt, name);
    roc_value *args = roc_value_arrayv(a, 1, roc_value_str(a, text));
    if (args)
        broadcast(skip, "notice", args);
}

/* Takes m out of the room (when it is still there) and tells the others. */
static void member_leave(session *s, roc_arena *a)
{
    pthread_mutex_lock(&room_lock);
    member *m = s->m;
    s->m = NULL;
    if (m) {
        for (member **pp = &room; *pp; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                room_size--;
                break;
            }
    }
    pthread_mutex_unlock(&room_lock);
    if (!m)
        return;
    printf("%s left\n", m->name);
    fflush(stdout);
    notice_all(m, a, "%s left", m->name);
    member_release(m);
}

/* ---- the service ---- */

static int room_connect(roc_peer *peer, void *arg, void **state)
{
    (void)peer;
    (void)arg;
    session *s = calloc(1, sizeof *s);
    if (!s)
        return ROC_ENOMEM;
    *state = s;
    return 0;
}

/* The connection is gone (closed, crashed, silent past keepalive): its
 * member leaves the room. */
static void room_disconnect(roc_peer *peer, void *arg, void *state)
{
    (void)peer;
    (void)arg;
    session *s = state;
    roc_arena *a = NULL;
    if (roc_arena_new(&a) == 0) {
        member_leave(s, a);
        roc_arena_free(a);
    }
    free(s);
}

/* join(name, listener) */
static int room_join(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)result;
    session *s = roc_call_self(call);
    const char *name;
    size_t len;
    if (roc_value_get_str(roc_value_at(args, 0), &name, &len) != 0 ||
        len == 0 || len > MAX_NAME || memchr(name, '\n', len))
        return roc_call_error(call, ROC_EBADARGS,
                              "join: name must be 1 to %d characters, one line",
                              MAX_NAME);
    member *m = calloc(1, sizeof *m);
    if (!m)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    memcpy(m->name, name, len);
    atomic_init(&m->refs, 1);
    const roc_value *ref = roc_value_at(args, 1);
    if (ref->type != ROC_REF || ref->u.ref.kind != ROC_REF_CALLBACK) {
        free(m);
        return roc_call_error(call, ROC_EBADARGS,
                              "join: listener must be an object of the caller");
    }
    if (roc_arena_new(&m->arena) != 0 ||
        !(m->listener = roc_value_copy(m->arena, ref))) {
        roc_arena_free(m->arena);
        free(m);
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    }

    pthread_mutex_lock(&room_lock);
    const char *why = s->m ? "chat.AlreadyJoined" : NULL;
    for (member *o = room; !why && o; o = o->next)
        if (strcmp(o->name, m->name) == 0)
            why = "chat.NameTaken";
    if (!why) {
        member **pp = &room;
        while (*pp)
            pp = &(*pp)->next;
        *pp = m;
        room_size++;
        s->m = m;
    }
    pthread_mutex_unlock(&room_lock);
    if (why) {
        member_release(m);
        return roc_call_raise(call, why, NULL, "cannot join as %s", name);
    }
    printf("%s joined from %s\n", m->name, roc_call_peer(call));
    fflush(stdout);
    notice_all(m, roc_call_arena(call), "%s joined", m->name);
    return 0;
}

/* say(text) */
static int room_say(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)result;
    session *s = roc_call_self(call);
    if (roc_value_at(args, 0)->type != ROC_STR)
        return roc_call_error(call, ROC_EBADARGS, "say: expected a string");
    pthread_mutex_lock(&room_lock);
    member *m = s->m;
    if (m)
        atomic_fetch_add(&m->refs, 1);
    pthread_mutex_unlock(&room_lock);
    if (!m)
        return roc_call_raise(call, "chat.NotJoined", NULL,
                              "say: join the room first");
    roc_arena *a = roc_call_arena(call);
    roc_value *msg = roc_value_arrayv(a, 2, roc_value_str(a, m->name),
                                      roc_value_at(args, 0));
    if (msg)
        broadcast(m, "message", msg);
    member_release(m);
    return msg ? 0 : roc_call_error(call, ROC_EINTERNAL, "out of memory");
}

/* leave() */
static int room_leave(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    (void)result;
    member_leave(roc_call_self(call), roc_call_arena(call));
    return 0;
}

/* who() -> [name, ...] */
static int room_who(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    roc_arena *a = roc_call_arena(call);
    pthread_mutex_lock(&room_lock);
    roc_value *list = roc_value_array(a, room_size);
    size_t i = 0;
    for (member *m = room; list && m; m = m->next) {
        roc_value *v = roc_value_str(a, m->name);
        if (!v) {
            list = NULL;
            break;
        }
        roc_value_array_set(list, i++, v);
    }
    pthread_mutex_unlock(&room_lock);
    if (!list)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    *result = list;
    return 0;
}

/* join, say and leave call the members' listeners back and wait for their
 * replies, so they must be ROC_METHOD_BLOCKING: a worker runs them while
 * the connection's I/O thread keeps reading the replies. who() does not
 * block and runs inline. */
static const roc_method room_methods[] = {
    {"join", room_join, 2, ROC_METHOD_BLOCKING,
     "string name, Listener listener", "void"},
    {"say", room_say, 1, ROC_METHOD_BLOCKING, "string text", "void"},
    {"leave", room_leave, 0, ROC_METHOD_BLOCKING, "", "void"},
    {"who", room_who, 0, 0, "", "list<string>"},
};

int main(int argc, char **argv)
{
    int keepalive_ms = 0;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--keepalive") == 0) {
        keepalive_ms = atoi(argv[i + 1]);
        i += 2;
    }
    if (i + 1 != argc || argv[i][0] == '-') {
        fprintf(stderr,
                "usage: %s [--keepalive MS] URL   (e.g. tcp://0.0.0.0:9300)\n",
                argv[0]);
        return 2;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    if (keepalive_ms != 0)
        o.keepalive_ms = keepalive_ms;
    const roc_service svc = {
        .name = "chat.Room",
        .methods = room_methods,
        .n_methods = sizeof room_methods / sizeof room_methods[0],
        .on_connect = room_connect,
        .on_disconnect = room_disconnect,
    };
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    int rv = roc_serve(argv[i], &svc, &o, &d, &err);
    if (rv != 0) {
        fprintf(stderr, "chat-server: cannot serve on %s: %s\n", argv[i],
                err.message ? err.message : roc_strerror(rv));
        roc_error_clear(&err);
        return 1;
    }
    printf("%s\n", roc_daemon_url(d));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    roc_daemon_shutdown(d);
    roc_daemon_close(d);
    return 0;
}
