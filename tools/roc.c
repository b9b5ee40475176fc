/* roc: the ROC command-line client.
 *
 *   roc [--ns URL] [--timeout MS] [--json] [--key-file F] [--tls-ca F]
 *       [--tls-cert F] [--tls-server-name NAME] COMMAND ...
 *
 * Commands (each takes --help):
 *   ns list [PREFIX] [--regex RE] [--meta TAG]... [--any]
 *   ns lookup NAME [--wait MS]
 *   ns register NAME URI [--meta TAG]... [--replace | --replica] [--ttl S]
 *   ns remove NAME [--prefix | --regex] | ns remove NAME --uri URI
 *   ns meta NAME [TAG...]     ns count     ns ping
 *   ns watch [PREFIX] [--count N] [--for SECONDS]   changes as they happen
 *   call URI METHOD [ARG...]  each ARG one JSON value; prints the result
 *   introspect URI            prints the object's IDL
 *   ping URI                  stats URI
 *   discover [TYPE] [--timeout S] [--json]   what the LAN announces
 *
 * URIs may be ROC:, ROCNAME:, ROCMETA: or ROCDISCOVER: URIs. The name
 * server is --ns, else ROC_NS, else those announced on the LAN
 * (docs/discovery.md), else tcp://127.0.0.1:9090. Exit status: 0 on success, 1
 * when the operation failed (message on stderr), 2 for a usage error.
 *
 * Security (docs/security.md): --key-file proves a daemon's pre-shared key
 * (default ROC_KEY_FILE); --tls-ca, --tls-cert and --tls-server-name set
 * ROC_TLS_CA, ROC_TLS_CERT and ROC_TLS_SERVER_NAME for tls+tcp:// and
 * wss:// URLs (each flag overrides its variable only).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <roc/roc.h>

#include "jsonargs.h"

static bool opt_json;
static int opt_timeout; /* 0: the default */

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ------------------------------------------------------------ help */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *help;
} command;

static int fail(int rc, const roc_error *err, const char *what)
{
    const char *type = err && err->type ? err->type : roc_strerror(rc);
    const char *msg = err && err->message ? err->message : roc_strerror(rc);
    if (what)
        fprintf(stderr, "roc: %s: %s: %s\n", what, type, msg);
    else
        fprintf(stderr, "roc: %s: %s\n", type, msg);
    return EXIT_FAIL;
}

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "roc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: roc %s\n", usage);
    return EXIT_USAGE;
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Prints JSON text of v on stdout (pretty when asked for). */
static int print_json(const roc_value *v)
{
    char *s = NULL;
    roc_error err = ROC_ERROR_INIT;
    roc_value nil = {.type = ROC_NIL};
    int rc = roc_value_to_json(v ? v : &nil, opt_json ? ROC_JSON_PRETTY : 0, &s,
                               &err);
    if (rc) {
        fail(rc, &err, "result");
        roc_error_clear(&err);
        return EXIT_FAIL;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

/* ------------------------------------------------------------ ns */

static int ns_open(roc_ns **ns)
{
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_ns_open(ns, NULL, &err);
    if (rc) {
        fail(rc, &err, "name server");
        roc_error_clear(&err);
        return EXIT_FAIL;
    }
    if (opt_timeout)
        roc_ns_set_timeout(*ns, opt_timeout);
    return 0;
}

static roc_value *strv_value(roc_arena *a, const char **v, size_t n)
{
    roc_value *arr = roc_value_array(a, n);
    for (size_t i = 0; arr && i < n; i++) {
        roc_value *s = roc_value_str(a, v[i]);
        if (!s)
            return NULL;
        arr->u.array.items[i] = *s;
    }
    return arr;
}

static void print_entries(roc_arena *a, const roc_ns_entry *es, size_t n)
{
    if (opt_json) {
        roc_value *arr = roc_value_array(a, n);
        for (size_t i = 0; arr && i < n; i++) {
            roc_value *m = roc_value_map(a, 3);
            if (!m)
                return;
            roc_value_map_set(m, 0, roc_value_str(a, "name"),
                              roc_value_str(a, es[i].name));
            roc_value_map_set(m, 1, roc_value_str(a, "uris"),
                              strv_value(a, es[i].uris, es[i].n_uris));
            roc_value_map_set(m, 2, roc_value_str(a, "meta"),
                              strv_value(a, es[i].meta, es[i].n_meta));
            arr->u.array.items[i] = *m;
        }
        print_json(arr);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s\t", es[i].name);
        for (size_t j = 0; j < es[i].n_uris; j++)
            printf("%s%s", j ? " " : "", es[i].uris[j]);
        if (es[i].n_meta) {
            printf("\t");
            for (size_t j = 0; j < es[i].n_meta; j++)
                printf("%s%s", j ? "," : "", es[i].meta[j]);
        }
        printf("\n");
    }
}

#define MAX_TAGS 64

static const char U_LIST[] =
    "ns list [PREFIX] [--regex RE] [--meta TAG]... [--any]";

static int ns_list(int argc, char **argv)
{
    const char *prefix = NULL, *regex = NULL;
    const char *tags[MAX_TAGS];
    size_t nt = 0;
    bool any = false;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: roc %s\n"
                   "Lists registrations: name, URIs, tags. With --regex the "
                   "names matching a POSIX\nextended regular expression, with "
                   "--meta those carrying every TAG given\n(--any: at least "
                   "one of them).\n",
                   U_LIST);
            return 0;
        } else if (strcmp(argv[i], "--regex") == 0 && i + 1 < argc) {
            regex = argv[++i];
        } else if (strcmp(argv[i], "--meta") == 0 && i + 1 < argc) {
            if (nt == MAX_TAGS)
                return usage_error(U_LIST, "too many tags%s", "");
            tags[nt++] = argv[++i];
        } else if (strcmp(argv[i], "--any") == 0) {
            any = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(U_LIST, "unknown option or missing value: %s",
                               argv[i]);
        } else if (!prefix) {
            prefix = argv[i];
        } else {
            return usage_error(U_LIST, "unexpected argument '%s'", argv[i]);
        }
    }
    if ((prefix && regex) || (nt && (prefix || regex)))
        return usage_error(U_LIST, "give one of PREFIX, --regex, --meta%s", "");
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    roc_ns_entry *es = NULL;
    size_t n = 0;
    int rc = nt      ? roc_ns_lookup_meta(ns, tags, nt, any, a, &es, &n, &err)
             : regex ? roc_ns_list(ns, regex, ROC_NS_REGEX, a, &es, &n, &err)
                     : roc_ns_list(ns, prefix, ROC_NS_PREFIX, a, &es, &n, &err);
    int ex = rc ? fail(rc, &err, "ns list") : 0;
    if (!rc)
        print_entries(a, es, n);
    roc_error_clear(&err);
    roc_arena_free(a);
    roc_ns_close(ns);
    return ex;
}

