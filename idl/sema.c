/* Semantic checks (IDL.md "Rules the compiler checks"): scopes and name
 * resolution, duplicates, cycles, map keys, oneway rules, constant ranges,
 * exceptions only after 'raises'. */
#include "internal.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

typedef struct scope scope;
typedef struct entry {
    const char *name;
    idl_decl *decl; /* definition, or the first block of a module */
    scope *sub;     /* module */
} entry;

struct scope {
    char *qname; /* "" for the root */
    scope *parent;
    entry *entries;
    size_t n;
};

typedef struct sema {
    idl_ctx *ctx;
    scope *root;
    idl_decl_kind cycle_kind; /* the kind whose cycles are being searched */
} sema;

static entry *find(scope *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->entries[i].name) == len &&
            memcmp(s->entries[i].name, name, len) == 0)
            return &s->entries[i];
    return NULL;
}

static const char *where(sema *S, const idl_decl *d, const idl_file *cur)
{
    if (d->pos.file == cur)
        return idl_printf(S->ctx, "line %d", d->pos.line);
    return idl_printf(S->ctx, "%s:%d", d->pos.file->name, d->pos.line);
}

static scope *new_scope(sema *S, scope *parent, const char *name)
{
    scope *s = idl_alloc(S->ctx, sizeof *s);
    s->parent = parent;
    s->qname = parent && parent->qname[0]
                   ? idl_printf(S->ctx, "%s.%s", parent->qname, name)
                   : idl_strdup(S->ctx, name);
    return s;
}

/* Enters (creating when needed) the scope of module block d. */
static scope *enter_module(sema *S, scope *s, idl_decl *d, bool create)
{
    const char *p = d->name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        entry *e = find(s, p, len);
        if (e && !e->sub) {
            if (create)
                idl_error(S->ctx, d->pos,
                          "module '%.*s' conflicts with '%s' defined at %s",
                          (int)len, p, e->name,
                          where(S, e->decl, d->pos.file));
            return NULL;
        }
        if (!e) {
            if (!create)
                return NULL;
            s->entries = idl_grow(S->ctx, s->entries, s->n, sizeof(entry));
            e = &s->entries[s->n++];
            e->name = idl_strndup(S->ctx, p, len);
            e->decl = d;
            e->sub = new_scope(S, s, e->name);
        }
        s = e->sub;
        p = dot ? dot + 1 : p + len;
    }
    return s;
}

static void declare(sema *S, scope *s, idl_decl *d)
{
    if (!d->name)
        return;
    d->module = s->qname;
    d->qname = s->qname[0] ? idl_printf(S->ctx, "%s.%s", s->qname, d->name)
                           : d->name;
    entry *e = find(s, d->name, strlen(d->name));
    if (e) {
        idl_error(S->ctx, d->pos, "duplicate definition of '%s' (first at %s)",
                  d->name, where(S, e->decl, d->pos.file));
        return;
    }
    s->entries = idl_grow(S->ctx, s->entries, s->n, sizeof(entry));
    e = &s->entries[s->n++];
    e->name = d->name;
    e->decl = d;
}

static void declare_all(sema *S, scope *s, idl_decl **decls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        idl_decl *d = decls[i];
        if (d->kind == IDL_D_MODULE) {
            scope *m = enter_module(S, s, d, true);
            d->module = s->qname;
            d->qname = m ? m->qname : d->name;
            if (m)
                declare_all(S, m, d->members, d->n_members);
        } else {
            declare(S, s, d);
        }
    }
}

/* Looks a qualified name up: in s, then outward. Returns the entry. */
static entry *lookup(scope *s, const char *name)
{
    for (; s; s = s->parent) {
        const char *p = name;
        scope *cur = s;
        entry *e = NULL;
        while (cur) {
            const char *dot = strchr(p, '.');
            size_t len = dot ? (size_t)(dot - p) : strlen(p);
            e = find(cur, p, len);
            if (!e || !dot)
                break;
            cur = e->sub;
            p = dot + 1;
            if (!cur)
                e = NULL;
        }
        if (e && (!strchr(p, '.')))
            return e;
    }
    return NULL;
}

