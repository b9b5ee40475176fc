"""The name server client (docs/naming.md): roc-ns, object "roc.ns".

    ns = roc.locate_ns()                      # ROC_NS, else tcp://127.0.0.1:9090
    ns.register("demo.echo", uri, meta=["eu"], replica=True)
    ns.lookup("demo.echo")                    # "ROC:echo@tcp://..."
    roc.Proxy("ROCNAME:demo.echo").add(1, 2)
    roc.Proxy("ROCMETA:eu").add(1, 2)

The name server is the URI's @url, else the environment variable ROC_NS,
else tcp://127.0.0.1:9090. A url may be an nng URL or the name server's
full URI ("ROC:roc.ns@tcp://...").
"""
import os
from collections import namedtuple

from . import errors
from .uri import parse

__all__ = ["NameServer", "locate_ns", "resolve", "Entry", "NotFound", "Exists",
           "DEFAULT_NS", "NS_OBJECT", "REPLACE", "ADD_REPLICA"]

DEFAULT_NS = "tcp://127.0.0.1:9090"
NS_OBJECT = "roc.ns"
REPLACE, ADD_REPLICA = 1, 2
EXACT, PREFIX, REGEX = 0, 1, 2
_UNSET = object()

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


class NameServer:
    """A client of roc-ns (the IDL interface roc.naming.NameServer)."""

    def __init__(self, url=None, timeout=_UNSET):
        from .proxy import Proxy
        self.uri = _ns_uri(url)
        self._p = Proxy(self.uri) if timeout is _UNSET else Proxy(self.uri, timeout)

    def ping(self):
        return self._p.ping()

    def register(self, name, uri, meta=(), replace=False, replica=False):
        """Binds name to uri (a str or a Proxy). Without flags an existing
        name raises roc.naming.Exists; replace=True replaces it;
        replica=True adds uri to its URIs (tags merged)."""
        if replace and replica:
            raise ValueError("replace and replica exclude each other")
        if not isinstance(uri, str):
            uri = uri.__roc_ref__()[1]
        flags = REPLACE if replace else ADD_REPLICA if replica else 0
        self._p.register_name(name, uri, list(meta), flags)

    def lookup(self, name):
        """The first URI registered under name (roc.naming.NotFound else)."""
        return self._p.lookup(name)[0]

    def lookup_all(self, name):
        return list(self._p.lookup(name))

    def list(self, prefix="", regex=None):
        """Registrations whose name starts with prefix (or matches the POSIX
        extended regex), sorted by name: [Entry(name, uris, meta)]."""
        if regex is not None:
            return [Entry(*e[:3]) for e in self._p.list_names(regex, REGEX)]
        return [Entry(*e[:3]) for e in self._p.list_names(prefix, PREFIX)]

    def lookup_meta(self, tags, any=False):
        """Registrations carrying all of tags (any=True: at least one)."""
        return [Entry(*e[:3]) for e in self._p.lookup_meta(list(tags), bool(any))]

    def remove(self, name=None, prefix=None, regex=None):
        """Removes the registrations matching; returns how many."""
        if regex is not None:
            return self._p.remove(regex, REGEX)
        if prefix is not None:
            return self._p.remove(prefix, PREFIX)
        return self._p.remove(name, EXACT)

    def remove_uri(self, name, uri):
        """Removes one URI (a replica going away); 0 or 1."""
        return self._p.remove_uri(name, uri)

    def set_meta(self, name, meta):
        self._p.set_meta(name, list(meta))

    def count(self):
        return self._p.count()

    def _close(self):
        self._p._close()

    close = _close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()

    def __repr__(self):
        return "<roc.NameServer %s>" % self.uri


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
