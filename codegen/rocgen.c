/* rocgen: compiles a .roc file to a C header and source (docs/idl.md).
 *
 *     rocgen [-o DIR] [-I DIR]... file.roc   ->   DIR/file.roc.h, file.roc.c
 *
 * The generated code is mostly data: a roc_gen_type descriptor per type and
 * a roc_gen_method per method, walked by the runtime's generic codec
 * (roc/gen.h); the typed functions are thin wrappers around it. Output is
 * deterministic: declarations appear in IDL order (dependencies first). */
#include "idl.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small string helpers (strings live in the idl context) ---- */

static idl_ctx *C; /* the one context of this run */

/* Every string made below is kept here and freed at exit (a short-lived
 * tool, but sanitizer builds check for leaks). */
static void **pool;
static size_t n_pool, cap_pool;

static void *pooled(void *p)
{
    if (!p || (n_pool == cap_pool &&
               !(pool = realloc(pool, (cap_pool = cap_pool ? cap_pool * 2
                                                           : 256) *
                                          sizeof *pool)))) {
        fputs("rocgen: out of memory\n", stderr);
        exit(2);
    }
    pool[n_pool++] = p;
    return p;
}

static void pool_free(void)
{
    for (size_t i = 0; i < n_pool; i++)
        free(pool[i]);
    free(pool);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap, ap2;
    va_start(ap, f);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *p = malloc((size_t)n + 1);
    if (!p) {
        fputs("rocgen: out of memory\n", stderr);
        exit(2);
    }
    vsnprintf(p, (size_t)n + 1, f, ap2);
    va_end(ap2);
    return pooled(p);
}

