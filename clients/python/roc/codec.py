"""Frames, envelopes and values of wire protocol v1 (docs/wire.md).

Values map between msgpack and Python as follows:

    nil <-> None        bool <-> bool        int <-> int (i64 / u64 range)
    float <-> float     str <-> str          bin <-> bytes (bytearray,
    array <-> list (tuples are sent as arrays)    memoryview are sent as bin)
    map <-> dict        ext 1 <-> roc.Proxy  ext 2 <-> a callback proxy
                                             (received) / an exposed object
                                             (sent: exported on the connection)
"""
import struct

import msgpack

from .expose import is_exposed as _is_exposed

__all__ = ["WireError", "MAX_FRAME", "MAX_DEPTH", "frame", "encode_value",
           "decode_envelope", "decode_value", "Ref", "HELLO", "CALL", "ONEWAY", "RESULT",
           "ERROR", "CANCEL", "PING", "PONG", "BYE", "AUTH"]

HELLO, CALL, ONEWAY, RESULT, ERROR, CANCEL, PING, PONG, BYE, AUTH = range(10)
KIND_NAMES = ("hello", "call", "oneway", "result", "error", "cancel", "ping",
              "pong", "bye", "auth")
VERSION = 1
MAX_FRAME = 16 << 20
MAX_DEPTH = 64
I64_MIN = -(1 << 63)
U64_MAX = (1 << 64) - 1
_LEN = struct.Struct(">I")


class WireError(Exception):
    """A frame this side must refuse: answer [code, type, message] with
    call id ``call_id`` and close (docs/wire.md, section 8)."""

    def __init__(self, message, call_id=0, code=4):
        super().__init__(message)
        self.message, self.call_id, self.code = message, call_id, code

    @property
    def type(self):
        return {5: "roc.MessageTooLarge", 6: "roc.Unauthorized"}.get(self.code, "roc.ProtocolError")


class Ref:
    """A reference as it came off the wire: kind 1 (a URI) or 2 (an object
    id exported by the sender on this connection)."""

    __slots__ = ("kind", "target")

    def __init__(self, kind, target):
        self.kind, self.target = kind, target

    def __eq__(self, o):
        return isinstance(o, Ref) and (o.kind, o.target) == (self.kind, self.target)

    def __hash__(self):
        return hash((self.kind, self.target))

    def __repr__(self):
        return "Ref(%d, %r)" % (self.kind, self.target)


# ------------------------------------------------------------------ encode

def _to_wire(v, depth, maxd, export):
    t = type(v)
    if v is None or t is bool or t is str or t is float or t is bytes:
        return v
    if t is int or isinstance(v, int) and not isinstance(v, bool):
        if v < I64_MIN or v > U64_MAX:
            raise OverflowError("int %d is outside the i64/u64 range" % v)
        return int(v)
    if isinstance(v, bool):
        return bool(v)
    if t is list or t is tuple or isinstance(v, (list, tuple)):
        if depth >= maxd:
            raise ValueError("value nested deeper than %d levels" % maxd)
        return [_to_wire(x, depth + 1, maxd, export) for x in v]
    if isinstance(v, dict):
        if depth >= maxd:
            raise ValueError("value nested deeper than %d levels" % maxd)
        out = {}
        for k, x in v.items():
            k = _to_wire(k, depth + 1, maxd, export)
            if isinstance(k, list):
                k = _freeze(k)
            out[k] = _to_wire(x, depth + 1, maxd, export)
        return out
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, Ref):
        if v.kind == 1:
            return msgpack.ExtType(1, v.target.encode("utf-8"))
        raise TypeError("a callback reference received from a peer cannot be sent on")
    ref = getattr(v, "__roc_ref__", None)
    if ref is not None:
        kind, target = ref()
        if kind != 1:
            raise TypeError("a callback proxy cannot be sent on to another peer")
        return msgpack.ExtType(1, target.encode("utf-8"))
    if export is not None and _is_exposed(v):
        oid = export(v)
        return msgpack.ExtType(2, oid.encode("utf-8"))
    raise TypeError("cannot send a value of type %s" % t.__name__)


def _freeze(x):
    return tuple(_freeze(i) for i in x) if isinstance(x, list) else x


def encode_value(v, maxd=MAX_DEPTH, export=None):
    """Checks and converts a Python value for the wire (raises TypeError,
    OverflowError or ValueError for what cannot be sent)."""
    return _to_wire(v, 0, maxd, export)


def frame(envelope):
    """The bytes of one frame holding envelope (already converted)."""
    body = msgpack.packb(envelope, use_bin_type=True)
    return _LEN.pack(len(body)) + body


# ------------------------------------------------------------------ decode

