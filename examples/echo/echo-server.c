/* echo-server: serves the object "echo" on one nng URL.
 *
 *   echo-server [--key-file F] [--tls-cert F] [--tls-ca F] URL
 *                          e.g. echo-server tcp://127.0.0.1:9100
 *
 * --key-file: clients must prove this pre-shared key (default: ROC_KEY_FILE
 * if set). --tls-cert: certificate+key PEM for tls+tcp:// and wss:// URLs;
 * --tls-ca: CA file to check client certificates (docs/security.md).
 *
 * Prints the object's URI ("ROC:echo@<url>", with the real port when the URL
 * asked for port 0) as the first line on stdout, then serves until SIGINT or
 * SIGTERM and shuts down cleanly.
 *
 * Methods:
 *   echo(x) -> x
 *   add(a, b) -> a + b     ints, or floats when either is a float
 *   sleep(ms) -> nil       blocking; gives up early when the caller cancels
 *   fail(message)          raises echo.Failure with that message
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roc/roc.h>

/* echo(x) -> x. The argument lives in the call's arena, which also holds the
 * result until the reply is written, so it can be returned as it is. */
static int echo_echo(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)call;
    *result = (roc_value *)roc_value_at(args, 0);
    return 0;
}

/* add(a, b) -> a + b: integer addition (overflow is refused, not wrapped),
 * float addition when either argument is a float. */
static int echo_add(roc_call *call, const roc_value *args, roc_value **result)
{
    const roc_value *a = roc_value_at(args, 0);
    const roc_value *b = roc_value_at(args, 1);
    roc_arena *arena = roc_call_arena(call);

    if (a->type == ROC_FLOAT || b->type == ROC_FLOAT) {
        double x, y;
        if (roc_value_get_float(a, &x) != 0 || roc_value_get_float(b, &y) != 0)
            return roc_call_error(
                call, ROC_EBADARGS, "add: expected numbers, got %s and %s",
                roc_type_name(a->type), roc_type_name(b->type));
        *result = roc_value_float(arena, x + y);
    } else {
        int64_t x, y, sum;
        if (roc_value_get_int(a, &x) != 0 || roc_value_get_int(b, &y) != 0)
            return roc_call_error(
                call, ROC_EBADARGS, "add: expected integers, got %s and %s",
                roc_type_name(a->type), roc_type_name(b->type));
        if (__builtin_add_overflow(x, y, &sum))
            return roc_call_error(call, ROC_EBADARGS,
                                  "add: %lld + %lld overflows int64",
                                  (long long)x, (long long)y);
        *result = roc_value_int(arena, sum);
    }
    if (!*result)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    return 0;
}

/* sleep(ms) -> nil. Declared ROC_METHOD_BLOCKING, so it runs on the worker
 * pool and does not hold up the I/O thread. It sleeps in short slices and
 * stops early once the caller has cancelled (timeout or cancel frame). */
static int echo_sleep(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t ms;
    if (roc_value_get_int(roc_value_at(args, 0), &ms) != 0 || ms < 0 ||
        ms > 3600 * 1000)
        return roc_call_error(call, ROC_EBADARGS,
                              "sleep: expected milliseconds in [0, 3600000]");
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)(ms / 1000);
    end.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    for (;;) {
        if (roc_call_cancelled(call))
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left_ns =
            (long long)(end.tv_sec - now.tv_sec) * 1000000000LL +
            (end.tv_nsec - now.tv_nsec);
        if (left_ns <= 0)
            break;
        struct timespec slice = {0, left_ns < 5000000LL ? (long)left_ns
                                                        : 5000000L};
        nanosleep(&slice, NULL);
    }
    *result = NULL; /* nil */
    return 0;
}

/* fail(message): raises the application exception echo.Failure. */
static int echo_fail(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)result;
    const char *msg;
    size_t len;
    if (roc_value_get_str(roc_value_at(args, 0), &msg, &len) != 0)
        return roc_call_error(call, ROC_EBADARGS,
                              "fail: expected a string message");
    return roc_call_raise(call, "echo.Failure", NULL, "%s", msg);
}

static const roc_method echo_methods[] = {
    {"echo", echo_echo, 1, 0, "any x", "any"},
    {"add", echo_add, 2, 0, "number a, number b", "number"},
    {"sleep", echo_sleep, 1, ROC_METHOD_BLOCKING, "i64 ms", "void"},
    {"fail", echo_fail, 1, 0, "string message", "void"},
};

int main(int argc, char **argv)
{
    roc_daemon_opts opts;
    roc_daemon_opts_init(&opts);
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--key-file") == 0 ? &opts.key_file
                            : strcmp(a, "--tls-cert") == 0
                                ? &opts.tls.cert_key_file
                            : strcmp(a, "--tls-ca") == 0 ? &opts.tls.ca_file
                                                         : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (a[0] != '-' && !url) {
            url = a;
        } else {
            url = NULL;
            break;
        }
    }
    if (!url) {
        fprintf(stderr,
                "usage: %s [--key-file F] [--tls-cert F] [--tls-ca F] URL   "
                "(e.g. tcp://127.0.0.1:9100)\n",
                argv[0]);
        return 2;
    }

    /* Block the stop signals before any thread exists, so that every thread
     * the runtime starts inherits the mask and only sigwait below sees
     * them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    int rv = roc_daemon_open(&d, url, &opts, &err);
    if (rv != 0) {
        fprintf(stderr, "echo-server: cannot listen on %s: %s\n", url,
                err.message ? err.message : roc_strerror(rv));
        roc_error_clear(&err);
        return 1;
    }

    const roc_servant servant = {
        .iface = "echo.Echo",
        .methods = echo_methods,
        .n_methods = sizeof echo_methods / sizeof echo_methods[0],
        .mode = ROC_INSTANCE_SINGLE,
    };
    char *uri = NULL;
    if ((rv = roc_daemon_register(d, "echo", &servant, &uri)) != 0 ||
        (rv = roc_daemon_start(d)) != 0) {
        fprintf(stderr, "echo-server: %s\n", roc_strerror(rv));
        free(uri);
        roc_daemon_close(d);
        return 1;
    }
    printf("%s\n", uri);
    fflush(stdout);
    free(uri);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    roc_daemon_shutdown(d);
    roc_daemon_close(d);
    return 0;
}
