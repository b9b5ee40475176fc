"""Events (nng PUB/SUB, docs/services.md section 6) across languages: the C
quote-feed -> Python subscribers; the Python daemon's publisher -> the C
quote-watch (roc_subscribe) and Python subscribers; publishers restarted;
slow, bad and fake peers on either side."""
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import msgpack

import support
import roc
from roc import events
from roc.examples.quote_feed import Walk, SYMBOLS


def walk_prices(rounds=20000):
    """{(symbol, seq): price} of the feeds' deterministic random walk."""
    w, out = Walk(), {}
    for _ in range(rounds):
        for sym, price, seq in w.round():
            out[(sym, seq)] = price
    return out


PRICES = walk_prices()


def quote_line(sym, seq):
    return "quote.%s %.2f #%d" % (sym, PRICES[(sym, seq)], seq)


class Proc:
    """A process whose stdout lines are collected by a thread."""

    def __init__(self, argv, want_lines=0, timeout=10.0):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=support.env(), text=True)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        if want_lines and not self.wait_lines(want_lines, timeout):
            self.kill()
            raise AssertionError("%s printed %r" % (argv, self.lines))

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_lines(self, n, timeout=10.0, pred=None):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.lines) < n or (pred and not pred(self.lines)):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def wait(self, timeout=10.0):
        rc = self.proc.wait(timeout)
        self.t.join(timeout)
        return rc

    def stop(self, timeout=10.0):
        support.terminate(self.proc, timeout)
        self.t.join(timeout)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def c_feed(url="tcp://127.0.0.1:0", ev="tcp://127.0.0.1:0", interval=10):
    """The C quote-feed: .lines[0] its URI, .lines[1] its event URL."""
    return Proc([support.c_binary("examples/stockquotes/quote-feed"), "--interval",
                 str(interval), url, ev], want_lines=2)


def py_feed(url="tcp://127.0.0.1:0", ev="tcp://127.0.0.1:0", interval=10):
    return Proc([sys.executable, "-m", "roc.examples.quote_feed", "--interval",
                 str(interval), url, ev], want_lines=2)


def c_watch(uri, prefix, count=None):
    pre = ["--count", str(count)] if count else []
    return Proc([support.c_binary("examples/stockquotes/quote-watch")] + pre + [uri, prefix],
                want_lines=1)


class Collector:
    """A callback that keeps (topic, value) in order."""

    def __init__(self):
        self.got = []
        self.cv = threading.Condition()
        self.threads = set()

    def __call__(self, topic, value):
        with self.cv:
            self.got.append((topic, value))
            self.threads.add(threading.current_thread().name)
            self.cv.notify_all()

    def wait(self, pred, timeout=10.0, what="events"):
        end = time.monotonic() + timeout
        with self.cv:
            while not pred(self.got):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; got %d: %r"
                                         % (what, len(self.got), self.got[-5:]))
                self.cv.wait(left)
            return list(self.got)

    def count(self, n, timeout=10.0):
        return self.wait(lambda g: len(g) >= n, timeout, "%d events" % n)

    def snapshot(self):
        with self.cv:
            return list(self.got)


def check_quotes(test, got, topics):
    """Quotes of the deterministic walk, only of those topics, each
    topic's seq numbers consecutive (in order, none lost)."""
    by = {}
    for topic, v in got:
        test.assertIn(topic, topics)
        sym = topic[len("quote."):]
        test.assertEqual(v["symbol"], sym)
        test.assertEqual(v["price"], PRICES[(sym, v["seq"])], (topic, v))
        by.setdefault(topic, []).append(v["seq"])
    for topic, seqs in by.items():
        test.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), topic)
    return by