static const char U_LOOKUP[] = "ns lookup NAME [--wait MS]";

static int ns_lookup(int argc, char **argv)
{
    const char *name = NULL;
    long wait = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: roc %s\n"
                   "Prints every URI registered under NAME, one a line. With "
                   "--wait, waits up to MS\nmilliseconds for NAME to be "
                   "registered (a server still starting).\n",
                   U_LOOKUP);
            return 0;
        } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            char *end;
            wait = strtol(argv[++i], &end, 10);
            if (*end || wait < 0 || wait > 3600000)
                return usage_error(U_LOOKUP, "bad --wait '%s'", argv[i]);
        } else if (argv[i][0] == '-') {
            return usage_error(U_LOOKUP, "unknown option '%s'", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return usage_error(U_LOOKUP, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!name)
        return usage_error(U_LOOKUP, "no NAME given%s", "");
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    const char **uris = NULL;
    size_t n = 0;
    int rc = roc_ns_lookup_all(ns, name, (int)wait, a, &uris, &n, &err);
    int ex = rc ? fail(rc, &err, name) : 0;
    if (!rc && opt_json)
        print_json(strv_value(a, uris, n));
    else
        for (size_t i = 0; !rc && i < n; i++)
            printf("%s\n", uris[i]);
    roc_error_clear(&err);
    roc_arena_free(a);
    roc_ns_close(ns);
    return ex;
}

static const char U_REGISTER[] =
    "ns register NAME URI [--meta TAG]... [--replace | --replica] "
    "[--ttl S]";

/* SIGINT and SIGTERM are left to sigwait/sigtimedwait of the caller: blocked
 * here, before any thread of the runtime exists (they inherit the mask). */
static void block_stop_signals(sigset_t *stop)
{
    sigemptyset(stop);
    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, stop, NULL);
}

/* --ttl: holds the registration under a lease while this command runs
 * (a keeper renews it), revokes it when stopped. */
static int register_kept(roc_ns *ns, const char *name, const char *uri,
                         const char *const *tags, size_t nt, unsigned flags,
                         unsigned ttl, const sigset_t *stop)
{
    roc_error err = ROC_ERROR_INIT;
    roc_ns_keeper *k = NULL;
    int rc = roc_ns_keeper_start(ns, NULL, NULL, 0, ttl, &k, &err);
    if (rc == 0)
        rc = roc_ns_keeper_add(k, name, uri, tags, nt, flags, &err);
    if (rc) {
        roc_ns_keeper_stop(k);
        fail(rc, &err, name);
        roc_error_clear(&err);
        return EXIT_FAIL;
    }
    printf("registered %s under lease %llu (TTL %u s) until stopped\n", name,
           (unsigned long long)roc_ns_keeper_lease(k), ttl);
    fflush(stdout);
    int sig = 0;
    while (sigwait(stop, &sig) != 0)
        ;
    roc_ns_keeper_stop(k); /* revokes the lease: the name goes at once */
    return 0;
}

