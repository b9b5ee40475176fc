"""Malformed input, byte by byte, against the Python daemon and the C
daemon alike (the table of tests/test_malformed.c): one error frame with
the right code and id, then the connection closes."""
import struct
import unittest
from concurrent.futures import ThreadPoolExecutor

import support
import msgpack

import roc

HELLO = bytes.fromhex("00000009 93 01 00 81 a1 76 92 01 01")


def fr(body):
    return struct.pack(">I", len(body)) + body


def call(*elems):
    return fr(msgpack.packb(list(elems), use_bin_type=True))


DEEP = b"\x97\x01\x01\x0b\xa1t\xa4echo\x91" + b"\x91" * 998 + b"\x90\x80"
PE, TOOBIG = (4, "roc.ProtocolError"), (5, "roc.MessageTooLarge")

# (name, hello first, bytes, (code, type), id)
CASES = [
    ("length 0 before hello", False, b"\0\0\0\0", PE, 0),
    ("length 0 after hello", True, b"\0\0\0\0", PE, 0),
    ("length 16 MiB + 1", True, struct.pack(">I", (16 << 20) + 1) + b"\x93", TOOBIG, 0),
    ("length 4 GiB - 1 before hello", False, b"\xff\xff\xff\xff", TOOBIG, 0),
    ("HTTP request instead of ROC", False, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", TOOBIG, 0),
    ("garbage body before hello", False, fr(b"\xc1\xc1\xc1"), PE, 0),
    ("garbage body", True, fr(b"\xc1\xc1\xc1"), PE, 0),
    ("envelope not an array", True, fr(b"\x2a"), PE, 0),
    ("envelope a map", True, fr(b"\x81\x01\x02"), PE, 0),
    ("empty envelope", True, fr(b"\x90"), PE, 0),
    ("trailing bytes", True, fr(b"\x93\x01\x06\x01\x01"), PE, 0),
    ("truncated string", True, fr(b"\x97\x01\x01\x05\xa4echo\xa5ad"), PE, 5),
    ("truncated array", True, fr(b"\x97\x01\x01\x05\xa4echo\xa3add\x92\x01"), PE, 5),
    ("hello speaking only v2..3", False, fr(b"\x93\x01\x00\x81\xa1v\x92\x02\x03"), PE, 0),
    ("hello speaking only v0", False, fr(b"\x93\x01\x00\x81\xa1v\x92\x00\x00"), PE, 0),
    ("hello without v", False, fr(b"\x93\x01\x00\x80"), PE, 0),
    ("hello with v not a range", False, fr(b"\x93\x01\x00\x81\xa1v\x01"), PE, 0),
    ("hello envelope of version 2", False, fr(b"\x93\x02\x00\x81\xa1v\x92\x01\x01"), PE, 0),
    ("call envelope of version 2", True, call(2, 1, 3, "echo", "echo", [1], {}), PE, 0),
    ("unknown kind 42", True, fr(b"\x93\x01\x2a\x00"), PE, 0),
    ("negative kind", True, fr(b"\x93\x01\xff\x00"), PE, 0),
    ("unknown kind before hello", False, fr(b"\x93\x01\x2a\x00"), PE, 0),
    ("call before hello", False, call(1, 1, 3, "echo", "echo", [1], {}), PE, 3),
    ("ping before hello", False, call(1, 6, 1), PE, 0),
    ("auth nobody asked for", True, fr(b"\x93\x01\x09\xc4\x01\x00"), PE, 0),
    ("auth before hello", False, fr(b"\x93\x01\x09\xc4\x01\x00"), PE, 0),
    ("1000 nested arrays", True, fr(DEEP), PE, 11),
    ("call args not an array", True, call(1, 1, 12, "echo", "echo", 5, {}), PE, 12),
    ("call id 0", True, call(1, 1, 0, "echo", "echo", [1], {}), PE, 0),
    ("call id negative", True, call(1, 1, -1, "echo", "echo", [1], {}), PE, 0),
    ("call id a string", True, call(1, 1, "x", "echo", "echo", [1], {}), PE, 0),
    ("call object not a string", True, call(1, 1, 13, 5, "echo", [1], {}), PE, 13),
    ("call object not UTF-8", True, fr(b"\x97\x01\x01\x12\xa2\xff\xfe\xa4echo\x91\x01\x80"), PE, 18),
    ("call method nil", True, call(1, 1, 14, "echo", None, [1], {}), PE, 14),
    ("call meta not a map", True, call(1, 1, 15, "echo", "echo", [1], []), PE, 15),
    ("call without meta", True, call(1, 1, 16, "echo", "echo", [1]), PE, 16),
    ("call with an extra element", True, call(1, 1, 17, "echo", "echo", [1], {}, 0), PE, 17),
    ("oneway with an id", True, call(1, 2, 5, "echo", "echo", [1], {}), PE, 0),
    ("cancel without id", True, call(1, 5), PE, 0),
    ("ping without token", True, call(1, 6), PE, 0),
    ("hello after the handshake", True, HELLO, PE, 0),
    ("unknown ext type", True, fr(b"\x97\x01\x01\x13\xa4echo\xa4echo\x91\xd4\x05\x00\x80"), PE, 19),
    ("empty callback reference", True, fr(b"\x97\x01\x01\x14\xa4echo\xa4echo\x91\xc7\x00\x02\x80"), PE, 20),
    ("bye reason not a string", True, call(1, 8, 5), PE, 0),
    ("meta deadline negative", True, call(1, 1, 21, "echo", "echo", [1], {"deadline": -5}), PE, 21),
]


class MalformedTests:
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_server()

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def handshake(self, r):
        r.send(HELLO)
        body = r.frame()
        self.assertEqual(body, HELLO[4:])

    def one_case(self, case):
        name, hello_first, data, (code, etype), cid = case
        r = support.Raw(self.srv.url)
        try:
            if hello_first:
                self.handshake(r)
            r.send(data)
            body = r.frame()
            if body is None:
                return "%s: no error frame" % name
            env = msgpack.unpackb(body, raw=False, strict_map_key=False)
            if env[:3] != [1, 4, cid] or env[3][:2] != [code, etype] or \
                    not isinstance(env[3][2], str):
                return "%s: want [1, 4, %d, [%d, %s, ...]], got %r" % (name, cid, code, etype, env)
            if not r.eof(5.0):
                return "%s: the connection stayed open" % name
            return None
        except Exception as e:
            return "%s: %r" % (name, e)
        finally:
            r.close()

    def test_cases(self):
        # in parallel: each refused connection lingers up to 1 s
        with ThreadPoolExecutor(len(CASES)) as ex:
            failures = [f for f in ex.map(self.one_case, CASES) if f]
        self.assertEqual(failures, [])
        st = roc.Proxy("ROC:roc.daemon@" + self.srv.url)
        self.assertGreaterEqual(st.stats()["protocol_errors"], len(CASES) - 3)
        st._close()

    def test_good_frames_kept_open(self):
        r = support.Raw(self.srv.url)
        try:
            self.handshake(r)
            # ping with a structured token: echoed byte for byte
            tok = msgpack.packb({"a": [1, b"x"], "b": None}, use_bin_type=True)
            r.send(fr(b"\x93\x01\x06" + tok))
            self.assertEqual(r.frame(), b"\x93\x01\x07" + tok)
            r.send(fr(b"\x93\x01\x07\x01"))            # unsolicited pong: ignored
            r.send(call(1, 5, 999))                     # cancel of an unknown id: ignored
            r.send(call(1, 3, 77, 1))                   # a result nobody waits for: dropped
            # wide integer formats and unknown meta keys are accepted
            r.send(fr(b"\x97\xcf" + (1).to_bytes(8, "big") + b"\xd0\x01\xcd\x00\x07"
                      b"\xa4echo\xa3add\x92\x28\x02\x82\xa1x\x91\xc0\xa8deadline\xce\x00\x00\x13\x88"))
            env = msgpack.unpackb(r.frame(), raw=False)
            self.assertEqual(env, [1, 3, 7, 42])
            r.send(call(1, 1, 8, "echo", "fail", ["on purpose"], {}))
            self.assertEqual(msgpack.unpackb(r.frame(), raw=False),
                             [1, 4, 8, [100, "echo.Failure", "on purpose", None]])
            r.send(call(1, 1, 9, "echo", "sleep", [0], {}))
            self.assertEqual(msgpack.unpackb(r.frame(), raw=False), [1, 3, 9, None])
            r.send(call(1, 1, 10, "", "x", [], {}))
            self.assertEqual(msgpack.unpackb(r.frame(), raw=False)[3][:2], [1, "roc.NoSuchObject"])
            # 64 levels of nesting in an argument are fine, 65 are not
            deep = b"\x90"
            for _ in range(63):
                deep = b"\x91" + deep
            r.send(fr(b"\x97\x01\x01\x0a\xa4echo\xa4echo\x91" + deep + b"\x80"))
            env = msgpack.unpackb(r.frame(), raw=False)
            self.assertEqual(env[:3], [1, 3, 10])
            # bye: replies still due arrive, then the daemon closes
            r.send(call(1, 1, 11, "echo", "sleep", [50], {}))
            r.send(call(1, 8, "done"))
            body = r.frame()
            if body is not None or self.bye_answers_running_calls:
                self.assertEqual(msgpack.unpackb(body, raw=False), [1, 3, 11, None])
                self.assertTrue(r.eof(5.0))
        finally:
            r.close()

    def test_deadline_passed(self):
        r = support.Raw(self.srv.url)
        try:
            self.handshake(r)
            # deadline 0: passed by the time the call can run (or answered in time)
            r.send(call(1, 1, 5, "echo", "sleep", [100], {"deadline": 0}))
            env = msgpack.unpackb(r.frame(), raw=False)
            # a receiver MAY refuse a call whose deadline passed (docs/wire.md 5.2)
            if env[1] == 4 or self.refuses_deadline_zero:
                self.assertEqual(env[:3], [1, 4, 5])
                self.assertEqual(env[3][:2], [7, "roc.Timeout"])
            else:
                self.assertEqual(env, [1, 3, 5, None])
        finally:
            r.close()

    def test_silent_connection_closed(self):
        r = support.Raw(self.srv.url)
        try:
            # no hello: the daemon closes after its handshake deadline (5 s)
            self.assertTrue(r.eof(8.0))
        finally:
            r.close()


class PyDaemon(MalformedTests, unittest.TestCase):
    start_server = staticmethod(support.py_echo_server)
    bye_answers_running_calls = True
    refuses_deadline_zero = True


class CDaemon(MalformedTests, unittest.TestCase):
    start_server = staticmethod(support.c_echo_server)
    # libroc closes after bye once the replies *queued* are out: a call still
    # running on a worker gets no reply (docs/wire.md 7: "MAY still send")
    bye_answers_running_calls = False
    refuses_deadline_zero = False


if __name__ == "__main__":
    unittest.main()
