/* libFuzzer target: URI parsing (roc_uri_parse, roc_url_check,
 * roc_id_valid). A URI that parses must format and parse again to the same
 * parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fu_check(int cond)
{
    if (!cond)
        abort();
}

static int fu_streq(const char *x, const char *y)
{
    if (!x || !y)
        return x == y;
    return strcmp(x, y) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0) {
        free(text);
        return 0;
    }
    roc_error e = ROC_ERROR_INIT;
    (void)roc_id_valid(text);
    (void)roc_url_check(text, &e);
    roc_error_clear(&e);
    roc_uri u;
    memset(&u, 0, sizeof u);
    if (roc_uri_parse(a, text, &u, &e) == 0) {
        fu_check(u.n_tags <= ROC_URI_MAX_TAGS);
        char *s = NULL;
        if (roc_uri_format(&u, &s) == 0) {
            roc_uri u2;
            memset(&u2, 0, sizeof u2);
            fu_check(roc_uri_parse(a, s, &u2, &e) == 0);
            fu_check(u2.kind == u.kind && fu_streq(u2.id, u.id) &&
                     fu_streq(u2.url, u.url) && u2.n_tags == u.n_tags);
            for (size_t i = 0; i < u.n_tags; i++)
                fu_check(fu_streq(u.tags[i], u2.tags[i]));
            free(s);
        }
    } else {
        fu_check(e.message != NULL);
    }
    roc_error_clear(&e);
    roc_arena_free(a);
    free(text);
    return 0;
}
