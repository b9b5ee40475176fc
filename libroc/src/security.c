/* Keys, HMAC proofs, nonces and TLS configurations (docs/security.md).
 * mbed TLS (already linked through nng) provides HMAC-SHA256. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <mbedtls/md.h>

#include "roci.h"

#include <nng/supplemental/tls/tls.h>

/* ------------------------------------------------------------ keys */

int roci_key_load(const char *path, roci_key *k, roc_error *err)
{
    memset(k, 0, sizeof *k);
    FILE *f = fopen(path, "rb");
    if (!f)
        return roc_error_set(err, ROC_EINVAL, "cannot read key file %s: %s",
                             path, strerror(errno));
    size_t n = fread(k->bytes, 1, sizeof k->bytes, f);
    int more = fgetc(f);
    fclose(f);
    if (more != EOF)
        return roc_error_set(err, ROC_EINVAL,
                             "key file %s is longer than %zu bytes", path,
                             sizeof k->bytes);
    while (n && (k->bytes[n - 1] == '\n' || k->bytes[n - 1] == '\r'))
        n--;
    if (n == 0)
        return roc_error_set(err, ROC_EINVAL, "key file %s is empty", path);
    k->len = n;
    return 0;
}

int roci_key_set(roci_key *k, const void *key, size_t len, roc_error *err)
{
    memset(k, 0, sizeof *k);
    if (!key || len == 0)
        return roc_error_set(err, ROC_EINVAL, "empty key");
    if (len > sizeof k->bytes)
        return roc_error_set(err, ROC_EINVAL, "key longer than %zu bytes",
                             sizeof k->bytes);
    memcpy(k->bytes, key, len);
    k->len = len;
    return 0;
}

int roci_random(uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ROC_EINTERNAL;
        }
        got += (size_t)r;
    }
    return 0;
}

/* HMAC-SHA256(key, label | cnonce | snonce). */
int roci_proof(const roci_key *k, const char *label, const uint8_t *cn,
               const uint8_t *sn, uint8_t out[ROCI_PROOF_LEN])
{
    uint8_t msg[32 + 2 * ROCI_NONCE_LEN];
    size_t ll = strlen(label);
    memcpy(msg, label, ll);
    memcpy(msg + ll, cn, ROCI_NONCE_LEN);
    memcpy(msg + ll + ROCI_NONCE_LEN, sn, ROCI_NONCE_LEN);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md || mbedtls_md_hmac(md, k->bytes, k->len, msg,
                               ll + 2 * ROCI_NONCE_LEN, out) != 0)
        return ROC_EINTERNAL;
    return 0;
}

bool roci_proof_equal(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (size_t i = 0; i < ROCI_PROOF_LEN; i++)
        d |= a[i] ^ b[i]; /* constant time */
    return d == 0;
}

/* ------------------------------------------------------------ client */

static pthread_mutex_t cl_mtx = PTHREAD_MUTEX_INITIALIZER;
static bool cl_tls_set;
static char *cl_ca, *cl_cert, *cl_name;
static roci_key cl_key;
static bool cl_key_set;

int roc_client_set_tls(const roc_tls_opts *o, roc_error *err)
{
    pthread_mutex_lock(&cl_mtx);
    free(cl_ca);
    free(cl_cert);
    free(cl_name);
    cl_ca = cl_cert = cl_name = NULL;
    cl_tls_set = o != NULL;
    if (o) {
        cl_ca = o->ca_file ? strdup(o->ca_file) : NULL;
        cl_cert = o->cert_key_file ? strdup(o->cert_key_file) : NULL;
        cl_name = o->server_name ? strdup(o->server_name) : NULL;
    }
    pthread_mutex_unlock(&cl_mtx);
    (void)err;
    return 0;
}

int roc_client_set_key_file(const char *path, roc_error *err)
{
    roci_key k;
    int rc = path ? roci_key_load(path, &k, err) : 0;
    if (rc)
        return rc;
    pthread_mutex_lock(&cl_mtx);
    cl_key = k;
    cl_key_set = path != NULL;
    pthread_mutex_unlock(&cl_mtx);
    return 0;
}

int roc_client_set_key(const void *key, size_t len, roc_error *err)
{
    roci_key k;
    int rc = key ? roci_key_set(&k, key, len, err) : 0;
    if (rc)
        return rc;
    pthread_mutex_lock(&cl_mtx);
    cl_key = k;
    cl_key_set = key != NULL;
    pthread_mutex_unlock(&cl_mtx);
    return 0;
}

int roci_client_key(roci_key *k, roc_error *err)
{
    pthread_mutex_lock(&cl_mtx);
    bool set = cl_key_set;
    if (set)
        *k = cl_key;
    pthread_mutex_unlock(&cl_mtx);
    if (set)
        return 0;
    const char *env = getenv("ROC_KEY_FILE");
    if (env && *env)
        return roci_key_load(env, k, err);
    memset(k, 0, sizeof *k);
    return 0;
}

bool roci_url_is_tls(const char *url)
{
    return strncasecmp(url, "tls+tcp", 7) == 0 ||
           strncasecmp(url, "wss://", 6) == 0;
}

