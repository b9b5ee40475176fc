"""quote_watch: subscribes to a quote feed's events by topic prefix, as the
C example examples/stockquotes/quote-watch does (same output), against the
C quote-feed or the Python quote_feed.

    python3 -m roc.examples.quote_watch [--count N] URI PREFIX
        e.g. python3 -m roc.examples.quote_watch ROC:feed@tcp://127.0.0.1:9400 quote.A

roc.subscribe asks the feed's daemon where its events are published and
dials that endpoint (the subscriber needs no open port). Prints
"* subscribed to PREFIX", then one line per event:
    quote.ACME 100.25 #17          topic, price, sequence number
and exits 0 after N events (--count), or runs until SIGINT or SIGTERM.
"""
import signal
import sys
import threading

import roc

USAGE = ("usage: python3 -m roc.examples.quote_watch [--count N] URI PREFIX\n"
         "  e.g. python3 -m roc.examples.quote_watch ROC:feed@tcp://127.0.0.1:9400 quote.A")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    remaining = -1
    if len(argv) >= 2 and argv[0] == "--count":
        try:
            remaining = int(argv[1])
        except ValueError:
            remaining = 0
        if remaining < 1:
            print("quote_watch: --count must be at least 1", file=sys.stderr)
            return 2
        argv = argv[2:]
    if len(argv) != 2 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    uri, prefix = argv
    done = threading.Event()
    left = [remaining]

    def on_quote(topic, v):
        if left[0] == 0:
            return  # the count is reached; main is stopping
        price = v.get("price", 0.0) if isinstance(v, dict) else 0.0
        seq = v.get("seq", 0) if isinstance(v, dict) else 0
        print("%s %.2f #%d" % (topic, price, seq), flush=True)
        if left[0] > 0:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        sub = roc.subscribe(uri, prefix, on_quote)
    except (roc.RocError, ValueError) as e:
        print("quote_watch: %s: %s" % (uri, e), file=sys.stderr)
        return 1
    print("* subscribed to %s" % prefix, flush=True)
    while not done.wait(0.5):
        pass
    sub.close()  # no on_quote runs after this
    return 0


if __name__ == "__main__":
    sys.exit(main())
