/* Support for rocgen's generated code: the descriptor walker that converts
 * typed C data to and from roc_value trees, and the generic bodies of the
 * generated stubs and skeleton handlers (see roc/gen.h). Only the public
 * API is used here, as generated code would. */
#include "roc/gen.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE(id, kind, text, ctype)                                            \
    ROC_API const roc_gen_type roc_gen_t_##id = {                              \
        kind, text, sizeof(ctype), NULL, NULL, NULL, 0, NULL, NULL, 0}
BASE(bool, ROC_GEN_BOOL, "bool", bool);
BASE(i8, ROC_GEN_I8, "i8", int8_t);
BASE(i16, ROC_GEN_I16, "i16", int16_t);
BASE(i32, ROC_GEN_I32, "i32", int32_t);
BASE(i64, ROC_GEN_I64, "i64", int64_t);
BASE(u8, ROC_GEN_U8, "u8", uint8_t);
BASE(u16, ROC_GEN_U16, "u16", uint16_t);
BASE(u32, ROC_GEN_U32, "u32", uint32_t);
BASE(u64, ROC_GEN_U64, "u64", uint64_t);
BASE(f32, ROC_GEN_F32, "f32", float);
BASE(f64, ROC_GEN_F64, "f64", double);
BASE(string, ROC_GEN_STRING, "string", const char *);
BASE(bytes, ROC_GEN_BYTES, "bytes", roc_bytes);
BASE(any, ROC_GEN_ANY, "any", roc_value *);

/* Every generated list and map has these layouts (pointers first). */
typedef struct gen_list {
    void *items;
    size_t len;
} gen_list;
typedef struct gen_map {
    void *keys;
    void *values;
    size_t len;
} gen_map;

#define WHY_LEN 256

static int why_set(char *why, const char *fmt, ...) ROC_PRINTF(2, 3);
static int why_set(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_LEN, fmt, ap);
    va_end(ap);
    return ROC_EBADARGS;
}

