"""ROC URIs (DESIGN.md "URIs", libroc's roc/uri.h).

    ROC:<objectid>@<nng-url>          ROC:calc@tcp://10.0.0.5:9100
    ROCNAME:<name>[@<ns-url>]         ROCNAME:demo.calc
    ROCMETA:<tag>[,<tag>...][@<ns-url>]
"""
import re

__all__ = ["URI", "parse", "check_url", "valid_id", "TRANSPORTS"]

_ID = re.compile(r"[A-Za-z0-9_.:-]+\Z")
TRANSPORTS = ("tcp", "tcp4", "tcp6", "ipc", "abstract", "inproc", "ws", "wss",
              "tls+tcp", "tls+tcp4", "tls+tcp6")
MAX_TAGS = 32


def valid_id(s):
    """True when s is a valid object id, name or tag: [A-Za-z0-9_.:-]+."""
    return isinstance(s, str) and bool(_ID.match(s))


def check_url(url):
    """Checks an nng URL (known transport, non-empty address); returns its
    transport name or raises ValueError."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError("bad URL %r: expected <transport>://<address>" % (url,))
    scheme, addr = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in TRANSPORTS:
        raise ValueError("bad URL %r: unknown transport %r" % (url, scheme))
    if not addr:
        raise ValueError("bad URL %r: empty address" % (url,))
    return scheme


class URI:
    """A parsed URI: ``kind`` is "ROC", "ROCNAME" or "ROCMETA"; ``id`` the
    object id or name (None for ROCMETA), ``tags`` the ROCMETA tags, ``url``
    the nng URL after '@' (or None)."""

    __slots__ = ("kind", "id", "tags", "url")

    def __init__(self, kind, id=None, tags=(), url=None):
        self.kind, self.id, self.tags, self.url = kind, id, tuple(tags), url

    @property
    def transport(self):
        return self.url.split("://", 1)[0].lower() if self.url else None

    def __str__(self):
        body = ",".join(self.tags) if self.kind == "ROCMETA" else self.id
        return "%s:%s%s" % (self.kind, body, "@" + self.url if self.url else "")

    def __repr__(self):
        return "URI(%r)" % str(self)

    def __eq__(self, other):
        return isinstance(other, URI) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


def parse(text):
    """Parses a URI; raises ValueError naming the problem."""
    if isinstance(text, URI):
        return text
    if not isinstance(text, str):
        raise ValueError("a URI must be a string, not %s" % type(text).__name__)
    scheme, sep, rest = text.partition(":")
    if not sep:
        raise ValueError("bad URI %r: expected ROC:, ROCNAME: or ROCMETA:" % text)
    kind = scheme.upper()
    if kind not in ("ROC", "ROCNAME", "ROCMETA"):
        raise ValueError("bad URI %r: unknown scheme %r" % (text, scheme))
    body, at, url = rest.partition("@")
    if at:
        check_url(url)
    else:
        url = None
        if kind == "ROC":
            raise ValueError("bad URI %r: ROC: needs @<url>" % text)
    if kind == "ROCMETA":
        tags = body.split(",")
        if not tags or len(tags) > MAX_TAGS or not all(valid_id(t) for t in tags):
            raise ValueError("bad URI %r: bad tag list %r" % (text, body))
        return URI(kind, None, tags, url)
    if not valid_id(body):
        raise ValueError("bad URI %r: bad %s %r" % (
            text, "object id" if kind == "ROC" else "name", body))
    return URI(kind, body, (), url)
