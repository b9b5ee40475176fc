"""roc.Proxy: stands for one remote object, like a Pyro proxy.

    with roc.Proxy("ROC:echo@tcp://127.0.0.1:9100") as echo:
        echo.add(40, 2)                       # 42
        f = echo._future("sleep", 100)        # concurrent.futures.Future
        echo._oneway("echo", "x")             # no reply, no error
        echo.sleep.oneway(10)                 # the same through the method
        echo._call("sleep", 5000, timeout=0.1)   # raises roc.Timeout

Names that start with "_" belong to the proxy; call a remote method with
such a name through ``_call``.
"""
import os
import threading

from . import errors
from .connection import Connection
from .uri import parse

__all__ = ["Proxy", "CallbackProxy", "default_timeout"]

_UNSET = object()


def default_timeout():
    """Seconds: ROC_TIMEOUT_MS from the environment, else 30 (None: -1)."""
    v = os.environ.get("ROC_TIMEOUT_MS")
    if v:
        try:
            ms = int(v)
            return None if ms < 0 else ms / 1000.0
        except ValueError:
            pass
    return 30.0


class _Pool:
    """The process's connections, one per URL, shared by all proxies."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conns = {}
        self.users = {}
        self.dialing = {}

    def get(self, url, timeout):
        with self.lock:
            c = self.conns.get(url)
            if c is not None and not c.closed and not c.peer_bye and not c.bye_sent:
                return c
            ev = self.dialing.get(url)
            if ev is None:
                ev = self.dialing[url] = threading.Lock()
        with ev:
            with self.lock:
                c = self.conns.get(url)
                if c is not None and not c.closed and not c.peer_bye and not c.bye_sent:
                    return c
            try:
                c = Connection.dial(url, timeout)
            finally:
                with self.lock:
                    self.dialing.pop(url, None)
            with self.lock:
                self.conns[url] = c
            c.on_close.append(self._forget)
            return c

    def _forget(self, c):
        with self.lock:
            if self.conns.get(c.url) is c:
                del self.conns[c.url]

    def acquire(self, url):
        with self.lock:
            self.users[url] = self.users.get(url, 0) + 1

    def release(self, url):
        with self.lock:
            n = self.users.get(url, 0) - 1
            if n > 0:
                self.users[url] = n
                return
            self.users.pop(url, None)
            c = self.conns.get(url)
            if c is None or c.pending:
                return  # futures still wait on it: it stays in the pool
            del self.conns[url]
        c.close()

    def close_all(self):
        with self.lock:
            conns, self.conns = list(self.conns.values()), {}
        for c in conns:
            c.close()


_pool = _Pool()


class _Method:
    """proxy.name: call it, or use .oneway(...) / .future(...)."""

    __slots__ = ("_p", "_name")

    def __init__(self, proxy, name):
        self._p, self._name = proxy, name

    def __call__(self, *args, **kw):
        if kw:
            raise TypeError("ROC calls take positional arguments only")
        return self._p._call(self._name, *args)

    def oneway(self, *args):
        return self._p._oneway(self._name, *args)

    def future(self, *args, **opts):
        return self._p._future(self._name, *args, **opts)

    def __repr__(self):
        return "<remote method %s of %s>" % (self._name, self._p._uri)


class _Base:
    _timeout = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self, name)

    def _call(self, method, *args, timeout=_UNSET, trace=None, idempotent=False):
        """Calls method and waits for its result. timeout in seconds (None:
        no deadline; default: the proxy's ``_timeout``). A call flagged
        idempotent is sent once more when its connection dropped."""
        t = self._timeout if timeout is _UNSET else timeout
        fut = self._future(method, *args, timeout=t, trace=trace)
        try:
            return fut.result()
        except errors.ConnectionClosed:
            if not idempotent:
                raise
        return self._future(method, *args, timeout=t, trace=trace).result()

    def _oneway(self, method, *args, trace=None):
        """Sends a oneway call: no reply, no error from the server. Returns
        once the frame is sent."""
        conn, obj = self._connection()
        conn.call(obj, method, args, trace=trace, oneway=True)

    def __dir__(self):
        return sorted(set(object.__dir__(self)))


class Proxy(_Base):
    """A proxy for a ROC:, ROCNAME: or ROCMETA: URI. Thread-safe; all
    proxies of a process to one endpoint share one connection, on which
    many calls may be in flight. Opening one does no I/O; the first call
    connects. After the server restarts, the next call redials; calls in
    flight when the connection dropped fail with roc.ConnectionClosed and
    are never resent (unless flagged idempotent)."""

    def __init__(self, uri, timeout=_UNSET):
        u = parse(uri)
        self._uri = str(u)
        self._parsed = u
        self._object = u.id
        self._timeout = default_timeout() if timeout is _UNSET else timeout
        self._lock = threading.Lock()
        self._targets = None       # [(object id, url)]: replicas of a name
        self._next = 0
        self._acquired = set()
        self._closed = False
        if u.kind == "ROC":
            self._targets = [(u.id, u.url)]

    def __roc_ref__(self):
        return 1, self._resolved_uri()

    def _resolved_uri(self):
        if self._parsed.kind == "ROC":
            return self._uri
        self._resolve()
        obj, url = self._targets[self._next % len(self._targets)]
        return "ROC:%s@%s" % (obj, url)

    def _resolve(self, again=False):
        """Asks the name server for a ROCNAME:/ROCMETA: URI's objects."""
        if self._targets and not again:
            return
        from . import naming
        ps = [parse(x) for x in naming.resolve(self._parsed, self._timeout)]
        with self._lock:
            self._targets = [(p.id, p.url) for p in ps]
            self._next = 0
            self._object = ps[0].id

    def _connection(self):
        """(connection, object id): the next replica's open connection,
        dialled when needed; replicas that cannot be reached are skipped,
        and when none can, a name is resolved once more."""
        if self._closed:
            raise errors.RocError("the proxy is closed")
        self._resolve()
        last = None
        tried_resolve = False
        while True:
            with self._lock:
                targets = list(self._targets)
                start = self._next
                self._next = (self._next + 1) % len(targets)  # rotate over replicas
            for i in range(len(targets)):
                obj, url = targets[(start + i) % len(targets)]
                try:
                    c = _pool.get(url, self._timeout)
                except errors.CommunicationError as e:
                    last = e
                    continue
                with self._lock:
                    if url not in self._acquired:
                        _pool.acquire(url)
                        self._acquired.add(url)
                return c, obj
            if self._parsed.kind == "ROC" or tried_resolve:
                raise last
            tried_resolve = True
            self._resolve(again=True)

    def _future(self, method, *args, timeout=_UNSET, trace=None):
        """Sends the call and returns a concurrent.futures.Future at once;
        the arguments are encoded before it returns. future.cancel() sends
        a cancel to the server."""
        t = self._timeout if timeout is _UNSET else timeout
        conn, obj = self._connection()
        return conn.call(obj, method, args, timeout=t, trace=trace)

    _async = _future

    def _bind(self):
        """Connects now (instead of at the first call) and checks the
        handshake."""
        self._connection()
        return self

    def _ping(self, timeout=5.0):
        """Round trip of a ping frame to the proxy's endpoint, in seconds."""
        return self._connection()[0].ping(timeout)

    def _describe(self):
        """The object's description from roc.daemon.describe: id,
        interface, methods (name, params, result, nargs, flags), idl,
        instance, serialized."""
        conn, obj = self._connection()
        return conn.call("roc.daemon", "describe", [obj],
                         timeout=self._timeout).result()

    def _methods(self):
        return [m["name"] for m in self._describe()["methods"]]

    def _daemon(self):
        """A proxy for the roc.daemon object of this proxy's daemon."""
        self._resolve()
        return Proxy("ROC:roc.daemon@%s" % self._targets[0][1], self._timeout)

    def _close(self):
        """Releases the proxy's share of the connection (closed when no
        proxy uses it)."""
        with self._lock:
            self._closed = True
            urls, self._acquired = self._acquired, set()
        for url in urls:
            _pool.release(url)

    def _reopen(self):
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()

    def __del__(self):
        try:
            for url in self._acquired:
                _pool.release(url)
        except Exception:
            pass

    def __eq__(self, other):
        return isinstance(other, Proxy) and other._uri == self._uri

    def __hash__(self):
        return hash(self._uri)

    def __repr__(self):
        return "<roc.Proxy %s>" % self._uri

    def __getstate__(self):
        return {"uri": self._uri, "timeout": self._timeout}

    def __setstate__(self, st):
        self.__init__(st["uri"], st["timeout"])


class CallbackProxy(_Base):
    """A callback the peer exported on this very connection (ext type 2):
    calls travel back over that connection, in the opposite direction."""

    def __init__(self, connection, object_id, timeout=_UNSET):
        self._conn = connection
        self._object = object_id
        self._uri = object_id
        self._timeout = default_timeout() if timeout is _UNSET else timeout

    def __roc_ref__(self):
        return 2, self._object

    def _connection(self):
        if self._conn.closed:
            raise errors.ConnectionClosed("the connection of callback %s is closed" % self._object)
        return self._conn, self._object

    def _future(self, method, *args, timeout=_UNSET, trace=None):
        t = self._timeout if timeout is _UNSET else timeout
        return self._conn.call(self._object, method, args, timeout=t, trace=trace)

    _async = _future

    def _describe(self):
        raise errors.NoSuchObject("a callback has no roc.daemon to describe it")

    def _close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __eq__(self, other):
        return (isinstance(other, CallbackProxy) and other._conn is self._conn
                and other._object == self._object)

    def __hash__(self):
        return hash((id(self._conn), self._object))

    def __repr__(self):
        return "<roc.CallbackProxy %s>" % self._object


class Connected(_Base):
    """roc.connect(): an rpyc-style connection of its own (not shared with
    proxies: one connection, one session on the server). ``root`` calls
    the remote root object; the local ``service`` (an object with
    @roc.expose methods, or None) is offered to the server as this side's
    "service", which the server calls back over this connection."""

    def __init__(self, url, service=None, timeout=_UNSET):
        if url[:4].upper() == "ROC:":
            u = parse(url)
            obj, url = u.id, u.url
        else:
            obj = "service"
        self._timeout = default_timeout() if timeout is _UNSET else timeout
        self._object = obj
        self._uri = "ROC:%s@%s" % (obj, url)
        self._conn = Connection.dial(url, self._timeout)
        if service is not None:
            with self._conn.lock:
                self._conn.exports["service"] = service
                self._conn.export_ids[id(service)] = "service"

    @property
    def root(self):
        return self

    @property
    def alive(self):
        return not self._conn.closed

    def _connection(self):
        if self._conn.closed:
            raise errors.ConnectionClosed("the connection to %s is closed" % self._uri)
        return self._conn, self._object

    def _future(self, method, *args, timeout=_UNSET, trace=None):
        t = self._timeout if timeout is _UNSET else timeout
        return self._connection()[0].call(self._object, method, args, timeout=t, trace=trace)

    _async = _future

    def _proxy(self, object_id):
        """Another object of the server, over this same connection."""
        return CallbackProxy(self._conn, object_id, self._timeout)

    def _close(self):
        self._conn.close(wait=1.0)

    close = _close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()

    def __repr__(self):
        return "<roc.connect %s>" % self._uri


def connect(url, service=None, timeout=_UNSET):
    """Connects to a service: url is an nng URL (root object "service", as
    libroc's roc_serve) or a ROC: URI naming another root object."""
    return Connected(url, service, timeout)
