/* The IDL front end (idl/): lexer, parser, semantic checks, diagnostics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idl.h"

/* ---- helpers ---- */

/* Compiles sources given as name/text pairs (the first is the main file)
 * and returns the context; the caller frees it. */
static idl_ctx *compile(const char *main_text, const char *import_name,
                        const char *import_text)
{
    idl_ctx *ctx = idl_ctx_new();
    assert_non_null(ctx);
    if (import_name)
        idl_ctx_add_source(ctx, import_name, import_text);
    idl_ctx_add_source(ctx, "t.roc", main_text);
    idl_parse_file(ctx, "t.roc");
    idl_check(ctx);
    return ctx;
}

static void expect_clean(idl_ctx *ctx)
{
    if (idl_diag_count(ctx) != 0)
        idl_print_diags(ctx, stderr);
    assert_int_equal(idl_diag_count(ctx), 0);
}

static idl_file *main_file(idl_ctx *ctx)
{
    for (size_t i = 0; i < idl_file_count(ctx); i++)
        if (strcmp(idl_file_get(ctx, i)->name, "t.roc") == 0)
            return idl_file_get(ctx, i);
    fail_msg("no main file");
    return NULL;
}

static idl_decl *member(idl_decl *mod, const char *name)
{
    for (size_t i = 0; i < mod->n_members; i++)
        if (mod->members[i]->name && strcmp(mod->members[i]->name, name) == 0)
            return mod->members[i];
    fail_msg("no member %s", name);
    return NULL;
}

static const idl_operation *op_named(const idl_decl *iface, const char *name)
{
    for (size_t i = 0; i < iface->n_all_ops; i++)
        if (strcmp(iface->all_ops[i]->name, name) == 0)
            return iface->all_ops[i];
    return NULL;
}

static const char *shop_text =
    "/* Inventory of a small shop. */\n"
    "module demo.shop {\n"
    "    import \"common.roc\";\n"
    "\n"
    "    const i32 MAX_ITEMS = 100;\n"
    "    const string VERSION = \"1.2\";\n"
    "\n"
    "    enum Color { RED, GREEN = 5, BLUE }\n"
    "\n"
    "    /** One article on the shelf. */\n"
    "    struct Item {\n"
    "        string name;\n"
    "        f64 price;\n"
    "        list<string> tags;\n"
    "        optional<Color> color;\n"
    "        map<string, i64> stock;\n"
    "        bytes picture;\n"
    "    }\n"
    "\n"
    "    typedef list<Item> Items;\n"
    "\n"
    "    exception OutOfStock { string item; i32 requested; }\n"
    "    exception NotFound { string name; }\n"
    "\n"
    "    interface Listener {\n"
    "        oneway void changed(string item, any detail);\n"
    "    }\n"
    "\n"
    "    interface Warehouse {\n"
    "        readonly attribute i32 count;\n"
    "        attribute string motto;\n"
    "\n"
    "        Items contents();\n"
    "        idempotent Item get(string name) raises (NotFound);\n"
    "        void store(Item item, i32 quantity) raises (OutOfStock, "
    "NotFound);\n"
    "        oneway void touch();\n"
    "        void subscribe(Listener listener);\n"
    "        Warehouse branch(string city);\n"
    "    }\n"
    "\n"
    "    interface Shop : Warehouse {\n"
    "        f64 checkout(list<string> names) raises (NotFound);\n"
    "    }\n"
    "}\n";

static const char *common_text =
    "module demo.common {\n"
    "    struct Timestamp { i64 seconds; u32 nanos = 0; }\n"
    "}\n";

/* ---- valid inputs ---- */