const idl_type *idl_type_resolve(const idl_type *t)
{
    for (int guard = 0; t && t->kind == IDL_NAMED && t->decl &&
                        t->decl->kind == IDL_D_TYPEDEF && guard < 100;
         guard++)
        t = t->decl->type;
    return t;
}

const char *idl_kind_name(idl_type_kind k)
{
    static const char *const names[] = {
        "bool", "i8",  "i16",    "i32",   "i64", "u8",   "u16",
        "u32",  "u64", "f32",    "f64",   "string", "bytes", "any",
        "list", "map", "optional", "named", "void"};
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *idl_type_str(idl_ctx *ctx, const idl_type *t)
{
    if (!t)
        return "?";
    switch (t->kind) {
    case IDL_LIST:
        return idl_printf(ctx, "list<%s>", idl_type_str(ctx, t->elem));
    case IDL_OPTIONAL:
        return idl_printf(ctx, "optional<%s>", idl_type_str(ctx, t->elem));
    case IDL_MAP:
        return idl_printf(ctx, "map<%s, %s>", idl_type_str(ctx, t->key),
                          idl_type_str(ctx, t->elem));
    case IDL_NAMED: return t->name;
    default: return idl_kind_name(t->kind);
    }
}

static const char *kind_word(idl_decl_kind k)
{
    switch (k) {
    case IDL_D_MODULE: return "module";
    case IDL_D_CONST: return "constant";
    case IDL_D_ENUM: return "enum";
    case IDL_D_STRUCT: return "struct";
    case IDL_D_EXCEPTION: return "exception";
    case IDL_D_TYPEDEF: return "typedef";
    case IDL_D_INTERFACE: return "interface";
    }
    return "?";
}

/* ---- pass 2: resolution ---- */

static void resolve_type(sema *S, scope *s, idl_type *t)
{
    if (!t)
        return;
    switch (t->kind) {
    case IDL_LIST:
        resolve_type(S, s, t->elem);
        break;
    case IDL_OPTIONAL:
        resolve_type(S, s, t->elem);
        if (t->elem && t->elem->kind == IDL_OPTIONAL)
            idl_error(S->ctx, t->pos, "optional<optional<...>> is not allowed");
        break;
    case IDL_MAP:
        resolve_type(S, s, t->key);
        resolve_type(S, s, t->elem);
        break;
    case IDL_NAMED: {
        entry *e = lookup(s, t->name);
        if (!e) {
            idl_error(S->ctx, t->pos, "unknown type '%s'", t->name);
        } else if (e->sub || e->decl->kind == IDL_D_MODULE) {
            idl_error(S->ctx, t->pos, "'%s' is a module, not a type", t->name);
        } else if (e->decl->kind == IDL_D_EXCEPTION) {
            idl_error(S->ctx, t->pos,
                      "exception '%s' used as a type (exceptions appear only "
                      "after 'raises')",
                      t->name);
        } else if (e->decl->kind == IDL_D_CONST) {
            idl_error(S->ctx, t->pos, "constant '%s' used as a type", t->name);
        } else {
            t->decl = e->decl;
        }
        break;
    }
    default: break;
    }
}

static void resolve_qname(sema *S, scope *s, idl_qname *q,
                          idl_decl_kind want)
{
    entry *e = lookup(s, q->name);
    const char *w = kind_word(want);
    if (!e)
        idl_error(S->ctx, q->pos, "unknown %s '%s'", w, q->name);
    else if (e->sub || e->decl->kind != want)
        idl_error(S->ctx, q->pos, "'%s' is a %s, not an %s", q->name,
                  e->sub ? "module" : kind_word(e->decl->kind), w);
    else
        q->decl = e->decl;
}

static void resolve_interface(sema *S, scope *s, idl_decl *d)
{
    for (size_t i = 0; i < d->n_bases; i++) {
        resolve_qname(S, s, &d->bases[i], IDL_D_INTERFACE);
        for (size_t j = 0; j < i; j++)
            if (d->bases[i].decl && d->bases[i].decl == d->bases[j].decl)
                idl_error(S->ctx, d->bases[i].pos,
                          "base interface '%s' listed twice",
                          d->bases[i].name);
    }
    for (size_t i = 0; i < d->n_attrs; i++)
        resolve_type(S, s, d->attrs[i].type);
    for (size_t i = 0; i < d->n_ops; i++) {
        idl_operation *op = &d->ops[i];
        op->iface = d;
        if (op->result->kind != IDL_VOID)
            resolve_type(S, s, op->result);
        for (size_t j = 0; j < op->n_params; j++) {
            resolve_type(S, s, op->params[j].type);
            for (size_t k = 0; k < j; k++)
                if (strcmp(op->params[j].name, op->params[k].name) == 0) {
                    idl_error(S->ctx, op->params[j].pos,
                              "duplicate parameter '%s' in operation '%s'",
                              op->params[j].name, op->name);
                    break;
                }
        }
        for (size_t j = 0; j < op->n_raises; j++) {
            resolve_qname(S, s, &op->raises[j], IDL_D_EXCEPTION);
            for (size_t k = 0; k < j; k++)
                if (op->raises[j].decl &&
                    op->raises[j].decl == op->raises[k].decl) {
                    idl_error(S->ctx, op->raises[j].pos,
                              "exception '%s' listed twice in 'raises'",
                              op->raises[j].name);
                    break;
                }
        }
        if (op->oneway && op->result->kind != IDL_VOID)
            idl_error(S->ctx, op->result->pos,
                      "oneway operation '%s' must return void", op->name);
        if (op->oneway && op->n_raises > 0)
            idl_error(S->ctx, op->raises[0].pos,
                      "oneway operation '%s' cannot raise exceptions",
                      op->name);
    }
}

static void resolve_all(sema *S, scope *s, idl_decl **decls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        idl_decl *d = decls[i];
        switch (d->kind) {
        case IDL_D_MODULE: {
            scope *m = enter_module(S, s, d, false);
            if (m)
                resolve_all(S, m, d->members, d->n_members);
            break;
        }
        case IDL_D_CONST:
        case IDL_D_TYPEDEF:
            resolve_type(S, s, d->type);
            break;
        case IDL_D_ENUM:
            break;
        case IDL_D_STRUCT:
        case IDL_D_EXCEPTION:
            for (size_t j = 0; j < d->n_fields; j++) {
                resolve_type(S, s, d->fields[j].type);
                for (size_t k = 0; k < j; k++)
                    if (strcmp(d->fields[j].name, d->fields[k].name) == 0) {
                        idl_error(S->ctx, d->fields[j].pos,
                                  "duplicate field '%s' in %s '%s'",
                                  d->fields[j].name, kind_word(d->kind),
                                  d->name);
                        break;
                    }
            }
            break;
        case IDL_D_INTERFACE:
            resolve_interface(S, s, d);
            break;
        }
    }
}

