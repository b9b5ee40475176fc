/* cb-peer: the C side of the Python callback tests.
 *
 *   cb-peer serve URL         serves "cbtest" and prints its URI:
 *       invoke(ref, method, args) -> ref.method(*args), called back over the
 *                                    connection the reference came on
 *   cb-peer call URI METHOD   exports a C object (twice(x) -> 2x,
 *                             hello(name) -> "hello <name>") and calls
 *                             URI.METHOD(ref, 21); prints the result as JSON
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

static int pass_error(roc_call *call, int rv, const roc_error *err)
{
    const char *msg = err->message ? err->message : roc_strerror(rv);
    if (err->wire_code == 100 && err->type)
        return roc_call_raise(call, err->type, err->data, "%s", msg);
    return roc_call_error(call, rv, "%s", msg);
}

static int cb_invoke(roc_call *call, const roc_value *args, roc_value **result)
{
    const char *method;
    size_t len;
    const roc_value *ref = roc_value_at(args, 0);
    const roc_value *cargs = roc_value_at(args, 2);
    if (roc_value_get_str(roc_value_at(args, 1), &method, &len) != 0 ||
        cargs->type != ROC_ARRAY)
        return roc_call_error(call, ROC_EBADARGS,
                              "invoke(ref, method, args): bad arguments");
    roc_error err = ROC_ERROR_INIT;
    roc_proxy *p = NULL;
    int rv = roc_proxy_open_ref(&p, ref, &err);
    if (rv == 0) {
        rv = roc_proxy_call(p, method, cargs, result, roc_call_arena(call),
                            &err);
        roc_proxy_close(p);
    }
    if (rv != 0)
        rv = pass_error(call, rv, &err);
    roc_error_clear(&err);
    return rv;
}

static const roc_method cb_methods[] = {
    {"invoke", cb_invoke, 3, ROC_METHOD_BLOCKING, "ref obj, string method, list<any> args",
     "any"},
};

static int local_twice(roc_call *call, const roc_value *args, roc_value **result)
{
    int64_t x;
    if (roc_value_get_int(roc_value_at(args, 0), &x) != 0)
        return roc_call_error(call, ROC_EBADARGS, "twice: expected an integer");
    *result = roc_value_int(roc_call_arena(call), 2 * x);
    return *result ? 0 : ROC_ENOMEM;
}

static int local_hello(roc_call *call, const roc_value *args, roc_value **result)
{
    const char *s;
    size_t len;
    if (roc_value_get_str(roc_value_at(args, 0), &s, &len) != 0)
        return roc_call_error(call, ROC_EBADARGS, "hello: expected a string");
    char buf[300];
    snprintf(buf, sizeof buf, "hello %.*s", (int)(len > 200 ? 200 : len), s);
    *result = roc_value_str(roc_call_arena(call), buf);
    return *result ? 0 : ROC_ENOMEM;
}

static const roc_method local_methods[] = {
    {"twice", local_twice, 1, 0, "i64 x", "i64"},
    {"hello", local_hello, 1, 0, "string name", "string"},
};

static int serve(const char *url)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    char *uri = NULL;
    const roc_servant sv = {.iface = "test.CallbackTest",
                            .methods = cb_methods,
                            .n_methods = 1,
                            .mode = ROC_INSTANCE_SINGLE};
    if (roc_daemon_open(&d, url, NULL, &err) != 0 ||
        roc_daemon_register(d, "cbtest", &sv, &uri) != 0 ||
        roc_daemon_start(d) != 0) {
        fprintf(stderr, "cb-peer: %s\n", err.message ? err.message : "failed");
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

static int call(const char *uri, const char *method)
{
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    roc_export *e = NULL;
    roc_proxy *p = NULL;
    roc_value *result = NULL;
    const roc_servant sv = {.iface = "test.Local",
                            .methods = local_methods,
                            .n_methods = 2,
                            .mode = ROC_INSTANCE_SINGLE};
    int rv = roc_arena_new(&a);
    if (rv == 0)
        rv = roc_export_new(&e, &sv, &err);
    if (rv == 0)
        rv = roc_proxy_open(&p, uri, &err);
    if (rv == 0) {
        roc_value *args = roc_value_arrayv(a, 2, roc_value_export(a, e),
                                           roc_value_int(a, 21));
        rv = args ? roc_proxy_call(p, method, args, &result, a, &err)
                  : ROC_ENOMEM;
    }
    if (rv == 0) {
        char *json = NULL;
        if (result == NULL)
            printf("null\n");
        else if (roc_value_to_json(result, 0, &json, &err) == 0)
            printf("%s\n", json);
        free(json);
    } else {
        fprintf(stderr, "error: %s: %s\n", err.type ? err.type : roc_strerror(rv),
                err.message ? err.message : roc_strerror(rv));
    }
    roc_proxy_close(p);
    roc_export_free(e);
    roc_arena_free(a);
    roc_error_clear(&err);
    return rv == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    if (argc == 4 && strcmp(argv[1], "call") == 0)
        return call(argv[2], argv[3]);
    fprintf(stderr, "usage: %s serve URL | call URI METHOD\n", argv[0]);
    return 2;
}