static void test_parse_idl_md_example(void **state)
{
    (void)state;
    idl_ctx *ctx = compile(shop_text, "common.roc", common_text);
    expect_clean(ctx);
    assert_int_equal(idl_file_count(ctx), 2);
    /* imports come first in dependency order */
    assert_string_equal(idl_file_get(ctx, 0)->name, "common.roc");
    idl_file *f = main_file(ctx);
    assert_int_equal(f->n_imports, 1);
    assert_string_equal(f->imports[0], "common.roc");
    assert_int_equal(f->n_decls, 1);
    idl_decl *m = f->decls[0];
    assert_int_equal(m->kind, IDL_D_MODULE);
    assert_string_equal(m->name, "demo.shop");
    assert_int_equal(m->n_members, 10);

    idl_decl *c = member(m, "MAX_ITEMS");
    assert_int_equal(c->kind, IDL_D_CONST);
    assert_int_equal(c->type->kind, IDL_I32);
    assert_int_equal(c->value.kind, IDL_LIT_INT);
    assert_int_equal(c->value.mag, 100);
    assert_string_equal(c->qname, "demo.shop.MAX_ITEMS");
    assert_int_equal(c->pos.line, 5);
    assert_int_equal(c->pos.col, 15);
    c = member(m, "VERSION");
    assert_string_equal(c->value.s, "1.2");

    idl_decl *e = member(m, "Color");
    assert_int_equal(e->n_enums, 3);
    assert_int_equal(e->enums[0].value, 0);
    assert_int_equal(e->enums[1].value, 5);
    assert_int_equal(e->enums[2].value, 6);
    assert_int_equal(e->enums[2].pos.line, 8);
    assert_int_equal(e->enums[2].pos.col, 34);

    idl_decl *item = member(m, "Item");
    assert_int_equal(item->kind, IDL_D_STRUCT);
    assert_string_equal(item->doc, "One article on the shelf.");
    assert_int_equal(item->pos.line, 11);
    assert_int_equal(item->pos.col, 12);
    assert_int_equal(item->n_fields, 6);
    assert_int_equal(item->fields[2].type->kind, IDL_LIST);
    assert_int_equal(item->fields[2].type->elem->kind, IDL_STRING);
    assert_int_equal(item->fields[3].type->kind, IDL_OPTIONAL);
    assert_ptr_equal(item->fields[3].type->elem->decl, e);
    assert_int_equal(item->fields[4].type->kind, IDL_MAP);
    assert_int_equal(item->fields[4].type->key->kind, IDL_STRING);
    assert_int_equal(item->fields[4].type->elem->kind, IDL_I64);
    assert_int_equal(item->fields[5].type->kind, IDL_BYTES);
    assert_int_equal(item->fields[5].pos.line, 17);
    assert_int_equal(item->fields[5].pos.col, 15);

    idl_decl *items = member(m, "Items");
    assert_int_equal(items->kind, IDL_D_TYPEDEF);
    assert_ptr_equal(items->type->elem->decl, item);
    assert_int_equal(idl_type_resolve(items->type)->kind, IDL_LIST);

    idl_decl *oos = member(m, "OutOfStock");
    assert_int_equal(oos->kind, IDL_D_EXCEPTION);
    assert_int_equal(oos->n_fields, 2);

    idl_decl *lst = member(m, "Listener");
    assert_true(lst->ops[0].oneway);
    assert_int_equal(lst->ops[0].params[1].type->kind, IDL_ANY);

    idl_decl *wh = member(m, "Warehouse");
    assert_int_equal(wh->n_attrs, 2);
    assert_true(wh->attrs[0].readonly);
    assert_false(wh->attrs[1].readonly);
    assert_int_equal(wh->n_ops, 6);
    /* get_count, get_motto, set_motto + 6 operations */
    assert_int_equal(wh->n_all_ops, 9);
    assert_non_null(op_named(wh, "get_count"));
    assert_null(op_named(wh, "set_count"));
    assert_true(op_named(wh, "set_motto")->is_setter);
    const idl_operation *get = op_named(wh, "get");
    assert_true(get->idempotent);
    assert_int_equal(get->n_raises, 1);
    assert_string_equal(get->raises[0].decl->qname, "demo.shop.NotFound");
    const idl_operation *store = op_named(wh, "store");
    assert_int_equal(store->n_params, 2);
    assert_int_equal(store->result->kind, IDL_VOID);
    assert_int_equal(store->n_raises, 2);
    assert_ptr_equal(op_named(wh, "branch")->result->decl, wh);
    assert_ptr_equal(op_named(wh, "subscribe")->params[0].type->decl, lst);

    idl_decl *shop = member(m, "Shop");
    assert_int_equal(shop->n_bases, 1);
    assert_ptr_equal(shop->bases[0].decl, wh);
    assert_int_equal(shop->n_all_ops, 10);
    assert_ptr_equal(op_named(shop, "store"), store);
    assert_ptr_equal(op_named(shop, "checkout")->iface, shop);
    assert_string_equal(idl_type_str(ctx, item->fields[4].type),
                        "map<string, i64>");
    idl_ctx_free(ctx);
}