static char *upper(const char *s)
{
    char *u = fmt("%s", s);
    for (char *p = u; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static char *prefix_of(const char *module)
{
    if (!module || !*module)
        return fmt("%s", "");
    char *p = fmt("%s_", module);
    for (char *q = p; *q; q++)
        if (*q == '.')
            *q = '_';
    return p;
}

static char *cname(const idl_decl *d)
{
    return fmt("%s%s", prefix_of(d->module), d->name);
}

/* A C string literal for s (n bytes). Non-ASCII as octal escapes. */
static char *c_string(const char *s, size_t n)
{
    char *out = pooled(malloc(n * 4 + 3));
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c == '?') {
            out[o++] = '\\'; /* no trigraphs */
            out[o++] = '?';
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)sprintf(out + o, "\\%03o", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* ---- types ---- */

static const idl_type *res(const idl_type *t)
{
    return idl_type_resolve(t);
}

static bool is_struct(const idl_type *t)
{
    t = res(t);
    return t && t->kind == IDL_NAMED && t->decl &&
           (t->decl->kind == IDL_D_STRUCT || t->decl->kind == IDL_D_EXCEPTION);
}

static const char *base_ctype(idl_type_kind k)
{
    static const char *const names[] = {
        "bool",     "int8_t",   "int16_t",   "int32_t",      "int64_t",
        "uint8_t",  "uint16_t", "uint32_t",  "uint64_t",     "float",
        "double",   "const char *", "roc_bytes", "roc_value *"};
    return names[k];
}

/* Name part of a type inside container names ("string", "Item",
 * "stringList"); types of other modules use their full C name. */
static char *mangle(const idl_type *t, const char *mod)
{
    t = res(t);
    switch (t->kind) {
    case IDL_LIST: return fmt("%sList", mangle(t->elem, mod));
    case IDL_OPTIONAL: return fmt("%sOpt", mangle(t->elem, mod));
    case IDL_MAP:
        return fmt("%s_%sMap", mangle(t->key, mod), mangle(t->elem, mod));
    case IDL_NAMED:
        if (strcmp(t->decl->module, mod) == 0)
            return fmt("%s", t->decl->name);
        return cname(t->decl);
    default: return fmt("%s", idl_kind_name(t->kind));
    }
}

/* Containers (lists, maps) and optionals get a C name and a descriptor per
 * (module, type); registered in post-order so inner ones come first. */
typedef struct ctr {
    char *name;          /* C name: demo_shop_stringList */
    const idl_type *t;   /* resolved */
    const char *mod;
} ctr;
static ctr *ctrs;
static size_t n_ctrs;

static char *ctype(const idl_type *t, const char *mod);
static char *desc(const idl_type *t, const char *mod);

static char *ptr_to(const char *ct)
{
    size_t n = strlen(ct);
    return fmt("%s%s*", ct, n && ct[n - 1] == '*' ? "" : " ");
}

static void reg(const idl_type *t, const char *mod)
{
    t = res(t);
    if (!t || (t->kind != IDL_LIST && t->kind != IDL_MAP &&
               t->kind != IDL_OPTIONAL))
        return;
    reg(t->key, mod);
    reg(t->elem, mod);
    char *name = fmt("%s%s", prefix_of(mod), mangle(t, mod));
    for (size_t i = 0; i < n_ctrs; i++)
        if (strcmp(ctrs[i].name, name) == 0)
            return;
    ctrs = realloc(ctrs, (n_ctrs + 1) * sizeof *ctrs);
    ctrs[n_ctrs].name = name;
    ctrs[n_ctrs].t = t;
    ctrs[n_ctrs].mod = mod;
    n_ctrs++;
}

static char *ctype(const idl_type *t, const char *mod)
{
    switch (t->kind) {
    case IDL_LIST:
    case IDL_MAP: return fmt("%s%s", prefix_of(mod), mangle(t, mod));
    case IDL_OPTIONAL: return ptr_to(ctype(t->elem, mod));
    case IDL_NAMED:
        if (t->decl->kind == IDL_D_INTERFACE)
            return fmt("%s *", cname(t->decl));
        return cname(t->decl);
    case IDL_VOID: return fmt("void");
    default: return fmt("%s", base_ctype(t->kind));
    }
}

/* Expression for a pointer to t's descriptor. */
static char *desc(const idl_type *t, const char *mod)
{
    t = res(t);
    switch (t->kind) {
    case IDL_LIST:
    case IDL_MAP:
    case IDL_OPTIONAL:
        return fmt("&%s%s__type", prefix_of(mod), mangle(t, mod));
    case IDL_NAMED: return fmt("&%s__type", cname(t->decl));
    default: return fmt("&roc_gen_t_%s", idl_kind_name(t->kind));
    }
}

/* C declaration of a parameter: structs by const pointer. */
static char *param_decl(const idl_type *t, const char *mod, const char *name)
{
    if (is_struct(t))
        return fmt("const %s *%s", ctype(t, mod), name);
    char *ct = ctype(t, mod);
    size_t n = strlen(ct);
    return fmt("%s%s%s", ct, ct[n - 1] == '*' ? "" : " ", name);
}

static char *var_decl(const idl_type *t, const char *mod, const char *name)
{
    char *ct = ctype(t, mod);
    size_t n = strlen(ct);
    return fmt("%s%s%s", ct, ct[n - 1] == '*' ? "" : " ", name);
}

/* ---- literals and defaults ---- */

static char *int_lit(const idl_literal *l, bool is_signed)
{
    if (!l->negative || l->mag == 0)
        return fmt(is_signed ? "INT64_C(%" PRIu64 ")" : "UINT64_C(%" PRIu64 ")",
                   l->mag);
    if (l->mag == UINT64_C(9223372036854775808))
        return fmt("(-INT64_C(9223372036854775807) - 1)");
    return fmt("(-INT64_C(%" PRIu64 "))", l->mag);
}

static char *float_lit(const idl_literal *l)
{
    if (l->kind == IDL_LIT_FLOAT)
        return fmt("%s", l->s);
    return fmt("%s%" PRIu64 ".0", l->negative ? "-" : "", l->mag);
}

static char *enum_const(const idl_decl *e, const idl_enumerator *v)
{
    return fmt("%s%s_%s", upper(prefix_of(e->module)), upper(e->name),
               upper(v->name));
}

static char *init_expr(const idl_type *t, const idl_literal *l);

static char *struct_init(const idl_decl *d)
{
    if (d->n_fields == 0)
        return fmt("{0}");
    char *s = fmt("{");
    for (size_t i = 0; i < d->n_fields; i++)
        s = fmt("%s%s.%s = %s", s, i ? ", " : "", d->fields[i].name,
                init_expr(d->fields[i].type, &d->fields[i].def));
    return fmt("%s}", s);
}

static char *init_expr(const idl_type *type, const idl_literal *l)
{
    const idl_type *t = res(type);
    bool has = l && l->kind != IDL_LIT_NONE;
    switch (t->kind) {
    case IDL_BOOL: return fmt("%s", has && l->b ? "true" : "false");
    case IDL_I8: case IDL_I16: case IDL_I32: case IDL_I64:
        return has ? int_lit(l, true) : fmt("0");
    case IDL_U8: case IDL_U16: case IDL_U32: case IDL_U64:
        return has ? int_lit(l, false) : fmt("0");
    case IDL_F32: case IDL_F64: return has ? float_lit(l) : fmt("0.0");
    case IDL_STRING: return has ? c_string(l->s, l->slen) : fmt("\"\"");
    case IDL_BYTES:
    case IDL_LIST: return fmt("{NULL, 0}");
    case IDL_MAP: return fmt("{NULL, NULL, 0}");
    case IDL_ANY:
    case IDL_OPTIONAL: return fmt("NULL");
    case IDL_NAMED: {
        const idl_decl *d = t->decl;
        if (d->kind == IDL_D_INTERFACE)
            return fmt("NULL");
        if (d->kind == IDL_D_ENUM) {
            const idl_enumerator *v = &d->enums[0];
            for (size_t i = 0; has && i < d->n_enums; i++) {
                int64_t want = l->negative ? -(int64_t)l->mag : (int64_t)l->mag;
                if (d->enums[i].value == want)
                    v = &d->enums[i];
            }
            return enum_const(d, v);
        }
        return struct_init(d);
    }
    default: return fmt("0");
    }
}

/* ---- checks rocgen adds: C keywords and generated names ---- */

static const char *const c_keywords[] = {
    "auto", "break", "case", "char", "continue", "default", "do", "double",
    "else", "extern", "float", "for", "goto", "if", "inline", "int", "long",
    "register", "restrict", "return", "short", "signed", "sizeof", "static",
    "switch", "union", "unsigned", "volatile", "while", "_Bool", "_Complex",
    "_Alignas", "_Alignof", "_Atomic", "_Generic", "_Noreturn",
    "_Static_assert", "_Thread_local", "NULL", "true", "false", NULL};
static const char *const reserved_params[] = {
    "proxy", "ret", "arena", "err", "self", "call", "future", "args", NULL};
static const char *const reserved_ops[] = {"open", "close", "proxy",
                                           "from_proxy", "servant", "dup",
                                           NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return true;
    return false;
}

static int gen_errors;
static void gen_error(idl_pos pos, const char *f, const char *name)
{
    fprintf(stderr, "%s:%d:%d: error: ", pos.file ? pos.file->name : "?",
            pos.line, pos.col);
    fprintf(stderr, f, name);
    fputc('\n', stderr);
    gen_errors++;
}

static void check_names(const idl_decl *d)
{
    if (d->kind != IDL_D_MODULE && in_list(c_keywords, d->name))
        gen_error(d->pos, "'%s' is a C keyword", d->name);
    if (d->kind == IDL_D_STRUCT || d->kind == IDL_D_EXCEPTION)
        for (size_t i = 0; i < d->n_fields; i++)
            if (in_list(c_keywords, d->fields[i].name))
                gen_error(d->fields[i].pos, "field name '%s' is a C keyword",
                          d->fields[i].name);
    if (d->kind == IDL_D_INTERFACE) {
        for (size_t i = 0; i < d->n_ops; i++) {
            const idl_operation *op = &d->ops[i];
            if (in_list(c_keywords, op->name) || in_list(reserved_ops, op->name))
                gen_error(op->pos, "operation name '%s' is reserved in C",
                          op->name);
            for (size_t j = 0; j < op->n_params; j++)
                if (in_list(c_keywords, op->params[j].name) ||
                    in_list(reserved_params, op->params[j].name))
                    gen_error(op->params[j].pos,
                              "parameter name '%s' is reserved in C",
                              op->params[j].name);
        }
    }
    for (size_t i = 0; i < d->n_members; i++)
        check_names(d->members[i]);
}

/* ---- collecting the file's declarations ---- */

typedef struct dlist {
    const idl_decl **v;
    size_t n;
} dlist;

static void dl_add(dlist *l, const idl_decl *d)
{
    l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = d;
}

static bool dl_has(const dlist *l, const idl_decl *d)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == d)
            return true;
    return false;
}

static dlist all; /* every definition of the file, in source order */

static void collect(idl_decl **ds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ds[i]->kind == IDL_D_MODULE)
            collect(ds[i]->members, ds[i]->n_members);
        else
            dl_add(&all, ds[i]);
    }
}

