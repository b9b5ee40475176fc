/* roc_value: constructors, setters, accessors, deep equality and copy.
 *
 * A value never owns memory: everything a constructor makes lives in the
 * arena it was given. The JSON printer and parser are in json.c.
 */
#include <stdarg.h>
#include <string.h>

#include "roc/value.h"

static roc_value *new_value(roc_arena *a, roc_type t)
{
    roc_value *v = roc_arena_alloc(a, sizeof *v);
    if (!v)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

roc_value *roc_value_nil(roc_arena *a)
{
    return new_value(a, ROC_NIL);
}

roc_value *roc_value_bool(roc_arena *a, bool b)
{
    roc_value *v = new_value(a, ROC_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

roc_value *roc_value_int(roc_arena *a, int64_t i)
{
    roc_value *v = new_value(a, ROC_INT);
    if (v)
        v->u.i = i;
    return v;
}

roc_value *roc_value_uint(roc_arena *a, uint64_t u)
{
    roc_value *v = new_value(a, ROC_UINT);
    if (v)
        v->u.u = u;
    return v;
}

roc_value *roc_value_float(roc_arena *a, double f)
{
    roc_value *v = new_value(a, ROC_FLOAT);
    if (v)
        v->u.f = f;
    return v;
}

/* s may be NULL only when len is 0 (an empty string). */
roc_value *roc_value_strn(roc_arena *a, const char *s, size_t len)
{
    if (!s && len)
        return NULL;
    roc_value *v = new_value(a, ROC_STR);
    if (!v)
        return NULL;
    char *p = roc_arena_strndup(a, s ? s : "", len);
    if (!p)
        return NULL;
    v->u.str.ptr = p;
    v->u.str.len = len;
    return v;
}

roc_value *roc_value_str(roc_arena *a, const char *s)
{
    return s ? roc_value_strn(a, s, strlen(s)) : NULL;
}

roc_value *roc_value_bin(roc_arena *a, const void *p, size_t len)
{
    if (!p && len)
        return NULL;
    roc_value *v = new_value(a, ROC_BIN);
    if (!v)
        return NULL;
    /* Always a valid pointer, even for zero bytes. */
    uint8_t *d = roc_arena_alloc(a, len);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, p, len);
    v->u.bin.ptr = d;
    v->u.bin.len = len;
    return v;
}

roc_value *roc_value_bin_ref(roc_arena *a, const void *p, size_t len)
{
    if (!p && len)
        return NULL;
    roc_value *v = new_value(a, ROC_BIN);
    if (!v)
        return NULL;
    static const uint8_t empty[1];
    v->u.bin.ptr = p ? p : empty;
    v->u.bin.len = len;
    return v;
}

roc_value *roc_value_array(roc_arena *a, size_t n)
{
    roc_value *v = new_value(a, ROC_ARRAY);
    if (!v)
        return NULL;
    /* All-zero bytes are ROC_NIL values. */
    roc_value *items = roc_arena_calloc(a, n, sizeof *items);
    if (!items)
        return NULL;
    v->u.array.items = items;
    v->u.array.len = n;
    return v;
}

roc_value *roc_value_map(roc_arena *a, size_t n)
{
    roc_value *v = new_value(a, ROC_MAP);
    if (!v)
        return NULL;
    roc_map_entry *e = roc_arena_calloc(a, n, sizeof *e);
    if (!e)
        return NULL;
    v->u.map.entries = e;
    v->u.map.len = n;
    return v;
}

/* A reference to a reachable object (kind ROC_REF_URI). The URI is copied
 * but not checked: roc_uri_parse does that where it matters. Callback
 * references (kind 2) are made by the connection layer, which sets kind and
 * priv_ on a value from this constructor. */
roc_value *roc_value_ref(roc_arena *a, const char *uri)
{
    if (!uri)
        return NULL;
    roc_value *v = new_value(a, ROC_REF);
    if (!v)
        return NULL;
    char *p = roc_arena_strdup(a, uri);
    if (!p)
        return NULL;
    v->u.ref.uri = p;
    v->u.ref.kind = ROC_REF_URI;
    v->u.ref.priv_ = NULL;
    return v;
}

roc_value *roc_value_arrayv(roc_arena *a, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    roc_value *arr = roc_value_array(a, n);
    for (size_t i = 0; i < n; i++) {
        const roc_value *item = va_arg(ap, const roc_value *);
        if (!item)
            arr = NULL; /* keep consuming arguments; the result is NULL */
        else if (arr)
            arr->u.array.items[i] = *item;
    }
    va_end(ap);
    return arr;
}

int roc_value_array_set(roc_value *arr, size_t i, const roc_value *v)
{
    if (!arr || !v || arr->type != ROC_ARRAY || i >= arr->u.array.len)
        return ROC_EINVAL;
    arr->u.array.items[i] = *v;
    return 0;
}

int roc_value_map_set(roc_value *map, size_t i, const roc_value *key,
                      const roc_value *val)
{
    if (!map || !key || !val || map->type != ROC_MAP || i >= map->u.map.len)
        return ROC_EINVAL;
    map->u.map.entries[i].key = *key;
    map->u.map.entries[i].val = *val;
    return 0;
}

/* ---- accessors ---- */

int roc_value_get_bool(const roc_value *v, bool *out)
{
    if (!v || !out || v->type != ROC_BOOL)
        return ROC_EINVAL;
    *out = v->u.b;
    return 0;
}

int roc_value_get_int(const roc_value *v, int64_t *out)
{
    if (!v || !out)
        return ROC_EINVAL;
    if (v->type == ROC_INT) {
        *out = v->u.i;
        return 0;
    }
    if (v->type == ROC_UINT && v->u.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->u.u;
        return 0;
    }
    return ROC_EINVAL;
}

int roc_value_get_uint(const roc_value *v, uint64_t *out)
{
    if (!v || !out)
        return ROC_EINVAL;
    if (v->type == ROC_UINT) {
        *out = v->u.u;
        return 0;
    }
    if (v->type == ROC_INT && v->u.i >= 0) {
        *out = (uint64_t)v->u.i;
        return 0;
    }
    return ROC_EINVAL;
}

/* Integers convert only when the double holds them exactly (the header's
 * "converts exactly"): 2^53 + 1 is refused rather than rounded. */
int roc_value_get_float(const roc_value *v, double *out)
{
    if (!v || !out)
        return ROC_EINVAL;
    switch (v->type) {
    case ROC_FLOAT:
        *out = v->u.f;
        return 0;
    case ROC_INT: {
        double d = (double)v->u.i;
        /* d may round up to 2^63, which does not fit int64_t. */
        if (d >= 9223372036854775808.0 || (int64_t)d != v->u.i)
            return ROC_EINVAL;
        *out = d;
        return 0;
    }
    case ROC_UINT: {
        double d = (double)v->u.u;
        if (d >= 18446744073709551616.0 || (uint64_t)d != v->u.u)
            return ROC_EINVAL;
        *out = d;
        return 0;
    }
    default:
        return ROC_EINVAL;
    }
}

int roc_value_get_str(const roc_value *v, const char **out, size_t *len)
{
    if (!v || !out || v->type != ROC_STR)
        return ROC_EINVAL;
    *out = v->u.str.ptr;
    if (len)
        *len = v->u.str.len;
    return 0;
}

int roc_value_get_bin(const roc_value *v, const uint8_t **out, size_t *len)
{
    if (!v || !out || v->type != ROC_BIN)
        return ROC_EINVAL;
    *out = v->u.bin.ptr;
    if (len)
        *len = v->u.bin.len;
    return 0;
}

size_t roc_value_len(const roc_value *v)
{
    if (!v)
        return 0;
    if (v->type == ROC_ARRAY)
        return v->u.array.len;
    if (v->type == ROC_MAP)
        return v->u.map.len;
    return 0;
}

const roc_value *roc_value_at(const roc_value *v, size_t i)
{
    if (!v || v->type != ROC_ARRAY || i >= v->u.array.len)
        return NULL;
    return &v->u.array.items[i];
}

const roc_value *roc_value_map_get(const roc_value *v, const char *key)
{
    if (!v || !key || v->type != ROC_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < v->u.map.len; i++) {
        const roc_value *k = &v->u.map.entries[i].key;
        if (k->type == ROC_STR && k->u.str.len == klen &&
            memcmp(k->u.str.ptr, key, klen) == 0)
            return &v->u.map.entries[i].val;
    }
    return NULL;
}

/* ---- equality ---- */

static bool is_integer(const roc_value *v)
{
    return v->type == ROC_INT || v->type == ROC_UINT;
}

/* Integers compare by numeric value whatever their tag. */
static bool int_equal(const roc_value *a, const roc_value *b)
{
    if (a->type == b->type)
        return a->type == ROC_INT ? a->u.i == b->u.i : a->u.u == b->u.u;
    const roc_value *s = a->type == ROC_INT ? a : b;
    const roc_value *u = a->type == ROC_INT ? b : a;
    return s->u.i >= 0 && (uint64_t)s->u.i == u->u.u;
}

static bool entry_equal(const roc_map_entry *x, const roc_map_entry *y)
{
    return roc_value_equal(&x->key, &y->key) &&
           roc_value_equal(&x->val, &y->val);
}

static size_t count_entry(const roc_value *m, const roc_map_entry *e)
{
    size_t n = 0;
    for (size_t i = 0; i < m->u.map.len; i++)
        if (entry_equal(&m->u.map.entries[i], e))
            n++;
    return n;
}

/* Maps are unordered (msgpack and JSON alike): equal when they hold the same
 * multiset of entries. The common case, same order, is linear; otherwise
 * each entry's multiplicity is compared in both maps (quadratic, but needs
 * no allocation). */
static bool map_equal(const roc_value *a, const roc_value *b)
{
    size_t n = a->u.map.len;
    if (n != b->u.map.len)
        return false;
    size_t i = 0;
    while (i < n && entry_equal(&a->u.map.entries[i], &b->u.map.entries[i]))
        i++;
    if (i == n)
        return true;
    for (; i < n; i++) {
        const roc_map_entry *e = &a->u.map.entries[i];
        if (count_entry(a, e) != count_entry(b, e))
            return false;
    }
    return true;
}

bool roc_value_equal(const roc_value *a, const roc_value *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    if (is_integer(a) && is_integer(b))
        return int_equal(a, b);
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case ROC_NIL:
        return true;
    case ROC_BOOL:
        return a->u.b == b->u.b;
    case ROC_FLOAT:
        return a->u.f == b->u.f || memcmp(&a->u.f, &b->u.f, sizeof a->u.f) == 0;
    case ROC_STR:
        return a->u.str.len == b->u.str.len &&
               (a->u.str.len == 0 ||
                memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0);
    case ROC_BIN:
        return a->u.bin.len == b->u.bin.len &&
               (a->u.bin.len == 0 ||
                memcmp(a->u.bin.ptr, b->u.bin.ptr, a->u.bin.len) == 0);
    case ROC_ARRAY:
        if (a->u.array.len != b->u.array.len)
            return false;
        for (size_t i = 0; i < a->u.array.len; i++)
            if (!roc_value_equal(&a->u.array.items[i], &b->u.array.items[i]))
                return false;
        return true;
    case ROC_MAP:
        return map_equal(a, b);
    case ROC_REF:
        /* priv_ is the private transport context, not part of the value. */
        return a->u.ref.kind == b->u.ref.kind && a->u.ref.uri && b->u.ref.uri &&
               strcmp(a->u.ref.uri, b->u.ref.uri) == 0;
    default:
        return false;
    }
}

/* ---- deep copy ---- */

/* Copies src into *dst (which lives in the arena already). */
static int copy_into(roc_arena *a, roc_value *dst, const roc_value *src)
{
    *dst = *src;
    switch (src->type) {
    case ROC_STR: {
        char *p = roc_arena_strndup(a, src->u.str.ptr ? src->u.str.ptr : "",
                                    src->u.str.len);
        if (!p)
            return ROC_ENOMEM;
        dst->u.str.ptr = p;
        return 0;
    }
    case ROC_BIN: {
        uint8_t *p = roc_arena_alloc(a, src->u.bin.len);
        if (!p)
            return ROC_ENOMEM;
        if (src->u.bin.len)
            memcpy(p, src->u.bin.ptr, src->u.bin.len);
        dst->u.bin.ptr = p;
        return 0;
    }
    case ROC_ARRAY: {
        size_t n = src->u.array.len;
        roc_value *items = roc_arena_calloc(a, n, sizeof *items);
        if (!items)
            return ROC_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (copy_into(a, &items[i], &src->u.array.items[i]))
                return ROC_ENOMEM;
        dst->u.array.items = items;
        return 0;
    }
    case ROC_MAP: {
        size_t n = src->u.map.len;
        roc_map_entry *e = roc_arena_calloc(a, n, sizeof *e);
        if (!e)
            return ROC_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (copy_into(a, &e[i].key, &src->u.map.entries[i].key) ||
                copy_into(a, &e[i].val, &src->u.map.entries[i].val))
                return ROC_ENOMEM;
        dst->u.map.entries = e;
        return 0;
    }
    case ROC_REF:
        if (src->u.ref.uri) {
            char *p = roc_arena_strdup(a, src->u.ref.uri);
            if (!p)
                return ROC_ENOMEM;
            dst->u.ref.uri = p;
        }
        return 0;
    default:
        return 0;
    }
}

roc_value *roc_value_copy(roc_arena *a, const roc_value *v)
{
    if (!v)
        return NULL;
    roc_value *out = roc_arena_alloc(a, sizeof *out);
    if (!out || copy_into(a, out, v))
        return NULL;
    return out;
}

const char *roc_type_name(roc_type t)
{
    switch (t) {
    case ROC_NIL:
        return "nil";
    case ROC_BOOL:
        return "bool";
    case ROC_INT:
        return "int";
    case ROC_UINT:
        return "uint";
    case ROC_FLOAT:
        return "float";
    case ROC_STR:
        return "str";
    case ROC_BIN:
        return "bin";
    case ROC_ARRAY:
        return "array";
    case ROC_MAP:
        return "map";
    case ROC_REF:
        return "ref";
    }
    return "unknown";
}
