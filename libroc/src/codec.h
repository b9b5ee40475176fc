/* Internal codec primitives: a bounds-checked msgpack reader over a buffer
 * and a writer into roc_buf through msgpack-c's packer. The envelope code in
 * conn.c and the public roc_encode/roc_decode share them. */
#ifndef ROCI_CODEC_H
#define ROCI_CODEC_H

#include <msgpack.h>

#include "roc/codec.h"

#define ROCI_DEPTH_CAP 1000u

typedef struct roci_rd {
    const uint8_t *p;
    const uint8_t *end;
    unsigned max_depth;
    bool borrow; /* bins point into the buffer instead of being copied */
    uint64_t conn_serial; /* stamped into callback references (ext 2) */
} roci_rd;

static inline void roci_rd_init(roci_rd *r, const void *buf, size_t len,
                                unsigned max_depth)
{
    r->p = buf;
    r->end = r->p + len;
    r->borrow = false;
    r->conn_serial = 0;
    /* the decoder recurses: a caller's limit is capped to keep the stack */
    r->max_depth = !max_depth ? ROC_DEFAULT_MAX_DEPTH
                   : max_depth > ROCI_DEPTH_CAP ? ROCI_DEPTH_CAP
                                                : max_depth;
}

/* Each returns 0 or ROC_EPROTO (wrong type, truncated, bad UTF-8). */
int roci_rd_array_x(roci_rd *r, uint32_t *n);
int roci_rd_map_x(roci_rd *r, uint32_t *n);
int roci_rd_u64_x(roci_rd *r, uint64_t *v); /* non-negative integer */
int roci_rd_i64(roci_rd *r, int64_t *v);  /* integer fitting int64 */
/* A string, pointing into the buffer (not NUL-terminated), UTF-8 checked. */
int roci_rd_str_x(roci_rd *r, const char **s, uint32_t *len);

/* Inline fast paths of the four readers above for the common short
 * encodings (the envelope's fields); anything else, and every error, goes
 * to the full reader (the _x functions). */
static inline int roci_rd_u64(roci_rd *r, uint64_t *v)
{
    if (r->p < r->end) {
        uint8_t c = *r->p;
        if (c < 0x80) {
            r->p++;
            *v = c;
            return 0;
        }
        if (c == 0xce && r->end - r->p >= 5) {
            const uint8_t *q = r->p + 1;
            *v = ((uint64_t)q[0] << 24) | ((uint64_t)q[1] << 16) |
                 ((uint64_t)q[2] << 8) | q[3];
            r->p += 5;
            return 0;
        }
    }
    return roci_rd_u64_x(r, v);
}

static inline int roci_rd_array(roci_rd *r, uint32_t *n)
{
    if (r->p < r->end && (*r->p & 0xf0) == 0x90 &&
        (size_t)(*r->p & 0x0f) <= (size_t)(r->end - r->p - 1)) {
        *n = *r->p++ & 0x0f;
        return 0;
    }
    return roci_rd_array_x(r, n);
}

static inline int roci_rd_map(roci_rd *r, uint32_t *n)
{
    if (r->p < r->end && (*r->p & 0xf0) == 0x80 &&
        (size_t)(*r->p & 0x0f) <= (size_t)(r->end - r->p - 1) / 2) {
        *n = *r->p++ & 0x0f;
        return 0;
    }
    return roci_rd_map_x(r, n);
}

static inline int roci_rd_str(roci_rd *r, const char **s, uint32_t *len)
{
    if (r->p < r->end && (*r->p & 0xe0) == 0xa0) {
        uint32_t n = *r->p & 0x1f;
        if (n <= (size_t)(r->end - r->p - 1)) {
            const uint8_t *q = r->p + 1;
            uint8_t hi = 0;
            for (uint32_t i = 0; i < n; i++)
                hi |= q[i];
            if (hi < 0x80) { /* ASCII: valid UTF-8 */
                *s = (const char *)q;
                *len = n;
                r->p = q + n;
                return 0;
            }
        }
    }
    return roci_rd_str_x(r, s, len);
}
bool roci_rd_is_nil(const roci_rd *r);
/* A whole value into arena a (depth counts from 0 at this value). */
int roci_rd_value(roci_rd *r, roc_arena *a, roc_value *out);
/* Skips one object, depth-checked. */
int roci_rd_skip(roci_rd *r);
/* The last error message of this thread's reader (static text). */
const char *roci_rd_why(void);

/* Writer: a msgpack_packer that appends to b. */
void roci_packer_init(msgpack_packer *pk, roc_buf *b);

/* A frame may leave one large bytes payload out of its buffer and send it
 * from the caller's memory (gather write): seg says where it belongs. */
#define ROCI_SEG_MIN (32u * 1024u)
typedef struct roci_seg {
    size_t off;         /* position in the buffer where ptr[0..len) goes */
    const uint8_t *ptr; /* NULL: no segment */
    size_t len;
} roci_seg;
typedef struct roci_wbuf {
    roc_buf *b;
    roci_seg *seg;
} roci_wbuf;
/* A packer over w->b that puts the first bin of >= ROCI_SEG_MIN bytes into
 * w->seg instead of copying it. */
void roci_packer_init_seg(msgpack_packer *pk, roci_wbuf *w);
int roci_buf_grow(roc_buf *b, size_t extra); /* the slow path */
static inline int roci_buf_reserve(roc_buf *b, size_t extra)
{
    return b->cap - b->len >= extra ? 0 : roci_buf_grow(b, extra);
}
int roci_pack_value(msgpack_packer *pk, const roc_value *v, unsigned depth);
int roci_pack_str(msgpack_packer *pk, const char *s, size_t len);
/* An unsigned integer, and an array or map header (written directly when
 * the packer writes into a roc_buf). */
int roci_pack_u64(msgpack_packer *pk, uint64_t v);
int roci_pack_container(msgpack_packer *pk, bool map, uint32_t n);

bool roci_utf8_valid(const uint8_t *s, size_t n);

/* Local objects (ROC_REF_LOCAL) are exported when a value holding them is
 * sent: the sender installs, for the encoding thread, a function that
 * exports the object on the connection at hand and gives its id. Without
 * one, such a value cannot be encoded (ROC_EINVAL). */
typedef int (*roci_export_fn)(void *ctx, void *object, const char **id);
void roci_pack_set_export(roci_export_fn fn, void *ctx);

#endif
