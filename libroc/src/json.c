/* JSON text of values, through jansson (docs/json.md gives the mapping).
 *
 * JSON has no unsigned 64-bit integers, no bytes, no references and only
 * string keys, so those travel as one-key objects ({"$u64": "..."},
 * {"$bytes": "..."}, {"$ref": "..."}) and non-string keys as their JSON
 * text. NaN and infinities have no JSON form and are refused.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "roc/uri.h"
#include "roc/value.h"

/* Deeper values are refused rather than recursed into; jansson's own parser
 * stops at the same depth. */
#define JSON_MAX_DEPTH 2048

static const char *const special_keys[] = {"$u64", "$bytes", "$ref"};

static bool is_special_key(const char *k, size_t len)
{
    for (size_t i = 0; i < 3; i++)
        if (strlen(special_keys[i]) == len &&
            memcmp(special_keys[i], k, len) == 0)
            return true;
    return false;
}

/* ---- base64 (RFC 4648, standard alphabet, padded) ---- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n, size_t *outlen)
{
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t len = (n + 2) / 3 * 4;
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            w |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            w |= p[i + 2];
        s[j++] = b64chars[(w >> 18) & 63];
        s[j++] = b64chars[(w >> 12) & 63];
        s[j++] = i + 1 < n ? b64chars[(w >> 6) & 63] : '=';
        s[j++] = i + 2 < n ? b64chars[w & 63] : '=';
    }
    s[j] = 0;
    *outlen = j;
    return s;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard base64; padding may be omitted. Returns the position of
 * the first bad character, or -1 when s decodes. */
static long b64_decode(roc_arena *a, const char *s, size_t n, uint8_t **out,
                       size_t *outlen)
{
    size_t len = n;
    while (len > 0 && s[len - 1] == '=' && n - len < 2)
        len--;
    for (size_t i = 0; i < len; i++)
        if (b64_val(s[i]) < 0)
            return (long)i;
    if (n != len && n % 4 != 0)
        return (long)len; /* padding on a text of the wrong length */
    if (len % 4 == 1)
        return (long)len - 1; /* 6 bits cannot end a byte */
    uint8_t *d = roc_arena_alloc(a, len / 4 * 3 + 2);
    if (!d)
        return -2;
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 6) | (uint32_t)b64_val(s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[j++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = d;
    *outlen = j;
    return -1;
}

/* ---- value -> JSON ---- */

/* The smallest %g precision that reads back as exactly f, and at least the
 * number of integer digits (so 100.0 prints as "100.0", not "1e+02"). */
static int float_precision(double f)
{
    char buf[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, f);
        if (strtod(buf, NULL) == f)
            break;
    }
    double m = fabs(f);
    if (m >= 1) {
        int digits = (int)floor(log10(m)) + 1;
        if (digits > p)
            p = digits < 17 ? digits : 17;
    }
    return p;
}

/* Checks what JSON cannot hold (NaN, infinities, depth) and computes the
 * float precision that prints every float of v exactly. */
static int precheck(const roc_value *v, unsigned depth, int *prec,
                    roc_error *err)
{
    if (depth > JSON_MAX_DEPTH)
        return roc_error_set(err, ROC_EINVAL,
                             "value nested deeper than %d levels cannot be "
                             "written as JSON",
                             JSON_MAX_DEPTH);
    switch (v->type) {
    case ROC_FLOAT:
        if (isnan(v->u.f))
            return roc_error_set(err, ROC_EINVAL,
                                 "NaN has no JSON representation");
        if (isinf(v->u.f))
            return roc_error_set(err, ROC_EINVAL,
                                 "%s has no JSON representation",
                                 v->u.f > 0 ? "Infinity" : "-Infinity");
        {
            int p = float_precision(v->u.f);
            if (p > *prec)
                *prec = p;
        }
        return 0;
    case ROC_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++) {
            int rc = precheck(&v->u.array.items[i], depth + 1, prec, err);
            if (rc)
                return rc;
        }
        return 0;
    case ROC_MAP:
        for (size_t i = 0; i < v->u.map.len; i++) {
            int rc = precheck(&v->u.map.entries[i].key, depth + 1, prec, err);
            if (!rc)
                rc = precheck(&v->u.map.entries[i].val, depth + 1, prec, err);
            if (rc)
                return rc;
        }
        return 0;
    default:
        return 0;
    }
}