static void test_parse_literals(void **state)
{
    (void)state;
    idl_ctx *ctx = compile(
        "const i64 A = -9223372036854775808;\n"
        "const u64 B = 0xFFFFFFFFFFFFFFFF;\n"
        "const f64 C = 2e10;\n"
        "const f32 D = -1.5;\n"
        "const string E = \"q\\\"b\\\\n\\n\\t\\u00e9\";\n"
        "const bool F = true;\n"
        "const bool G = false;\n"
        "const f64 H = 7;\n"
        "const i8 I = -0x80;\n",
        NULL, NULL);
    expect_clean(ctx);
    idl_file *f = main_file(ctx);
    assert_int_equal(f->n_decls, 9);
    assert_true(f->decls[0]->value.negative);
    assert_true(f->decls[0]->value.mag == UINT64_C(9223372036854775808));
    assert_true(f->decls[1]->value.mag == UINT64_MAX);
    assert_true(f->decls[2]->value.f == 2e10);
    assert_true(f->decls[3]->value.f == -1.5);
    assert_string_equal(f->decls[4]->value.s, "q\"b\\n\n\t\xc3\xa9");
    assert_true(f->decls[5]->value.b);
    assert_false(f->decls[6]->value.b);
    assert_int_equal(f->decls[7]->value.kind, IDL_LIT_INT);
    idl_ctx_free(ctx);
}

static void test_parse_nested_modules_and_resolution(void **state)
{
    (void)state;
    idl_ctx *ctx = compile(
        "module a {\n"
        "  struct P { i32 x; }\n"
        "  module b {\n"
        "    struct Q { P p; a.P p2; b.R r; }\n" /* outward, qualified */
        "    struct R { optional<R> next; list<R> kids; }\n" /* recursion
                                                               through
                                                               pointers */
        "  }\n"
        "  typedef b.Q QQ;\n"
        "  typedef QQ Q3;\n"
        "}\n"
        "module a.b { struct S { Q q; } }\n" /* a module reopened */
        "module c { struct T { a.b.S s; a.Q3 q; map<a.E, i32> m; } }\n"
        "module a { enum E { X = -3, Y, } }\n",
        NULL, NULL);
    expect_clean(ctx);
    idl_file *f = main_file(ctx);
    idl_decl *a = f->decls[0];
    idl_decl *b = a->members[1];
    assert_string_equal(b->qname, "a.b");
    idl_decl *q = b->members[0];
    assert_string_equal(q->qname, "a.b.Q");
    assert_ptr_equal(q->fields[0].type->decl, a->members[0]);
    assert_ptr_equal(q->fields[1].type->decl, a->members[0]);
    assert_ptr_equal(q->fields[2].type->decl, b->members[1]);
    idl_decl *t = f->decls[2]->members[0];
    assert_string_equal(t->qname, "c.T");
    assert_ptr_equal(idl_type_resolve(t->fields[1].type)->decl, q);
    idl_decl *en = f->decls[3]->members[0];
    assert_int_equal(en->enums[0].value, -3);
    assert_int_equal(en->enums[1].value, -2);
    idl_ctx_free(ctx);
}

