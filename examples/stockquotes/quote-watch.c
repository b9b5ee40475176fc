/* quote-watch: subscribes to a quote-feed's events by topic prefix.
 *
 *   quote-watch [--count N] URI PREFIX
 *       e.g. quote-watch ROC:feed@tcp://127.0.0.1:9400 quote.A
 *
 * URI names the feed (quote-feed prints it); roc_subscribe asks the feed's
 * daemon where its events are published and dials that endpoint, so the
 * subscriber needs no open port (it works behind NAT). Only events whose
 * topic starts with PREFIX arrive ("quote." for all, "quote.GLOBEX" for one
 * symbol).
 *
 * Prints "* subscribed to PREFIX", then one line per event:
 *   quote.ACME 100.25 #17          topic, price, sequence number
 * and exits 0 after N events (--count), or runs until SIGINT or SIGTERM.
 * Events are best effort: a subscriber joining late misses what came
 * before, and one that cannot keep up loses events.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <roc/roc.h>

static atomic_long remaining = -1; /* events still wanted; -1: no limit */

/* Runs on the subscription's background thread, one event at a time. */
static void on_quote(const char *topic, const roc_value *v, void *arg)
{
    (void)arg;
    double price = 0;
    uint64_t seq = 0;
    roc_value_get_float(roc_value_map_get(v, "price"), &price);
    roc_value_get_uint(roc_value_map_get(v, "seq"), &seq);
    if (atomic_load(&remaining) == 0)
        return; /* the count is reached; main is stopping */
    printf("%s %.2f #%llu\n", topic, price, (unsigned long long)seq);
    fflush(stdout);
    /* the last wanted event wakes main's sigwait */
    if (atomic_fetch_sub(&remaining, 1) == 1)
        kill(getpid(), SIGUSR1);
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--count") == 0) {
        long n = atol(argv[i + 1]);
        if (n < 1) {
            fprintf(stderr, "quote-watch: --count must be at least 1\n");
            return 2;
        }
        atomic_store(&remaining, n);
        i += 2;
    }
    if (argc - i != 2 || argv[i][0] == '-') {
        fprintf(stderr,
                "usage: %s [--count N] URI PREFIX\n"
                "  e.g. %s ROC:feed@tcp://127.0.0.1:9400 quote.A\n",
                argv[0], argv[0]);
        return 2;
    }
    const char *uri = argv[i], *prefix = argv[i + 1];

    /* stop signals (and SIGUSR1 from on_quote) go to sigwait only */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    roc_error err = ROC_ERROR_INIT;
    roc_proxy *feed = NULL;
    roc_subscription *sub = NULL;
    int rv = roc_proxy_open(&feed, uri, &err);
    if (rv == 0)
        rv = roc_subscribe(feed, prefix, on_quote, NULL, &sub, &err);
    if (rv != 0) {
        fprintf(stderr, "quote-watch: %s: %s\n", uri,
                err.message ? err.message : roc_strerror(rv));
        roc_error_clear(&err);
        roc_proxy_close(feed);
        return 1;
    }
    printf("* subscribed to %s\n", prefix);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    roc_unsubscribe(sub); /* no on_quote runs after this */
    roc_proxy_close(feed);
    roc_error_clear(&err);
    return 0;
}
