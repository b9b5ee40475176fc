"""Byte streams named by nng URLs: tcp://, tcp4://, tcp6://, ipc://,
abstract:// (plain sockets), tls+tcp:// (tls+tcp4, tls+tcp6: TLS over TCP,
the daemon too) and ws:// / wss:// (a minimal RFC 6455 client; the Python
daemon does not listen on ws). TLS settings: roc/security.py."""
import base64
import hashlib
import os
import socket
import struct
import threading

from . import security
from .errors import CommunicationError, ConnectionRefused
from .uri import check_url

__all__ = ["connect", "listen"]


def _split_hostport(addr, url):
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = addr.rpartition(":")
    if not port.isdigit():
        raise ValueError("bad URL %r: expected host:port" % url)
    if host in ("", "*"):
        host = None
    return host, int(port)


def _family(scheme):
    return {"tcp4": socket.AF_INET, "tcp6": socket.AF_INET6, "tls+tcp4": socket.AF_INET,
            "tls+tcp6": socket.AF_INET6}.get(scheme, socket.AF_UNSPEC)


def _unix_addr(scheme, addr):
    if scheme == "abstract":
        return "\0" + addr
    return addr


def connect(url, timeout=None):
    """Opens a stream to url; raises ConnectionRefused or CommunicationError."""
    scheme = check_url(url)
    addr = url.split("://", 1)[1]
    tls = None
    if scheme.startswith("tls+tcp") or scheme == "wss":
        # before dialing: a bare IP without a server name, or no CA, is a
        # configuration error (ValueError), not a network one
        host = _split_hostport(addr.partition("/")[0], url)[0]
        tls = security.client_context(url, host)
    try:
        if scheme in ("tcp", "tcp4", "tcp6"):
            host, port = _split_hostport(addr, url)
            s = _tcp_connect(host or "127.0.0.1", port, _family(scheme), timeout)
        elif tls and scheme != "wss":
            host, port = _split_hostport(addr, url)
            s = _tcp_connect(host or "127.0.0.1", port, _family(scheme), timeout)
            s = security.wrap_client(s, url, tls[0], tls[1], timeout)
        elif scheme in ("ipc", "abstract"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(_unix_addr(scheme, addr))
            except BaseException:
                s.close()
                raise
        elif scheme in ("ws", "wss"):
            return WebSocket.connect(addr, url, timeout, tls)
        else:
            raise CommunicationError("transport %s:// is not supported by the Python client" % scheme)
    except (ConnectionRefusedError, FileNotFoundError) as e:
        raise ConnectionRefused("nothing listens at %s (%s)" % (url, e.strerror or e)) from None
    except CommunicationError:
        raise
    except socket.timeout:
        raise CommunicationError("connecting to %s timed out" % url) from None
    except OSError as e:
        raise CommunicationError("cannot reach %s: %s" % (url, e.strerror or e)) from None
    s.settimeout(None)
    return s


def _tcp_connect(host, port, family, timeout):
    err = None
    for fam, typ, proto, _, sa in socket.getaddrinfo(host, port, family, socket.SOCK_STREAM):
        s = socket.socket(fam, typ, proto)
        try:
            s.settimeout(timeout)
            s.connect(sa)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError as e:
            err = e
            s.close()
    raise err or OSError("no address for %s" % host)


class Listener:
    """A listening socket and the URL it is bound to (real port)."""

    def __init__(self, sock, url, path=None, tls=None):
        self.sock, self.url, self.path = sock, url, path
        self.tls = tls  # ssl.SSLContext of a tls+tcp listener

    def secure(self, s, timeout):
        """A TLS listener's handshake on an accepted socket (run on the
        connection's own thread); returns (socket, peer verified)."""
        if self.tls is None:
            return s, False
        s.settimeout(timeout)
        t = self.tls.wrap_socket(s, server_side=True)
        return t, bool(self.tls.verify_mode != 0 and t.getpeercert())

    def accept(self):
        s, _ = self.sock.accept()
        if s.family in (socket.AF_INET, socket.AF_INET6):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def peer(self, s):
        try:
            a = s.getpeername()
        except OSError:
            return None
        if s.family == socket.AF_INET:
            return "tcp://%s:%d" % a[:2]
        if s.family == socket.AF_INET6:
            return "tcp://[%s]:%d" % a[:2]
        return self.url

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def listen(url, backlog=128, tls=None):
    """Binds and listens at url; returns a Listener whose url has the real
    port when the URL asked for port 0. tls+tcp:// needs tls (a
    security.TLSOptions with a certificate+key file)."""
    scheme = check_url(url)
    addr = url.split("://", 1)[1]
    ctx = security.server_context(tls) if scheme.startswith("tls+tcp") else None
    try:
        if scheme in ("tcp", "tcp4", "tcp6") or ctx is not None:
            host, port = _split_hostport(addr, url)
            fam = _family(scheme)
            info = socket.getaddrinfo(host, port, fam, socket.SOCK_STREAM, 0,
                                      socket.AI_PASSIVE)[0]
            s = socket.socket(info[0], socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(info[4])
            s.listen(backlog)
            real = s.getsockname()[1]
            shown = addr[:len(addr) - len(str(port))] + str(real)
            return Listener(s, "%s://%s" % (scheme, shown), tls=ctx)
        if scheme in ("ipc", "abstract"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = None
            if scheme == "ipc":
                path = addr
                try:
                    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        probe.connect(path)
                        raise OSError(98, "Address already in use")
                    except (ConnectionRefusedError, FileNotFoundError):
                        if os.path.exists(path):
                            os.unlink(path)  # a stale socket file
                    finally:
                        probe.close()
                except OSError:
                    s.close()
                    raise
            s.bind(_unix_addr(scheme, addr))
            s.listen(backlog)
            return Listener(s, url, path)
    except OSError as e:
        raise CommunicationError("cannot listen on %s: %s" % (url, e.strerror or e)) from None
    raise CommunicationError("the Python daemon cannot listen on %s:// URLs" % scheme)


class WebSocket:
    """A minimal RFC 6455 client carrying the ROC byte stream in binary
    messages (nng's ws stream transport). Quacks like a socket for the
    connection: sendall, recv, shutdown, close, settimeout."""

    def __init__(self, sock, leftover=b""):
        self.sock = sock
        self.buf = bytearray()
        self.raw = bytearray(leftover)
        self.closed = False
        # One writer at a time: the reader answers pings and close frames
        # while the connection sends, and close() must not free an SSL
        # socket under a write.
        self.wlock = threading.Lock()

    @classmethod
    def connect(cls, addr, url, timeout, tls=None):
        hostport, slash, path = addr.partition("/")
        host, port = _split_hostport(hostport, url)
        s = _tcp_connect(host or "127.0.0.1", port, socket.AF_UNSPEC, timeout)
        if tls:
            s = security.wrap_client(s, url, tls[0], tls[1], timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key))
        s.sendall(req.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                s.close()
                raise ConnectionRefusedError(111, "websocket upgrade refused")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            s.close()
            raise ConnectionRefusedError(111, "websocket upgrade refused: " + lines[0])
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (ln.partition(":") for ln in lines[1:])}
        if hdrs.get("sec-websocket-accept") != want:
            s.close()
            raise ConnectionRefusedError(111, "bad Sec-WebSocket-Accept")
        s.settimeout(None)
        return cls(s, rest)

    @property
    def family(self):
        return self.sock.family

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload)) if n < 256 else _mask(payload, mask)
        with self.wlock:
            self.sock.sendall(hdr + mask + body)

    def sendall(self, data):
        self._send_frame(0x2, bytes(data))

    def _need(self, n):
        while len(self.raw) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.raw += chunk
        return True

    def recv(self, n):
        while not self.buf:
            if self.closed or not self._need(2):
                return b""
            b0, b1 = self.raw[0], self.raw[1]
            ln, off = b1 & 0x7F, 2
            if ln == 126:
                if not self._need(4):
                    return b""
                ln, off = struct.unpack_from("!H", self.raw, 2)[0], 4
            elif ln == 127:
                if not self._need(10):
                    return b""
                ln, off = struct.unpack_from("!Q", self.raw, 2)[0], 10
            mk = None
            if b1 & 0x80:
                if not self._need(off + 4):
                    return b""
                mk, off = bytes(self.raw[off:off + 4]), off + 4
            if not self._need(off + ln):
                return b""
            payload = bytes(self.raw[off:off + ln])
            del self.raw[:off + ln]
            if mk:
                payload = _mask(payload, mk)
            op = b0 & 0x0F
            if op in (0x0, 0x1, 0x2):
                self.buf += payload
            elif op == 0x8:
                self.closed = True
                try:
                    self._send_frame(0x8, payload[:2])
                except OSError:
                    pass
                return b""
            elif op == 0x9:
                self._send_frame(0xA, payload)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def shutdown(self, how):
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with self.wlock:
            self.sock.close()


def raw_socket(sock):
    """The socket under a connection's transport (the WebSocket's own
    socket, or the socket itself)."""
    return sock.sock if isinstance(sock, WebSocket) else sock


def _mask(payload, mask):
    n = len(payload)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")