static int ns_register(int argc, char **argv)
{
    const char *name = NULL, *uri = NULL;
    const char *tags[MAX_TAGS];
    size_t nt = 0;
    unsigned flags = 0;
    long ttl = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: roc %s\n"
                   "Registers URI (ROC:id@url) under NAME with the tags "
                   "given. A NAME that is\nregistered already is refused "
                   "unless --replace (replace it) or --replica\n(add URI "
                   "as one more replica) is given. With --ttl the name is "
                   "held under a lease\nof S seconds (1 to 3600) while "
                   "this command runs, renewed every S/3 s, and\nremoved "
                   "when it stops (Ctrl-C, SIGTERM); if it is killed, the "
                   "name goes within S s.\n",
                   U_REGISTER);
            return 0;
        } else if (strcmp(argv[i], "--meta") == 0 && i + 1 < argc) {
            if (nt == MAX_TAGS)
                return usage_error(U_REGISTER, "too many tags%s", "");
            tags[nt++] = argv[++i];
        } else if (strcmp(argv[i], "--replace") == 0) {
            flags |= ROC_NS_REPLACE;
        } else if (strcmp(argv[i], "--replica") == 0) {
            flags |= ROC_NS_ADD_REPLICA;
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
            char *end = NULL;
            ttl = strtol(argv[++i], &end, 10);
            if (*end || ttl < 1 || ttl > 3600)
                return usage_error(U_REGISTER,
                                   "bad --ttl '%s' (seconds, 1 to 3600)",
                                   argv[i]);
        } else if (argv[i][0] == '-') {
            return usage_error(U_REGISTER,
                               "unknown option or missing value: %s", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else if (!uri) {
            uri = argv[i];
        } else {
            return usage_error(U_REGISTER, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!name || !uri)
        return usage_error(U_REGISTER, "NAME and URI are required%s", "");
    sigset_t stop;
    if (ttl)
        block_stop_signals(&stop);
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    if (ttl) {
        int ex = register_kept(ns, name, uri, tags, nt, flags, (unsigned)ttl,
                               &stop);
        roc_ns_close(ns);
        return ex;
    }
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_ns_register(ns, name, uri, tags, nt, flags, &err);
    int ex = rc ? fail(rc, &err, name) : 0;
    roc_error_clear(&err);
    roc_ns_close(ns);
    return ex;
}

static const char U_REMOVE[] =
    "ns remove NAME [--prefix | --regex] | ns remove NAME --uri URI";

static int ns_remove(int argc, char **argv)
{
    const char *name = NULL, *uri = NULL;
    roc_ns_match how = ROC_NS_EXACT;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: roc %s\n"
                   "Removes the registration NAME, or every name starting "
                   "with NAME (--prefix),\nor matching the regular "
                   "expression NAME (--regex), or only the URI given from\n"
                   "NAME (--uri). Prints how many were removed.\n",
                   U_REMOVE);
            return 0;
        } else if (strcmp(argv[i], "--prefix") == 0) {
            how = ROC_NS_PREFIX;
        } else if (strcmp(argv[i], "--regex") == 0) {
            how = ROC_NS_REGEX;
        } else if (strcmp(argv[i], "--uri") == 0 && i + 1 < argc) {
            uri = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(U_REMOVE, "unknown option or missing value: %s",
                               argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return usage_error(U_REMOVE, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!name)
        return usage_error(U_REMOVE, "no NAME given%s", "");
    if (uri && how != ROC_NS_EXACT)
        return usage_error(U_REMOVE, "--uri goes with one NAME%s", "");
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    roc_error err = ROC_ERROR_INIT;
    size_t n = 0;
    int rc = uri ? roc_ns_remove_uri(ns, name, uri, &n, &err)
                 : roc_ns_remove(ns, name, how, &n, &err);
    int ex = rc ? fail(rc, &err, name) : 0;
    if (!rc)
        printf("removed %zu\n", n);
    roc_error_clear(&err);
    roc_ns_close(ns);
    return ex;
}

static const char U_META[] = "ns meta NAME [TAG...]";

static int ns_meta(int argc, char **argv)
{
    if (argc > 0 && is_help(argv[0])) {
        printf("usage: roc %s\nReplaces the tags of NAME with the TAGs "
               "given (none: no tags).\n",
               U_META);
        return 0;
    }
    if (argc < 1)
        return usage_error(U_META, "no NAME given%s", "");
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_ns_set_meta(ns, argv[0], (const char *const *)argv + 1,
                             (size_t)argc - 1, &err);
    int ex = rc ? fail(rc, &err, argv[0]) : 0;
    roc_error_clear(&err);
    roc_ns_close(ns);
    return ex;
}

/* For a command that takes no arguments: -1 to go on, else its exit
 * status (--help printed, or a usage error). */
static int no_args(int argc, char **argv, const char *usage, const char *help)
{
    if (argc == 0)
        return -1;
    if (is_help(argv[0])) {
        printf("usage: roc %s\n%s\n", usage, help);
        return 0;
    }
    return usage_error(usage, "unexpected argument '%s'", argv[0]);
}

static const char U_COUNT[] = "ns count";

static int ns_count(int argc, char **argv)
{
    int ua = no_args(argc, argv, U_COUNT,
                     "Prints the number of registrations.");
    if (ua >= 0)
        return ua;
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    roc_error err = ROC_ERROR_INIT;
    uint64_t n = 0;
    int rc = roc_ns_count(ns, &n, &err);
    int ex = rc ? fail(rc, &err, "ns count") : 0;
    if (!rc)
        printf("%llu\n", (unsigned long long)n);
    roc_error_clear(&err);
    roc_ns_close(ns);
    return ex;
}

static const char U_NSPING[] = "ns ping";

static int ns_ping(int argc, char **argv)
{
    int ua = no_args(argc, argv, U_NSPING,
                     "Checks that the name server answers.");
    if (ua >= 0)
        return ua;
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    roc_error err = ROC_ERROR_INIT;
    int rc = roc_ns_ping(ns, &err);
    int ex = rc ? fail(rc, &err, roc_ns_uri(ns)) : 0;
    if (!rc)
        printf("pong from %s\n", roc_ns_uri(ns));
    roc_error_clear(&err);
    roc_ns_close(ns);
    return ex;
}

static const char U_WATCH[] =
    "ns watch [PREFIX] [--count N] [--for SECONDS]";

typedef struct watch_out {
    roc_arena *a;
    _Atomic long changes; /* told after the first SYNCED */
    atomic_bool synced;
} watch_out;

/* One line per event: "put NAME URIS [TAGS]", "removed NAME", "synced N",
 * "lost" (tab-separated), or a JSON object per line with --json. */
static void watch_print(void *arg, roc_ns_event ev, const roc_ns_entry *e)
{
    watch_out *o = arg;
    static const char *const names[] = {"?", "put", "removed", "synced",
                                        "lost"};
    const char *what = names[ev <= ROC_NS_LOST ? ev : 0];
    if (opt_json) {
        roc_arena_reset(o->a);
        roc_value *m = roc_value_map(o->a, e ? 4 : 1);
        if (!m)
            return;
        roc_value_map_set(m, 0, roc_value_str(o->a, "event"),
                          roc_value_str(o->a, what));
        if (e) {
            roc_value_map_set(m, 1, roc_value_str(o->a, "name"),
                              roc_value_str(o->a, e->name));
            roc_value_map_set(m, 2, roc_value_str(o->a, "uris"),
                              strv_value(o->a, e->uris, e->n_uris));
            roc_value_map_set(m, 3, roc_value_str(o->a, "meta"),
                              strv_value(o->a, e->meta, e->n_meta));
        }
        char *s = NULL;
        if (roc_value_to_json(m, 0, &s, NULL) == 0)
            printf("%s\n", s);
        free(s);
    } else if (ev == ROC_NS_PUT) {
        printf("put\t%s\t", e->name);
        for (size_t j = 0; j < e->n_uris; j++)
            printf("%s%s", j ? " " : "", e->uris[j]);
        for (size_t j = 0; j < e->n_meta; j++)
            printf("%s%s", j ? "," : "\t", e->meta[j]);
        printf("\n");
    } else if (ev == ROC_NS_REMOVED) {
        printf("removed\t%s\n", e->name);
    } else {
        printf("%s\n", what);
    }
    fflush(stdout);
    if (ev == ROC_NS_SYNCED)
        atomic_store(&o->synced, true);
    else if (atomic_load(&o->synced) &&
             (ev == ROC_NS_PUT || ev == ROC_NS_REMOVED))
        atomic_fetch_add(&o->changes, 1);
}

static int ns_watch(int argc, char **argv)
{
    const char *prefix = "";
    long count = 0, seconds = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: roc %s\n"
                   "Prints the names under PREFIX (all without it), then "
                   "every registration and removal\nas it happens, one line "
                   "each: put NAME URIS [TAGS] | removed NAME | synced | "
                   "lost\n(a JSON object per line with --json). \"lost\": "
                   "the name server stopped answering;\nthe watch is made "
                   "again (on the next one of a list) and \"synced\" "
                   "follows.\nStops after N changes (--count), SECONDS "
                   "(--for), or on Ctrl-C.\n",
                   U_WATCH);
            return 0;
        }
        char *end = NULL;
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], &end, 10);
            if (*end || count < 1)
                return usage_error(U_WATCH, "bad --count '%s'", argv[i]);
        } else if (strcmp(argv[i], "--for") == 0 && i + 1 < argc) {
            seconds = strtol(argv[++i], &end, 10);
            if (*end || seconds < 1)
                return usage_error(U_WATCH, "bad --for '%s'", argv[i]);
        } else if (argv[i][0] == '-') {
            return usage_error(U_WATCH, "unknown option or missing value: %s",
                               argv[i]);
        } else if (*prefix) {
            return usage_error(U_WATCH, "unexpected argument '%s'", argv[i]);
        } else {
            prefix = argv[i];
        }
    }
    /* the stop signals are taken by sigtimedwait below, in no thread else */
    sigset_t stop;
    block_stop_signals(&stop);
    roc_ns *ns;
    if (ns_open(&ns))
        return EXIT_FAIL;
    watch_out o = {0};
    roc_error err = ROC_ERROR_INIT;
    roc_ns_watch *w = NULL;
    int rc = roc_arena_new(&o.a);
    if (rc == 0)
        rc = roc_ns_watch_start(ns, prefix, watch_print, &o, &w, &err);
    roc_ns_close(ns);
    if (rc) {
        fail(rc, &err, "ns watch");
        roc_error_clear(&err);
        roc_arena_free(o.a);
        return EXIT_FAIL;
    }
    struct timespec tick = {0, 50 * 1000000L};
    for (long waited = 0;; waited += 50) {
        if (count && atomic_load(&o.changes) >= count)
            break;
        if (seconds && waited >= seconds * 1000)
            break;
        if (sigtimedwait(&stop, NULL, &tick) > 0)
            break;
    }
    roc_ns_watch_stop(w);
    roc_arena_free(o.a);
    return 0;
}

