/* warehouse-client URI: two visitors, Janet and Henry, store and take items
 * (the classic Pyro warehouse walk-through), with the generated API. */
#include <stdio.h>
#include <string.h>

#include <roc/roc.h>

#include "warehouse.roc.h"

static int show(warehouse_Warehouse *w, roc_arena *a, roc_error *err)
{
    warehouse_ItemList items;
    int rc = warehouse_Warehouse_contents(w, &items, a, err);
    if (rc != 0)
        return rc;
    printf("The warehouse contains:");
    for (size_t i = 0; i < items.len; i++)
        printf(" %s(%dkg)", items.items[i].name, items.items[i].weight);
    printf("\n");
    return 0;
}

static int visit(warehouse_Warehouse *w, const char *who, const char *want,
                 const char *bring, roc_arena *a, roc_error *err)
{
    printf("This is %s.\n", who);
    int rc = show(w, a, err);
    warehouse_Item got;
    if (rc == 0) {
        rc = warehouse_Warehouse_take(w, who, want, &got, a, err);
        warehouse_NotInStock nis;
        if (rc == ROC_EREMOTE && warehouse_NotInStock_catch(err, &nis, a) == 0) {
            printf("%s wanted the %s, but: %s\n", who, nis.item, err->message);
            rc = 0;
        } else if (rc == 0) {
            printf("%s took the %s (%d kg).\n", who, got.name, got.weight);
        }
    }
    if (rc == 0) {
        const char *tags[] = {"gift"};
        warehouse_Item item = {bring, 2, {tags, 1}};
        rc = warehouse_Warehouse_store(w, who, &item, err);
        if (rc == 0)
            printf("%s stored the %s.\n", who, bring);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: warehouse-client URI\n");
        return 2;
    }
    roc_error err = ROC_ERROR_INIT;
    roc_arena *a = NULL;
    warehouse_Warehouse *w = NULL;
    int32_t cap = 0;
    int rc = roc_arena_new(&a);
    if (rc == 0)
        rc = warehouse_Warehouse_open(&w, argv[1], &err);
    if (rc == 0)
        rc = warehouse_Warehouse_get_capacity(w, &cap, NULL, &err);
    if (rc == 0) {
        printf("Capacity: %d items.\n", cap);
        rc = visit(w, "Janet", "bike", "sweater", a, &err);
    }
    if (rc == 0)
        rc = visit(w, "Henry", "unicorn", "football", a, &err);
    if (rc == 0)
        rc = show(w, a, &err);
    if (rc != 0)
        fprintf(stderr, "warehouse-client: %s\n",
                err.message ? err.message : roc_strerror(rc));
    warehouse_Warehouse_close(w);
    roc_arena_free(a);
    roc_error_clear(&err);
    return rc == 0 ? 0 : 1;
}
