/* msgpack encoding of values (wire protocol v1, docs/wire.md).
 *
 * The decoder is bounds-checked and never trusts a declared length or count
 * before checking it against the bytes present; nesting deeper than the
 * limit and invalid UTF-8 in strings are errors, never crashes.
 */
#ifndef ROC_CODEC_H
#define ROC_CODEC_H

#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default limits. */
#define ROC_DEFAULT_MAX_DEPTH 64
#define ROC_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)

/* A growable output buffer. Initialise with ROC_BUF_INIT; free data with
 * roc_buf_free. */
typedef struct roc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} roc_buf;
#define ROC_BUF_INIT {NULL, 0, 0}
ROC_API void roc_buf_free(roc_buf *b);

/* Appends the msgpack encoding of v to out (v == NULL encodes nil).
 * ROC_EINVAL for a value the decoder would refuse: a bad type tag, nesting
 * over ROC_DEFAULT_MAX_DEPTH, a string that is not UTF-8, an empty
 * reference. */
ROC_API int roc_encode(roc_buf *out, const roc_value *v, roc_error *err);

/* Decodes exactly one msgpack object from buf[0..len) into arena a.
 * max_depth 0 means ROC_DEFAULT_MAX_DEPTH. Trailing bytes are an error
 * (ROC_EPROTO), as are truncation, invalid UTF-8, reserved bytes and nesting
 * over the limit. max_depth is capped at 1000 (the decoder recurses).
 * Strings are copied into the arena; bins too. */
ROC_API int roc_decode(roc_arena *a, const void *buf, size_t len,
                       unsigned max_depth, roc_value **out, roc_error *err);

#ifdef __cplusplus
}
#endif
#endif
