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

static int mem_put(ns_store *s, const ns_entry *e, roc_error *err)
{
    (void)s, (void)e, (void)err;
    return 0;
}

static int mem_del(ns_store *s, char *const *names, size_t n, roc_error *err)
{
    (void)s, (void)names, (void)n, (void)err;
    return 0;
}

static void mem_close(ns_store *s)
{
    if (s) {
        free(s->where);
        free(s);
    }
}

static const ns_store_ops mem_ops = {"memory", mem_load, mem_put, mem_del,
                                     mem_close};

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
