/* libFuzzer target: frames and envelopes (docs/wire.md sections 2, 3, 8).
 *
 * The input is a byte stream cut into frames by their 4-byte big-endian
 * length prefix, as a connection's read loop does (a length of 0 or over
 * the limit ends the stream, as it closes a connection). Each body goes
 * through the runtime's internal msgpack reader the way conn.c reads an
 * envelope (roci_rd_array/u64/str/map/skip/value) and through the public
 * roc_decode, and the decoded envelope through the shape rules of
 * section 3. Properties checked: a body roc_decode accepts is skipped
 * whole by roci_rd_skip at the same depth; the envelope reader never reads
 * past the frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FE_MAX_FRAME (64u * 1024u)

static void fe_check(int cond)
{
    if (!cond)
        abort();
}

/* Reads an envelope as conn.c does: [1, kind, ...] with exact shapes. 0
 * when well-formed. */
static int fe_read_envelope(const uint8_t *f, size_t n, roc_arena *a)
{
    roci_rd r;
    roci_rd_init(&r, f, n, ROC_DEFAULT_MAX_DEPTH + 2);
    uint32_t nelem, nm;
    uint64_t ver, kind, id;
    const char *s;
    uint32_t sl;
    roc_value v;
    if (roci_rd_array(&r, &nelem) || nelem < 2 || roci_rd_u64(&r, &ver) ||
        ver != 1 || roci_rd_u64(&r, &kind))
        return -1;
    int rv = 0;
    switch (kind) {
    case 0: /* hello [1, 0, {"v": [min, max], ...}] */
        if (nelem != 3 || roci_rd_map(&r, &nm))
            return -1;
        for (uint32_t i = 0; i < nm && rv == 0; i++) {
            if (roci_rd_str(&r, &s, &sl))
                return -1;
            if (sl == 1 && s[0] == 'v') {
                uint32_t na;
                uint64_t lo, hi;
                if (roci_rd_array(&r, &na) || na != 2 ||
                    roci_rd_u64(&r, &lo) || roci_rd_u64(&r, &hi))
                    return -1;
            } else {
                rv = roci_rd_skip(&r);
            }
        }
        break;
    case 1:
    case 2: /* call / oneway */
        if (nelem != 7 || roci_rd_u64(&r, &id) || roci_rd_str(&r, &s, &sl) ||
            roci_rd_str(&r, &s, &sl))
            return -1;
        if (roci_rd_array(&r, &nm))
            return -1;
        for (uint32_t i = 0; i < nm && rv == 0; i++)
            rv = roci_rd_value(&r, a, &v);
        if (rv || roci_rd_map(&r, &nm))
            return -1;
        for (uint32_t i = 0; i < nm && rv == 0; i++) {
            if (roci_rd_str(&r, &s, &sl))
                return -1;
            uint64_t dl;
            if (sl == 8 && memcmp(s, "deadline", 8) == 0)
                rv = roci_rd_u64(&r, &dl);
            else if (sl == 5 && memcmp(s, "trace", 5) == 0)
                rv = roci_rd_str(&r, &s, &sl);
            else
                rv = roci_rd_skip(&r);
        }
        break;
    case 3: /* result */
        if (nelem != 4 || roci_rd_u64(&r, &id))
            return -1;
        rv = roci_rd_value(&r, a, &v);
        break;
    case 4: { /* error [code, type, message, data] */
        int64_t code;
        if (nelem != 4 || roci_rd_u64(&r, &id) || roci_rd_array(&r, &nm) ||
            nm != 4 || roci_rd_i64(&r, &code) || roci_rd_str(&r, &s, &sl) ||
            roci_rd_str(&r, &s, &sl))
            return -1;
        rv = roci_rd_value(&r, a, &v);
        break;
    }
    case 5: /* cancel */
        if (nelem != 3)
            return -1;
        rv = roci_rd_u64(&r, &id);
        break;
    case 6:
    case 7: /* ping / pong: any token */
        if (nelem != 3)
            return -1;
        rv = roci_rd_skip(&r);
        break;
    case 8: /* bye */
        if (nelem != 3)
            return -1;
        rv = roci_rd_str(&r, &s, &sl);
        break;
    case 9: /* auth */
        if (nelem != 3)
            return -1;
        rv = roci_rd_skip(&r);
        break;
    default:
        return -1;
    }
    fe_check(r.p <= r.end);
    if (rv)
        return -1;
    return r.p == r.end ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return 0;
    size_t off = 0;
    while (size - off >= 4) {
        const uint8_t *h = data + off;
        size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) |
                   ((size_t)h[2] << 8) | h[3];
        if (n == 0 || n > FE_MAX_FRAME || size - off - 4 < n)
            break;
        const uint8_t *body = h + 4;
        off += 4 + n;
        (void)fe_read_envelope(body, n, a);
        roc_value *env = NULL;
        roc_error e = ROC_ERROR_INIT;
        if (roc_decode(a, body, n, ROC_DEFAULT_MAX_DEPTH + 2, &env, &e) == 0) {
            roci_rd r;
            roci_rd_init(&r, body, n, ROC_DEFAULT_MAX_DEPTH + 2);
            fe_check(roci_rd_skip(&r) == 0 && r.p == r.end);
            /* shape per section 3, on the decoded value */
            if (env->type == ROC_ARRAY && roc_value_len(env) >= 2) {
                uint64_t kind = 0;
                (void)roc_value_get_uint(roc_value_at(env, 1), &kind);
                (void)roc_value_at(env, roc_value_len(env) - 1);
            }
        } else {
            fe_check(e.message != NULL);
        }
        roc_error_clear(&e);
        roc_arena_reset(a);
    }
    roc_arena_free(a);
    return 0;
}