static const command ns_commands[] = {
    {"list", ns_list, U_LIST, "list registrations"},
    {"lookup", ns_lookup, U_LOOKUP, "the URIs of a name"},
    {"register", ns_register, U_REGISTER, "register a URI under a name"},
    {"remove", ns_remove, U_REMOVE, "remove registrations"},
    {"meta", ns_meta, U_META, "set the tags of a name"},
    {"count", ns_count, U_COUNT, "number of registrations"},
    {"ping", ns_ping, U_NSPING, "check the name server"},
    {"watch", ns_watch, U_WATCH, "print changes as they happen"},
};
#define N_NS (sizeof ns_commands / sizeof ns_commands[0])

static void ns_usage(FILE *f)
{
    fprintf(f, "usage: roc [--ns URL] ns COMMAND ...\n");
    for (size_t i = 0; i < N_NS; i++)
        fprintf(f, "  roc %-58s %s\n", ns_commands[i].usage,
                ns_commands[i].help);
}

static int cmd_ns(int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        ns_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    for (size_t i = 0; i < N_NS; i++)
        if (strcmp(argv[0], ns_commands[i].name) == 0)
            return ns_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "roc: unknown ns command '%s'\n", argv[0]);
    ns_usage(stderr);
    return EXIT_USAGE;
}

