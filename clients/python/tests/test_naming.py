"""Naming against a real roc-ns: the NameServer client, ROCNAME:/ROCMETA:
proxies over C and Python daemons, Python daemons registering themselves,
and the C side resolving a name a Python daemon registered."""
import unittest

import support
import roc
from roc import naming


class NamingTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns_srv = support.Server([support.c_binary("nameserver/roc-ns"),
                                     "--url", "tcp://127.0.0.1:0"])
        cls.ns_url = cls.ns_srv.url

    @classmethod
    def tearDownClass(cls):
        assert cls.ns_srv.stop() == 0

    def setUp(self):
        self.ns = roc.locate_ns(self.ns_url)
        self.ns.remove(prefix="")

    def tearDown(self):
        self.ns.close()

    def test_client(self):
        ns = self.ns
        self.assertEqual(ns.ping(), "pong")
        self.assertTrue(ns.uri.startswith("ROC:roc.ns@tcp://"))
        ns.register("t.a", "ROC:a@tcp://127.0.0.1:1", meta=["x", "y"])
        with self.assertRaises(naming.Exists) as cm:
            ns.register("t.a", "ROC:a@tcp://127.0.0.1:2")
        self.assertIsInstance(cm.exception, roc.NamingError)
        ns.register("t.a", "ROC:a@tcp://127.0.0.1:2", replica=True)
        self.assertEqual(ns.lookup("t.a"), "ROC:a@tcp://127.0.0.1:1")
        self.assertEqual(ns.lookup_all("t.a"), ["ROC:a@tcp://127.0.0.1:1", "ROC:a@tcp://127.0.0.1:2"])
        ns.register("t.b", roc.Proxy("ROC:b@tcp://127.0.0.1:3"), meta=["y"])
        self.assertEqual([e.name for e in ns.list("t.")], ["t.a", "t.b"])
        self.assertEqual([e.name for e in ns.list(regex="b$")], ["t.b"])
        self.assertEqual([e.name for e in ns.lookup_meta(["x", "y"])], ["t.a"])
        self.assertEqual([e.name for e in ns.lookup_meta(["x", "y"], any=True)], ["t.a", "t.b"])
        self.assertEqual(ns.count(), 2)
        ns.set_meta("t.b", ["z"])
        self.assertEqual(ns.list("t.b")[0].meta, ["z"])
        self.assertEqual(ns.remove_uri("t.a", "ROC:a@tcp://127.0.0.1:1"), 1)
        self.assertEqual(ns.remove("t.b"), 1)
        with self.assertRaises(naming.NotFound):
            ns.lookup("t.b")
        with self.assertRaises(roc.BadArguments):
            ns.register("bad name", "ROC:a@tcp://127.0.0.1:1")

    def test_rocname_to_c_and_python_daemons(self):
        c = support.c_echo_server()
        py = roc.Daemon("tcp://127.0.0.1:0").start()
        try:
            from roc.examples.echo_server import Echo
            py_uri = py.register(Echo(), "echo", name="demo.echo", meta=["py"], ns=self.ns_url)
            self.ns.register("demo.echo", c.uri, meta=["c"], replica=True)
            self.assertEqual(sorted(self.ns.lookup_all("demo.echo")), sorted([c.uri, py_uri]))
            p = roc.Proxy("ROCNAME:demo.echo@" + self.ns_url)
            # calls rotate over the two replicas
            cd = roc.Proxy("ROC:roc.daemon@" + c.url)
            c0, p0 = cd.stats()["calls"], py.stats()["calls"]
            for i in range(4):
                self.assertEqual(p.add(i, 1), i + 1)
            self.assertGreaterEqual(cd.stats()["calls"] - c0, 2 + 1)
            self.assertGreaterEqual(py.stats()["calls"] - p0, 2)
            cd._close()
            self.assertEqual(p._describe()["interface"], "echo.Echo")
            p._close()
            self.ns.register("demo.pyonly", py_uri, meta=["pyonly"])
            m = roc.Proxy("ROCMETA:pyonly@" + self.ns_url)
            self.assertEqual(m.echo("meta"), "meta")
            self.assertEqual(m._resolved_uri(), py_uri)
            m._close()
            with self.assertRaises(roc.NamingError):
                roc.Proxy("ROCNAME:nope@" + self.ns_url).x()
            with self.assertRaises(roc.NamingError):
                roc.Proxy("ROCMETA:nope@" + self.ns_url).x()
            # the C client resolves the name a Python daemon registered
            rc, out, err = support.run_c_client("ROCMETA:pyonly@" + self.ns_url, "add", "40", "2")
            self.assertEqual((rc, out), (0, "42"), err)
            py.shutdown()  # removes its URI, the C replica stays
            self.assertEqual(self.ns.lookup_all("demo.echo"), [c.uri])
            # fail over / re-bind: the name now has one live replica
            p = roc.Proxy("ROCNAME:demo.echo@" + self.ns_url)
            self.assertEqual(p.add(1, 1), 2)
            p._close()
        finally:
            py.shutdown()
            c.stop()

    def test_failover_to_live_replica(self):
        c = support.c_echo_server()
        try:
            dead = "ROC:echo@tcp://127.0.0.1:%d" % support.free_port()
            self.ns.register("demo.fo", dead)
            self.ns.register("demo.fo", c.uri, replica=True)
            p = roc.Proxy("ROCNAME:demo.fo@" + self.ns_url)
            for i in range(3):
                self.assertEqual(p.add(i, i), 2 * i)
            p._close()
        finally:
            c.stop()

    def test_env_default(self):
        import os
        old = os.environ.get("ROC_NS")
        os.environ["ROC_NS"] = self.ns_url
        try:
            ns = roc.locate_ns()
            self.assertEqual(ns.uri, "ROC:roc.ns@" + self.ns_url)
            ns.close()
        finally:
            if old is None:
                del os.environ["ROC_NS"]
            else:
                os.environ["ROC_NS"] = old

    def test_no_name_server(self):
        url = "tcp://127.0.0.1:%d" % support.free_port()
        with self.assertRaises(roc.ConnectionRefused):
            roc.locate_ns(url)
        with self.assertRaises(roc.ConnectionRefused):
            roc.Proxy("ROCNAME:x@" + url).ping()


if __name__ == "__main__":
    unittest.main()
