"""Unit tests: values, envelopes and URIs against docs/wire.md."""
import unittest

import support  # noqa: F401  (sys.path)
import msgpack

import roc
from roc import codec, uri
from roc.codec import WireError


def h(s):
    return bytes.fromhex(s.replace("|", " "))


class HexExamples(unittest.TestCase):
    """docs/wire.md section 13, byte for byte."""

    def test_hello(self):
        self.assertEqual(codec.frame([1, 0, {"v": [1, 1]}]),
                         h("00 00 00 09 | 93 01 00 81 a1 76 92 01 01"))

    def test_call(self):
        self.assertEqual(
            codec.frame([1, 1, 7, "echo", "add", [40, 2], {"deadline": 5000}]),
            h("00 00 00 1d | 97 01 01 07 a4 65 63 68 6f a3 61 64 64 92 28 02"
              "81 a8 64 65 61 64 6c 69 6e 65 cd 13 88"))

    def test_results_and_errors(self):
        self.assertEqual(codec.frame([1, 3, 7, 42]), h("00 00 00 05 | 94 01 03 07 2a"))
        self.assertEqual(codec.frame([1, 3, 9, None]), h("00 00 00 05 | 94 01 03 09 c0"))
        self.assertEqual(
            codec.frame([1, 4, 8, [100, "echo.Failure", "on purpose", None]]),
            h("00 00 00 1f | 94 01 04 08 94 64 ac 65 63 68 6f 2e 46 61 69 6c 75 72 65"
              "aa 6f 6e 20 70 75 72 70 6f 73 65 c0"))
        self.assertEqual(
            codec.frame([1, 4, 0, [4, "roc.ProtocolError", "empty frame", None]]),
            h("00 00 00 25 | 94 01 04 00 94 04 b1 72 6f 63 2e 50 72 6f 74 6f 63 6f 6c"
              "45 72 72 6f 72 ab 65 6d 70 74 79 20 66 72 61 6d 65 c0"))

    def test_other_kinds(self):
        self.assertEqual(codec.frame([1, 2, 0, "log", "write", ["hi"], {}]),
                         h("00 00 00 13 | 97 01 02 00 a3 6c 6f 67 a5 77 72 69 74 65 91 a2 68 69 80"))
        self.assertEqual(codec.frame([1, 5, 7]), h("00 00 00 04 | 93 01 05 07"))
        self.assertEqual(codec.frame([1, 6, 1]), h("00 00 00 04 | 93 01 06 01"))
        self.assertEqual(codec.pong_frame(b"\x01"), h("00 00 00 04 | 93 01 07 01"))
        self.assertEqual(codec.frame([1, 8, "shutdown"]),
                         h("00 00 00 0c | 93 01 08 a8 73 68 75 74 64 6f 77 6e"))

    def test_decode_examples(self):
        e = codec.decode_envelope(h("97 01 01 07 a4 65 63 68 6f a3 61 64 64 92 28 02"
                                    "81 a8 64 65 61 64 6c 69 6e 65 cd 13 88"))
        self.assertEqual((e.kind, e.id, e.object, e.method, e.args, e.deadline),
                         (1, 7, "echo", "add", [40, 2], 5000))
        e = codec.decode_envelope(h("94 01 04 08 94 64 ac 65 63 68 6f 2e 46 61 69 6c 75 72 65"
                                    "aa 6f 6e 20 70 75 72 70 6f 73 65 c0"))
        self.assertEqual(e.error, (100, "echo.Failure", "on purpose", None))


class Values(unittest.TestCase):
    def rt(self, v):
        body = msgpack.packb([1, 3, 1, codec.encode_value(v)], use_bin_type=True)
        return codec.decode_envelope(body).value

    def test_round_trip(self):
        for v in (None, True, False, 0, -1, 2**63 - 1, 2**63, 2**64 - 1, -2**63,
                  1.5, -0.0, "", "héllo\0", b"", b"\x00\xff", [], [1, [2, [3]]],
                  {}, {"a": 1, 2: "b", None: [b"x"]}):
            self.assertEqual(self.rt(v), v)
            self.assertEqual(type(self.rt(v)), type(v))

    def test_conversions(self):
        self.assertEqual(self.rt((1, 2)), [1, 2])
        self.assertEqual(self.rt(bytearray(b"ab")), b"ab")
        self.assertEqual(self.rt(memoryview(b"ab")), b"ab")
        self.assertEqual(self.rt({(1, 2): 3}), {(1, 2): 3})

    def test_int_ranges(self):
        for bad in (2**64, -2**63 - 1, 10**30):
            with self.assertRaises(OverflowError):
                codec.encode_value(bad)

    def test_refused(self):
        for bad in (object(), {1, 2}, 1j):
            with self.assertRaises(TypeError):
                codec.encode_value(bad)
        deep = []
        for _ in range(64):
            deep = [deep]
        with self.assertRaises(ValueError):
            codec.encode_value(deep)
        codec.encode_value(deep[0])  # 64 levels: allowed

    def test_refs(self):
        p = roc.Proxy("ROC:calc@tcp://127.0.0.1:9")
        self.assertEqual(codec.encode_value(p), msgpack.ExtType(1, b"ROC:calc@tcp://127.0.0.1:9"))
        v = self.rt(p)
        self.assertIsInstance(v, codec.Ref)
        self.assertEqual((v.kind, v.target), (1, "ROC:calc@tcp://127.0.0.1:9"))
        body = msgpack.packb([1, 3, 1, [msgpack.ExtType(2, b"cb.1")]])
        v = codec.decode_envelope(body, ref_hook=lambda r: ("hooked", r.kind, r.target)).value
        self.assertEqual(v, [("hooked", 2, "cb.1")])

    def test_depth_limit(self):
        inner = b"\x90"
        for _ in range(63):
            inner = b"\x91" + inner
        codec.decode_envelope(b"\x94\x01\x03\x01" + inner)          # depth 63: ok
        with self.assertRaises(WireError):
            codec.decode_envelope(b"\x94\x01\x03\x01\x91" + inner)  # 64: refused


