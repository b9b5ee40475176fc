/* ROC URIs: ROC:<id>@<url>, ROCNAME:<name>[@<url>],
 * ROCMETA:<tag>[,<tag>...][@<url>], and the nng URLs inside them.
 *
 * Error messages name the problem and its column (1-based, counted in bytes
 * from the start of the text the caller gave), so that a CLI can point at
 * it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "roc/uri.h"

/* Ids are ASCII only: no isalnum(), which depends on the locale. */
static bool ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool id_char_ascii(unsigned char c)
{
    return ascii_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
}

static bool hex_digit(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

bool roc_id_valid(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!id_char_ascii((unsigned char)*s))
            return false;
    return true;
}

/* ---- URLs ---- */

typedef enum addr_form {
    ADDR_HOSTPORT,      /* tcp, tls+tcp: host:port, nothing after */
    ADDR_HOSTPORT_PATH, /* ws, wss: host:port[/path] */
    ADDR_PATH,          /* ipc: a file system path */
    ADDR_NAME           /* abstract, inproc: any non-empty name */
} addr_form;

static const struct {
    const char *name;
    addr_form form;
} transports[] = {
    {"tcp", ADDR_HOSTPORT},      {"tcp4", ADDR_HOSTPORT},
    {"tcp6", ADDR_HOSTPORT},     {"tls+tcp", ADDR_HOSTPORT},
    {"tls+tcp4", ADDR_HOSTPORT}, {"tls+tcp6", ADDR_HOSTPORT},
    {"ws", ADDR_HOSTPORT_PATH},  {"wss", ADDR_HOSTPORT_PATH},
    {"ipc", ADDR_PATH},          {"abstract", ADDR_NAME},
    {"inproc", ADDR_NAME},
};

static int find_transport(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
        if (strlen(transports[i].name) == n &&
            strncasecmp(transports[i].name, s, n) == 0)
            return (int)i;
    return -1;
}

/* Checks host:port at s (which ends at the first of '/', end of string).
 * base is the column offset of s within the caller's text. */
static int check_hostport(const char *s, size_t len, size_t col, roc_error *err)
{
    size_t i = 0;
    if (len == 0)
        return roc_error_set(err, ROC_EPARSE, "missing host:port at column %zu",
                             col + 1);
    if (s[0] == '[') {
        /* IPv6 literal: hex digits, ':' and '.' (embedded IPv4), then ']'. */
        i = 1;
        bool colon = false;
        while (i < len && s[i] != ']') {
            unsigned char c = (unsigned char)s[i];
            if (!(hex_digit(c) || c == ':' || c == '.'))
                return roc_error_set(err, ROC_EPARSE,
                                     "invalid character '%c' in IPv6 address "
                                     "at column %zu",
                                     c, col + i + 1);
            colon |= c == ':';
            i++;
        }
        if (i == len)
            return roc_error_set(err, ROC_EPARSE,
                                 "unterminated IPv6 address: missing ']' "
                                 "(opened at column %zu)",
                                 col + 1);
        if (i == 1 || !colon)
            return roc_error_set(err, ROC_EPARSE,
                                 "invalid IPv6 address at column %zu", col + 2);
        i++; /* past ']' */
    } else {
        while (i < len && s[i] != ':') {
            unsigned char c = (unsigned char)s[i];
            if (!(ascii_alnum(c) || c == '.' || c == '-' || c == '_'))
                return roc_error_set(err, ROC_EPARSE,
                                     "invalid character '%c' in host at "
                                     "column %zu",
                                     c, col + i + 1);
            i++;
        }
        if (i == 0)
            return roc_error_set(err, ROC_EPARSE, "missing host at column %zu",
                                 col + 1);
    }
    if (i == len || s[i] != ':')
        return roc_error_set(err, ROC_EPARSE,
                             "missing ':port' after the host at column %zu",
                             col + i + 1);
    i++;
    size_t p0 = i;
    unsigned long port = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        port = port * 10 + (unsigned long)(s[i] - '0');
        if (port > 65535)
            return roc_error_set(err, ROC_EPARSE,
                                 "port out of range (0-65535) at column %zu",
                                 col + p0 + 1);
        i++;
    }
    if (i == p0)
        return roc_error_set(err, ROC_EPARSE,
                             "missing port number at column %zu", col + p0 + 1);
    if (i != len)
        return roc_error_set(err, ROC_EPARSE,
                             "invalid character '%c' in port at column %zu",
                             s[i], col + i + 1);
    return 0;
}

