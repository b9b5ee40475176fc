/* Serves a generated Greeter and calls it through the generated stub, over
 * inproc, against the installed library. Prints "hello, installed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "hello.roc.h"

static int greet(void *self, roc_call *call, const char *who, const char **ret)
{
    (void)self;
    char buf[128];
    snprintf(buf, sizeof buf, "hello, %s", who);
    *ret = roc_arena_strdup(roc_call_arena(call), buf);
    return 0;
}

int main(void)
{
    static const hello_Greeter_ops ops = {.greet = greet};
    static hello_Greeter_impl impl = {&ops, NULL, 0};
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    char *uri = NULL;
    roc_servant sv = hello_Greeter_servant(&impl);
    if (roc_daemon_open(&d, "inproc://consumer", NULL, &err) ||
        roc_daemon_register(d, "greeter", &sv, &uri) || roc_daemon_start(d)) {
        fprintf(stderr, "daemon: %s\n", err.message ? err.message : "?");
        return 1;
    }
    hello_Greeter *g = NULL;
    roc_arena *a = NULL;
    roc_arena_new(&a);
    const char *out = NULL;
    int rc = hello_Greeter_open(&g, uri, &err);
    if (rc == 0)
        rc = hello_Greeter_greet(g, "installed", &out, a, &err);
    if (rc) {
        fprintf(stderr, "call: %s\n", err.message ? err.message : "?");
        return 1;
    }
    printf("%s\n", out);
    hello_Greeter_close(g);
    roc_arena_free(a);
    roc_daemon_close(d);
    roc_error_clear(&err);
    free(uri);
    return 0;
}
