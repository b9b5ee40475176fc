/* The IDL lexer: one token at a time, with positions and doc comments. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const kw_text[] = {
    "import",    "module",    "const",     "enum",       "struct",
    "exception", "typedef",   "interface", "readonly",   "attribute",
    "oneway",    "idempotent", "void",     "raises",     "list",
    "map",       "optional",  "true",      "false",      "bool",
    "i8",        "i16",       "i32",       "i64",        "u8",
    "u16",       "u32",       "u64",       "f32",        "f64",
    "string",    "bytes",     "any",
};

const char *tok_kind_text(tok_kind k)
{
    switch (k) {
    case T_EOF: return "end of file";
    case T_IDENT: return "identifier";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    case T_STRING: return "string literal";
    case T_LBRACE: return "'{'";
    case T_RBRACE: return "'}'";
    case T_LPAREN: return "'('";
    case T_RPAREN: return "')'";
    case T_LT: return "'<'";
    case T_GT: return "'>'";
    case T_COMMA: return "','";
    case T_SEMI: return "';'";
    case T_COLON: return "':'";
    case T_EQ: return "'='";
    case T_DOT: return "'.'";
    default: break;
    }
    if (k >= T_KW_FIRST && k <= T_KW_LAST)
        return kw_text[k - T_KW_FIRST];
    return "?";
}

const char *tok_describe(idl_ctx *ctx, const token *t)
{
    if (t->kind >= T_KW_FIRST && t->kind <= T_KW_LAST)
        return idl_printf(ctx, "keyword '%s'", kw_text[t->kind - T_KW_FIRST]);
    if (t->kind == T_IDENT)
        return idl_printf(ctx, "identifier '%.*s'", (int)t->len,
                          t->pos.file->text + t->off);
    return tok_kind_text(t->kind);
}

void lex_init(lexer *lx, idl_ctx *ctx, idl_file *file)
{
    memset(lx, 0, sizeof *lx);
    lx->ctx = ctx;
    lx->file = file;
    lx->src = file->text;
    lx->len = file->len;
    lx->line = 1;
    lx->col = 1;
}

static int peekc(const lexer *lx, size_t ahead)
{
    return lx->off + ahead < lx->len ? (unsigned char)lx->src[lx->off + ahead]
                                     : -1;
}

static void advance(lexer *lx)
{
    if (lx->off >= lx->len)
        return;
    if (lx->src[lx->off] == '\n') {
        lx->line++;
        lx->col = 1;
    } else {
        lx->col++;
    }
    lx->off++;
}

static idl_pos here(const lexer *lx)
{
    idl_pos p = {lx->file, lx->line, lx->col};
    return p;
}

/* The text of a doc comment without its delimiters and the leading '*' of
 * each line, trimmed. */
static char *doc_text(idl_ctx *ctx, const char *s, size_t n)
{
    char *out = idl_alloc(ctx, n + 1);
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        /* start of a line: skip blanks and one '*' */
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i < n && s[i] == '*') {
            i++;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
        }
        while (i < n && s[i] != '\n')
            out[o++] = s[i++];
        if (i < n) {
            out[o++] = '\n';
            i++;
        }
    }
    while (o > 0 && isspace((unsigned char)out[o - 1]))
        o--;
    out[o] = '\0';
    size_t b = 0;
    while (out[b] && isspace((unsigned char)out[b]))
        b++;
    return out + b;
}

