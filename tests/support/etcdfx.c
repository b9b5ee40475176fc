/* The etcd cluster fixture (etcdfx.h). */
#include "etcdfx.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testutil.h"

extern char **environ;

const char *etcdfx_bin(void)
{
    static const char *const paths[] = {"/usr/bin/etcd", "/usr/local/bin/etcd",
                                        NULL};
    for (int i = 0; paths[i]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static pid_t spawn_member(etcdfx *fx, int i)
{
    char name[16], data[600], lc[64], ac[64], lp[64], ap[64], cluster[512],
        log[600];
    snprintf(name, sizeof name, "m%d", i);
    snprintf(data, sizeof data, "%s/%s.etcd", fx->dir, name);
    snprintf(log, sizeof log, "%s/%s.log", fx->dir, name);
    snprintf(lc, sizeof lc, "http://127.0.0.1:%d", fx->cport[i]);
    snprintf(ac, sizeof ac, "http://127.0.0.1:%d", fx->cport[i]);
    snprintf(lp, sizeof lp, "http://127.0.0.1:%d", fx->pport[i]);
    snprintf(ap, sizeof ap, "http://127.0.0.1:%d", fx->pport[i]);
    cluster[0] = 0;
    for (int k = 0; k < fx->n; k++) {
        size_t l = strlen(cluster);
        snprintf(cluster + l, sizeof cluster - l, "%sm%d=http://127.0.0.1:%d",
                 k ? "," : "", k, fx->pport[k]);
    }
    char *argv[] = {(char *)etcdfx_bin(),
                    "--name",
                    name,
                    "--data-dir",
                    data,
                    "--listen-client-urls",
                    lc,
                    "--advertise-client-urls",
                    ac,
                    "--listen-peer-urls",
                    lp,
                    "--initial-advertise-peer-urls",
                    ap,
                    "--initial-cluster",
                    cluster,
                    "--initial-cluster-token",
                    "roc-test",
                    "--initial-cluster-state",
                    "new",
                    "--heartbeat-interval",
                    "50",
                    "--election-timeout",
                    "500",
                    "--experimental-watch-progress-notify-interval",
                    "1s",
                    "--log-level",
                    "warn",
                    NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* etcd reads every ETCD_* variable as a flag */
        for (char **e = environ; *e;) {
            if (strncmp(*e, "ETCD", 4) == 0) {
                char var[256];
                snprintf(var, sizeof var, "%.*s",
                         (int)(strchr(*e, '=') ? strchr(*e, '=') - *e : 0), *e);
                unsetenv(var);
                continue;
            }
            e++;
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static size_t sink(char *d, size_t s, size_t n, void *arg)
{
    char *b = arg;
    size_t len = strlen(b), k = s * n;
    if (len + k < 512) {
        memcpy(b + len, d, k);
        b[len + k] = 0;
    }
    return k;
}

/* GET or POST (body not NULL) to member i; the answer in out (512). */
static bool req(etcdfx *fx, int i, const char *path, const char *body,
                char *out)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fx->cport[i], path);
    out[0] = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return false;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 500L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    long st = 0;
    bool ok = curl_easy_perform(h) == CURLE_OK &&
              curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st) == CURLE_OK &&
              st == 200;
    curl_easy_cleanup(h);
    return ok;
}

bool etcdfx_healthy(etcdfx *fx, int i)
{
    char out[512];
    return fx->pid[i] > 0 && req(fx, i, "/health", NULL, out) &&
           strstr(out, "\"true\"") != NULL;
}

static bool all_healthy(void *arg)
{
    etcdfx *fx = arg;
    for (int i = 0; i < fx->n; i++)
        if (fx->pid[i] > 0 && !etcdfx_healthy(fx, i))
            return false;
    return true;
}

int etcdfx_start(etcdfx *fx, int n, int timeout_ms)
{
    memset(fx, 0, sizeof *fx);
    if (!etcdfx_bin() || n < 1 || n > ETCDFX_MAX)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx->dir = tu_mkdtemp();
    fx->n = n;
    for (int i = 0; i < n; i++) {
        fx->cport[i] = free_port();
        fx->pport[i] = free_port();
        size_t l = strlen(fx->endpoints);
        snprintf(fx->endpoints + l, sizeof fx->endpoints - l, "%s127.0.0.1:%d",
                 i ? "," : "", fx->cport[i]);
    }
    for (int i = 0; i < n; i++)
        fx->pid[i] = spawn_member(fx, i);
    if (!tu_wait_for(all_healthy, fx, timeout_ms)) {
        fprintf(stderr, "etcd cluster not healthy within %d ms (logs in %s)\n",
                timeout_ms, fx->dir);
        return 1;
    }
    return 0;
}

int etcdfx_leader(etcdfx *fx)
{
    for (int i = 0; i < fx->n; i++) {
        char out[512];
        if (fx->pid[i] <= 0 || !req(fx, i, "/v3/maintenance/status", "{}", out))
            continue;
        char *m = strstr(out, "\"member_id\":\"");
        char *l = strstr(out, "\"leader\":\"");
        if (!m || !l)
            continue;
        m += 13;
        l += 10;
        size_t ml = strcspn(m, "\""), ll = strcspn(l, "\"");
        if (ml == ll && strncmp(m, l, ml) == 0)
            return i;
    }
    return -1;
}

void etcdfx_kill(etcdfx *fx, int i)
{
    if (fx->pid[i] > 0) {
        kill(fx->pid[i], SIGKILL);
        waitpid(fx->pid[i], NULL, 0);
        fx->pid[i] = 0;
    }
}

int etcdfx_restart(etcdfx *fx, int i)
{
    etcdfx_kill(fx, i);
    fx->pid[i] = spawn_member(fx, i);
    return fx->pid[i] > 0 ? 0 : -1;
}

void etcdfx_stop(etcdfx *fx)
{
    for (int i = 0; i < fx->n; i++)
        etcdfx_kill(fx, i);
    if (fx->dir) {
        tu_rmtree(fx->dir);
        free(fx->dir);
        fx->dir = NULL;
    }
}
