#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/roc-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_url(const char *transport, char *buf, size_t len)
{
    static atomic_uint seq;
    unsigned n = atomic_fetch_add(&seq, 1);
    if (strcmp(transport, "tcp") == 0) {
        snprintf(buf, len, "tcp://127.0.0.1:0");
    } else if (strcmp(transport, "ipc") == 0) {
        const char *base = getenv("TMPDIR");
        snprintf(buf, len, "ipc://%s/roc-%d-%u.sock", base ? base : "/tmp",
                 (int)getpid(), n);
    } else if (strcmp(transport, "ws") == 0) {
        snprintf(buf, len, "ws://127.0.0.1:0/roc");
    } else {
        snprintf(buf, len, "inproc://roc-test-%d-%u", (int)getpid(), n);
    }
    return buf;
}

pid_t tu_spawn(char *const argv[], int *out_fd)
{
    int fds[2] = {-1, -1};
    if (out_fd && pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (out_fd) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (out_fd) {
        close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

int tu_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;
    uint64_t end = tu_now_ms() + (uint64_t)timeout_ms;
    while (n + 1 < len) {
        uint64_t now = tu_now_ms();
        if (now >= end)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(end - now));
        if (r <= 0)
            continue;
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k <= 0)
            return -1;
        if (c == '\n') {
            buf[n] = 0;
            return 0;
        }
        buf[n++] = c;
    }
    buf[n] = 0;
    return 0;
}

int tu_stop(pid_t pid)
{
    int st = 0;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    uint64_t end = tu_now_ms() + 5000;
    while (tu_now_ms() < end) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        usleep(2000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -SIGKILL;
}

void tu_kill9(pid_t pid)
{
    int st;
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

bool tu_wait_for(bool (*cond)(void *), void *arg, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (tu_now_ms() >= end)
            return false;
        usleep(1000);
    }
}

const char *tu_bin(const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", ROC_BINARY_DIR, rel);
    return buf;
}

int tu_ns_start(tu_ns *s, const char *url, const char *const *extra)
{
    char bin[1024];
    tu_bin("nameserver/roc-ns", bin, sizeof bin);
    char *argv[32] = {bin, "--url",
                      (char *)(url ? url : "tcp://127.0.0.1:0"), "--log",
                      "warn"};
    size_t n = 5;
    for (; extra && *extra && n < 31; extra++)
        argv[n++] = (char *)*extra;
    argv[n] = NULL;
    memset(s, 0, sizeof *s);
    s->out = -1;
    s->pid = tu_spawn(argv, &s->out);
    if (s->pid <= 0) {
        fprintf(stderr, "tu_ns_start: cannot start %s\n", bin);
        return -1;
    }
    if (tu_read_line(s->out, s->uri, sizeof s->uri, 15000) != 0 ||
        !strchr(s->uri, '@')) {
        fprintf(stderr, "tu_ns_start: roc-ns did not print its URI\n");
        tu_ns_kill(s);
        return -1;
    }
    snprintf(s->url, sizeof s->url, "%s", strchr(s->uri, '@') + 1);
    return 0;
}

int tu_ns_stop(tu_ns *s)
{
    int st = 0;
    if (s->pid > 0)
        st = tu_stop(s->pid);
    if (s->out >= 0)
        close(s->out);
    s->pid = 0;
    s->out = -1;
    return st;
}

void tu_ns_kill(tu_ns *s)
{
    if (s->pid > 0)
        tu_kill9(s->pid);
    if (s->out >= 0)
        close(s->out);
    s->pid = 0;
    s->out = -1;
}

void tu_dead_url(char *buf, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        sa.sin_port = htons(1); /* port 1: nothing listens there either */
    snprintf(buf, len, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    if (fd >= 0)
        close(fd);
}

bool tu_name_state(void *arg)
{
    tu_name_wait *w = arg;
    char *uri = NULL;
    int rc = roc_ns_lookup(w->ns, w->name, 0, &uri, NULL);
    free(uri);
    return w->present ? rc == 0 : rc == ROC_ENOTFOUND;
}

const char *tu_errtext(const roc_error *e)
{
    static _Thread_local char buf[512];
    snprintf(buf, sizeof buf, "code %d (%s) type %s: %s", e->code,
             roc_strerror(e->code), e->type ? e->type : "-",
             e->message ? e->message : "-");
    return buf;
}

int tu_run(char *const argv[], char *out, size_t olen, char *err, size_t elen,
           int timeout_ms)
{
    int po[2], pe[2];
    if (pipe(po) != 0)
        return -1;
    if (pipe(pe) != 0) {
        close(po[0]), close(po[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    bool oo = true, eo = true;
    uint64_t end = tu_now_ms() + (uint64_t)timeout_ms;
    while ((oo || eo) && tu_now_ms() < end) {
        struct pollfd fds[2] = {{oo ? po[0] : -1, POLLIN, 0},
                                {eo ? pe[0] : -1, POLLIN, 0}};
        if (poll(fds, 2, 100) <= 0)
            continue;
        if (oo && fds[0].revents) {
            ssize_t k = read(po[0], out + no, olen - 1 - no);
            if (k <= 0)
                oo = false;
            else
                no += (size_t)k;
        }
        if (eo && fds[1].revents) {
            ssize_t k = read(pe[0], err + ne, elen - 1 - ne);
            if (k <= 0)
                eo = false;
            else
                ne += (size_t)k;
        }
    }
    out[no] = 0;
    err[ne] = 0;
    close(po[0]);
    close(pe[0]);
    int st = 0;
    if (oo || eo)
        kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int sh(const char *fmt, ...) ROC_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

int tu_make_ca(const char *dir, const char *name)
{
    return sh("cd %s && openssl req -x509 -newkey ec -pkeyopt "
              "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=%s "
              "-keyout %s.key -out %s.pem 2>/dev/null",
              dir, name, name, name);
}

int tu_make_cert(const char *dir, const char *name, const char *cn,
                 const char *ca)
{
    return sh("cd %s && openssl req -newkey ec -pkeyopt "
              "ec_paramgen_curve:prime256v1 -nodes -subj /CN=%s "
              "-keyout %s.key -out %s.csr 2>/dev/null && "
              "printf 'subjectAltName=DNS:%s\\n' > %s.ext && "
              "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
              "-CAcreateserial -days 2 -extfile %s.ext -out %s.crt 2>/dev/null "
              "&& cat %s.crt %s.key > %s.pem",
              dir, cn, name, name, cn, name, name, ca, ca, name, name, name,
              name, name);
}
