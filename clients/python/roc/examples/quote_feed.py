"""quote_feed: publishes stock quotes as events, as the C example
examples/stockquotes/quote-feed does (same objects, topics, values and
prices), so that either subscriber — C quote-watch or Python quote_watch —
runs against either feed.

    python3 -m roc.examples.quote_feed [--interval MS] URL EVENTS_URL
        e.g. python3 -m roc.examples.quote_feed tcp://127.0.0.1:9400 tcp://127.0.0.1:9401

A daemon on URL hosts the object "feed" (symbols() -> [string],
last(symbol) -> float); its event endpoint on EVENTS_URL publishes one
event per symbol every MS milliseconds (default 200) under the topic
"quote.<SYMBOL>", whose value is a map {"symbol": str, "price": float,
"seq": uint}. Prints the feed's URI (line 1) and the bound event URL
(line 2), then publishes until SIGINT or SIGTERM. Prices are the C feed's
deterministic random walk: round N has the same prices in both.
"""
import signal
import sys
import threading

import roc

SYMBOLS = ("ACME", "AJAX", "GLOBEX", "INITECH", "UMBRELLA")
START = (10000, 2550, 31075, 1299, 8800)   # cents


class Walk:
    """The C feed's prices: a 32-bit LCG, steps of -25..25 cents, at least
    1 cent; round(seq) moves every symbol once, in SYMBOLS order."""

    def __init__(self):
        self.rng = 12345
        self.cents = list(START)
        self.seq = 0

    def step(self):
        self.rng = (self.rng * 1103515245 + 12345) & 0xFFFFFFFF
        return (self.rng >> 16) % 51 - 25

    def round(self):
        """The next round: [(symbol, price, seq)]."""
        self.seq += 1
        out = []
        for i, sym in enumerate(SYMBOLS):
            self.cents[i] = max(1, self.cents[i] + self.step())
            out.append((sym, self.cents[i] / 100.0, self.seq))
        return out


@roc.behavior(instance="single", interface="quotes.Feed")
class Feed:
    def __init__(self):
        self.lock = threading.Lock()
        self.last_prices = {s: c / 100.0 for s, c in zip(SYMBOLS, START)}

    @roc.expose(params="", result="list<string>")
    def symbols(self):
        return list(SYMBOLS)

    @roc.expose(params="string symbol", result="f64")
    def last(self, symbol):
        if not isinstance(symbol, str):
            raise roc.BadArguments("last: expected a symbol")
        with self.lock:
            if symbol not in self.last_prices:
                raise UnknownSymbol("no such symbol: %s" % symbol)
            return self.last_prices[symbol]


class UnknownSymbol(roc.RemoteError):
    remote_type = "quotes.UnknownSymbol"


USAGE = ("usage: python3 -m roc.examples.quote_feed [--interval MS] URL EVENTS_URL\n"
         "  e.g. python3 -m roc.examples.quote_feed tcp://127.0.0.1:9400 tcp://127.0.0.1:9401")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    interval = 200
    if len(argv) >= 2 and argv[0] == "--interval":
        try:
            interval = int(argv[1])
        except ValueError:
            interval = 0
        argv = argv[2:]
    if len(argv) != 2 or argv[0].startswith("-") or interval < 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        daemon = roc.Daemon(argv[0])
        daemon.events_open(argv[1])
    except (roc.RocError, ValueError) as e:
        print("quote_feed: %s" % e, file=sys.stderr)
        return 1
    feed = Feed()
    uri = daemon.register(feed, "feed")
    daemon.start()
    print(uri)
    print(daemon.events_url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    walk = Walk()
    status = 0
    while not stop.wait(interval / 1000.0):
        try:
            for sym, price, seq in walk.round():
                with feed.lock:
                    feed.last_prices[sym] = price
                daemon.publish("quote." + sym, {"symbol": sym, "price": price, "seq": seq})
        except roc.RocError as e:
            print("quote_feed: publish: %s" % e, file=sys.stderr)
            status = 1
            break
    daemon.shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
