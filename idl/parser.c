/* The IDL parser: recursive descent, one function per grammar rule
 * (IDL.md "Grammar"), one token of lookahead. On an error it reports,
 * then skips to the next ';' or '}' (a nested '{...}' block is skipped
 * whole) so that one run reports several errors. */
#include "internal.h"

#include <string.h>

typedef struct parser {
    idl_ctx *ctx;
    idl_file *file;
    lexer lx;
    token tok;      /* current token */
    size_t prev_end; /* end offset of the previous token */
    bool panic;     /* an error was reported in the current construct */
} parser;

static void next(parser *p)
{
    p->prev_end = p->tok.off + p->tok.len;
    lex_next(&p->lx, &p->tok);
}

static bool at(const parser *p, tok_kind k)
{
    return p->tok.kind == k;
}

static bool accept(parser *p, tok_kind k)
{
    if (!at(p, k))
        return false;
    next(p);
    return true;
}

static void error_at(parser *p, idl_pos pos, const char *fmt, ...)
    IDL_PRINTF(3, 4);
static void error_at(parser *p, idl_pos pos, const char *fmt, ...)
{
    if (p->panic)
        return;
    p->panic = true;
    va_list ap;
    va_start(ap, fmt);
    idl_errorv(p->ctx, pos, fmt, ap);
    va_end(ap);
}

/* "expected ';' after field 'x', found '}'" */
static bool expect(parser *p, tok_kind k, const char *after)
{
    if (accept(p, k))
        return true;
    if (!p->panic)
        error_at(p, p->tok.pos, "expected %s%s%s %s, found %s",
                 k >= T_KW_FIRST ? "keyword '" : "", tok_kind_text(k),
                 k >= T_KW_FIRST ? "'" : "", after,
                 tok_describe(p->ctx, &p->tok));
    return false;
}

static char *ident(parser *p, idl_pos *pos, const char *what)
{
    if (at(p, T_IDENT)) {
        char *s = idl_strndup(p->ctx, p->file->text + p->tok.off, p->tok.len);
        if (pos)
            *pos = p->tok.pos;
        next(p);
        return s;
    }
    if (!p->panic)
        error_at(p, p->tok.pos, "expected %s, found %s", what,
                 tok_describe(p->ctx, &p->tok));
    return NULL;
}

/* Skips to a recovery point: after ';', before '}', or after a skipped
 * '{...}' block. Ends panic mode. */
static void recover(parser *p)
{
    if (!p->panic)
        return;
    while (!at(p, T_EOF)) {
        if (accept(p, T_SEMI))
            break;
        if (at(p, T_RBRACE))
            break;
        if (at(p, T_LBRACE)) {
            int depth = 0;
            do {
                if (at(p, T_LBRACE))
                    depth++;
                else if (at(p, T_RBRACE))
                    depth--;
                next(p);
            } while (depth > 0 && !at(p, T_EOF));
            break;
        }
        next(p);
    }
    p->panic = false;
}

#define APPEND(ctx, arr, n, v)                                                 \
    do {                                                                       \
        (arr) = idl_grow((ctx), (arr), (n), sizeof *(arr));                    \
        (arr)[(n)++] = (v);                                                    \
    } while (0)

/* qualified = IDENT { "." IDENT } */
static char *parse_qualified(parser *p, idl_pos *pos, const char *what)
{
    char *s = ident(p, pos, what);
    if (!s)
        return NULL;
    while (at(p, T_DOT)) {
        next(p);
        idl_pos ip;
        char *part = ident(p, &ip, "identifier after '.'");
        if (!part)
            return NULL;
        s = idl_printf(p->ctx, "%s.%s", s, part);
    }
    return s;
}

static idl_type *new_type(parser *p, idl_type_kind k, idl_pos pos)
{
    idl_type *t = idl_alloc(p->ctx, sizeof *t);
    t->kind = k;
    t->pos = pos;
    return t;
}

static idl_type *parse_type(parser *p, const char *ctxmsg);