static json_t *special(const char *key, const char *text, size_t len)
{
    json_t *s = json_stringn(text, len);
    json_t *o = s ? json_object() : NULL;
    if (!o || json_object_set_new(o, key, s) != 0) {
        json_decref(s);
        json_decref(o);
        return NULL;
    }
    return o;
}

static char *dump(const json_t *j, size_t flags);

static int to_j(const roc_value *v, size_t dflags, json_t **out,
                roc_error *err);

static int oom(roc_error *err)
{
    return roc_error_set(err, ROC_ENOMEM, "out of memory writing JSON");
}

static int map_to_j(const roc_value *v, size_t dflags, json_t **out,
                    roc_error *err)
{
    json_t *o = json_object();
    if (!o)
        return oom(err);
    for (size_t i = 0; i < v->u.map.len; i++) {
        const roc_map_entry *e = &v->u.map.entries[i];
        char *ktext = NULL;
        const char *k;
        size_t klen;
        if (e->key.type == ROC_STR) {
            k = e->key.u.str.ptr;
            klen = e->key.u.str.len;
        } else {
            json_t *kj = NULL;
            int rc = to_j(&e->key, dflags, &kj, err);
            if (rc) {
                json_decref(o);
                return rc;
            }
            ktext =
                dump(kj, (dflags & ~(size_t)JSON_MAX_INDENT) | JSON_COMPACT);
            json_decref(kj);
            if (!ktext) {
                json_decref(o);
                return oom(err);
            }
            k = ktext;
            klen = strlen(ktext);
            /* keys nested in keys double their escaping at every level:
             * bound the text instead of letting it grow exponentially */
            if (klen > 4096) {
                free(ktext);
                json_decref(o);
                return roc_error_set(err, ROC_EINVAL,
                                     "a map key that is not a string makes "
                                     "JSON text of more than 4096 bytes");
            }
        }
        if (json_object_getn(o, k, klen)) {
            roc_error_set(err, ROC_EINVAL,
                          "map key %.*s%s occurs twice (after conversion to "
                          "JSON text): JSON objects cannot hold it",
                          (int)(klen > 64 ? 64 : klen), k,
                          klen > 64 ? "..." : "");
            free(ktext);
            json_decref(o);
            return ROC_EINVAL;
        }
        if (v->u.map.len == 1 && is_special_key(k, klen)) {
            roc_error_set(err, ROC_EINVAL,
                          "a map whose only key is \"%s\" would read back as "
                          "that special form; it has no JSON representation",
                          k);
            free(ktext);
            json_decref(o);
            return ROC_EINVAL;
        }
        json_t *val = NULL;
        int rc = to_j(&e->val, dflags, &val, err);
        if (rc) {
            free(ktext);
            json_decref(o);
            return rc;
        }
        /* json_object_setn_new checks the key's UTF-8. */
        if (json_object_setn_new(o, k, klen, val) != 0) {
            bool bad_utf8 = e->key.type == ROC_STR;
            free(ktext);
            json_decref(o);
            if (bad_utf8)
                return roc_error_set(err, ROC_EINVAL,
                                     "map key is not valid UTF-8");
            return oom(err);
        }
        free(ktext);
    }
    *out = o;
    return 0;
}