/* ------------------------------------------------------------ objects */

/* resolve, daemon_call and describe with the command line's --timeout;
 * the look-ups and the JSON conversion live in jsonargs.c (shared with
 * roc-gateway). */
static int resolve(roc_arena *a, const char *uri, const char **id,
                   const char **url, roc_error *err)
{
    return jsonargs_resolve(a, uri, opt_timeout, id, url, err);
}

static int daemon_call(const char *url, const char *method,
                       const roc_value *args, roc_value **res, roc_arena *a,
                       roc_error *err)
{
    return jsonargs_daemon_call(url, method, args, opt_timeout, res, a, err);
}

static int describe(roc_arena *a, const char *uri, const char **id,
                    roc_value **desc, roc_error *err)
{
    return jsonargs_describe(a, uri, opt_timeout, id, desc, err);
}

static const char U_CALL[] = "call URI METHOD [ARG...]";

static int cmd_call(int argc, char **argv)
{
    if (argc > 0 && is_help(argv[0])) {
        printf("usage: roc %s\n"
               "Calls METHOD of the object at URI (ROC:, ROCNAME: or "
               "ROCMETA:) and prints the\nresult as JSON. Each ARG is one "
               "JSON value (42, 1.5, '\"text\"', '[1,2]',\n'{\"k\":1}'); "
               "it is converted to the parameter's declared type as\n"
               "roc.daemon.describe tells it (1 becomes 1.0 for an f64). An "
               "ARG that is not JSON\nis taken as a string where a string "
               "is declared.\n",
               U_CALL);
        return 0;
    }
    if (argc < 2)
        return usage_error(U_CALL, "URI and METHOD are required%s", "");
    const char *uri = argv[0], *method = argv[1];
    int nargs = argc - 2;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    char **types = NULL;
    size_t ntypes = 0;
    const char *id;
    roc_value *desc = NULL;
    bool typed = describe(a, uri, &id, &desc, NULL) == 0 &&
                 jsonargs_param_types(a, desc, method, &types, &ntypes);
    roc_value *args = roc_value_array(a, (size_t)nargs);
    int rc = args ? 0 : ROC_ENOMEM;
    for (int k = 0; rc == 0 && k < nargs; k++) {
        const char *t = typed && (size_t)k < ntypes ? types[k] : NULL;
        roc_value *v = NULL;
        rc = roc_value_from_json(a, argv[2 + k], &v, &err);
        if (rc && t && strcmp(t, "string") == 0) {
            v = roc_value_str(a, argv[2 + k]);
            rc = v ? 0 : ROC_ENOMEM;
            roc_error_clear(&err);
        }
        if (rc) {
            fprintf(stderr, "roc: argument %d is not JSON: %s\n", k + 1,
                    err.message ? err.message : roc_strerror(rc));
            roc_error_clear(&err);
            roc_arena_free(a);
            return EXIT_USAGE;
        }
        jsonargs_convert(a, v, t);
        args->u.array.items[k] = *v;
    }
    roc_proxy *p = NULL;
    roc_value *res = NULL;
    if (rc == 0)
        rc = roc_proxy_open(&p, uri, &err);
    if (rc == 0 && opt_timeout)
        roc_proxy_set_timeout(p, opt_timeout);
    if (rc == 0)
        rc = roc_proxy_call(p, method, args, &res, a, &err);
    int ex = rc ? fail(rc, &err, NULL) : print_json(res);
    roc_proxy_close(p);
    roc_error_clear(&err);
    roc_arena_free(a);
    return ex;
}