/* ---- pass 3: cycles ---- */

typedef struct path {
    const idl_decl *items[64];
    size_t n;
} path;

static const char *path_text(sema *S, const path *pa, size_t from,
                             const idl_decl *back)
{
    const char *s = "";
    for (size_t i = from; i < pa->n; i++)
        s = idl_printf(S->ctx, "%s%s -> ", s, pa->items[i]->name);
    return idl_printf(S->ctx, "%s%s", s, back->name);
}

static void cycle_visit(sema *S, idl_decl *d, path *pa);

/* Named types a declaration depends on "by value" for the cycle check:
 * typedefs: every named type in their type; structs: fields whose type
 * (through typedefs) is a struct; interfaces: their bases. */
static void cycle_edge(sema *S, idl_decl *from, idl_decl *to, path *pa)
{
    (void)from;
    if (!to)
        return;
    if (to->visit_ == 1) {
        size_t at = 0;
        while (at < pa->n && pa->items[at] != to)
            at++;
        const char *what =
            to->kind == IDL_D_TYPEDEF     ? "typedef '%s' refers to itself: %s"
            : to->kind == IDL_D_INTERFACE ? "interface '%s' inherits from "
                                            "itself: %s"
                                          : "struct '%s' contains itself by "
                                            "value: %s";
        idl_error(S->ctx, to->pos, what, to->name, path_text(S, pa, at, to));
        /* mark the cycle done so it is reported once */
        for (size_t i = at; i < pa->n; i++)
            ((idl_decl *)pa->items[i])->visit_ = 3;
        return;
    }
    if (to->visit_ == 0)
        cycle_visit(S, to, pa);
}