/* Prefixes the message in why with a place ("field 'x': "). */
static void why_prefix(char *why, const char *fmt, ...) ROC_PRINTF(2, 3);
static void why_prefix(char *why, const char *fmt, ...)
{
    char out[WHY_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    size_t p = n < 0 ? 0 : (size_t)n >= WHY_LEN ? WHY_LEN - 1 : (size_t)n;
    size_t rest = strnlen(why, WHY_LEN);
    if (rest > WHY_LEN - 1 - p)
        rest = WHY_LEN - 1 - p;
    memcpy(out + p, why, rest);
    out[p + rest] = '\0';
    memcpy(why, out, p + rest + 1);
}

static int64_t read_int(const void *p, size_t size)
{
    switch (size) {
    case 1: { int8_t v; memcpy(&v, p, 1); return v; }
    case 2: { int16_t v; memcpy(&v, p, 2); return v; }
    case 4: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}

static uint64_t read_uint(const void *p, size_t size)
{
    switch (size) {
    case 1: { uint8_t v; memcpy(&v, p, 1); return v; }
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void write_int(void *p, size_t size, int64_t x)
{
    switch (size) {
    case 1: { int8_t v = (int8_t)x; memcpy(p, &v, 1); break; }
    case 2: { int16_t v = (int16_t)x; memcpy(p, &v, 2); break; }
    case 4: { int32_t v = (int32_t)x; memcpy(p, &v, 4); break; }
    default: memcpy(p, &x, 8); break;
    }
}

static void write_uint(void *p, size_t size, uint64_t x)
{
    switch (size) {
    case 1: { uint8_t v = (uint8_t)x; memcpy(p, &v, 1); break; }
    case 2: { uint16_t v = (uint16_t)x; memcpy(p, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)x; memcpy(p, &v, 4); break; }
    default: memcpy(p, &x, 8); break;
    }
}

static void *read_ptr(const void *p)
{
    void *v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void write_ptr(void *p, const void *v)
{
    memcpy(p, &v, sizeof v);
}

/* ---- encode ---- */

static int enc(roc_arena *a, const roc_gen_type *t, const void *src,
               bool copy, roc_value *out, char *why)
{
    memset(out, 0, sizeof *out);
    switch (t->kind) {
    case ROC_GEN_BOOL: {
        bool b;
        memcpy(&b, src, sizeof b);
        out->type = ROC_BOOL;
        out->u.b = b;
        return 0;
    }
    case ROC_GEN_I8:
    case ROC_GEN_I16:
    case ROC_GEN_I32:
    case ROC_GEN_I64:
        out->type = ROC_INT;
        out->u.i = read_int(src, t->size);
        return 0;
    case ROC_GEN_U8:
    case ROC_GEN_U16:
    case ROC_GEN_U32:
    case ROC_GEN_U64: {
        uint64_t u = read_uint(src, t->size);
        if (u <= INT64_MAX) {
            out->type = ROC_INT;
            out->u.i = (int64_t)u;
        } else {
            out->type = ROC_UINT;
            out->u.u = u;
        }
        return 0;
    }
    case ROC_GEN_F32: {
        float f;
        memcpy(&f, src, sizeof f);
        out->type = ROC_FLOAT;
        out->u.f = f;
        return 0;
    }
    case ROC_GEN_F64:
        out->type = ROC_FLOAT;
        memcpy(&out->u.f, src, sizeof(double));
        return 0;
    case ROC_GEN_STRING: {
        const char *s = read_ptr(src);
        if (!s)
            s = "";
        size_t n = strlen(s);
        if (copy && !(s = roc_arena_strndup(a, s, n)))
            return ROC_ENOMEM;
        out->type = ROC_STR;
        out->u.str.ptr = s;
        out->u.str.len = n;
        return 0;
    }
    case ROC_GEN_BYTES: {
        roc_bytes b;
        memcpy(&b, src, sizeof b);
        if (!b.data && b.len)
            return why_set(why, "bytes with NULL data and length %zu", b.len);
        const uint8_t *p = b.data ? b.data : (const uint8_t *)"";
        if (copy && b.len) {
            uint8_t *c = roc_arena_alloc(a, b.len);
            if (!c)
                return ROC_ENOMEM;
            memcpy(c, b.data, b.len);
            p = c;
        }
        out->type = ROC_BIN;
        out->u.bin.ptr = p;
        out->u.bin.len = b.len;
        return 0;
    }
    case ROC_GEN_ANY: {
        const roc_value *v = read_ptr(src);
        if (!v) {
            out->type = ROC_NIL;
            return 0;
        }
        if (copy) {
            roc_value *c = roc_value_copy(a, v);
            if (!c)
                return ROC_ENOMEM;
            *out = *c;
        } else {
            *out = *v;
        }
        return 0;
    }
    case ROC_GEN_LIST: {
        gen_list l;
        memcpy(&l, src, sizeof l);
        if (!l.items && l.len)
            return why_set(why, "list with NULL items and length %zu", l.len);
        roc_value *items = roc_arena_calloc(a, l.len ? l.len : 1,
                                            sizeof *items);
        if (!items)
            return ROC_ENOMEM;
        for (size_t i = 0; i < l.len; i++) {
            int rc = enc(a, t->elem, (const char *)l.items + i * t->elem->size,
                         copy, &items[i], why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "element %zu: ", i);
                return rc;
            }
        }
        out->type = ROC_ARRAY;
        out->u.array.items = items;
        out->u.array.len = l.len;
        return 0;
    }
    case ROC_GEN_MAP: {
        gen_map m;
        memcpy(&m, src, sizeof m);
        if ((!m.keys || !m.values) && m.len)
            return why_set(why, "map with NULL arrays and length %zu", m.len);
        roc_map_entry *e = roc_arena_calloc(a, m.len ? m.len : 1, sizeof *e);
        if (!e)
            return ROC_ENOMEM;
        for (size_t i = 0; i < m.len; i++) {
            int rc = enc(a, t->key, (const char *)m.keys + i * t->key->size,
                         copy, &e[i].key, why);
            if (!rc)
                rc = enc(a, t->elem,
                         (const char *)m.values + i * t->elem->size, copy,
                         &e[i].val, why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "entry %zu: ", i);
                return rc;
            }
        }
        out->type = ROC_MAP;
        out->u.map.entries = e;
        out->u.map.len = m.len;
        return 0;
    }
    case ROC_GEN_OPTIONAL: {
        const void *p = read_ptr(src);
        if (!p) {
            out->type = ROC_NIL;
            return 0;
        }
        return enc(a, t->elem, p, copy, out, why);
    }
    case ROC_GEN_ENUM:
        out->type = ROC_INT;
        out->u.i = read_int(src, t->size);
        return 0;
    case ROC_GEN_STRUCT: {
        roc_value *items = roc_arena_calloc(a, t->n_fields ? t->n_fields : 1,
                                            sizeof *items);
        if (!items)
            return ROC_ENOMEM;
        for (size_t i = 0; i < t->n_fields; i++) {
            const roc_gen_field *f = &t->fields[i];
            int rc = enc(a, f->type, (const char *)src + f->offset, copy,
                         &items[i], why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "field '%s': ", f->name);
                return rc;
            }
        }
        out->type = ROC_ARRAY;
        out->u.array.items = items;
        out->u.array.len = t->n_fields;
        return 0;
    }
    case ROC_GEN_IFACE: {
        roc_proxy *p = read_ptr(src);
        if (!p) {
            out->type = ROC_NIL;
            return 0;
        }
        roc_value *r = roc_proxy_ref_value(a, p);
        if (!r)
            return ROC_ENOMEM;
        *out = *r;
        return 0;
    }
    }
    return why_set(why, "unknown type kind %d", (int)t->kind);
}

int roc_gen_encode(roc_arena *a, const roc_gen_type *t, const void *src,
                   bool copy, roc_value **out, roc_error *err)
{
    char why[WHY_LEN] = "";
    roc_value *v = roc_arena_alloc(a, sizeof *v);
    if (!v)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    int rc = enc(a, t, src, copy, v, why);
    if (rc == ROC_ENOMEM)
        return roc_error_set(err, rc, "out of memory");
    if (rc)
        return roc_error_set(err, ROC_EINVAL, "%s: %s", t->name, why);
    *out = v;
    return 0;
}

/* ---- decode ---- */

static int mismatch(char *why, const roc_gen_type *t, const roc_value *v)
{
    return why_set(why, "expected %s, got %s", t->name, roc_type_name(v->type));
}

static int scope_add(roc_gen_scope *s, roc_proxy *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        roc_proxy **np = realloc(s->proxies, cap * sizeof *np);
        if (!np)
            return ROC_ENOMEM;
        s->proxies = np;
        s->cap = cap;
    }
    s->proxies[s->n++] = p;
    return 0;
}

static int dec(roc_arena *a, const roc_gen_type *t, const roc_value *v,
               void *dst, roc_gen_scope *scope, char *why)
{
    switch (t->kind) {
    case ROC_GEN_BOOL: {
        if (v->type != ROC_BOOL)
            return mismatch(why, t, v);
        bool b = v->u.b;
        memcpy(dst, &b, sizeof b);
        return 0;
    }
    case ROC_GEN_I8:
    case ROC_GEN_I16:
    case ROC_GEN_I32:
    case ROC_GEN_I64: {
        int64_t x;
        if ((v->type != ROC_INT && v->type != ROC_UINT) ||
            roc_value_get_int(v, &x) != 0)
            return mismatch(why, t, v);
        int64_t lo = t->size == 1 ? INT8_MIN
                     : t->size == 2 ? INT16_MIN
                     : t->size == 4 ? INT32_MIN
                                    : INT64_MIN;
        int64_t hi = t->size == 1 ? INT8_MAX
                     : t->size == 2 ? INT16_MAX
                     : t->size == 4 ? INT32_MAX
                                    : INT64_MAX;
        if (x < lo || x > hi)
            return why_set(why, "expected %s, got %lld (out of range)",
                           t->name, (long long)x);
        write_int(dst, t->size, x);
        return 0;
    }
    case ROC_GEN_U8:
    case ROC_GEN_U16:
    case ROC_GEN_U32:
    case ROC_GEN_U64: {
        uint64_t x;
        if (v->type != ROC_INT && v->type != ROC_UINT)
            return mismatch(why, t, v);
        if (roc_value_get_uint(v, &x) != 0)
            return why_set(why, "expected %s, got a negative int", t->name);
        uint64_t hi = t->size == 1 ? UINT8_MAX
                      : t->size == 2 ? UINT16_MAX
                      : t->size == 4 ? UINT32_MAX
                                     : UINT64_MAX;
        if (x > hi)
            return why_set(why, "expected %s, got %llu (out of range)",
                           t->name, (unsigned long long)x);
        write_uint(dst, t->size, x);
        return 0;
    }
    case ROC_GEN_F32:
    case ROC_GEN_F64: {
        double d;
        if ((v->type != ROC_FLOAT && v->type != ROC_INT &&
             v->type != ROC_UINT) ||
            roc_value_get_float(v, &d) != 0)
            return mismatch(why, t, v);
        if (t->kind == ROC_GEN_F32) {
            if (isfinite(d) && fabs(d) > FLT_MAX)
                return why_set(why, "expected f32, got %g (out of range)", d);
            float f = (float)d;
            memcpy(dst, &f, sizeof f);
        } else {
            memcpy(dst, &d, sizeof d);
        }
        return 0;
    }
    case ROC_GEN_STRING:
        if (v->type != ROC_STR)
            return mismatch(why, t, v);
        write_ptr(dst, v->u.str.ptr);
        return 0;
    case ROC_GEN_BYTES: {
        if (v->type != ROC_BIN)
            return mismatch(why, t, v);
        roc_bytes b = {v->u.bin.ptr, v->u.bin.len};
        memcpy(dst, &b, sizeof b);
        return 0;
    }
    case ROC_GEN_ANY:
        write_ptr(dst, v);
        return 0;
    case ROC_GEN_LIST: {
        if (v->type != ROC_ARRAY)
            return mismatch(why, t, v);
        gen_list l = {NULL, v->u.array.len};
        if (l.len) {
            l.items = roc_arena_calloc(a, l.len, t->elem->size);
            if (!l.items)
                return ROC_ENOMEM;
        }
        for (size_t i = 0; i < l.len; i++) {
            int rc = dec(a, t->elem, &v->u.array.items[i],
                         (char *)l.items + i * t->elem->size, scope, why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "element %zu: ", i);
                return rc;
            }
        }
        memcpy(dst, &l, sizeof l);
        return 0;
    }
    case ROC_GEN_MAP: {
        if (v->type != ROC_MAP)
            return mismatch(why, t, v);
        gen_map m = {NULL, NULL, v->u.map.len};
        if (m.len) {
            m.keys = roc_arena_calloc(a, m.len, t->key->size);
            m.values = roc_arena_calloc(a, m.len, t->elem->size);
            if (!m.keys || !m.values)
                return ROC_ENOMEM;
        }
        for (size_t i = 0; i < m.len; i++) {
            const roc_map_entry *e = &v->u.map.entries[i];
            int rc = dec(a, t->key, &e->key, (char *)m.keys + i * t->key->size,
                         scope, why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "key %zu: ", i);
                return rc;
            }
            rc = dec(a, t->elem, &e->val,
                     (char *)m.values + i * t->elem->size, scope, why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "value %zu: ", i);
                return rc;
            }
        }
        memcpy(dst, &m, sizeof m);
        return 0;
    }
    case ROC_GEN_OPTIONAL: {
        if (v->type == ROC_NIL) {
            write_ptr(dst, NULL);
            return 0;
        }
        void *p = roc_arena_calloc(a, 1, t->elem->size);
        if (!p)
            return ROC_ENOMEM;
        int rc = dec(a, t->elem, v, p, scope, why);
        if (rc)
            return rc;
        write_ptr(dst, p);
        return 0;
    }
    case ROC_GEN_ENUM: {
        int64_t x;
        if ((v->type != ROC_INT && v->type != ROC_UINT) ||
            roc_value_get_int(v, &x) != 0)
            return mismatch(why, t, v);
        for (size_t i = 0; i < t->n_values; i++)
            if (t->values[i] == x) {
                write_int(dst, t->size, x);
                return 0;
            }
        return why_set(why, "expected %s, got %lld (not a value of the enum)",
                       t->name, (long long)x);
    }
    case ROC_GEN_STRUCT: {
        if (v->type != ROC_ARRAY)
            return mismatch(why, t, v);
        /* Evolution: missing trailing fields keep their defaults, extra
         * trailing fields (from a newer peer) are ignored. */
        if (t->defaults)
            memcpy(dst, t->defaults, t->size);
        else
            memset(dst, 0, t->size);
        size_t n = v->u.array.len < t->n_fields ? v->u.array.len : t->n_fields;
        for (size_t i = 0; i < n; i++) {
            const roc_gen_field *f = &t->fields[i];
            int rc = dec(a, f->type, &v->u.array.items[i],
                         (char *)dst + f->offset, scope, why);
            if (rc) {
                if (rc == ROC_EBADARGS)
                    why_prefix(why, "field '%s': ", f->name);
                return rc;
            }
        }
        return 0;
    }
    case ROC_GEN_IFACE: {
        if (v->type == ROC_NIL) {
            write_ptr(dst, NULL);
            return 0;
        }
        if (v->type != ROC_REF)
            return why_set(why, "expected a reference to %s, got %s", t->name,
                           roc_type_name(v->type));
        roc_proxy *p = NULL;
        roc_error perr = ROC_ERROR_INIT;
        if (roc_proxy_open_ref(&p, v, &perr) != 0) {
            why_set(why, "invalid reference to %s: '%s': %s", t->name,
                    v->u.ref.uri ? v->u.ref.uri : "",
                    perr.message ? perr.message : "");
            roc_error_clear(&perr);
            return ROC_EBADARGS;
        }
        if (scope && scope_add(scope, p) != 0) {
            roc_proxy_close(p);
            return ROC_ENOMEM;
        }
        write_ptr(dst, p);
        return 0;
    }
    }
    return why_set(why, "unknown type kind %d", (int)t->kind);
}

