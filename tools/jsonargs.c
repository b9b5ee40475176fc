/* jsonargs: JSON arguments turned into the declared parameter types, and
 * the object look-ups this needs (docs/naming.md, "roc call"). Shared by the
 * `roc` command line and roc-gateway, so that both convert alike.
 *
 * Everything returned lives in the arena given. timeout_ms is the deadline
 * of each remote call made (name server, roc.daemon); 0 means the default
 * (ROC_TIMEOUT_MS, else 30 s).
 */
#include "jsonargs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolves uri to one object URI "ROC:id@url": *id and *url in a. */
int jsonargs_resolve(roc_arena *a, const char *uri, int timeout_ms,
                     const char **id, const char **url, roc_error *err)
{
    roc_uri u;
    int rc = roc_uri_parse(a, uri, &u, err);
    if (rc)
        return rc;
    if (u.kind == ROC_URI_OBJECT) {
        *id = u.id;
        *url = u.url;
        return 0;
    }
    roc_ns *ns = NULL;
    rc = roc_ns_open(&ns, u.url, err);
    if (rc)
        return rc;
    if (timeout_ms)
        roc_ns_set_timeout(ns, timeout_ms);
    const char *first = NULL;
    if (u.kind == ROC_URI_NAME) {
        const char **uris = NULL;
        size_t n = 0;
        rc = roc_ns_lookup_all(ns, u.id, 0, a, &uris, &n, err);
        if (rc == 0 && n)
            first = uris[0];
    } else {
        roc_ns_entry *es = NULL;
        size_t n = 0;
        rc = roc_ns_lookup_meta(ns, u.tags, u.n_tags, false, a, &es, &n, err);
        if (rc == 0 && n && es[0].n_uris)
            first = es[0].uris[0];
    }
    roc_ns_close(ns);
    if (rc)
        return rc;
    if (!first)
        return roc_error_set(err, ROC_ENOTFOUND, "nothing registered for %s",
                             uri);
    roc_uri o;
    rc = roc_uri_parse(a, first, &o, err);
    if (rc == 0 && o.kind != ROC_URI_OBJECT)
        rc = roc_error_set(err, ROC_EPARSE, "registered '%s' is no ROC: URI",
                           first);
    if (rc == 0) {
        *id = o.id;
        *url = o.url;
    }
    return rc;
}

/* Calls roc.daemon.METHOD(args) at url. */
int jsonargs_daemon_call(const char *url, const char *method,
                         const roc_value *args, int timeout_ms, roc_value **res,
                         roc_arena *a, roc_error *err)
{
    char *uri = malloc(strlen(url) + 32);
    if (!uri)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    sprintf(uri, "ROC:roc.daemon@%s", url);
    roc_proxy *p = NULL;
    int rc = roc_proxy_open(&p, uri, err);
    free(uri);
    if (rc)
        return rc;
    if (timeout_ms)
        roc_proxy_set_timeout(p, timeout_ms);
    rc = roc_proxy_call(p, method, args, res, a, err);
    roc_proxy_close(p);
    return rc;
}

int jsonargs_describe(roc_arena *a, const char *uri, int timeout_ms,
                      const char **id, roc_value **desc, roc_error *err)
{
    const char *url;
    int rc = jsonargs_resolve(a, uri, timeout_ms, id, &url, err);
    if (rc)
        return rc;
    roc_value *args = roc_value_arrayv(a, 1, roc_value_str(a, *id));
    if (!args)
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    return jsonargs_daemon_call(url, "describe", args, timeout_ms, desc, a,
                                err);
}

/* ---- JSON arguments converted to the declared types ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* Splits s at commas outside <...>, in place; at most max parts. */
static size_t split_top(char *s, char **parts, size_t max)
{
    size_t n = 0;
    int depth = 0;
    char *start = s;
    for (char *p = s;; p++) {
        if (*p == '<')
            depth++;
        else if (*p == '>')
            depth--;
        else if ((*p == ',' && depth == 0) || !*p) {
            bool end = !*p;
            *p = 0;
            if (n < max)
                parts[n++] = trim(start);
            if (end)
                break;
            start = p + 1;
        }
    }
    return n;
}

/* For "list<T>" with kind "list" gives T (a copy in a), else NULL. */
static char *inner(roc_arena *a, const char *t, const char *kind)
{
    size_t k = strlen(kind);
    size_t n = strlen(t);
    if (strncmp(t, kind, k) != 0 || t[k] != '<' || n < k + 2 || t[n - 1] != '>')
        return NULL;
    char *s = roc_arena_strndup(a, t + k + 1, n - k - 2);
    return s ? trim(s) : NULL;
}

static bool is_int_type(const char *t)
{
    return t[0] == 'i' && (strcmp(t, "i8") == 0 || strcmp(t, "i16") == 0 ||
                           strcmp(t, "i32") == 0 || strcmp(t, "i64") == 0);
}