static int to_j(const roc_value *v, size_t dflags, json_t **out, roc_error *err)
{
    json_t *j = NULL;
    switch (v->type) {
    case ROC_NIL:
        j = json_null();
        break;
    case ROC_BOOL:
        j = json_boolean(v->u.b);
        break;
    case ROC_INT:
        j = json_integer((json_int_t)v->u.i);
        break;
    case ROC_UINT:
        if (v->u.u <= (uint64_t)INT64_MAX) {
            j = json_integer((json_int_t)v->u.u);
        } else {
            char buf[24];
            int n =
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)v->u.u);
            j = special("$u64", buf, (size_t)n);
        }
        break;
    case ROC_FLOAT:
        j = json_real(v->u.f); /* finite: precheck refused the rest */
        break;
    case ROC_STR:
        if (!v->u.str.ptr && v->u.str.len)
            return roc_error_set(err, ROC_EINVAL, "string with NULL data");
        j = json_stringn(v->u.str.ptr ? v->u.str.ptr : "", v->u.str.len);
        if (!j)
            return roc_error_set(err, ROC_EINVAL,
                                 "string is not valid UTF-8; send bytes "
                                 "(bin) instead");
        break;
    case ROC_BIN: {
        if (!v->u.bin.ptr && v->u.bin.len)
            return roc_error_set(err, ROC_EINVAL, "bytes with NULL data");
        size_t n = 0;
        char *s = b64_encode(v->u.bin.ptr, v->u.bin.len, &n);
        if (!s)
            return oom(err);
        j = special("$bytes", s, n);
        free(s);
        break;
    }
    case ROC_ARRAY:
        j = json_array();
        if (!j)
            return oom(err);
        for (size_t i = 0; i < v->u.array.len; i++) {
            json_t *item = NULL;
            int rc = to_j(&v->u.array.items[i], dflags, &item, err);
            if (rc) {
                json_decref(j);
                return rc;
            }
            if (json_array_append_new(j, item) != 0) {
                json_decref(j);
                return oom(err);
            }
        }
        break;
    case ROC_MAP:
        return map_to_j(v, dflags, out, err);
    case ROC_REF:
        if (!v->u.ref.uri)
            return roc_error_set(err, ROC_EINVAL, "reference without a URI");
        j = special("$ref", v->u.ref.uri, strlen(v->u.ref.uri));
        if (!j)
            return roc_error_set(err, ROC_EINVAL,
                                 "reference URI is not valid UTF-8");
        break;
    default:
        return roc_error_set(err, ROC_EINVAL, "unknown value type %d",
                             (int)v->type);
    }
    if (!j)
        return oom(err);
    *out = j;
    return 0;
}

/* json_dumps with the result copied into plain malloc memory, so that the
 * caller's free() is right even if someone gave jansson other allocators. */
static char *dump(const json_t *j, size_t flags)
{
    char *s = json_dumps(j, flags);
    if (!s)
        return NULL;
    char *copy = strdup(s);
    json_free_t jfree = NULL;
    json_get_alloc_funcs(NULL, &jfree);
    if (jfree)
        jfree(s);
    return copy;
}

int roc_value_to_json(const roc_value *v, unsigned flags, char **out,
                      roc_error *err)
{
    if (!v || !out)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_value_to_json: NULL argument");
    *out = NULL;
    int prec = 1;
    int rc = precheck(v, 0, &prec, err);
    if (rc)
        return rc;
    size_t dflags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec);
    dflags |= (flags & ROC_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
    json_t *j = NULL;
    rc = to_j(v, dflags, &j, err);
    if (rc)
        return rc;
    char *s = dump(j, dflags);
    json_decref(j);
    if (!s)
        return oom(err);
    *out = s;
    return 0;
}

/* ---- JSON -> value ---- */

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return -1;
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (UINT64_MAX - d) / 10)
            return -1;
        u = u * 10 + d;
    }
    *out = u;
    return 0;
}

static bool has_uri_scheme(const char *s)
{
    static const char *const schemes[] = {"ROC:", "ROCNAME:", "ROCMETA:"};
    for (size_t i = 0; i < 3; i++)
        if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0)
            return true;
    return false;
}

static int from_special(roc_arena *a, const char *key, const json_t *jv,
                        roc_value *dst, roc_error *err)
{
    if (!json_is_string(jv))
        return roc_error_set(err, ROC_EPARSE,
                             "the value of \"%s\" must be a string", key);
    const char *s = json_string_value(jv);
    size_t n = json_string_length(jv);
    memset(dst, 0, sizeof *dst);
    if (strcmp(key, "$u64") == 0) {
        uint64_t u;
        if (parse_u64(s, n, &u) != 0)
            return roc_error_set(err, ROC_EPARSE,
                                 "\"$u64\": \"%.40s\" is not a decimal number "
                                 "from 0 to 18446744073709551615",
                                 s);
        dst->type = ROC_UINT;
        dst->u.u = u;
        return 0;
    }
    if (strcmp(key, "$bytes") == 0) {
        uint8_t *d = NULL;
        size_t len = 0;
        long bad = b64_decode(a, s, n, &d, &len);
        if (bad == -2)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
        if (bad >= 0)
            return roc_error_set(err, ROC_EPARSE,
                                 "\"$bytes\": invalid base64 at character %ld",
                                 bad + 1);
        dst->type = ROC_BIN;
        dst->u.bin.ptr = d;
        dst->u.bin.len = len;
        return 0;
    }
    /* $ref: a ROC:/ROCNAME: URI is a reachable object; a bare object id is a
     * callback reference (an object exported on the connection). */
    if (strlen(s) != n)
        return roc_error_set(err, ROC_EPARSE, "\"$ref\" holds a NUL byte");
    roc_ref_kind kind;
    if (has_uri_scheme(s)) {
        roc_uri u;
        roc_error uerr = ROC_ERROR_INIT;
        int rc = roc_uri_parse(a, s, &u, &uerr);
        if (rc == 0 && u.kind == ROC_URI_META) {
            rc = ROC_EPARSE;
            roc_error_set(&uerr, rc, "a ROCMETA: URI names no single object");
        }
        if (rc) {
            roc_error_set(err, rc == ROC_ENOMEM ? rc : ROC_EPARSE,
                          "\"$ref\": %s", uerr.message ? uerr.message : "");
            roc_error_clear(&uerr);
            return rc == ROC_ENOMEM ? rc : ROC_EPARSE;
        }
        kind = ROC_REF_URI;
    } else if (roc_id_valid(s)) {
        kind = ROC_REF_CALLBACK;
    } else {
        return roc_error_set(err, ROC_EPARSE,
                             "\"$ref\": \"%.60s\" is neither a ROC: URI nor an "
                             "object id",
                             s);
    }
    char *uri = roc_arena_strndup(a, s, n);
    if (!uri)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    dst->type = ROC_REF;
    dst->u.ref.uri = uri;
    dst->u.ref.kind = kind;
    dst->u.ref.priv_ = NULL;
    return 0;
}

