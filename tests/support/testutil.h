/* Small helpers shared by the tests: temp dirs, child processes, waiting
 * for a condition with a deadline (never a bare sleep). */
#ifndef ROC_TESTUTIL_H
#define ROC_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <roc/roc.h>

/* A fresh directory under $TMPDIR (or /tmp); removed by tu_rmtree. */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);
/* A unique URL for a transport: "tcp" gives tcp://127.0.0.1:0 (port chosen
 * at bind), "ipc" an ipc:// path in a temp dir, "inproc" a unique name.
 * Returns a static buffer per call slot (copy it if you keep it). */
const char *tu_url(const char *transport, char *buf, size_t len);
/* Starts argv[0] with argv; stdout is captured into a pipe readable with
 * tu_read_line when out_fd is not NULL. Returns the pid or -1. */
pid_t tu_spawn(char *const argv[], int *out_fd);
/* Reads one line (without '\n') from fd within timeout_ms. 0 on success. */
int tu_read_line(int fd, char *buf, size_t len, int timeout_ms);
/* SIGTERM, then SIGKILL after 5 s; returns the exit status (or -signal). */
int tu_stop(pid_t pid);
/* Kills with SIGKILL and reaps. */
void tu_kill9(pid_t pid);
/* Polls cond(arg) every millisecond until true or timeout; true if met. */
bool tu_wait_for(bool (*cond)(void *), void *arg, int timeout_ms);
uint64_t tu_now_ms(void);
/* Path of a program built in the tree: tu_bin("examples/echo/echo-server"). */
const char *tu_bin(const char *rel, char *buf, size_t len);

/* "code N (text) type T: message" of an error, in a buffer of the calling
 * thread (valid until its next call). */
const char *tu_errtext(const roc_error *e);
/* Fails the cmocka test unless rv is 0, saying what err says (include
 * <cmocka.h> before this header). */
#ifdef fail_msg
#define assert_ok(rv, err)                                                     \
    do {                                                                       \
        int rv_ = (rv);                                                        \
        if (rv_ != 0)                                                          \
            fail_msg("%s failed: %d %s", #rv, rv_, tu_errtext(err));           \
    } while (0)

/* A name-server client on url with a 5 s call timeout (fails the test when
 * it cannot be opened). */
static inline roc_ns *tu_ns_client(const char *url)
{
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    assert_ok(roc_ns_open(&ns, url, &err), &err);
    roc_ns_set_timeout(ns, 5000);
    return ns;
}
#endif

/* A tcp URL where nothing listens (a port bound, then released). */
void tu_dead_url(char *buf, size_t len);

/* For tu_wait_for: whether name is registered (present) or not, as ns
 * answers now. */
typedef struct tu_name_wait {
    roc_ns *ns;
    const char *name;
    bool present;
} tu_name_wait;
bool tu_name_state(void *arg);

/* Runs argv[0] with argv, capturing stdout into out and stderr into err
 * (NUL-terminated, cut at their sizes), killing it after timeout_ms.
 * Returns its exit status, or -1 (killed, or could not run). */
int tu_run(char *const argv[], char *out, size_t olen, char *err, size_t elen,
           int timeout_ms);

/* With openssl in dir: a CA (name.key, name.pem), and a certificate for
 * host cn signed by ca, certificate and key in one name.pem (nng wants
 * them together). 0 on success. */
int tu_make_ca(const char *dir, const char *name);
int tu_make_cert(const char *dir, const char *name, const char *cn,
                 const char *ca);

/* A roc-ns child process (nameserver/roc-ns of this build). */
typedef struct tu_ns {
    pid_t pid;
    int out;       /* its stdout */
    char uri[600]; /* "ROC:roc.ns@<url>", as it printed it */
    char url[512]; /* <url>, with the real port */
} tu_ns;
/* Starts roc-ns --url url (NULL: tcp://127.0.0.1:0) --log warn and the
 * arguments of extra (NULL-terminated; NULL: none), and waits up to 15 s
 * for the URI it prints. 0, or -1 with a message on stderr. */
int tu_ns_start(tu_ns *s, const char *url, const char *const *extra);
/* SIGTERM (SIGKILL after 5 s) and reap: the exit status, 0 for a clean
 * stop, or 0 when it was not running. */
int tu_ns_stop(tu_ns *s);
/* SIGKILL and reap. */
void tu_ns_kill(tu_ns *s);

#endif
