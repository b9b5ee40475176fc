/* ROC URIs and nng URLs: parse, format, check; valid and malformed tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three above, which it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roc/uri.h"

static int setup(void **state)
{
    roc_arena *a = NULL;
    if (roc_arena_new(&a) != 0)
        return -1;
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    roc_arena_free(*state);
    return 0;
}

/* ---- valid URIs ---- */

typedef struct valid_case {
    const char *text;
    roc_uri_kind kind;
    const char *id;        /* NULL for META */
    const char *tags;      /* comma-joined tags for META, else NULL */
    const char *url;       /* expected (transport lowercased) or NULL */
    const char *transport; /* or NULL */
    const char *canonical; /* roc_uri_format's output */
} valid_case;

static const valid_case valid[] = {
    {"ROC:calc@tcp://10.0.0.5:9100", ROC_URI_OBJECT, "calc", NULL,
     "tcp://10.0.0.5:9100", "tcp", "ROC:calc@tcp://10.0.0.5:9100"},
    {"ROC:calc@ipc:///tmp/calc.sock", ROC_URI_OBJECT, "calc", NULL,
     "ipc:///tmp/calc.sock", "ipc", "ROC:calc@ipc:///tmp/calc.sock"},
    {"roc:calc@tcp://h:1", ROC_URI_OBJECT, "calc", NULL, "tcp://h:1", "tcp",
     "ROC:calc@tcp://h:1"},
    {"Roc:calc@TCP://h:1", ROC_URI_OBJECT, "calc", NULL, "tcp://h:1", "tcp",
     "ROC:calc@tcp://h:1"},
    {"ROC:roc.daemon@tcp://localhost:0", ROC_URI_OBJECT, "roc.daemon", NULL,
     "tcp://localhost:0", "tcp", "ROC:roc.daemon@tcp://localhost:0"},
    {"ROC:a:b_c-d.e@tcp4://127.0.0.1:65535", ROC_URI_OBJECT, "a:b_c-d.e", NULL,
     "tcp4://127.0.0.1:65535", "tcp4", "ROC:a:b_c-d.e@tcp4://127.0.0.1:65535"},
    {"ROC:x@tcp6://[::1]:9000", ROC_URI_OBJECT, "x", NULL, "tcp6://[::1]:9000",
     "tcp6", "ROC:x@tcp6://[::1]:9000"},
    {"ROC:x@tcp://[fe80::1:2]:80", ROC_URI_OBJECT, "x", NULL,
     "tcp://[fe80::1:2]:80", "tcp", "ROC:x@tcp://[fe80::1:2]:80"},
    {"ROC:x@tcp://[::ffff:10.0.0.1]:80", ROC_URI_OBJECT, "x", NULL,
     "tcp://[::ffff:10.0.0.1]:80", "tcp", "ROC:x@tcp://[::ffff:10.0.0.1]:80"},
    {"ROC:x@tls+tcp://server.example:443", ROC_URI_OBJECT, "x", NULL,
     "tls+tcp://server.example:443", "tls+tcp",
     "ROC:x@tls+tcp://server.example:443"},
    {"ROC:x@tls+tcp4://a:1", ROC_URI_OBJECT, "x", NULL, "tls+tcp4://a:1",
     "tls+tcp4", "ROC:x@tls+tcp4://a:1"},
    {"ROC:x@tls+tcp6://[::1]:1", ROC_URI_OBJECT, "x", NULL,
     "tls+tcp6://[::1]:1", "tls+tcp6", "ROC:x@tls+tcp6://[::1]:1"},
    {"ROC:x@ws://h:80/roc", ROC_URI_OBJECT, "x", NULL, "ws://h:80/roc", "ws",
     "ROC:x@ws://h:80/roc"},
    {"ROC:x@wss://h:443", ROC_URI_OBJECT, "x", NULL, "wss://h:443", "wss",
     "ROC:x@wss://h:443"},
    {"ROC:x@wss://[::1]:443/a/b", ROC_URI_OBJECT, "x", NULL,
     "wss://[::1]:443/a/b", "wss", "ROC:x@wss://[::1]:443/a/b"},
    {"ROC:x@inproc://collocated", ROC_URI_OBJECT, "x", NULL,
     "inproc://collocated", "inproc", "ROC:x@inproc://collocated"},
    {"ROC:x@abstract://roc-abs", ROC_URI_OBJECT, "x", NULL,
     "abstract://roc-abs", "abstract", "ROC:x@abstract://roc-abs"},
    {"ROC:x@ipc://relative.sock", ROC_URI_OBJECT, "x", NULL,
     "ipc://relative.sock", "ipc", "ROC:x@ipc://relative.sock"},
    {"ROCNAME:demo.calc", ROC_URI_NAME, "demo.calc", NULL, NULL, NULL,
     "ROCNAME:demo.calc"},
    {"rocname:demo.calc@tcp://ns:9090", ROC_URI_NAME, "demo.calc", NULL,
     "tcp://ns:9090", "tcp", "ROCNAME:demo.calc@tcp://ns:9090"},
    {"ROCMETA:fast", ROC_URI_META, NULL, "fast", NULL, NULL, "ROCMETA:fast"},
    {"ROCMETA:fast,eu-west,v2", ROC_URI_META, NULL, "fast,eu-west,v2", NULL,
     NULL, "ROCMETA:fast,eu-west,v2"},
    {"RocMeta:a,b@tcp://ns:1", ROC_URI_META, NULL, "a,b", "tcp://ns:1", "tcp",
     "ROCMETA:a,b@tcp://ns:1"},
    /* a list of name servers (fail-over along it) */
    {"ROCNAME:demo@tcp://a:1,TCP://b:2", ROC_URI_NAME, "demo", NULL,
     "tcp://a:1,tcp://b:2", "tcp", "ROCNAME:demo@tcp://a:1,tcp://b:2"},
    {"ROCMETA:x,y@ipc://ns.sock,tcp://[::1]:9", ROC_URI_META, NULL, "x,y",
     "ipc://ns.sock,tcp://[::1]:9", "ipc",
     "ROCMETA:x,y@ipc://ns.sock,tcp://[::1]:9"},
};

