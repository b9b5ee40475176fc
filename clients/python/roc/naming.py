"""The name server client (docs/naming.md): roc-ns, object "roc.ns".

    ns = roc.locate_ns()                      # ROC_NS, else tcp://127.0.0.1:9090
    ns.register("demo.echo", uri, meta=["eu"], replica=True)
    ns.lookup("demo.echo")                    # "ROC:echo@tcp://..."
    roc.Proxy("ROCNAME:demo.echo").add(1, 2)
    roc.Proxy("ROCMETA:eu").add(1, 2)

    def changed(event, name, uris, meta):     # "put", "removed", "synced", "lost"
        print(event, name, uris)
    w = ns.watch("demo.", changed)            # changes as they happen
    w.entries()                               # {name: (uris, meta)}
    w.stop()

The name server is the URI's @url, else the environment variable ROC_NS,
else tcp://127.0.0.1:9090. A url may be an nng URL or the name server's
full URI ("ROC:roc.ns@tcp://..."), or several of them (a comma-separated
string or a list): the client then uses one at a time and moves on to the
next when a call is not answered, as libroc's roc_ns does.
"""
import collections
import logging
import os
import threading
import time
from collections import namedtuple

from . import errors
from .connection import Connection
from .daemon import behavior
from .expose import expose
from .uri import parse, valid_id

__all__ = ["NameServer", "Watch", "locate_ns", "resolve", "Entry", "NotFound",
           "Exists", "DEFAULT_NS", "NS_OBJECT", "REPLACE", "ADD_REPLICA", "PUT",
           "REMOVED", "SYNCED", "LOST"]

DEFAULT_NS = "tcp://127.0.0.1:9090"
NS_OBJECT = "roc.ns"
REPLACE, ADD_REPLICA = 1, 2
EXACT, PREFIX, REGEX = 0, 1, 2
_UNSET = object()
MAX_NAME = 255

# the events a watch tells its callback
PUT, REMOVED, SYNCED, LOST = "put", "removed", "synced", "lost"
WATCH_TIMEOUT = 5.0          # seconds a watch waits for a name server's answer
WATCH_MAX_PENDING = 4096     # changes held while a watch's answer is awaited
_NO_ANSWER = (errors.CommunicationError, errors.Timeout)
_log = logging.getLogger("roc.naming")

Entry = namedtuple("Entry", "name uris meta")


class NotFound(errors.RemoteError, errors.NamingError):
    """roc.naming.NotFound: the name is not registered (data: [name])."""
    remote_type = "roc.naming.NotFound"


class Exists(errors.RemoteError, errors.NamingError):
    """roc.naming.Exists: the name is registered already (data: [name, uris])."""
    remote_type = "roc.naming.Exists"


def ns_url():
    """ROC_NS, else the default name server URL."""
    return os.environ.get("ROC_NS") or DEFAULT_NS


def _ns_uri(url):
    url = url or ns_url()
    if url[:4].upper() == "ROC:":
        return url
    return "ROC:%s@%s" % (NS_OBJECT, url)


def _ns_uris(url):
    """The name server URIs of url: None (ROC_NS, else the default), one
    URL or URI, a comma-separated list of them, or a list."""
    if url is None or url == "":
        url = ns_url()
    parts = url.split(",") if isinstance(url, str) else list(url)
    out = [_ns_uri(p.strip()) for p in parts if p and p.strip()]
    if not out:
        raise ValueError("no name server URL in %r" % (url,))
    return out


def _none_answered(last, n):
    """The error of a call that no name server of a list of n answered."""
    if n < 2:
        return last
    msg = getattr(last, "message", None) or str(last)
    try:
        return type(last)("%s (none of the %d name servers answered)" % (msg, n))
    except Exception:
        return last


