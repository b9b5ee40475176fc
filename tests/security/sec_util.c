#include "sec_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

sec_counters SC;

uint64_t sec_now_ms(void)
{
    return tu_now_ms();
}

static int m_echo(roc_call *call, const roc_value *args, roc_value **result)
{
    *result = roc_value_copy(roc_call_arena(call), roc_value_at(args, 0));
    return 0;
}

static pthread_mutex_t gate_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;

void sec_gate_open(void)
{
    pthread_mutex_lock(&gate_mtx);
    atomic_store(&SC.gate_open, true);
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mtx);
}

/* Waits for the gate, a cancel or 20 s; wakes every 10 ms to look at the
 * cancel flag (there is no cancel notification to wait on). */
static int m_hold(roc_call *call, const roc_value *args, roc_value **result)
{
    (void)args;
    atomic_fetch_add(&SC.entered, 1);
    int now = atomic_fetch_add(&SC.holding, 1) + 1;
    int mx = atomic_load(&SC.max_holding);
    while (now > mx && !atomic_compare_exchange_weak(&SC.max_holding, &mx, now))
        ;
    uint64_t end = tu_now_ms() + 20000;
    pthread_mutex_lock(&gate_mtx);
    while (!atomic_load(&SC.gate_open) && !roc_call_cancelled(call) &&
           tu_now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&gate_cv, &gate_mtx, &ts);
    }
    pthread_mutex_unlock(&gate_mtx);
    atomic_fetch_sub(&SC.holding, 1);
    *result = roc_value_bool(roc_call_arena(call), atomic_load(&SC.gate_open));
    return 0;
}

static const roc_method sec_methods[] = {
    {"echo", m_echo, 1, 0, "any x", "any"},
    {"hold", m_hold, 0, ROC_METHOD_BLOCKING, NULL, "bool"},
};

static void *s_create(void *arg)
{
    (void)arg;
    atomic_fetch_add(&SC.created, 1);
    return &SC;
}

static void s_destroy(void *self)
{
    (void)self;
    atomic_fetch_add(&SC.destroyed, 1);
}

void sec_register(roc_daemon *d)
{
    roc_servant t = {.iface = "sec.T", .methods = sec_methods,
                     .n_methods = 2, .mode = ROC_INSTANCE_SINGLE};
    roc_servant s = t;
    s.mode = ROC_INSTANCE_SESSION;
    s.create = s_create;
    s.destroy = s_destroy;
    roc_daemon_register(d, "t", &t, NULL);
    roc_daemon_register(d, "s", &s, NULL);
}

/* ------------------------------------------------ daemon + bg client */

static struct {
    roc_daemon *d;
    char url[256];
    pthread_t bg;
    bool bg_started;
    atomic_bool stop;
    atomic_long ok, failed;
    char first_failure[512];
} F;

static void *bg_client(void *arg)
{
    (void)arg;
    char uri[400];
    snprintf(uri, sizeof uri, "ROC:t@%s", F.url);
    roc_conn *c = NULL;
    roc_arena *a = NULL;
    roc_error e = ROC_ERROR_INIT;
    if (roc_arena_new(&a) != 0 || roc_connect(&c, uri, NULL, &e) != 0) {
        snprintf(F.first_failure, sizeof F.first_failure, "connect: %s",
                 e.message ? e.message : "?");
        atomic_fetch_add(&F.failed, 1);
        roc_arena_free(a);
        roc_error_clear(&e);
        return NULL;
    }
    roc_proxy_set_timeout(roc_conn_root(c), 5000);
    for (int64_t i = 0; !atomic_load(&F.stop); i++) {
        roc_value *args = roc_value_arrayv(a, 1, roc_value_int(a, i));
        roc_value *res = NULL;
        int64_t got = -1;
        int rv = roc_conn_call(c, "echo", args, &res, a, &e);
        if (rv == 0 && roc_value_get_int(res, &got) == 0 && got == i) {
            atomic_fetch_add(&F.ok, 1);
        } else if (atomic_fetch_add(&F.failed, 1) == 0) {
            snprintf(F.first_failure, sizeof F.first_failure,
                     "call %lld: %d %s", (long long)i, rv,
                     e.message ? e.message : roc_strerror(rv));
        }
        roc_arena_reset(a);
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL); /* pacing, not waiting for anything */
    }
    roc_conn_close(c);
    roc_arena_free(a);
    roc_error_clear(&e);
    return NULL;
}

static bool bg_progressed(void *arg)
{
    return atomic_load(&F.ok) > *(long *)arg + 2;
}

