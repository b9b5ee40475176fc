"""roc.Daemon: serves Python objects to ROC clients (C or Python), like a
Pyro daemon, with the built-in roc.daemon object of docs/wire.md section 11."""
import inspect
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import codec, errors, events, security, transport
from .connection import Connection
from .expose import exposed_methods, expose
from .uri import valid_id

__all__ = ["Daemon", "behavior", "invoke_export"]

DAEMON_IDL = ("module roc {\n"
              "    interface Daemon {\n"
              "        idempotent string ping();\n"
              "        idempotent list<string> objects();\n"
              "        idempotent map<string, any> describe(string object_id);\n"
              "        idempotent map<string, any> stats();\n"
              "    }\n"
              "}\n")
MODES = ("single", "session", "percall")


def behavior(instance="session", serialized=False, interface=None, idl=None,
             ordered=False):
    """Class decorator, as Pyro's @behavior: how a *class* registered with a
    daemon is instantiated — "single" (one instance), "session" (one per
    client connection, the default) or "percall" — whether its calls run
    one at a time (serialized) and the interface name and IDL text that
    describe shows. With ``ordered`` the calls each connection makes on the
    object (served by a daemon, or exported as a callback) run one at a
    time in the order they arrived — oneway notifications such as a name
    server's Watcher calls are then handled in the order they were sent
    (otherwise the worker pool may run them in any order)."""
    if instance not in MODES:
        raise ValueError("instance must be one of %s" % (MODES,))

    def mark(cls):
        cls._roc_behavior = {"instance": instance, "serialized": serialized,
                             "ordered": bool(ordered)}
        if interface is not None:
            cls._roc_interface = interface
        if idl is not None:
            cls._roc_idl = idl
        return cls
    return mark


class _Registration:
    def __init__(self, object_id, obj, cls, methods, mode, serialized, iface, idl):
        self.id, self.obj, self.cls, self.methods = object_id, obj, cls, methods
        self.mode, self.serialized, self.iface, self.idl = mode, serialized, iface, idl
        self.lock = threading.Lock()
        self.single = None
        self.single_lock = threading.Lock()

    def describe(self):
        return {"id": self.id, "interface": self.iface,
                "methods": [m.describe() for m in self.methods.values()],
                "idl": self.idl, "instance": self.mode,
                "serialized": self.serialized}


def _registration(object_id, obj, instance=None, serialized=None, interface=None, idl=None):
    cls = obj if inspect.isclass(obj) else type(obj)
    methods = exposed_methods(cls)
    if not methods:
        raise TypeError("%s has no methods marked @roc.expose" % cls.__name__)
    beh = getattr(cls, "_roc_behavior", {})
    if inspect.isclass(obj):
        mode = instance or beh.get("instance", "session")
    else:
        mode = "single"
        if instance not in (None, "single"):
            raise ValueError("an instance is always served as 'single'; register its class instead")
    ser = serialized if serialized is not None else beh.get("serialized", False)
    iface = interface or getattr(cls, "_roc_interface", None) or cls.__name__
    idl = idl or getattr(cls, "_roc_idl", None)
    reg = _Registration(object_id, obj, cls, methods, mode, bool(ser), iface, idl)
    if not inspect.isclass(obj):
        reg.single = obj
    return reg


def _error_frame(cid, code, etype, message, data=None):
    return codec.frame([1, codec.ERROR, cid, [code, etype, message, data]])


def _runtime_error(cid, cls, message):
    return _error_frame(cid, cls.code, cls.remote_type, message)