static const char U_INTROSPECT[] = "introspect URI";

static int cmd_introspect(int argc, char **argv)
{
    if (argc != 1 || is_help(argv[0])) {
        if (argc == 1) {
            printf("usage: roc %s\nPrints the IDL of the object at URI "
                   "(from roc.daemon.describe); for an\nobject without IDL, "
                   "its methods as the daemon describes them.\n",
                   U_INTROSPECT);
            return 0;
        }
        return usage_error(U_INTROSPECT, "one URI is required%s", "");
    }
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    const char *id;
    roc_value *desc = NULL;
    int rc = describe(a, argv[0], &id, &desc, &err);
    int ex = 0;
    if (rc) {
        ex = fail(rc, &err, argv[0]);
    } else if (opt_json) {
        ex = print_json(desc);
    } else {
        const char *idl, *iface;
        size_t len, ilen;
        if (roc_value_get_str(roc_value_map_get(desc, "idl"), &idl, &len) ==
            0) {
            fwrite(idl, 1, len, stdout);
            if (len && idl[len - 1] != '\n')
                putchar('\n');
        } else {
            if (roc_value_get_str(roc_value_map_get(desc, "interface"), &iface,
                                  &ilen) != 0) {
                iface = id;
                ilen = strlen(id);
            }
            printf("/* %s: no IDL; methods as described */\n", id);
            printf("interface %.*s {\n", (int)ilen, iface);
            const roc_value *ms = roc_value_map_get(desc, "methods");
            for (size_t i = 0; i < roc_value_len(ms); i++) {
                const roc_value *m = roc_value_at(ms, i);
                const char *name = "?", *params = "", *result = "any";
                size_t nl = 1, pl = 0, rl = 3;
                roc_value_get_str(roc_value_map_get(m, "name"), &name, &nl);
                roc_value_get_str(roc_value_map_get(m, "params"), &params, &pl);
                roc_value_get_str(roc_value_map_get(m, "result"), &result, &rl);
                printf("    %.*s %.*s(%.*s);\n", (int)rl, result, (int)nl, name,
                       (int)pl, params);
            }
            printf("}\n");
        }
    }
    roc_error_clear(&err);
    roc_arena_free(a);
    return ex;
}

