/* warehouse-server [--name NAME] [URL]: serves a warehouse.Warehouse as
 * object "warehouse" (default URL tcp://127.0.0.1:0), prints its URI, runs
 * until SIGINT or SIGTERM.
 *
 * --name NAME also registers it under NAME with the name server (ROC_NS,
 * else one found on the LAN, else tcp://127.0.0.1:9090) under a 10 s lease:
 * clients then open "ROCNAME:NAME"; the name goes when the server exits,
 * or within about 10 s when it dies. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "warehouse.roc.h"

#define CAPACITY 8

typedef struct store {
    pthread_mutex_t mu;
    char *names[CAPACITY];
    int32_t weights[CAPACITY];
    int n;
} store;

static int get_capacity(void *self, roc_call *call, int32_t *ret)
{
    (void)self, (void)call;
    *ret = CAPACITY;
    return 0;
}

static int contents(void *self, roc_call *call, warehouse_ItemList *ret)
{
    store *s = self;
    roc_arena *a = roc_call_arena(call);
    pthread_mutex_lock(&s->mu);
    ret->items = roc_arena_calloc(a, (size_t)s->n + 1, sizeof *ret->items);
    ret->len = ret->items ? (size_t)s->n : 0;
    for (size_t i = 0; i < ret->len; i++) {
        /* copied into the call's arena: the reply is encoded after the
         * lock is released */
        ret->items[i].name = roc_arena_strdup(a, s->names[i]);
        ret->items[i].weight = s->weights[i];
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int store_item(void *self, roc_call *call, const char *visitor,
                      const warehouse_Item *item)
{
    store *s = self;
    pthread_mutex_lock(&s->mu);
    if (s->n == CAPACITY) {
        pthread_mutex_unlock(&s->mu);
        warehouse_Full ex = {CAPACITY};
        return warehouse_Full_raise(call, &ex, "the warehouse is full");
    }
    s->names[s->n] = strdup(item->name);
    s->weights[s->n] = item->weight;
    s->n++;
    pthread_mutex_unlock(&s->mu);
    printf("%s stored the %s\n", visitor, item->name);
    fflush(stdout);
    return 0;
}

static int take(void *self, roc_call *call, const char *visitor,
                const char *name, warehouse_Item *ret)
{
    store *s = self;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) != 0)
            continue;
        ret->name = roc_arena_strdup(roc_call_arena(call), s->names[i]);
        ret->weight = s->weights[i];
        free(s->names[i]);
        s->names[i] = s->names[s->n - 1];
        s->weights[i] = s->weights[s->n - 1];
        s->n--;
        pthread_mutex_unlock(&s->mu);
        printf("%s took the %s\n", visitor, name);
        fflush(stdout);
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    warehouse_NotInStock ex = {name};
    return warehouse_NotInStock_raise(call, &ex, "no %s here", name);
}

int main(int argc, char **argv)
{
    const char *url = "tcp://127.0.0.1:0";
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: warehouse-server [--name NAME] [URL]\n");
            return 2;
        } else {
            url = argv[i];
        }
    }
    static store st = {PTHREAD_MUTEX_INITIALIZER, {NULL}, {0}, 0};
    static const char *initial[] = {"chair", "bike", "flashlight"};
    for (int i = 0; i < 3; i++) {
        st.names[st.n] = strdup(initial[i]);
        st.weights[st.n++] = 3 + i;
    }
    static const warehouse_Warehouse_ops ops = {
        .get_capacity = get_capacity, .contents = contents,
        .store = store_item, .take = take};
    static warehouse_Warehouse_impl impl = {&ops, &st, 0};

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    char *uri = NULL;
    roc_servant s = warehouse_Warehouse_servant(&impl);
    if (roc_daemon_open(&d, url, NULL, &err) != 0 ||
        roc_daemon_register(d, "warehouse", &s, &uri) != 0 ||
        roc_daemon_start(d) != 0 ||
        /* a restart within the lease's TTL finds its old name: replace it */
        (name && roc_daemon_register_name(d, name, "warehouse", NULL, 0,
                                          ROC_NS_REPLACE, &err) != 0)) {
        fprintf(stderr, "warehouse-server: %s\n",
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
    for (int i = 0; i < st.n; i++)
        free(st.names[i]);
    return 0;
}
