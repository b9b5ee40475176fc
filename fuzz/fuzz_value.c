/* libFuzzer target: value decoding (roc_decode, docs/wire.md section 10).
 *
 * Any bytes go to roc_decode. What decodes must survive the round trip:
 * encode(decode(x)) decodes again, and encoding that is a fixed point
 * (bytes compared, so NaN payloads do not matter). The decoded value is
 * also copied and turned into JSON (json.c). A violated property aborts, so
 * libFuzzer reports it like a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fv_check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return 0;
    /* the first byte picks a depth limit, so shallow limits get fuzzed */
    unsigned depth = size ? (data[0] % 4 == 0 ? 4u : 0u) : 0u;
    roc_value *v = NULL;
    roc_error e = ROC_ERROR_INIT;
    int rv = roc_decode(a, data, size, depth, &v, &e);
    if (rv == 0) {
        fv_check(v != NULL);
        roc_buf b1 = ROC_BUF_INIT, b2 = ROC_BUF_INIT;
        /* the encoder refuses nesting over the default depth only */
        if (roc_encode(&b1, v, &e) == 0) {
            roc_value *w = NULL;
            fv_check(roc_decode(a, b1.data, b1.len, 0, &w, &e) == 0);
            fv_check(roc_encode(&b2, w, &e) == 0);
            fv_check(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
            roc_value *c = roc_value_copy(a, w);
            fv_check(c != NULL);
        }
        char *json = NULL;
        /* (map keys nested in map keys once made JSON text grow
         * exponentially: fuzz/regressions/value-json-key-nesting; their
         * text is bounded now) */
        if (roc_value_to_json(v, 0, &json, &e) == 0) {
            roc_value *j = NULL;
            roc_error_clear(&e);
            (void)roc_value_from_json(a, json, &j, &e);
            free(json);
        }
        roc_buf_free(&b1);
        roc_buf_free(&b2);
    } else {
        fv_check(e.message != NULL);
    }
    roc_error_clear(&e);
    roc_arena_free(a);
    return 0;
}
