/* Private to the IDL front end: the context, the allocator, tokens. */
#ifndef ROC_IDL_INTERNAL_H
#define ROC_IDL_INTERNAL_H

#include "idl.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define IDL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IDL_PRINTF(a, b)
#endif

typedef struct idl_block idl_block;
typedef struct idl_source {
    char *name;
    char *text;
} idl_source;

struct idl_ctx {
    idl_block *blocks;      /* bump allocator: everything lives here */
    idl_diag *diags;
    size_t n_diags, cap_diags;
    bool too_many;          /* stopped after IDL_MAX_ERRORS */
    char **include_dirs;
    size_t n_include_dirs;
    idl_source *sources;
    size_t n_sources;
    idl_file **files;       /* dependency order */
    size_t n_files, cap_files;
    idl_file **stack;       /* files being parsed (import cycle check) */
    size_t n_stack;
    bool checked;
};

/* Allocation from the context (zeroed; aborting is not an option in a
 * library, so callers check for NULL where it matters; the front end
 * treats out-of-memory as fatal for the run and reports it). */
void *idl_alloc(idl_ctx *ctx, size_t n);
char *idl_strdup(idl_ctx *ctx, const char *s);
char *idl_strndup(idl_ctx *ctx, const char *s, size_t n);
char *idl_printf(idl_ctx *ctx, const char *fmt, ...) IDL_PRINTF(2, 3);
/* Appends v to a growable array of pointers/structs held in the context. */
void *idl_grow(idl_ctx *ctx, void *arr, size_t n, size_t elem);

/* Records an error at pos. Returns false when the error limit is reached. */
bool idl_error(idl_ctx *ctx, idl_pos pos, const char *fmt, ...)
    IDL_PRINTF(3, 4);
bool idl_errorv(idl_ctx *ctx, idl_pos pos, const char *fmt, va_list ap);

/* ---- tokens ---- */
typedef enum tok_kind {
    T_EOF = 0,
    T_IDENT,
    T_INT,
    T_FLOAT,
    T_STRING,
    T_LBRACE,
    T_RBRACE,
    T_LPAREN,
    T_RPAREN,
    T_LT,
    T_GT,
    T_COMMA,
    T_SEMI,
    T_COLON,
    T_EQ,
    T_DOT,
    /* keywords */
    T_KW_FIRST,
    T_IMPORT = T_KW_FIRST,
    T_MODULE,
    T_CONST,
    T_ENUM,
    T_STRUCT,
    T_EXCEPTION,
    T_TYPEDEF,
    T_INTERFACE,
    T_READONLY,
    T_ATTRIBUTE,
    T_ONEWAY,
    T_IDEMPOTENT,
    T_VOID,
    T_RAISES,
    T_LIST,
    T_MAP,
    T_OPTIONAL,
    T_TRUE,
    T_FALSE,
    T_BOOL,
    T_I8,
    T_I16,
    T_I32,
    T_I64,
    T_U8,
    T_U16,
    T_U32,
    T_U64,
    T_F32,
    T_F64,
    T_STRING_KW,
    T_BYTES,
    T_ANY,
    T_KW_LAST = T_ANY
} tok_kind;

typedef struct token {
    tok_kind kind;
    idl_pos pos;
    size_t off, len;   /* source span */
    char *doc;         /* doc comment just before this token, or NULL */
    idl_literal lit;   /* INT, FLOAT, STRING */
} token;

typedef struct lexer {
    idl_ctx *ctx;
    idl_file *file;
    const char *src;
    size_t len, off;
    int line, col;
    char *doc;          /* pending doc comment */
} lexer;

void lex_init(lexer *lx, idl_ctx *ctx, idl_file *file);
void lex_next(lexer *lx, token *t);
/* "';'", "identifier", "keyword 'struct'", ... for messages. */
const char *tok_describe(idl_ctx *ctx, const token *t);
const char *tok_kind_text(tok_kind k);

/* parser.c */
void idl_parse_source(idl_ctx *ctx, idl_file *file);
/* files.c: loads an import relative to the importer. */
idl_file *idl_load(idl_ctx *ctx, const char *name, const idl_file *from,
                   idl_pos pos);

#endif