def _ext_hook(code, data):
    if code in (1, 2):
        if not data:
            raise WireError("empty reference (ext type %d)" % code)
        try:
            s = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("reference (ext type %d) is not UTF-8" % code) from None
        return Ref(code, s)
    raise WireError("unknown ext type %d" % code)


def _to_py(v, depth, maxd, ref_hook):
    t = type(v)
    if t is tuple:
        if depth >= maxd:
            raise WireError("value nested deeper than %d levels" % maxd)
        return [_to_py(x, depth + 1, maxd, ref_hook) for x in v]
    if t is dict:
        if depth >= maxd:
            raise WireError("value nested deeper than %d levels" % maxd)
        return {_key(k, depth + 1, maxd, ref_hook): _to_py(x, depth + 1, maxd, ref_hook)
                for k, x in v.items()}
    if t is Ref:
        return ref_hook(v) if ref_hook else v
    if t is msgpack.Timestamp:
        raise WireError("ext type -1 (timestamp) is not a ROC value")
    return v


def _key(k, depth, maxd, ref_hook):
    if type(k) is tuple:
        _to_py(k, depth, maxd, None)  # depth and ext checks only
        return k
    return _to_py(k, depth, maxd, ref_hook)


def _uint(x):
    return type(x) is int and x >= 0


class Envelope:
    """A decoded, checked envelope: ``kind`` and the fields of that kind
    (id, object, method, args, meta, value, error, token, reason, proof,
    options)."""

    __slots__ = ("kind", "id", "object", "method", "args", "meta", "value",
                 "error", "token", "token_raw", "reason", "proof", "options", "deadline")

    def __init__(self, kind):
        self.kind = kind
        self.id = 0
        self.deadline = None


_NELEM = {HELLO: 3, CALL: 7, ONEWAY: 7, RESULT: 4, ERROR: 4, CANCEL: 3,
          PING: 3, PONG: 3, BYE: 3, AUTH: 3}