class NameServer:
    """A client of roc-ns (the IDL interface roc.naming.NameServer).

    ``url`` is one name server (an nng URL or its ``ROC:roc.ns@...`` URI) or
    several (a comma-separated string or a list, as ``ROC_NS``); None takes
    ``ROC_NS``, else the default. With several, the client uses one at a
    time, beginning with the first: a call it does not answer (refused,
    closed, timed out) goes to the next one, which then stays in use; the
    call fails only when none answers. ``timeout`` is each call's, in
    seconds (default: as roc.Proxy)."""

    def __init__(self, url=None, timeout=_UNSET):
        from .proxy import Proxy
        self.uris = _ns_uris(url)
        self._timeout = timeout
        self._proxies = [Proxy(u) if timeout is _UNSET else Proxy(u, timeout)
                         for u in self.uris]
        self._cur = 0

    @property
    def uri(self):
        """The URI of the name server in use."""
        return self.uris[self._cur]

    def _call(self, method, *args):
        n = len(self._proxies)
        start = self._cur
        last = None
        for i in range(n):
            k = (start + i) % n
            try:
                out = self._proxies[k]._call(method, *args)
            except _NO_ANSWER as e:
                if n == 1:
                    raise
                last = e
                continue
            if k != start:
                self._cur = k
            return out
        raise _none_answered(last, n) from last

    def ping(self):
        return self._call("ping")

    def register(self, name, uri, meta=(), replace=False, replica=False):
        """Binds name to uri (a str or a Proxy). Without flags an existing
        name raises roc.naming.Exists; replace=True replaces it;
        replica=True adds uri to its URIs (tags merged)."""
        if replace and replica:
            raise ValueError("replace and replica exclude each other")
        if not isinstance(uri, str):
            uri = uri.__roc_ref__()[1]
        flags = REPLACE if replace else ADD_REPLICA if replica else 0
        self._call("register_name", name, uri, list(meta), flags)

    def lookup(self, name):
        """The first URI registered under name (roc.naming.NotFound else)."""
        return self._call("lookup", name)[0]

    def lookup_all(self, name):
        return list(self._call("lookup", name))

    def list(self, prefix="", regex=None):
        """Registrations whose name starts with prefix (or matches the POSIX
        extended regex), sorted by name: [Entry(name, uris, meta)]."""
        if regex is not None:
            return [Entry(*e[:3]) for e in self._call("list_names", regex, REGEX)]
        return [Entry(*e[:3]) for e in self._call("list_names", prefix, PREFIX)]

    def lookup_meta(self, tags, any=False):
        """Registrations carrying all of tags (any=True: at least one)."""
        return [Entry(*e[:3]) for e in self._call("lookup_meta", list(tags), bool(any))]

    def remove(self, name=None, prefix=None, regex=None):
        """Removes the registrations matching; returns how many."""
        if regex is not None:
            return self._call("remove", regex, REGEX)
        if prefix is not None:
            return self._call("remove", prefix, PREFIX)
        return self._call("remove", name, EXACT)

    def remove_uri(self, name, uri):
        """Removes one URI (a replica going away); 0 or 1."""
        return self._call("remove_uri", name, uri)

    def set_meta(self, name, meta):
        self._call("set_meta", name, list(meta))

    def count(self):
        return self._call("count")

    def watch(self, prefix="", callback=None, *, check=None, timeout=None):
        """Watches the names beginning with prefix ("" for all): returns a
        running roc.naming.Watch (see there) that keeps a view of them
        (``entries()``) and calls ``callback(event, name, uris, meta)``
        for every change, with event "put", "removed", "synced" or "lost".
        Before it returns, callback has been told "put" for every name
        there now, then "synced". ``check`` is how often (seconds) the
        watch asks the name server whether it still holds it (default
        ROC_NS_WATCH_CHECK_MS, else 1 s); ``timeout`` bounds each call to
        the name server (default: this client's timeout if it was given
        one, else 5 s). Raises as a call does when no name server answers;
        roc.NoSuchMethod from a roc-ns that predates watches."""
        if timeout is None:
            timeout = self._timeout if self._timeout not in (_UNSET, None) else WATCH_TIMEOUT
        return Watch(self, prefix, callback, check=check, timeout=timeout)

    def _close(self):
        for p in self._proxies:
            p._close()

    close = _close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()

    def __repr__(self):
        return "<roc.NameServer %s>" % ",".join(self.uris)