static void join_tags(const roc_uri *u, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < u->n_tags; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "",
                              u->tags[i]);
}

static void test_uri_parse_valid_table(void **state)
{
    for (size_t k = 0; k < sizeof valid / sizeof valid[0]; k++) {
        const valid_case *c = &valid[k];
        roc_uri u;
        roc_error err = ROC_ERROR_INIT;
        int rc = roc_uri_parse(*state, c->text, &u, &err);
        if (rc != 0)
            fail_msg("'%s' refused: %s", c->text, err.message);
        assert_int_equal(u.kind, c->kind);
        if (c->id)
            assert_string_equal(u.id, c->id);
        else
            assert_null(u.id);
        char tags[256];
        join_tags(&u, tags, sizeof tags);
        assert_string_equal(tags, c->tags ? c->tags : "");
        if (c->url) {
            assert_non_null(u.url);
            assert_string_equal(u.url, c->url);
            assert_string_equal(u.transport, c->transport);
        } else {
            assert_null(u.url);
            assert_null(u.transport);
        }
        char *s = NULL;
        assert_int_equal(roc_uri_format(&u, &s), 0);
        assert_string_equal(s, c->canonical);
        /* The canonical form parses back to the same URI. */
        roc_uri v;
        assert_int_equal(roc_uri_parse(*state, s, &v, NULL), 0);
        assert_int_equal(v.kind, u.kind);
        free(s);
        roc_error_clear(&err);
    }
}

static void test_uri_parse_first_at_splits(void **state)
{
    /* ids cannot hold '@': the first '@' ends the id, a later one belongs
     * to the URL (here an ipc path). */
    roc_uri u;
    assert_int_equal(roc_uri_parse(*state, "ROC:calc@ipc:///tmp/a@b", &u, NULL),
                     0);
    assert_string_equal(u.id, "calc");
    assert_string_equal(u.url, "ipc:///tmp/a@b");
}

static void test_uri_parse_strings_in_arena(void **state)
{
    char text[] = "ROC:calc@tcp://h:1";
    roc_uri u;
    assert_int_equal(roc_uri_parse(*state, text, &u, NULL), 0);
    memset(text, 'x', sizeof text - 1);
    assert_string_equal(u.id, "calc");
    assert_string_equal(u.url, "tcp://h:1");
}

