/* Security settings: TLS, the pre-shared-key handshake and authorization
 * (docs/security.md).
 *
 * A daemon takes them in roc_daemon_opts; clients (proxies and
 * roc_connect) take process-wide settings from roc_client_set_tls /
 * roc_client_set_key_file, or else from the environment: ROC_TLS_CA,
 * ROC_TLS_CERT, ROC_TLS_SERVER_NAME and ROC_KEY_FILE.
 */
#ifndef ROC_SECURITY_H
#define ROC_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TLS for tls+tcp:// and wss:// URLs. */
typedef struct roc_tls_opts {
    const char *ca_file;       /* PEM file of trusted CA(s). A client
                                  needs one; a server needs one to check
                                  client certificates. */
    const char *cert_key_file; /* own certificate and private key in one
                                  PEM file (a server needs one) */
    const char *server_name;   /* client: the name the server's certificate
                                  must carry; default: the URL's host when it
                                  is a DNS name. Dialing a bare IP address
                                  without it is refused (mbed TLS cannot
                                  check IP addresses). */
    bool require_client_cert;  /* server: mutual TLS */
} roc_tls_opts;

/* What an authorization hook knows of the caller. */
typedef struct roc_peer_info {
    const char *address;   /* "tcp://127.0.0.1:40522" */
    bool tls;              /* the connection is TLS */
    bool tls_verified;     /* the peer presented a certificate that the
                              daemon's CA verified */
    bool authenticated;    /* the peer proved the daemon's key */
} roc_peer_info;

/* Returns 0 to allow the call, non-zero to refuse it with
 * roc.Unauthorized. Runs on the I/O thread: must not block. */
typedef int (*roc_authorize_fn)(const roc_peer_info *peer, const char *object,
                                const char *method, void *arg);

/* Process-wide TLS settings for outgoing connections (copied). NULL
 * restores the environment defaults. Connections already open keep theirs. */
ROC_API int roc_client_set_tls(const roc_tls_opts *opts, roc_error *err);
/* Process-wide key for the pre-shared-key handshake, from a file (its
 * bytes, trailing newline removed; empty is an error) or from memory. NULL
 * clears it. */
ROC_API int roc_client_set_key_file(const char *path, roc_error *err);
ROC_API int roc_client_set_key(const void *key, size_t len, roc_error *err);

#ifdef __cplusplus
}
#endif
#endif
