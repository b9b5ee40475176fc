/* Child processes of the fault_ and load_ tests.
 *
 *   sec_helper daemon URL   serves the sec servants ("t", "s") on URL,
 *                           prints the bound URL, runs until SIGTERM
 *   sec_helper client URL   connects to the daemon at URL (its own
 *                           connection), calls s.hold() and waits for it:
 *                           the test kills it in the middle of the call
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <roc/roc.h>

#include "sec_util.h"

static int run_daemon(const char *url)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    roc_daemon_opts o;
    roc_daemon_opts_init(&o);
    o.max_conns = 4096;
    roc_daemon *d = NULL;
    roc_error e = ROC_ERROR_INIT;
    if (roc_daemon_open(&d, url, &o, &e) != 0) {
        fprintf(stderr, "sec_helper: %s\n", e.message ? e.message : "?");
        return 1;
    }
    sec_register(d);
    if (roc_daemon_start(d) != 0)
        return 1;
    printf("%s\n", roc_daemon_url(d));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    roc_daemon_close(d);
    return 0;
}

static int run_client(const char *url)
{
    char uri[512];
    snprintf(uri, sizeof uri, "ROC:s@%s", url);
    roc_conn *c = NULL;
    roc_error e = ROC_ERROR_INIT;
    if (roc_connect(&c, uri, NULL, &e) != 0) {
        fprintf(stderr, "sec_helper: %s\n", e.message ? e.message : "?");
        return 1;
    }
    roc_proxy_set_timeout(roc_conn_root(c), 60000);
    printf("connected\n");
    fflush(stdout);
    roc_arena *a = NULL;
    roc_arena_new(&a);
    roc_value *res = NULL;
    int rv = roc_conn_call(c, "hold", NULL, &res, a, &e);
    printf("hold: %d\n", rv);
    roc_conn_close(c);
    roc_arena_free(a);
    return rv == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "daemon") == 0)
        return run_daemon(argv[2]);
    if (argc == 3 && strcmp(argv[1], "client") == 0)
        return run_client(argv[2]);
    fprintf(stderr, "usage: sec_helper daemon URL | client URL\n");
    return 2;
}