static void test_uri_parse_max_tags(void **state)
{
    char text[512] = "ROCMETA:";
    for (int i = 0; i < ROC_URI_MAX_TAGS; i++) {
        char t[8];
        snprintf(t, sizeof t, "%st%d", i ? "," : "", i);
        strcat(text, t);
    }
    roc_uri u;
    assert_int_equal(roc_uri_parse(*state, text, &u, NULL), 0);
    assert_int_equal(u.n_tags, ROC_URI_MAX_TAGS);
    assert_string_equal(u.tags[31], "t31");
    strcat(text, ",one-more");
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_uri_parse(*state, text, &u, &err), ROC_EPARSE);
    assert_non_null(strstr(err.message, "too many tags"));
    roc_error_clear(&err);
}

/* ---- malformed URIs ---- */

typedef struct bad_case {
    const char *text;
    int code;
    const char *needle; /* a part of the message, or NULL */
} bad_case;

static const bad_case malformed[] = {
    {"", ROC_EPARSE, "missing scheme"},
    {"calc@tcp://h:1", ROC_EPARSE, "missing scheme"},
    {"RO:calc@tcp://h:1", ROC_EPARSE, "unknown scheme 'RO'"},
    {"ROCX:calc@tcp://h:1", ROC_EPARSE, "unknown scheme"},
    {"PYRO:calc@tcp://h:1", ROC_EPARSE, "unknown scheme"},
    {":calc@tcp://h:1", ROC_EPARSE, "missing scheme"},
    {"ROC:", ROC_EPARSE, "empty object id at column 5"},
    {"ROC:@tcp://h:1", ROC_EPARSE, "empty object id at column 5"},
    {"ROC:calc", ROC_EPARSE, "missing '@<url>'"},
    {"ROC:calc@", ROC_EPARSE, "empty URL after '@' at column 10"},
    {"ROC:ca lc@tcp://h:1", ROC_EPARSE, "' ' in object id at column 7"},
    {"ROC:ca/lc@tcp://h:1", ROC_EPARSE, "'/' in object id at column 7"},
    {"ROC:cälc@tcp://h:1", ROC_EPARSE,
     "invalid byte 0xc3 in object id at column 6"},
    {"ROC:calc@tcp//h:1", ROC_EPARSE, "missing '://'"},
    {"ROC:calc@://h:1", ROC_EPARSE, "missing transport"},
    {"ROC:calc@http://h:1", ROC_EPARSE,
     "unknown transport 'http' at column 10"},
    {"ROC:calc@udp://h:1", ROC_EPARSE, "unknown transport 'udp'"},
    {"ROC:calc@tls://h:1", ROC_EPARSE, "unknown transport 'tls'"},
    {"ROC:calc@tcp://", ROC_EPARSE, "empty address"},
    {"ROC:calc@tcp://h", ROC_EPARSE, "missing ':port'"},
    {"ROC:calc@tcp://h:", ROC_EPARSE, "missing port number at column 18"},
    {"ROC:calc@tcp://:9000", ROC_EPARSE, "missing host at column 16"},
    {"ROC:calc@tcp://h:65536", ROC_EPARSE, "port out of range"},
    {"ROC:calc@tcp://h:99999999999999999999", ROC_EPARSE, "port out of range"},
    {"ROC:calc@tcp://h:-1", ROC_EPARSE, "missing port number"},
    {"ROC:calc@tcp://h:80x", ROC_EPARSE, "'x' in port at column 20"},
    {"ROC:calc@tcp://h:80/path", ROC_EPARSE, "'/' in port"},
    {"ROC:calc@tcp://h h:80", ROC_EPARSE, "space character"},
    {"ROC:calc@tcp://h:80 ", ROC_EPARSE,
     "space character (0x20) in URL at column 20"},
    {"ROC:calc@tcp://h\t:80", ROC_EPARSE, "control character"},
    {"ROC:calc@tcp://::1:80", ROC_EPARSE, "missing host"},
    {"ROC:calc@tcp://[::1:80", ROC_EPARSE, "unterminated IPv6"},
    {"ROC:calc@tcp://[::1]", ROC_EPARSE, "missing ':port'"},
    {"ROC:calc@tcp://[]:80", ROC_EPARSE, "invalid IPv6 address"},
    {"ROC:calc@tcp://[1234]:80", ROC_EPARSE, "invalid IPv6 address"},
    {"ROC:calc@tcp://[::g]:80", ROC_EPARSE, "'g' in IPv6 address"},
    {"ROC:calc@tcp://h_st!:80", ROC_EPARSE, "'!' in host"},
    {"ROC:calc@ws://h/path", ROC_EPARSE, "missing ':port'"},
    {"ROC:calc@wss://:443/", ROC_EPARSE, "missing host"},
    {"ROC:calc@ipc://", ROC_EPARSE, "empty address"},
    {"ROC:calc@inproc://", ROC_EPARSE, "empty address"},
    {"ROC:calc@abstract://", ROC_EPARSE, "empty address"},
    {"ROC:calc@inproc://a b", ROC_EPARSE, "space character"},
    {"ROCNAME:", ROC_EPARSE, "empty name"},
    {"ROCNAME:demo calc", ROC_EPARSE, "' ' in name at column 13"},
    {"ROCNAME:demo@", ROC_EPARSE, "empty URL"},
    {"ROCNAME:demo@nope", ROC_EPARSE, "missing '://'"},
    {"ROCNAME:demo@tcp://a:1,", ROC_EPARSE, "empty URL in the list at column 24"},
    {"ROCNAME:demo@tcp://a:1,,tcp://b:2", ROC_EPARSE, "empty URL in the list"},
    {"ROCNAME:demo@tcp://a:1,tcp://b", ROC_EPARSE, "missing ':port'"},
    {"ROC:calc@tcp://a:1,tcp://b:2", ROC_EPARSE, "',' in port"},
    {"ROCMETA:", ROC_EPARSE, "empty tag at column 9"},
    {"ROCMETA:a,,b", ROC_EPARSE, "empty tag at column 11"},
    {"ROCMETA:a,", ROC_EPARSE, "empty tag at column 11"},
    {"ROCMETA:,a", ROC_EPARSE, "empty tag at column 9"},
    {"ROCMETA:a;b", ROC_EPARSE, "';' in tag"},
    {"ROCMETA:a@tcp://h", ROC_EPARSE, "missing ':port'"},
    {" ROC:calc@tcp://h:1", ROC_EPARSE, "missing scheme"},
};

