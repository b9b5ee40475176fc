/* roc_arena: a bump allocator made of blocks. The first block is kept by
 * roc_arena_reset so that a reused arena causes no heap traffic. */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "roc/value.h"

#define ARENA_FIRST 4096u
#define ARENA_ALIGN alignof(max_align_t)

typedef struct block {
    struct block *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} block;

typedef struct foreign {
    struct foreign *next;
    void *p;
} foreign;

struct roc_arena {
    block *head;  /* current block (allocation happens here) */
    block *first; /* kept across resets */
    size_t total;
    foreign *adopted; /* malloc'd memory handed to the arena */
};

/* Internal (roci.h): the arena takes ownership of p (from malloc) and frees
 * it on reset or free. Lets a decoder point into a received buffer instead
 * of copying it. */
int roci_arena_adopt(roc_arena *a, void *p);
int roci_arena_adopt(roc_arena *a, void *p)
{
    foreign *f = roc_arena_alloc(a, sizeof *f);
    if (!f)
        return ROC_ENOMEM;
    f->p = p;
    f->next = a->adopted;
    a->adopted = f;
    return 0;
}

static void free_adopted(roc_arena *a)
{
    for (foreign *f = a->adopted; f; f = f->next)
        free(f->p);
    a->adopted = NULL;
}

int roc_arena_new(roc_arena **out)
{
    if (!out)
        return ROC_EINVAL;
    roc_arena *a = calloc(1, sizeof *a);
    if (!a)
        return ROC_ENOMEM;
    *out = a;
    return 0;
}

static void free_chain(block *b, block *keep)
{
    while (b) {
        block *n = b->next;
        if (b != keep)
            free(b);
        b = n;
    }
}

void roc_arena_free(roc_arena *a)
{
    if (!a)
        return;
    free_adopted(a);
    free_chain(a->head, NULL);
    free(a);
}

void roc_arena_reset(roc_arena *a)
{
    if (!a)
        return;
    free_adopted(a);
    free_chain(a->head, a->first);
    if (a->first) {
        a->first->next = NULL;
        a->first->used = 0;
        a->total = a->first->cap;
    } else {
        a->total = 0;
    }
    a->head = a->first;
}

size_t roc_arena_size(const roc_arena *a)
{
    return a ? a->total : 0;
}

void *roc_arena_alloc(roc_arena *a, size_t n)
{
    if (!a)
        return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        return NULL; /* overflow */
    if (need == 0)
        need = ARENA_ALIGN;
    block *b = a->head;
    if (b && b->cap - b->used >= need) {
        void *p = b->data + b->used;
        b->used += need;
        return p;
    }
    /* New block: big allocations get a block of their own, sized exactly;
     * small ones get a block that doubles the arena, up to 1 MiB. */
    size_t cap = a->total ? a->total : ARENA_FIRST;
    if (cap > (1u << 20))
        cap = 1u << 20;
    if (cap < need)
        cap = need;
    if (cap > SIZE_MAX - sizeof(block))
        return NULL;
    block *nb = malloc(sizeof(block) + cap);
    if (!nb)
        return NULL;
    nb->cap = cap;
    nb->used = need;
    a->total += cap;
    if (!a->first) {
        a->first = nb;
        nb->next = NULL;
        a->head = nb;
    } else if (b && need > cap / 2 && b->cap - b->used > ARENA_FIRST / 4) {
        /* A big one-off block: link it behind the head so that the head's
         * free room stays in use. */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb->data;
}

void *roc_arena_calloc(roc_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = roc_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *roc_arena_strndup(roc_arena *a, const char *s, size_t n)
{
    if (!s || n == SIZE_MAX)
        return NULL;
    char *p = roc_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *roc_arena_strdup(roc_arena *a, const char *s)
{
    return s ? roc_arena_strndup(a, s, strlen(s)) : NULL;
}
