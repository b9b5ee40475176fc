/* The reaper: one process-wide background thread that frees connections
 * whose last reference was dropped (possibly inside one of their own aio
 * callbacks, where nng forbids freeing the aio) and runs periodic ticks
 * (deadlines of asynchronous calls). */
#include <stdlib.h>
#include <time.h>

#include "roci.h"

#define TICK_MS 10
#define MAX_TICKS 8

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static roci_conn *dead;
static void (*ticks[MAX_TICKS])(void);
static size_t nticks;
static bool started;

static void *reaper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mtx);
    for (;;) {
        while (dead) {
            roci_conn *c = dead;
            dead = c->reg_next;
            pthread_mutex_unlock(&mtx);
            roci_conn_destroy(c);
            pthread_mutex_lock(&mtx);
        }
        size_t n = nticks;
        pthread_mutex_unlock(&mtx);
        for (size_t i = 0; i < n; i++)
            ticks[i]();
        pthread_mutex_lock(&mtx);
        if (dead)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&cv, &mtx, &ts);
    }
    return NULL;
}

static void start(void)
{
    roci_cond_init_mono(&cv);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, reaper_main, NULL) == 0)
        started = true;
    pthread_attr_destroy(&at);
}

void roci_reaper_defer_free(roci_conn *c)
{
    pthread_once(&once, start);
    pthread_mutex_lock(&mtx);
    c->reg_next = dead;
    dead = c;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mtx);
}

void roci_reaper_add_tick(void (*fn)(void))
{
    pthread_once(&once, start);
    pthread_mutex_lock(&mtx);
    for (size_t i = 0; i < nticks; i++)
        if (ticks[i] == fn) {
            pthread_mutex_unlock(&mtx);
            return;
        }
    if (nticks < MAX_TICKS)
        ticks[nticks++] = fn;
    pthread_mutex_unlock(&mtx);
}