static void test_uri_parse_malformed_table(void **state)
{
    size_t n = sizeof malformed / sizeof malformed[0];
    assert_true(n >= 25);
    for (size_t k = 0; k < n; k++) {
        const bad_case *c = &malformed[k];
        roc_uri u;
        roc_error err = ROC_ERROR_INIT;
        int rc = roc_uri_parse(*state, c->text, &u, &err);
        if (rc != c->code)
            fail_msg("'%s': expected code %d, got %d (%s)", c->text, c->code,
                     rc, err.message ? err.message : "no message");
        assert_int_equal(err.code, c->code);
        assert_non_null(err.message);
        if (c->needle && !strstr(err.message, c->needle))
            fail_msg("'%s': message '%s' lacks '%s'", c->text, err.message,
                     c->needle);
        /* The same code without an error object. */
        assert_int_equal(roc_uri_parse(*state, c->text, &u, NULL), c->code);
        roc_error_clear(&err);
    }
}

static void test_uri_parse_null_args(void **state)
{
    roc_uri u;
    roc_error err = ROC_ERROR_INIT;
    assert_int_equal(roc_uri_parse(*state, NULL, &u, &err), ROC_EINVAL);
    assert_int_equal(roc_uri_parse(NULL, "ROC:a@tcp://h:1", &u, NULL),
                     ROC_EINVAL);
    assert_int_equal(roc_uri_parse(*state, "ROC:a@tcp://h:1", NULL, NULL),
                     ROC_EINVAL);
    roc_error_clear(&err);
}

/* ---- roc_url_check ---- */

static void test_url_check_valid(void **state)
{
    (void)state;
    static const char *ok[] = {
        "tcp://127.0.0.1:0", "tcp://localhost:9090", "tcp4://a.b.c:1",
        "tcp6://[::]:1",     "ipc:///tmp/x.sock",    "abstract://name",
        "inproc://name",     "ws://h:80/",           "wss://h:1/p?q=1",
        "tls+tcp://h:443",   "TLS+TCP://h:443",      "tcp://0.0.0.0:65535",
        "tcp://h:00080",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        roc_error err = ROC_ERROR_INIT;
        if (roc_url_check(ok[i], &err) != 0)
            fail_msg("'%s' refused: %s", ok[i], err.message);
        roc_error_clear(&err);
    }
}

