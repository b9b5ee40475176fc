/* roc-ns-bench: register and lookup latency of roc-ns, per storage backend.
 *
 *   roc-ns-bench [--roc-ns PATH] [--n N] [--lookups M] STORE...
 *   roc-ns-bench --ns URL [--n N] [--lookups M]
 *
 * For each STORE (memory, sqlite:FILE, etcd://h:p,.../prefix) starts a
 * roc-ns (PATH, default: the roc-ns built beside this program) with
 * --store STORE on a free port, registers N names (default 500) one after
 * the other, looks up M names (default 5000), and prints the medians and
 * p99s; or measures the running name server at URL. One client, one
 * connection, sequential calls. docs/naming.md ("Latency per backend")
 * reports the figures.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <roc/roc.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Starts roc-ns with --store store; its nng URL in url. The pid, or -1. */
static pid_t start_ns(const char *bin, const char *store, char *url, size_t len)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(bin, bin, "--url", "tcp://127.0.0.1:0", "--log", "warn",
              "--store", store, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[600];
    size_t n = 0;
    while (n + 1 < sizeof line && read(fds[0], line + n, 1) == 1 &&
           line[n] != '\n')
        n++;
    line[n] = 0;
    close(fds[0]);
    const char *at = strchr(line, '@');
    if (pid < 0 || !at) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return -1;
    }
    snprintf(url, len, "%s", at + 1);
    return pid;
}

static int measure(const char *url, const char *label, int nreg, int nlook)
{
    roc_ns *ns = NULL;
    roc_error err = ROC_ERROR_INIT;
    uint64_t *reg = calloc((size_t)nreg, sizeof *reg);
    uint64_t *look = calloc((size_t)nlook, sizeof *look);
    int rc = reg && look ? roc_ns_open(&ns, url, &err) : ROC_ENOMEM;
    char tag[32];
    snprintf(tag, sizeof tag, "nsbench.%d.", (int)getpid());
    for (int i = 0; rc == 0 && i < nreg; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%06d", tag, i);
        uint64_t t = now_us();
        rc = roc_ns_register(ns, name, "ROC:b@tcp://127.0.0.1:9", NULL, 0,
                             ROC_NS_REPLACE, &err);
        reg[i] = now_us() - t;
    }
    for (int i = 0; rc == 0 && i < nlook; i++) {
        char name[64], *uri = NULL;
        snprintf(name, sizeof name, "%s%06d", tag, i % nreg);
        uint64_t t = now_us();
        rc = roc_ns_lookup(ns, name, 0, &uri, &err);
        look[i] = now_us() - t;
        free(uri);
    }
    if (rc == 0)
        rc = roc_ns_remove(ns, tag, ROC_NS_PREFIX, NULL, &err);
    if (rc) {
        fprintf(stderr, "roc-ns-bench: %s: %s\n", label,
                err.message ? err.message : roc_strerror(rc));
    } else {
        qsort(reg, (size_t)nreg, sizeof *reg, cmp_u64);
        qsort(look, (size_t)nlook, sizeof *look, cmp_u64);
        printf("%-10s %10llu %10llu %10llu %10llu\n", label,
               (unsigned long long)reg[nreg / 2],
               (unsigned long long)reg[(size_t)nreg * 99 / 100],
               (unsigned long long)look[nlook / 2],
               (unsigned long long)look[(size_t)nlook * 99 / 100]);
    }
    roc_ns_close(ns);
    roc_error_clear(&err);
    free(reg);
    free(look);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", argv[0]);
    char *slash = strrchr(bin, '/');
    snprintf(slash ? slash + 1 : bin,
             sizeof bin - (size_t)(slash ? slash + 1 - bin : 0),
             "../nameserver/roc-ns");
    const char *ns_url = NULL;
    int nreg = 500, nlook = 5000, first = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--roc-ns") == 0 && i + 1 < argc)
            snprintf(bin, sizeof bin, "%s", argv[++i]);
        else if (strcmp(argv[i], "--ns") == 0 && i + 1 < argc)
            ns_url = argv[++i];
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            nreg = atoi(argv[++i]);
        else if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc)
            nlook = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr,
                    "usage: roc-ns-bench [--roc-ns PATH] [--n N] "
                    "[--lookups M] STORE...\n"
                    "       roc-ns-bench --ns URL [--n N] [--lookups M]\n");
            return 2;
        } else if (!first)
            first = i;
    }
    if (nreg < 1 || nlook < 1 || (!ns_url && !first)) {
        fprintf(stderr, "roc-ns-bench: nothing to measure (give STOREs or "
                        "--ns URL)\n");
        return 2;
    }
    printf("%-10s %10s %10s %10s %10s   (µs, %d registrations, %d "
           "lookups)\n",
           "store", "reg p50", "reg p99", "look p50", "look p99", nreg, nlook);
    if (ns_url)
        return measure(ns_url, "running", nreg, nlook) ? 1 : 0;
    int failed = 0;
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-') {
            i++;
            continue;
        }
        char url[600];
        pid_t pid = start_ns(bin, argv[i], url, sizeof url);
        if (pid < 0) {
            fprintf(stderr, "roc-ns-bench: cannot start %s --store %s\n", bin,
                    argv[i]);
            failed = 1;
            continue;
        }
        const char *label = strncmp(argv[i], "sqlite:", 7) == 0 ? "sqlite"
                            : strncmp(argv[i], "etcd:", 5) == 0 ? "etcd"
                                                                : argv[i];
        failed |= measure(url, label, nreg, nlook) != 0;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    return failed;
}
