/* ROC URIs (DESIGN.md "URIs"):
 *
 *   ROC:<objectid>@<nng-url>        ROC:calc@tcp://10.0.0.5:9100
 *   ROCNAME:<name>[@<ns-url>]       ROCNAME:demo.calc
 *   ROCMETA:<tag>[,<tag>...][@<ns-url>]
 *
 * <ns-url> may be a comma-separated list of name server URLs
 * (ROCNAME:demo.calc@tcp://ns1:9090,tcp://ns2:9090): the client fails over
 * along it (roc/naming.h); each is checked. Schemes are case-insensitive. An object id (and a name, and a tag) is
 * [A-Za-z0-9_.:-]+. The nng URL must use a transport ROC speaks: tcp, tcp4,
 * tcp6, ipc, abstract, inproc, ws, wss, tls+tcp (tls+tcp4/6).
 */
#ifndef ROC_URI_H
#define ROC_URI_H

#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum roc_uri_kind {
    ROC_URI_OBJECT = 1, /* ROC: */
    ROC_URI_NAME,       /* ROCNAME: */
    ROC_URI_META        /* ROCMETA: */
} roc_uri_kind;

#define ROC_URI_MAX_TAGS 32

typedef struct roc_uri {
    roc_uri_kind kind;
    const char *id;   /* object id (ROC:) or name (ROCNAME:), NULL for META */
    const char *tags[ROC_URI_MAX_TAGS]; /* ROCMETA: tags */
    size_t n_tags;
    const char *url;  /* nng URL after '@' (ROCNAME:/ROCMETA: may give a
                         comma-separated list), or NULL when absent */
    const char *transport; /* "tcp", "ipc", ... (scheme of url, of its first
                              for a list) or NULL */
} roc_uri;

/* Parses text into *out; all strings are copied into arena a. Returns
 * ROC_EPARSE with a message naming the problem and its position. */
ROC_API int roc_uri_parse(roc_arena *a, const char *text, roc_uri *out,
                          roc_error *err);
/* Formats a URI into a malloc'd string (caller frees with free()). */
ROC_API int roc_uri_format(const roc_uri *uri, char **out);
/* Checks an nng URL: known transport, non-empty address. 0 or ROC_EPARSE. */
ROC_API int roc_url_check(const char *url, roc_error *err);
/* True when s is a valid object id / name / tag. */
ROC_API bool roc_id_valid(const char *s);

#ifdef __cplusplus
}
#endif
#endif