def _dispatch(conn, env, ctx, reg, count):
    """Runs one call on a registration; returns the reply frame (None for
    a oneway). count(name) counts calls/errors/oneways."""
    cid = env.id
    m = reg.methods.get(env.method)
    if m is None:
        count("errors")
        if cid:
            count("calls")
        return _runtime_error(cid, errors.NoSuchMethod, "object '%s' has no method '%s'"
                              % (env.object, env.method))
    if m.nargs >= 0 and m.nargs != len(env.args):
        count("errors")
        if cid:
            count("calls")
        return _runtime_error(cid, errors.BadArguments, "%s.%s takes %d argument%s, got %d"
                              % (env.object, m.name, m.nargs, "" if m.nargs == 1 else "s",
                                 len(env.args)))
    if cid == 0:
        count("oneways")
    else:
        count("calls")
    if ctx.deadline is not None and time.monotonic() > ctx.deadline:
        count("errors")
        return _runtime_error(cid, errors.Timeout,
                              "the caller's deadline passed before the call could run")
    try:
        inst = _instance(conn, reg)
    except Exception:
        count("errors")
        return _runtime_error(cid, errors.Internal, "the servant could not be created")
    fn = getattr(inst, m.attr)
    try:
        if m.nargs < 0:
            try:
                inspect.signature(fn).bind(*env.args)
            except TypeError as e:
                raise errors.BadArguments("%s.%s: %s" % (env.object, m.name, e)) from None
            except ValueError:
                pass
        if reg.serialized:
            with reg.lock:
                result = fn(*env.args)
        else:
            result = fn(*env.args)
    except Exception as e:
        count("errors")
        if not cid:
            return None
        code, etype, msg, data = errors.to_wire(e)
        try:
            data = codec.encode_value(data, conn.max_depth, conn.export)
        except Exception:
            data = None
        return _error_frame(cid, code, etype, msg, data)
    if not cid:
        return None
    try:
        wire = codec.encode_value(result, conn.max_depth, conn.export)
        reply = codec.frame([1, codec.RESULT, cid, wire])
    except Exception as e:
        count("errors")
        return _runtime_error(cid, errors.Internal, "the result of %s.%s cannot be sent: %s"
                              % (env.object, m.name, e))
    if len(reply) - 4 > codec.MAX_FRAME:
        count("errors")
        return _runtime_error(cid, errors.MessageTooLarge,
                              "the result of %s.%s cannot be sent: %d bytes is over the frame limit"
                              % (env.object, m.name, len(reply) - 4))
    return reply


def _instance(conn, reg):
    if reg.mode == "single":
        if reg.single is None:
            with reg.single_lock:
                if reg.single is None:
                    reg.single = reg.cls()
        return reg.single
    if reg.mode == "percall":
        return reg.cls()
    with conn.lock:
        inst = conn.sessions.get(reg.id)
    if inst is None:
        inst = reg.cls()
        with conn.lock:
            inst = conn.sessions.setdefault(reg.id, inst)
    return inst


def _nocount(name):
    pass


def invoke_export(conn, env, ctx):
    """Serves a call on an object the connection exported as a callback."""
    with conn.lock:
        obj = conn.exports.get(env.object)
    if obj is None:
        if not env.id:
            return None
        return _runtime_error(env.id, errors.NoSuchObject,
                              "no object '%s' on this connection" % env.object)
    return _dispatch(conn, env, ctx, _registration(env.object, obj), _nocount)


class _DaemonObject:
    """The built-in roc.daemon object."""

    def __init__(self, daemon):
        self._d = daemon

    @expose(idempotent=True, params="", result="string")
    def ping(self):
        return "pong"

    @expose(idempotent=True, params="", result="list<string>")
    def objects(self):
        with self._d._lock:
            return list(self._d._objects)

    @expose(idempotent=True, params="string object_id", result="map<string, any>")
    def describe(self, object_id):
        if not isinstance(object_id, str):
            raise errors.BadArguments("describe(object_id): object_id must be a string")
        with self._d._lock:
            reg = self._d._objects.get(object_id)
        if reg is None:
            raise errors.NoSuchObject("no object '%s' on this daemon" % object_id)
        d = reg.describe()
        d["events"] = self._d.events_url  # as libroc: the event URL, or nil
        return d

    @expose(idempotent=True, params="", result="map<string, any>")
    def stats(self):
        return self._d.stats()