static bool is_uint_type(const char *t)
{
    return t[0] == 'u' && (strcmp(t, "u8") == 0 || strcmp(t, "u16") == 0 ||
                           strcmp(t, "u32") == 0 || strcmp(t, "u64") == 0);
}

/* Converts v in place toward the IDL type t where JSON cannot say it: ints
 * for floats, floats for ints, unsigned, bytes from a string; walks lists,
 * maps and optionals. Anything else is left as it is (the server checks). */
void jsonargs_convert(roc_arena *a, roc_value *v, const char *t)
{
    char *in;
    if (!v || !t)
        return;
    if ((in = inner(a, t, "optional"))) {
        if (v->type != ROC_NIL)
            jsonargs_convert(a, v, in);
    } else if ((in = inner(a, t, "list"))) {
        if (v->type == ROC_ARRAY)
            for (size_t i = 0; i < v->u.array.len; i++)
                jsonargs_convert(a, &v->u.array.items[i], in);
    } else if ((in = inner(a, t, "map"))) {
        char *kv[2];
        if (split_top(in, kv, 2) == 2 && v->type == ROC_MAP)
            for (size_t i = 0; i < v->u.map.len; i++) {
                roc_value *key = &v->u.map.entries[i].key;
                if ((is_int_type(kv[0]) || is_uint_type(kv[0])) &&
                    key->type == ROC_STR) {
                    roc_value *k = NULL;
                    char *txt =
                        roc_arena_strndup(a, key->u.str.ptr, key->u.str.len);
                    if (txt && roc_value_from_json(a, txt, &k, NULL) == 0)
                        *key = *k;
                }
                jsonargs_convert(a, key, kv[0]);
                jsonargs_convert(a, &v->u.map.entries[i].val, kv[1]);
            }
    } else if (strcmp(t, "f64") == 0 || strcmp(t, "f32") == 0) {
        if (v->type == ROC_INT)
            *v = (roc_value){.type = ROC_FLOAT, .u.f = (double)v->u.i};
        else if (v->type == ROC_UINT)
            *v = (roc_value){.type = ROC_FLOAT, .u.f = (double)v->u.u};
    } else if (is_int_type(t)) {
        if (v->type == ROC_FLOAT && v->u.f == (double)(int64_t)v->u.f)
            *v = (roc_value){.type = ROC_INT, .u.i = (int64_t)v->u.f};
        else if (v->type == ROC_UINT && v->u.u <= INT64_MAX)
            *v = (roc_value){.type = ROC_INT, .u.i = (int64_t)v->u.u};
    } else if (is_uint_type(t)) {
        if (v->type == ROC_INT && v->u.i >= 0)
            *v = (roc_value){.type = ROC_UINT, .u.u = (uint64_t)v->u.i};
        else if (v->type == ROC_FLOAT && v->u.f >= 0 &&
                 v->u.f < 18446744073709551616.0 &&
                 v->u.f == (double)(uint64_t)v->u.f)
            *v = (roc_value){.type = ROC_UINT, .u.u = (uint64_t)v->u.f};
    } else if (strcmp(t, "bytes") == 0) {
        if (v->type == ROC_STR) {
            roc_value *b = roc_value_bin(a, v->u.str.ptr, v->u.str.len);
            if (b)
                *v = *b;
        }
    }
}

/* The declared parameter types of method in a describe() result: *types
 * (in a) gets one type string per parameter. false when not described. */
bool jsonargs_param_types(roc_arena *a, const roc_value *desc,
                          const char *method, char ***types, size_t *n)
{
    const roc_value *ms = roc_value_map_get(desc, "methods");
    for (size_t i = 0; i < roc_value_len(ms); i++) {
        const roc_value *m = roc_value_at(ms, i);
        const char *name, *params;
        size_t len, plen;
        if (roc_value_get_str(roc_value_map_get(m, "name"), &name, &len) ||
            strlen(method) != len || memcmp(name, method, len) != 0)
            continue;
        if (roc_value_get_str(roc_value_map_get(m, "params"), &params, &plen))
            return false;
        char *s = roc_arena_strndup(a, params, plen);
        char **parts = roc_arena_calloc(a, plen / 2 + 2, sizeof *parts);
        if (!s || !parts)
            return false;
        size_t k = *trim(s) ? split_top(s, parts, plen / 2 + 2) : 0;
        for (size_t j = 0; j < k; j++) {
            /* "TYPE NAME": the type is all before the last word */
            char *sp = strrchr(parts[j], ' ');
            if (sp) {
                *sp = 0;
                parts[j] = trim(parts[j]);
            }
        }
        *types = parts;
        *n = k;
        return true;
    }
    return false;
}
