"""Name-server watches (NameServer.watch, roc.naming.Watch) against a real
roc-ns: the initial view then "synced", changes made by the C `roc` CLI and
by the Python client told in order, names outside the prefix not told,
nothing told after stop, a watch the name server forgot, roc-ns killed
(kill -9) and restarted on the same port ("lost", then "synced" with the
right view), fail-over along a list of name servers; and against a Python
stand-in for roc-ns that sends changes before its answer, of other watches,
at or below the answer's seq, and in bursts (held, dropped, ordered)."""
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import support
import roc

U1 = "ROC:a@tcp://127.0.0.1:1"
U2 = "ROC:a@tcp://127.0.0.1:2"
U3 = "ROC:b@tcp://127.0.0.1:3"
CHECK = 0.2   # the watches' check period in these tests (seconds)


def roc_ns(url="tcp://127.0.0.1:0", *args):
    return support.Server([support.c_binary("nameserver/roc-ns"), "--url", url,
                           "--log", "warn", "--no-announce"] + list(args))


def roc_cli(ns_url, *args):
    p = subprocess.run([support.c_binary("tools/roc"), "--ns", ns_url, "ns"] + list(args),
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("roc ns %s: %s %s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout.strip()


class Recorder:
    """A watch callback that keeps what it was told."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        self.threads = set()

    def __call__(self, event, name, uris, meta):
        with self.lock:
            self.events.append((event, name, uris, meta))
            self.threads.add(threading.current_thread().name)

    def get(self, start=0):
        with self.lock:
            return list(self.events[start:])

    def names(self, start=0):
        return [(e, n) for e, n, _, _ in self.get(start)]

    def wait(self, event, name=None, start=0, timeout=10.0):
        """Index of the first (event, name) told at or after start."""
        def found():
            for i, (e, n, _, _) in enumerate(self.get(start)):
                if e == event and (name is None or n == name):
                    return i + start + 1
            return 0
        return support.poll(found, timeout, "%s %s" % (event, name)) - 1


def put(name, uris, meta=()):
    return ("put", name, list(uris), list(meta))


def removed(name):
    return ("removed", name, [], [])


SYNCED = ("synced", None, [], [])
LOST = ("lost", None, [], [])


def watch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("roc-watch")]


class WatchTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = roc_ns()
        cls.url = cls.srv.url

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def setUp(self):
        self.ns = roc.locate_ns(self.url)
        self.ns.remove(prefix="")
        self.watches = []

    def tearDown(self):
        for w in self.watches:
            w.stop()
        self.ns.close()

    def watch(self, prefix, cb=None, **kw):
        kw.setdefault("check", CHECK)
        w = self.ns.watch(prefix, cb, **kw)
        self.watches.append(w)
        return w

    def test_initial_entries_then_synced(self):
        self.ns.register("t.a", U1, meta=["x", "y"])
        self.ns.register("t.b", U2)
        self.ns.register("t.b", U3, replica=True)
        self.ns.register("u.c", U3)
        rec = Recorder()
        w = self.watch("t.", rec)
        # told before watch() returns, on the watch's own thread
        self.assertEqual(rec.get(), [put("t.a", [U1], ["x", "y"]), put("t.b", [U2, U3]), SYNCED])
        self.assertEqual(rec.threads, {'roc-watch-tell t.'})
        self.assertEqual(w.entries(), {"t.a": ([U1], ["x", "y"]), "t.b": ([U2, U3], [])})
        self.assertTrue(w.synced)
        self.assertIsInstance(w.id, int)
        self.assertEqual(w.prefix, "t.")
        self.assertEqual(w.uri, "ROC:roc.ns@" + self.url)
        # "" watches every name; no callback: the view only
        w2 = self.watch("")
        self.assertEqual(sorted(w2.entries()), ["t.a", "t.b", "u.c"])
        self.assertNotEqual(w2.id, w.id)
        # an empty prefix of its own
        rec3 = Recorder()
        self.watch("none.", rec3)
        self.assertEqual(rec3.get(), [SYNCED])

    def test_cli_changes_in_order(self):
        rec = Recorder()
        self.watch("t.", rec)
        roc_cli(self.url, "register", "t.x", U1, "--meta", "a")
        roc_cli(self.url, "register", "o.y", U1)               # outside the prefix
        roc_cli(self.url, "register", "t.x", U2, "--replica")
        roc_cli(self.url, "meta", "t.x", "b", "c")
        roc_cli(self.url, "remove", "t.x", "--uri", U1)
        roc_cli(self.url, "register", "tx", U1)                 # "tx" is not under "t."
        roc_cli(self.url, "register", "t.z", U3, "--replace")
        roc_cli(self.url, "remove", "t.x")
        roc_cli(self.url, "remove", "o.y")
        roc_cli(self.url, "register", "t.end", U1)
        rec.wait("put", "t.end")
        self.assertEqual(rec.get(), [
            SYNCED,
            put("t.x", [U1], ["a"]),
            put("t.x", [U1, U2], ["a"]),
            put("t.x", [U1, U2], ["b", "c"]),
            put("t.x", [U2], ["b", "c"]),
            put("t.z", [U3]),
            removed("t.x"),
            put("t.end", [U1]),
        ])

    def test_python_changes_in_order(self):
        rec = Recorder()
        w = self.watch("t.", rec)
        ns = self.ns
        ns.register("t.x", U1, meta=["a"])
        ns.register("t.x", U2, replica=True)
        ns.register("o.y", U1)
        ns.set_meta("t.x", ["b"])
        self.assertEqual(ns.remove_uri("t.x", U2), 1)
        ns.register("t.x", U3, replace=True)
        self.assertEqual(ns.remove("t.x"), 1)
        # a burst: 200 changes told in the order they were made
        for i in range(100):
            ns.register("t.n%03d" % i, U1)
        self.assertEqual(ns.remove(prefix="t.n"), 100)
        ns.register("t.end", U1)
        rec.wait("put", "t.end")
        want = [SYNCED, put("t.x", [U1], ["a"]), put("t.x", [U1, U2], ["a"]),
                put("t.x", [U1, U2], ["b"]), put("t.x", [U1], ["b"]), put("t.x", [U3]),
                removed("t.x")]
        want += [put("t.n%03d" % i, [U1]) for i in range(100)]
        want += [removed("t.n%03d" % i) for i in range(100)]
        want += [put("t.end", [U1])]
        self.assertEqual(rec.get(), want)
        self.assertEqual(w.entries(), {"t.end": ([U1], [])})

    def test_nothing_told_after_stop(self):
        rec = Recorder()
        w = self.ns.watch("t.", rec, check=CHECK)
        self.ns.register("t.before", U1)
        rec.wait("put", "t.before")
        n = len(rec.get())
        self.assertTrue(watch_threads())
        w.stop()
        self.assertFalse(w._checker.is_alive() or w._deliverer.is_alive())
        self.assertTrue(w.stopped and not w.synced)
        self.assertEqual(watch_threads(), [])
        w.stop()  # again: nothing
        # changes after stop: another watch sees them, the stopped one not
        rec2 = Recorder()
        self.watch("t.", rec2)
        self.ns.register("t.after", U1)
        self.ns.remove("t.before")
        self.ns.register("t.end", U1)
        rec2.wait("put", "t.end")
        time.sleep(2 * CHECK)  # (and a check period or two: no "lost" either)
        self.assertEqual(len(rec.get()), n)
        # the name server no longer holds the stopped watch
        self.assertFalse(self.ns._call("watching", w._id))
        # as a context manager
        with self.ns.watch("t.", check=CHECK) as w3:
            self.assertEqual(sorted(w3.entries()), ["t.after", "t.end"])
        self.assertTrue(w3.stopped)

    def test_callback_errors_and_stop_from_callback(self):
        seen = []
        boom = Recorder()

        def failing(event, name, uris, meta):
            boom(event, name, uris, meta)
            if name == "t.bad":
                raise RuntimeError("on purpose")

        import logging
        logging.getLogger("roc.naming").disabled = True
        try:
            self.watch("t.", failing)
            self.ns.register("t.bad", U1)
            self.ns.register("t.good", U1)
            boom.wait("put", "t.good")  # the watch goes on after the exception
        finally:
            logging.getLogger("roc.naming").disabled = False
        holder = {}

        def stopper(event, name, uris, meta):
            seen.append((event, name))
            if name == "t.stop":
                holder["w"].stop()   # from the watch's own thread: no deadlock
        holder["w"] = w = self.watch("t.", stopper)
        self.ns.register("t.stop", U1)
        support.poll(lambda: w.stopped, 10, "stop from the callback")
        support.poll(lambda: not w._deliverer.is_alive(), 10, "the watch's thread to end")
        self.ns.register("t.later", U1)
        marker = Recorder()
        self.watch("t.", marker)
        self.ns.register("t.end", U1)
        marker.wait("put", "t.end")
        self.assertEqual(seen[-1], ("put", "t.stop"))
        self.assertNotIn(("put", "t.later"), seen)

    def test_callback_calls_name_server(self):
        # a callback may call the name server synchronously (its own thread)
        got = []
        w = None

        def cb(event, name, uris, meta):
            if event == "put":
                got.append((name, self.ns.lookup(name), sorted(w.entries()) if w else None))
        w = self.watch("t.", cb)
        self.ns.register("t.a", U1)
        support.poll(lambda: got, 10, "the callback's lookup")
        self.assertEqual(got, [("t.a", U1, ["t.a"])])

    def test_forgotten_watch_is_made_again(self):
        rec = Recorder()
        w = self.watch("t.", rec, check=60)   # checked when the test says so
        self.ns.register("t.a", U1)
        rec.wait("put", "t.a")
        old = w.id
        # the name server forgets the watch: watching() says false
        self.ns._call("unwatch", old)
        self.ns.register("t.gap", U2)       # not told by the forgotten watch...
        self.ns.remove("t.a")
        time.sleep(0.2)
        self.assertEqual(rec.get()[-1], put("t.a", [U1]))
        w._check_now()
        i = rec.wait("lost")
        j = rec.wait("synced", start=i)
        after = rec.get(i)
        # ...but found by the new watch's answer
        self.assertEqual(after, [LOST, removed("t.a"), put("t.gap", [U2]), SYNCED])
        self.assertNotEqual(w.id, old)
        self.assertTrue(w.synced)
        self.assertEqual(w.entries(), {"t.gap": ([U2], [])})
        self.ns.register("t.next", U3)
        rec.wait("put", "t.next", start=j)

    def test_bad_arguments(self):
        for bad in ("bad prefix", "x" * 256, 5):
            with self.assertRaises(ValueError):
                self.ns.watch(bad)
        with self.assertRaises(TypeError):
            self.ns.watch("t.", "not callable")
        dead = roc.NameServer("tcp://127.0.0.1:%d" % support.free_port())
        with self.assertRaises(roc.ConnectionRefused):
            dead.watch("t.")
        self.assertEqual(watch_threads(), [])


class RestartTests(unittest.TestCase):
    """roc-ns killed with kill -9 and restarted on the same port."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="roc-watch-")
        self.srv = None

    def tearDown(self):
        if self.srv is not None:
            self.srv.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self, store):
        rec = Recorder()
        args = ["--store", store] if store else []
        self.srv = roc_ns("tcp://127.0.0.1:0", *args)
        url = self.srv.url
        ns = roc.locate_ns(url)
        ns.register("t.a", U1, meta=["m"])
        ns.register("t.b", U2)
        w = ns.watch("t.", rec, check=CHECK)
        try:
            self.assertEqual(rec.get(), [put("t.a", [U1], ["m"]), put("t.b", [U2]), SYNCED])
            pid = self.srv.proc.pid
            os.kill(pid, 9)
            self.srv.proc.wait()
            self.srv.kill()
            self.srv = None
            i = rec.wait("lost")
            self.assertEqual(rec.get(i), [LOST])
            self.assertFalse(w.synced)
            # the view stays while the name server is gone
            self.assertEqual(sorted(w.entries()), ["t.a", "t.b"])
            time.sleep(3 * CHECK)  # a few checks against nothing: no more events
            self.assertEqual(rec.get(i), [LOST])
            self.srv = roc_ns(url, *args)
            self.assertEqual(self.srv.url, url)
            ns.register("t.new", U3)    # registered after the restart
            j = rec.wait("synced", start=i)
            ns.register("t.later", U1)
            rec.wait("put", "t.later", start=j)
            return rec.get(i), w.entries(), w
        finally:
            w.stop()
            ns.close()

    def test_restart_with_store(self):
        # sqlite: the restarted roc-ns has the names still
        events, view, w = self.restart("sqlite:" + os.path.join(self.dir, "ns.db"))
        # t.new may come as a change or in the new watch's answer: a put either way
        self.assertEqual(events[0], LOST)
        self.assertEqual(sorted(events[1:-1], key=str),
                         sorted([put("t.new", [U3]), SYNCED], key=str))
        self.assertEqual(events[-1], put("t.later", [U1]))
        self.assertEqual(view, {"t.a": ([U1], ["m"]), "t.b": ([U2], []),
                                "t.new": ([U3], []), "t.later": ([U1], [])})

    def test_restart_in_memory(self):
        # memory: the restarted roc-ns starts empty: the names are told removed
        events, view, w = self.restart(None)
        self.assertEqual(events[:3], [LOST, removed("t.a"), removed("t.b")])
        self.assertEqual(sorted(events[3:-1], key=str),
                         sorted([put("t.new", [U3]), SYNCED], key=str))
        self.assertEqual(events[-1], put("t.later", [U1]))
        self.assertEqual(view, {"t.new": ([U3], []), "t.later": ([U1], [])})


class FailoverTests(unittest.TestCase):
    """A NameServer given two roc-ns (each with its own registry)."""

    def setUp(self):
        self.a = roc_ns()
        self.b = roc_ns()

    def tearDown(self):
        for s in (self.a, self.b):
            if s is not None:
                s.stop()

    def test_calls_and_watch_move_to_the_next(self):
        ns = roc.NameServer("%s, %s" % (self.a.url, self.b.url), timeout=5.0)
        self.assertEqual(ns.uris, ["ROC:roc.ns@" + self.a.url, "ROC:roc.ns@" + self.b.url])
        self.assertEqual(ns.uri, ns.uris[0])
        ns.register("t.a", U1)
        ns.register("t.one", U1)
        nb = roc.locate_ns(self.b.url)
        nb.register("t.a", U1)
        nb.register("t.two", U2)
        rec = Recorder()
        w = ns.watch("t.", rec, check=CHECK)
        try:
            self.assertEqual(sorted(w.entries()), ["t.a", "t.one"])
            self.a.kill()
            self.a = None
            i = rec.wait("lost")
            rec.wait("synced", start=i)
            # told the differences between the two name servers' views
            self.assertEqual(rec.get(i), [LOST, removed("t.one"), put("t.two", [U2]), SYNCED])
            self.assertEqual(w.uri, "ROC:roc.ns@" + self.b.url)
            self.assertEqual(sorted(w.entries()), ["t.a", "t.two"])
            # the client's calls fail over too, and stay on the second
            ns.register("t.three", U3)
            rec.wait("put", "t.three")
            self.assertEqual(ns.uri, "ROC:roc.ns@" + self.b.url)
            self.assertEqual(ns.lookup("t.three"), U3)
        finally:
            w.stop()
            ns.close()
            nb.close()
        # none answers: the error says so
        dead = "tcp://127.0.0.1:%d" % support.free_port()
        ns2 = roc.NameServer([dead, dead])
        with self.assertRaises(roc.ConnectionRefused) as cm:
            ns2.ping()
        self.assertIn("none of the 2 name servers answered", str(cm.exception))
        with self.assertRaises(roc.ConnectionRefused):
            ns2.watch("t.")
        # ROC_NS takes a list as well
        old = os.environ.get("ROC_NS")
        os.environ["ROC_NS"] = dead + "," + self.b.url
        try:
            ns3 = roc.locate_ns()
            self.assertEqual(ns3.uri, "ROC:roc.ns@" + self.b.url)
            self.assertEqual(roc.Proxy("ROCNAME:t.three").__roc_ref__()[1], U3)
            ns3.close()
        finally:
            if old is None:
                del os.environ["ROC_NS"]
            else:
                os.environ["ROC_NS"] = old


class FakeNameServer:
    """A Python stand-in for roc-ns's watch methods: sends changes before
    its answer (held), of another watch and at or below the answer's seq
    (dropped), outside the prefix (ignored)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.watches = {}   # id -> watcher (a roc.CallbackProxy)
        self.next_id = 40
        self.forget = None  # a watch watching() says it does not hold
        self.seq = 100

    @roc.expose
    def watch(self, prefix, watcher):
        with self.lock:
            self.next_id += 1
            wid = self.next_id
            self.watches[wid] = watcher
            seq = self.seq
        # before the answer: the client must hold these
        watcher._oneway("put", wid + 1000, seq + 1, ["t.other", [U3], []])  # another watch
        watcher._oneway("put", wid, seq, ["t.old", [U3], []])              # seq not above
        watcher._oneway("put", wid, seq + 1, ["t.held", [U1], ["h"]])
        watcher._oneway("put", wid, seq + 2, ["x.out", [U1], []])          # not under t.
        watcher._oneway("removed", wid, seq + 3, "t.a")
        watcher._oneway("put", wid, seq + 4, ["t.empty", [], []])          # no URIs: ignored
        with self.lock:
            self.seq = seq + 4
        return [wid, seq, [["t.a", [U1], ["m"]], ["t.b", [U2], []]]]

    @roc.expose
    def watching(self, wid):
        with self.lock:
            return wid in self.watches and wid != self.forget

    @roc.expose
    def unwatch(self, wid):
        with self.lock:
            self.watches.pop(wid, None)

    @roc.expose
    def burst(self, n):
        """n changes to every watch, as fast as they go (oneway)."""
        with self.lock:
            ws = list(self.watches.items())
            seq0 = self.seq
            self.seq += n
        for wid, w in ws:
            for i in range(n):
                uri = "ROC:n@tcp://127.0.0.1:%d" % (i + 1)
                w._oneway("put", wid, seq0 + i + 1, ["t.n", [uri], []])
        return len(ws)


class FakeServerTests(unittest.TestCase):
    def setUp(self):
        self.fake = FakeNameServer()
        self.daemon = roc.Daemon("tcp://127.0.0.1:0")
        self.daemon.register(self.fake, "roc.ns")
        self.daemon.start()
        self.ns = roc.NameServer(self.daemon.url)

    def tearDown(self):
        self.ns.close()
        self.daemon.shutdown()

    @staticmethod
    def started(rec):
        """Index after the last event of a watch's start: the fake's held
        changes and "synced" (which comes before or after them)."""
        return max(rec.wait("removed", "t.a"), rec.wait("synced")) + 1

    def test_held_and_dropped(self):
        rec = Recorder()
        w = self.ns.watch("t.", rec, check=CHECK)
        try:
            rec.wait("removed", "t.a")
            got = [e for e in rec.get() if e != SYNCED]
            # (the held changes are told after the answer's names; "synced"
            # comes before or after them, as they were held or not)
            self.assertEqual(got, [put("t.a", [U1], ["m"]), put("t.b", [U2]),
                                   put("t.held", [U1], ["h"]), removed("t.a")])
            self.assertIn(SYNCED, rec.get())
            self.assertEqual(w.entries(), {"t.b": ([U2], []), "t.held": ([U1], ["h"])})
        finally:
            w.stop()
        self.assertEqual(self.fake.watches, {})  # stop unwatched

    def test_burst_told_in_order(self):
        rec = Recorder()
        w = self.ns.watch("t.", rec, check=CHECK)
        try:
            start = self.started(rec)
            n = 500
            self.assertEqual(roc.Proxy("ROC:roc.ns@" + self.daemon.url).burst(n), 1)
            support.poll(lambda: len(rec.get(start)) >= n, 10, "the burst")
            got = [e[2][0] if e[0] == "put" and e[1] == "t.n" else e for e in rec.get(start)]
            want = ["ROC:n@tcp://127.0.0.1:%d" % (i + 1) for i in range(n)]
            self.assertEqual(got, want)
        finally:
            w.stop()

    def test_watching_false(self):
        rec = Recorder()
        w = self.ns.watch("t.", rec, check=CHECK)
        try:
            first = w.id
            i = self.started(rec)
            self.fake.forget = first
            rec.wait("lost", start=i)
            rec.wait("synced", start=i)
            # the new answer has t.a and not t.held; the changes it sends
            # before it (held) put t.held and remove t.a again
            want = {"t.b": ([U2], []), "t.held": ([U1], ["h"])}
            support.poll(lambda: w.entries() == want, 10, "the view after the new watch")
            got = [e for e in rec.get(i) if e != SYNCED]
            self.assertEqual(got, [LOST, removed("t.held"), put("t.a", [U1], ["m"]),
                                   put("t.held", [U1], ["h"]), removed("t.a")])
            self.assertNotEqual(w.id, first)
            self.assertEqual(set(self.fake.watches), {first, w.id})  # (forgotten: not unwatched)
        finally:
            w.stop()


if __name__ == "__main__":
    unittest.main()
