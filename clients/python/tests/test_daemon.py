"""The Python daemon served in-process to Python proxies: exposure,
instance modes, exceptions, callbacks between two Python peers, limits."""
import threading
import unittest

import support  # noqa: F401
import roc


class AppError(roc.RemoteError):
    remote_type = "test.AppError"


class Greeter:
    @roc.expose
    def hello(self, name: str) -> str:
        return "hello " + name

    @roc.expose(name="bye", idempotent=True)
    def goodbye(self):
        return "bye"

    @roc.expose
    def opt(self, a, b=2):
        return a + b

    @roc.expose
    def many(self, *xs):
        return list(xs)

    @roc.expose
    def boom(self):
        raise KeyError("k")

    @roc.expose
    def app(self):
        raise AppError("with data", data={"n": 1})

    @roc.expose
    def explicit(self):
        raise roc.RemoteError("typed", type="demo.DivideByZero", data=[1, 2])

    @roc.expose
    def bad_result(self):
        return object()

    @roc.expose
    def peer(self):
        c = roc.current_call()
        return [c.object, c.method, c.peer is not None]

    @roc.expose
    def use(self, cb, x):
        return cb.twice(x) + 1

    @roc.expose
    def give(self):
        return Local()

    def hidden(self):
        return "no"


class Local:
    @roc.expose
    def twice(self, x):
        return 2 * x


@roc.behavior(instance="session")
class Counter:
    def __init__(self):
        self.n = 0

    @roc.expose
    def incr(self):
        self.n += 1
        return self.n


@roc.expose
class PerCall:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


class DaemonTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = roc.Daemon("tcp://127.0.0.1:0").start()
        cls.uri = cls.d.register(Greeter(), "greeter")
        cls.d.register(Counter, "counter")
        cls.d.register(PerCall, "percall", instance="percall")

    @classmethod
    def tearDownClass(cls):
        cls.d.shutdown()

    def test_calls(self):
        with roc.Proxy(self.uri) as g:
            self.assertEqual(g.hello("bob"), "hello bob")
            self.assertEqual(g.bye(), "bye")
            self.assertEqual(g.opt(1), 3)
            self.assertEqual(g.opt(1, 5), 6)
            self.assertEqual(g.many(1, 2, 3), [1, 2, 3])
            self.assertEqual(g.peer(), ["greeter", "peer", True])
            with self.assertRaises(roc.BadArguments):
                g.opt()
            with self.assertRaises(roc.BadArguments) as cm:
                g.hello()
            self.assertEqual(cm.exception.message, "greeter.hello takes 1 argument, got 0")
            with self.assertRaises(roc.NoSuchMethod):
                g.hidden()
            with self.assertRaises(roc.NoSuchMethod):
                g.goodbye()

    def test_exceptions(self):
        with roc.Proxy(self.uri) as g:
            with self.assertRaises(roc.RemoteError) as cm:
                g.boom()
            self.assertEqual((cm.exception.code, cm.exception.type, cm.exception.message),
                             (100, "python.KeyError", "'k'"))
            with self.assertRaises(AppError) as cm:
                g.app()
            self.assertEqual(cm.exception.data, {"n": 1})
            with self.assertRaises(roc.RemoteError) as cm:
                g.explicit()
            self.assertEqual((cm.exception.type, cm.exception.data), ("demo.DivideByZero", [1, 2]))
            with self.assertRaises(roc.Internal):
                g.bad_result()

    def test_instance_modes(self):
        a = roc.Proxy("ROC:counter@" + self.d.url)
        self.assertEqual([a.incr(), a.incr()], [1, 2])
        # another connection gets its own session: dial one directly
        from roc.connection import Connection
        c = Connection.dial(self.d.url)
        self.assertEqual(c.call("counter", "incr", []).result(5), 1)
        c.close()
        p = roc.Proxy("ROC:percall@" + self.d.url)
        self.assertEqual([p.incr(), p.incr()], [1, 1])
        a._close()
        p._close()

    def test_describe(self):
        with roc.Proxy(self.uri) as g:
            d = g._describe()
            self.assertEqual((d["id"], d["interface"], d["instance"]), ("greeter", "Greeter", "single"))
            ms = {m["name"]: m for m in d["methods"]}
            self.assertNotIn("hidden", ms)
            self.assertEqual(ms["hello"], {"name": "hello", "params": "string name",
                                           "result": "string", "nargs": 1, "flags": []})
            self.assertEqual(ms["bye"]["flags"], ["idempotent"])
            self.assertEqual(ms["many"]["nargs"], -1)
            self.assertEqual(roc.Proxy("ROC:counter@" + self.d.url)._describe()["instance"], "session")

    def test_callbacks_between_python_peers(self):
        with roc.Proxy(self.uri) as g:
            self.assertEqual(g.use(Local(), 20), 41)
            r = g.give()  # a callback the daemon exports on this connection
            self.assertIsInstance(r, roc.CallbackProxy)
            self.assertEqual(r.twice(4), 8)
            with self.assertRaises(roc.NoSuchMethod):
                r.nope()

    def test_threads(self):
        with roc.Proxy(self.uri) as g:
            out, errs = [], []

            def w(i):
                try:
                    out.append(g.hello(str(i)))
                except Exception as e:
                    errs.append(e)
            ts = [threading.Thread(target=w, args=(i,)) for i in range(100)]
            [t.start() for t in ts]
            [t.join(30) for t in ts]
            self.assertEqual(errs, [])
            self.assertEqual(sorted(out), sorted("hello %d" % i for i in range(100)))

    def test_service_connection(self):
        class Svc:
            @roc.expose
            def notify(self, x):
                return roc.current_call().peer_proxy().got(x) + 1

        class ClientSvc:
            def __init__(self):
                self.got_calls = []

            @roc.expose
            def got(self, x):
                self.got_calls.append(x)
                return x * 10

        d = roc.Daemon("tcp://127.0.0.1:0").start()
        try:
            d.register(Svc(), "service")
            cs = ClientSvc()
            with roc.connect(d.url, service=cs) as c:
                self.assertEqual(c.root.notify(4), 41)
                self.assertEqual(cs.got_calls, [4])
                self.assertEqual(c._proxy("roc.daemon").ping(), "pong")
        finally:
            d.shutdown()

    def test_ordered_calls(self):
        # @roc.behavior(ordered=True): a connection's calls on the object run
        # one at a time in the order they arrived, oneways included
        import time

        @roc.behavior(ordered=True)
        class Log:
            def __init__(self):
                self.seen = []
                self.busy = 0

            @roc.expose
            def add(self, i):
                self.busy += 1
                time.sleep(0.002 if i % 3 == 0 else 0)  # would reorder a pool
                self.seen.append(i)
                self.busy -= 1
                return self.busy

            @roc.expose
            def count(self):
                return len(self.seen)

        log = Log()
        uri = self.d.register(log, "ordered-log")
        try:
            with roc.Proxy(uri) as p:
                for i in range(200):
                    p._oneway("add", i)
                futs = [p._future("add", 200 + i) for i in range(20)]
                self.assertEqual(p.count(), 220)   # queued behind every add
                self.assertEqual([f.result() for f in futs], [0] * 20)  # never two at once
            self.assertEqual(log.seen, list(range(220)))
        finally:
            self.d.unregister("ordered-log")

    def test_register_errors(self):
        with self.assertRaises(ValueError):
            self.d.register(Greeter(), "greeter")
        with self.assertRaises(ValueError):
            self.d.register(Greeter(), "bad id")
        with self.assertRaises(TypeError):
            self.d.register(object(), "plain")
        uri = self.d.register(Greeter(), "tmp")
        self.assertIn("tmp", self.d.objects())
        self.d.unregister("tmp")
        with self.assertRaises(roc.NoSuchObject):
            roc.Proxy(uri).hello("x")


if __name__ == "__main__":
    unittest.main()
