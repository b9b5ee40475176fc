"""Events: ROC's best-effort PUB/SUB (docs/services.md section 6) in pure
Python, on the wire of nng's pub0/sub0 sockets, so that a Python subscriber
hears a C daemon (roc_daemon_publish) and a C subscriber (roc_subscribe)
hears a Python daemon (Daemon.publish).

The wire (nng's SP protocols; checked against nng's sources: the tcp and
ipc transports, protocol/pubsub0/pub.c and sub.c):

- The subscriber dials the publisher's event endpoint (tcp://, tcp4://,
  tcp6://, ipc://, abstract://). Each side first sends the 8-byte SP
  header ``00 'S' 'P' 00 <protocol, 16-bit big-endian> 00 00`` and checks
  the other's: bytes 0-3 and 6-7 exactly, and the peer's protocol — PUB is
  0x20 (nng's protocol 2.0), SUB 0x21 (2.1). A mismatch closes the stream.
- Then messages: over TCP a 64-bit big-endian length and that many bytes;
  over IPC (ipc://, abstract://) one type byte, 0x01, then the same.
- PUB sends, SUB never does: a publisher closes a subscriber that sends it
  anything after the header (nng's pub0 does the same).
- A ROC event is one message: ``topic NUL msgpack(value)``. The subscriber
  filters on a byte prefix of the message (nng's SUB matches the prefix
  against the whole body: "quote.A" gets quote.ACME and quote.AJAX).

Best effort as in C: a publisher never blocks; a subscriber that does not
keep up loses the oldest of the events queued for it (16 per subscriber by
default, nng's pub0 send buffer, beyond what the kernel buffers). A
subscription's callbacks run on a thread of their own fed by a queue of 128
events (nng's sub0 receive buffer) that, when full, drops the oldest. A
subscription redials when the publisher goes away and comes back (every
``reconnect`` seconds, as nng's dialer); what was published meanwhile is
not seen. A subscription closes (and redials) a stream that carries one
message over ``max_size`` (16 MiB by default; nng 1.5.2's SUB has no
limit: max_size=None).
"""
import collections
import logging
import selectors
import socket
import struct
import threading
import time

import msgpack

from . import codec, errors, transport
from .uri import check_url

__all__ = ["Subscription", "Publisher", "subscribe", "subscribe_url",
           "PUB", "SUB", "sp_header", "MAX_TOPIC", "MAX_SIZE"]

log = logging.getLogger("roc.events")

PUB, SUB = 0x20, 0x21          # nng: NNI_PROTO(2, 0) and NNI_PROTO(2, 1)
MAX_TOPIC = 255                # bytes, as roc_daemon_publish
MAX_SIZE = codec.MAX_FRAME     # a subscriber's limit on one message (16 MiB, as ROC
                               # frames); nng 1.5.2's SUB has none (max_size=None)
SEND_BUFFER = 16               # events queued per subscriber (nng pub0 sendbuf)
RECV_BUFFER = 128              # events queued for a subscription's callback (nng sub0)
HANDSHAKE_TIMEOUT = 10.0       # nng gives the SP header exchange 10 s
SCHEMES = ("tcp", "tcp4", "tcp6", "ipc", "abstract")
_LEN = struct.Struct(">Q")


def sp_header(proto):
    """The 8 bytes an SP peer of protocol proto sends first."""
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def _check_header(h, want):
    """None when h is a valid SP header of protocol want, else why not."""
    if len(h) != 8 or h[:4] != b"\x00SP\x00" or h[6:8] != b"\x00\x00":
        return "not an SP header: %s" % bytes(h).hex()
    proto = struct.unpack(">H", h[4:6])[0]
    if proto != want:
        return "peer protocol 0x%x, expected 0x%x" % (proto, want)
    return None


def _scheme(url):
    scheme = check_url(url)
    if scheme not in SCHEMES:
        raise ValueError("events use tcp://, tcp4://, tcp6://, ipc:// or abstract://, "
                         "not %s://" % scheme)
    return scheme


def _framer(scheme):
    """(bytes before a message of n bytes, header length) of a transport."""
    if scheme in ("ipc", "abstract"):
        return (lambda n: b"\x01" + _LEN.pack(n)), 9
    return _LEN.pack, 8


