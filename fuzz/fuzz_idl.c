/* libFuzzer target: the IDL front end (idl/: lexer, parser, semantic
 * checks). The input is the text of "fuzz.roc"; a second in-memory file
 * "common.roc" lets imports resolve. Diagnostics are printed to a null
 * stream so their formatting (source line and caret) runs too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *fi_null;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fi_null)
        fi_null = fopen("/dev/null", "w");
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    idl_ctx *ctx = idl_ctx_new();
    if (!ctx) {
        free(text);
        return 0;
    }
    idl_ctx_add_source(ctx, "common.roc",
                       "module common {\n struct Point { i32 x; i32 y = 0; }\n"
                       " enum Color { RED, GREEN = 5 }\n}\n");
    idl_ctx_add_source(ctx, "fuzz.roc", text);
    if (idl_parse_file(ctx, "fuzz.roc") != NULL)
        (void)idl_check(ctx);
    if (fi_null)
        idl_print_diags(ctx, fi_null);
    idl_ctx_free(ctx);
    free(text);
    return 0;
}