static bool in_file(const idl_decl *d)
{
    return dl_has(&all, d);
}

/* typedefs after the typedefs they name */
static void order_typedef(dlist *out, const idl_decl *d);
static void typedef_deps(dlist *out, const idl_type *t)
{
    if (!t)
        return;
    if (t->kind == IDL_NAMED && t->decl->kind == IDL_D_TYPEDEF &&
        in_file(t->decl))
        order_typedef(out, t->decl);
    typedef_deps(out, t->key);
    typedef_deps(out, t->elem);
}
static void order_typedef(dlist *out, const idl_decl *d)
{
    if (dl_has(out, d))
        return;
    typedef_deps(out, d->type);
    dl_add(out, d);
}

/* structs after the structs they hold by value */
static void order_struct(dlist *out, const idl_decl *d)
{
    if (dl_has(out, d))
        return;
    for (size_t i = 0; i < d->n_fields; i++) {
        const idl_type *t = res(d->fields[i].type);
        if (t->kind == IDL_NAMED && t->decl->kind == IDL_D_STRUCT &&
            in_file(t->decl))
            order_struct(out, t->decl);
    }
    dl_add(out, d);
}

/* ---- header ---- */

static FILE *H, *S;
static const char *base; /* "shop.roc" */
static char *idl_sym;     /* name of the embedded IDL text */

static void doc(FILE *f, const char *d, const char *indent)
{
    if (!d)
        return;
    fprintf(f, "%s/** ", indent);
    for (const char *p = d; *p; p++) {
        if (*p == '\n')
            fprintf(f, "\n%s * ", indent);
        else if (*p == '*' && p[1] == '/')
            fputs("* /", f), p++;
        else
            fputc(*p, f);
    }
    fputs(" */\n", f);
}

static const char *op_mod(const idl_operation *op)
{
    return op->iface->module;
}

static void collect_types(void)
{
    for (size_t i = 0; i < all.n; i++) {
        const idl_decl *d = all.v[i];
        switch (d->kind) {
        case IDL_D_TYPEDEF: reg(d->type, d->module); break;
        case IDL_D_STRUCT:
        case IDL_D_EXCEPTION:
            for (size_t j = 0; j < d->n_fields; j++)
                reg(d->fields[j].type, d->module);
            break;
        case IDL_D_INTERFACE:
            for (size_t j = 0; j < d->n_all_ops; j++) {
                const idl_operation *op = d->all_ops[j];
                if (op->result->kind != IDL_VOID)
                    reg(op->result, op_mod(op));
                for (size_t k = 0; k < op->n_params; k++)
                    reg(op->params[k].type, op_mod(op));
            }
            break;
        default: break;
        }
    }
}

static void h_constant(const idl_decl *d)
{
    const idl_type *t = res(d->type);
    const idl_literal *l = &d->value;
    char *v;
    switch (t->kind) {
    case IDL_BOOL: v = fmt("%s", l->b ? "true" : "false"); break;
    case IDL_STRING: v = c_string(l->s, l->slen); break;
    case IDL_F32: v = fmt("((float)%s)", float_lit(l)); break;
    case IDL_F64: v = fmt("((double)%s)", float_lit(l)); break;
    default:
        v = fmt("((%s)%s)", base_ctype(t->kind),
                int_lit(l, t->kind <= IDL_I64));
        break;
    }
    doc(H, d->doc, "");
    fprintf(H, "#define %s%s %s\n", upper(prefix_of(d->module)), d->name, v);
}