static void typedef_edges(sema *S, idl_decl *d, const idl_type *t, path *pa)
{
    if (!t)
        return;
    if (t->kind == IDL_NAMED) {
        if (t->decl && t->decl->kind == IDL_D_TYPEDEF)
            cycle_edge(S, d, t->decl, pa);
        return;
    }
    typedef_edges(S, d, t->key, pa);
    typedef_edges(S, d, t->elem, pa);
}

static void cycle_visit(sema *S, idl_decl *d, path *pa)
{
    if (pa->n >= 64)
        return;
    d->visit_ = 1;
    pa->items[pa->n++] = d;
    switch (d->kind) {
    case IDL_D_TYPEDEF:
        typedef_edges(S, d, d->type, pa);
        break;
    case IDL_D_STRUCT:
        for (size_t i = 0; i < d->n_fields && d->visit_ == 1; i++) {
            const idl_type *t = d->fields[i].type;
            /* through typedefs, without following typedef cycles */
            for (int g = 0; t && t->kind == IDL_NAMED && t->decl &&
                            t->decl->kind == IDL_D_TYPEDEF && g < 64;
                 g++)
                t = t->decl->type;
            if (t && t->kind == IDL_NAMED && t->decl &&
                t->decl->kind == IDL_D_STRUCT)
                cycle_edge(S, d, t->decl, pa);
        }
        break;
    case IDL_D_INTERFACE:
        for (size_t i = 0; i < d->n_bases && d->visit_ == 1; i++)
            cycle_edge(S, d, d->bases[i].decl, pa);
        break;
    default: break;
    }
    pa->n--;
    if (d->visit_ == 1)
        d->visit_ = 2;
}

typedef void (*decl_fn)(sema *S, idl_decl *d);

static void each_decl(sema *S, idl_decl **decls, size_t n, decl_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        if (decls[i]->kind == IDL_D_MODULE)
            each_decl(S, decls[i]->members, decls[i]->n_members, fn);
        else
            fn(S, decls[i]);
    }
}

static void each_decl_all(sema *S, decl_fn fn)
{
    for (size_t f = 0; f < S->ctx->n_files; f++)
        each_decl(S, S->ctx->files[f]->decls, S->ctx->files[f]->n_decls, fn);
}

static void reset_visit(sema *S, idl_decl *d)
{
    (void)S;
    d->visit_ = 0;
}

static void cycles_of(sema *S, idl_decl *d)
{
    if (d->kind == S->cycle_kind && d->visit_ == 0) {
        path pa;
        pa.n = 0;
        cycle_visit(S, d, &pa);
    }
}

/* ---- pass 4: types, literals, interfaces ---- */

static const char *lit_text(sema *S, const idl_literal *l)
{
    switch (l->kind) {
    case IDL_LIT_INT:
        return idl_printf(S->ctx, "%s%" PRIu64, l->negative ? "-" : "",
                          l->mag);
    case IDL_LIT_FLOAT: return l->s;
    case IDL_LIT_BOOL: return l->b ? "true" : "false";
    case IDL_LIT_STRING: return "a string";
    default: return "?";
    }
}

static bool int_fits(const idl_literal *l, idl_type_kind k)
{
    static const uint64_t umax[] = {0, 0x7F, 0x7FFF, 0x7FFFFFFF,
                                    0x7FFFFFFFFFFFFFFF, 0xFF, 0xFFFF,
                                    0xFFFFFFFF, UINT64_MAX};
    if (l->overflow)
        return false;
    if (k >= IDL_U8 && k <= IDL_U64)
        return !(l->negative && l->mag != 0) && l->mag <= umax[k];
    /* signed: -(max+1) .. max */
    if (l->negative)
        return l->mag <= umax[k] + 1;
    return l->mag <= umax[k];
}