static void test_parse_doc_comments(void **state)
{
    (void)state;
    idl_ctx *ctx = compile("/** The point.\n"
                           " *  Two lines. */\n"
                           "struct P {\n"
                           "  /** x coordinate */ i32 x;\n"
                           "  // not a doc\n"
                           "  i32 y;\n"
                           "}\n"
                           "/* plain */ enum E { /** first */ A }\n"
                           "interface I {\n"
                           "  /** reads */ readonly attribute i32 n;\n"
                           "  /** does it */ void f();\n"
                           "}\n",
                           NULL, NULL);
    expect_clean(ctx);
    idl_file *f = main_file(ctx);
    assert_string_equal(f->decls[0]->doc, "The point.\nTwo lines.");
    assert_string_equal(f->decls[0]->fields[0].doc, "x coordinate");
    assert_null(f->decls[0]->fields[1].doc);
    assert_null(f->decls[1]->doc);
    assert_string_equal(f->decls[1]->enums[0].doc, "first");
    assert_string_equal(f->decls[2]->attrs[0].doc, "reads");
    assert_string_equal(f->decls[2]->ops[0].doc, "does it");
    idl_ctx_free(ctx);
}

static void test_parse_diamond_inheritance(void **state)
{
    (void)state;
    idl_ctx *ctx = compile("interface A { void a(); }\n"
                           "interface B : A { void b(); }\n"
                           "interface C : A { void c(); }\n"
                           "interface D : B, C { void d(); }\n",
                           NULL, NULL);
    expect_clean(ctx);
    idl_decl *d = main_file(ctx)->decls[3];
    assert_int_equal(d->n_all_ops, 4);
    assert_string_equal(d->all_ops[0]->name, "a");
    assert_string_equal(d->all_ops[3]->name, "d");
    idl_ctx_free(ctx);
}

static void test_parse_struct_defaults(void **state)
{
    (void)state;
    idl_ctx *ctx = compile("enum Color { RED = 1, BLUE = 2 }\n"
                           "struct S {\n"
                           "  bool b = true; i8 i = -128; u64 u = 18446744073709551615;\n"
                           "  f32 f = 1.5; string s = \"x\"; Color c = 2;\n"
                           "}\n",
                           NULL, NULL);
    expect_clean(ctx);
    idl_decl *s = main_file(ctx)->decls[1];
    assert_int_equal(s->fields[5].def.mag, 2);
    idl_ctx_free(ctx);
}

static void test_parse_file_from_disk(void **state)
{
    (void)state;
    idl_ctx *ctx = idl_ctx_new();
    idl_file *f = idl_parse_file(ctx, ROC_SOURCE_DIR "/tests/idl/shop.roc");
    assert_non_null(f);
    assert_int_equal(idl_check(ctx), 0);
    assert_int_equal(idl_file_count(ctx), 2);
    idl_ctx_free(ctx);

    ctx = idl_ctx_new();
    assert_null(idl_parse_file(ctx, "/nonexistent/x.roc"));
    assert_int_equal(idl_diag_count(ctx), 1);
    assert_string_equal(idl_diag_get(ctx, 0)->message,
                        "cannot open '/nonexistent/x.roc': No such file or "
                        "directory");
    idl_ctx_free(ctx);
}

/* ---- invalid inputs: first diagnostic's line, column and message ---- */