static void h_enum(const idl_decl *d)
{
    char *cn = cname(d);
    doc(H, d->doc, "");
    fprintf(H, "typedef enum %s {\n", cn);
    for (size_t i = 0; i < d->n_enums; i++) {
        doc(H, d->enums[i].doc, "    ");
        fprintf(H, "    %s = %" PRId64 "%s\n", enum_const(d, &d->enums[i]),
                d->enums[i].value, i + 1 < d->n_enums ? "," : "");
    }
    fprintf(H, "} %s;\nextern const roc_gen_type %s__type;\n\n", cn,
            cn);
}

static void h_container(const ctr *c)
{
    char *g = upper(fmt("ROCGEN_%s", c->name));
    const idl_type *t = c->t;
    if (t->kind == IDL_OPTIONAL)
        return;
    fprintf(H, "#ifndef %s\n#define %s\n", g, g);
    if (t->kind == IDL_LIST)
        fprintf(H, "typedef struct %s {\n    %s;\n    size_t len;\n} %s;\n",
                c->name, var_decl(res(t->elem), c->mod, "*items"), c->name);
    else
        fprintf(H,
                "typedef struct %s {\n    %s;\n    %s;\n    size_t len;\n} "
                "%s;\n",
                c->name, var_decl(res(t->key), c->mod, "*keys"),
                var_decl(res(t->elem), c->mod, "*values"), c->name);
    fprintf(H, "#endif\n\n");
}

static void h_struct(const idl_decl *d)
{
    char *cn = cname(d);
    doc(H, d->doc, "");
    fprintf(H, "struct %s {\n", cn);
    for (size_t i = 0; i < d->n_fields; i++) {
        doc(H, d->fields[i].doc, "    ");
        fprintf(H, "    %s;\n",
                var_decl(d->fields[i].type, d->module, d->fields[i].name));
    }
    if (d->n_fields == 0)
        fprintf(H, "    char roc_empty_; /* C structs need a member */\n");
    fprintf(H, "};\nextern const roc_gen_type %s__type;\n", cn);
    fprintf(H,
            "/* %s as a roc_value (allocated in a; strings and bytes are "
            "referenced). */\n"
            "int %s_encode(const %s *v, roc_arena *a, roc_value **out, "
            "roc_error *err);\n"
            "/* Checks v against %s and decodes it into *out (in a). */\n"
            "int %s_decode(const roc_value *v, roc_arena *a, %s *out, "
            "roc_error *err);\n",
            d->qname, cn, cn, d->qname, cn, cn);
    if (d->kind == IDL_D_EXCEPTION)
        fprintf(H,
                "/* Raises %s from a handler: return its result. */\n"
                "int %s_raise(roc_call *call, const %s *ex, const char *fmt, "
                "...) ROC_PRINTF(3, 4);\n"
                "/* 0 and *out filled (in arena) when err holds a %s; "
                "ROC_ENOTFOUND otherwise. */\n"
                "int %s_catch(const roc_error *err, %s *out, roc_arena "
                "*arena);\n",
                d->qname, cn, cn, d->qname, cn, cn);
    fputc('\n', H);
}

static char *stub_params(const idl_operation *op)
{
    char *s = fmt("%s", "");
    for (size_t i = 0; i < op->n_params; i++)
        s = fmt("%s, %s", s,
                param_decl(op->params[i].type, op_mod(op), op->params[i].name));
    return s;
}

static char *result_params(const idl_operation *op)
{
    if (op->result->kind == IDL_VOID)
        return fmt("%s", "");
    return fmt(", %s, roc_arena *arena",
               var_decl(op->result, op_mod(op), "*ret"));
}