/* type = base | list<type> | map<type, type> | optional<type> | qualified */
static idl_type *parse_type(parser *p, const char *ctxmsg)
{
    idl_pos pos = p->tok.pos;
    tok_kind k = p->tok.kind;
    if (k >= T_BOOL && k <= T_ANY) {
        next(p);
        return new_type(p, (idl_type_kind)(IDL_BOOL + (k - T_BOOL)), pos);
    }
    if (k == T_LIST || k == T_OPTIONAL) {
        next(p);
        idl_type *t = new_type(p, k == T_LIST ? IDL_LIST : IDL_OPTIONAL, pos);
        const char *name = k == T_LIST ? "after 'list'" : "after 'optional'";
        if (!expect(p, T_LT, name))
            return NULL;
        t->elem = parse_type(p, "element type");
        if (!t->elem)
            return NULL;
        if (!expect(p, T_GT, k == T_LIST ? "to close 'list<'"
                                         : "to close 'optional<'"))
            return NULL;
        return t;
    }
    if (k == T_MAP) {
        next(p);
        idl_type *t = new_type(p, IDL_MAP, pos);
        if (!expect(p, T_LT, "after 'map'"))
            return NULL;
        t->key = parse_type(p, "map key type");
        if (!t->key || !expect(p, T_COMMA, "after map key type"))
            return NULL;
        t->elem = parse_type(p, "map value type");
        if (!t->elem || !expect(p, T_GT, "to close 'map<'"))
            return NULL;
        return t;
    }
    if (k == T_VOID) {
        error_at(p, pos, "'void' is only allowed as an operation's result");
        next(p);
        return NULL;
    }
    if (k == T_IDENT) {
        idl_type *t = new_type(p, IDL_NAMED, pos);
        t->name = parse_qualified(p, NULL, "type");
        return t->name ? t : NULL;
    }
    error_at(p, pos, "expected %s, found %s", ctxmsg,
             tok_describe(p->ctx, &p->tok));
    return NULL;
}

/* literal = INTEGER | FLOAT | STRING | true | false */
static bool parse_literal(parser *p, idl_literal *lit, const char *after)
{
    *lit = p->tok.lit;
    lit->pos = p->tok.pos;
    switch (p->tok.kind) {
    case T_INT:
    case T_FLOAT:
    case T_STRING:
        next(p);
        return true;
    case T_TRUE:
    case T_FALSE:
        lit->kind = IDL_LIT_BOOL;
        lit->b = at(p, T_TRUE);
        next(p);
        return true;
    default:
        error_at(p, p->tok.pos, "expected a literal %s, found %s", after,
                 tok_describe(p->ctx, &p->tok));
        return false;
    }
}

static idl_decl *new_decl(parser *p, idl_decl_kind k, const token *first)
{
    idl_decl *d = idl_alloc(p->ctx, sizeof *d);
    d->kind = k;
    d->doc = first->doc;
    d->pos = first->pos;
    d->src_begin = first->off;
    return d;
}

static void end_decl(parser *p, idl_decl *d)
{
    d->src_end = p->prev_end;
}

/* const = "const" type IDENT "=" literal ";" */
static idl_decl *parse_const(parser *p)
{
    token first = p->tok;
    next(p);
    idl_decl *d = new_decl(p, IDL_D_CONST, &first);
    d->type = parse_type(p, "constant type");
    if (!d->type)
        return NULL;
    d->name = ident(p, &d->pos, "constant name");
    if (!d->name)
        return NULL;
    if (!expect(p, T_EQ, idl_printf(p->ctx, "after constant '%s'", d->name)))
        return NULL;
    if (!parse_literal(p, &d->value,
                       idl_printf(p->ctx, "for constant '%s'", d->name)))
        return NULL;
    if (!expect(p, T_SEMI, idl_printf(p->ctx, "after constant '%s'", d->name)))
        return NULL;
    end_decl(p, d);
    return d;
}

