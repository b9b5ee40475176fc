"""TLS and the pre-shared-key handshake (docs/security.md, docs/wire.md
section "Handshake"), with the option names of libroc's roc/security.h.

Clients (proxies, roc.connect, the name server client) use process-wide
settings: ``roc.set_client_tls(...)`` and ``roc.set_client_key_file(path)``
(or ``set_client_key(bytes)``), else the environment: ``ROC_TLS_CA``,
``ROC_TLS_CERT``, ``ROC_TLS_SERVER_NAME`` and ``ROC_KEY_FILE``. A daemon
takes its own: ``roc.Daemon(url, tls=roc.TLSOptions(...), key_file=...,
authorize=...)``.

The key handshake: the client's hello carries ``"nonce": bin(16)`` when it
holds a key; a keyed daemon answers with ``"auth": true``, its own nonce and
``"proof": HMAC-SHA256(key, "roc-server" | client nonce | daemon nonce)``;
the client checks it and sends ``[1, 9, HMAC-SHA256(key, "roc-client" |
client nonce | daemon nonce)]``. Both sides prove the key; it never travels.
"""
import hashlib
import hmac
import ipaddress
import os
import ssl
import threading

from . import errors

__all__ = ["TLSOptions", "PeerInfo", "set_client_tls", "set_client_key_file",
           "set_client_key", "load_key", "NONCE_LEN", "PROOF_LEN", "MAX_KEY"]

NONCE_LEN = 16
PROOF_LEN = 32
MAX_KEY = 256


class TLSOptions:
    """TLS settings (libroc's roc_tls_opts).

    ``ca_file``: PEM file of trusted CA(s); a client needs one, a daemon needs
    one to check client certificates. ``cert_key_file``: own certificate and
    private key in one PEM file (a daemon needs one). ``server_name``
    (client): the name the server's certificate must carry; default: the
    URL's host when it is a DNS name; dialing a bare IP address without it
    is refused. ``require_client_cert`` (daemon): mutual TLS."""

    __slots__ = ("ca_file", "cert_key_file", "server_name", "require_client_cert")

    def __init__(self, ca_file=None, cert_key_file=None, server_name=None,
                 require_client_cert=False):
        self.ca_file, self.cert_key_file = ca_file, cert_key_file
        self.server_name, self.require_client_cert = server_name, bool(require_client_cert)

    @classmethod
    def of(cls, x):
        """A TLSOptions from None, a TLSOptions or a dict of its fields."""
        if x is None or isinstance(x, TLSOptions):
            return x
        if isinstance(x, dict):
            return cls(**x)
        raise TypeError("tls must be a roc.TLSOptions or a dict, not %s" % type(x).__name__)

    def __repr__(self):
        return "TLSOptions(%s)" % ", ".join("%s=%r" % (k, getattr(self, k))
                                            for k in self.__slots__ if getattr(self, k))


class PeerInfo:
    """What an authorization hook knows of the caller (roc_peer_info):
    ``address`` ("tcp://127.0.0.1:40522"), ``tls``, ``tls_verified`` (the
    peer presented a certificate the daemon's CA verified) and
    ``authenticated`` (the peer proved the daemon's key)."""

    __slots__ = ("address", "tls", "tls_verified", "authenticated")

    def __init__(self, address, tls=False, tls_verified=False, authenticated=False):
        self.address, self.tls = address, tls
        self.tls_verified, self.authenticated = tls_verified, authenticated

    def __repr__(self):
        return "PeerInfo(%r, tls=%r, tls_verified=%r, authenticated=%r)" % (
            self.address, self.tls, self.tls_verified, self.authenticated)


# ------------------------------------------------------------ keys

def load_key(path):
    """The key in a file: its bytes with trailing newlines removed, at most
    256 bytes. Raises ValueError for an unreadable, empty or too long file
    (an error, never an open daemon)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY + 1)
    except OSError as e:
        raise ValueError("cannot read key file %s: %s" % (path, e.strerror or e)) from None
    if len(data) > MAX_KEY:
        raise ValueError("key file %s is longer than %d bytes" % (path, MAX_KEY))
    data = data.rstrip(b"\r\n")
    if not data:
        raise ValueError("key file %s is empty" % path)
    return data


def _check_key(key):
    if isinstance(key, str):
        key = key.encode()
    key = bytes(key)
    if not key:
        raise ValueError("empty key")
    if len(key) > MAX_KEY:
        raise ValueError("key longer than %d bytes" % MAX_KEY)
    return key


_lock = threading.Lock()
_key = None          # bytes, or None: ROC_KEY_FILE
_key_set = False
_tls = None          # TLSOptions, or None: the environment
_tls_set = False


def set_client_key_file(path):
    """The process's key for outgoing connections, from a file (see
    load_key). None clears it (ROC_KEY_FILE applies again)."""
    k = load_key(path) if path is not None else None
    global _key, _key_set
    with _lock:
        _key, _key_set = k, path is not None


def set_client_key(key):
    """The process's key from memory (bytes or str). None clears it."""
    k = _check_key(key) if key is not None else None
    global _key, _key_set
    with _lock:
        _key, _key_set = k, key is not None


