/* The memory store: keeps nothing; the registry's view is all there is. */
#include <stdlib.h>
#include <string.h>

#include "store.h"

static int mem_load(ns_store *s, int (*fn)(void *, const ns_entry *), void *arg,
                    roc_error *err)
{
    (void)s, (void)fn, (void)arg, (void)err;
    return 0;
}

static int mem_put(ns_store *s, ns_entry *e, uint64_t expect, ns_entry **cur,
                   roc_error *err)
{
    (void)s, (void)e, (void)expect, (void)cur, (void)err;
    return 0;
}

static int mem_del(ns_store *s, char *const *names, size_t n, uint64_t *rev,
                   roc_error *err)
{
    (void)s, (void)names, (void)n, (void)rev, (void)err;
    return 0;
}

static void mem_close(ns_store *s)
{
    if (s) {
        free(s->where);
        free(s);
    }
}

static const ns_store_ops mem_ops = {.kind = "memory",
                                     .load = mem_load,
                                     .put = mem_put,
                                     .del = mem_del,
                                     .close = mem_close};

int ns_store_memory_open(ns_store **out, roc_error *err)
{
    ns_store *s = calloc(1, sizeof *s);
    if (!s || !(s->where = strdup("memory"))) {
        free(s);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    s->ops = &mem_ops;
    *out = s;
    return 0;
}

int ns_store_open(ns_store **out, const char *url, roc_error *err)
{
    if (!url || strcmp(url, "memory") == 0 || strcmp(url, "memory:") == 0)
        return ns_store_memory_open(out, err);
    if (strncmp(url, "sqlite:", 7) == 0 && url[7])
        return ns_store_sqlite_open(out, url + 7, err);
    if (strncmp(url, "etcd://", 7) == 0)
        return ns_store_etcd_open(out, url + 7, err);
    return roc_error_set(err, ROC_EBADARGS,
                         "unknown store '%s' (memory, sqlite:FILE or "
                         "etcd://host:port,...[/prefix])",
                         url);
}