static void h_interface(const idl_decl *d)
{
    char *cn = cname(d);
    fprintf(H, "/* ---- interface %s ---- */\n", d->qname);
    doc(H, d->doc, "");
    fprintf(H,
            "extern const roc_gen_type %s__type;\n"
            "/* A proxy for a remote %s (really a roc_proxy). */\n"
            "int %s_open(%s **proxy, const char *uri, roc_error *err);\n"
            "void %s_close(%s *proxy);\n"
            "/* Another proxy for the same object (close both). */\n"
            "int %s_dup(%s *proxy, %s **out, roc_error *err);\n"
            "roc_proxy *%s_proxy(%s *proxy);\n"
            "/* Views a roc_proxy as a %s (no new reference). */\n"
            "%s *%s_from_proxy(roc_proxy *proxy);\n",
            cn, d->qname, cn, cn, cn, cn, cn, cn, cn, cn, cn, d->qname, cn,
            cn);
    /* every ancestor, for upcasts */
    dlist anc = {NULL, 0};
    for (size_t i = 0; i < d->n_all_ops; i++)
        if (d->all_ops[i]->iface != d && !dl_has(&anc, d->all_ops[i]->iface))
            dl_add(&anc, d->all_ops[i]->iface);
    for (size_t i = 0; i < d->n_bases; i++)
        if (!dl_has(&anc, d->bases[i].decl))
            dl_add(&anc, d->bases[i].decl);
    for (size_t i = 0; i < anc.n; i++)
        fprintf(H, "%s *%s_as_%s(%s *proxy);\n", cname(anc.v[i]), cn,
                anc.v[i]->name, cn);
    free(anc.v);
    fputc('\n', H);
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        doc(H, op->doc, "");
        fprintf(H, "int %s_%s(%s *proxy%s%s, roc_error *err);\n", cn, op->name,
                cn, stub_params(op), result_params(op));
        if (!op->oneway) {
            fprintf(H,
                    "int %s_%s_async(%s *proxy%s, roc_future **future, "
                    "roc_error *err);\n",
                    cn, op->name, cn, stub_params(op));
            fprintf(H,
                    "int %s_%s_finish(roc_future *future%s, roc_error *err);\n",
                    cn, op->name, result_params(op));
        }
    }
    fprintf(H,
            "\n/* The skeleton: one handler per method (NULL answers "
            "roc.NoSuchMethod).\n * Arguments are checked before a handler "
            "runs; a handler returns 0 and\n * sets *ret (allocated in "
            "roc_call_arena(call) or outliving the call),\n * or returns "
            "<Exception>_raise(...) / roc_call_error(...). */\n"
            "typedef struct %s_ops {\n",
            cn);
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        char *ret = op->result->kind == IDL_VOID
                        ? fmt("%s", "")
                        : fmt(", %s", var_decl(op->result, op_mod(op), "*ret"));
        fprintf(H, "    int (*%s)(void *self, roc_call *call%s%s);\n", op->name,
                stub_params(op), ret);
    }
    if (d->n_all_ops == 0)
        fprintf(H, "    void *roc_unused_;\n");
    fprintf(H,
            "} %s_ops;\n"
            "/* An implementation: handlers, the state passed to them as "
            "self, and\n * ROC_SERVANT_* flags (ROC_SERVANT_BLOCKING when "
            "handlers may block).\n * It must outlive the registration. */\n"
            "typedef struct %s_impl {\n    const %s_ops *ops;\n    void "
            "*self;\n    unsigned flags;\n} %s_impl;\n"
            "/* A servant for roc_daemon_register. */\n"
            "roc_servant %s_servant(%s_impl *impl);\n\n",
            cn, cn, cn, cn, cn, cn);
}

static void gen_header(idl_file *f)
{
    char *guard = upper(fmt("ROCGEN_%s_H", base));
    for (char *p = guard; *p; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    fprintf(H,
            "/* Generated by rocgen from %s. Do not edit.\n"
            " * The C mapping is described in docs/idl.md. */\n"
            "#ifndef %s\n#define %s\n\n#include <stdbool.h>\n"
            "#include <stddef.h>\n#include <stdint.h>\n\n"
            "#include <roc/roc.h>\n#include <roc/gen.h>\n",
            base, guard, guard);
    for (size_t i = 0; i < f->n_imports; i++) {
        const char *b = strrchr(f->imports[i], '/');
        fprintf(H, "#include \"%s.h\"\n", b ? b + 1 : f->imports[i]);
    }
    fprintf(H, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");

    /* constants and enums */
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_CONST)
            h_constant(all.v[i]);
    fputc('\n', H);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_ENUM)
            h_enum(all.v[i]);
    /* forward declarations */
    for (size_t i = 0; i < all.n; i++) {
        const idl_decl *d = all.v[i];
        if (d->kind == IDL_D_STRUCT || d->kind == IDL_D_EXCEPTION ||
            d->kind == IDL_D_INTERFACE)
            fprintf(H, "typedef struct %s %s;\n", cname(d), cname(d));
    }
    fputc('\n', H);
    for (size_t i = 0; i < n_ctrs; i++)
        h_container(&ctrs[i]);
    dlist tds = {NULL, 0};
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_TYPEDEF)
            order_typedef(&tds, all.v[i]);
    for (size_t i = 0; i < tds.n; i++) {
        doc(H, tds.v[i]->doc, "");
        fprintf(H, "typedef %s;\n",
                var_decl(tds.v[i]->type, tds.v[i]->module, cname(tds.v[i])));
    }
    if (tds.n)
        fputc('\n', H);
    free(tds.v);
    dlist sts = {NULL, 0};
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_STRUCT || all.v[i]->kind == IDL_D_EXCEPTION)
            order_struct(&sts, all.v[i]);
    for (size_t i = 0; i < sts.n; i++)
        h_struct(sts.v[i]);
    free(sts.v);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_INTERFACE)
            h_interface(all.v[i]);
    fprintf(H, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* ---- source ---- */

static void s_idl_text(idl_file *f)
{
    /* ISO C limits string literals to 4095 bytes (-Woverlength-strings):
     * longer texts become a char array. */
    if (f->len < 4000) {
        fprintf(S, "static const char %s[] =\n", idl_sym);
        const char *p = f->text;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p + 1) : strlen(p);
            fprintf(S, "    %s\n", c_string(p, n));
            p += n;
        }
        fprintf(S, "    \"\";\n\n");
        return;
    }
    fprintf(S, "static const char %s[] = {", idl_sym);
    for (size_t i = 0; i < f->len; i++)
        fprintf(S, "%s%d,", i % 16 == 0 ? "\n    " : " ",
                (int)(unsigned char)f->text[i]);
    fprintf(S, "\n    0};\n\n");
}

static void s_container_decl(const ctr *c)
{
    fprintf(S, "static const roc_gen_type %s__type;\n", c->name);
}