static int daemon_cmd(int argc, char **argv, const char *method,
                      const char *usage, const char *help)
{
    if (argc != 1 || is_help(argv[0])) {
        if (argc == 1) {
            printf("usage: roc %s\n%s\n", usage, help);
            return 0;
        }
        return usage_error(usage, "one URI is required%s", "");
    }
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_error err = ROC_ERROR_INIT;
    const char *id, *url = NULL;
    roc_value *res = NULL;
    int rc = resolve(a, argv[0], &id, &url, &err);
    if (rc == 0)
        rc = daemon_call(url, method, NULL, &res, a, &err);
    int ex = 0;
    if (rc) {
        ex = fail(rc, &err, argv[0]);
    } else if (opt_json || strcmp(method, "stats") != 0) {
        const char *s;
        size_t len;
        if (!opt_json && roc_value_get_str(res, &s, &len) == 0)
            printf("%.*s from %s\n", (int)len, s, url);
        else
            ex = print_json(res);
    } else {
        for (size_t i = 0; res && res->type == ROC_MAP && i < res->u.map.len;
             i++) {
            const roc_value *k = &res->u.map.entries[i].key;
            char *s = NULL;
            if (k->type != ROC_STR ||
                roc_value_to_json(&res->u.map.entries[i].val, 0, &s, NULL) != 0)
                continue;
            printf("%.*s: %s\n", (int)k->u.str.len, k->u.str.ptr, s);
            free(s);
        }
    }
    roc_error_clear(&err);
    roc_arena_free(a);
    return ex;
}

static int cmd_ping(int argc, char **argv)
{
    return daemon_cmd(argc, argv, "ping", "ping URI",
                      "Pings the daemon that serves URI (roc.daemon.ping).");
}

static int cmd_stats(int argc, char **argv)
{
    return daemon_cmd(argc, argv, "stats", "stats URI",
                      "Prints the counters of the daemon that serves URI "
                      "(roc.daemon.stats).");
}

#define U_DISCOVER "discover [TYPE] [--timeout S] [--json]"

/* A map value of one discovered service, for --json. */
static roc_value *discovered_value(roc_arena *a, const roc_discovered *s)
{
    roc_value *txt = roc_value_map(a, s->n_txt);
    for (size_t i = 0; txt && i < s->n_txt; i++) {
        const char *eq = strchr(s->txt[i], '=');
        size_t kl = eq ? (size_t)(eq - s->txt[i]) : strlen(s->txt[i]);
        roc_value_map_set(txt, i, roc_value_strn(a, s->txt[i], kl),
                          eq ? roc_value_str(a, eq + 1) : roc_value_nil(a));
    }
    const char *keys[] = {"name", "type", "domain", "host", "address",
                          "port", "id",   "iface",  "uri",  "txt"};
    roc_value *vals[] = {
        roc_value_str(a, s->name),
        roc_value_str(a, s->type),
        roc_value_str(a, s->domain),
        roc_value_str(a, s->host),
        roc_value_str(a, s->address),
        roc_value_uint(a, s->port),
        s->id ? roc_value_str(a, s->id) : roc_value_nil(a),
        s->iface ? roc_value_str(a, s->iface) : roc_value_nil(a),
        s->uri ? roc_value_str(a, s->uri) : roc_value_nil(a),
        txt,
    };
    size_t n = sizeof keys / sizeof keys[0];
    roc_value *m = roc_value_map(a, n);
    for (size_t i = 0; m && i < n; i++)
        if (!vals[i] ||
            roc_value_map_set(m, i, roc_value_str(a, keys[i]), vals[i]) != 0)
            return NULL;
    return m;
}

static int cmd_discover(int argc, char **argv)
{
    const char *type = NULL;
    double secs = 3;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: roc %s\n"
                   "Lists what is announced on the LAN over DNS-SD (through "
                   "avahi):\nobjects and services (" ROC_DISCOVER_TYPE
                   ") and name servers (" ROC_DISCOVER_NS_TYPE "),\nor only "
                   "TYPE. Browses for S seconds (default 3); one line per "
                   "service:\nNAME TYPE ADDRESS:PORT URI [iface=...].\n",
                   U_DISCOVER);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) {
            opt_json = true;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            secs = strtod(argv[++i], &end);
            if (*end || !(secs > 0 && secs <= 3600))
                return usage_error(U_DISCOVER,
                                   "--timeout wants seconds in (0, 3600], "
                                   "got '%s'",
                                   argv[i]);
        } else if (argv[i][0] == '-') {
            return usage_error(U_DISCOVER,
                               "unknown option or missing value: %s", argv[i]);
        } else if (!type) {
            type = argv[i];
        } else {
            return usage_error(U_DISCOVER, "unexpected argument '%s'", argv[i]);
        }
    }
    const char *types[2] = {ROC_DISCOVER_TYPE, ROC_DISCOVER_NS_TYPE};
    size_t ntypes = 2;
    if (type) {
        types[0] = type;
        ntypes = 1;
    }
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return fail(ROC_ENOMEM, NULL, "discover");
    /* both types browsed at once would need two clients: half the time
     * each is enough, a browser started late resolves in milliseconds */
    int ms = (int)(secs * 1000 / (double)ntypes);
    if (ms < 1)
        ms = 1;
    roc_value *all = roc_value_array(a, 0);
    size_t total = 0;
    int ex = 0;
    for (size_t t = 0; t < ntypes && ex == 0; t++) {
        roc_error err = ROC_ERROR_INIT;
        roc_discovered *v = NULL;
        size_t n = 0;
        int rc = roc_discover_all(types[t], ms, a, &v, &n, &err);
        if (rc) {
            ex = fail(rc, &err, "discover");
            if (rc == ROC_EUNAVAIL)
                fprintf(stderr, "roc: name servers and objects must be given "
                                "by address (--ns URL, ROC_NS, ROC: URIs)\n");
            roc_error_clear(&err);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (opt_json) {
                roc_value *m = discovered_value(a, &v[i]);
                roc_value *na = roc_value_array(a, total + 1);
                if (!m || !na) {
                    ex = fail(ROC_ENOMEM, NULL, "discover");
                    break;
                }
                for (size_t k = 0; k < total; k++)
                    roc_value_array_set(na, k, &all->u.array.items[k]);
                roc_value_array_set(na, total, m);
                all = na;
            } else {
                bool v6 = strchr(v[i].address, ':') != NULL;
                printf("%s\t%s\t%s%s%s:%u\t%s", v[i].name, v[i].type,
                       v6 ? "[" : "", v[i].address, v6 ? "]" : "",
                       (unsigned)v[i].port, v[i].uri ? v[i].uri : "-");
                if (v[i].iface)
                    printf("\tiface=%s", v[i].iface);
                printf("\n");
            }
            total++;
        }
    }
    if (ex == 0 && opt_json)
        ex = print_json(all);
    roc_arena_free(a);
    return ex;
}

