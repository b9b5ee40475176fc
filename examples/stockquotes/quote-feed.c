/* quote-feed: publishes stock quotes as events.
 *
 *   quote-feed [--interval MS] URL EVENTS_URL
 *       e.g. quote-feed tcp://0.0.0.0:9400 tcp://0.0.0.0:9401
 *
 * A daemon on URL hosts the object "feed" (symbols() -> [string],
 * last(symbol) -> float); its event endpoint on EVENTS_URL publishes one
 * event per symbol every MS milliseconds (default 200) under the topic
 * "quote.<SYMBOL>", whose value is a map {"symbol": str, "price": float,
 * "seq": uint}. Subscribers (quote-watch) find the event endpoint through
 * the daemon (roc.daemon.describe announces it) and filter by topic
 * prefix, so "quote.A" gets ACME and AJAX, "quote.GLOBEX" only GLOBEX.
 *
 * Prints the feed's URI (line 1) and the bound event URL (line 2), then
 * publishes until SIGINT or SIGTERM. Prices are a deterministic random
 * walk, so runs are reproducible.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roc/roc.h>

static const char *const symbols[] = {"ACME", "AJAX", "GLOBEX", "INITECH",
                                      "UMBRELLA"};
#define NSYM (sizeof symbols / sizeof symbols[0])

/* Prices in cents; the publishing loop writes them, calls read them. */
static pthread_mutex_t prices_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t prices[NSYM] = {10000, 2550, 31075, 1299, 8800};

static uint32_t rng = 12345;
static int step(void) /* -25..25 cents */
{
    rng = rng * 1103515245u + 12345u;
    return (int)((rng >> 16) % 51) - 25;
}

/* symbols() -> [string] */
static int feed_symbols(roc_call *call, const roc_value *args,
                        roc_value **result)
{
    (void)args;
    roc_arena *a = roc_call_arena(call);
    roc_value *list = roc_value_array(a, NSYM);
    for (size_t i = 0; list && i < NSYM; i++) {
        roc_value *s = roc_value_str(a, symbols[i]);
        if (!s || roc_value_array_set(list, i, s) != 0)
            list = NULL;
    }
    if (!list)
        return roc_call_error(call, ROC_EINTERNAL, "out of memory");
    *result = list;
    return 0;
}

/* last(symbol) -> float */
static int feed_last(roc_call *call, const roc_value *args, roc_value **result)
{
    const char *sym;
    size_t len;
    if (roc_value_get_str(roc_value_at(args, 0), &sym, &len) != 0)
        return roc_call_error(call, ROC_EBADARGS, "last: expected a symbol");
    for (size_t i = 0; i < NSYM; i++)
        if (strcmp(sym, symbols[i]) == 0) {
            pthread_mutex_lock(&prices_lock);
            double p = (double)prices[i] / 100.0;
            pthread_mutex_unlock(&prices_lock);
            *result = roc_value_float(roc_call_arena(call), p);
            return 0;
        }
    return roc_call_raise(call, "quotes.UnknownSymbol", NULL,
                          "no such symbol: %s", sym);
}

static const roc_method feed_methods[] = {
    {"symbols", feed_symbols, 0, 0, "", "list<string>"},
    {"last", feed_last, 1, 0, "string symbol", "f64"},
};

/* One round: every symbol moves and is published. Publishing never blocks:
 * a subscriber that cannot keep up loses events, the feed goes on. */
static int publish_round(roc_daemon *d, roc_arena *a, uint64_t seq,
                         roc_error *err)
{
    static const char *const keys[] = {"symbol", "price", "seq"};
    for (size_t i = 0; i < NSYM; i++) {
        roc_arena_reset(a);
        pthread_mutex_lock(&prices_lock);
        prices[i] += step();
        if (prices[i] < 1)
            prices[i] = 1;
        double price = (double)prices[i] / 100.0;
        pthread_mutex_unlock(&prices_lock);

        roc_value *q = roc_value_map(a, 3);
        roc_value *vals[3] = {roc_value_str(a, symbols[i]),
                              roc_value_float(a, price),
                              roc_value_uint(a, seq)};
        for (size_t k = 0; q && k < 3; k++) {
            roc_value *key = roc_value_str(a, keys[k]);
            if (!key || !vals[k] || roc_value_map_set(q, k, key, vals[k]) != 0)
                q = NULL;
        }
        if (!q)
            return roc_error_set(err, ROC_ENOMEM, "out of memory");
        char topic[64];
        snprintf(topic, sizeof topic, "quote.%s", symbols[i]);
        int rv = roc_daemon_publish(d, topic, q, err);
        if (rv != 0)
            return rv;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long interval_ms = 200;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--interval") == 0) {
        interval_ms = atol(argv[i + 1]);
        i += 2;
    }
    if (argc - i != 2 || argv[i][0] == '-' || interval_ms < 1) {
        fprintf(stderr,
                "usage: %s [--interval MS] URL EVENTS_URL\n"
                "  e.g. %s tcp://127.0.0.1:9400 tcp://127.0.0.1:9401\n",
                argv[0], argv[0]);
        return 2;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    roc_error err = ROC_ERROR_INIT;
    roc_daemon *d = NULL;
    char *uri = NULL;
    const roc_servant feed = {
        .iface = "quotes.Feed",
        .methods = feed_methods,
        .n_methods = sizeof feed_methods / sizeof feed_methods[0],
    };
    int rv = roc_daemon_open(&d, argv[i], NULL, &err);
    if (rv == 0)
        rv = roc_daemon_events_open(d, argv[i + 1], &err);
    if (rv == 0)
        rv = roc_daemon_register(d, "feed", &feed, &uri);
    if (rv == 0)
        rv = roc_daemon_start(d);
    if (rv != 0) {
        fprintf(stderr, "quote-feed: %s\n",
                err.message ? err.message : roc_strerror(rv));
        roc_error_clear(&err);
        free(uri);
        roc_daemon_close(d);
        return 1;
    }
    printf("%s\n%s\n", uri, roc_daemon_events_url(d));
    fflush(stdout);
    free(uri);

    roc_arena *a = NULL;
    roc_arena_new(&a);
    const struct timespec tick = {interval_ms / 1000,
                                  (interval_ms % 1000) * 1000000L};
    uint64_t seq = 0;
    int status = 0;
    /* publish every tick until a stop signal arrives */
    while (sigtimedwait(&stop, NULL, &tick) < 0) {
        rv = publish_round(d, a, ++seq, &err);
        if (rv != 0) {
            fprintf(stderr, "quote-feed: publish: %s\n",
                    err.message ? err.message : roc_strerror(rv));
            status = 1;
            break;
        }
    }
    roc_arena_free(a);
    roc_error_clear(&err);
    roc_daemon_shutdown(d);
    roc_daemon_close(d);
    return status;
}
