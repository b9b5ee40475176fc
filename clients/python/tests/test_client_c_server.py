"""Python proxy -> C daemon (examples/echo/echo-server), and the same
tests against the Python echo_server (ServerPy), so that both daemons pass
one conformance suite."""
import os
import subprocess
import tempfile
import threading
import time
import unittest

import support
import roc


class EchoServerTests:
    """Mixin: self.start_server(url) -> support.Server."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_server("tcp://127.0.0.1:0")

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "the server exited with %r" % rc

    def proxy(self, obj="echo", **kw):
        return roc.Proxy("ROC:%s@%s" % (obj, self.srv.url), **kw)

    def test_methods(self):
        with self.proxy() as p:
            self.assertEqual(p.add(40, 2), 42)
            self.assertEqual(p.add(1.5, 2), 3.5)
            self.assertEqual(p.add(-2**62, -2**62), -2**63)
            v = {"a": [1, b"\x00x", None, 2**64 - 1, -2**63, "h\u00e9\0", 1.5, True, False],
                 "b": {}, "": [], 7: "int key"}
            self.assertEqual(p.echo(v), v)
            self.assertIsNone(p.sleep(1))
            self.assertEqual(p.echo(b"z" * (1 << 20)), b"z" * (1 << 20))
            r = p.echo(roc.Proxy("ROC:calc@tcp://10.0.0.5:9100"))
            self.assertIsInstance(r, roc.Proxy)
            self.assertEqual(r._uri, "ROC:calc@tcp://10.0.0.5:9100")

    def test_errors(self):
        with self.proxy() as p:
            with self.assertRaises(roc.RemoteError) as cm:
                p.fail("on purpose")
            e = cm.exception
            self.assertEqual((e.code, e.type, e.message, e.data), (100, "echo.Failure", "on purpose", None))
            with self.assertRaises(roc.NoSuchMethod):
                p.nosuch()
            with self.assertRaises(roc.BadArguments) as cm:
                p.add(1)
            self.assertEqual(cm.exception.message, "echo.add takes 2 arguments, got 1")
            with self.assertRaises(roc.BadArguments):
                p.add("a", 1)
            with self.assertRaises(roc.BadArguments):
                p.add(2**63 - 1, 1)
            with self.assertRaises(roc.NoSuchObject):
                self.proxy("nope").x()
            with self.assertRaises(TypeError):
                p.echo(x=1)
            with self.assertRaises(OverflowError):
                p.echo(2**64)
            self.assertEqual(p.add(1, 1), 2)  # the connection survived all that

    def test_timeout_and_cancel(self):
        with self.proxy() as p:
            t0 = time.monotonic()
            with self.assertRaises(roc.Timeout):
                p._call("sleep", 10000, timeout=0.2)
            self.assertLess(time.monotonic() - t0, 5)
            f = p._future("sleep", 10000, timeout=None)
            self.assertTrue(f.cancel())
            self.assertEqual(p.add(2, 2), 4)
            p._timeout = 0.1
            with self.assertRaises(roc.Timeout):
                p.sleep(10000)
            p._timeout = 10
            self.assertEqual(p.echo("after"), "after")

    def test_oneway(self):
        with self.proxy() as p:
            d = p._daemon()
            before = d.stats()["oneways"]
            p._oneway("echo", "x")
            p.sleep.oneway(1)
            p._oneway("nosuch", 1)  # no error, ever
            support.poll(lambda: d.stats()["oneways"] >= before + 2, what="oneways")
            d._close()

    def test_futures_and_threads(self):
        with self.proxy() as p:
            fs = [p._future("add", i, i) for i in range(200)]
            self.assertEqual([f.result(10) for f in fs], [2 * i for i in range(200)])
            results, errs = {}, []

            def worker(i):
                try:
                    results[i] = p.echo([i, "x" * i])
                except Exception as e:
                    errs.append(e)
            ts = [threading.Thread(target=worker, args=(i,)) for i in range(100)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            self.assertEqual(errs, [])
            self.assertEqual(results, {i: [i, "x" * i] for i in range(100)})

    def test_describe(self):
        with self.proxy() as p:
            d = p._describe()
            self.assertEqual(d["id"], "echo")
            self.assertEqual(d["interface"], "echo.Echo")
            self.assertEqual(d["instance"], "single")
            self.assertFalse(d["serialized"])
            ms = {m["name"]: m for m in d["methods"]}
            self.assertEqual(sorted(ms), ["add", "echo", "fail", "sleep"])
            self.assertEqual(ms["add"]["nargs"], 2)
            self.assertEqual(ms["add"]["params"], "number a, number b")
            self.assertIn("blocking", ms["sleep"]["flags"])
            dd = p._daemon()
            self.assertEqual(dd.ping(), "pong")
            self.assertEqual(sorted(dd.objects()), ["echo", "roc.daemon"])
            st = dd.stats()
            for k in ("calls", "errors", "oneways", "connections", "accepted", "protocol_errors"):
                self.assertIsInstance(st[k], int)
            self.assertIsInstance(st["uptime_s"], float)
            self.assertEqual(st["url"], self.srv.url)
            rd = dd.describe("roc.daemon")
            self.assertEqual(rd["interface"], "roc.Daemon")
            self.assertIn("interface Daemon", rd["idl"])
            with self.assertRaises(roc.NoSuchObject):
                dd.describe("nope")
            with self.assertRaises(roc.BadArguments):
                dd.describe(1)
            with self.assertRaises(roc.BadArguments):
                dd.ping(1)
            dd._close()

    def test_ping(self):
        with self.proxy() as p:
            self.assertLess(p._ping(), 5)


class ServerC(EchoServerTests, unittest.TestCase):
    start_server = staticmethod(support.c_echo_server)


class ServerPy(EchoServerTests, unittest.TestCase):
    start_server = staticmethod(support.py_echo_server)


class Restart:
    def test_reconnect_after_restart(self):
        port = support.free_port()
        url = "tcp://127.0.0.1:%d" % port
        srv = self.start_server(url)
        p = roc.Proxy("ROC:echo@" + url, timeout=10)
        try:
            self.assertEqual(p.add(1, 2), 3)
            f = p._future("sleep", 10000)
            srv.kill()
            with self.assertRaises(roc.ConnectionClosed):
                f.result(10)  # in flight when the server died: never resent
            with self.assertRaises(roc.ConnectionRefused):
                p.add(1, 2)
            srv = self.start_server(url)
            self.assertEqual(p.add(2, 3), 5)  # the next call redials
        finally:
            p._close()
            srv.stop()

    def test_ipc(self):
        d = tempfile.mkdtemp()
        url = "ipc://" + os.path.join(d, "echo.sock")
        srv = self.start_server(url)
        try:
            with roc.Proxy(srv.uri) as p:
                self.assertEqual(p.add(40, 2), 42)
                self.assertEqual(p._describe()["id"], "echo")
        finally:
            srv.stop()

    def test_abstract(self):
        url = "abstract://roc-py-test-%d" % os.getpid()
        srv = self.start_server(url)
        try:
            with roc.Proxy(srv.uri) as p:
                self.assertEqual(p.add(40, 2), 42)
        finally:
            srv.stop()


class RestartC(Restart, unittest.TestCase):
    start_server = staticmethod(support.c_echo_server)

    def test_ws(self):
        port = support.free_port()
        srv = self.start_server("ws://127.0.0.1:%d/roc" % port)
        try:
            with roc.Proxy(srv.uri) as p:
                self.assertEqual(p.add(40, 2), 42)
                big = b"w" * (300 * 1024)
                self.assertEqual(p.echo(big), big)
                self.assertEqual(p._describe()["id"], "echo")
        finally:
            srv.stop()


class RestartPy(Restart, unittest.TestCase):
    start_server = staticmethod(support.py_echo_server)


class DivideByZero(roc.RemoteError):
    """demo.DivideByZero of examples/calculator/calc.roc: data is its one
    field, [dividend]."""
    remote_type = "demo.DivideByZero"


class CalculatorC(unittest.TestCase):
    """Python proxy -> the C calculator generated from IDL
    (examples/calculator: calc-server serves demo.Calculator as "calc" and
    prints its URI)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = support.Server([support.c_binary("examples/calculator/calc-server"),
                                  "tcp://127.0.0.1:0"])

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "calc-server exited with %r" % rc

    def test_uri(self):
        self.assertTrue(self.srv.uri.startswith("ROC:calc@tcp://127.0.0.1:"), self.srv.uri)

    def test_methods(self):
        with roc.Proxy(self.srv.uri) as calc:
            self.assertEqual(calc.add(40, 2), 42)
            self.assertEqual(calc.add(-2**62, -2**62), -2**63)
            self.assertEqual(calc.multiply(6, 7), 42)
            self.assertEqual(calc.divide(1.0, 4.0), 0.25)
            self.assertEqual(calc.divide(1, 4), 0.25)          # ints become f64 (the IDL's type)
            self.assertEqual(calc._future("multiply", -3, 5).result(10), -15)

    def test_typed_exception(self):
        with roc.Proxy(self.srv.uri) as calc:
            with self.assertRaises(DivideByZero) as cm:
                calc.divide(3.5, 0.0)
            e = cm.exception
            self.assertIsInstance(e, roc.RemoteError)
            self.assertEqual((e.code, e.type, e.message, e.data),
                             (100, "demo.DivideByZero", "3.5 / 0", [3.5]))
            # the connection goes on after an application error
            self.assertEqual(calc.add(1, 1), 2)

    def test_typed_arguments_checked_by_the_stubs(self):
        with roc.Proxy(self.srv.uri) as calc:
            with self.assertRaises(roc.BadArguments) as cm:
                calc.add("a", 1)
            self.assertEqual(cm.exception.message,
                             "demo.Calculator.add: parameter 'a': expected i64, got str")
            with self.assertRaises(roc.BadArguments):
                calc.add(2**63, 1)                             # above i64
            with self.assertRaises(roc.BadArguments):
                calc.add(1)
            with self.assertRaises(roc.NoSuchMethod):
                calc.subtract(1, 1)

    def test_describe_has_the_idl(self):
        with roc.Proxy(self.srv.uri) as calc:
            d = calc._describe()
            self.assertEqual((d["id"], d["interface"]), ("calc", "demo.Calculator"))
            self.assertEqual([(m["name"], m["params"], m["result"]) for m in d["methods"]],
                             [("add", "i64 a, i64 b", "i64"),
                              ("multiply", "i64 a, i64 b", "i64"),
                              ("divide", "f64 a, f64 b", "f64")])
            with open(os.path.join(support.ROOT, "examples/calculator/calc.roc")) as f:
                self.assertEqual(d["idl"], f.read())
            self.assertEqual(sorted(calc._methods()), ["add", "divide", "multiply"])


