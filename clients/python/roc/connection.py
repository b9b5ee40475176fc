"""A full-duplex ROC connection (docs/wire.md): the handshake, one reader
thread, calls in flight matched by id, ping/pong, cancel, bye, protocol
errors with a lingering close, and calls from the peer dispatched to a pool
of worker threads. Both sides of a connection use this class: a proxy's
connection (the dialer) and each connection a roc.Daemon accepts."""
import collections
import heapq
import itertools
import os
import socket
import ssl
import struct
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from . import codec, errors, security, transport
from .codec import WireError

__all__ = ["Connection", "current_call", "CallContext", "HELLO_TIMEOUT"]

HELLO_TIMEOUT = 5.0
LINGER_SECONDS = 1.0
LINGER_BYTES = 4 << 20
_LEN = struct.Struct(">I")
_HELLO = codec.frame([1, codec.HELLO, {"v": [1, 1]}])
_local = threading.local()


def current_call():
    """The CallContext of the call this thread is serving, or None."""
    return getattr(_local, "call", None)


class CallContext:
    """What a served method may ask about its call: ``object``, ``method``,
    ``connection``, ``peer``, ``trace``, ``cancelled`` (the caller gave up:
    timeout, cancel or closed connection) and ``remaining()`` (seconds until
    the caller's deadline, None when it has none)."""

    __slots__ = ("connection", "id", "object", "method", "deadline", "trace",
                 "cancelled")

    def __init__(self, conn, env, received):
        self.connection = conn
        self.id = env.id
        self.object = env.object
        self.method = env.method
        self.deadline = received + env.deadline / 1000.0 if env.deadline is not None else None
        self.trace = env.meta.get("trace")
        self.cancelled = False

    @property
    def peer(self):
        return self.connection.peer

    def peer_proxy(self, object_id="service"):
        """A proxy to an object the peer exports on this connection (default:
        the client's own service, see roc.connect)."""
        from .proxy import CallbackProxy
        return CallbackProxy(self.connection, object_id)

    def remaining(self):
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


class _Deadlines:
    """One thread that fails futures whose deadline passed."""

    def __init__(self):
        self.heap = []
        self.cv = threading.Condition()
        self.seq = itertools.count()
        self.thread = None

    def add(self, when, fn):
        with self.cv:
            heapq.heappush(self.heap, (when, next(self.seq), fn))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="roc-deadlines",
                                               daemon=True)
                self.thread.start()
            self.cv.notify()

    def _run(self):
        while True:
            with self.cv:
                while True:
                    now = time.monotonic()
                    if self.heap and self.heap[0][0] <= now:
                        _, _, fn = heapq.heappop(self.heap)
                        break
                    self.cv.wait(self.heap[0][0] - now if self.heap else None)
            try:
                fn()
            except Exception:
                pass


_deadlines = _Deadlines()
_executor_lock = threading.Lock()
_shared_executor = None


def _client_executor():
    """Workers for callbacks a peer calls on a client's exported objects."""
    global _shared_executor
    with _executor_lock:
        if _shared_executor is None:
            _shared_executor = ThreadPoolExecutor(32, thread_name_prefix="roc-callback")
        return _shared_executor


