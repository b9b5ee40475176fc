/* Shared by the limits_, load_ and fault_ tests: a test servant, an
 * in-process daemon with a well-behaved client calling it the whole time,
 * a raw nng stream client and child processes of sec_helper. */
#ifndef ROC_SEC_UTIL_H
#define ROC_SEC_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>
#include <roc/roc.h>

/* The object "t": echo(x) inline; hold() blocking, returns once the gate is
 * open, the call is cancelled or 20 s passed; sleep_ms(n) blocking. The
 * object "s" (session mode) has the same methods and counts instances. */
typedef struct sec_counters {
    atomic_int created, destroyed;
    atomic_int holding, max_holding, entered;
    atomic_bool gate_open;
} sec_counters;
extern sec_counters SC;
void sec_register(roc_daemon *d);
void sec_gate_open(void);

/* An in-process daemon on tcp://127.0.0.1:0 with the given options and a
 * background client (its own connection, roc_connect) calling t.echo in a
 * loop; sec_served checks that it keeps being answered. */
int sec_daemon_start(const roc_daemon_opts *o);
roc_daemon *sec_daemon(void);
const char *sec_url(void);
void sec_assert_served(void);
int sec_daemon_stop(void); /* -1 if the background client saw a failure */

/* A raw stream to url. */
typedef struct sec_raw {
    nng_stream_dialer *dialer;
    nng_stream *s;
    nng_aio *aio;
} sec_raw;
int sec_raw_dial(sec_raw *r, const char *url);
int sec_raw_send(sec_raw *r, const void *buf, size_t len);
/* Receives up to len bytes before deadline; returns the count, 0 at end of
 * stream or on error, -1 on timeout. */
long sec_raw_recv_some(sec_raw *r, void *buf, size_t len, uint64_t deadline);
/* Waits until the peer closes (true) or deadline passes (false), discarding
 * input. */
bool sec_raw_wait_closed(sec_raw *r, uint64_t deadline);
void sec_raw_close(sec_raw *r);
extern const uint8_t sec_hello[13];

/* sec_helper child processes. */
pid_t sec_spawn_daemon(const char *listen_url, char *url_out, size_t len,
                       int *out_fd);
long sec_rss_kb(pid_t pid);
uint64_t sec_now_ms(void);

#endif