static void test_url_check_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *needle;
    } bad[] = {
        {"", "missing '://'"},
        {"tcp:/h:1", "missing '://'"},
        {"sctp://h:1", "unknown transport 'sctp' at column 1"},
        {"tcp://", "empty address after 'tcp://' at column 7"},
        {"tcp://h:1:2", "':' in port at column 10"},
        {"tcp://h:70000", "port out of range (0-65535) at column 9"},
        {"ipc://", "empty address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        roc_error err = ROC_ERROR_INIT;
        assert_int_equal(roc_url_check(bad[i].url, &err), ROC_EPARSE);
        if (!strstr(err.message, bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].url, err.message,
                     bad[i].needle);
        roc_error_clear(&err);
    }
    assert_int_equal(roc_url_check(NULL, NULL), ROC_EPARSE);
}

/* ---- roc_id_valid ---- */

static void test_id_valid(void **state)
{
    (void)state;
    assert_true(roc_id_valid("calc"));
    assert_true(roc_id_valid("roc.daemon"));
    assert_true(roc_id_valid("A-Z_a-z.0-9:x"));
    assert_true(roc_id_valid(":"));
    assert_false(roc_id_valid(NULL));
    assert_false(roc_id_valid(""));
    assert_false(roc_id_valid("a@b"));
    assert_false(roc_id_valid("a b"));
    assert_false(roc_id_valid("a,b"));
    assert_false(roc_id_valid("a/b"));
    assert_false(roc_id_valid("é"));
    assert_false(roc_id_valid("a\n"));
}

/* ---- roc_uri_format ---- */

static void test_uri_format_refuses_invalid(void **state)
{
    (void)state;
    char *s = (char *)"untouched";
    roc_uri u;
    memset(&u, 0, sizeof u);
    assert_int_equal(roc_uri_format(NULL, &s), ROC_EINVAL);
    assert_int_equal(roc_uri_format(&u, NULL), ROC_EINVAL);
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL); /* kind 0 */
    assert_null(s);
    u.kind = ROC_URI_OBJECT;
    u.id = "calc";
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL); /* no url */
    u.url = "bogus://x";
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL);
    u.url = "tcp://h:1";
    u.id = "ca lc";
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL);
    u.id = NULL;
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL);
    u.kind = ROC_URI_META;
    u.n_tags = 0;
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL);
    u.n_tags = 1;
    u.tags[0] = "a,b";
    assert_int_equal(roc_uri_format(&u, &s), ROC_EINVAL);
}

static void test_uri_format_built_by_hand(void **state)
{
    (void)state;
    roc_uri u;
    memset(&u, 0, sizeof u);
    u.kind = ROC_URI_OBJECT;
    u.id = "calc";
    u.url = "tcp://10.0.0.5:9100";
    char *s = NULL;
    assert_int_equal(roc_uri_format(&u, &s), 0);
    assert_string_equal(s, "ROC:calc@tcp://10.0.0.5:9100");
    free(s);
    u.kind = ROC_URI_NAME;
    u.url = NULL;
    assert_int_equal(roc_uri_format(&u, &s), 0);
    assert_string_equal(s, "ROCNAME:calc");
    free(s);
    u.kind = ROC_URI_META;
    u.id = NULL;
    u.tags[0] = "x";
    u.tags[1] = "y";
    u.n_tags = 2;
    u.url = "ipc:///ns";
    assert_int_equal(roc_uri_format(&u, &s), 0);
    assert_string_equal(s, "ROCMETA:x,y@ipc:///ns");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_uri_parse_valid_table),
        T(test_uri_parse_first_at_splits),
        T(test_uri_parse_strings_in_arena),
        T(test_uri_parse_max_tags),
        T(test_uri_parse_malformed_table),
        T(test_uri_parse_null_args),
        T(test_url_check_valid),
        T(test_url_check_malformed),
        T(test_id_valid),
        T(test_uri_format_refuses_invalid),
        T(test_uri_format_built_by_hand),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