def decode_envelope(body, maxd=MAX_DEPTH, ref_hook=None, before_hello=False):
    """Decodes and checks one frame body. Raises WireError (with the call id
    to answer with) for anything docs/wire.md section 8 calls malformed."""
    if not body:
        raise WireError("empty frame")
    u = msgpack.Unpacker(raw=False, use_list=False, strict_map_key=False,
                         ext_hook=_ext_hook, max_buffer_size=max(len(body), 1024))
    u.feed(body)
    call_id = 0

    def nxt(what, cid=0):
        try:
            return u.unpack()
        except WireError as e:
            e.call_id = cid
            raise
        except msgpack.OutOfData:
            raise WireError("truncated envelope (%s)" % what, cid) from None
        except UnicodeDecodeError:
            raise WireError("string that is not valid UTF-8 (%s)" % what, cid) from None
        except msgpack.StackError:
            raise WireError("value nested too deep (%s)" % what, cid) from None
        except Exception as e:  # FormatError, ValueError, TypeError
            raise WireError("malformed %s: %s" % (what, e or type(e).__name__), cid) from None

    def conv(v, what, cid):
        try:
            return _to_py(v, 0, maxd, ref_hook)
        except WireError as e:
            e.call_id = cid
            e.message = "%s: %s" % (what, e.message)
            e.args = (e.message,)
            raise

    try:
        n = u.read_array_header()
    except Exception:
        raise WireError("malformed envelope: not an array") from None
    if n < 2:
        raise WireError("malformed envelope: fewer than 2 elements")
    ver = nxt("version")
    if not _uint(ver):
        raise WireError("malformed envelope version")
    if ver != VERSION:
        raise WireError("unsupported protocol version %d" % ver)
    kind = nxt("kind")
    if not _uint(kind):
        raise WireError("malformed envelope kind")
    if kind > AUTH:
        raise WireError("unknown envelope kind %d" % kind)
    env = Envelope(kind)
    if before_hello and kind != HELLO:
        cid = 0
        if kind in (CALL, RESULT, ERROR, CANCEL) and n >= 3:
            try:
                x = u.unpack()
                cid = x if _uint(x) else 0
            except Exception:
                cid = 0
        raise WireError("expected hello as the first frame, got kind %d" % kind, cid)
    if kind in (CALL, ONEWAY):
        cid = nxt("call id")
        if not _uint(cid):
            raise WireError("malformed call id")
        if n != 7:
            raise WireError("call envelope must have 7 elements, not %d" % n, cid)
        if kind == CALL and cid == 0:
            raise WireError("call id 0 is reserved")
        if kind == ONEWAY and cid != 0:
            raise WireError("oneway must carry id 0")
        env.id = cid
        env.object = nxt("object", cid)
        env.method = nxt("method", cid)
        if type(env.object) is not str or type(env.method) is not str:
            raise WireError("object and method must be strings", cid)
        args = nxt("arguments", cid)
        if type(args) is not tuple:
            raise WireError("arguments must be an array", cid)
        env.args = [conv(a, "arguments", cid) for a in args]
        meta = nxt("meta", cid)
        if type(meta) is not dict:
            raise WireError("meta must be a map", cid)
        for k, v in meta.items():
            if type(k) is not str:
                raise WireError("meta keys must be strings", cid)
            if k == "deadline":
                if not _uint(v):
                    raise WireError("meta deadline must be an unsigned int", cid)
                env.deadline = min(v, 2**31 - 1)
            elif k == "trace" and type(v) is not str:
                raise WireError("meta trace must be a string", cid)
            else:
                conv(v, "meta", cid)
        env.meta = meta
    elif kind in (RESULT, ERROR):
        if n != 4:
            raise WireError("malformed reply envelope")
        cid = nxt("reply id")
        if not _uint(cid) or (cid == 0 and kind == RESULT):
            raise WireError("malformed reply envelope")  # error id 0: the connection's
        env.id = cid
        v = nxt("reply", cid)
        if kind == RESULT:
            env.value = conv(v, "result", cid)
        else:
            if type(v) is not tuple or len(v) != 4:
                raise WireError("malformed error body", cid)
            code, etype, msg, data = v
            if type(code) is not int or type(etype) is not str or type(msg) is not str:
                raise WireError("malformed error body", cid)
            env.error = (code, etype, msg, conv(data, "error data", cid))
    elif n != _NELEM[kind]:
        raise WireError("malformed %s: %d elements" % (KIND_NAMES[kind], n))
    elif kind == HELLO:
        opts = nxt("hello options")
        if type(opts) is not dict:
            raise WireError("malformed hello")
        v = opts.get("v")
        if (type(v) is not tuple or len(v) != 2 or not _uint(v[0]) or not _uint(v[1])
                or v[0] > v[1]):
            raise WireError("malformed hello")
        # the handshake's options (docs/wire.md, "Handshake"): exact types
        if "nonce" in opts and (type(opts["nonce"]) is not bytes or len(opts["nonce"]) != 16):
            raise WireError("malformed hello: nonce must be bin(16)")
        if "proof" in opts and (type(opts["proof"]) is not bytes or len(opts["proof"]) != 32):
            raise WireError("malformed hello: proof must be bin(32)")
        if "auth" in opts and type(opts["auth"]) is not bool:
            raise WireError("malformed hello: auth must be a bool")
        env.options = opts
    elif kind == CANCEL:
        cid = nxt("cancel id")
        if not _uint(cid):
            raise WireError("malformed cancel")
        env.id = cid
    elif kind in (PING, PONG):
        pos = u.tell()
        tok = nxt("token")
        env.token_raw = body[pos:u.tell()]
        conv(tok, "token", 0)
        env.token = tok
    elif kind == BYE:
        r = nxt("bye reason")
        if type(r) is not str:
            raise WireError("malformed bye")
        env.reason = r
    elif kind == AUTH:
        p = nxt("auth proof")
        if type(p) is not bytes or len(p) != 32:
            raise WireError("malformed auth")
        env.proof = p
    if u.tell() != len(body):
        raise WireError("trailing bytes in frame", env.id if kind in (CALL, RESULT, ERROR, CANCEL) else 0)
    return env



def decode_value(data, maxd=MAX_DEPTH, ref_hook=None):
    """Decodes exactly one msgpack value (an event's payload) with the
    checks of envelopes: UTF-8 strings, ext types 1 and 2 only (turned into
    what ref_hook returns, else codec.Ref), nesting at most maxd levels, no
    trailing bytes. Raises WireError."""
    if not data:
        raise WireError("empty value")
    u = msgpack.Unpacker(raw=False, use_list=False, strict_map_key=False,
                         ext_hook=_ext_hook, max_buffer_size=max(len(data), 1024))
    u.feed(data)
    try:
        v = u.unpack()
    except WireError:
        raise
    except msgpack.OutOfData:
        raise WireError("truncated value") from None
    except UnicodeDecodeError:
        raise WireError("string that is not valid UTF-8") from None
    except msgpack.StackError:
        raise WireError("value nested too deep") from None
    except Exception as e:  # FormatError, ValueError, TypeError
        raise WireError("malformed value: %s" % (e or type(e).__name__)) from None
    if u.tell() != len(data):
        raise WireError("trailing bytes after the value")
    return _to_py(v, 0, maxd, ref_hook)


def pong_frame(token_raw):
    """A pong echoing a ping's token byte for byte."""
    body = b"\x93\x01\x07" + token_raw
    return _LEN.pack(len(body)) + body