def client_key():
    """The key to prove (bytes), or None. ROC_KEY_FILE when none was set."""
    with _lock:
        if _key_set:
            return _key
    path = os.environ.get("ROC_KEY_FILE")
    return load_key(path) if path else None


def set_client_tls(opts=None, **fields):
    """The process's TLS settings for outgoing tls+tcp:// and wss://
    connections: ``set_client_tls(ca_file=..., cert_key_file=...,
    server_name=...)`` or ``set_client_tls(roc.TLSOptions(...))``.
    ``set_client_tls(None)`` restores the environment defaults (ROC_TLS_CA,
    ROC_TLS_CERT, ROC_TLS_SERVER_NAME). Connections already open keep theirs."""
    global _tls, _tls_set
    if fields:
        if opts is not None:
            raise TypeError("give a TLSOptions or keyword fields, not both")
        opts = TLSOptions(**fields)
    opts = TLSOptions.of(opts)
    with _lock:
        _tls, _tls_set = opts, opts is not None


def _client_tls():
    with _lock:
        if _tls_set:
            return _tls
    e = os.environ
    return TLSOptions(e.get("ROC_TLS_CA") or None, e.get("ROC_TLS_CERT") or None,
                      e.get("ROC_TLS_SERVER_NAME") or None)


def proof(key, label, cnonce, snonce):
    """HMAC-SHA256(key, label | client nonce | daemon nonce)."""
    return hmac.new(key, label + cnonce + snonce, hashlib.sha256).digest()


def proof_ok(got, want):
    return isinstance(got, bytes) and hmac.compare_digest(got, want)


def nonce():
    return os.urandom(NONCE_LEN)


# ------------------------------------------------------------ TLS

def is_tls(url):
    s = url.split("://", 1)[0].lower()
    return s.startswith("tls+tcp") or s == "wss"


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def client_context(url, host):
    """(ssl context, server name) for dialing url whose host is host.
    Raises ValueError for a bare IP address without a server name, or
    without a CA file: the server's name is always checked."""
    o = _client_tls()
    name = o.server_name
    if not name and (not host or _is_ip(host)):
        raise ValueError("TLS to the bare IP address %s would not check the server's "
                         "name: give a server name (roc.set_client_tls(server_name=...), "
                         "ROC_TLS_SERVER_NAME) or dial a DNS name" % (host or "*"))
    if not o.ca_file:
        raise ValueError("TLS needs a CA file to check the server "
                         "(roc.set_client_tls(ca_file=...), ROC_TLS_CA)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=o.ca_file)
    except (OSError, ssl.SSLError) as e:
        raise ValueError("TLS: cannot load the CA file %s: %s" % (o.ca_file, e)) from None
    if o.cert_key_file:
        try:
            ctx.load_cert_chain(o.cert_key_file)
        except (OSError, ssl.SSLError) as e:
            raise ValueError("TLS: cannot load the certificate+key file %s: %s"
                             % (o.cert_key_file, e)) from None
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx, name or host


def server_context(opts):
    """The ssl context of a TLS daemon (opts: TLSOptions)."""
    if opts is None or not opts.cert_key_file:
        raise ValueError("a TLS daemon needs a certificate+key file "
                         "(tls=roc.TLSOptions(cert_key_file=...))")
    if opts.require_client_cert and not opts.ca_file:
        raise ValueError("requiring client certificates needs a CA file "
                         "(tls=roc.TLSOptions(ca_file=...))")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(opts.cert_key_file)
    except (OSError, ssl.SSLError) as e:
        raise ValueError("TLS: cannot load the certificate+key file %s: %s"
                         % (opts.cert_key_file, e)) from None
    if opts.ca_file:
        try:
            ctx.load_verify_locations(cafile=opts.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ValueError("TLS: cannot load the CA file %s: %s" % (opts.ca_file, e)) from None
    ctx.verify_mode = (ssl.CERT_REQUIRED if opts.require_client_cert
                       else ssl.CERT_OPTIONAL if opts.ca_file else ssl.CERT_NONE)
    return ctx


def wrap_client(sock, url, ctx, name, timeout):
    """Runs the TLS handshake on a connected socket (ctx, name from
    client_context); returns the SSLSocket. A certificate that is not
    trusted or not for the name raises roc.Unauthorized, as libroc does."""
    try:
        sock.settimeout(timeout)
        return ctx.wrap_socket(sock, server_hostname=name)
    except ssl.SSLCertVerificationError as e:
        sock.close()
        raise errors.Unauthorized("TLS handshake with %s failed: the server's certificate "
                                  "is not trusted or not for this name (%s)"
                                  % (url, e.verify_message or e)) from None
    except ssl.SSLError as e:
        sock.close()
        raise errors.CommunicationError("TLS handshake with %s failed: %s" % (url, e)) from None
    except BaseException:
        sock.close()
        raise