static void s_container(const ctr *c)
{
    const idl_type *t = c->t;
    const char *kind = t->kind == IDL_LIST ? "ROC_GEN_LIST"
                       : t->kind == IDL_MAP ? "ROC_GEN_MAP"
                                             : "ROC_GEN_OPTIONAL";
    char *size = t->kind == IDL_OPTIONAL ? fmt("sizeof(void *)")
                                         : fmt("sizeof(%s)", c->name);
    fprintf(S,
            "static const roc_gen_type %s__type = {\n    %s, %s, %s, %s, %s, "
            "NULL, 0, NULL, NULL, 0};\n",
            c->name, kind, c_string(idl_type_str(C, t), strlen(idl_type_str(C, t))),
            size, desc(t->elem, c->mod),
            t->key ? desc(t->key, c->mod) : "NULL");
}

static void s_enum(const idl_decl *d)
{
    char *cn = cname(d);
    fprintf(S, "static const int32_t %s__values[] = {", cn);
    for (size_t i = 0; i < d->n_enums; i++)
        fprintf(S, "%s%" PRId64, i ? ", " : "", d->enums[i].value);
    fprintf(S,
            "};\nconst roc_gen_type %s__type = {\n    ROC_GEN_ENUM, \"%s\", "
            "sizeof(%s), NULL, NULL, NULL, 0, NULL, %s__values, %zu};\n\n",
            cn, d->qname, cn, cn, d->n_enums);
}

static void s_struct(const idl_decl *d)
{
    char *cn = cname(d);
    fprintf(S, "static const %s %s__defaults = %s;\n", cn, cn,
            struct_init(d));
    if (d->n_fields) {
        fprintf(S, "static const roc_gen_field %s__fields[] = {\n", cn);
        for (size_t i = 0; i < d->n_fields; i++)
            fprintf(S, "    {\"%s\", %s, offsetof(%s, %s)},\n",
                    d->fields[i].name, desc(d->fields[i].type, d->module), cn,
                    d->fields[i].name);
        fprintf(S, "};\n");
    }
    fprintf(S,
            "const roc_gen_type %s__type = {\n    ROC_GEN_STRUCT, \"%s\", "
            "sizeof(%s), NULL, NULL, %s, %zu, &%s__defaults, NULL, 0};\n\n",
            cn, d->qname, cn,
            d->n_fields ? fmt("%s__fields", cn) : "NULL", d->n_fields, cn);
}

static void s_struct_funcs(const idl_decl *d)
{
    char *cn = cname(d);
    fprintf(S,
            "int %s_encode(const %s *v, roc_arena *a, roc_value **out, "
            "roc_error *err)\n{\n    return roc_gen_encode(a, &%s__type, v, "
            "false, out, err);\n}\n\n"
            "int %s_decode(const roc_value *v, roc_arena *a, %s *out, "
            "roc_error *err)\n{\n    return roc_gen_decode(a, &%s__type, v, "
            "out, NULL, err);\n}\n\n",
            cn, cn, cn, cn, cn, cn);
    if (d->kind == IDL_D_EXCEPTION)
        fprintf(S,
                "int %s_raise(roc_call *call, const %s *ex, const char *fmt, "
                "...)\n{\n    va_list ap;\n    va_start(ap, fmt);\n    int rc "
                "= roc_gen_raisev(call, &%s__type, ex, fmt, ap);\n    "
                "va_end(ap);\n    return rc;\n}\n\n"
                "int %s_catch(const roc_error *err, %s *out, roc_arena "
                "*arena)\n{\n    return roc_gen_catch(err, &%s__type, out, "
                "arena);\n}\n\n",
                cn, cn, cn, cn, cn, cn);
}

static char *sig_params(const idl_operation *op)
{
    char *s = fmt("%s", "");
    for (size_t i = 0; i < op->n_params; i++)
        s = fmt("%s%s%s %s", s, i ? ", " : "",
                idl_type_str(C, op->params[i].type), op->params[i].name);
    return s;
}

static const char *op_flags(const idl_operation *op)
{
    return op->oneway       ? "ROC_METHOD_ONEWAY"
           : op->idempotent ? "ROC_METHOD_IDEMPOTENT"
                            : "0";
}