/* enum = "enum" IDENT "{" enumerator { "," enumerator } [","] "}" */
static idl_decl *parse_enum(parser *p)
{
    token first = p->tok;
    next(p);
    idl_decl *d = new_decl(p, IDL_D_ENUM, &first);
    d->name = ident(p, &d->pos, "enum name");
    if (!d->name || !expect(p, T_LBRACE, "after enum name"))
        return NULL;
    for (;;) {
        if (at(p, T_RBRACE) && d->n_enums > 0)
            break;
        /* enumerator = IDENT [ "=" INTEGER ] */
        idl_enumerator e;
        memset(&e, 0, sizeof e);
        e.doc = p->tok.doc;
        e.name = ident(p, &e.pos, "enumerator name");
        if (!e.name)
            return NULL;
        if (accept(p, T_EQ)) {
            if (!at(p, T_INT)) {
                error_at(p, p->tok.pos,
                         "expected an integer for enumerator '%s', found %s",
                         e.name, tok_describe(p->ctx, &p->tok));
                return NULL;
            }
            e.has_value = true;
            parse_literal(p, &e.lit, "");
        }
        APPEND(p->ctx, d->enums, d->n_enums, e);
        if (accept(p, T_COMMA))
            continue;
        if (at(p, T_RBRACE))
            break;
        error_at(p, p->tok.pos, "expected ',' or '}' after enumerator '%s', "
                 "found %s", e.name, tok_describe(p->ctx, &p->tok));
        return NULL;
    }
    next(p); /* '}' */
    end_decl(p, d);
    return d;
}

/* field = type IDENT [ "=" literal ] ";" */
static bool parse_field(parser *p, idl_decl *d)
{
    idl_field f;
    memset(&f, 0, sizeof f);
    f.doc = p->tok.doc;
    f.type = parse_type(p, "field type or '}'");
    if (!f.type)
        return false;
    f.name = ident(p, &f.pos, "field name");
    if (!f.name)
        return false;
    if (accept(p, T_EQ)) {
        if (!parse_literal(p, &f.def,
                           idl_printf(p->ctx, "for field '%s'", f.name)))
            return false;
    }
    if (!expect(p, T_SEMI, idl_printf(p->ctx, "after field '%s'", f.name)))
        return false;
    APPEND(p->ctx, d->fields, d->n_fields, f);
    return true;
}

/* struct = "struct" IDENT "{" { field } "}"; exception likewise */
static idl_decl *parse_struct(parser *p)
{
    token first = p->tok;
    bool exc = at(p, T_EXCEPTION);
    next(p);
    idl_decl *d = new_decl(p, exc ? IDL_D_EXCEPTION : IDL_D_STRUCT, &first);
    d->name = ident(p, &d->pos, exc ? "exception name" : "struct name");
    if (!d->name || !expect(p, T_LBRACE, exc ? "after exception name"
                                             : "after struct name"))
        return NULL;
    while (!at(p, T_RBRACE) && !at(p, T_EOF)) {
        if (!parse_field(p, d))
            recover(p);
        if (p->ctx->too_many)
            return NULL;
    }
    if (!expect(p, T_RBRACE, idl_printf(p->ctx, "to close %s '%s'",
                                        exc ? "exception" : "struct", d->name)))
        return NULL;
    end_decl(p, d);
    return d;
}

/* typedef = "typedef" type IDENT ";" */
static idl_decl *parse_typedef(parser *p)
{
    token first = p->tok;
    next(p);
    idl_decl *d = new_decl(p, IDL_D_TYPEDEF, &first);
    d->type = parse_type(p, "type");
    if (!d->type)
        return NULL;
    d->name = ident(p, &d->pos, "typedef name");
    if (!d->name)
        return NULL;
    if (!expect(p, T_SEMI, idl_printf(p->ctx, "after typedef '%s'", d->name)))
        return NULL;
    end_decl(p, d);
    return d;
}

/* attribute = [ "readonly" ] "attribute" type IDENT ";" */
static bool parse_attribute(parser *p, idl_decl *d)
{
    idl_attribute a;
    memset(&a, 0, sizeof a);
    a.doc = p->tok.doc;
    if (accept(p, T_READONLY)) {
        a.readonly = true;
        if (!expect(p, T_ATTRIBUTE, "after 'readonly'"))
            return false;
    } else {
        next(p); /* 'attribute' */
    }
    a.type = parse_type(p, "attribute type");
    if (!a.type)
        return false;
    a.name = ident(p, &a.pos, "attribute name");
    if (!a.name)
        return false;
    if (!expect(p, T_SEMI, idl_printf(p->ctx, "after attribute '%s'", a.name)))
        return false;
    APPEND(p->ctx, d->attrs, d->n_attrs, a);
    return true;
}