/* Checks a literal against a type; what is "constant 'X'" or "default of
 * field 'x'". */
static void check_literal(sema *S, const idl_literal *l, const idl_type *type,
                          const char *what, bool is_const)
{
    const idl_type *t = idl_type_resolve(type);
    if (!t || (t->kind == IDL_NAMED && !t->decl))
        return;
    idl_ctx *ctx = S->ctx;
    const char *ts = idl_type_str(ctx, type);
    switch (t->kind) {
    case IDL_BOOL:
        if (l->kind != IDL_LIT_BOOL)
            idl_error(ctx, l->pos, "%s of type %s needs true or false", what,
                      ts);
        return;
    case IDL_I8: case IDL_I16: case IDL_I32: case IDL_I64:
    case IDL_U8: case IDL_U16: case IDL_U32: case IDL_U64:
        if (l->kind != IDL_LIT_INT)
            idl_error(ctx, l->pos, "%s of type %s needs an integer", what, ts);
        else if (!int_fits(l, t->kind))
            idl_error(ctx, l->pos, "value %s does not fit in %s",
                      lit_text(S, l), idl_kind_name(t->kind));
        return;
    case IDL_F32:
    case IDL_F64:
        if (l->kind != IDL_LIT_INT && l->kind != IDL_LIT_FLOAT)
            idl_error(ctx, l->pos, "%s of type %s needs a number", what, ts);
        else if (!isfinite(l->f) ||
                 (t->kind == IDL_F32 && fabs(l->f) > FLT_MAX))
            idl_error(ctx, l->pos, "value %s does not fit in %s",
                      lit_text(S, l), idl_kind_name(t->kind));
        return;
    case IDL_STRING:
        if (l->kind != IDL_LIT_STRING)
            idl_error(ctx, l->pos, "%s of type string needs a string literal",
                      what);
        return;
    case IDL_NAMED:
        if (!is_const && t->decl->kind == IDL_D_ENUM) {
            if (l->kind != IDL_LIT_INT) {
                idl_error(ctx, l->pos, "%s of enum type %s needs an integer",
                          what, ts);
                return;
            }
            for (size_t i = 0; i < t->decl->n_enums; i++) {
                int64_t v = t->decl->enums[i].value;
                bool neg = v < 0;
                uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
                if (neg == (l->negative && l->mag) && mag == l->mag)
                    return;
            }
            idl_error(ctx, l->pos, "value %s is not a value of enum '%s'",
                      lit_text(S, l), t->decl->name);
            return;
        }
        break;
    default: break;
    }
    if (is_const)
        idl_error(ctx, type->pos,
                  "constant type must be bool, an integer, a float or string, "
                  "not %s",
                  ts);
    else
        idl_error(ctx, l->pos, "a field of type %s cannot have a default", ts);
}

static void check_map_keys(sema *S, const idl_type *t)
{
    if (!t)
        return;
    if (t->kind == IDL_MAP) {
        const idl_type *k = idl_type_resolve(t->key);
        bool ok = k && ((k->kind >= IDL_I8 && k->kind <= IDL_U64) ||
                        k->kind == IDL_STRING ||
                        (k->kind == IDL_NAMED &&
                         (!k->decl || k->decl->kind == IDL_D_ENUM)));
        if (!ok)
            idl_error(S->ctx, t->key->pos,
                      "map key must be string, an integer type or an enum, "
                      "not %s",
                      idl_type_str(S->ctx, t->key));
    }
    check_map_keys(S, t->key);
    check_map_keys(S, t->elem);
}