static void s_interface(const idl_decl *d)
{
    char *cn = cname(d);
    fprintf(S, "/* ---- interface %s ---- */\n\n", d->qname);
    fprintf(S,
            "const roc_gen_type %s__type = {\n    ROC_GEN_IFACE, \"%s\", "
            "sizeof(void *), NULL, NULL, NULL, 0, NULL, NULL, 0};\n\n",
            cn, d->qname);
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        if (!op->n_params)
            continue;
        fprintf(S, "static const roc_gen_param %s__p_%s[] = {\n", cn, op->name);
        for (size_t j = 0; j < op->n_params; j++)
            fprintf(S, "    {\"%s\", %s},\n", op->params[j].name,
                    desc(op->params[j].type, op_mod(op)));
        fprintf(S, "};\n");
    }
    fprintf(S, "static const roc_gen_method %s__m[] = {\n", cn);
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        fprintf(S, "    {\"%s\", \"%s.%s\", %s, %zu, %s, %s},\n", op->name,
                d->qname, op->name,
                op->n_params ? fmt("%s__p_%s", cn, op->name) : "NULL",
                op->n_params,
                op->result->kind == IDL_VOID ? "NULL"
                                             : desc(op->result, op_mod(op)),
                op_flags(op));
    }
    if (d->n_all_ops == 0)
        fprintf(S, "    {NULL, NULL, NULL, 0, NULL, 0},\n");
    fprintf(S, "};\n\n");

    /* proxy helpers */
    fprintf(S,
            "int %s_open(%s **proxy, const char *uri, roc_error *err)\n{\n"
            "    roc_proxy *p = NULL;\n    int rc = roc_proxy_open(&p, uri, "
            "err);\n    *proxy = (%s *)(void *)p;\n    return rc;\n}\n\n"
            "void %s_close(%s *proxy)\n{\n    roc_proxy_close((roc_proxy "
            "*)(void *)proxy);\n}\n\n"
            "int %s_dup(%s *proxy, %s **out, roc_error *err)\n{\n"
            "    roc_proxy *p = NULL;\n"
            "    int rc = roc_proxy_dup((roc_proxy *)(void *)proxy, &p, err);\n"
            "    *out = (%s *)(void *)p;\n    return rc;\n}\n\n"
            "roc_proxy *%s_proxy(%s *proxy)\n{\n    return (roc_proxy *)(void "
            "*)proxy;\n}\n\n"
            "%s *%s_from_proxy(roc_proxy *proxy)\n{\n    return (%s *)(void "
            "*)proxy;\n}\n\n",
            cn, cn, cn, cn, cn, cn, cn, cn, cn, cn, cn, cn, cn, cn);
    dlist anc = {NULL, 0};
    for (size_t i = 0; i < d->n_all_ops; i++)
        if (d->all_ops[i]->iface != d && !dl_has(&anc, d->all_ops[i]->iface))
            dl_add(&anc, d->all_ops[i]->iface);
    for (size_t i = 0; i < d->n_bases; i++)
        if (!dl_has(&anc, d->bases[i].decl))
            dl_add(&anc, d->bases[i].decl);
    for (size_t i = 0; i < anc.n; i++)
        fprintf(S, "%s *%s_as_%s(%s *proxy)\n{\n    return (%s *)(void "
                   "*)proxy;\n}\n\n",
                cname(anc.v[i]), cn, anc.v[i]->name, cn, cname(anc.v[i]));
    free(anc.v);

    /* client stubs */
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        bool has_ret = op->result->kind != IDL_VOID;
        char *args = fmt("%s", "");
        for (size_t j = 0; j < op->n_params; j++)
            args = fmt("%s%s%s%s", args, j ? ", " : "",
                       is_struct(op->params[j].type) ? "" : "&",
                       op->params[j].name);
        char *argarr = op->n_params
                           ? fmt("    const void *const args[] = {%s};\n", args)
                           : fmt("    const void *const args[1] = {NULL};\n");
        fprintf(S,
                "int %s_%s(%s *proxy%s%s, roc_error *err)\n{\n%s    return "
                "roc_gen_call((roc_proxy *)(void *)proxy, &%s__m[%zu], args, "
                "%s, err);\n}\n\n",
                cn, op->name, cn, stub_params(op), result_params(op), argarr,
                cn, i, has_ret ? "ret, arena" : "NULL, NULL");
        if (op->oneway)
            continue;
        fprintf(S,
                "int %s_%s_async(%s *proxy%s, roc_future **future, roc_error "
                "*err)\n{\n%s    return roc_gen_call_async((roc_proxy *)(void "
                "*)proxy, &%s__m[%zu], args, future, err);\n}\n\n",
                cn, op->name, cn, stub_params(op), argarr, cn, i);
        fprintf(S,
                "int %s_%s_finish(roc_future *future%s, roc_error *err)\n{\n"
                "    return roc_gen_finish(future, &%s__m[%zu], %s, err);\n}\n\n",
                cn, op->name, result_params(op), cn, i,
                has_ret ? "ret, arena" : "NULL, NULL");
    }

    /* skeleton handlers */
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        bool has_ret = op->result->kind != IDL_VOID;
        fprintf(S,
                "static int %s__h_%s(roc_call *call, const roc_value *args, "
                "roc_value **result)\n{\n"
                "    %s_impl *impl = roc_call_self(call);\n"
                "    const roc_gen_method *m = &%s__m[%zu];\n",
                cn, op->name, cn, cn, i);
        char *outs = fmt("%s", ""), *call_args = fmt("%s", "");
        for (size_t j = 0; j < op->n_params; j++) {
            fprintf(S, "    %s;\n",
                    var_decl(op->params[j].type, op_mod(op),
                             fmt("a%zu", j)));
            outs = fmt("%s%s&a%zu", outs, j ? ", " : "", j);
            call_args = fmt("%s, %sa%zu", call_args,
                            is_struct(op->params[j].type) ? "&" : "", j);
        }
        if (has_ret) {
            fprintf(S, "    %s;\n    memset(&ret, 0, sizeof ret);\n",
                    var_decl(op->result, op_mod(op), "ret"));
            call_args = fmt("%s, &ret", call_args);
        }
        if (op->n_params)
            fprintf(S, "    void *const out[] = {%s};\n", outs);
        else
            fprintf(S, "    void *const out[1] = {NULL};\n");
        fprintf(S,
                "    roc_gen_scope scope = ROC_GEN_SCOPE_INIT;\n"
                "    int rc = roc_gen_args(call, m, args, out, &scope);\n"
                "    if (rc == 0 && !impl->ops->%s)\n"
                "        rc = roc_gen_unimplemented(call, m);\n"
                "    if (rc == 0)\n"
                "        rc = impl->ops->%s(impl->self, call%s);\n"
                "    if (rc == 0)\n"
                "        rc = roc_gen_result(call, m, %s, result);\n"
                "    roc_gen_release(&scope);\n    return rc;\n}\n\n",
                op->name, op->name, call_args, has_ret ? "&ret" : "NULL");
    }
    fprintf(S, "static const roc_method %s__methods[] = {\n", cn);
    for (size_t i = 0; i < d->n_all_ops; i++) {
        const idl_operation *op = d->all_ops[i];
        const char *rt = idl_type_str(C, op->result);
        fprintf(S, "    {\"%s\", %s__h_%s, %zu, %s, %s, %s},\n", op->name, cn,
                op->name, op->n_params, op_flags(op),
                c_string(sig_params(op), strlen(sig_params(op))),
                c_string(rt, strlen(rt)));
    }
    if (d->n_all_ops == 0)
        fprintf(S, "    {NULL, NULL, 0, 0, NULL, NULL},\n");
    fprintf(S,
            "};\n\n"
            "roc_servant %s_servant(%s_impl *impl)\n{\n"
            "    roc_servant s;\n    memset(&s, 0, sizeof s);\n"
            "    s.iface = \"%s\";\n    s.methods = %s__methods;\n"
            "    s.n_methods = %zu;\n    s.self = impl;\n"
            "    s.mode = ROC_INSTANCE_SINGLE;\n    s.flags = impl->flags;\n"
            "    s.idl = %s;\n    return s;\n}\n\n",
            cn, cn, d->qname, cn, d->n_all_ops, idl_sym);
}