/* url starts at column col of the caller's text. */
static int check_url(const char *url, size_t col, roc_error *err)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return roc_error_set(err, ROC_EPARSE,
                             "missing '://' in URL '%s' at column %zu", url,
                             col + 1);
    size_t slen = (size_t)(sep - url);
    if (slen == 0)
        return roc_error_set(err, ROC_EPARSE,
                             "missing transport before '://' at column %zu",
                             col + 1);
    int t = find_transport(url, slen);
    if (t < 0)
        return roc_error_set(err, ROC_EPARSE,
                             "unknown transport '%.*s' at column %zu (expected "
                             "tcp, tcp4, tcp6, ipc, abstract, inproc, ws, wss, "
                             "tls+tcp, tls+tcp4 or tls+tcp6)",
                             (int)slen, url, col + 1);
    const char *addr = sep + 3;
    size_t acol = col + slen + 3;
    for (size_t i = 0; addr[i]; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (c <= 0x20 || c == 0x7f)
            return roc_error_set(
                err, ROC_EPARSE, "%s character (0x%02x) in URL at column %zu",
                c == ' ' ? "space" : "control", c, acol + i + 1);
    }
    if (!*addr)
        return roc_error_set(err, ROC_EPARSE,
                             "empty address after '%.*s://' at column %zu",
                             (int)slen, url, acol + 1);
    switch (transports[t].form) {
    case ADDR_HOSTPORT:
        return check_hostport(addr, strlen(addr), acol, err);
    case ADDR_HOSTPORT_PATH: {
        const char *slash = strchr(addr, '/');
        size_t hl = slash ? (size_t)(slash - addr) : strlen(addr);
        return check_hostport(addr, hl, acol, err);
    }
    case ADDR_PATH:
    case ADDR_NAME:
        return 0;
    }
    return 0;
}

int roc_url_check(const char *url, roc_error *err)
{
    if (!url)
        return roc_error_set(err, ROC_EPARSE, "no URL given");
    return check_url(url, 0, err);
}

/* ---- URIs ---- */

static const struct {
    const char *scheme;
    roc_uri_kind kind;
} schemes[] = {
    {"ROC", ROC_URI_OBJECT},
    {"ROCNAME", ROC_URI_NAME},
    {"ROCMETA", ROC_URI_META},
};

/* Checks the id-like token text[b..e) and reports the first bad byte. */
static int check_token(const char *text, size_t b, size_t e, const char *what,
                       roc_error *err)
{
    if (b == e)
        return roc_error_set(err, ROC_EPARSE, "empty %s at column %zu", what,
                             b + 1);
    for (size_t i = b; i < e; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!id_char_ascii(c)) {
            if (c >= 0x20 && c < 0x7f)
                return roc_error_set(err, ROC_EPARSE,
                                     "invalid character '%c' in %s at column "
                                     "%zu (allowed: A-Z a-z 0-9 _ . : -)",
                                     c, what, i + 1);
            return roc_error_set(err, ROC_EPARSE,
                                 "invalid byte 0x%02x in %s at column %zu "
                                 "(allowed: A-Z a-z 0-9 _ . : -)",
                                 c, what, i + 1);
        }
    }
    return 0;
}