def _bytes(s, what):
    if isinstance(s, str):
        return s.encode("utf-8")
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    raise TypeError("%s must be a str or bytes, not %s" % (what, type(s).__name__))


def encode_event(topic, value, maxd=codec.MAX_DEPTH):
    """The message of one event: topic bytes, NUL, msgpack(value)."""
    t = _bytes(topic, "topic")
    if len(t) > MAX_TOPIC:
        raise ValueError("topic longer than %d bytes" % MAX_TOPIC)
    if b"\0" in t:
        raise ValueError("a topic cannot hold a NUL byte")
    wire = codec.encode_value(value, maxd)
    return t + b"\0" + msgpack.packb(wire, use_bin_type=True)


def _event_ref(ref):
    if ref.kind == 1:
        from .proxy import Proxy
        try:
            return Proxy(ref.target)
        except ValueError:
            return ref
    return ref  # a callback reference means nothing without its connection


def decode_event(body, maxd=codec.MAX_DEPTH):
    """(topic, value) of one message; raises codec.WireError when it is not
    an event (no NUL, or not one msgpack value after it)."""
    nul = body.find(b"\0")
    if nul < 0:
        raise codec.WireError("no NUL after the topic")
    value = codec.decode_value(bytes(body[nul + 1:]), maxd, _event_ref)
    return bytes(body[:nul]).decode("utf-8", "surrogateescape"), value


# ---------------------------------------------------------------- subscriber

class _Drop(Exception):
    """The stream must close (protocol error); the subscription redials."""