/* qualified { "," qualified } after "raises (" or ":" */
static bool parse_qnames(parser *p, idl_qname **arr, size_t *n,
                         const char *what)
{
    do {
        idl_qname q;
        memset(&q, 0, sizeof q);
        q.name = parse_qualified(p, &q.pos, what);
        if (!q.name)
            return false;
        APPEND(p->ctx, *arr, *n, q);
    } while (accept(p, T_COMMA));
    return true;
}

/* operation = [ "oneway" | "idempotent" ] ( type | "void" ) IDENT
 *             "(" [ param { "," param } ] ")" [ "raises" "(" ... ")" ] ";" */
static bool parse_operation(parser *p, idl_decl *d)
{
    idl_operation op;
    memset(&op, 0, sizeof op);
    op.doc = p->tok.doc;
    if (accept(p, T_ONEWAY))
        op.oneway = true;
    else if (accept(p, T_IDEMPOTENT))
        op.idempotent = true;
    if (at(p, T_VOID)) {
        op.result = new_type(p, IDL_VOID, p->tok.pos);
        next(p);
    } else {
        op.result = parse_type(p, "operation, attribute or '}'");
        if (!op.result)
            return false;
    }
    op.name = ident(p, &op.pos, "operation name");
    if (!op.name)
        return false;
    if (!expect(p, T_LPAREN,
                idl_printf(p->ctx, "after operation name '%s'", op.name)))
        return false;
    if (!at(p, T_RPAREN)) {
        do {
            /* param = type IDENT */
            idl_param prm;
            memset(&prm, 0, sizeof prm);
            prm.type = parse_type(p, "parameter type");
            if (!prm.type)
                return false;
            prm.name = ident(p, &prm.pos, "parameter name");
            if (!prm.name)
                return false;
            APPEND(p->ctx, op.params, op.n_params, prm);
        } while (accept(p, T_COMMA));
    }
    if (!expect(p, T_RPAREN,
                idl_printf(p->ctx, "after parameters of '%s'", op.name)))
        return false;
    if (accept(p, T_RAISES)) {
        if (!expect(p, T_LPAREN, "after 'raises'"))
            return false;
        if (!parse_qnames(p, &op.raises, &op.n_raises, "exception name"))
            return false;
        if (!expect(p, T_RPAREN, "after exception names"))
            return false;
    }
    if (!expect(p, T_SEMI, idl_printf(p->ctx, "after operation '%s'", op.name)))
        return false;
    APPEND(p->ctx, d->ops, d->n_ops, op);
    return true;
}

/* interface = "interface" IDENT [ ":" qualified { "," qualified } ]
 *             "{" { attribute | operation } "}" */
static idl_decl *parse_interface(parser *p)
{
    token first = p->tok;
    next(p);
    idl_decl *d = new_decl(p, IDL_D_INTERFACE, &first);
    d->name = ident(p, &d->pos, "interface name");
    if (!d->name)
        return NULL;
    if (accept(p, T_COLON)) {
        if (!parse_qnames(p, &d->bases, &d->n_bases, "base interface name"))
            return NULL;
    }
    if (!expect(p, T_LBRACE, "after interface name"))
        return NULL;
    while (!at(p, T_RBRACE) && !at(p, T_EOF)) {
        bool ok = at(p, T_ATTRIBUTE) || at(p, T_READONLY)
                      ? parse_attribute(p, d)
                      : parse_operation(p, d);
        if (!ok)
            recover(p);
        if (p->ctx->too_many)
            return NULL;
    }
    if (!expect(p, T_RBRACE,
                idl_printf(p->ctx, "to close interface '%s'", d->name)))
        return NULL;
    end_decl(p, d);
    return d;
}

static idl_decl *parse_module(parser *p);

/* definition = const | enum | struct | exception | typedef | interface;
 * inside modules, nested modules too. */
