/* The ROC IDL front end: lexer, parser, AST and semantic checks
 * (../shared/IDL.md, docs/idl.md).
 *
 * Usage:
 *     idl_ctx *ctx = idl_ctx_new();
 *     idl_ctx_add_include_dir(ctx, "include");
 *     idl_file *f = idl_parse_file(ctx, "shop.roc");   // parses + imports
 *     if (idl_check(ctx) == 0) { ... walk f ... }
 *     idl_print_diags(ctx, stderr);
 *     idl_ctx_free(ctx);
 *
 * Everything (AST, strings, diagnostics) is owned by the context and freed
 * with it. The library has no dependency on the runtime (libroc).
 */
#ifndef ROC_IDL_H
#define ROC_IDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many errors are reported by one run (then parsing stops). */
#define IDL_MAX_ERRORS 20

typedef struct idl_ctx idl_ctx;
typedef struct idl_file idl_file;
typedef struct idl_decl idl_decl;
typedef struct idl_type idl_type;

/* A source position: 1-based line and column (columns count bytes). */
typedef struct idl_pos {
    const idl_file *file;
    int line;
    int col;
} idl_pos;

typedef enum idl_type_kind {
    IDL_BOOL,
    IDL_I8,
    IDL_I16,
    IDL_I32,
    IDL_I64,
    IDL_U8,
    IDL_U16,
    IDL_U32,
    IDL_U64,
    IDL_F32,
    IDL_F64,
    IDL_STRING,
    IDL_BYTES,
    IDL_ANY,
    IDL_LIST,     /* elem */
    IDL_MAP,      /* key, elem (the value type) */
    IDL_OPTIONAL, /* elem */
    IDL_NAMED,    /* name, resolved to decl by idl_check */
    IDL_VOID      /* only as an operation's result */
} idl_type_kind;

struct idl_type {
    idl_type_kind kind;
    idl_pos pos;
    idl_type *elem;
    idl_type *key;
    char *name;     /* IDL_NAMED: as written, e.g. "demo.Money" */
    idl_decl *decl; /* IDL_NAMED: the declaration it resolves to */
};

typedef enum idl_lit_kind {
    IDL_LIT_NONE = 0,
    IDL_LIT_INT,
    IDL_LIT_FLOAT,
    IDL_LIT_STRING,
    IDL_LIT_BOOL
} idl_lit_kind;

typedef struct idl_literal {
    idl_lit_kind kind;
    idl_pos pos;
    bool negative;   /* INT: a leading '-' */
    uint64_t mag;    /* INT: magnitude */
    bool overflow;   /* INT: magnitude beyond 2^64-1 */
    double f;        /* FLOAT (and INT converted) */
    char *s;         /* STRING: decoded UTF-8; FLOAT: the source text */
    size_t slen;
    bool b;
} idl_literal;

typedef struct idl_field {
    idl_pos pos;
    char *name;
    char *doc;
    idl_type *type;
    idl_literal def; /* IDL_LIT_NONE when no default */
} idl_field;

typedef struct idl_enumerator {
    idl_pos pos;
    char *name;
    char *doc;
    bool has_value;
    idl_literal lit;
    int64_t value; /* computed by idl_check */
} idl_enumerator;

typedef struct idl_param {
    idl_pos pos;
    char *name;
    idl_type *type;
} idl_param;

typedef struct idl_qname {
    idl_pos pos;
    char *name;     /* as written */
    idl_decl *decl; /* resolved */
} idl_qname;

typedef struct idl_operation {
    idl_pos pos;
    char *name;
    char *doc;
    bool oneway;
    bool idempotent;
    idl_type *result; /* IDL_VOID for void */
    idl_param *params;
    size_t n_params;
    idl_qname *raises;
    size_t n_raises;
    /* attribute accessors are synthesized into operations too: */
    bool is_getter;
    bool is_setter;
    const struct idl_attribute *attr;
    const struct idl_decl *iface; /* the interface declaring it (idl_check) */
} idl_operation;

typedef struct idl_attribute {
    idl_pos pos;
    char *name;
    char *doc;
    bool readonly;
    idl_type *type;
} idl_attribute;