class Calculator:
    """demo.Calculator served from Python, for the C stubs of calc-client."""

    @roc.expose(params="i64 a, i64 b", result="i64")
    def add(self, a, b):
        return a + b

    @roc.expose(params="i64 a, i64 b", result="i64")
    def multiply(self, a, b):
        return a * b

    @roc.expose(params="f64 a, f64 b", result="f64")
    def divide(self, a, b):
        if b == 0:
            raise DivideByZero("%g / 0" % a, data=[float(a)])
        return a / b


class CalculatorPy(unittest.TestCase):
    """The other way: the C client generated from the same IDL
    (examples/calculator/calc-client) -> a Python daemon serving
    demo.Calculator, typed exception included; its output is compared with
    the same client against the C calc-server."""

    EXPECTED = ("40 + 2 = 42\n6 * 7 = 42\n1 / 4 = 0.25\n"
                "1 / 0 raised demo.DivideByZero (dividend 1): 1 / 0")

    def run_client(self, uri):
        p = subprocess.run([support.c_binary("examples/calculator/calc-client"), uri],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def test_c_stubs_to_python_daemon(self):
        with open(os.path.join(support.ROOT, "examples/calculator/calc.roc")) as f:
            idl = f.read()
        d = roc.Daemon("tcp://127.0.0.1:0")
        uri = d.register(Calculator(), "calc", interface="demo.Calculator", idl=idl)
        d.start()
        try:
            self.assertEqual(self.run_client(uri), (0, self.EXPECTED, ""))
        finally:
            d.shutdown()

    def test_c_stubs_to_c_daemon(self):
        srv = support.Server([support.c_binary("examples/calculator/calc-server"),
                              "tcp://127.0.0.1:0"])
        try:
            self.assertEqual(self.run_client(srv.uri), (0, self.EXPECTED, ""))
        finally:
            self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()
