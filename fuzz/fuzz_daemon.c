/* libFuzzer target: a daemon's connection read path, through a real
 * socket (nng streams cannot be built over a socketpair, so the daemon
 * listens on an ipc:// path in a private temp dir of this process; nothing
 * leaves the machine).
 *
 * One daemon lives for the whole run. Each input is one connection: when
 * the low two bits of its first byte are not 0 a valid hello goes first
 * (most inputs then reach the call path), then the remaining bytes are sent
 * raw, then a ping [1, 6, "fz"]. The harness reads the answers until the
 * pong for that ping, a refusal (roc.ProtocolError / MessageTooLarge), the
 * end of the stream or a short deadline, and closes. A crash, sanitizer
 * report or hang of the daemon is what is looked for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include <roc/roc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FD_WAIT_MS 30

static roc_daemon *fd_d;
static char fd_dir[64];
static char fd_url[256];
static nng_stream_dialer *fd_dialer;

static int fd_echo(roc_call *call, const roc_value *args, roc_value **result)
{
    *result = roc_value_copy(roc_call_arena(call), roc_value_at(args, 0));
    return 0;
}

static int fd_fail(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)result;
    return roc_call_raise(call, "fuzz.Failure", roc_value_at(args, 0),
                          "on purpose (%d ms left)",
                          roc_call_remaining_ms(call));
}

static int fd_info(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    roc_arena *a = roc_call_arena(call);
    *result = roc_value_arrayv(a, 3, roc_value_str(a, roc_call_peer(call)),
                               roc_value_bool(a, roc_call_cancelled(call)),
                               roc_value_int(a, roc_call_remaining_ms(call)));
    return 0;
}

static const roc_method fd_methods[] = {
    {"echo", fd_echo, 1, 0, "any x", "any"},
    {"fail", fd_fail, 1, 0, "any x", NULL},
    {"info", fd_info, 0, 0, NULL, "any"},
    {"wecho", fd_echo, 1, ROC_METHOD_BLOCKING, "any x", "any"},
    {"any", fd_info, -1, ROC_METHOD_ONEWAY, NULL, NULL},
};

static int fd_counter;

static void *fd_create(void *arg)
{
    (void)arg;
    return &fd_counter;
}

static void fd_destroy(void *self)
{
    (void)self;
}

/* At exit: the daemon is closed and its socket and directory removed. */
static void fd_stop(void)
{
    if (fd_dialer)
        nng_stream_dialer_free(fd_dialer);
    fd_dialer = NULL;
    if (fd_d)
        roc_daemon_close(fd_d);
    fd_d = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/d.sock", fd_dir);
    unlink(path);
    rmdir(fd_dir);
}

static int fd_start(void)
{
    if (fd_d)
        return 0;
    snprintf(fd_dir, sizeof fd_dir, "/tmp/roc-fuzz-XXXXXX");
    if (!mkdtemp(fd_dir))
        return -1;
    snprintf(fd_url, sizeof fd_url, "ipc://%s/d.sock", fd_dir);
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_frame = 64 * 1024;
    o.max_depth = 16;
    o.hello_timeout_ms = 2000;
    o.keepalive_ms = -1;
    o.workers = 2;
    roc_error e = ROC_ERROR_INIT;
    if (roc_daemon_open(&fd_d, fd_url, &o, &e) != 0) {
        fprintf(stderr, "fuzz_daemon: %s\n", e.message ? e.message : "?");
        roc_error_clear(&e);
        return -1;
    }
    roc_servant single = {.iface = "fuzz.T", .methods = fd_methods,
                          .n_methods = 5, .mode = ROC_INSTANCE_SINGLE};
    roc_servant session = single;
    session.mode = ROC_INSTANCE_SESSION;
    session.create = fd_create;
    session.destroy = fd_destroy;
    roc_servant serial = single;
    serial.flags = ROC_SERVANT_SERIALIZED;
    roc_servant percall = session;
    percall.mode = ROC_INSTANCE_PERCALL;
    if (roc_daemon_register(fd_d, "t", &single, NULL) != 0 ||
        roc_daemon_register(fd_d, "s", &session, NULL) != 0 ||
        roc_daemon_register(fd_d, "z", &serial, NULL) != 0 ||
        roc_daemon_register(fd_d, "p", &percall, NULL) != 0 ||
        roc_daemon_start(fd_d) != 0 ||
        nng_stream_dialer_alloc(&fd_dialer, fd_url) != 0) {
        fd_stop();
        return -1;
    }
    atexit(fd_stop);
    return 0;
}