def raw_dial(url, timeout=5.0):
    s = roc.transport.connect(url, timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return b
        b += c
    return b


def closed_by_peer(s, timeout=5.0):
    """True when the other side closes s within timeout (data discarded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            if not s.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
    return False


# ------------------------------------------------------------ C -> Python

class CPublisherPythonSubscriber(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.feed = c_feed()
        cls.uri, cls.ev = cls.feed.lines[0], cls.feed.lines[1]

    @classmethod
    def tearDownClass(cls):
        assert cls.feed.stop() == 0

    def test_prefixes_in_order(self):
        prefixes = {"quote.A": {"quote.ACME", "quote.AJAX"},
                    "quote.GLOBEX": {"quote.GLOBEX"},
                    "quote.": {"quote." + s for s in SYMBOLS},
                    "": {"quote." + s for s in SYMBOLS},
                    "nothing.": set()}
        subs = {}
        with roc.Proxy(self.uri) as feed:
            for p in prefixes:
                c = Collector()
                subs[p] = (roc.subscribe(feed, p, c), c)
        try:
            for p, (s, c) in subs.items():
                self.assertEqual(s.url, self.ev)
                self.assertTrue(s.wait_connected(5))
            for p, (s, c) in subs.items():
                if prefixes[p]:
                    c.wait(lambda g: all(sum(1 for t, _ in g if t == topic) >= 30
                                         for topic in prefixes[p]), what=p)
        finally:
            for s, _ in subs.values():
                s.close()
        for p, (s, c) in subs.items():
            got = c.snapshot()
            by = check_quotes(self, got, prefixes[p])
            self.assertEqual(set(by), prefixes[p], p)
            self.assertEqual((s.dropped, s.malformed), (0, 0))
            self.assertEqual(s.received, len(got))
            if got:                                   # the subscription's own thread
                self.assertEqual(len(c.threads), 1)
                self.assertTrue(list(c.threads)[0].startswith("roc-sub "))
            # within a round, the symbols come in the feed's order
            if p == "":
                order = [t for t, v in got if v["seq"] == got[-1][1]["seq"]]
                self.assertEqual(order, ["quote." + x for x in SYMBOLS][:len(order)])

    def test_targets(self):
        """A proxy, a URI string, a roc.connect() connection, the event URL."""
        c = Collector()
        with roc.subscribe(self.uri, "quote.ACME", c):
            c.count(3)
        with roc.connect(self.uri) as conn:
            self.assertEqual(roc.events.events_url_of(conn), self.ev)
            c2 = Collector()
            with roc.subscribe(conn, "quote.AJAX", c2) as s:
                c2.count(3)
            self.assertTrue(s.closed)
        c3 = Collector()
        with roc.subscribe_url(self.ev, b"quote.INITECH", c3):
            c3.count(3)
        check_quotes(self, c.snapshot() + c2.snapshot() + c3.snapshot(),
                     {"quote.ACME", "quote.AJAX", "quote.INITECH"})

    def test_no_callback_after_close(self):
        c = Collector()
        s = roc.subscribe(self.uri, "", c)
        c.count(5)
        s.close()
        n = len(c.snapshot())
        time.sleep(0.1)  # the feed publishes every 10 ms
        self.assertEqual(len(c.snapshot()), n)
        self.assertFalse(s._teller.is_alive())
        self.assertFalse(s._reader.is_alive())
        s.close()  # again: nothing

    def test_close_from_callback(self):
        seen = []
        box = {}

        def cb(topic, value):
            seen.append(topic)
            if len(seen) == 3:
                box["s"].close()

        ready = threading.Event()
        box["s"] = roc.subscribe(self.uri, "", lambda t, v: (ready.wait(5), cb(t, v)))
        ready.set()
        support.poll(lambda: box["s"].closed, what="close from the callback")
        time.sleep(0.1)
        self.assertEqual(len(seen), 3)
        box["s"]._reader.join(2)
        self.assertFalse(box["s"]._reader.is_alive())

    def test_callback_exception_is_logged(self):
        n = [0]

        def cb(topic, value):
            n[0] += 1
            if n[0] == 1:
                raise KeyError("on purpose")

        with self.assertLogs("roc.events", logging.ERROR) as logs:
            with roc.subscribe(self.uri, "quote.", cb) as s:
                support.poll(lambda: n[0] >= 4, what="events after the exception")
        self.assertIn("on purpose", "\n".join(logs.output))
        self.assertGreaterEqual(s.received, 4)

    def test_python_watch_example(self):
        """python -m roc.examples.quote_watch prints what the C one does."""
        w = Proc([sys.executable, "-m", "roc.examples.quote_watch", "--count", "6",
                  self.uri, "quote.A"], want_lines=1)
        self.assertEqual(w.wait(20), 0)
        self.assertEqual(w.lines[0], "* subscribed to quote.A")
        self.check_watch_lines(w.lines[1:], ("ACME", "AJAX"), 6)
        c = c_watch(self.uri, "quote.A", count=6)
        self.assertEqual(c.wait(20), 0)
        self.assertEqual(c.lines[0], "* subscribed to quote.A")
        self.check_watch_lines(c.lines[1:], ("ACME", "AJAX"), 6)

    def check_watch_lines(self, lines, syms, n):
        self.assertEqual(len(lines), n, lines)
        for line in lines:
            topic, _, seq = line.split(" ")
            self.assertIn(topic[len("quote."):], syms)
            self.assertEqual(line, quote_line(topic[len("quote."):], int(seq[1:])))

    def test_no_events(self):
        srv = support.c_echo_server()
        try:
            with self.assertRaises(roc.RocError) as cm:
                roc.subscribe(srv.uri, "", lambda t, v: None)
            self.assertIn("publishes no events", str(cm.exception))
        finally:
            srv.stop()
        with roc.Daemon() as d:
            d.start()
            with self.assertRaises(roc.RocError):
                roc.subscribe("ROC:roc.daemon@" + d.url, "", lambda t, v: None)
        with self.assertRaises(roc.ConnectionRefused):
            roc.subscribe("ROC:x@tcp://127.0.0.1:%d" % support.free_port(), "",
                          lambda t, v: None)
        with self.assertRaises(TypeError):
            roc.subscribe(self.uri, "", None)
        with self.assertRaises(ValueError):
            roc.subscribe_url("ws://127.0.0.1:1/x", "", lambda t, v: None)


class CPublisherOtherTransports(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="roc-ev-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_feed(self, ev):
        feed = c_feed(ev=ev)
        try:
            self.assertEqual(feed.lines[1], ev)
            c = Collector()
            with roc.subscribe(feed.lines[0], "quote.GLOBEX", c) as s:
                c.count(20)
            check_quotes(self, c.snapshot(), {"quote.GLOBEX"})
            self.assertEqual(s.url, ev)
        finally:
            self.assertEqual(feed.stop(), 0)

    def test_ipc(self):
        self.run_feed("ipc://" + os.path.join(self.dir, "ev.ipc"))

    def test_abstract(self):
        self.run_feed("abstract://roc-ev-test-%d" % os.getpid())


# ------------------------------------------------------------ Python -> C

class Quotes:
    @roc.expose
    def symbols(self):
        return list(SYMBOLS)


class Pump:
    """Publishes the walk's rounds on a daemon from a thread."""

    def __init__(self, daemon, interval=0.005, start_seq=0, extra=True):
        self.d, self.interval, self.extra = daemon, interval, extra
        self.walk = Walk()
        for _ in range(start_seq):
            self.walk.round()
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_ev.wait(self.interval):
            try:
                for sym, price, seq in self.walk.round():
                    self.d.publish("quote." + sym, {"symbol": sym, "price": price, "seq": seq})
                if self.extra:
                    self.d.publish("other.topic", [1, 2, 3])
                    self.d.publish("quote", "not a quote")
            except roc.RocError:
                return

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)