/* Skips blanks and comments; keeps the last doc comment. */
static void skip_space(lexer *lx)
{
    for (;;) {
        int c = peekc(lx, 0);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            advance(lx);
        } else if (c == '/' && peekc(lx, 1) == '/') {
            while (peekc(lx, 0) != -1 && peekc(lx, 0) != '\n')
                advance(lx);
        } else if (c == '/' && peekc(lx, 1) == '*') {
            idl_pos start = here(lx);
            bool doc = peekc(lx, 2) == '*' && peekc(lx, 3) != '/';
            advance(lx);
            advance(lx);
            size_t body = lx->off + (doc ? 1 : 0);
            for (;;) {
                if (peekc(lx, 0) == -1) {
                    idl_error(lx->ctx, start, "unterminated comment");
                    return;
                }
                if (peekc(lx, 0) == '*' && peekc(lx, 1) == '/')
                    break;
                advance(lx);
            }
            size_t end = lx->off;
            advance(lx);
            advance(lx);
            if (doc)
                lx->doc = doc_text(lx->ctx, lx->src + body,
                                   end > body ? end - body : 0);
        } else {
            return;
        }
    }
}

static void put_utf8(char *out, size_t *o, unsigned cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xE0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static void lex_string(lexer *lx, token *t)
{
    advance(lx); /* opening quote */
    /* decoded text is never longer than the source text */
    size_t start = lx->off;
    size_t end = start;
    while (end < lx->len && lx->src[end] != '"' && lx->src[end] != '\n') {
        if (lx->src[end] == '\\' && end + 1 < lx->len)
            end++;
        end++;
    }
    char *out = idl_alloc(lx->ctx, end - start + 4);
    size_t o = 0;
    for (;;) {
        int c = peekc(lx, 0);
        if (c == -1 || c == '\n') {
            idl_error(lx->ctx, t->pos, "unterminated string");
            break;
        }
        if (c == '"') {
            advance(lx);
            break;
        }
        if (c != '\\') {
            out[o++] = (char)c;
            advance(lx);
            continue;
        }
        idl_pos epos = here(lx);
        advance(lx);
        int e = peekc(lx, 0);
        switch (e) {
        case '"': out[o++] = '"'; advance(lx); break;
        case '\\': out[o++] = '\\'; advance(lx); break;
        case 'n': out[o++] = '\n'; advance(lx); break;
        case 't': out[o++] = '\t'; advance(lx); break;
        case 'u': {
            advance(lx);
            unsigned cp = 0;
            int i;
            for (i = 0; i < 4 && isxdigit(peekc(lx, 0)); i++) {
                int h = peekc(lx, 0);
                cp = cp * 16 + (unsigned)(isdigit(h) ? h - '0'
                                                      : (tolower(h) - 'a' + 10));
                advance(lx);
            }
            if (i < 4)
                idl_error(lx->ctx, epos,
                          "\\u needs four hexadecimal digits");
            else if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                idl_error(lx->ctx, epos, "invalid code point \\u%04X", cp);
            else
                put_utf8(out, &o, cp);
            break;
        }
        default:
            if (e == -1 || e == '\n') {
                idl_error(lx->ctx, t->pos, "unterminated string");
                goto done;
            }
            idl_error(lx->ctx, epos, "invalid escape '\\%c' in string", e);
            advance(lx);
            break;
        }
    }
done:
    out[o] = '\0';
    t->kind = T_STRING;
    t->lit.kind = IDL_LIT_STRING;
    t->lit.s = out;
    t->lit.slen = o;
}

static void lex_number(lexer *lx, token *t)
{
    size_t start = lx->off;
    bool neg = false;
    if (peekc(lx, 0) == '-') {
        neg = true;
        advance(lx);
    }
    t->lit.negative = neg;
    if (peekc(lx, 0) == '0' && (peekc(lx, 1) == 'x' || peekc(lx, 1) == 'X')) {
        advance(lx);
        advance(lx);
        uint64_t v = 0;
        bool over = false;
        int nd = 0;
        while (isxdigit(peekc(lx, 0))) {
            int h = peekc(lx, 0);
            unsigned d = (unsigned)(isdigit(h) ? h - '0' : tolower(h) - 'a' + 10);
            if (v > (UINT64_MAX >> 4))
                over = true;
            v = v * 16 + d;
            nd++;
            advance(lx);
        }
        if (nd == 0)
            idl_error(lx->ctx, t->pos, "hexadecimal literal needs digits");
        t->kind = T_INT;
        t->lit.kind = IDL_LIT_INT;
        t->lit.mag = v;
        t->lit.overflow = over;
        t->lit.f = neg ? -(double)v : (double)v;
    } else {
        bool is_float = false;
        while (isdigit(peekc(lx, 0)))
            advance(lx);
        if (peekc(lx, 0) == '.' && isdigit(peekc(lx, 1))) {
            is_float = true;
            advance(lx);
            while (isdigit(peekc(lx, 0)))
                advance(lx);
        }
        if (peekc(lx, 0) == 'e' || peekc(lx, 0) == 'E') {
            int k = 1;
            if (peekc(lx, 1) == '+' || peekc(lx, 1) == '-')
                k = 2;
            if (isdigit(peekc(lx, (size_t)k))) {
                is_float = true;
                for (int i = 0; i < k; i++)
                    advance(lx);
                while (isdigit(peekc(lx, 0)))
                    advance(lx);
            }
        }
        char *text = idl_strndup(lx->ctx, lx->src + start, lx->off - start);
        if (is_float) {
            t->kind = T_FLOAT;
            t->lit.kind = IDL_LIT_FLOAT;
            t->lit.f = strtod(text, NULL);
            t->lit.s = text;
        } else {
            t->kind = T_INT;
            t->lit.kind = IDL_LIT_INT;
            errno = 0;
            unsigned long long v = strtoull(text + (neg ? 1 : 0), NULL, 10);
            t->lit.overflow = errno == ERANGE;
            t->lit.mag = (uint64_t)v;
            t->lit.f = strtod(text, NULL);
        }
    }
    if (isalnum(peekc(lx, 0)) || peekc(lx, 0) == '_') {
        idl_error(lx->ctx, here(lx), "invalid character '%c' in number",
                  peekc(lx, 0));
        while (isalnum(peekc(lx, 0)) || peekc(lx, 0) == '_')
            advance(lx);
    }
    if (t->lit.overflow)
        idl_error(lx->ctx, t->pos, "integer literal too large");
}

void lex_next(lexer *lx, token *t)
{
    skip_space(lx);
    memset(t, 0, sizeof *t);
    t->doc = lx->doc;
    lx->doc = NULL;
again:
    t->pos = here(lx);
    t->off = lx->off;
    int c = peekc(lx, 0);
    if (c == -1) {
        t->kind = T_EOF;
    } else if (isalpha(c) || c == '_') {
        while (isalnum(peekc(lx, 0)) || peekc(lx, 0) == '_')
            advance(lx);
        t->kind = T_IDENT;
        size_t n = lx->off - t->off;
        for (int k = T_KW_FIRST; k <= T_KW_LAST; k++) {
            const char *kw = kw_text[k - T_KW_FIRST];
            if (strlen(kw) == n && memcmp(kw, lx->src + t->off, n) == 0) {
                t->kind = (tok_kind)k;
                break;
            }
        }
    } else if (isdigit(c) || (c == '-' && isdigit(peekc(lx, 1)))) {
        lex_number(lx, t);
    } else if (c == '"') {
        lex_string(lx, t);
    } else {
        static const char punct[] = "{}()<>,;:=.";
        static const tok_kind kinds[] = {T_LBRACE, T_RBRACE, T_LPAREN,
                                         T_RPAREN, T_LT,     T_GT,
                                         T_COMMA,  T_SEMI,   T_COLON,
                                         T_EQ,     T_DOT};
        const char *p = strchr(punct, c);
        if (c != 0 && p) {
            t->kind = kinds[p - punct];
            advance(lx);
        } else {
            if (c >= 0x20 && c < 0x7f)
                idl_error(lx->ctx, t->pos, "unexpected character '%c'", c);
            else
                idl_error(lx->ctx, t->pos, "unexpected byte 0x%02X", c);
            advance(lx);
            skip_space(lx);
            goto again;
        }
    }
    t->len = lx->off - t->off;
}