class Subscription:
    """A running subscription (see subscribe_url). Attributes: ``url`` (the
    event endpoint), ``prefix`` (bytes), ``connected`` (attached to a
    publisher now), ``connects`` (how many times it attached), ``received``
    (events handed to the callback), ``dropped`` (lost because the callback
    did not keep up), ``malformed`` (messages that were not events),
    ``closed``."""

    def __init__(self, url, prefix, callback, *, reconnect=0.1,
                 recv_buffer=RECV_BUFFER, max_size=MAX_SIZE, max_depth=codec.MAX_DEPTH,
                 connect_timeout=2.0):
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._scheme = _scheme(url)
        self.url = url
        self.prefix = _bytes(prefix, "prefix")
        self._callback = callback
        self._reconnect = float(reconnect)
        self._max_size = None if max_size is None else int(max_size)
        self._max_depth = max_depth
        self._connect_timeout = connect_timeout
        self._queue = collections.deque()
        self._recv_buffer = max(1, int(recv_buffer))
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._attached = threading.Event()
        self._sock_lock = threading.Lock()
        self._sock = None
        self.connects = 0
        self.received = 0
        self.dropped = 0
        self.malformed = 0
        self.closed = False
        self.last_error = None
        name = self.prefix.decode("utf-8", "replace")
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name="roc-sub-read %s" % name)
        self._teller = threading.Thread(target=self._tell_loop, daemon=True,
                                        name="roc-sub %s" % name)
        self._teller.start()
        self._reader.start()

    @property
    def connected(self):
        return self._attached.is_set()

    def wait_connected(self, timeout=None):
        """True once attached to the publisher (the SP headers exchanged).
        The publisher may take a moment more to count this subscriber."""
        return self._attached.wait(timeout)

    # -------------------------------------------------------- reading

    def _read_loop(self):
        while not self._stop.is_set():
            try:
                s = transport.connect(self.url, self._connect_timeout)
            except (errors.CommunicationError, OSError) as e:
                self.last_error = str(e)
                self._stop.wait(self._reconnect)
                continue
            with self._sock_lock:
                if self._stop.is_set():
                    s.close()
                    return
                self._sock = s
            try:
                self._session(s)
            except (OSError, _Drop) as e:
                self.last_error = str(e) or type(e).__name__
                log.debug("subscription to %s: %s", self.url, self.last_error)
            except Exception:
                log.exception("subscription to %s", self.url)
            finally:
                self._attached.clear()
                with self._sock_lock:
                    self._sock = None
                try:
                    s.close()
                except OSError:
                    pass
            self._stop.wait(self._reconnect)

    def _session(self, s):
        s.settimeout(HANDSHAKE_TIMEOUT)
        s.sendall(sp_header(SUB))
        buf = bytearray()
        while len(buf) < 8:
            chunk = s.recv(8 - len(buf))
            if not chunk:
                raise _Drop("closed during the SP handshake")
            buf += chunk
        bad = _check_header(buf, PUB)
        if bad:
            raise _Drop(bad)
        s.settimeout(None)
        self.connects += 1
        self._attached.set()
        _, hlen = _framer(self._scheme)
        ipc = hlen == 9
        buf = bytearray()
        pos = 0
        while not self._stop.is_set():
            chunk = s.recv(262144)
            if not chunk:
                raise _Drop("the publisher closed the stream")
            buf += chunk
            while len(buf) - pos >= hlen:
                if ipc and buf[pos] != 1:
                    raise _Drop("IPC message type %d, expected 1" % buf[pos])
                n = _LEN.unpack_from(buf, pos + hlen - 8)[0]
                if self._max_size is not None and n > self._max_size:
                    raise _Drop("a message of %d bytes is over the limit of %d"
                                % (n, self._max_size))
                if len(buf) - pos < hlen + n:
                    break
                body = bytes(buf[pos + hlen:pos + hlen + n])
                pos += hlen + n
                if body.startswith(self.prefix):
                    self._put(body)
            if pos:
                del buf[:pos]
                pos = 0

    def _put(self, body):
        with self._cv:
            if len(self._queue) >= self._recv_buffer:
                self._queue.popleft()  # prefer new events, as nng's sub0
                self.dropped += 1
            self._queue.append(body)
            self._cv.notify()

    # -------------------------------------------------------- telling

    def _tell_loop(self):
        while True:
            with self._cv:
                while not self._queue and not self._stop.is_set():
                    self._cv.wait()
                if self._stop.is_set():
                    return
                body = self._queue.popleft()
            try:
                topic, value = decode_event(body, self._max_depth)
            except codec.WireError as e:
                self.malformed += 1
                log.debug("subscription to %s: dropped a message: %s", self.url, e)
                continue
            if self._stop.is_set():
                return
            try:
                self._callback(topic, value)
            except Exception:
                log.exception("event callback for %r raised", topic)
            self.received += 1

    # -------------------------------------------------------- closing

    def close(self, timeout=1.0):
        """Stops the subscription: no callback runs after it returns
        (called from a callback, that one is the last). The reader thread
        is given ``timeout`` seconds (it may be dialing)."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        with self._sock_lock:
            s = self._sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._cv:
            self._cv.notify_all()
        me = threading.current_thread()
        if me is not self._teller:
            self._teller.join()
        if me is not self._reader:
            self._reader.join(timeout)

    unsubscribe = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<roc.Subscription %r on %s%s>" % (
            self.prefix.decode("utf-8", "replace"), self.url,
            " closed" if self.closed else "")


def subscribe_url(events_url, prefix="", callback=None, **opts):
    """Subscribes to the event endpoint events_url (as libroc's
    roc_subscribe_url): callback(topic, value) runs for each event whose
    topic begins with prefix ("" for all), one at a time, in order, on a
    thread of the subscription. Returns a running Subscription at once —
    the publisher need not be up yet: it is dialed until it answers.
    Options: reconnect (seconds between dials, 0.1), recv_buffer (events
    queued for the callback, 128), max_size (bytes of one message, 16 MiB;
    a longer one closes the stream, which is then redialed; None: no limit,
    as libroc's subscriber), connect_timeout (2 s)."""
    return Subscription(events_url, prefix, callback, **opts)


def events_url_of(target, timeout=None):
    """The event URL that the daemon of target (a roc.Proxy, a callback
    proxy, a roc.connect() connection, or a ROC URI) announces in
    describe("roc.daemon") — or that a local roc.Daemon has open; raises
    roc.RocError when it publishes none."""
    from .proxy import Proxy
    from .daemon import Daemon
    if isinstance(target, Daemon):
        if target.events_url is None:
            raise errors.RocError("the daemon on %s publishes no events" % target.url)
        return target.events_url
    own = None
    if isinstance(target, str):
        own = target = Proxy(target)
    try:
        conn, _ = target._connection()
        t = timeout if timeout is not None else getattr(target, "_timeout", None)
        d = conn.call("roc.daemon", "describe", ["roc.daemon"], timeout=t).result()
    finally:
        if own is not None:
            own._close()
    ev = d.get("events") if isinstance(d, dict) else None
    if not isinstance(ev, str) or not ev:
        raise errors.RocError("the daemon of %s publishes no events"
                              % getattr(target, "_uri", target))
    return ev


def subscribe(target, prefix="", callback=None, **opts):
    """Subscribes to the events of the daemon behind target (a roc.Proxy,
    a roc.connect() connection, a ROC URI, or a local roc.Daemon), as
    libroc's roc_subscribe:
    asks its describe("roc.daemon") for the event endpoint, then
    subscribe_url(). Raises roc.RocError when the daemon publishes no
    events, and as a call does when it cannot be reached."""
    if not callable(callback):
        raise TypeError("callback must be callable")
    return Subscription(events_url_of(target), prefix, callback, **opts)


# ---------------------------------------------------------------- publisher

class _Peer:
    __slots__ = ("sock", "inbuf", "ready", "queue", "out", "off", "deadline",
                 "events", "dropped", "addr", "broken")

    def __init__(self, sock, deadline, sendbuf, addr):
        self.sock, self.deadline, self.addr = sock, deadline, addr
        self.inbuf = bytearray()
        self.ready = False
        self.queue = collections.deque()
        self.out = memoryview(sp_header(PUB))
        self.off = 0
        self.events = 0
        self.dropped = 0
        self.broken = False


class Publisher:
    """An event endpoint (nng PUB) listening on url; Daemon.events_open
    makes one. publish() never blocks: it writes each event straight into
    the socket of every subscriber whose socket takes it (non-blocking),
    and queues it otherwise; one thread accepts subscribers and writes
    what was queued. A subscriber that does not keep up loses the oldest
    events queued for it (``send_buffer`` per subscriber). All writes to a
    subscriber's socket are made under one lock, so they never interleave."""

    def __init__(self, url, send_buffer=SEND_BUFFER, max_depth=codec.MAX_DEPTH,
                 handshake_timeout=HANDSHAKE_TIMEOUT):
        scheme = _scheme(url)
        self._frame_head, _ = _framer(scheme)
        self._listener = transport.listen(url)
        self.url = self._listener.url
        self._send_buffer = max(1, int(send_buffer))
        self._max_depth = max_depth
        self._handshake_timeout = handshake_timeout
        self._lock = threading.Lock()
        self._peers = []
        self._closed = False
        self._woken = False
        self.published = 0
        self.dropped = 0
        self.accepted = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._listener.sock.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener.sock, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="roc-events %s" % self.url)
        self._thread.start()

    # -------------------------------------------------------- API

    def publish(self, topic, value):
        """Sends value under topic to every subscriber attached now; returns
        how many it was queued for. Raises TypeError, ValueError or
        OverflowError for what cannot be sent, roc.RocError once closed."""
        msg = encode_event(topic, value, self._max_depth)
        frame = self._frame_head(len(msg)) + msg
        wake = False
        with self._lock:
            if self._closed:
                raise errors.RocError("the event endpoint %s is closed" % self.url)
            self.published += 1
            n = 0
            pending = False
            for p in self._peers:
                if not p.ready or p.broken:
                    continue
                n += 1
                if p.out is None and not p.queue:
                    # nothing in flight: straight into the socket, without
                    # blocking; the I/O thread sends what it did not take
                    try:
                        sent = p.sock.send(frame)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except OSError:
                        p.broken = True  # the I/O thread drops it
                        pending = True
                        continue
                    p.events += 1
                    if sent < len(frame):
                        p.out, p.off = memoryview(frame), sent
                        pending = True
                    continue
                if len(p.queue) >= self._send_buffer:
                    p.queue.popleft()
                    p.dropped += 1
                    self.dropped += 1
                p.queue.append(frame)
                pending = True
            if pending and not self._woken:
                self._woken = wake = True
        if wake:
            self._wake()
        return n

    def stats(self):
        """{"subscribers", "published", "dropped", "accepted"}: attached
        subscribers now; events published; events lost by slow
        subscribers; streams accepted."""
        with self._lock:
            return {"subscribers": sum(1 for p in self._peers if p.ready),
                    "published": self.published, "dropped": self.dropped,
                    "accepted": self.accepted}

    def close(self):
        """Closes the endpoint and every subscriber's stream."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    # -------------------------------------------------------- I/O thread

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # full (already woken) or closing

    def _loop(self):
        try:
            while True:
                with self._lock:
                    if self._closed:
                        break
                    deadlines = [p.deadline for p in self._peers if not p.ready]
                wait = 1.0
                if deadlines:
                    wait = max(0.0, min(wait, min(deadlines) - time.monotonic()))
                for key, mask in self._sel.select(wait):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        p = key.data
                        if mask & selectors.EVENT_READ and not self._read(p):
                            continue
                        if mask & selectors.EVENT_WRITE:
                            self._flush(p)
                now = time.monotonic()
                with self._lock:
                    late = [p for p in self._peers if not p.ready and p.deadline < now]
                for p in late:
                    self._drop(p, "no SP header in time")
        except Exception:
            log.exception("event endpoint %s failed", self.url)
        finally:
            self._shutdown()

    def _accept(self):
        while True:
            try:
                s = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("event endpoint %s: accept: %s", self.url, e)
                return
            s.setblocking(False)
            p = _Peer(s, time.monotonic() + self._handshake_timeout, self._send_buffer,
                      self._listener.peer(s))
            with self._lock:
                self._peers.append(p)
                self.accepted += 1
            self._sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, p)
            self._flush(p)

    def _drain_wake(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._lock:
            self._woken = False
            broken = [p for p in self._peers if p.broken]
            busy = [p for p in self._peers if p.ready and not p.broken
                    and (p.queue or p.out is not None)]
        for p in broken:
            self._drop(p, "send failed")
        for p in busy:
            self._flush(p)

    def _read(self, p):
        """Reads what a peer sent; False when it was dropped."""
        try:
            data = p.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as e:
            self._drop(p, str(e))
            return False
        if not data:
            self._drop(p, "closed")
            return False
        if p.ready:
            # a SUB sends nothing after its header (nng's pub0 closes too)
            self._drop(p, "the subscriber sent data")
            return False
        p.inbuf += data
        if len(p.inbuf) < 8:
            return True
        bad = _check_header(p.inbuf[:8], SUB)
        if bad or len(p.inbuf) > 8:
            self._drop(p, bad or "the subscriber sent data")
            return False
        with self._lock:
            p.ready = True
        self._flush(p)
        return True

    def _flush(self, p):
        """Writes what it can of a peer's queue without blocking, then
        watches the socket for writability only while something is left."""
        failed = None
        with self._lock:
            while True:
                if p.out is None:
                    if not p.queue:
                        break
                    p.out, p.off = memoryview(p.queue.popleft()), 0
                    p.events += 1
                try:
                    n = p.sock.send(p.out[p.off:])
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    failed = str(e)
                    break
                p.off += n
                if p.off >= len(p.out):
                    p.out = None
            pending = p.out is not None or bool(p.queue)
        if failed is not None:
            self._drop(p, failed)
            return
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
        try:
            if self._sel.get_key(p.sock).events != mask:
                self._sel.modify(p.sock, mask, p)
        except (KeyError, ValueError):
            pass

    def _drop(self, p, why):
        log.debug("event endpoint %s: subscriber %s dropped: %s", self.url, p.addr, why)
        with self._lock:
            if p in self._peers:
                self._peers.remove(p)
            p.queue.clear()
        try:
            self._sel.unregister(p.sock)
        except (KeyError, ValueError):
            pass
        try:
            p.sock.close()
        except OSError:
            pass

    def _shutdown(self):
        with self._lock:
            self._closed = True
            peers, self._peers = self._peers, []
        for p in peers:
            try:
                self._sel.unregister(p.sock)
            except (KeyError, ValueError):
                pass
            try:
                p.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            p.sock.close()
        try:
            self._sel.unregister(self._listener.sock)
        except (KeyError, ValueError):
            pass
        self._listener.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
