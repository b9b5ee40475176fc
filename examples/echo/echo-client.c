/* echo-client: calls one method of a remote object and prints the result.
 *
 *   echo-client [--timeout MS] [--wait] URI METHOD [ARG...]
 *
 * Each ARG is JSON ('"text"', 42, 1.5, [1,2], {"k":true}, null). The result
 * is printed as JSON on stdout and the exit status is 0. On an error,
 * "error: <type>: <message>" goes to stderr and the exit status is 1 (2 for
 * bad usage). --wait retries for up to 10 s while nothing listens at the
 * server's address yet (handy right after starting a server).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roc/roc.h>

#define WAIT_MS 10000

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--timeout MS] [--wait] URI METHOD [ARG...]\n"
            "  each ARG is a JSON value; the result is printed as JSON\n",
            prog);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The error's type: the remote type when there is one, else the local
 * condition's name. */
static void print_error(int rv, const roc_error *err)
{
    fprintf(stderr, "error: %s: %s\n", err->type ? err->type : roc_strerror(rv),
            err->message ? err->message : roc_strerror(rv));
}

static int call_once(const char *uri, int timeout_ms, const char *method,
                     const roc_value *args, roc_value **result,
                     roc_arena *arena, roc_error *err)
{
    roc_proxy *p = NULL;
    int rv = roc_proxy_open(&p, uri, err);
    if (rv != 0)
        return rv;
    if (timeout_ms != 0)
        roc_proxy_set_timeout(p, timeout_ms);
    rv = roc_proxy_call(p, method, args, result, arena, err);
    roc_proxy_close(p);
    return rv;
}

int main(int argc, char **argv)
{
    int timeout_ms = 0; /* 0: the proxy's default */
    int wait = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--wait") == 0) {
            wait = 1;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < -1 || v > 24L * 3600 * 1000) {
                fprintf(stderr, "error: bad --timeout '%s'\n", argv[i]);
                return 2;
            }
            timeout_ms = (int)v;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (argc - i < 2) {
        usage(argv[0]);
        return 2;
    }
    const char *uri = argv[i];
    const char *method = argv[i + 1];
    int nargs = argc - i - 2;

    roc_arena *arena = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (roc_arena_new(&arena) != 0) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    int rv = 0;
    roc_value *args = roc_value_array(arena, (size_t)nargs);
    if (!args)
        rv = roc_error_set(&err, ROC_ENOMEM, "out of memory");
    for (int k = 0; rv == 0 && k < nargs; k++) {
        roc_value *v = NULL;
        rv = roc_value_from_json(arena, argv[i + 2 + k], &v, &err);
        if (rv == 0)
            args->u.array.items[k] = *v;
        else
            fprintf(stderr, "error: argument %d is not JSON: %s\n", k + 1,
                    err.message ? err.message : roc_strerror(rv));
    }
    if (rv != 0) {
        roc_error_clear(&err);
        roc_arena_free(arena);
        return rv == ROC_ENOMEM ? 1 : 2;
    }

    roc_value *result = NULL;
    long long give_up = now_ms() + WAIT_MS;
    for (;;) {
        rv = call_once(uri, timeout_ms, method, args, &result, arena, &err);
        if (!wait || (rv != ROC_ECONNREFUSED && rv != ROC_EUNREACHABLE) ||
            now_ms() >= give_up)
            break;
        /* The server is not up yet: try again shortly. */
        struct timespec pause = {0, 50 * 1000000L};
        nanosleep(&pause, NULL);
    }

    int status = 0;
    if (rv != 0) {
        print_error(rv, &err);
        status = 1;
    } else {
        roc_value nil = {.type = ROC_NIL};
        char *json = NULL;
        rv = roc_value_to_json(result ? result : &nil, 0, &json, &err);
        if (rv == 0) {
            printf("%s\n", json);
            free(json);
        } else {
            print_error(rv, &err);
            status = 1;
        }
    }
    roc_error_clear(&err);
    roc_arena_free(arena);
    return status;
}