static idl_decl *parse_definition(parser *p, bool allow_module)
{
    switch (p->tok.kind) {
    case T_CONST: return parse_const(p);
    case T_ENUM: return parse_enum(p);
    case T_STRUCT:
    case T_EXCEPTION: return parse_struct(p);
    case T_TYPEDEF: return parse_typedef(p);
    case T_INTERFACE: return parse_interface(p);
    case T_MODULE:
        if (allow_module)
            return parse_module(p);
        break;
    case T_IMPORT:
        error_at(p, p->tok.pos, "imports must come before any definition");
        return NULL;
    default: break;
    }
    error_at(p, p->tok.pos, "expected a definition, found %s",
             tok_describe(p->ctx, &p->tok));
    return NULL;
}

/* module = "module" qualified "{" { definition | module } "}" */
static idl_decl *parse_module(parser *p)
{
    token first = p->tok;
    next(p);
    idl_decl *d = new_decl(p, IDL_D_MODULE, &first);
    d->name = parse_qualified(p, &d->pos, "module name");
    if (!d->name || !expect(p, T_LBRACE, "after module name"))
        return NULL;
    while (!at(p, T_RBRACE) && !at(p, T_EOF)) {
        idl_decl *m = parse_definition(p, true);
        if (m) {
            m->parent = d;
            APPEND(p->ctx, d->members, d->n_members, m);
        } else {
            recover(p);
        }
        if (p->ctx->too_many)
            return d;
    }
    if (!expect(p, T_RBRACE, idl_printf(p->ctx, "to close module '%s'",
                                        d->name)))
        return d;
    end_decl(p, d);
    return d;
}

/* import = "import" STRING ";" */
static void parse_import(parser *p)
{
    next(p);
    if (!at(p, T_STRING)) {
        error_at(p, p->tok.pos, "expected a file name after 'import', found %s",
                 tok_describe(p->ctx, &p->tok));
        return;
    }
    idl_pos pos = p->tok.pos;
    char *name = p->tok.lit.s;
    next(p);
    if (!expect(p, T_SEMI, "after import"))
        return;
    idl_file *f = p->file;
    size_t n = f->n_imports;
    f->imports = idl_grow(p->ctx, f->imports, n, sizeof *f->imports);
    f->import_pos = idl_grow(p->ctx, f->import_pos, n, sizeof *f->import_pos);
    f->imported = idl_grow(p->ctx, f->imported, n, sizeof *f->imported);
    f->imports[n] = name;
    f->import_pos[n] = pos;
    f->imported[n] = idl_load(p->ctx, name, f, pos);
    f->n_imports = n + 1;
}

/* file = { import } { module | definition }
 * IDL.md's example puts imports inside a module block too; both are
 * accepted, before any definition of their scope. */
void idl_parse_source(idl_ctx *ctx, idl_file *file)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.file = file;
    lex_init(&p.lx, ctx, file);
    next(&p);
    while (at(&p, T_IMPORT)) {
        parse_import(&p);
        recover(&p);
    }
    while (!at(&p, T_EOF) && !ctx->too_many) {
        if (at(&p, T_MODULE)) {
            /* allow imports right after a module's '{' */
            token first = p.tok;
            next(&p);
            idl_decl *d = new_decl(&p, IDL_D_MODULE, &first);
            d->name = parse_qualified(&p, &d->pos, "module name");
            if (!d->name || !expect(&p, T_LBRACE, "after module name")) {
                recover(&p);
                continue;
            }
            while (at(&p, T_IMPORT)) {
                parse_import(&p);
                recover(&p);
            }
            while (!at(&p, T_RBRACE) && !at(&p, T_EOF) && !ctx->too_many) {
                idl_decl *m = parse_definition(&p, true);
                if (m) {
                    m->parent = d;
                    APPEND(ctx, d->members, d->n_members, m);
                } else {
                    recover(&p);
                }
            }
            if (expect(&p, T_RBRACE,
                       idl_printf(ctx, "to close module '%s'", d->name)))
                end_decl(&p, d);
            else
                p.panic = false;
            APPEND(ctx, file->decls, file->n_decls, d);
            continue;
        }
        if (at(&p, T_RBRACE)) {
            error_at(&p, p.tok.pos, "unexpected '}'");
            next(&p);
            p.panic = false;
            continue;
        }
        idl_decl *d = parse_definition(&p, false);
        if (d)
            APPEND(ctx, file->decls, file->n_decls, d);
        else
            recover(&p);
    }
}