static uint64_t fd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fd_send(nng_stream *s, nng_aio *aio, const uint8_t *p, size_t len)
{
    while (len > 0) {
        nng_iov iov = {(void *)p, len};
        nng_aio_set_iov(aio, 1, &iov);
        nng_aio_set_timeout(aio, 1000);
        nng_stream_send(s, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            return -1;
        size_t n = nng_aio_count(aio);
        p += n;
        len -= n;
    }
    return 0;
}

/* True when the answers in buf[0..len) hold the final pong or a refusal. */
static int fd_done(const uint8_t *buf, size_t len)
{
    static const uint8_t pong[] = {0, 0, 0, 6, 0x93, 1, 7, 0xa2, 'f', 'z'};
    size_t off = 0;
    while (len - off >= 4) {
        const uint8_t *h = buf + off;
        size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) |
                   ((size_t)h[2] << 8) | h[3];
        if (len - off - 4 < n)
            break;
        if (n + 4 == sizeof pong && memcmp(h, pong, sizeof pong) == 0)
            return 1;
        /* an error frame with id 0 and wire code 4 or 5 */
        if (n >= 6 && h[4] == 0x94 && h[5] == 1 && h[6] == 4 && h[7] == 0 &&
            h[8] == 0x94 && (h[9] == 4 || h[9] == 5))
            return 1;
        off += 4 + n;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t hello[] = {0, 0, 0, 9, 0x93, 1, 0, 0x81,
                                    0xa1, 'v', 0x92, 1, 1};
    static const uint8_t ping[] = {0, 0, 0, 6, 0x93, 1, 6, 0xa2, 'f', 'z'};
    if (fd_start() != 0)
        abort();
    nng_aio *aio = NULL;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0)
        return 0;
    nng_aio_set_timeout(aio, 2000);
    nng_stream_dialer_dial(fd_dialer, aio);
    nng_aio_wait(aio);
    if (nng_aio_result(aio) != 0) {
        nng_aio_free(aio);
        return 0;
    }
    nng_stream *s = nng_aio_get_output(aio, 0);
    int with_hello = size > 0 && (data[0] & 3) != 0;
    if (size > 0) {
        data++;
        size--;
    }
    int ok = 0;
    if (!with_hello || fd_send(s, aio, hello, sizeof hello) == 0)
        ok = fd_send(s, aio, data, size) == 0 &&
             fd_send(s, aio, ping, sizeof ping) == 0;
    /* read answers until done, closed or FD_WAIT_MS of silence */
    size_t cap = 64 * 1024, len = 0;
    uint8_t *buf = malloc(cap);
    uint64_t deadline = fd_now_ms() + FD_WAIT_MS;
    while (ok && buf && len < cap && fd_now_ms() < deadline) {
        nng_iov iov = {buf + len, cap - len};
        nng_aio_set_iov(aio, 1, &iov);
        nng_aio_set_timeout(aio, (nng_duration)(deadline - fd_now_ms() + 1));
        nng_stream_recv(s, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0 || nng_aio_count(aio) == 0)
            break;
        len += nng_aio_count(aio);
        if (fd_done(buf, len))
            break;
        deadline = fd_now_ms() + FD_WAIT_MS;
    }
    free(buf);
    nng_stream_close(s);
    nng_stream_free(s);
    nng_aio_free(aio);
    return 0;
}