static void check_enum(sema *S, idl_decl *d)
{
    int64_t next = 0;
    for (size_t i = 0; i < d->n_enums; i++) {
        idl_enumerator *e = &d->enums[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->enums[j].name, e->name) == 0) {
                idl_error(S->ctx, e->pos, "duplicate enumerator '%s' in enum "
                          "'%s'", e->name, d->name);
                break;
            }
        if (e->has_value) {
            if (!int_fits(&e->lit, IDL_I32)) {
                idl_error(S->ctx, e->lit.pos,
                          "enumerator '%s' value %s does not fit in i32",
                          e->name, lit_text(S, &e->lit));
                e->value = next;
            } else {
                e->value = e->lit.negative ? -(int64_t)e->lit.mag
                                           : (int64_t)e->lit.mag;
            }
        } else {
            e->value = next;
            if (next > INT32_MAX)
                idl_error(S->ctx, e->pos,
                          "enumerator '%s' value %" PRId64
                          " does not fit in i32",
                          e->name, next);
        }
        next = e->value + 1;
        for (size_t j = 0; j < i; j++)
            if (d->enums[j].value == e->value) {
                idl_error(S->ctx, e->pos,
                          "enumerator '%s' has the same value (%" PRId64
                          ") as '%s'",
                          e->name, e->value, d->enums[j].name);
                break;
            }
    }
}

static void add_op(sema *S, idl_decl *d, const idl_operation *op,
                   bool inherited, idl_pos pos)
{
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *o = d->all_ops[i];
        if (o == op)
            return; /* the same base reached twice (diamond) */
        if (strcmp(o->name, op->name) != 0)
            continue;
        if (inherited)
            idl_error(S->ctx, pos,
                      "interface '%s' inherits operation '%s' from both '%s' "
                      "and '%s'",
                      d->name, op->name, o->iface->name, op->iface->name);
        else if (o->iface != d)
            idl_error(S->ctx, op->pos,
                      "operation '%s' conflicts with the one inherited from "
                      "'%s'",
                      op->name, o->iface->name);
        else
            idl_error(S->ctx, op->pos,
                      "duplicate operation '%s' in interface '%s'%s", op->name,
                      d->name,
                      op->is_getter || op->is_setter || o->is_getter ||
                              o->is_setter
                          ? " (attribute accessor)"
                          : "");
        return;
    }
    d->all_ops = idl_grow(S->ctx, (void *)d->all_ops, d->n_all_ops,
                          sizeof *d->all_ops);
    d->all_ops[d->n_all_ops++] = op;
}

static void flatten(sema *S, idl_decl *d)
{
    if (d->visit_ == 5 || d->visit_ == 4 || d->visit_ == 3)
        return; /* done, in progress, or in a cycle */
    d->visit_ = 4;
    for (size_t i = 0; i < d->n_bases; i++) {
        idl_decl *b = d->bases[i].decl;
        if (!b)
            continue;
        flatten(S, b);
        for (size_t j = 0; j < b->n_all_ops; j++)
            add_op(S, d, b->all_ops[j], true, d->bases[i].pos);
    }
    for (size_t i = 0; i < d->n_attrs; i++) {
        idl_attribute *a = &d->attrs[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->attrs[j].name, a->name) == 0)
                idl_error(S->ctx, a->pos, "duplicate attribute '%s'", a->name);
        idl_operation *g = idl_alloc(S->ctx, sizeof *g);
        g->pos = a->pos;
        g->name = idl_printf(S->ctx, "get_%s", a->name);
        g->doc = a->doc;
        g->idempotent = true;
        g->result = a->type;
        g->is_getter = true;
        g->attr = a;
        g->iface = d;
        add_op(S, d, g, false, a->pos);
        if (!a->readonly) {
            idl_operation *st = idl_alloc(S->ctx, sizeof *st);
            st->pos = a->pos;
            st->name = idl_printf(S->ctx, "set_%s", a->name);
            st->doc = a->doc;
            st->result = idl_alloc(S->ctx, sizeof(idl_type));
            st->result->kind = IDL_VOID;
            st->result->pos = a->pos;
            st->params = idl_alloc(S->ctx, sizeof(idl_param));
            st->params[0].pos = a->pos;
            st->params[0].name = "value";
            st->params[0].type = a->type;
            st->n_params = 1;
            st->is_setter = true;
            st->attr = a;
            st->iface = d;
            add_op(S, d, st, false, a->pos);
        }
    }
    for (size_t i = 0; i < d->n_ops; i++)
        add_op(S, d, &d->ops[i], false, d->ops[i].pos);
    d->visit_ = 5;
}