static void gen_source(idl_file *f)
{
    fprintf(S,
            "/* Generated by rocgen from %s. Do not edit. */\n"
            "#include \"%s.h\"\n\n#include <stdarg.h>\n#include <stddef.h>\n"
            "#include <string.h>\n\n",
            base, base);
    s_idl_text(f);
    bool any_ctr = false;
    for (size_t i = 0; i < n_ctrs; i++) {
        s_container_decl(&ctrs[i]);
        any_ctr = true;
    }
    if (any_ctr)
        fputc('\n', S);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_ENUM)
            s_enum(all.v[i]);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_STRUCT || all.v[i]->kind == IDL_D_EXCEPTION)
            s_struct(all.v[i]);
    for (size_t i = 0; i < n_ctrs; i++)
        s_container(&ctrs[i]);
    if (any_ctr)
        fputc('\n', S);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_STRUCT || all.v[i]->kind == IDL_D_EXCEPTION)
            s_struct_funcs(all.v[i]);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i]->kind == IDL_D_INTERFACE)
            s_interface(all.v[i]);
    /* a file with no interface still references its IDL text */
    fprintf(S, "/* The IDL source, for introspection. */\n"
               "const char *%s_idl_text(void);\n"
               "const char *%s_idl_text(void)\n{\n    return %s;\n}\n",
            idl_sym, idl_sym, idl_sym);
}

static void usage(void)
{
    fputs("usage: rocgen [-o DIR] [-I DIR]... [-d DEPFILE] file.roc\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *outdir = ".";
    const char *input = NULL;
    const char *depfile = NULL;
    C = idl_ctx_new();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            outdir = argv[++i];
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            depfile = argv[++i];
        else if (strcmp(argv[i], "-I") == 0 && i + 1 < argc)
            idl_ctx_add_include_dir(C, argv[++i]);
        else if (strncmp(argv[i], "-I", 2) == 0 && argv[i][2])
            idl_ctx_add_include_dir(C, argv[i] + 2);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            usage();
        else if (argv[i][0] == '-' || input)
            usage();
        else
            input = argv[i];
    }
    if (!input)
        usage();
    idl_file *f = idl_parse_file(C, input);
    if (idl_check(C) != 0 || !f) {
        idl_print_diags(C, stderr);
        idl_ctx_free(C);
        return 1;
    }
    collect(f->decls, f->n_decls);
    for (size_t i = 0; i < f->n_decls; i++)
        check_names(f->decls[i]);
    if (gen_errors)
        return 1;
    const char *b = strrchr(input, '/');
    base = b ? b + 1 : input;
    idl_sym = fmt("roc_idl_%s", base);
    for (char *p = idl_sym; *p; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    collect_types();
    char *hp = fmt("%s/%s.h", outdir, base), *sp = fmt("%s/%s.c", outdir, base);
    char *htmp = fmt("%s.tmp", hp), *stmp = fmt("%s.tmp", sp);
    H = fopen(htmp, "w");
    S = fopen(stmp, "w");
    if (!H || !S) {
        fprintf(stderr, "rocgen: cannot write to %s: %s\n", outdir,
                strerror(errno));
        return 1;
    }
    gen_header(f);
    gen_source(f);
    bool ok = fclose(H) == 0;
    ok = fclose(S) == 0 && ok;
    if (!ok || rename(htmp, hp) != 0 || rename(stmp, sp) != 0) {
        fprintf(stderr, "rocgen: cannot write %s: %s\n", hp, strerror(errno));
        remove(htmp);
        remove(stmp);
        return 1;
    }
    if (depfile) {
        /* make-style: the outputs depend on the input and every import */
        FILE *d = fopen(depfile, "w");
        if (!d) {
            fprintf(stderr, "rocgen: cannot write %s: %s\n", depfile,
                    strerror(errno));
            return 1;
        }
        fprintf(d, "%s:", hp);
        for (size_t i = 0; i < idl_file_count(C); i++)
            fprintf(d, " \\\n  %s", idl_file_get(C, i)->path);
        fprintf(d, "\n");
        fclose(d);
    }
    idl_ctx_free(C);
    free(ctrs);
    free(all.v);
    pool_free();
    return 0;
}