typedef struct bad_case {
    const char *src;
    int line, col;
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    /* lexical */
    {"struct A { i32 x; } @", 1, 21, "unexpected character '@'"},
    {"const string S = \"abc;\n", 1, 18, "unterminated string"},
    {"/* open\nstruct A {}", 1, 1, "unterminated comment"},
    {"const string S = \"a\\qb\";", 1, 20, "invalid escape '\\q' in string"},
    {"const string S = \"\\u12\";", 1, 19, "\\u needs four hexadecimal digits"},
    {"const u64 X = 18446744073709551616;", 1, 15, "integer literal too large"},
    {"const i32 X = 12ab;", 1, 17, "invalid character 'a' in number"},
    /* syntax */
    {"struct A { i32 x }", 1, 18, "expected ';' after field 'x', found '}'"},
    {"struct { i32 x; }", 1, 8, "expected struct name, found '{'"},
    {"struct list { }", 1, 8, "expected struct name, found keyword 'list'"},
    {"enum E { }", 1, 10, "expected enumerator name, found '}'"},
    {"enum E { A B }", 1, 12,
     "expected ',' or '}' after enumerator 'A', found identifier 'B'"},
    {"enum E { A = x }", 1, 14,
     "expected an integer for enumerator 'A', found identifier 'x'"},
    {"const i32 X = ;", 1, 15,
     "expected a literal for constant 'X', found ';'"},
    {"const i32 X 5;", 1, 13,
     "expected '=' after constant 'X', found integer"},
    {"typedef list<i32 L;", 1, 18,
     "expected '>' to close 'list<', found identifier 'L'"},
    {"typedef map<string> M;", 1, 19,
     "expected ',' after map key type, found '>'"},
    {"struct A { void x; }", 1, 12,
     "'void' is only allowed as an operation's result"},
    {"interface I { void f(i32 a, ); }", 1, 29,
     "expected parameter type, found ')'"},
    {"interface I { void f() raises NotFound; }", 1, 31,
     "expected '(' after 'raises', found identifier 'NotFound'"},
    {"interface I { readonly i32 x; }", 1, 24,
     "expected keyword 'attribute' after 'readonly', found keyword 'i32'"},
    {"interface I { void f() }", 1, 24,
     "expected ';' after operation 'f', found '}'"},
    {"module m { struct A {} ", 1, 24,
     "expected '}' to close module 'm', found end of file"},
    {"struct A {}\nimport \"x.roc\";", 2, 1,
     "imports must come before any definition"},
    {"foo bar;", 1, 1, "expected a definition, found identifier 'foo'"},
    /* semantic */
    {"struct A { B b; }", 1, 12, "unknown type 'B'"},
    {"struct A { i32 x; }\nenum A { X }", 2, 6,
     "duplicate definition of 'A' (first at line 1)"},
    {"struct A { i32 x; string x; }", 1, 26, "duplicate field 'x' in struct 'A'"},
    {"enum E { A, B, A }", 1, 16, "duplicate enumerator 'A' in enum 'E'"},
    {"enum E { A = 1, B = 1 }", 1, 17,
     "enumerator 'B' has the same value (1) as 'A'"},
    {"enum E { A = 2147483648 }", 1, 14,
     "enumerator 'A' value 2147483648 does not fit in i32"},
    {"struct A { B b; }\nstruct B { A a; }", 1, 8,
     "struct 'A' contains itself by value: A -> B -> A"},
    {"struct A { A a; }", 1, 8, "struct 'A' contains itself by value: A -> A"},
    {"typedef B A;\ntypedef A B;", 1, 11, "typedef 'A' refers to itself: A -> B -> A"},
    {"interface A : B {}\ninterface B : A {}", 1, 11,
     "interface 'A' inherits from itself: A -> B -> A"},
    {"interface A : S {}\nstruct S { i32 x; }", 1, 15,
     "'S' is a struct, not an interface"},
    {"interface A : Nope {}", 1, 15, "unknown interface 'Nope'"},
    {"typedef map<f64, i32> M;", 1, 13,
     "map key must be string, an integer type or an enum, not f64"},
    {"struct K { i32 x; }\ntypedef map<K, i32> M;", 2, 13,
     "map key must be string, an integer type or an enum, not K"},
    {"interface I { oneway i32 f(); }", 1, 22,
     "oneway operation 'f' must return void"},
    {"exception E { string m; }\ninterface I { oneway void f() raises (E); }",
     2, 39, "oneway operation 'f' cannot raise exceptions"},
    {"const u8 X = 256;", 1, 14, "value 256 does not fit in u8"},
    {"const i8 X = -129;", 1, 14, "value -129 does not fit in i8"},
    {"const u32 X = -1;", 1, 15, "value -1 does not fit in u32"},
    {"const f32 X = 1e39;", 1, 15, "value 1e39 does not fit in f32"},
    {"const i32 X = 1.5;", 1, 15, "constant 'X' of type i32 needs an integer"},
    {"const string X = 1;", 1, 18,
     "constant 'X' of type string needs a string literal"},
    {"const bool X = 0;", 1, 16, "constant 'X' of type bool needs true or false"},
    {"const bytes X = \"a\";", 1, 7,
     "constant type must be bool, an integer, a float or string, not bytes"},
    {"exception E { string m; }\nstruct S { E e; }", 2, 12,
     "exception 'E' used as a type (exceptions appear only after 'raises')"},
    {"exception E { string m; }\ninterface I { E f(); }", 2, 15,
     "exception 'E' used as a type (exceptions appear only after 'raises')"},
    {"struct S { i32 x; }\ninterface I { void f() raises (S); }", 2, 32,
     "'S' is a struct, not an exception"},
    {"interface I { void f() raises (Nope); }", 1, 32,
     "unknown exception 'Nope'"},
    {"const i32 C = 1;\nstruct S { C c; }", 2, 12, "constant 'C' used as a type"},
    {"interface I { void f(i32 a, string a); }", 1, 36,
     "duplicate parameter 'a' in operation 'f'"},
    {"interface I { void f(); i32 f(); }", 1, 29,
     "duplicate operation 'f' in interface 'I'"},
    {"interface I { attribute i32 n; void set_n(i32 v); }", 1, 37,
     "duplicate operation 'set_n' in interface 'I' (attribute accessor)"},
    {"interface A { void f(); }\ninterface B : A { void f(); }", 2, 24,
     "operation 'f' conflicts with the one inherited from 'A'"},
    {"interface A { void f(); }\ninterface B { void f(); }\n"
     "interface C : A, B {}", 3, 18,
     "interface 'C' inherits operation 'f' from both 'A' and 'B'"},
    {"exception E { string m; }\n"
     "interface I { void f() raises (E, E); }", 2, 35,
     "exception 'E' listed twice in 'raises'"},
    {"enum C { R = 1 }\nstruct S { C c = 3; }", 2, 18,
     "value 3 is not a value of enum 'C'"},
    {"struct S { list<i32> l = 1; }", 1, 26,
     "a field of type list<i32> cannot have a default"},
    {"typedef optional<optional<i32>> O;", 1, 9,
     "optional<optional<...>> is not allowed"},
    {"module m { struct S { i32 x; } }\nstruct T { m x; }", 2, 12,
     "'m' is a module, not a type"},
    {"import \"nope.roc\";", 1, 8, "cannot find import 'nope.roc'"},
};