class Daemon:
    """Serves Python objects on one nng URL (tcp://, ipc://, abstract://)::

        daemon = roc.Daemon("tcp://127.0.0.1:9100")
        uri = daemon.register(Greeter(), "greeter")   # "ROC:greeter@tcp://..."
        daemon.serve()                                # or daemon.start()

    Port 0 picks a free port; ``daemon.url`` is the bound URL. Calls run on
    a pool of ``workers`` threads; the limits are those of docs/wire.md
    section 9 (max_frame bytes, max_depth, max_conns, max_inflight calls
    per connection, hello_timeout seconds).

    Security (docs/security.md), as libroc's roc_daemon_opts: ``tls`` (a
    roc.TLSOptions or dict: cert_key_file, ca_file, require_client_cert) for
    tls+tcp:// URLs; ``key_file``, the pre-shared key clients must prove
    (default: ROC_KEY_FILE from the environment if set; an empty or
    unreadable file raises ValueError); ``authorize(peer, object, method)``,
    called before every call with a roc.PeerInfo, returns true to allow the
    call, false to refuse it with roc.Unauthorized.
    """

    def __init__(self, url="tcp://127.0.0.1:0", *, max_frame=codec.MAX_FRAME,
                 max_depth=codec.MAX_DEPTH, max_conns=1024, max_inflight=256,
                 workers=32, hello_timeout=5.0, tls=None, key_file=None,
                 authorize=None):
        self.opts = {"max_frame": max_frame, "max_depth": max_depth,
                     "max_conns": max_conns, "max_inflight": max_inflight,
                     "hello_timeout": hello_timeout}
        import os
        kf = key_file or os.environ.get("ROC_KEY_FILE") or None
        self._key = security.load_key(kf) if kf else None
        self._authorize = authorize
        self._listener = transport.listen(url, tls=security.TLSOptions.of(tls))
        self.url = self._listener.url
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="roc-worker")
        self._lock = threading.Lock()
        self._objects = {}
        self._conns = set()
        self._counters = {"calls": 0, "errors": 0, "oneways": 0, "accepted": 0,
                          "protocol_errors": 0}
        self._started = time.monotonic()
        self._thread = None
        self._stop = threading.Event()
        self.shutting_down = False
        self._ns_names = []
        self._events = None
        self._events_lock = threading.Lock()
        self._objects["roc.daemon"] = _registration(
            "roc.daemon", _DaemonObject(self), interface="roc.Daemon", idl=DAEMON_IDL)

    # ------------------------------------------------------------ objects

    def register(self, obj, object_id=None, *, instance=None, serialized=None,
                 interface=None, idl=None, name=None, meta=(), ns=None):
        """Serves obj (an instance, or a class instantiated per ``instance``
        mode) under object_id (default: the class name); returns its URI.
        With ``name``, also registers the URI with the name server (``ns``:
        its URL, else ROC_NS, else the default) as a replica of that name,
        with the tags ``meta``; shutdown() removes it again."""
        if object_id is None:
            cls = obj if inspect.isclass(obj) else type(obj)
            object_id = cls.__name__
        if not valid_id(object_id):
            raise ValueError("bad object id %r: expected [A-Za-z0-9_.:-]+" % (object_id,))
        if object_id == "roc.daemon":
            raise ValueError("roc.daemon is the daemon's own object")
        reg = _registration(object_id, obj, instance, serialized, interface, idl)
        with self._lock:
            if object_id in self._objects:
                raise ValueError("object id %r is already registered" % object_id)
            self._objects[object_id] = reg
        uri = self.uri_for(object_id)
        if name is not None:
            try:
                self.ns_register(name, uri, meta, ns)
            except BaseException:
                with self._lock:
                    self._objects.pop(object_id, None)
                raise
        return uri

    def ns_register(self, name, uri, meta=(), ns=None):
        """Registers uri under name with the name server, as a replica (the
        URI is removed again at shutdown, so other replicas stay)."""
        from .naming import NameServer
        with NameServer(ns) as n:
            n.register(name, uri, meta, replica=True)
        self._ns_names.append((name, uri, ns))

    def _ns_unregister(self, entry):
        from .naming import NameServer
        name, uri, ns = entry
        with NameServer(ns, timeout=2.0) as n:
            n.remove_uri(name, uri)

    def unregister(self, object_id):
        """Stops serving an object (by id, or the registered object itself)."""
        with self._lock:
            if not isinstance(object_id, str):
                object_id = next((k for k, r in self._objects.items()
                                  if r.obj is object_id), None)
            if object_id == "roc.daemon" or object_id not in self._objects:
                raise KeyError(object_id)
            del self._objects[object_id]

    def uri_for(self, object_id):
        return "ROC:%s@%s" % (object_id, self.url)

    def objects(self):
        with self._lock:
            return list(self._objects)

    # ------------------------------------------------------------ events

    def events_open(self, url="tcp://127.0.0.1:0", **opts):
        """Opens the daemon's event endpoint (nng PUB, as libroc's
        roc_daemon_events_open) on url — tcp://, ipc:// or abstract://, port
        0 for any — and returns the bound URL, which describe() then
        announces as "events" so that roc.subscribe (Python) and
        roc_subscribe (C) find it. Raises roc.RocError when one is already
        open, roc.CommunicationError when it cannot listen. Options:
        send_buffer (events queued per subscriber before the oldest is
        dropped, 16)."""
        with self._events_lock:
            if self._events is not None:
                raise errors.RocError("events are already open on %s" % self._events.url)
            if self.shutting_down:
                raise errors.RocError("the daemon is shutting down")
            self._events = events.Publisher(url, max_depth=self.opts["max_depth"], **opts)
            return self._events.url

    @property
    def events_url(self):
        """The bound event URL, or None when no endpoint is open."""
        pub = self._events
        return pub.url if pub is not None else None

    def publish(self, topic, value):
        """Publishes value under topic (str or bytes, at most 255 bytes, no
        NUL) to the subscribers attached now, as roc_daemon_publish: best
        effort, never blocks (a subscriber that does not keep up loses its
        oldest events). Returns how many subscribers it was queued for.
        Raises roc.RocError without an event endpoint, TypeError /
        ValueError / OverflowError for a value or topic that cannot be sent."""
        pub = self._events
        if pub is None:
            raise errors.RocError("no event endpoint: call events_open first")
        return pub.publish(topic, value)

    def events_stats(self):
        """{"subscribers", "published", "dropped", "accepted"} of the event
        endpoint (None when none is open)."""
        pub = self._events
        return pub.stats() if pub is not None else None

    # ------------------------------------------------------------ serving

    def start(self):
        """Serves on background threads and returns."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                            name="roc-accept %s" % self.url)
            self._thread.start()
        return self

    def serve(self):
        """Serves until shutdown() is called (from a signal handler or
        another thread). Pyro's requestLoop."""
        self.start()
        while not self._stop.wait(0.2):
            pass

    requestLoop = serve

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s = self._listener.accept()
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.01)
                continue
            with self._lock:
                full = len(self._conns) >= self.opts["max_conns"] or self.shutting_down
                if not full:
                    self._counters["accepted"] += 1
            if full:
                s.close()
                continue
            c = Connection.accepted(s, self, self._listener.peer(s))
            c.on_close.append(self._conn_closed)
            with self._lock:
                self._conns.add(c)
            if c.closed:
                self._conn_closed(c)

    def _conn_closed(self, c):
        with self._lock:
            self._conns.discard(c)
            c.sessions.clear()

    def _count(self, name, n=1):
        with self._lock:
            self._counters[name] += n

    def _invoke(self, conn, env, ctx):
        if self.shutting_down:
            self._count("errors")
            if env.id:
                self._count("calls")
                return _runtime_error(env.id, errors.Internal, "the daemon is shutting down")
            return None
        if self._authorize is not None:
            peer = security.PeerInfo(conn.peer, conn.tls, conn.tls_verified, conn.authenticated)
            try:
                ok = self._authorize(peer, env.object, env.method)
            except Exception:
                ok = False
            if not ok:
                self._count("errors")
                if not env.id:
                    return None
                self._count("calls")
                return _runtime_error(env.id, errors.Unauthorized, "not authorized to call %s.%s"
                                      % (env.object, env.method))
        with self._lock:
            reg = self._objects.get(env.object)
        if reg is None:
            with conn.lock:
                obj = conn.exports.get(env.object)
            if obj is not None:
                reg = _registration(env.object, obj)
        if reg is None:
            self._count("errors")
            if not env.id:
                return None
            self._count("calls")
            return _runtime_error(env.id, errors.NoSuchObject,
                                  "no object '%s' on this daemon" % env.object)
        return _dispatch(conn, env, ctx, reg, self._count)

    def stats(self):
        """The counters roc.daemon.stats() returns."""
        with self._lock:
            s = dict(self._counters)
            s["connections"] = len(self._conns)
        return {"calls": s["calls"], "errors": s["errors"], "oneways": s["oneways"],
                "connections": s["connections"], "accepted": s["accepted"],
                "protocol_errors": s["protocol_errors"],
                "uptime_s": round(time.monotonic() - self._started, 3), "url": self.url}

    def shutdown(self, wait=5.0):
        """Stops accepting, lets calls in progress finish (up to wait
        seconds), says bye to every connection and stops serving."""
        if self.shutting_down:
            self._stop.set()
            return
        self.shutting_down = True
        self._stop.set()
        for name in list(self._ns_names):
            try:
                self._ns_unregister(name)
            except Exception:
                pass
        self._listener.close()
        with self._events_lock:
            pub = self._events
        if pub is not None:
            pub.close()
        end = time.monotonic() + wait
        while time.monotonic() < end:
            with self._lock:
                busy = any(c.active for c in self._conns)
            if not busy:
                break
            time.sleep(0.01)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close("shutdown")
        self.executor.shutdown(wait=False)

    close = shutdown

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
