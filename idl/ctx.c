/* The front end's context: memory, diagnostics, loading files. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct idl_block {
    idl_block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

#define BLOCK_SIZE (64u * 1024u)

static void oom(void)
{
    /* A compiler front end cannot continue without memory; this is the one
     * place that gives up (rocgen is a short-lived tool). */
    fputs("rocgen: out of memory\n", stderr);
    abort();
}

void *idl_alloc(idl_ctx *ctx, size_t n)
{
    size_t a = _Alignof(max_align_t);
    n = (n + a - 1) / a * a;
    if (n == 0)
        n = a;
    idl_block *b = ctx->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = malloc(sizeof *b + cap);
        if (!b)
            oom();
        b->next = ctx->blocks;
        b->used = 0;
        b->cap = cap;
        ctx->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *idl_strndup(idl_ctx *ctx, const char *s, size_t n)
{
    char *p = idl_alloc(ctx, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *idl_strdup(idl_ctx *ctx, const char *s)
{
    return idl_strndup(ctx, s, strlen(s));
}

char *idl_printf(idl_ctx *ctx, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = idl_alloc(ctx, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void *idl_grow(idl_ctx *ctx, void *arr, size_t n, size_t elem)
{
    /* Capacity doubles at powers of two, so appends stay amortized O(1);
     * old storage stays in the arena (freed with the context). */
    if (n != 0 && (n & (n - 1)) != 0)
        return arr;
    size_t cap = n == 0 ? 4 : n * 2;
    if (n != 0 && n < 4)
        return arr;
    void *p = idl_alloc(ctx, cap * elem);
    if (arr && n)
        memcpy(p, arr, n * elem);
    return p;
}

idl_ctx *idl_ctx_new(void)
{
    idl_ctx *ctx = calloc(1, sizeof *ctx);
    return ctx;
}

void idl_ctx_free(idl_ctx *ctx)
{
    if (!ctx)
        return;
    idl_block *b = ctx->blocks;
    while (b) {
        idl_block *n = b->next;
        free(b);
        b = n;
    }
    free(ctx->diags);
    free(ctx->files);
    free(ctx->stack);
    free(ctx);
}

void idl_ctx_add_include_dir(idl_ctx *ctx, const char *dir)
{
    ctx->include_dirs = idl_grow(ctx, ctx->include_dirs, ctx->n_include_dirs,
                                 sizeof(char *));
    ctx->include_dirs[ctx->n_include_dirs++] = idl_strdup(ctx, dir);
}

void idl_ctx_add_source(idl_ctx *ctx, const char *name, const char *text)
{
    ctx->sources =
        idl_grow(ctx, ctx->sources, ctx->n_sources, sizeof(idl_source));
    ctx->sources[ctx->n_sources].name = idl_strdup(ctx, name);
    ctx->sources[ctx->n_sources].text = idl_strdup(ctx, text);
    ctx->n_sources++;
}

bool idl_errorv(idl_ctx *ctx, idl_pos pos, const char *fmt, va_list ap)
{
    if (ctx->too_many)
        return false;
    if (ctx->n_diags >= IDL_MAX_ERRORS) {
        ctx->too_many = true;
        return false;
    }
    if (ctx->n_diags == ctx->cap_diags) {
        size_t cap = ctx->cap_diags ? ctx->cap_diags * 2 : 8;
        idl_diag *d = realloc(ctx->diags, cap * sizeof *d);
        if (!d)
            oom();
        ctx->diags = d;
        ctx->cap_diags = cap;
    }
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *m = idl_alloc(ctx, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(m, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    ctx->diags[ctx->n_diags].pos = pos;
    ctx->diags[ctx->n_diags].message = m;
    ctx->n_diags++;
    return true;
}

bool idl_error(idl_ctx *ctx, idl_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool r = idl_errorv(ctx, pos, fmt, ap);
    va_end(ap);
    return r;
}

size_t idl_diag_count(const idl_ctx *ctx)
{
    return ctx->n_diags;
}

const idl_diag *idl_diag_get(const idl_ctx *ctx, size_t i)
{
    return i < ctx->n_diags ? &ctx->diags[i] : NULL;
}

void idl_print_diags(const idl_ctx *ctx, FILE *out)
{
    for (size_t i = 0; i < ctx->n_diags; i++) {
        const idl_diag *d = &ctx->diags[i];
        const idl_file *f = d->pos.file;
        fprintf(out, "%s:%d:%d: error: %s\n", f ? f->name : "<input>",
                d->pos.line, d->pos.col, d->message);
        if (!f || !f->text || d->pos.line < 1)
            continue;
        const char *p = f->text;
        for (int l = 1; l < d->pos.line && *p; p++)
            if (*p == '\n')
                l++;
        const char *e = strchr(p, '\n');
        int n = e ? (int)(e - p) : (int)strlen(p);
        fprintf(out, "%.*s\n", n, p);
        for (int c = 1; c < d->pos.col; c++)
            fputc(c - 1 < n && p[c - 1] == '\t' ? '\t' : ' ', out);
        fputs("^\n", out);
    }
    if (ctx->too_many)
        fprintf(out, "too many errors (stopped after %d)\n", IDL_MAX_ERRORS);
}

size_t idl_file_count(const idl_ctx *ctx)
{
    return ctx->n_files;
}

idl_file *idl_file_get(const idl_ctx *ctx, size_t i)
{
    return i < ctx->n_files ? ctx->files[i] : NULL;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static char *dir_of(idl_ctx *ctx, const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s)
        return idl_strdup(ctx, ".");
    return idl_strndup(ctx, path, (size_t)(s - path == 0 ? 1 : s - path));
}

static idl_file *find_loaded(idl_ctx *ctx, const char *path)
{
    for (size_t i = 0; i < ctx->n_files; i++)
        if (strcmp(ctx->files[i]->path, path) == 0)
            return ctx->files[i];
    for (size_t i = 0; i < ctx->n_stack; i++)
        if (strcmp(ctx->stack[i]->path, path) == 0)
            return ctx->stack[i];
    return NULL;
}

/* Parses text as file `path` (pushed on the stack while its imports load),
 * then appends it to the files in dependency order. */
static idl_file *parse_text(idl_ctx *ctx, const char *path, const char *name,
                            char *text, size_t len)
{
    idl_file *f = idl_alloc(ctx, sizeof *f);
    f->path = idl_strdup(ctx, path);
    f->name = idl_strdup(ctx, name);
    f->text = text;
    f->len = len;
    idl_file **st = realloc(ctx->stack, (ctx->n_stack + 1) * sizeof *st);
    if (!st)
        oom();
    ctx->stack = st;
    ctx->stack[ctx->n_stack++] = f;
    idl_parse_source(ctx, f);
    ctx->n_stack--;
    if (ctx->n_files == ctx->cap_files) {
        size_t cap = ctx->cap_files ? ctx->cap_files * 2 : 8;
        idl_file **nf = realloc(ctx->files, cap * sizeof *nf);
        if (!nf)
            oom();
        ctx->files = nf;
        ctx->cap_files = cap;
    }
    ctx->files[ctx->n_files++] = f;
    return f;
}

static bool on_stack(idl_ctx *ctx, const char *path, size_t *at)
{
    for (size_t i = 0; i < ctx->n_stack; i++)
        if (strcmp(ctx->stack[i]->path, path) == 0) {
            *at = i;
            return true;
        }
    return false;
}

static idl_file *load_path(idl_ctx *ctx, const char *path, const char *name,
                           idl_pos pos, bool *found)
{
    *found = false;
    size_t at;
    if (on_stack(ctx, path, &at)) {
        *found = true;
        /* "import cycle: a.roc -> b.roc -> a.roc" */
        size_t n = 0;
        for (size_t i = at; i < ctx->n_stack; i++)
            n += strlen(ctx->stack[i]->name) + 4;
        n += strlen(name) + 1;
        char *msg = idl_alloc(ctx, n);
        for (size_t i = at; i < ctx->n_stack; i++) {
            strcat(msg, ctx->stack[i]->name);
            strcat(msg, " -> ");
        }
        strcat(msg, name);
        idl_error(ctx, pos, "import cycle: %s", msg);
        return NULL;
    }
    idl_file *f = find_loaded(ctx, path);
    if (f) {
        *found = true;
        return f;
    }
    for (size_t i = 0; i < ctx->n_sources; i++)
        if (strcmp(ctx->sources[i].name, path) == 0) {
            *found = true;
            return parse_text(ctx, path, name, ctx->sources[i].text,
                              strlen(ctx->sources[i].text));
        }
    size_t len = 0;
    char *buf = read_all(path, &len);
    if (!buf)
        return NULL;
    *found = true;
    char *text = idl_strndup(ctx, buf, len);
    free(buf);
    return parse_text(ctx, path, name, text, len);
}

idl_file *idl_load(idl_ctx *ctx, const char *name, const idl_file *from,
                   idl_pos pos)
{
    bool found = false;
    idl_file *f = NULL;
    /* Names of in-memory sources match as written. */
    if (name[0] == '/' || !from) {
        f = load_path(ctx, name, name, pos, &found);
    } else {
        const char *dir = dir_of(ctx, from->path);
        char *p = strcmp(dir, ".") == 0 && !strchr(from->path, '/')
                      ? idl_strdup(ctx, name)
                      : idl_printf(ctx, "%s/%s", dir, name);
        f = load_path(ctx, p, name, pos, &found);
        for (size_t i = 0; !found && i < ctx->n_include_dirs; i++) {
            p = idl_printf(ctx, "%s/%s", ctx->include_dirs[i], name);
            f = load_path(ctx, p, name, pos, &found);
        }
    }
    if (!found) {
        if (from)
            idl_error(ctx, pos, "cannot find import '%s'", name);
        else
            idl_error(ctx, pos, "cannot open '%s': %s", name,
                      strerror(errno ? errno : ENOENT));
    }
    return f;
}

idl_file *idl_parse_file(idl_ctx *ctx, const char *path)
{
    idl_pos pos = {NULL, 0, 0};
    idl_file *f = idl_load(ctx, path, NULL, pos);
    if (f)
        f->main_ = true;
    return f;
}