class Connection:
    """One ROC connection. Make one with Connection.dial (client) or let a
    roc.Daemon accept them."""

    def __init__(self, sock, url, daemon=None, max_frame=codec.MAX_FRAME,
                 max_depth=codec.MAX_DEPTH, max_inflight=256, executor=None):
        self.sock = sock
        self.url = url
        self.daemon = daemon
        self.is_server = daemon is not None
        self.max_frame = max_frame
        self.max_depth = max_depth
        self.executor = executor
        self.peer = None
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.ids = itertools.count(1)
        self.pending = {}          # id -> Future of our calls in flight
        self.pings = {}            # token -> Future
        self.running = {}          # id -> CallContext of the peer's calls we run
        self.active = 0            # calls of the peer in progress
        self.slots = threading.BoundedSemaphore(max_inflight)
        self.exports = {}          # object id -> object exported as a callback
        self.export_ids = {}       # id(obj) -> object id
        self.export_seq = itertools.count(1)
        self.sessions = {}         # daemon: object id -> session instance
        self.serial = {}           # object id -> deque of its ordered calls waiting
        self.open = False          # handshake done, not closed
        self.closed = False
        self.peer_bye = False
        self.bye_sent = False
        self.close_error = None    # exception for calls failed by the close
        self.on_close = []
        self.reader = None
        self.buf = bytearray()
        self.tls = False           # TLS connection
        self.tls_verified = False  # daemon: the peer's certificate verified
        self.authenticated = False  # the key handshake completed

    # ------------------------------------------------------------ set up

    @classmethod
    def dial(cls, url, timeout=None, max_frame=codec.MAX_FRAME):
        """Connects to url and does the handshake (within timeout seconds,
        HELLO_TIMEOUT by default); starts the reader thread."""
        t = HELLO_TIMEOUT if timeout is None else min(timeout, HELLO_TIMEOUT * 6)
        deadline = time.monotonic() + t
        key = security.client_key()  # a bad ROC_KEY_FILE fails here
        cnonce = security.nonce() if key else None
        sock = transport.connect(url, t)
        c = cls(sock, url, max_frame=max_frame)
        c.peer = url
        c.tls = security.is_tls(url)
        try:
            hello = {"v": [1, 1]}
            if key:
                hello["nonce"] = cnonce
            sock.sendall(codec.frame([1, codec.HELLO, hello]))
            body = c._read_frame(deadline)
            if body is None:
                raise errors.ConnectionClosed("%s closed the connection during the handshake" % url)
            try:
                env = codec.decode_envelope(body, c.max_depth)
            except WireError as e:
                raise errors.ProtocolError("the server's hello is malformed: %s" % e.message) from None
            if env.kind == codec.ERROR:
                raise errors.from_wire(*env.error)
            if env.kind != codec.HELLO:
                raise errors.ProtocolError("expected the server's hello, got kind %d" % env.kind)
            lo, hi = env.options["v"]
            if not lo <= 1 <= hi:
                raise errors.ProtocolError("the server speaks protocol versions %d..%d, not 1" % (lo, hi))
            if env.options.get("auth") is True:
                c._prove(key, cnonce, env.options)
        except socket.timeout:
            sock.close()
            raise errors.Timeout("no hello from %s in time" % url) from None
        except OSError as e:
            sock.close()
            raise errors.ConnectionClosed("handshake with %s failed: %s" % (url, e)) from None
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        c.open = True
        c.executor = _client_executor()
        c._start()
        return c

    def _prove(self, key, cnonce, opts):
        """Client: the daemon asks for the key; check its proof, send ours."""
        if not key:
            raise errors.Unauthorized("the daemon at %s requires a key: set one with "
                                      "ROC_KEY_FILE or roc.set_client_key_file" % self.url)
        snonce, theirs = opts.get("nonce"), opts.get("proof")
        if (snonce is None or theirs is None
                or not security.proof_ok(theirs, security.proof(key, b"roc-server", cnonce, snonce))):
            raise errors.Unauthorized("the daemon at %s does not prove our key: wrong key "
                                      "(or not the daemon we meant)" % self.url)
        self.sock.sendall(codec.frame([1, codec.AUTH,
                                       security.proof(key, b"roc-client", cnonce, snonce)]))
        self.authenticated = True

    def _server_handshake(self):
        """Daemon: TLS (on a tls+tcp listener), the client's hello, our hello
        and, with a key, the client's proof; all before hello_deadline.
        False when the peer went away."""
        d = self.daemon
        lst = d._listener
        if lst.tls is not None:
            left = self.hello_deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock, self.tls_verified = lst.secure(self.sock, left)
            self.tls = True
        body = self._read_frame(self.hello_deadline)
        if body is None:
            return False
        env = codec.decode_envelope(body, self.max_depth, before_hello=True)
        lo, hi = env.options["v"]
        if not lo <= 1 <= hi:
            raise WireError("no common protocol version (this side speaks 1..1)")
        key = d._key
        if not key:
            self.sock.settimeout(None)
            with self.lock:
                self.open = True
            self._send(_HELLO)
            return True
        cnonce = env.options.get("nonce")
        snonce = security.nonce()
        hello = {"v": [1, 1], "nonce": snonce, "auth": True}
        if cnonce is not None:
            hello["proof"] = security.proof(key, b"roc-server", cnonce, snonce)
        self._send(codec.frame([1, codec.HELLO, hello]))
        body = self._read_frame(self.hello_deadline)
        if body is None:
            return False
        env = codec.decode_envelope(body, self.max_depth)
        if env.kind != codec.AUTH:
            raise WireError("this daemon requires a key: the client must prove it "
                            "(ROC_KEY_FILE) before calling",
                            env.id if env.kind == codec.CALL else 0, 6)
        if cnonce is None or not security.proof_ok(
                env.proof, security.proof(key, b"roc-client", cnonce, snonce)):
            raise WireError("wrong key: the client's proof does not match this daemon's key",
                            0, 6)
        self.authenticated = True
        self.sock.settimeout(None)
        with self.lock:
            self.open = True
        return True

    @classmethod
    def accepted(cls, sock, daemon, peer):
        """A connection accepted by daemon: the reader thread runs the
        listener's side of the handshake."""
        o = daemon.opts
        c = cls(sock, daemon.url, daemon=daemon, max_frame=o["max_frame"],
                max_depth=o["max_depth"], max_inflight=o["max_inflight"],
                executor=daemon.executor)
        c.peer = peer
        c.hello_deadline = time.monotonic() + o["hello_timeout"]
        c._start()
        return c

    def _start(self):
        self.reader = threading.Thread(target=self._read_loop, daemon=True,
                                       name="roc-read %s" % self.url)
        self.reader.start()

    # ------------------------------------------------------------ reading

    def _recv_more(self, deadline=None):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _read_frame(self, deadline=None):
        """The next frame's body, or None at end of stream. Raises WireError
        (MessageTooLarge) for a length over the limit, before the body."""
        while len(self.buf) < 4:
            if not self._recv_more(deadline):
                return None
        n = _LEN.unpack_from(self.buf)[0]
        if n > self.max_frame:
            raise WireError("frame of %d bytes is over the limit of %d" % (n, self.max_frame),
                            0, 5)
        while len(self.buf) < 4 + n:
            if not self._recv_more(deadline):
                return None
        body = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return body

    def _read_loop(self):
        why = "connection closed by the peer"
        try:
            if self.is_server and not self._server_handshake():
                return
            while True:
                body = self._read_frame()
                if body is None:
                    return
                self._handle(body)
        except WireError as e:
            why = "protocol error: " + e.message
            self._refuse(e)
        except socket.timeout:
            why = "no hello before the handshake deadline"
        except OSError as e:
            why = "connection failed: %s" % (e.strerror or e)
        except Exception as e:  # a bug here must not leave calls hanging
            why = "reader failed: %r" % (e,)
        finally:
            self._closed(why)

    def _ref_hook(self, ref):
        from .proxy import Proxy, CallbackProxy
        if ref.kind == 1:
            return Proxy(ref.target)
        return CallbackProxy(self, ref.target)

    def _handle(self, body):
        env = codec.decode_envelope(body, self.max_depth, ref_hook=self._ref_hook)
        k = env.kind
        if k == codec.ERROR and env.id == 0:
            # the peer refuses this connection (it closes next)
            self.close_error = errors.from_wire(*env.error)
        elif k == codec.RESULT or k == codec.ERROR:
            with self.lock:
                fut = self.pending.pop(env.id, None)
            if fut is None:
                return  # an answer to a call we gave up on
            if k == codec.RESULT:
                _complete(fut, env.value, None)
            else:
                _complete(fut, None, errors.from_wire(*env.error))
        elif k == codec.CALL or k == codec.ONEWAY:
            if self.peer_bye:
                return
            self.slots.acquire()  # back-pressure: max_inflight calls at once
            received = time.monotonic()
            with self.lock:
                self.active += 1
                ctx = CallContext(self, env, received)
                if env.id:
                    self.running[env.id] = ctx
            if self._ordered(env.object):
                self._enqueue(env, ctx)
                return
            try:
                (self.executor or _client_executor()).submit(self._serve, env, ctx)
            except RuntimeError:  # the executor is shut down
                self._call_done(ctx)
        elif k == codec.CANCEL:
            with self.lock:
                ctx = self.running.get(env.id)
            if ctx is not None:
                ctx.cancelled = True
        elif k == codec.PING:
            self._send(codec.pong_frame(env.token_raw))
        elif k == codec.PONG:
            with self.lock:
                fut = self.pings.pop(_hashable(env.token), None)
            if fut is not None:
                _complete(fut, env.token, None)
        elif k == codec.BYE:
            with self.lock:
                self.peer_bye = True
                self.bye_reason = env.reason
                idle = self.active == 0
            if self.is_server and idle:
                self._shutdown()
        elif k == codec.HELLO:
            raise WireError("hello after the handshake")
        elif k == codec.AUTH:
            raise WireError("auth frame that nobody asked for")

    # ------------------------------------------------------------ serving

    def _serve(self, env, ctx):
        _local.call = ctx
        try:
            if self.daemon is not None:
                reply = self.daemon._invoke(self, env, ctx)
            else:
                from .daemon import invoke_export
                reply = invoke_export(self, env, ctx)
            if env.id and reply is not None:
                try:
                    self._send(reply)
                except Exception:
                    pass
        finally:
            _local.call = None
            self._call_done(ctx)

    def _ordered(self, oid):
        """Whether the object oid (served by the daemon or exported on this
        connection) wants its calls run one at a time in the order they
        arrived (@roc.behavior(ordered=True))."""
        obj = None
        if self.daemon is not None:
            with self.daemon._lock:
                reg = self.daemon._objects.get(oid)
            if reg is not None:
                obj = reg.cls
        if obj is None:
            with self.lock:
                obj = self.exports.get(oid)
            if obj is None:
                return False
        cls = obj if isinstance(obj, type) else type(obj)
        b = getattr(cls, "_roc_behavior", None)
        return bool(b and b.get("ordered"))

    def _enqueue(self, env, ctx):
        """An ordered object's call: queued behind that object's earlier
        calls on this connection; one worker at a time runs the queue."""
        with self.lock:
            q = self.serial.get(env.object)
            first = q is None
            if first:
                q = self.serial[env.object] = collections.deque()
            q.append((env, ctx))
        if not first:
            return
        try:
            (self.executor or _client_executor()).submit(self._drain, env.object)
        except RuntimeError:  # the executor is shut down
            with self.lock:
                q = self.serial.pop(env.object, ())
            for _, c in q:
                self._call_done(c)

    def _drain(self, oid):
        while True:
            with self.lock:
                q = self.serial[oid]
                if not q:
                    del self.serial[oid]
                    return
                env, ctx = q.popleft()
            try:
                self._serve(env, ctx)
            except Exception:  # (_serve answers errors itself) the queue goes on
                pass

    def _call_done(self, ctx):
        with self.lock:
            self.active -= 1
            self.running.pop(ctx.id, None)
            close = self.peer_bye and self.active == 0 and self.is_server
        self.slots.release()
        if close:
            self._shutdown()

    def export(self, obj):
        """Exports obj (an object with @roc.expose methods) on this
        connection as a callback; returns its object id."""
        with self.lock:
            oid = self.export_ids.get(id(obj))
            if oid is None:
                oid = "cb.%d" % next(self.export_seq)
                self.export_ids[id(obj)] = oid
                self.exports[oid] = obj
            return oid

    # ------------------------------------------------------------ sending

    def _send(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def call(self, obj, method, args, timeout=None, trace=None, oneway=False):
        """Sends a call and returns a concurrent.futures.Future (None for a
        oneway). timeout is in seconds (None: no deadline). Cancelling the
        future sends a cancel frame."""
        meta = {}
        if timeout is not None:
            meta["deadline"] = max(0, min(int(timeout * 1000 + 0.5), 2**31 - 1))
        if trace is not None:
            meta["trace"] = str(trace)
        wargs = codec.encode_value(list(args), self.max_depth + 1, self.export)
        if oneway:
            data = codec.frame([1, codec.ONEWAY, 0, obj, method, wargs, meta])
            self._checked_send(data)
            return None
        fut = Future()
        with self.lock:
            if self.closed or self.peer_bye:
                raise errors.ConnectionClosed("the connection to %s is closed" % self.url)
            cid = next(self.ids)
            self.pending[cid] = fut
        fut.roc_id = cid
        data = codec.frame([1, codec.CALL, cid, obj, method, wargs, meta])
        try:
            self._checked_send(data)
        except BaseException:
            with self.lock:
                self.pending.pop(cid, None)
            raise
        fut.add_done_callback(self._future_done)
        if timeout is not None:
            _deadlines.add(time.monotonic() + timeout,
                           lambda: self._timed_out(cid, fut, obj, method, timeout))
        return fut

    def _checked_send(self, data):
        if len(data) - 4 > codec.MAX_FRAME:
            raise errors.MessageTooLarge("the call is %d bytes, over the 16 MiB frame limit"
                                         % (len(data) - 4))
        if self.closed:
            raise errors.ConnectionClosed("the connection to %s is closed" % self.url)
        try:
            self._send(data)
        except OSError as e:
            self._abort("send failed: %s" % (e.strerror or e))
            raise errors.ConnectionClosed("the connection to %s failed: %s"
                                          % (self.url, e.strerror or e)) from None

    def _timed_out(self, cid, fut, obj, method, timeout):
        with self.lock:
            mine = self.pending.pop(cid, None) is fut
        if mine:
            _complete(fut, None, errors.Timeout("%s.%s: no answer within %g s" % (obj, method, timeout)))
            self._send_cancel(cid)

    def _future_done(self, fut):
        if fut.cancelled():
            with self.lock:
                mine = self.pending.pop(fut.roc_id, None) is fut
            if mine:
                self._send_cancel(fut.roc_id)

    def _send_cancel(self, cid):
        if not self.closed:
            try:
                self._send(codec.frame([1, codec.CANCEL, cid]))
            except OSError:
                pass

    def ping(self, timeout=5.0):
        """Sends a ping and waits for its pong; returns the round trip in
        seconds."""
        fut = Future()
        with self.lock:
            if self.closed:
                raise errors.ConnectionClosed("the connection to %s is closed" % self.url)
            tok = next(self.ids)
            self.pings[tok] = fut
        t0 = time.monotonic()
        self._checked_send(codec.frame([1, codec.PING, tok]))
        try:
            fut.result(timeout)
        except TimeoutError:
            with self.lock:
                self.pings.pop(tok, None)
            raise errors.Timeout("no pong from %s within %g s" % (self.url, timeout)) from None
        return time.monotonic() - t0

    # ------------------------------------------------------------ closing

    def close(self, reason="close", wait=0.0):
        """Orderly close: sends bye, then keeps reading (replies still due
        arrive) until the peer closes, or wait seconds pass, then closes."""
        with self.lock:
            if self.closed or self.bye_sent:
                already = True
            else:
                already = False
                self.bye_sent = True
        if not already and self.open:
            try:
                self._send(codec.frame([1, codec.BYE, reason]))
                _half_close(self.sock)
            except OSError:
                pass
        if wait and self.reader and self.reader is not threading.current_thread():
            self.reader.join(wait)
        if not wait:
            _deadlines.add(time.monotonic() + LINGER_SECONDS, lambda: self._abort("closed"))
        else:
            self._abort("closed")

    def _shutdown(self):
        """Server side after bye: replies are out, close."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _abort(self, why):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self.reader is None or not self.reader.is_alive():
            self._closed(why)

    def _refuse(self, e):
        """One error frame, then a lingering close (docs/wire.md section 8)."""
        try:
            self._send(codec.frame([1, codec.ERROR, e.call_id,
                                    [e.code, e.type, e.message, None]]))
            _half_close(self.sock)
        except OSError:
            return
        if self.daemon is not None:
            self.daemon._count("protocol_errors")
        end = time.monotonic() + LINGER_SECONDS
        drained = 0
        try:
            while drained < LINGER_BYTES:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        self.close_error = {5: errors.MessageTooLarge, 6: errors.Unauthorized}.get(
            e.code, errors.ProtocolError)("this side refused the peer: " + e.message)

    def _closed(self, why):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.open = False
            pending, self.pending = self.pending, {}
            pings, self.pings = self.pings, {}
            for ctx in self.running.values():
                ctx.cancelled = True
        # Shut the socket first: a sender blocked in sendall (it holds
        # send_lock) fails at once. Then close under send_lock: closing an
        # SSL socket while another thread writes through it aborts the
        # process inside OpenSSL.
        try:
            transport.raw_socket(self.sock).shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with self.send_lock:
            try:
                self.sock.close()
            except OSError:
                pass
        for fut in list(pending.values()) + list(pings.values()):
            err = self.close_error or errors.ConnectionClosed(
                "%s: %s" % (self.url, why))
            _complete(fut, None, err)
        for cb in self.on_close:
            try:
                cb(self)
            except Exception:
                pass


def _half_close(sock):
    """Shuts the sending side. Not on TLS: the ssl module would drop the
    TLS layer and read the rest as raw bytes (nng's TLS does not half-close
    either); the peer sees bye and closes."""
    if not isinstance(sock, ssl.SSLSocket):
        sock.shutdown(socket.SHUT_WR)


def _hashable(v):
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return None
    return v


def _complete(fut, value, exc):
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
    except Exception:  # cancelled or already done
        pass