class PythonPublisherCSubscriber(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="roc-ev-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def serve(self, ev):
        d = roc.Daemon("tcp://127.0.0.1:0")
        uri = d.register(Quotes(), "feed")
        self.assertEqual(d.events_open(ev), d.events_url)
        d.start()
        return d, uri

    def c_watch_against(self, ev):
        d, uri = self.serve(ev)
        pump = Pump(d)
        try:
            w = c_watch(uri, "quote.A", count=30)
            self.assertEqual(w.wait(20), 0, w.lines)
        finally:
            pump.stop()
            d.shutdown()
        self.assertEqual(w.lines[0], "* subscribed to quote.A")
        lines = w.lines[1:]
        self.assertEqual(len(lines), 30)
        seqs = {}
        for line in lines:
            topic, _, seq = line.split(" ")
            sym = topic[len("quote."):]
            self.assertIn(sym, ("ACME", "AJAX"))
            self.assertEqual(line, quote_line(sym, int(seq[1:])))
            seqs.setdefault(sym, []).append(int(seq[1:]))
        for sym, s in seqs.items():
            self.assertEqual(s, list(range(s[0], s[0] + len(s))), sym)

    def test_c_quote_watch_tcp(self):
        self.c_watch_against("tcp://127.0.0.1:0")

    def test_c_quote_watch_ipc(self):
        self.c_watch_against("ipc://" + os.path.join(self.dir, "ev.ipc"))

    def test_c_quote_watch_abstract(self):
        self.c_watch_against("abstract://roc-ev-py-%d" % os.getpid())

    def test_python_feed_example(self):
        """The Python quote_feed example prints what the C one does, and
        the C quote-watch sees the same prices from either."""
        feed = py_feed()
        try:
            uri, ev = feed.lines
            self.assertTrue(uri.startswith("ROC:feed@tcp://127.0.0.1:"))
            self.assertTrue(ev.startswith("tcp://127.0.0.1:"))
            w = c_watch(uri, "quote.GLOBEX", count=5)
            self.assertEqual(w.wait(20), 0)
            self.assertEqual(len(w.lines), 6)
            for line in w.lines[1:]:
                self.assertEqual(line, quote_line("GLOBEX", int(line.split("#")[1])))
            with roc.Proxy(uri) as p:
                self.assertEqual(p.symbols(), list(SYMBOLS))
                self.assertIsInstance(p.last("ACME"), float)
                self.assertEqual(p._describe()["events"], ev)
        finally:
            self.assertEqual(feed.stop(), 0)


# ------------------------------------------------------------ Python -> Python

class PythonPublisherPythonSubscriber(unittest.TestCase):
    def setUp(self):
        self.d = roc.Daemon("tcp://127.0.0.1:0")
        self.uri = self.d.register(Quotes(), "feed")
        self.d.start()

    def tearDown(self):
        self.d.shutdown()

    def attached(self, n, d=None):
        d = d or self.d
        support.poll(lambda: d.events_stats()["subscribers"] >= n, what="%d subscribers" % n)

    def test_describe_announces_events(self):
        with roc.Proxy(self.uri) as p:
            self.assertIsNone(p._describe()["events"])
            self.assertIsNone(p._daemon().describe("roc.daemon")["events"])
            self.assertIsNone(self.d.events_stats())
            ev = self.d.events_open("tcp://127.0.0.1:0")
            self.assertNotEqual(ev, "tcp://127.0.0.1:0")
            self.assertEqual(p._daemon().describe("roc.daemon")["events"], ev)
            self.assertEqual(p._describe()["events"], ev)
        # the C CLI reads the same describe
        out = subprocess.run([support.c_binary("tools/roc"), "call", "ROC:roc.daemon@" + self.d.url,
                              "describe", '"roc.daemon"'], capture_output=True, text=True,
                             timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"events":"%s"' % ev, out.stdout.replace(" ", ""))

    def test_values_and_prefix(self):
        self.d.events_open("tcp://127.0.0.1:0", send_buffer=5000)
        other = roc.Proxy("ROC:x@tcp://10.1.2.3:9")
        values = [None, True, -1, (1 << 64) - 1, -(1 << 63), 1.5, "h\u00e9", b"\x00\xff",
                  [1, [2, [3]]], {"k": {"n": None}, 1: b"x"}, other]
        a, b, allc = Collector(), Collector(), Collector()
        sa = roc.subscribe(self.uri, "t.a", a, recv_buffer=5000)
        sb = roc.subscribe(self.uri, b"t.b", b)
        sall = roc.subscribe(self.uri, "", allc, recv_buffer=5000)
        try:
            self.attached(3)
            for i, v in enumerate(values):
                self.assertEqual(self.d.publish("t.a%d" % i, v), 3)
            for i in range(2000):
                self.d.publish("t.aseq", i)
                self.d.publish(b"t.c", i)
            self.d.publish("t.b", "only b")
            a.count(len(values) + 2000)
            allc.count(len(values) + 4001)
            b.count(1)
        finally:
            sa.close()
            sb.close()
            sall.close()
        got = a.snapshot()
        self.assertEqual([t for t, _ in got[:len(values)]],
                         ["t.a%d" % i for i in range(len(values))])
        self.assertEqual([v for _, v in got[:len(values) - 1]], values[:-1])
        self.assertIsInstance(got[len(values) - 1][1], roc.Proxy)
        self.assertEqual(got[len(values) - 1][1], other)
        self.assertEqual(got[len(values):], [("t.aseq", i) for i in range(2000)])
        self.assertEqual(b.snapshot(), [("t.b", "only b")])
        self.assertEqual(len(allc.snapshot()), len(values) + 4001)
        self.assertEqual((sa.dropped, sall.dropped, self.d.events_stats()["dropped"]), (0, 0, 0))

    def test_errors(self):
        with self.assertRaises(roc.RocError):
            self.d.publish("x", 1)                          # no endpoint yet
        with self.assertRaises(ValueError):
            self.d.events_open("ws://127.0.0.1:0/x")
        with self.assertRaises(roc.CommunicationError):
            self.d.events_open(self.d.url)                   # port taken
        ev = self.d.events_open("tcp://127.0.0.1:0")
        with self.assertRaises(roc.RocError) as cm:
            self.d.events_open("tcp://127.0.0.1:0")
        self.assertIn(ev, str(cm.exception))
        self.assertEqual(self.d.publish("x", 1), 0)         # nobody listens: fine
        with self.assertRaises(ValueError):
            self.d.publish("x" * 256, 1)
        self.d.publish("x" * 255, 1)
        with self.assertRaises(ValueError):
            self.d.publish("a\0b", 1)
        with self.assertRaises(TypeError):
            self.d.publish(5, 1)
        with self.assertRaises(TypeError):
            self.d.publish("x", object())
        with self.assertRaises(OverflowError):
            self.d.publish("x", 1 << 64)
        self.assertEqual(self.d.events_stats()["published"], 2)
        self.d.shutdown()
        with self.assertRaises(roc.RocError):
            self.d.publish("x", 1)

    def test_python_transports(self):
        tmp = tempfile.mkdtemp(prefix="roc-ev-")
        try:
            for ev in ("ipc://" + os.path.join(tmp, "e.ipc"), "abstract://roc-ev-pp-%d" % os.getpid()):
                d = roc.Daemon("tcp://127.0.0.1:0")
                uri = d.register(Quotes(), "feed")
                self.assertEqual(d.events_open(ev), ev)
                d.start()
                c = Collector()
                with roc.subscribe(uri, "q", c):
                    self.attached(1, d)
                    for i in range(100):
                        d.publish("q", i)
                    c.count(100)
                self.assertEqual(c.snapshot(), [("q", i) for i in range(100)])
                d.shutdown()
                if ev.startswith("ipc://"):
                    self.assertFalse(os.path.exists(ev[6:]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_slow_subscriber_loses_events_publisher_never_blocks(self):
        ev = self.d.events_open("tcp://127.0.0.1:0")
        stuck = raw_dial(ev)
        stuck.sendall(events.sp_header(events.SUB))       # attaches, never reads
        self.assertEqual(recv_exact(stuck, 8), events.sp_header(events.PUB))
        fast = Collector()
        with roc.subscribe(self.uri, "", fast):
            self.attached(2)
            blob = b"x" * 8192
            worst = 0.0
            t0 = time.monotonic()
            for i in range(4000):                       # 32 MiB: far more than any buffer
                t = time.monotonic()
                self.d.publish("flood", [i, blob])
                worst = max(worst, time.monotonic() - t)
            total = time.monotonic() - t0
            self.assertLess(worst, 0.5)
            self.assertLess(total, 30)
            st = self.d.events_stats()
            self.assertGreater(st["dropped"], 0)
            self.assertEqual(st["subscribers"], 2)          # the stuck one is kept, not waited for
            # the fast subscriber keeps up: the last event arrives
            fast.wait(lambda g: any(v[0] == 3999 for _, v in g), 20, "the last event")
            seen = [v[0] for _, v in fast.snapshot()]
            self.assertEqual(seen, sorted(seen))            # in order, whatever was lost
        stuck.close()

    def test_bad_subscribers_are_closed(self):
        ev = self.d.events_open("tcp://127.0.0.1:0")
        good = Collector()
        with roc.subscribe(self.uri, "", good):
            self.attached(1)
            cases = [b"GET / HTTP/1.1\r\n\r\n",                      # not SP
                     b"\x00SP\x00\x00\x10\x00\x00",                     # pair0, not SUB
                     b"\x00SP\x00\x00\x20\x00\x00",                     # another PUB
                     b"\x00SP\x00\x00\x21\x01\x00",                     # reserved bytes
                     events.sp_header(events.SUB) + b"\x00" * 9]       # a SUB that sends
            for data in cases:
                s = raw_dial(ev)
                s.sendall(data)
                self.assertEqual(recv_exact(s, 8), events.sp_header(events.PUB))
                self.assertTrue(closed_by_peer(s), data)
                s.close()
            s = raw_dial(ev)                      # attached, then sends a message
            s.sendall(events.sp_header(events.SUB))
            recv_exact(s, 8)
            self.attached(2)
            s.sendall(struct.pack(">Q", 1) + b"x")
            self.assertTrue(closed_by_peer(s))
            s.close()
            support.poll(lambda: self.d.events_stats()["subscribers"] == 1, what="1 subscriber")
            self.d.publish("still", "here")
            good.wait(lambda g: ("still", "here") in g)

    def test_handshake_timeout(self):
        pub = events.Publisher("tcp://127.0.0.1:0", handshake_timeout=0.2)
        try:
            s = raw_dial(pub.url)                 # says nothing
            self.assertEqual(recv_exact(s, 8), events.sp_header(events.PUB))
            self.assertTrue(closed_by_peer(s, 5))
            s.close()
            self.assertEqual(pub.stats()["subscribers"], 0)
        finally:
            pub.close()
        with self.assertRaises(roc.RocError):
            pub.publish("x", 1)

    def test_connect_and_daemon_targets(self):
        with self.assertRaises(roc.RocError):
            roc.subscribe(self.d, "", lambda t, v: None)
        self.d.events_open("tcp://127.0.0.1:0")
        c = Collector()
        with roc.connect(self.uri) as conn:
            with roc.subscribe(conn, "", c):
                self.attached(1)
                self.d.publish("via", "connect")
                c.count(1)
        # the first subscriber is gone before the second counts as attached
        support.poll(lambda: self.d.events_stats()["subscribers"] == 0,
                     what="the first subscriber to leave")
        with roc.subscribe(self.d, "", c):
            self.attached(1)
            self.d.publish("via", "daemon")
            c.count(2)
        self.assertEqual(c.snapshot(), [("via", "connect"), ("via", "daemon")])

    def test_big_events(self):
        """Events over a Python subscriber's max_size close its stream (it
        redials); max_size=None takes any size, as libroc's subscriber."""
        self.d.events_open("tcp://127.0.0.1:0")
        small, unlimited = Collector(), Collector()
        with roc.subscribe(self.d, "", small, max_size=1000, reconnect=0.02) as s1, \
                roc.subscribe(self.d, "", unlimited, max_size=None):
            self.attached(2)
            self.d.publish("big", b"x" * 5000)
            unlimited.count(1)
            support.poll(lambda: s1.connects >= 2 and self.d.events_stats()["subscribers"] == 2,
                         what="the small one to redial")
            self.d.publish("small", 1)
            small.count(1)
            unlimited.count(2)
        self.assertEqual(small.snapshot(), [("small", 1)])
        self.assertEqual(unlimited.snapshot(), [("big", b"x" * 5000), ("small", 1)])


# ------------------------------------------------------------ restarts

class Restarts(unittest.TestCase):
    def test_c_publisher_restarts(self):
        port, evport = support.free_port(), support.free_port()
        url, ev = "tcp://127.0.0.1:%d" % port, "tcp://127.0.0.1:%d" % evport
        feed = c_feed(url, ev)
        c = Collector()
        s = roc.subscribe(feed.lines[0], "quote.ACME", c, reconnect=0.05)
        try:
            c.count(10)
            feed.kill()                                   # kill -9: the stream just breaks
            support.poll(lambda: not s.connected, what="the subscription to notice")
            before = c.snapshot()
            feed = c_feed(url, ev)                        # restarts at seq 1
            t0 = time.monotonic()
            c.wait(lambda g: len(g) > len(before) + 3, what="events of the new feed")
            took = time.monotonic() - t0
            got = c.snapshot()[len(before):]
            check_quotes(self, got, {"quote.ACME"})
            self.assertGreaterEqual(s.connects, 2)
            self.assertLess(took, 5)
        finally:
            s.close()
            feed.stop()

    def test_python_publisher_restarts(self):
        """A Python publisher restarted on the same ports: the C quote-watch
        (nng redials) and a Python subscriber both resume."""
        port, evport = support.free_port(), support.free_port()
        url, ev = "tcp://127.0.0.1:%d" % port, "tcp://127.0.0.1:%d" % evport

        def start(first_seq):
            d = roc.Daemon(url)
            uri = d.register(Quotes(), "feed")
            d.events_open(ev)
            d.start()
            return d, uri, Pump(d, start_seq=first_seq, extra=False)

        d, uri, pump = start(0)
        c = Collector()
        s = roc.subscribe(uri, "quote.A", c, reconnect=0.05)
        w = c_watch(uri, "quote.A")
        try:
            c.count(10)
            self.assertTrue(w.wait_lines(11))
            pump.stop()
            d.shutdown()
            support.poll(lambda: not s.connected, what="the subscription to notice")
            d, uri2, pump = start(5000)                   # seq 5001 on
            self.assertEqual(uri2, uri)
            c.wait(lambda g: g[-1][1]["seq"] > 5000, what="events after the restart")
            self.assertTrue(w.wait_lines(11, 10, lambda ls: int(ls[-1].split("#")[1]) > 5000),
                            w.lines[-3:])
            got = c.snapshot()
            old = [x for x in got if x[1]["seq"] <= 5000]
            new = [x for x in got if x[1]["seq"] > 5000]
            check_quotes(self, old, {"quote.ACME", "quote.AJAX"})
            check_quotes(self, new, {"quote.ACME", "quote.AJAX"})
            for line in w.lines[1:]:
                sym = line.split(" ")[0][len("quote."):]
                self.assertEqual(line, quote_line(sym, int(line.split("#")[1])))
        finally:
            s.close()
            self.assertEqual(w.stop(), 0)
            pump.stop()
            d.shutdown()


# ------------------------------------------------------------ fake publishers

class FakePublisher:
    """A listener the subscription dials; each accept() checks the SUB
    header and hands the stream to the test."""

    def __init__(self, url):
        self.lis = roc.transport.listen(url)
        self.url = self.lis.url
        self.lis.sock.settimeout(10)

    def accept(self, answer=True):
        s = self.lis.accept()
        s.settimeout(10)
        hdr = recv_exact(s, 8)
        assert hdr == b"\x00SP\x00\x00\x21\x00\x00", hdr
        if answer:
            s.sendall(events.sp_header(events.PUB))
        return s

    def close(self):
        self.lis.close()


def msg(topic, value_bytes):
    return topic + b"\0" + value_bytes


class GarbageFromPublishers(unittest.TestCase):
    def check(self, url):
        ipc = not url.startswith("tcp")
        head = (lambda n: b"\x01" + struct.pack(">Q", n)) if ipc else (lambda n: struct.pack(">Q", n))
        fake = FakePublisher(url)
        c = Collector()
        s = roc.subscribe_url(fake.url, "", c, reconnect=0.02)
        try:
            # not an SP peer, a REQ peer, reserved bytes set: closed, redialed
            for hdr in (b"HTTP/1.1 400 Bad\r\n\r\n", b"\x00SP\x00\x00\x30\x00\x00",
                        b"\x00SP\x00\x00\x20\x00\x01"):
                conn = fake.accept(answer=False)
                conn.sendall(hdr)
                self.assertTrue(closed_by_peer(conn), hdr)
                conn.close()
            self.assertEqual(s.connects, 0)
            # attached: messages that are not events are dropped, the stream stays
            conn = fake.accept()
            support.poll(lambda: s.connected, what="attached")
            bad = [b"no nul at all",
                   msg(b"t", b"\xc1"),                          # never-used msgpack byte
                   msg(b"t", msgpack.packb(1) + b"\x01"),        # trailing bytes
                   msg(b"t", b"\xa2\xff\xfe"),                   # str that is not UTF-8
                   msg(b"t", msgpack.packb(msgpack.ExtType(9, b"x"))),
                   msg(b"t", b"\x91" * 100 + b"\xc0"),           # nested 100 deep
                   msg(b"t", b""),                               # no value
                   msg(b"t", msgpack.packb(msgpack.ExtType(1, b"")))]   # empty reference
            good = [msg(b"ok", msgpack.packb(1)),
                    msg(b"\xff\xfe", msgpack.packb("topic not UTF-8")),
                    msg(b"ok", msgpack.packb({"a": [1, 2]})),
                    b""]                                          # empty: "" prefix, no NUL
            data = b"".join(head(len(m)) + m for m in bad + good[:3] + good[3:])
            for i in range(0, len(data), 7):                    # in small pieces
                conn.sendall(data[i:i + 7])
            c.count(3)
            support.poll(lambda: s.malformed == len(bad) + 1, what="malformed counted")
            got = c.snapshot()
            self.assertEqual(got, [("ok", 1), ("\udcff\udcfe", "topic not UTF-8"),
                                   ("ok", {"a": [1, 2]})])
            self.assertTrue(s.connected)
            if ipc:                                              # a message type other than 1
                conn.sendall(b"\x02" + struct.pack(">Q", 1) + b"x")
            else:                                                # 2^63 bytes announced
                conn.sendall(struct.pack(">Q", 1 << 63))
            self.assertTrue(closed_by_peer(conn))
            conn.close()
            # over the size limit, then a stream cut in the middle of a message
            conn = fake.accept()
            conn.sendall(head(events.MAX_SIZE + 1) + b"x" * 100)
            self.assertTrue(closed_by_peer(conn))
            conn.close()
            conn = fake.accept()
            conn.sendall(head(100) + b"half")
            conn.close()
            conn = fake.accept()
            last = msg(b"last", msgpack.packb(True))
            conn.sendall(head(len(last)) + last + head(3)[:3])   # and half a header
            c.count(4)
            self.assertEqual(c.snapshot()[-1], ("last", True))
            self.assertTrue(s._reader.is_alive() and s._teller.is_alive())
            self.assertGreaterEqual(s.connects, 4)
            conn.close()
        finally:
            s.close()
            fake.close()
        self.assertFalse(s._reader.is_alive() or s._teller.is_alive())

    def test_tcp(self):
        self.check("tcp://127.0.0.1:0")

    def test_ipc(self):
        tmp = tempfile.mkdtemp(prefix="roc-ev-")
        try:
            self.check("ipc://" + os.path.join(tmp, "fake.ipc"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_prefix_filter_before_decoding(self):
        """Messages outside the prefix are skipped unread, garbage included."""
        fake = FakePublisher("tcp://127.0.0.1:0")
        c = Collector()
        s = roc.subscribe_url(fake.url, "keep", c)
        try:
            conn = fake.accept()
            for m in (b"drop garbage", msg(b"keep.1", msgpack.packb(1)), msg(b"kee", b"\xc1"),
                      msg(b"keep.2", msgpack.packb(2))):
                conn.sendall(struct.pack(">Q", len(m)) + m)
            c.count(2)
            self.assertEqual(c.snapshot(), [("keep.1", 1), ("keep.2", 2)])
            self.assertEqual(s.malformed, 0)
            conn.close()
        finally:
            s.close()
            fake.close()


if __name__ == "__main__":
    unittest.main()