int roc_gen_decode(roc_arena *a, const roc_gen_type *t, const roc_value *v,
                   void *dst, roc_gen_scope *scope, roc_error *err)
{
    char why[WHY_LEN] = "";
    static const roc_value nil = {ROC_NIL, {0}};
    int rc = dec(a, t, v ? v : &nil, dst, scope, why);
    if (rc == ROC_ENOMEM)
        return roc_error_set(err, rc, "out of memory");
    if (rc)
        return roc_error_set(err, ROC_EBADARGS, "%s", why);
    return 0;
}

/* ---- client ---- */

static int encode_args(roc_arena *a, const roc_gen_method *m,
                       const void *const *args, roc_value **out,
                       roc_error *err)
{
    roc_value *arr = roc_value_array(a, m->n_params);
    if (!arr)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_params; i++) {
        char why[WHY_LEN] = "";
        if (!args[i])
            return roc_error_set(err, ROC_EINVAL, "%s: parameter '%s' is NULL",
                                 m->qname, m->params[i].name);
        int rc = enc(a, m->params[i].type, args[i], false,
                     &arr->u.array.items[i], why);
        if (rc == ROC_ENOMEM)
            return roc_error_set(err, rc, "out of memory");
        if (rc)
            return roc_error_set(err, ROC_EINVAL, "%s: parameter '%s': %s",
                                 m->qname, m->params[i].name, why);
    }
    *out = arr;
    return 0;
}

