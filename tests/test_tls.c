/* TLS: calls over tls+tcp:// and wss://, a certificate from an unrelated CA
 * refused, a certificate for another host name refused, mutual TLS with and
 * without a client certificate, a bare IP address without a server name
 * refused. Certificates are made by openssl in a temporary directory for
 * each run (no committed keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roc/roc.h>

#include "testutil.h"

static char *dir;

static int setup_all(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    if (!dir || tu_make_ca(dir, "ca") || tu_make_ca(dir, "evilca") ||
        tu_make_cert(dir, "server", "localhost", "ca") ||
        tu_make_cert(dir, "other", "otherhost", "ca") ||
        tu_make_cert(dir, "evil", "localhost", "evilca") ||
        tu_make_cert(dir, "client", "client1", "ca")) {
        fprintf(stderr, "cannot make test certificates with openssl\n");
        return -1;
    }
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    roc_client_set_tls(NULL, NULL);
    return 0;
}

static char path_buf[8][600];
static const char *P(int slot, const char *file)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, file);
    return path_buf[slot];
}

static int h_echo(roc_call *c, const roc_value *args, roc_value **res)
{
    *res = roc_value_copy(roc_call_arena(c), roc_value_at(args, 0));
    return 0;
}

static const roc_method methods[] = {{"echo", h_echo, 1, 0, "any x", "any"}};
static const roc_servant servant = {.methods = methods, .n_methods = 1};

static bool seen_verified;
static int authz(const roc_peer_info *p, const char *o, const char *m, void *a)
{
    (void)o;
    (void)m;
    (void)a;
    seen_verified = p->tls && p->tls_verified;
    return 0;
}

/* A TLS daemon serving "echo" with the given certificate. */
static roc_daemon *tls_daemon(const char *scheme, const char *cert,
                              bool mutual)
{
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.tls.cert_key_file = cert;
    o.tls.ca_file = mutual ? P(7, "ca.pem") : NULL;
    o.tls.require_client_cert = mutual;
    o.authorize = authz;
    char url[128];
    snprintf(url, sizeof url, "%s://localhost:0%s", scheme,
             strcmp(scheme, "wss") == 0 ? "/roc" : "");
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    if (roc_daemon_open(&d, url, &o, &err) != 0) {
        fprintf(stderr, "daemon: %s\n", err.message);
        roc_error_clear(&err);
        return NULL;
    }
    roc_daemon_register(d, "echo", &servant, NULL);
    roc_daemon_start(d);
    return d;
}

/* Calls echo("hi") on d with the current client settings. */
static int call_echo(roc_daemon *d, roc_error *err)
{
    char uri[256];
    snprintf(uri, sizeof uri, "ROC:echo@%s", roc_daemon_url(d));
    roc_proxy *p = NULL;
    int rc = roc_proxy_open(&p, uri, err);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *r = NULL;
    if (rc == 0) {
        roc_proxy_set_timeout(p, 5000);
        rc = roc_proxy_call(p, "echo", roc_value_arrayv(a, 1, roc_value_str(a, "hi")),
                            &r, a, err);
    }
    if (rc == 0 && (r->type != ROC_STR || strcmp(r->u.str.ptr, "hi") != 0))
        rc = -1;
    roc_arena_free(a);
    roc_proxy_close(p);
    return rc;
}

static void test_tls_call_tcp_and_wss(void **state)
{
    (void)state;
    roc_tls_opts t = {.ca_file = P(0, "ca.pem")};
    roc_client_set_tls(&t, NULL);
    const char *schemes[] = {"tls+tcp", "wss"};
    for (int i = 0; i < 2; i++) {
        roc_daemon *d = tls_daemon(schemes[i], P(1, "server.pem"), false);
        assert_non_null(d);
        roc_error err = ROC_ERROR_INIT;
        int rc = call_echo(d, &err);
        if (rc)
            fail_msg("%s: %s", schemes[i], err.message);
        assert_false(seen_verified); /* no client certificate */
        roc_error_clear(&err);
        roc_daemon_close(d);
    }
}