static void check_decl(sema *S, idl_decl *d)
{
    switch (d->kind) {
    case IDL_D_CONST:
        check_map_keys(S, d->type);
        if (d->type && (d->type->kind != IDL_NAMED || d->type->decl))
            check_literal(S, &d->value, d->type,
                          idl_printf(S->ctx, "constant '%s'", d->name), true);
        break;
    case IDL_D_TYPEDEF:
        check_map_keys(S, d->type);
        break;
    case IDL_D_STRUCT:
    case IDL_D_EXCEPTION:
        for (size_t i = 0; i < d->n_fields; i++) {
            idl_field *f = &d->fields[i];
            check_map_keys(S, f->type);
            if (f->def.kind != IDL_LIT_NONE)
                check_literal(S, &f->def, f->type,
                              idl_printf(S->ctx, "default of field '%s'",
                                         f->name),
                              false);
        }
        break;
    case IDL_D_INTERFACE:
        for (size_t i = 0; i < d->n_attrs; i++)
            check_map_keys(S, d->attrs[i].type);
        for (size_t i = 0; i < d->n_ops; i++) {
            check_map_keys(S, d->ops[i].result);
            for (size_t j = 0; j < d->ops[i].n_params; j++)
                check_map_keys(S, d->ops[i].params[j].type);
        }
        flatten(S, d);
        break;
    default: break;
    }
}

static void check_enums(sema *S, idl_decl *d)
{
    if (d->kind == IDL_D_ENUM)
        check_enum(S, d);
}

static size_t file_index(const idl_ctx *ctx, const idl_file *f)
{
    for (size_t i = 0; i < ctx->n_files; i++)
        if (ctx->files[i] == f)
            return i;
    return ctx->n_files;
}

/* Diagnostics in source order (files in dependency order), so that the
 * first error printed is the first in the text. Stable: insertion sort over
 * at most IDL_MAX_ERRORS entries. */
static void sort_diags(idl_ctx *ctx)
{
    for (size_t i = 1; i < ctx->n_diags; i++) {
        idl_diag d = ctx->diags[i];
        size_t fi = file_index(ctx, d.pos.file);
        size_t j = i;
        while (j > 0) {
            const idl_diag *p = &ctx->diags[j - 1];
            size_t fp = file_index(ctx, p->pos.file);
            bool after = fp > fi || (fp == fi && (p->pos.line > d.pos.line ||
                                                  (p->pos.line == d.pos.line &&
                                                   p->pos.col > d.pos.col)));
            if (!after)
                break;
            ctx->diags[j] = ctx->diags[j - 1];
            j--;
        }
        ctx->diags[j] = d;
    }
}

int idl_check(idl_ctx *ctx)
{
    if (ctx->checked)
        return (int)ctx->n_diags;
    ctx->checked = true;
    sema S;
    S.ctx = ctx;
    S.root = idl_alloc(ctx, sizeof(scope));
    S.root->qname = idl_strdup(ctx, "");
    for (size_t f = 0; f < ctx->n_files; f++)
        declare_all(&S, S.root, ctx->files[f]->decls, ctx->files[f]->n_decls);
    for (size_t f = 0; f < ctx->n_files; f++)
        resolve_all(&S, S.root, ctx->files[f]->decls, ctx->files[f]->n_decls);
    each_decl_all(&S, reset_visit);
    const idl_decl_kind kinds[] = {IDL_D_TYPEDEF, IDL_D_STRUCT,
                                   IDL_D_INTERFACE};
    for (size_t k = 0; k < 3; k++) {
        S.cycle_kind = kinds[k];
        each_decl_all(&S, cycles_of);
    }
    /* interfaces found in a cycle keep visit_ == 3 and are not flattened */
    each_decl_all(&S, check_enums);
    each_decl_all(&S, check_decl);
    sort_diags(ctx);
    return (int)ctx->n_diags;
}