static const command commands[] = {
    {"ns", cmd_ns, "ns COMMAND ...", "name server (roc ns --help)"},
    {"call", cmd_call, U_CALL, "call a method, JSON arguments and result"},
    {"introspect", cmd_introspect, U_INTROSPECT, "print an object's IDL"},
    {"ping", cmd_ping, "ping URI", "ping the daemon serving an object"},
    {"stats", cmd_stats, "stats URI", "a daemon's counters"},
    {"discover", cmd_discover, U_DISCOVER,
     "objects, services and name servers on the LAN"},
};
#define N_CMDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: roc [--ns URL] [--timeout MS] [--json] [--key-file F]\n"
            "           [--tls-ca F] [--tls-cert F] [--tls-server-name NAME] "
            "COMMAND ...\n"
            "\n");
    for (size_t i = 0; i < N_CMDS; i++)
        fprintf(f, "  roc %-28s %s\n", commands[i].usage, commands[i].help);
    fprintf(f,
            "\nURIs: ROC:id@url, ROCNAME:name[@ns-url], "
            "ROCMETA:tag,...[@ns-url].\n"
            "The name server is --ns URL, else $ROC_NS, else %s.\n"
            "--key-file F: the daemons' pre-shared key (else $ROC_KEY_FILE).\n"
            "--tls-ca F, --tls-cert F, --tls-server-name NAME: TLS for "
            "tls+tcp:// and wss://\n"
            "  (CA file, own certificate+key PEM, name to check; else "
            "$ROC_TLS_CA, $ROC_TLS_CERT,\n  $ROC_TLS_SERVER_NAME).\n"
            "Every command takes --help. Exit status 0 on success, 1 on "
            "failure, 2 on bad usage.\n",
            ROC_NS_DEFAULT_URL);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            opt_json = true;
        } else if (strcmp(argv[i], "--ns") == 0 && i + 1 < argc) {
            /* the name server for roc_ns_open(NULL) and for ROCNAME: */
            setenv("ROC_NS", argv[++i], 1);
        } else if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
            roc_error err = ROC_ERROR_INIT;
            if (roc_client_set_key_file(argv[++i], &err) != 0) {
                fprintf(stderr, "roc: %s\n", err.message);
                roc_error_clear(&err);
                return EXIT_FAIL;
            }
        } else if (strcmp(argv[i], "--tls-ca") == 0 && i + 1 < argc) {
            setenv("ROC_TLS_CA", argv[++i], 1);
        } else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc) {
            setenv("ROC_TLS_CERT", argv[++i], 1);
        } else if (strcmp(argv[i], "--tls-server-name") == 0 && i + 1 < argc) {
            setenv("ROC_TLS_SERVER_NAME", argv[++i], 1);
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            long t = strtol(argv[++i], &end, 10);
            if (errno || *end || t == 0 || t < -1 || t > 86400000) {
                fprintf(stderr, "roc: bad --timeout '%s' (ms, or -1)\n",
                        argv[i]);
                return EXIT_USAGE;
            }
            opt_timeout = (int)t;
            setenv("ROC_TIMEOUT_MS", argv[i], 1);
        } else {
            fprintf(stderr, "roc: unknown option or missing value: %s\n",
                    argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i == argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (size_t k = 0; k < N_CMDS; k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            return commands[k].run(argc - i - 1, argv + i + 1);
    fprintf(stderr, "roc: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return EXIT_USAGE;
}