int sec_daemon_start(const roc_daemon_opts *o)
{
    memset(&F, 0, sizeof F);
    memset(&SC, 0, sizeof SC);
    roc_error e = ROC_ERROR_INIT;
    if (roc_daemon_open(&F.d, "tcp://127.0.0.1:0", o, &e) != 0) {
        fprintf(stderr, "daemon open: %s\n", e.message ? e.message : "?");
        roc_error_clear(&e);
        return -1;
    }
    snprintf(F.url, sizeof F.url, "%s", roc_daemon_url(F.d));
    sec_register(F.d);
    if (roc_daemon_start(F.d) != 0)
        return -1;
    if (pthread_create(&F.bg, NULL, bg_client, NULL) != 0)
        return -1;
    F.bg_started = true;
    long zero = 0;
    if (!tu_wait_for(bg_progressed, &zero, 5000))
        return -1;
    return 0;
}

roc_daemon *sec_daemon(void)
{
    return F.d;
}

const char *sec_url(void)
{
    return F.url;
}


void sec_assert_served(void)
{
    long ok0 = atomic_load(&F.ok);
    if (!tu_wait_for(bg_progressed, &ok0, 5000)) {
        fprintf(stderr, "the well-behaved client got no answer for 5 s\n");
        abort();
    }
    if (atomic_load(&F.failed) != 0) {
        fprintf(stderr, "the well-behaved client saw a failure: %s\n",
                F.first_failure);
        abort();
    }
}

int sec_daemon_stop(void)
{
    int rv = 0;
    atomic_store(&F.stop, true);
    sec_gate_open();
    if (F.bg_started)
        pthread_join(F.bg, NULL);
    if (atomic_load(&F.failed) != 0) {
        fprintf(stderr, "well-behaved client failures: %ld (%s)\n",
                atomic_load(&F.failed), F.first_failure);
        rv = -1;
    }
    fprintf(stderr, "well-behaved client: %ld calls answered\n",
            atomic_load(&F.ok));
    if (F.d)
        roc_daemon_close(F.d);
    F.d = NULL;
    return rv;
}

/* ------------------------------------------------ raw client */

const uint8_t sec_hello[13] = {0, 0, 0, 9, 0x93, 1, 0, 0x81,
                               0xa1, 'v', 0x92, 1, 1};

int sec_raw_dial(sec_raw *r, const char *url)
{
    memset(r, 0, sizeof *r);
    if (nng_stream_dialer_alloc(&r->dialer, url) != 0 ||
        nng_aio_alloc(&r->aio, NULL, NULL) != 0)
        return -1;
    nng_aio_set_timeout(r->aio, 5000);
    nng_stream_dialer_dial(r->dialer, r->aio);
    nng_aio_wait(r->aio);
    if (nng_aio_result(r->aio) != 0)
        return -1;
    r->s = nng_aio_get_output(r->aio, 0);
    return 0;
}

int sec_raw_send(sec_raw *r, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        nng_iov iov = {(void *)p, len};
        nng_aio_set_iov(r->aio, 1, &iov);
        nng_aio_set_timeout(r->aio, 5000);
        nng_stream_send(r->s, r->aio);
        nng_aio_wait(r->aio);
        int rv = nng_aio_result(r->aio);
        if (rv != 0)
            return rv;
        p += nng_aio_count(r->aio);
        len -= nng_aio_count(r->aio);
    }
    return 0;
}

long sec_raw_recv_some(sec_raw *r, void *buf, size_t len, uint64_t deadline)
{
    uint64_t now = tu_now_ms();
    if (now >= deadline)
        return -1;
    nng_iov iov = {buf, len};
    nng_aio_set_iov(r->aio, 1, &iov);
    nng_aio_set_timeout(r->aio, (nng_duration)(deadline - now));
    nng_stream_recv(r->s, r->aio);
    nng_aio_wait(r->aio);
    int rv = nng_aio_result(r->aio);
    if (rv == NNG_ETIMEDOUT)
        return -1;
    if (rv != 0)
        return 0;
    return (long)nng_aio_count(r->aio);
}

bool sec_raw_wait_closed(sec_raw *r, uint64_t deadline)
{
    uint8_t buf[4096];
    for (;;) {
        long n = sec_raw_recv_some(r, buf, sizeof buf, deadline);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
    }
}

void sec_raw_close(sec_raw *r)
{
    if (r->s) {
        nng_stream_close(r->s);
        nng_stream_free(r->s);
    }
    if (r->aio)
        nng_aio_free(r->aio);
    if (r->dialer)
        nng_stream_dialer_free(r->dialer);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------ child processes */

pid_t sec_spawn_daemon(const char *listen_url, char *url_out, size_t len,
                       int *out_fd)
{
    char helper[1024];
    tu_bin("tests/security/sec_helper", helper, sizeof helper);
    char *argv[] = {helper, "daemon", (char *)listen_url, NULL};
    int fd = -1;
    pid_t pid = tu_spawn(argv, &fd);
    if (pid < 0)
        return -1;
    if (tu_read_line(fd, url_out, len, 10000) != 0) {
        tu_kill9(pid);
        close(fd);
        return -1;
    }
    if (out_fd)
        *out_fd = fd;
    else
        close(fd);
    return pid;
}

long sec_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}