static void test_parse_invalid_table(void **state)
{
    (void)state;
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    assert_true(n >= 30);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const bad_case *c = &bad_cases[i];
        idl_ctx *ctx = compile(c->src, NULL, NULL);
        const idl_diag *d = idl_diag_get(ctx, 0);
        if (!d || d->pos.line != c->line || d->pos.col != c->col ||
            strcmp(d->message, c->message) != 0) {
            fprintf(stderr,
                    "case %zu: %s\n  want %d:%d: %s\n  got  %d:%d: %s\n", i,
                    c->src, c->line, c->col, c->message, d ? d->pos.line : 0,
                    d ? d->pos.col : 0, d ? d->message : "(no error)");
            failures++;
        }
        idl_ctx_free(ctx);
    }
    assert_int_equal(failures, 0);
}

static void test_parse_import_cycle(void **state)
{
    (void)state;
    idl_ctx *ctx = idl_ctx_new();
    idl_ctx_add_source(ctx, "a.roc", "import \"b.roc\";\nstruct A { i32 x; }\n");
    idl_ctx_add_source(ctx, "b.roc", "import \"a.roc\";\nstruct B { i32 x; }\n");
    idl_parse_file(ctx, "a.roc");
    idl_check(ctx);
    assert_int_equal(idl_diag_count(ctx), 1);
    const idl_diag *d = idl_diag_get(ctx, 0);
    assert_string_equal(d->pos.file->name, "b.roc");
    assert_int_equal(d->pos.line, 1);
    assert_int_equal(d->pos.col, 8);
    assert_string_equal(d->message, "import cycle: a.roc -> b.roc -> a.roc");
    idl_ctx_free(ctx);
}

