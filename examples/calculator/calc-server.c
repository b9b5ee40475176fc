/* calc-server [URL]: serves a demo.Calculator as object "calc" (default
 * URL tcp://127.0.0.1:0), prints its URI on stdout, runs until SIGINT or
 * SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <roc/roc.h>

#include "calc.roc.h"

static int add(void *self, roc_call *call, int64_t a, int64_t b, int64_t *ret)
{
    (void)self, (void)call;
    *ret = a + b;
    return 0;
}

static int multiply(void *self, roc_call *call, int64_t a, int64_t b,
                    int64_t *ret)
{
    (void)self, (void)call;
    *ret = a * b;
    return 0;
}

static int divide(void *self, roc_call *call, double a, double b, double *ret)
{
    (void)self;
    if (b == 0) {
        demo_DivideByZero ex = {a};
        return demo_DivideByZero_raise(call, &ex, "%g / 0", a);
    }
    *ret = a / b;
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:0";
    static const demo_Calculator_ops ops = {
        .add = add, .multiply = multiply, .divide = divide};
    static demo_Calculator_impl impl = {&ops, NULL, 0};

    /* signals are taken by sigwait below, not by a handler */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    char *uri = NULL;
    roc_servant s = demo_Calculator_servant(&impl);
    if (roc_daemon_open(&d, url, NULL, &err) != 0 ||
        roc_daemon_register(d, "calc", &s, &uri) != 0 ||
        roc_daemon_start(d) != 0) {
        fprintf(stderr, "calc-server: %s\n",
                err.message ? err.message : "cannot serve");
        roc_daemon_close(d);
        return 1;
    }
    printf("%s\n", uri);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    roc_daemon_close(d);
    free(uri);
    return 0;
}
