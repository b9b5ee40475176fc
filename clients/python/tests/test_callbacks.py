"""Callbacks across languages (ext type 2): a Python object passed to a C
daemon is called back over the same connection; a C object passed to a
Python daemon is called back by Python."""
import os
import subprocess
import unittest

import support
import roc


def cb_peer():
    p = os.environ.get("ROC_CB_PEER")
    if p:
        return p
    return support.c_binary("clients/python/cb-peer")


class Sink:
    def __init__(self):
        self.seen = []

    @roc.expose
    def twice(self, x):
        self.seen.append(x)
        return 2 * x

    @roc.expose
    def fail(self):
        raise roc.RemoteError("from python", type="test.Oops")

    @roc.expose
    def where(self):
        return roc.current_call().object


class PythonCallbacksFromC(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = support.Server([cb_peer(), "serve", "tcp://127.0.0.1:0"])

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def test_callback(self):
        s = Sink()
        with roc.Proxy(self.srv.uri) as p:
            self.assertEqual(p.invoke(s, "twice", [21]), 42)
            self.assertEqual(s.seen, [21])
            self.assertTrue(p.invoke(s, "where", []).startswith("cb."))
            with self.assertRaises(roc.RemoteError) as cm:
                p.invoke(s, "fail", [])
            self.assertEqual((cm.exception.type, cm.exception.message), ("test.Oops", "from python"))
            with self.assertRaises(roc.NoSuchMethod):
                p.invoke(s, "nope", [])
            # the same object keeps its id on the connection
            self.assertEqual(p.invoke(s, "twice", [1]), 2)
            self.assertEqual(s.seen, [21, 1])


class CCallbacksFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        class User:
            @roc.expose
            def use(self, cb, x):
                return cb.twice(x)

            @roc.expose
            def greet(self, cb, x):
                return cb.hello("n%d" % x)

            @roc.expose
            def bad(self, cb, x):
                return cb.twice("not a number")

            @roc.expose
            def keep(self, cb, x):
                return [cb._object.startswith("cb."), x]

        cls.d = roc.Daemon("tcp://127.0.0.1:0").start()
        cls.uri = cls.d.register(User(), "user")

    @classmethod
    def tearDownClass(cls):
        cls.d.shutdown()

    def run_peer(self, method):
        p = subprocess.run([cb_peer(), "call", self.uri, method], capture_output=True,
                           text=True, timeout=30)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def test_callback(self):
        self.assertEqual(self.run_peer("use"), (0, "42", ""))
        self.assertEqual(self.run_peer("greet"), (0, '"hello n21"', ""))
        self.assertEqual(self.run_peer("keep"), (0, "[true,21]", ""))
        rc, _, err = self.run_peer("bad")
        self.assertEqual((rc, err), (1, "error: roc.BadArguments: twice: expected an integer"))


if __name__ == "__main__":
    unittest.main()