/* Copies the URL with its transport lowercased (nng wants "tcp://"). */
static char *dup_url(roc_arena *a, const char *url, const char **transport)
{
    char *u = roc_arena_strdup(a, url);
    if (!u)
        return NULL;
    char *sep = strstr(u, "://");
    /* every scheme of a list (url1,url2) in lower case */
    for (char *q = u; q; q = strchr(q, ',') ? strchr(q, ',') + 1 : NULL) {
        char *qs = strstr(q, "://");
        for (char *p = q; qs && p < qs && *p != ','; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    for (char *p = u; p < sep; p++)
        *p = (char)tolower((unsigned char)*p);
    char *t = roc_arena_strndup(a, u, (size_t)(sep - u));
    if (!t)
        return NULL;
    *transport = t;
    return u;
}

int roc_uri_parse(roc_arena *a, const char *text, roc_uri *out, roc_error *err)
{
    if (!a || !text || !out)
        return roc_error_set(err, ROC_EINVAL, "roc_uri_parse: NULL argument");
    memset(out, 0, sizeof *out);
    /* A scheme is letters followed by ':'. */
    size_t slen = 0;
    while ((text[slen] >= 'a' && text[slen] <= 'z') ||
           (text[slen] >= 'A' && text[slen] <= 'Z'))
        slen++;
    if (slen == 0 || text[slen] != ':')
        return roc_error_set(err, ROC_EPARSE,
                             "missing scheme in '%s' at column 1: expected "
                             "ROC:, ROCNAME: or ROCMETA:",
                             text);
    int k = -1;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strlen(schemes[i].scheme) == slen &&
            strncasecmp(schemes[i].scheme, text, slen) == 0)
            k = (int)i;
    if (k < 0)
        return roc_error_set(
            err, ROC_EPARSE,
            "unknown scheme '%.*s' at column 1: expected ROC:, "
            "ROCNAME: or ROCMETA:",
            (int)slen, text);
    roc_uri_kind kind = schemes[k].kind;
    size_t b = slen + 1; /* first byte after ':' */
    /* Ids never contain '@': the first one after the scheme ends the id. */
    const char *at = strchr(text + b, '@');
    size_t e = at ? (size_t)(at - text) : strlen(text);

    const char *what = kind == ROC_URI_OBJECT ? "object id"
                       : kind == ROC_URI_NAME ? "name"
                                              : "tag";
    if (kind == ROC_URI_META) {
        size_t tb = b;
        for (;;) {
            size_t te = tb;
            while (te < e && text[te] != ',')
                te++;
            int rc = check_token(text, tb, te, what, err);
            if (rc)
                return rc;
            if (out->n_tags == ROC_URI_MAX_TAGS)
                return roc_error_set(err, ROC_EPARSE,
                                     "too many tags (more than %d) at column "
                                     "%zu",
                                     ROC_URI_MAX_TAGS, tb + 1);
            char *tag = roc_arena_strndup(a, text + tb, te - tb);
            if (!tag)
                return roc_error_set(err, ROC_ENOMEM, "out of memory");
            out->tags[out->n_tags++] = tag;
            if (te == e)
                break;
            tb = te + 1;
        }
    } else {
        int rc = check_token(text, b, e, what, err);
        if (rc)
            return rc;
        char *id = roc_arena_strndup(a, text + b, e - b);
        if (!id)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
        out->id = id;
    }

    if (!at) {
        if (kind == ROC_URI_OBJECT)
            return roc_error_set(err, ROC_EPARSE,
                                 "missing '@<url>' after the object id at "
                                 "column %zu",
                                 e + 1);
    } else {
        const char *url = at + 1;
        if (!*url)
            return roc_error_set(err, ROC_EPARSE,
                                 "empty URL after '@' at column %zu", e + 2);
        /* a name server's place may be a list (ROCNAME:x@url1,url2): each
         * one checked, each scheme in lower case */
        for (const char *p = url;;) {
            const char *c = kind == ROC_URI_OBJECT ? NULL : strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            size_t col = e + 1 + (size_t)(p - url);
            if (n == 0)
                return roc_error_set(err, ROC_EPARSE,
                                     "empty URL in the list at column %zu",
                                     col + 1);
            char *one = roc_arena_strndup(a, p, n);
            if (!one)
                return roc_error_set(err, ROC_ENOMEM, "out of memory");
            int rc = check_url(one, col, err);
            if (rc)
                return rc;
            if (!c)
                break;
            p = c + 1;
        }
        out->url = dup_url(a, url, &out->transport);
        if (!out->url)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    out->kind = kind;
    return 0;
}

int roc_uri_format(const roc_uri *uri, char **out)
{
    if (!uri || !out)
        return ROC_EINVAL;
    *out = NULL;
    const char *scheme;
    size_t n = 0;
    switch (uri->kind) {
    case ROC_URI_OBJECT:
        if (!uri->url)
            return ROC_EINVAL;
        /* fall through */
    case ROC_URI_NAME:
        if (!roc_id_valid(uri->id))
            return ROC_EINVAL;
        scheme = uri->kind == ROC_URI_OBJECT ? "ROC:" : "ROCNAME:";
        n = strlen(uri->id);
        break;
    case ROC_URI_META:
        if (uri->n_tags == 0 || uri->n_tags > ROC_URI_MAX_TAGS)
            return ROC_EINVAL;
        for (size_t i = 0; i < uri->n_tags; i++) {
            if (!roc_id_valid(uri->tags[i]))
                return ROC_EINVAL;
            n += strlen(uri->tags[i]) + 1;
        }
        scheme = "ROCMETA:";
        break;
    default:
        return ROC_EINVAL;
    }
    if (uri->url) {
        /* names and tags may name a list of name servers */
        char *l = strdup(uri->url);
        if (!l)
            return ROC_ENOMEM;
        int bad = 0;
        for (char *p = l, *c; !bad && p; p = c ? c + 1 : NULL) {
            c = uri->kind == ROC_URI_OBJECT ? NULL : strchr(p, ',');
            if (c)
                *c = 0;
            bad = roc_url_check(p, NULL) != 0;
        }
        free(l);
        if (bad)
            return ROC_EINVAL;
    }
    n += strlen(scheme) + (uri->url ? strlen(uri->url) + 1 : 0) + 1;
    char *s = malloc(n);
    if (!s)
        return ROC_ENOMEM;
    size_t len = (size_t)snprintf(s, n, "%s", scheme);
    if (uri->kind == ROC_URI_META) {
        for (size_t i = 0; i < uri->n_tags; i++)
            len += (size_t)snprintf(s + len, n - len, "%s%s", i ? "," : "",
                                    uri->tags[i]);
    } else {
        len += (size_t)snprintf(s + len, n - len, "%s", uri->id);
    }
    if (uri->url)
        snprintf(s + len, n - len, "@%s", uri->url);
    *out = s;
    return 0;
}