def _check_seconds():
    """ROC_NS_WATCH_CHECK_MS (10 ms to 10 min) in seconds, else 1."""
    v = os.environ.get("ROC_NS_WATCH_CHECK_MS")
    try:
        ms = int(v) if v else 0
    except ValueError:
        ms = 0
    return ms / 1000.0 if 10 <= ms <= 600000 else 1.0


def _is_u64(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _strs(v):
    """A tuple of the strings of a list from the wire (None if it is not)."""
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        return None
    return tuple(v)


@behavior(ordered=True, interface="roc.naming.Watcher")
class _Watcher:
    """The roc.naming.Watcher a Watch passes to NameServer.watch. Its calls
    run one at a time in the order they arrived (behavior ordered), which
    is the order of their seq."""

    def __init__(self, watch):
        self._watch = watch

    @expose(oneway=True, params="u64 watch, u64 seq, roc.naming.Entry entry",
            result="void")
    def put(self, watch, seq, entry):
        if not (_is_u64(watch) and _is_u64(seq) and isinstance(entry, (list, tuple))
                and len(entry) >= 3 and isinstance(entry[0], str)):
            return
        uris, meta = _strs(entry[1]), _strs(entry[2])
        if uris and meta is not None:  # (a put without URIs is ignored, as in libroc)
            self._watch._change(watch, seq, entry[0], uris, meta)

    @expose(oneway=True, params="u64 watch, u64 seq, string name", result="void")
    def removed(self, watch, seq, name):
        if _is_u64(watch) and _is_u64(seq) and isinstance(name, str):
            self._watch._change(watch, seq, name, None, None)


class Watch:
    """A watch of the names under a prefix (NameServer.watch), as libroc's
    roc_ns_watch: the name server tells it of every change to them, made by
    anyone through any roc-ns over the same registry (lease ends included),
    by calling back a roc.naming.Watcher over this watch's own connection,
    so no listener is needed here.

    The watch keeps a view of the names, ``entries()``, and tells
    ``callback(event, name, uris, meta)``:

    - ``"put"``: name is registered or changed; uris and meta are what it
      holds now (lists of strings);
    - ``"removed"``: name is gone (uris and meta empty);
    - ``"synced"``: (name None) the view is complete: once at the start,
      and again after each "lost";
    - ``"lost"``: (name None) the name server stopped answering or forgot
      the watch (it restarted): changes may be missing until "synced".

    Every ``check`` seconds a thread of the watch asks the name server
    whether it still holds the watch (``watching``); at once when the
    connection closes. When the name server does not answer or says no,
    the callback is told "lost" and the watch is made again, on the next
    name server when the NameServer was given several, until one answers;
    names that went meanwhile are then told "removed", new or changed ones
    "put", and "synced" follows.

    Changes are applied one at a time in the order the name server sent
    them, the order of their seq (one whose seq is not above the last
    applied is dropped); those that arrive before the watch's answer are
    held until it is in, and those of an earlier watch or at or below the
    answer's seq are dropped. Callbacks run one at a time, in order, on a
    thread of the watch (a slow callback delays the ones after it, never
    the connection); they may call the name server, ``entries()`` and
    ``stop()``. An exception a callback raises is logged (logger
    "roc.naming") and the watch goes on. ``stop()`` ends the watch, waiting
    for a callback in progress: no callback runs after it returns. A Watch
    is also a context manager. Make one with NameServer.watch.
    """

    def __init__(self, ns, prefix="", callback=None, *, check=None, timeout=WATCH_TIMEOUT):
        if prefix is None:
            prefix = ""
        if (not isinstance(prefix, str) or len(prefix) > MAX_NAME
                or (prefix and not valid_id(prefix))):
            raise ValueError("bad prefix %r: names are [A-Za-z0-9_.:-]+, at most %d "
                             "characters" % (prefix, MAX_NAME))
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        self.prefix = prefix
        self.check = float(check) if check is not None else _check_seconds()
        if self.check <= 0:
            raise ValueError("check must be a positive number of seconds")
        self.timeout = timeout
        self._callback = callback
        self._servers = []
        for u in ns.uris:
            p = parse(u)
            self._servers.append((p.id, p.url))
        self._cur = ns._cur % len(self._servers)
        self._servant = _Watcher(self)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)     # the checker's
        self._ready = threading.Condition(self._lock)    # the deliverer's
        self._told_cv = threading.Condition(self._lock)  # "synced" told
        self._conn = None           # this watch's connection (None: none)
        self._conn_obj = None       # the name server's object id on it
        self._id = 0                # the watch in force (0: none)
        self._seq = 0               # seq of the last change applied
        self._view = {}             # name -> (uris, meta) as the changes say
        self._pending = []          # changes held until the answer is in
        self._pend_lost = False     # too many held: watch again
        self._resync = False        # the view missed changes: watch again
        self._lost = False          # told "lost", not yet made again
        self._poke = False          # check at once (the connection closed)
        self._stopping = False
        self._events = collections.deque()  # to tell, in order
        self._told = {}             # the view as told to the callback
        self._synced = False        # the last of synced/lost told: synced
        self._n_synced = 0
        self._deliverer = threading.Thread(target=self._deliver_loop, daemon=True,
                                           name="roc-watch-tell %s" % (prefix or '""'))
        self._checker = threading.Thread(target=self._check_loop, daemon=True,
                                         name="roc-watch %s" % (prefix or '""'))
        try:
            self._sync()
        except BaseException:
            with self._lock:
                self._stopping = True
            self._drop_conn()
            raise
        self._deliverer.start()
        self._checker.start()
        with self._lock:
            while self._n_synced == 0 and not self._stopping:
                self._told_cv.wait()

    # ------------------------------------------------------------ public

    def entries(self):
        """The watch's view: {name: (uris, meta)} of the names under the
        prefix, as the callback has been told them so far."""
        with self._lock:
            return {n: (list(u), list(m)) for n, (u, m) in sorted(self._told.items())}

    @property
    def synced(self):
        """True when the view is complete (the last of "synced" and "lost"
        told was "synced")."""
        with self._lock:
            return self._synced and not self._stopping

    @property
    def id(self):
        """The name server's id of the watch in force (None while there
        is none)."""
        with self._lock:
            return self._id or None

    @property
    def uri(self):
        """The URI of the name server the watch uses (or tries next)."""
        obj, url = self._servers[self._cur]
        return "ROC:%s@%s" % (obj, url)

    @property
    def stopped(self):
        with self._lock:
            return self._stopping

    def stop(self):
        """Ends the watch: tells the name server (when it still holds it),
        closes the watch's connection and waits for its threads. No
        callback runs after it returns (called from a callback, that
        callback is the last). Calling it again does nothing."""
        with self._lock:
            first = not self._stopping
            self._stopping = True
            self._events.clear()
            self._wake.notify_all()
            self._ready.notify_all()
            self._told_cv.notify_all()
        me = threading.current_thread()
        if self._checker.ident is not None and self._checker is not me:
            self._checker.join()
        if first:
            with self._lock:
                wid = 0 if self._lost else self._id  # lost: its name server forgot it
                conn, obj = self._conn, self._conn_obj
            if wid and conn is not None and not conn.closed:
                try:
                    conn.call(obj, "unwatch", [wid], timeout=min(self.timeout, 2.0)).result()
                except Exception:
                    pass
            self._drop_conn()
        if self._deliverer.ident is not None and self._deliverer is not me:
            self._deliverer.join()

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "<roc.naming.Watch %r on %s%s>" % (self.prefix, self.uri,
                                                  " stopped" if self._stopping else "")

    # ------------------------------------------------------------ changes

    def _change(self, watch, seq, name, uris, meta):
        """A change told by the name server (uris None: removed); from the
        connection's worker, one at a time in the order they arrived."""
        with self._lock:
            if self._stopping or not name.startswith(self.prefix):
                return
            if self._id:
                # changes of an earlier watch are late: dropped
                if watch == self._id and seq > self._seq:
                    self._seq = seq
                    self._apply(name, uris, meta)
            elif len(self._pending) >= WATCH_MAX_PENDING:
                self._pend_lost = True
            else:
                self._pending.append((watch, seq, name, uris, meta))

    def _apply(self, name, uris, meta):
        """name now holds uris/meta (None: removed): the view follows, and
        the callback is told when something changed. Lock held."""
        if not uris:
            if self._view.pop(name, None) is not None:
                self._tell(REMOVED, name, (), ())
            return
        v = (uris, meta)
        if self._view.get(name) == v:
            return
        self._view[name] = v
        self._tell(PUT, name, uris, meta)

    def _tell(self, event, name, uris, meta):
        self._events.append((event, name, uris, meta))
        self._ready.notify()

    # ------------------------------------------------------------ the name server

    def _sync(self):
        """Asks for the watch (again), on the name server in use and then
        on the next ones of the list, and brings the view to what the
        answer says: removed, put, then synced."""
        with self._lock:
            old = self._id if self._resync else 0  # still in force there
            self._id = 0  # changes from here on are held until the answer is in
            self._resync = False
            conn, obj = self._conn, self._conn_obj
        try:
            if old and conn is not None and not conn.closed:
                try:
                    conn.call(obj, "unwatch", [old], timeout=self.timeout).result()
                except Exception:
                    pass
            n = len(self._servers)
            last = None
            for _ in range(n):
                obj, url = self._servers[self._cur]
                try:
                    conn = self._connect(url, obj)
                    ws = conn.call(obj, "watch", [self.prefix, self._servant],
                                   timeout=self.timeout).result()
                    break
                except _NO_ANSWER as e:
                    last = e
                    self._drop_conn()
                    self._cur = (self._cur + 1) % n
            else:
                raise _none_answered(last, n) from last
            wid, seq, entries = _watch_start(ws)
            with self._lock:
                if self._stopping:
                    return
                here = set()
                for name, uris, meta in entries:
                    here.add(name)
                # names gone while the watch was not in force
                for name in sorted(self._view):
                    if name not in here:
                        self._apply(name, None, None)
                for name, uris, meta in entries:
                    if name.startswith(self.prefix) and uris:
                        self._apply(name, uris, meta)
                self._id, self._seq = wid, seq
                for pwatch, pseq, name, uris, meta in self._pending:
                    if pwatch == wid and pseq > self._seq:
                        self._seq = pseq
                        self._apply(name, uris, meta)
                self._lost = False
                self._resync = self._pend_lost  # held changes were dropped
                self._tell(SYNCED, None, (), ())
        finally:
            with self._lock:
                self._pending = []
                self._pend_lost = False

    def _connect(self, url, obj):
        """The watch's connection to url, dialled when needed."""
        with self._lock:
            conn = self._conn
        if conn is not None and conn.url == url and not (conn.closed or conn.peer_bye
                                                          or conn.bye_sent):
            return conn
        self._drop_conn()
        conn = Connection.dial(url, self.timeout)
        conn.on_close.append(self._conn_closed)
        with self._lock:
            self._conn, self._conn_obj = conn, obj
        return conn

    def _drop_conn(self):
        with self._lock:
            conn, self._conn, self._conn_obj = self._conn, None, None
        if conn is not None:
            conn.close("watch ended")

    def _conn_closed(self, conn):
        # the reader thread of a connection that closed: check at once
        with self._lock:
            if conn is self._conn:
                self._check_now_locked()

    def _check_now(self):
        """Has the watch's thread check now instead of at the end of its
        period (tests)."""
        with self._lock:
            self._check_now_locked()

    def _check_now_locked(self):
        if not self._stopping:
            self._poke = True
            self._wake.notify()

    def _still_watching(self, wid):
        """Whether the name server in use still holds watch wid; moves on
        to the next name server when it does not answer."""
        with self._lock:
            conn, obj = self._conn, self._conn_obj
        try:
            if conn is None:
                raise errors.ConnectionClosed("no connection")
            return conn.call(obj, "watching", [wid], timeout=self.timeout).result() is True
        except _NO_ANSWER:
            self._drop_conn()
            if len(self._servers) > 1:
                self._cur = (self._cur + 1) % len(self._servers)
            return False
        except Exception:
            return False

    def _check_loop(self):
        while True:
            with self._lock:
                end = time.monotonic() + self.check
                while not self._stopping and not self._poke:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                if self._stopping:
                    return
                self._poke = False
                wid = self._id
                again = self._resync or wid == 0
            if not again and self._still_watching(wid):
                continue
            with self._lock:
                if self._stopping:
                    return
                if not self._lost:
                    self._lost = True
                    self._tell(LOST, None, (), ())
            try:
                self._sync()
            except Exception as e:
                _log.debug("watch %r: no name server answered: %s", self.prefix, e)

    # ------------------------------------------------------------ telling

    def _deliver_loop(self):
        while True:
            with self._lock:
                while not self._events and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                event, name, uris, meta = self._events.popleft()
                if event == PUT:
                    self._told[name] = (uris, meta)
                elif event == REMOVED:
                    self._told.pop(name, None)
                else:
                    self._synced = event == SYNCED
            cb = self._callback
            if cb is not None:
                try:
                    cb(event, name, list(uris), list(meta))
                except Exception:
                    _log.exception("watch %r: the callback failed on %s %s",
                                   self.prefix, event, name)
            if event == SYNCED:
                with self._lock:
                    self._n_synced += 1
                    self._told_cv.notify_all()