static int from_j(roc_arena *a, const json_t *j, roc_value *dst, roc_error *err)
{
    memset(dst, 0, sizeof *dst);
    switch (json_typeof(j)) {
    case JSON_NULL:
        dst->type = ROC_NIL;
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        dst->type = ROC_BOOL;
        dst->u.b = json_is_true(j);
        return 0;
    case JSON_INTEGER:
        dst->type = ROC_INT;
        dst->u.i = (int64_t)json_integer_value(j);
        return 0;
    case JSON_REAL:
        dst->type = ROC_FLOAT;
        dst->u.f = json_real_value(j);
        return 0;
    case JSON_STRING: {
        size_t n = json_string_length(j);
        char *s = roc_arena_strndup(a, json_string_value(j), n);
        if (!s)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
        dst->type = ROC_STR;
        dst->u.str.ptr = s;
        dst->u.str.len = n;
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        roc_value *items = roc_arena_calloc(a, n, sizeof *items);
        if (!items)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            int rc = from_j(a, json_array_get(j, i), &items[i], err);
            if (rc)
                return rc;
        }
        dst->type = ROC_ARRAY;
        dst->u.array.items = items;
        dst->u.array.len = n;
        return 0;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(j);
        if (n == 1) {
            void *it = json_object_iter((json_t *)j);
            const char *k = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            if (is_special_key(k, klen))
                return from_special(a, k, json_object_iter_value(it), dst, err);
        }
        roc_map_entry *e = roc_arena_calloc(a, n, sizeof *e);
        if (!e)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
        size_t i = 0;
        const char *k;
        size_t klen;
        json_t *jv;
        json_object_keylen_foreach((json_t *)j, k, klen, jv)
        {
            char *ks = roc_arena_strndup(a, k, klen);
            if (!ks)
                return roc_error_set(err, ROC_ENOMEM, "out of memory");
            e[i].key.type = ROC_STR;
            e[i].key.u.str.ptr = ks;
            e[i].key.u.str.len = klen;
            int rc = from_j(a, jv, &e[i].val, err);
            if (rc)
                return rc;
            i++;
        }
        dst->type = ROC_MAP;
        dst->u.map.entries = e;
        dst->u.map.len = i;
        return 0;
    }
    }
    return roc_error_set(err, ROC_EINTERNAL, "unknown JSON type");
}

int roc_value_from_json(roc_arena *a, const char *json, roc_value **out,
                        roc_error *err)
{
    if (!a || !json || !out)
        return roc_error_set(err, ROC_EINVAL,
                             "roc_value_from_json: NULL argument");
    *out = NULL;
    json_error_t je;
    json_t *j = json_loads(
        json, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return roc_error_set(err, ROC_EPARSE, "JSON line %d, column %d: %s",
                             je.line, je.column, je.text);
    roc_value *v = roc_arena_alloc(a, sizeof *v);
    int rc = v ? from_j(a, j, v, err)
               : roc_error_set(err, ROC_ENOMEM, "out of memory");
    json_decref(j);
    if (rc)
        return rc;
    *out = v;
    return 0;
}
