"""C client (examples/echo/echo-client) -> Python daemon
(python3 -m roc.examples.echo_server), compared with the C daemon: the
same command lines must print the same results and errors."""
import json
import subprocess
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

    # the C CLI, `roc call URI METHOD [JSON ARG...]` (tools/roc.c): the
    # result as JSON on stdout, "roc: TYPE: message" on stderr and status 1
    # for a remote error
    ROC_CALL_CASES = [
        (["add", "40", "2"], 0, "42"),
        (["add", "1.5", "2"], 0, "3.5"),
        (["echo", '{"a":[1,null,true,"h\u00e9",{"b":-7}]}'], 0, '{"a":[1,null,true,"h\u00e9",{"b":-7}]}'),
        (["echo", '"text"'], 0, '"text"'),
        (["sleep", "1"], 0, "null"),
        (["fail", '"on purpose"'], 1, "roc: echo.Failure: on purpose"),
        (["nosuch"], 1, "roc: roc.NoSuchMethod: object 'echo' has no method 'nosuch'"),
        (["add", "1"], 1, "roc: roc.BadArguments: echo.add takes 2 arguments, got 1"),
        (["add", "9223372036854775807", "1"], 1,
         "roc: roc.BadArguments: add: 9223372036854775807 + 1 overflows int64"),
    ]

    def roc_cli(self, *args, timeout=30.0):
        p = subprocess.run([support.c_binary("tools/roc")] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def test_roc_call(self):
        uri = "ROC:echo@" + self.srv.url
        for args, rc, out in self.ROC_CALL_CASES:
            got = self.roc_cli("call", uri, *args)
            self.assertEqual(got[0], rc, (args, got))
            self.assertEqual(got[1] if rc == 0 else got[2], out, (args, got))
            if rc:
                self.assertEqual(got[1], "", args)

    def test_roc_call_errors(self):
        rc, out, err = self.roc_cli("--timeout", "200", "call", "ROC:echo@" + self.srv.url,
                                    "sleep", "10000")
        self.assertEqual((rc, out), (1, ""))
        self.assertTrue(err.startswith("roc: roc.Timeout"), err)
        rc, _, err = self.roc_cli("call", "ROC:nope@" + self.srv.url, "x")
        self.assertEqual((rc, err), (1, "roc: roc.NoSuchObject: no object 'nope' on this daemon"))

    def test_roc_ping_introspect_stats(self):
        uri = "ROC:echo@" + self.srv.url
        self.assertEqual(self.roc_cli("ping", uri)[:2], (0, "pong from " + self.srv.url))
        self.assertEqual(self.roc_cli("call", "ROC:roc.daemon@" + self.srv.url, "ping")[:2],
                         (0, '"pong"'))
        rc, out, err = self.roc_cli("introspect", uri)
        self.assertEqual((rc, out), (0, "/* echo: no IDL; methods as described */\n"
                                        "interface echo.Echo {\n"
                                        "    any echo(any x);\n"
                                        "    number add(number a, number b);\n"
                                        "    void sleep(i64 ms);\n"
                                        "    void fail(string message);\n"
                                        "}"), err)
        rc, out, err = self.roc_cli("--json", "stats", uri)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["url"], self.srv.url)

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
