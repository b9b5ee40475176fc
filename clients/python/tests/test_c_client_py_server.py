"""C client (examples/echo/echo-client) -> Python daemon
(python3 -m roc.examples.echo_server), compared with the C daemon: the
same command lines must print the same results and errors."""
import json
import unittest

import support

CASES = [
    (["add", "40", "2"], 0, "42"),
    (["add", "1.5", "2"], 0, "3.5"),
    (["echo", '{"a":[1,{"$bytes":"Zm9v"},null,{"$u64":"18446744073709551615"},'
              '-9223372036854775808,"h\u00e9",1.5,true,{"$ref":"ROC:x@tcp://1.2.3.4:5"}]}'],
     0, '{"a":[1,{"$bytes":"Zm9v"},null,{"$u64":"18446744073709551615"},'
        '-9223372036854775808,"h\u00e9",1.5,true,{"$ref":"ROC:x@tcp://1.2.3.4:5"}]}'),
    (["sleep", "1"], 0, "null"),
    (["fail", '"on purpose"'], 1, "error: echo.Failure: on purpose"),
    (["nosuch"], 1, "error: roc.NoSuchMethod: object 'echo' has no method 'nosuch'"),
    (["add", "1"], 1, "error: roc.BadArguments: echo.add takes 2 arguments, got 1"),
    (["add", '"a"', "1"], 1, "error: roc.BadArguments: add: expected integers, got str and int"),
    (["add", "9223372036854775807", "1"], 1,
     "error: roc.BadArguments: add: 9223372036854775807 + 1 overflows int64"),
    (["fail", "1"], 1, "error: roc.BadArguments: fail: expected a string message"),
]


class CClientTests:
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_server()

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def call(self, *args, obj="echo", timeout=None):
        pre = ["--timeout", str(timeout)] if timeout else []
        return support.run_c_client(*pre, "ROC:%s@%s" % (obj, self.srv.url), *args)

    def test_cases(self):
        for args, rc, out in CASES:
            got_rc, got_out, got_err = self.call(*args)
            self.assertEqual(got_rc, rc, (args, got_out, got_err))
            self.assertEqual(got_out if rc == 0 else got_err, out, args)

    def test_timeout(self):
        rc, out, err = self.call("sleep", "10000", timeout=200)
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith("error: roc.Timeout"), err)

    def test_no_such_object(self):
        rc, out, err = self.call("x", obj="nope")
        self.assertEqual((rc, err), (1, "error: roc.NoSuchObject: no object 'nope' on this daemon"))

    def test_daemon_object(self):
        rc, out, _ = self.call("ping", obj="roc.daemon")
        self.assertEqual((rc, out), (0, '"pong"'))
        rc, out, _ = self.call("objects", obj="roc.daemon")
        self.assertEqual(sorted(json.loads(out)), ["echo", "roc.daemon"])
        rc, out, _ = self.call("describe", '"echo"', obj="roc.daemon")
        d = json.loads(out)
        self.maxDiff = None
        # receivers ignore keys they do not know (docs/wire.md section 11)
        self.assertEqual({k: d[k] for k in self.EXPECTED_DESCRIBE}, self.EXPECTED_DESCRIBE)
        rc, out, _ = self.call("describe", '"roc.daemon"', obj="roc.daemon")
        self.assertEqual(json.loads(out)["interface"], "roc.Daemon")
        rc, out, _ = self.call("stats", obj="roc.daemon")
        st = json.loads(out)
        self.assertEqual(sorted(st), sorted(["calls", "errors", "oneways", "connections",
                                             "accepted", "protocol_errors", "uptime_s", "url"]))
        self.assertEqual(st["url"], self.srv.url)
        rc, _, err = self.call("describe", '"nope"', obj="roc.daemon")
        self.assertEqual(err, "error: roc.NoSuchObject: no object 'nope' on this daemon")
        rc, _, err = self.call("describe", "1", obj="roc.daemon")
        self.assertEqual(err, "error: roc.BadArguments: describe(object_id): object_id must be a string")
        rc, _, err = self.call("ping", "1", obj="roc.daemon")
        self.assertEqual(err, "error: roc.BadArguments: roc.daemon.ping takes 0 arguments, got 1")

    EXPECTED_DESCRIBE = {
        "id": "echo", "interface": "echo.Echo", "idl": None, "instance": "single",
        "serialized": False,
        "methods": [
            {"name": "echo", "params": "any x", "result": "any", "nargs": 1, "flags": []},
            {"name": "add", "params": "number a, number b", "result": "number", "nargs": 2, "flags": []},
            {"name": "sleep", "params": "i64 ms", "result": "void", "nargs": 1, "flags": ["blocking"]},
            {"name": "fail", "params": "string message", "result": "void", "nargs": 1, "flags": []},
        ]}


class PyDaemon(CClientTests, unittest.TestCase):
    start_server = staticmethod(support.py_echo_server)


class CDaemon(CClientTests, unittest.TestCase):
    """The reference: the same expectations against the C daemon."""
    start_server = staticmethod(support.c_echo_server)


if __name__ == "__main__":
    unittest.main()