static void test_tls_unrelated_ca_refused(void **state)
{
    (void)state;
    roc_tls_opts t = {.ca_file = P(0, "ca.pem")};
    roc_client_set_tls(&t, NULL);
    roc_daemon *d = tls_daemon("tls+tcp", P(1, "evil.pem"), false);
    assert_non_null(d);
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(call_echo(d, &err), ROC_EUNAUTH);
    assert_non_null(strstr(err.message, "not trusted"));
    roc_error_clear(&err);
    roc_daemon_close(d);
}

static void test_tls_wrong_host_name_refused(void **state)
{
    (void)state;
    roc_tls_opts t = {.ca_file = P(0, "ca.pem")};
    roc_client_set_tls(&t, NULL);
    /* signed by the trusted CA, but for "otherhost": dialing localhost
     * must fail (nng alone would accept it) */
    roc_daemon *d = tls_daemon("tls+tcp", P(1, "other.pem"), false);
    assert_non_null(d);
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(call_echo(d, &err), ROC_EUNAUTH);
    roc_error_clear(&err);
    roc_daemon_close(d);
}

static void test_tls_mutual(void **state)
{
    (void)state;
    roc_daemon *d = tls_daemon("tls+tcp", P(1, "server.pem"), true);
    assert_non_null(d);
    roc_error err = ROC_ERROR_INIT;
    /* without a client certificate: refused */
    roc_tls_opts t = {.ca_file = P(0, "ca.pem")};
    roc_client_set_tls(&t, NULL);
    assert_int_not_equal(call_echo(d, &err), 0);
    roc_error_clear(&err);
    /* with one: served, and the daemon sees it verified */
    t.cert_key_file = P(2, "client.pem");
    roc_client_set_tls(&t, NULL);
    seen_verified = false;
    int rc = call_echo(d, &err);
    if (rc)
        fail_msg("mutual TLS: %s", err.message);
    assert_true(seen_verified);
    roc_error_clear(&err);
    roc_daemon_close(d);
}

static void test_tls_bare_ip_needs_server_name(void **state)
{
    (void)state;
    roc_tls_opts t = {.ca_file = P(0, "ca.pem")};
    roc_client_set_tls(&t, NULL);
    roc_proxy *p = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_proxy_open(&p, "ROC:echo@tls+tcp://127.0.0.1:1", &err),
                     0);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *r;
    assert_int_equal(roc_proxy_call(p, "echo", NULL, &r, a, &err), ROC_EINVAL);
    assert_non_null(strstr(err.message, "bare IP address"));
    roc_error_clear(&err);
    roc_arena_free(a);
    roc_proxy_close(p);
    /* with an explicit name it goes on to connect (and is refused: no
     * server there) */
    t.server_name = "localhost";
    roc_client_set_tls(&t, NULL);
    assert_int_equal(roc_proxy_open(&p, "ROC:echo@tls+tcp://127.0.0.1:1", &err),
                     0);
    roc_arena_new(&a);
    assert_int_equal(roc_proxy_call(p, "echo", NULL, &r, a, &err),
                     ROC_ECONNREFUSED);
    roc_error_clear(&err);
    roc_arena_free(a);
    roc_proxy_close(p);
}

static void test_tls_daemon_without_certificate_refused(void **state)
{
    (void)state;
    roc_daemon *d = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_daemon_open(&d, "tls+tcp://localhost:0", NULL, &err),
                     ROC_EINVAL);
    assert_non_null(strstr(err.message, "certificate"));
    roc_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_call_tcp_and_wss),
        cmocka_unit_test(test_tls_unrelated_ca_refused),
        cmocka_unit_test(test_tls_wrong_host_name_refused),
        cmocka_unit_test(test_tls_mutual),
        cmocka_unit_test(test_tls_bare_ip_needs_server_name),
        cmocka_unit_test(test_tls_daemon_without_certificate_refused),
    };
    return cmocka_run_group_tests_name("tls", tests, setup_all, teardown_all);
}
