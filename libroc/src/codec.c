/* msgpack encoding and decoding of roc_value.
 *
 * Encoding goes through msgpack-c's packer (msgpack_pack_*), writing into a
 * roc_buf. Decoding is our own: msgpack-c's unpacker allocates from the
 * counts a message declares (a 6-byte frame can claim 2^32 elements), so we
 * walk the bytes ourselves, check every length and count against what is
 * left before allocating, bound the nesting depth and check UTF-8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static _Thread_local const char *rd_why = "";

const char *roci_rd_why(void)
{
    return rd_why;
}

static int bad(const char *why)
{
    rd_why = why;
    return ROC_EPROTO;
}

/* ---------------------------------------------------------------- buffers */

void roc_buf_free(roc_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int roci_buf_grow(roc_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return ROC_ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    if (extra >= 65536 && cap > b->len + extra + 65536)
        cap = b->len + extra + 4096; /* one big payload: no 2x slack */
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return ROC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_write(void *data, const char *buf, size_t len)
{
    roc_buf *b = data;
    if (b->cap - b->len < len && roci_buf_grow(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

void roci_packer_init(msgpack_packer *pk, roc_buf *b)
{
    msgpack_packer_init(pk, b, buf_write);
}

static int seg_write(void *data, const char *buf, size_t len)
{
    roci_wbuf *w = data;
    return buf_write(w->b, buf, len);
}

void roci_packer_init_seg(msgpack_packer *pk, roci_wbuf *w)
{
    msgpack_packer_init(pk, w, seg_write);
}

/* ---------------------------------------------------------------- writer */

/* Direct writes. msgpack-c's packer hands every fragment (1 to 9 bytes) to
 * its callback; on the call path that was a fifth of a pipelined call's
 * CPU. When the packer writes into a roc_buf (ours), scalars, strings and
 * headers are written straight into the buffer instead, in the same
 * encodings the packer picks (the smallest). Big bins and extension values
 * still go through the packer. */
static inline roc_buf *pk_buf(const msgpack_packer *pk)
{
    if (pk->callback == buf_write)
        return pk->data;
    if (pk->callback == seg_write)
        return ((roci_wbuf *)pk->data)->b;
    return NULL;
}

static inline uint8_t *w_room(roc_buf *b, size_t n)
{
    if (b->cap - b->len < n && roci_buf_grow(b, n) != 0)
        return NULL;
    return b->data + b->len;
}

static inline uint8_t *w_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    return p + n;
}

static inline uint8_t *w_uint(uint8_t *p, uint64_t v)
{
    if (v < 128) {
        *p++ = (uint8_t)v;
    } else if (v < 256) {
        *p++ = 0xcc;
        *p++ = (uint8_t)v;
    } else if (v < 65536) {
        *p++ = 0xcd;
        p = w_be(p, v, 2);
    } else if (v <= UINT32_MAX) {
        *p++ = 0xce;
        p = w_be(p, v, 4);
    } else {
        *p++ = 0xcf;
        p = w_be(p, v, 8);
    }
    return p;
}

static inline uint8_t *w_int(uint8_t *p, int64_t v)
{
    if (v >= 0)
        return w_uint(p, (uint64_t)v);
    if (v >= -32) {
        *p++ = (uint8_t)(int8_t)v;
    } else if (v >= INT8_MIN) {
        *p++ = 0xd0;
        *p++ = (uint8_t)(int8_t)v;
    } else if (v >= INT16_MIN) {
        *p++ = 0xd1;
        p = w_be(p, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        *p++ = 0xd2;
        p = w_be(p, (uint64_t)v, 4);
    } else {
        *p++ = 0xd3;
        p = w_be(p, (uint64_t)v, 8);
    }
    return p;
}

/* a header of str (0xa0/0xd9), array (0x90/0xdc) or map (0x80/0xde) */
static inline uint8_t *w_head(uint8_t *p, unsigned fix, unsigned fixmax,
                              unsigned b8, unsigned b16, uint64_t n)
{
    if (n <= fixmax) {
        *p++ = (uint8_t)(fix | n);
    } else if (b8 && n < 256) {
        *p++ = (uint8_t)b8;
        *p++ = (uint8_t)n;
    } else if (n < 65536) {
        *p++ = (uint8_t)b16;
        p = w_be(p, n, 2);
    } else {
        *p++ = (uint8_t)(b16 + 1);
        p = w_be(p, n, 4);
    }
    return p;
}

int roci_pack_u64(msgpack_packer *pk, uint64_t v)
{
    roc_buf *b = pk_buf(pk);
    if (!b)
        return msgpack_pack_uint64(pk, v) ? ROC_ENOMEM : 0;
    uint8_t *p = w_room(b, 9);
    if (!p)
        return ROC_ENOMEM;
    b->len = (size_t)(w_uint(p, v) - b->data);
    return 0;
}

int roci_pack_container(msgpack_packer *pk, bool map, uint32_t n)
{
    roc_buf *b = pk_buf(pk);
    if (!b)
        return (map ? msgpack_pack_map(pk, n) : msgpack_pack_array(pk, n))
                   ? ROC_ENOMEM
                   : 0;
    uint8_t *p = w_room(b, 5);
    if (!p)
        return ROC_ENOMEM;
    p = map ? w_head(p, 0x80, 15, 0, 0xde, n) : w_head(p, 0x90, 15, 0, 0xdc, n);
    b->len = (size_t)(p - b->data);
    return 0;
}

/* A scalar or a string written directly; 1 when v is of another kind. */
static int pack_direct(roc_buf *b, const roc_value *v)
{
    uint8_t *p;
    switch (v->type) {
    case ROC_NIL:
    case ROC_BOOL:
        if (!(p = w_room(b, 1)))
            return ROC_ENOMEM;
        *p++ = v->type == ROC_NIL ? 0xc0 : v->u.b ? 0xc3 : 0xc2;
        break;
    case ROC_INT:
        if (!(p = w_room(b, 9)))
            return ROC_ENOMEM;
        p = w_int(p, v->u.i);
        break;
    case ROC_UINT:
        if (!(p = w_room(b, 9)))
            return ROC_ENOMEM;
        p = w_uint(p, v->u.u);
        break;
    case ROC_FLOAT: {
        if (!(p = w_room(b, 9)))
            return ROC_ENOMEM;
        uint64_t bits;
        memcpy(&bits, &v->u.f, 8);
        *p++ = 0xcb;
        p = w_be(p, bits, 8);
        break;
    }
    case ROC_STR: {
        const char *s = v->u.str.ptr ? v->u.str.ptr : "";
        size_t n = v->u.str.ptr ? v->u.str.len : 0;
        if (n > UINT32_MAX)
            return ROC_EINVAL;
        if (n && !roci_utf8_valid((const uint8_t *)s, n))
            return ROC_EINVAL;
        if (!(p = w_room(b, 5 + n)))
            return ROC_ENOMEM;
        p = w_head(p, 0xa0, 31, 0xd9, 0xda, n);
        memcpy(p, s, n);
        p += n;
        break;
    }
    default:
        return 1;
    }
    b->len = (size_t)(p - b->data);
    return 0;
}

static _Thread_local roci_export_fn tl_export_fn;
static _Thread_local void *tl_export_ctx;

void roci_pack_set_export(roci_export_fn fn, void *ctx)
{
    tl_export_fn = fn;
    tl_export_ctx = ctx;
}

int roci_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    roc_buf *b = pk_buf(pk);
    if (b) {
        if (len > UINT32_MAX)
            return ROC_EINVAL;
        uint8_t *p = w_room(b, 5 + len);
        if (!p)
            return ROC_ENOMEM;
        p = w_head(p, 0xa0, 31, 0xd9, 0xda, len);
        if (len)
            memcpy(p, s, len);
        b->len = (size_t)(p + len - b->data);
        return 0;
    }
    if (msgpack_pack_str(pk, len) != 0)
        return ROC_ENOMEM;
    if (len && msgpack_pack_str_body(pk, s, len) != 0)
        return ROC_ENOMEM;
    return 0;
}

int roci_pack_value(msgpack_packer *pk, const roc_value *v, unsigned depth)
{
    int rc = 0;
    if (!v)
        return msgpack_pack_nil(pk) ? ROC_ENOMEM : 0;
    /* the decoder's rule: a container at depth >= the limit is refused */
    if ((v->type == ROC_ARRAY || v->type == ROC_MAP) &&
        depth >= ROC_DEFAULT_MAX_DEPTH)
        return ROC_EINVAL;
    roc_buf *b = pk_buf(pk);
    if (b) {
        int d = pack_direct(b, v);
        if (d <= 0)
            return d;
        if (v->type == ROC_ARRAY && v->u.array.len <= UINT32_MAX) {
            if (roci_pack_container(pk, false, (uint32_t)v->u.array.len))
                return ROC_ENOMEM;
            for (size_t i = 0; i < v->u.array.len; i++) {
                const roc_value *e = &v->u.array.items[i];
                int r = pack_direct(b, e);
                if (r > 0)
                    r = roci_pack_value(pk, e, depth + 1);
                if (r)
                    return r;
            }
            return 0;
        }
    }
    switch (v->type) {
    case ROC_NIL:
        rc = msgpack_pack_nil(pk);
        break;
    case ROC_BOOL:
        rc = v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        break;
    case ROC_INT:
        rc = msgpack_pack_int64(pk, v->u.i);
        break;
    case ROC_UINT:
        rc = msgpack_pack_uint64(pk, v->u.u);
        break;
    case ROC_FLOAT:
        rc = msgpack_pack_double(pk, v->u.f);
        break;
    case ROC_STR:
        if (v->u.str.ptr &&
            !roci_utf8_valid((const uint8_t *)v->u.str.ptr, v->u.str.len))
            return ROC_EINVAL;
        return roci_pack_str(pk, v->u.str.ptr ? v->u.str.ptr : "",
                             v->u.str.ptr ? v->u.str.len : 0);
    case ROC_BIN:
        if (v->u.bin.len > UINT32_MAX)
            return ROC_EINVAL;
        rc = msgpack_pack_bin(pk, v->u.bin.len);
        if (!rc && v->u.bin.len >= ROCI_SEG_MIN && pk->callback == seg_write) {
            roci_wbuf *w = pk->data;
            if (!w->seg->ptr) {
                w->seg->off = w->b->len;
                w->seg->ptr = v->u.bin.ptr;
                w->seg->len = v->u.bin.len;
                break;
            }
        }
        if (!rc && v->u.bin.len)
            rc = msgpack_pack_bin_body(pk, v->u.bin.ptr, v->u.bin.len);
        break;
    case ROC_ARRAY:
        if (v->u.array.len > UINT32_MAX)
            return ROC_EINVAL;
        if (msgpack_pack_array(pk, v->u.array.len) != 0)
            return ROC_ENOMEM;
        for (size_t i = 0; i < v->u.array.len; i++)
            if ((rc = roci_pack_value(pk, &v->u.array.items[i], depth + 1)))
                return rc;
        return 0;
    case ROC_MAP:
        if (v->u.map.len > UINT32_MAX)
            return ROC_EINVAL;
        if (msgpack_pack_map(pk, v->u.map.len) != 0)
            return ROC_ENOMEM;
        for (size_t i = 0; i < v->u.map.len; i++) {
            if ((rc = roci_pack_value(pk, &v->u.map.entries[i].key, depth + 1)))
                return rc;
            if ((rc = roci_pack_value(pk, &v->u.map.entries[i].val, depth + 1)))
                return rc;
        }
        return 0;
    case ROC_REF: {
        const char *s = v->u.ref.uri ? v->u.ref.uri : "";
        if (v->u.ref.kind == ROC_REF_LOCAL) {
            /* a local object: exported on this connection, sent by id */
            if (!tl_export_fn || !v->u.ref.priv_ ||
                tl_export_fn(tl_export_ctx, v->u.ref.priv_, &s) != 0)
                return ROC_EINVAL;
        }
        size_t n = strlen(s);
        if (n == 0 || !roci_utf8_valid((const uint8_t *)s, n))
            return ROC_EINVAL;
        int8_t t = v->u.ref.kind == ROC_REF_URI ? 1 : 2;
        rc = msgpack_pack_ext(pk, n, t);
        if (!rc && n)
            rc = msgpack_pack_ext_body(pk, s, n);
        break;
    }
    default:
        return ROC_EINVAL;
    }
    return rc ? ROC_ENOMEM : 0;
}

int roc_encode(roc_buf *out, const roc_value *v, roc_error *err)
{
    if (!out)
        return roc_error_set(err, ROC_EINVAL, "roc_encode: no buffer");
    msgpack_packer pk;
    roci_packer_init(&pk, out);
    size_t mark = out->len;
    int rc = roci_pack_value(&pk, v, 0);
    if (rc) {
        out->len = mark;
        return roc_error_set(err, rc, rc == ROC_ENOMEM
                                          ? "out of memory while encoding"
                                          : "value cannot be encoded (bad "
                                            "type or nesting too deep)");
    }
    return 0;
}

/* ---------------------------------------------------------------- reader */

bool roci_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII eight bytes at a time (names and most text) */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
            (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static inline size_t left(const roci_rd *r)
{
    return (size_t)(r->end - r->p);
}

static inline uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads a big-endian count of n bytes after the type byte. */
static int rd_count(roci_rd *r, unsigned n, uint64_t *out)
{
    if (left(r) < n)
        return bad("truncated length");
    *out = be(r->p, n);
    r->p += n;
    return 0;
}

bool roci_rd_is_nil(const roci_rd *r)
{
    return left(r) > 0 && *r->p == 0xc0;
}

/* Header of an array (fix 0x9X, 0xdc, 0xdd) or map (0x8X, 0xde, 0xdf):
 * the count, checked against the bytes left (each element takes at least
 * one byte; a map entry two). */
static int rd_head(roci_rd *r, uint8_t fix, uint8_t t16, uint8_t t32,
                   size_t per, const char *what, uint32_t *n)
{
    if (!left(r))
        return bad(what);
    uint8_t c = *r->p++;
    uint64_t cnt;
    if ((c & 0xf0) == fix)
        cnt = c & 0x0f;
    else if (c == t16 || c == t32) {
        if (rd_count(r, c == t16 ? 2 : 4, &cnt))
            return ROC_EPROTO;
    } else
        return bad(what);
    if (cnt > left(r) / per)
        return bad(per == 1 ? "array count exceeds the bytes present"
                            : "map count exceeds the bytes present");
    *n = (uint32_t)cnt;
    return 0;
}

int roci_rd_array_x(roci_rd *r, uint32_t *n)
{
    return rd_head(r, 0x90, 0xdc, 0xdd, 1, "expected an array", n);
}

int roci_rd_map_x(roci_rd *r, uint32_t *n)
{
    return rd_head(r, 0x80, 0xde, 0xdf, 2, "expected a map", n);
}

/* Integer of any msgpack width: sets *neg and the magnitude/bit pattern. */
static int rd_int(roci_rd *r, bool *is_signed, uint64_t *u, int64_t *i)
{
    if (!left(r))
        return bad("truncated: expected an integer");
    uint8_t c = *r->p;
    if (c <= 0x7f) {
        r->p++;
        *is_signed = false;
        *u = c;
        return 0;
    }
    if (c >= 0xe0) {
        r->p++;
        *is_signed = true;
        *i = (int8_t)c;
        return 0;
    }
    unsigned n;
    bool s;
    switch (c) {
    case 0xcc: n = 1; s = false; break;
    case 0xcd: n = 2; s = false; break;
    case 0xce: n = 4; s = false; break;
    case 0xcf: n = 8; s = false; break;
    case 0xd0: n = 1; s = true; break;
    case 0xd1: n = 2; s = true; break;
    case 0xd2: n = 4; s = true; break;
    case 0xd3: n = 8; s = true; break;
    default:
        return bad("expected an integer");
    }
    if (left(r) < 1 + n)
        return bad("truncated integer");
    uint64_t v = be(r->p + 1, n);
    r->p += 1 + n;
    *is_signed = s;
    if (s) {
        switch (n) {
        case 1: *i = (int8_t)v; break;
        case 2: *i = (int16_t)v; break;
        case 4: *i = (int32_t)v; break;
        default: *i = (int64_t)v; break;
        }
    } else {
        *u = v;
    }
    return 0;
}

int roci_rd_u64_x(roci_rd *r, uint64_t *v)
{
    bool s;
    uint64_t u = 0;
    int64_t i = 0;
    if (rd_int(r, &s, &u, &i))
        return ROC_EPROTO;
    if (s) {
        if (i < 0)
            return bad("expected a non-negative integer");
        u = (uint64_t)i;
    }
    *v = u;
    return 0;
}

int roci_rd_i64(roci_rd *r, int64_t *v)
{
    bool s;
    uint64_t u = 0;
    int64_t i = 0;
    if (rd_int(r, &s, &u, &i))
        return ROC_EPROTO;
    if (!s) {
        if (u > INT64_MAX)
            return bad("integer out of range");
        i = (int64_t)u;
    }
    *v = i;
    return 0;
}

/* Header of a str/bin/ext: sets the payload pointer and length. */
static int rd_blob(roci_rd *r, uint8_t c, const uint8_t **ptr, uint64_t *len)
{
    uint64_t n;
    unsigned w;
    if ((c & 0xe0) == 0xa0) {
        n = c & 0x1f;
        w = 0;
    } else {
        switch (c) {
        case 0xd9: case 0xc4: w = 1; break;
        case 0xda: case 0xc5: w = 2; break;
        case 0xdb: case 0xc6: w = 4; break;
        default:
            return bad("expected a string or bytes");
        }
        if (rd_count(r, w, &n))
            return ROC_EPROTO;
    }
    if (n > left(r))
        return bad("length exceeds the bytes present");
    *ptr = r->p;
    *len = n;
    r->p += n;
    return 0;
}

int roci_rd_str_x(roci_rd *r, const char **s, uint32_t *len)
{
    if (!left(r))
        return bad("truncated: expected a string");
    uint8_t c = *r->p;
    if (!((c & 0xe0) == 0xa0 || c == 0xd9 || c == 0xda || c == 0xdb))
        return bad("expected a string");
    r->p++;
    const uint8_t *p;
    uint64_t n;
    if (rd_blob(r, c, &p, &n))
        return ROC_EPROTO;
    if (!roci_utf8_valid(p, n))
        return bad("string is not valid UTF-8");
    *s = (const char *)p;
    *len = (uint32_t)n;
    return 0;
}

static int rd_value(roci_rd *r, roc_arena *a, roc_value *out, unsigned depth);

static int rd_ext(roci_rd *r, uint8_t c, roc_arena *a, roc_value *out)
{
    uint64_t n;
    switch (c) {
    case 0xd4: n = 1; break;
    case 0xd5: n = 2; break;
    case 0xd6: n = 4; break;
    case 0xd7: n = 8; break;
    case 0xd8: n = 16; break;
    case 0xc7:
        if (rd_count(r, 1, &n))
            return ROC_EPROTO;
        break;
    case 0xc8:
        if (rd_count(r, 2, &n))
            return ROC_EPROTO;
        break;
    default:
        if (rd_count(r, 4, &n))
            return ROC_EPROTO;
        break;
    }
    if (left(r) < 1 || n > left(r) - 1)
        return bad("ext length exceeds the bytes present");
    int8_t t = (int8_t)*r->p++;
    const uint8_t *p = r->p;
    r->p += n;
    if (t != 1 && t != 2)
        return bad("unknown ext type");
    if (n == 0 || !roci_utf8_valid(p, n) || memchr(p, 0, n))
        return bad("object reference is not a valid string");
    if (!a) {
        out->type = ROC_NIL;
        return 0;
    }
    char *s = roc_arena_strndup(a, (const char *)p, n);
    if (!s)
        return ROC_ENOMEM;
    out->type = ROC_REF;
    out->u.ref.uri = s;
    out->u.ref.kind = t == 2 ? ROC_REF_CALLBACK : ROC_REF_URI;
    /* a callback lives on the connection it came over */
    out->u.ref.priv_ = t == 2 ? (void *)(uintptr_t)r->conn_serial : NULL;
    return 0;
}

/* a == NULL: validate and skip only. */
static int rd_value(roci_rd *r, roc_arena *a, roc_value *out, unsigned depth)
{
    if (!left(r))
        return bad("truncated value");
    uint8_t c = *r->p;
    roc_value tmp;
    if (!out)
        out = &tmp;
    if (c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3)) {
        bool s;
        uint64_t u = 0;
        int64_t i = 0;
        if (rd_int(r, &s, &u, &i))
            return ROC_EPROTO;
        if (s || u <= INT64_MAX) {
            out->type = ROC_INT;
            out->u.i = s ? i : (int64_t)u;
        } else {
            out->type = ROC_UINT;
            out->u.u = u;
        }
        return 0;
    }
    if ((c & 0xf0) == 0x90 || c == 0xdc || c == 0xdd) {
        if (depth >= r->max_depth)
            return bad("nesting too deep");
        uint32_t n;
        if (roci_rd_array(r, &n))
            return ROC_EPROTO;
        roc_value *items = NULL;
        if (a) {
            items = roc_arena_alloc(a, (size_t)n * sizeof *items);
            if (!items)
                return ROC_ENOMEM;
        }
        for (uint32_t k = 0; k < n; k++) {
            int rc = rd_value(r, a, a ? &items[k] : NULL, depth + 1);
            if (rc)
                return rc;
        }
        out->type = ROC_ARRAY;
        out->u.array.items = items;
        out->u.array.len = n;
        return 0;
    }
    if ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf) {
        if (depth >= r->max_depth)
            return bad("nesting too deep");
        uint32_t n;
        if (roci_rd_map(r, &n))
            return ROC_EPROTO;
        roc_map_entry *e = NULL;
        if (a) {
            e = roc_arena_alloc(a, (size_t)n * sizeof *e);
            if (!e)
                return ROC_ENOMEM;
        }
        for (uint32_t k = 0; k < n; k++) {
            int rc = rd_value(r, a, a ? &e[k].key : NULL, depth + 1);
            if (!rc)
                rc = rd_value(r, a, a ? &e[k].val : NULL, depth + 1);
            if (rc)
                return rc;
        }
        out->type = ROC_MAP;
        out->u.map.entries = e;
        out->u.map.len = n;
        return 0;
    }
    r->p++;
    switch (c) {
    case 0xc0:
        out->type = ROC_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        out->type = ROC_BOOL;
        out->u.b = c == 0xc3;
        return 0;
    case 0xca: {
        if (left(r) < 4)
            return bad("truncated float");
        uint32_t bits = (uint32_t)be(r->p, 4);
        float f;
        memcpy(&f, &bits, 4);
        r->p += 4;
        out->type = ROC_FLOAT;
        out->u.f = f;
        return 0;
    }
    case 0xcb: {
        if (left(r) < 8)
            return bad("truncated float");
        uint64_t bits = be(r->p, 8);
        double d;
        memcpy(&d, &bits, 8);
        r->p += 8;
        out->type = ROC_FLOAT;
        out->u.f = d;
        return 0;
    }
    case 0xc1:
        return bad("reserved byte 0xc1");
    case 0xc4:
    case 0xc5:
    case 0xc6: {
        const uint8_t *p;
        uint64_t n;
        if (rd_blob(r, c, &p, &n))
            return ROC_EPROTO;
        out->type = ROC_BIN;
        out->u.bin.len = n;
        out->u.bin.ptr = p;
        if (a && !r->borrow) {
            uint8_t *q = roc_arena_alloc(a, n);
            if (!q)
                return ROC_ENOMEM;
            if (n)
                memcpy(q, p, n);
            out->u.bin.ptr = q;
        }
        return 0;
    }
    case 0xc7: case 0xc8: case 0xc9:
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return rd_ext(r, c, a, out);
    default: {
        /* strings: fixstr, str8/16/32 */
        const uint8_t *p;
        uint64_t n;
        if (rd_blob(r, c, &p, &n))
            return ROC_EPROTO;
        if (!roci_utf8_valid(p, n))
            return bad("string is not valid UTF-8");
        out->type = ROC_STR;
        out->u.str.len = n;
        out->u.str.ptr = "";
        if (a) {
            char *q = roc_arena_strndup(a, (const char *)p, n);
            if (!q)
                return ROC_ENOMEM;
            out->u.str.ptr = q;
        }
        return 0;
    }
    }
}

int roci_rd_value(roci_rd *r, roc_arena *a, roc_value *out)
{
    return rd_value(r, a, out, 0);
}

int roci_rd_skip(roci_rd *r)
{
    return rd_value(r, NULL, NULL, 0);
}

int roc_decode(roc_arena *a, const void *buf, size_t len, unsigned max_depth,
               roc_value **out, roc_error *err)
{
    if (!a || !out || (!buf && len))
        return roc_error_set(err, ROC_EINVAL, "roc_decode: bad arguments");
    roci_rd r;
    roci_rd_init(&r, buf, len, max_depth);
    roc_value *v = roc_arena_alloc(a, sizeof *v);
    if (!v)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    int rc = roci_rd_value(&r, a, v);
    if (rc == ROC_ENOMEM)
        return roc_error_set(err, rc, "out of memory while decoding");
    if (rc)
        return roc_error_set(err, rc, "malformed msgpack at byte %zu: %s",
                             (size_t)(r.p - (const uint8_t *)buf),
                             roci_rd_why());
    if (r.p != r.end)
        return roc_error_set(err, ROC_EPROTO,
                             "%zu trailing bytes after the value",
                             (size_t)(r.end - r.p));
    *out = v;
    return 0;
}
