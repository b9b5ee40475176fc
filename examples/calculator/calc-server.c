/* calc-server [--name NAME] [URL]: serves a demo.Calculator as object
 * "calc" (default URL tcp://127.0.0.1:0), prints its URI on stdout, runs
 * until SIGINT or SIGTERM.
 *
 * --name NAME also registers it under NAME with the name server (ROC_NS,
 * else one found on the LAN, else tcp://127.0.0.1:9090) under a 10 s lease:
 * clients then open "ROCNAME:NAME"; the name goes when the server exits,
 * or within about 10 s when it dies. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const char *url = "tcp://127.0.0.1:0";
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: calc-server [--name NAME] [URL]\n");
            return 2;
        } else {
            url = argv[i];
        }
    }
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
        roc_daemon_start(d) != 0 ||
        /* a restart within the lease's TTL finds its old name: replace it */
        (name && roc_daemon_register_name(d, name, "calc", NULL, 0,
                                          ROC_NS_REPLACE, &err) != 0)) {
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