static void test_parse_import_resolution(void **state)
{
    (void)state;
    /* a name from an imported module resolves, qualified or from inside */
    idl_ctx *ctx = compile("import \"common.roc\";\n"
                           "module demo.shop {\n"
                           "  struct Sale { common.Timestamp at; }\n"
                           "}\n"
                           "module demo.common { struct Local { Timestamp t; } }\n",
                           "common.roc", common_text);
    expect_clean(ctx);
    idl_ctx_free(ctx);
    /* a duplicate across files names the other file */
    ctx = compile("import \"common.roc\";\n"
                  "module demo.common { struct Timestamp { i32 x; } }\n",
                  "common.roc", common_text);
    assert_int_equal(idl_diag_count(ctx), 1);
    assert_string_equal(idl_diag_get(ctx, 0)->message,
                        "duplicate definition of 'Timestamp' (first at "
                        "common.roc:2)");
    idl_ctx_free(ctx);
}

/* Recovery: one run reports several errors, in source order. */
static void test_parse_recovery_reports_several(void **state)
{
    (void)state;
    idl_ctx *ctx = compile("struct A { i32 x }\n"       /* 1:18 */
                           "struct B { i32 ; }\n"       /* 2:16 */
                           "struct C { Nope n; }\n"     /* 3:12 */
                           "interface I { void f(; }\n" /* 4:22 */
                           "const u8 X = 300;\n",       /* 5:14 */
                           NULL, NULL);
    assert_int_equal(idl_diag_count(ctx), 5);
    const int lines[] = {1, 2, 3, 4, 5};
    const int cols[] = {18, 16, 12, 22, 14};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(idl_diag_get(ctx, i)->pos.line, lines[i]);
        assert_int_equal(idl_diag_get(ctx, i)->pos.col, cols[i]);
    }
    idl_ctx_free(ctx);
}

static void test_parse_error_limit(void **state)
{
    (void)state;
    char src[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(src, "struct A { Nope x; }\n");
    idl_ctx *ctx = compile(src, NULL, NULL);
    assert_int_equal(idl_diag_count(ctx), IDL_MAX_ERRORS);
    idl_ctx_free(ctx);
}

static void test_print_diag_with_caret(void **state)
{
    (void)state;
    idl_ctx *ctx = compile("module m {\n  struct A { i32 x }\n}\n", NULL, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    idl_print_diags(ctx, out);
    fclose(out);
    assert_string_equal(buf, "t.roc:2:20: error: expected ';' after field "
                             "'x', found '}'\n"
                             "  struct A { i32 x }\n"
                             "                   ^\n");
    free(buf);
    idl_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_idl_md_example),
        cmocka_unit_test(test_parse_literals),
        cmocka_unit_test(test_parse_nested_modules_and_resolution),
        cmocka_unit_test(test_parse_doc_comments),
        cmocka_unit_test(test_parse_diamond_inheritance),
        cmocka_unit_test(test_parse_struct_defaults),
        cmocka_unit_test(test_parse_file_from_disk),
        cmocka_unit_test(test_parse_invalid_table),
        cmocka_unit_test(test_parse_import_cycle),
        cmocka_unit_test(test_parse_import_resolution),
        cmocka_unit_test(test_parse_recovery_reports_several),
        cmocka_unit_test(test_parse_error_limit),
        cmocka_unit_test(test_print_diag_with_caret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