typedef enum idl_decl_kind {
    IDL_D_MODULE,
    IDL_D_CONST,
    IDL_D_ENUM,
    IDL_D_STRUCT,
    IDL_D_EXCEPTION,
    IDL_D_TYPEDEF,
    IDL_D_INTERFACE
} idl_decl_kind;

struct idl_decl {
    idl_decl_kind kind;
    idl_pos pos;
    char *name;     /* simple name; a module block: its qualified name */
    char *doc;      /* doc comment or NULL */
    char *qname;    /* fully qualified, e.g. "demo.shop.Item" (by idl_check) */
    idl_decl *parent; /* enclosing module block or NULL */
    const char *module; /* qualified name of the enclosing module, "" at top */
    size_t src_begin, src_end; /* byte offsets of the declaration's text */

    /* MODULE: members in source order */
    idl_decl **members;
    size_t n_members;
    /* CONST, TYPEDEF: type (and value) */
    idl_type *type;
    idl_literal value;
    /* ENUM */
    idl_enumerator *enums;
    size_t n_enums;
    /* STRUCT, EXCEPTION */
    idl_field *fields;
    size_t n_fields;
    /* INTERFACE */
    idl_qname *bases;
    size_t n_bases;
    idl_attribute *attrs;
    size_t n_attrs;
    idl_operation *ops;
    size_t n_ops;
    /* INTERFACE, after idl_check: every method the interface answers, bases
     * first (depth-first, each base once), then attribute accessors and
     * operations in source order. */
    const idl_operation **all_ops;
    size_t n_all_ops;
    int visit_; /* private: cycle detection */
};

struct idl_file {
    char *path;       /* as opened */
    char *name;       /* as shown in messages */
    char *text;       /* whole source, NUL-terminated */
    size_t len;
    char **imports;   /* import strings as written */
    idl_pos *import_pos;
    idl_file **imported; /* resolved files (NULL where it failed) */
    size_t n_imports;
    idl_decl **decls; /* top-level declarations (modules and definitions) */
    size_t n_decls;
    bool main_;       /* private */
    int visit_;       /* private */
};

typedef struct idl_diag {
    idl_pos pos;
    char *message;
} idl_diag;

idl_ctx *idl_ctx_new(void);
void idl_ctx_free(idl_ctx *ctx);
/* Adds a directory searched for imports (after the importing file's own
 * directory). */
void idl_ctx_add_include_dir(idl_ctx *ctx, const char *dir);
/* Registers an in-memory source: imports of `name` (and idl_parse_file of
 * it) use text instead of the file system. For tests and tools. */
void idl_ctx_add_source(idl_ctx *ctx, const char *name, const char *text);

/* Parses the file (and, recursively, its imports). Returns the file or NULL
 * when it cannot be read (a diagnostic says why). Syntax errors are
 * recorded as diagnostics; the returned AST holds what could be parsed. */
idl_file *idl_parse_file(idl_ctx *ctx, const char *path);
/* Runs the semantic checks over every parsed file. Returns the number of
 * errors in the context (parse errors included): 0 means the AST is valid
 * and fully resolved. */
int idl_check(idl_ctx *ctx);

size_t idl_diag_count(const idl_ctx *ctx);
const idl_diag *idl_diag_get(const idl_ctx *ctx, size_t i);
/* Prints every diagnostic as "file:line:col: error: message", the source
 * line and a caret under the column. */
void idl_print_diags(const idl_ctx *ctx, FILE *out);

/* Files parsed, in dependency order (imports before importers). */
size_t idl_file_count(const idl_ctx *ctx);
idl_file *idl_file_get(const idl_ctx *ctx, size_t i);

/* Follows typedefs to the underlying type. */
const idl_type *idl_type_resolve(const idl_type *t);
/* The IDL spelling of a type ("list<Item>", "map<string, i64>"); the
 * returned string is owned by ctx. */
const char *idl_type_str(idl_ctx *ctx, const idl_type *t);
/* Name of a base kind ("i32", "string", ...). */
const char *idl_kind_name(idl_type_kind k);

#ifdef __cplusplus
}
#endif
#endif