def _watch_start(ws):
    """(watch, seq, [(name, uris, meta)]) of a WatchStart from the wire."""
    if isinstance(ws, dict):
        ws = [ws.get("watch"), ws.get("seq"), ws.get("entries")]
    if (not isinstance(ws, (list, tuple)) or len(ws) < 3 or not _is_u64(ws[0])
            or not ws[0] or not _is_u64(ws[1]) or not isinstance(ws[2], (list, tuple))):
        raise errors.ProtocolError("the name server's answer to watch is not a WatchStart")
    entries = []
    for e in ws[2]:
        if isinstance(e, dict):
            e = [e.get("name"), e.get("uris"), e.get("meta")]
        if not isinstance(e, (list, tuple)) or len(e) < 3 or not isinstance(e[0], str):
            continue
        uris, meta = _strs(e[1]), _strs(e[2])
        if uris is not None and meta is not None:
            entries.append((e[0], uris, meta))
    return ws[0], ws[1], entries


def locate_ns(url=None, timeout=_UNSET):
    """A NameServer client for url (else ROC_NS, else the default), checked
    with a ping: raises roc.ConnectionRefused when nothing answers."""
    ns = NameServer(url, timeout)
    ns.ping()
    return ns


def resolve(uri, timeout=None):
    """The ROC: URIs a ROCNAME:/ROCMETA: URI stands for, as libroc resolves
    them (replicas; every URI of every registration carrying all the tags)."""
    u = parse(uri)
    if u.kind == "ROC":
        return [str(u)]
    ns = NameServer(u.url, timeout)
    try:
        if u.kind == "ROCNAME":
            out = ns.lookup_all(u.id)
        else:
            out = []
            for e in ns.lookup_meta(u.tags):
                out += [x for x in e.uris if x not in out]
            if not out:
                raise errors.NamingError("%s: no registration carries the tags asked for" % u)
        return out
    except errors.CommunicationError as e:
        raise type(e)("%s: name server %s: %s" % (u, ns.uri, e)) from None
    finally:
        ns._close()
