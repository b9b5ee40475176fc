/* A throwaway etcd cluster for tests: n members of Debian's etcd 3.4 on
 * 127.0.0.1 ports of their own, data dirs under a temp dir (deleted by
 * etcdfx_stop). Elections are tuned short (heartbeat 50 ms, election
 * 500 ms) and watch progress notifications come every second. */
#ifndef ROC_ETCDFX_H
#define ROC_ETCDFX_H

#include <stdbool.h>
#include <sys/types.h>

#define ETCDFX_MAX 5

typedef struct etcdfx {
    char *dir;
    int n;
    pid_t pid[ETCDFX_MAX];
    int cport[ETCDFX_MAX], pport[ETCDFX_MAX];
    char endpoints[256]; /* "127.0.0.1:p1,127.0.0.1:p2,..." */
} etcdfx;

/* The etcd program, or NULL when etcd is not installed. */
const char *etcdfx_bin(void);
/* Starts n members and waits (up to timeout_ms) until every one is
 * healthy. 0 on success. */
int etcdfx_start(etcdfx *fx, int n, int timeout_ms);
/* True when member i answers /health with a leader in the cluster. */
bool etcdfx_healthy(etcdfx *fx, int i);
/* Index of the current leader, or -1. */
int etcdfx_leader(etcdfx *fx);
/* kill -9 of member i (reaped). */
void etcdfx_kill(etcdfx *fx, int i);
/* Starts member i again on its data dir. */
int etcdfx_restart(etcdfx *fx, int i);
/* Kills every member and deletes the data dirs. */
void etcdfx_stop(etcdfx *fx);

#endif