/* The host of a URL ("tls+tcp://host:port/..."), in buf. */
static void url_host(const char *url, char *buf, size_t len)
{
    buf[0] = 0;
    const char *h = strstr(url, "://");
    if (!h)
        return;
    h += 3;
    const char *end;
    if (*h == '[') {
        h++;
        end = strchr(h, ']');
    } else {
        end = h + strcspn(h, ":/");
    }
    if (!end)
        return;
    size_t n = (size_t)(end - h);
    if (n >= len)
        n = len - 1;
    memcpy(buf, h, n);
    buf[n] = 0;
}

static bool is_ip(const char *host)
{
    if (strchr(host, ':'))
        return true; /* IPv6 */
    if (!*host)
        return false;
    for (const char *p = host; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
    return true;
}

static int tls_err(roc_error *err, int rv, const char *what, const char *file)
{
    return roc_error_set(err, rv == NNG_ENOMEM ? ROC_ENOMEM : ROC_EINVAL,
                         "TLS: %s %s: %s", what, file ? file : "",
                         nng_strerror(rv));
}

int roci_tls_client_config(const char *url, nng_tls_config **out,
                           roc_error *err)
{
    pthread_mutex_lock(&cl_mtx);
    char *ca = cl_tls_set ? (cl_ca ? strdup(cl_ca) : NULL)
                          : (getenv("ROC_TLS_CA") ? strdup(getenv("ROC_TLS_CA"))
                                                  : NULL);
    char *cert = cl_tls_set
                     ? (cl_cert ? strdup(cl_cert) : NULL)
                     : (getenv("ROC_TLS_CERT") ? strdup(getenv("ROC_TLS_CERT"))
                                               : NULL);
    char *name = cl_tls_set ? (cl_name ? strdup(cl_name) : NULL)
                            : (getenv("ROC_TLS_SERVER_NAME")
                                   ? strdup(getenv("ROC_TLS_SERVER_NAME"))
                                   : NULL);
    pthread_mutex_unlock(&cl_mtx);
    char host[256];
    url_host(url, host, sizeof host);
    int rc = 0, rv;
    nng_tls_config *cfg = NULL;
    if (!name && is_ip(host)) {
        rc = roc_error_set(err, ROC_EINVAL,
                           "TLS to the bare IP address %s would not check "
                           "the server's name: give a server name "
                           "(roc_tls_opts.server_name, ROC_TLS_SERVER_NAME) "
                           "or dial a DNS name",
                           host);
    } else if (!ca) {
        rc = roc_error_set(err, ROC_EINVAL,
                           "TLS needs a CA file to check the server "
                           "(roc_tls_opts.ca_file, ROC_TLS_CA)");
    } else if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
        rc = tls_err(err, rv, "cannot make a configuration", NULL);
    } else if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) ||
               (rv = nng_tls_config_ca_file(cfg, ca)) != 0) {
        rc = tls_err(err, rv, "cannot load the CA file", ca);
    } else if (cert && (rv = nng_tls_config_cert_key_file(cfg, cert, NULL))) {
        rc = tls_err(err, rv, "cannot load the certificate+key file", cert);
    } else if ((rv = nng_tls_config_server_name(cfg, name ? name : host))) {
        rc = tls_err(err, rv, "cannot set the server name", name ? name : host);
    }
    free(ca);
    free(cert);
    free(name);
    if (rc) {
        if (cfg)
            nng_tls_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int roci_tls_server_config(const roc_tls_opts *o, nng_tls_config **out,
                           roc_error *err)
{
    if (!o->cert_key_file)
        return roc_error_set(err, ROC_EINVAL,
                             "a TLS daemon needs a certificate+key file "
                             "(roc_daemon_opts.tls.cert_key_file)");
    if (o->require_client_cert && !o->ca_file)
        return roc_error_set(err, ROC_EINVAL,
                             "requiring client certificates needs a CA file "
                             "(roc_daemon_opts.tls.ca_file)");
    nng_tls_config *cfg = NULL;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
    if (rv)
        return tls_err(err, rv, "cannot make a configuration", NULL);
    if ((rv = nng_tls_config_cert_key_file(cfg, o->cert_key_file, NULL))) {
        nng_tls_config_free(cfg);
        return tls_err(err, rv, "cannot load the certificate+key file",
                       o->cert_key_file);
    }
    if (o->ca_file && (rv = nng_tls_config_ca_file(cfg, o->ca_file))) {
        nng_tls_config_free(cfg);
        return tls_err(err, rv, "cannot load the CA file", o->ca_file);
    }
    rv = nng_tls_config_auth_mode(cfg, o->require_client_cert
                                           ? NNG_TLS_AUTH_MODE_REQUIRED
                                       : o->ca_file ? NNG_TLS_AUTH_MODE_OPTIONAL
                                                    : NNG_TLS_AUTH_MODE_NONE);
    if (rv) {
        nng_tls_config_free(cfg);
        return tls_err(err, rv, "cannot set the authentication mode", NULL);
    }
    *out = cfg;
    return 0;
}