static bool scalar(const roc_gen_type *t)
{
    return t->kind <= ROC_GEN_F64 || t->kind == ROC_GEN_ENUM;
}

static int decode_result(const roc_gen_method *m, const roc_value *res,
                         void *ret, roc_arena *arena, roc_error *err)
{
    if (!m->result || !ret)
        return 0;
    char why[WHY_LEN] = "";
    static const roc_value nil = {ROC_NIL, {0}};
    int rc = dec(arena, m->result, res ? res : &nil, ret, NULL, why);
    if (rc == ROC_ENOMEM)
        return roc_error_set(err, rc, "out of memory");
    if (rc)
        return roc_error_set(err, ROC_EPROTO, "%s: result: %s", m->qname,
                             why);
    return 0;
}

static int need_arena(const roc_gen_method *m, void *ret, roc_arena *arena,
                      roc_error *err)
{
    if (m->result && ret && !arena && !scalar(m->result))
        return roc_error_set(err, ROC_EINVAL,
                             "%s: a result of type %s needs an arena",
                             m->qname, m->result->name);
    return 0;
}

int roc_gen_call(roc_proxy *p, const roc_gen_method *m,
                 const void *const *args, void *ret, roc_arena *arena,
                 roc_error *err)
{
    if (!p)
        return roc_error_set(err, ROC_EINVAL, "%s: NULL proxy", m->qname);
    int rc = need_arena(m, ret, arena, err);
    if (rc)
        return rc;
    roc_arena *tmp;
    if (roc_arena_new(&tmp) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    roc_value *argv = NULL;
    rc = encode_args(tmp, m, args, &argv, err);
    if (rc == 0 && (m->flags & ROC_METHOD_ONEWAY)) {
        rc = roc_proxy_oneway(p, m->name, argv, err);
    } else if (rc == 0) {
        roc_call_opts o;
        memset(&o, 0, sizeof o);
        o.idempotent = (m->flags & ROC_METHOD_IDEMPOTENT) != 0;
        roc_value *res = NULL;
        roc_arena *ra = arena ? arena : tmp;
        rc = roc_proxy_call_opts(p, m->name, argv, &o, &res, ra, err);
        if (rc == 0)
            rc = decode_result(m, res, ret, ra, err);
    }
    roc_arena_free(tmp);
    return rc;
}

int roc_gen_call_async(roc_proxy *p, const roc_gen_method *m,
                       const void *const *args, roc_future **f,
                       roc_error *err)
{
    if (!p)
        return roc_error_set(err, ROC_EINVAL, "%s: NULL proxy", m->qname);
    roc_arena *tmp;
    if (roc_arena_new(&tmp) != 0)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    roc_value *argv = NULL;
    int rc = encode_args(tmp, m, args, &argv, err);
    if (rc == 0) {
        roc_call_opts o;
        memset(&o, 0, sizeof o);
        o.idempotent = (m->flags & ROC_METHOD_IDEMPOTENT) != 0;
        rc = roc_proxy_call_async(p, m->name, argv, &o, f, err);
    }
    roc_arena_free(tmp);
    return rc;
}

int roc_gen_finish(roc_future *f, const roc_gen_method *m, void *ret,
                   roc_arena *arena, roc_error *err)
{
    int rc = need_arena(m, ret, arena, err);
    if (rc) {
        roc_future_free(f);
        return rc;
    }
    roc_arena *tmp = NULL;
    if (!arena && roc_arena_new(&tmp) != 0) {
        roc_future_free(f);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    roc_arena *ra = arena ? arena : tmp;
    roc_value *res = NULL;
    rc = roc_future_result(f, &res, ra, err);
    if (rc == 0)
        rc = decode_result(m, res, ret, ra, err);
    roc_future_free(f);
    roc_arena_free(tmp);
    return rc;
}

int roc_gen_catch(const roc_error *err, const roc_gen_type *exc, void *out,
                  roc_arena *arena)
{
    if (!err || err->code != ROC_EREMOTE || !err->type ||
        strcmp(err->type, exc->name) != 0)
        return ROC_ENOTFOUND;
    roc_value *data = NULL;
    if (err->data && !(data = roc_value_copy(arena, err->data)))
        return ROC_ENOMEM;
    static const roc_value empty = {ROC_ARRAY, {0}};
    char why[WHY_LEN] = "";
    int rc = dec(arena, exc, data ? data : &empty, out, NULL, why);
    return rc == ROC_EBADARGS ? ROC_EPROTO : rc;
}

/* ---- server ---- */

int roc_gen_args(roc_call *call, const roc_gen_method *m,
                 const roc_value *args, void *const *out, roc_gen_scope *scope)
{
    size_t n = args && args->type == ROC_ARRAY ? args->u.array.len : 0;
    if (n != m->n_params)
        return roc_call_error(call, ROC_EBADARGS,
                              "%s: expected %zu argument%s, got %zu", m->qname,
                              m->n_params, m->n_params == 1 ? "" : "s", n);
    roc_arena *a = roc_call_arena(call);
    for (size_t i = 0; i < n; i++) {
        char why[WHY_LEN] = "";
        int rc = dec(a, m->params[i].type, &args->u.array.items[i], out[i],
                     scope, why);
        if (rc == ROC_ENOMEM)
            return roc_call_error(call, ROC_EINTERNAL, "out of memory");
        if (rc)
            return roc_call_error(call, ROC_EBADARGS,
                                  "%s: parameter '%s': %s", m->qname,
                                  m->params[i].name, why);
    }
    return 0;
}

int roc_gen_result(roc_call *call, const roc_gen_method *m, const void *ret,
                   roc_value **result)
{
    *result = NULL;
    if (!m->result)
        return 0;
    roc_arena *a = roc_call_arena(call);
    roc_value *v = roc_arena_alloc(a, sizeof *v);
    if (!v)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    char why[WHY_LEN] = "";
    int rc = enc(a, m->result, ret, false, v, why);
    if (rc == ROC_ENOMEM)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    if (rc)
        return roc_call_error(call, ROC_EINTERNAL, "%s: bad result: %s",
                              m->qname, why);
    *result = v;
    return 0;
}

void roc_gen_release(roc_gen_scope *scope)
{
    for (size_t i = 0; i < scope->n; i++)
        roc_proxy_close(scope->proxies[i]);
    free(scope->proxies);
    scope->proxies = NULL;
    scope->n = scope->cap = 0;
}

int roc_gen_raisev(roc_call *call, const roc_gen_type *exc, const void *ex,
                   const char *fmt, va_list ap)
{
    roc_arena *a = roc_call_arena(call);
    char msg[512];
    if (fmt)
        vsnprintf(msg, sizeof msg, fmt, ap);
    else
        snprintf(msg, sizeof msg, "%s", exc->name);
    roc_value *data = NULL;
    if (ex) {
        data = roc_arena_alloc(a, sizeof *data);
        char why[WHY_LEN] = "";
        if (!data || enc(a, exc, ex, false, data, why) != 0)
            return roc_call_error(call, ROC_EINTERNAL,
                                  "cannot encode exception %s", exc->name);
    }
    return roc_call_raise(call, exc->name, data, "%s", msg);
}

int roc_gen_unimplemented(roc_call *call, const roc_gen_method *m)
{
    return roc_call_error(call, ROC_ENOMETHOD,
                          "%s is not implemented by this object", m->qname);
}