class Malformed(unittest.TestCase):
    def bad(self, body, call_id=0, code=4):
        with self.assertRaises(WireError) as cm:
            codec.decode_envelope(body)
        self.assertEqual(cm.exception.call_id, call_id, cm.exception.message)
        self.assertEqual(cm.exception.code, code)
        return cm.exception.message

    def test_cases(self):
        self.bad(b"")
        self.bad(b"\xc1")
        self.bad(b"\x81\x01\x02")                     # a map
        self.bad(b"\x90")                             # []
        self.bad(b"\x93\x01\x06\x01\x01")             # trailing bytes
        self.bad(b"\x93\x02\x06\x01")                 # version 2
        self.bad(b"\x93\x01\x2a\x01")                 # kind 42
        self.bad(b"\x93\x01\xff\x01")                 # kind -1
        self.bad(b"\x93\x01\x09\xc0")                 # auth with nil proof
        self.bad(b"\x97\x01\x01\x00\xa1t\xa1m\x90\x80")  # call id 0
        self.bad(b"\x97\x01\x01\xff\xa1t\xa1m\x90\x80")  # call id -1
        self.bad(b"\x97\x01\x02\x05\xa1t\xa1m\x90\x80")  # oneway with id
        self.bad(b"\x97\x01\x01\x05\xa2\xff\xfe\xa1m\x90\x80", 5)  # object not UTF-8
        self.bad(b"\x97\x01\x01\x05\xa1t\xc0\x90\x80", 5)          # method nil
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x80\x80", 5)         # args a map
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x90\x90", 5)         # meta an array
        self.bad(b"\x96\x01\x01\x05\xa1t\xa1m\x90", 5)             # no meta
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x90\x81\xa8deadline\xff", 5)
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x91\xd4\x05\x00\x80", 5)   # ext 5
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x91\xc7\x00\x01\x80", 5)   # empty ref
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x91\xd6\xff\x00\x00\x00\x01\x80", 5)  # timestamp
        self.bad(b"\x97\x01\x01\x05\xa1t\xa1m\x91\xa3ab", 5)       # truncated
        self.bad(b"\x93\x01\x00\x80")                 # hello without v
        self.bad(b"\x93\x01\x00\x81\xa1v\x92\x02\x01")  # min > max
        self.bad(b"\x94\x01\x04\x03\x93\x01\xa1x\xa1y", 3)        # error body of 3
        self.bad(b"\x93\x01\x01\x05", 5)              # call with 3 elements (libroc: its id)

    def test_before_hello(self):
        with self.assertRaises(WireError) as cm:
            codec.decode_envelope(b"\x97\x01\x01\x03\xa1t\xa1m\x90\x80", before_hello=True)
        self.assertEqual(cm.exception.call_id, 3)

    def test_unknown_meta_keys_ignored(self):
        e = codec.decode_envelope(b"\x97\x01\x01\x05\xa1t\xa1m\x90\x82\xa1x\x90\xa5trace\xa2id")
        self.assertEqual(e.meta, {"x": (), "trace": "id"})

    def test_error_codes(self):
        e = roc.errors.from_wire(3, "roc.BadArguments", "m", None)
        self.assertIsInstance(e, roc.BadArguments)
        e = roc.errors.from_wire(42, "x.Y", "m", None)
        self.assertIsInstance(e, roc.Internal)
        self.assertEqual((e.code, e.type), (8, "x.Y"))
        e = roc.errors.from_wire(100, "x.Y", "m", [1])
        self.assertEqual((type(e), e.type, e.data), (roc.RemoteError, "x.Y", [1]))
        self.assertEqual(roc.errors.to_wire(KeyError("k")), [100, "python.KeyError", "'k'", None])
        self.assertEqual(roc.errors.to_wire(roc.NoSuchMethod("m")),
                         [2, "roc.NoSuchMethod", "m", None])


class URIs(unittest.TestCase):
    def test_parse(self):
        u = uri.parse("ROC:calc@tcp://10.0.0.5:9100")
        self.assertEqual((u.kind, u.id, u.url, u.transport), ("ROC", "calc", "tcp://10.0.0.5:9100", "tcp"))
        u = uri.parse("roc:a.b:c-d_e@ipc:///tmp/x.sock")
        self.assertEqual((u.kind, u.id, u.url), ("ROC", "a.b:c-d_e", "ipc:///tmp/x.sock"))
        u = uri.parse("ROCNAME:demo.calc")
        self.assertEqual((u.kind, u.id, u.url), ("ROCNAME", "demo.calc", None))
        u = uri.parse("RocMeta:a,b@tcp://h:1")
        self.assertEqual((u.kind, u.tags, u.url, str(u)), ("ROCMETA", ("a", "b"), "tcp://h:1",
                                                         "ROCMETA:a,b@tcp://h:1"))

    def test_bad(self):
        for bad in ("", "calc", "ROC:calc", "ROC:@tcp://h:1", "ROC:a b@tcp://h:1",
                    "ROC:x@foo://h", "ROC:x@tcp://", "ROCMETA:a,,b", "FOO:x@tcp://h:1"):
            with self.assertRaises(ValueError, msg=bad):
                uri.parse(bad)


if __name__ == "__main__":
    unittest.main()
