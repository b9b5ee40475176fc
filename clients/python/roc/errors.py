"""Exceptions of the roc package.

RocError is the root of everything this package raises on its own account.
RemoteError carries an error frame of the wire protocol (docs/wire.md,
section 6): ``code``, ``type``, ``message`` and ``data``. The runtime's
types roc.NoSuchObject ... roc.Internal have one subclass each; an
application exception (wire code 100) is a RemoteError whose ``type`` is its
qualified name (e.g. "echo.Failure"), or an instance of a subclass that
declares that name with the class attribute ``remote_type``::

    class Failure(roc.RemoteError):
        remote_type = "echo.Failure"

A subclass declared like this is raised by proxies for errors of that type,
and may be raised by a served method to send that type.
"""

__all__ = [
    "RocError", "RemoteError", "NoSuchObject", "NoSuchMethod", "BadArguments",
    "ProtocolError", "MessageTooLarge", "Unauthorized", "Timeout", "Internal",
    "CommunicationError", "ConnectionRefused", "ConnectionClosed",
    "NamingError", "APPLICATION",
]

APPLICATION = 100

_by_code = {}
_by_type = {}


class RocError(Exception):
    """Root of every exception raised by the roc package."""


class RemoteError(RocError):
    """An error frame: the peer (or this side, for a local timeout) failed
    the call. ``code`` is the wire code (1-8, 100), ``type`` the type name,
    ``message`` a text and ``data`` any value (None when there is none)."""

    code = APPLICATION
    remote_type = None

    def __init__(self, message="", type=None, data=None, code=None):
        super().__init__(message)
        self.message = "" if message is None else str(message)
        if code is None:
            code = self.__class__.code
        self.code = int(code)
        if type is None:
            type = self.__class__.remote_type or "python." + self.__class__.__name__
        self.type = type
        self.data = data

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        t = cls.__dict__.get("remote_type")
        if t:
            _by_type[t] = cls

    def __str__(self):
        return "%s: %s" % (self.type, self.message) if self.message else self.type

    def __repr__(self):
        return "%s(%r, type=%r, code=%d)" % (self.__class__.__name__,
                                            self.message, self.type, self.code)


def _runtime(name, code, doc, *bases):
    cls = type(name, (RemoteError,) + bases, {"code": code,
                                               "remote_type": "roc." + name,
                                               "__doc__": doc})
    _by_code[code] = cls
    return cls


NoSuchObject = _runtime("NoSuchObject", 1, "No object has that id (wire code 1).")
NoSuchMethod = _runtime("NoSuchMethod", 2, "The object has no such method (wire code 2).")
BadArguments = _runtime("BadArguments", 3, "Wrong argument count or types (wire code 3).")
ProtocolError = _runtime("ProtocolError", 4, "A malformed or unexpected frame (wire code 4); the connection closes.")
MessageTooLarge = _runtime("MessageTooLarge", 5, "A frame over the receiver's limit (wire code 5); the connection closes.")
Unauthorized = _runtime("Unauthorized", 6, "Authentication missing or refused (wire code 6).")
Timeout = _runtime("Timeout", 7, "The deadline passed (wire code 7), here or at the server.", TimeoutError)
Internal = _runtime("Internal", 8, "The receiver failed (wire code 8); unknown codes map here too.")


class CommunicationError(RocError, ConnectionError):
    """The endpoint could not be reached or the connection failed."""


class ConnectionRefused(CommunicationError):
    """Nothing listens at the address."""


class ConnectionClosed(CommunicationError):
    """The connection dropped while the call was in flight (never retried)."""


class NamingError(RocError):
    """A name could not be resolved through the name server."""


def from_wire(code, type_, message, data):
    """The exception for an error body [code, type, message, data]."""
    if isinstance(code, bool) or not isinstance(code, int):
        code = 8
    cls = _by_type.get(type_)
    if cls is None or (code != APPLICATION and cls.code != code):
        cls = _by_code.get(code)
        if cls is None:
            if code == APPLICATION:
                cls = RemoteError
            else:
                cls = Internal
                code = 8
    e = cls.__new__(cls)
    RemoteError.__init__(e, message, type=type_, data=data, code=code)
    return e


def to_wire(exc):
    """[code, type, message, data] for an exception raised by a served method."""
    if isinstance(exc, RemoteError):
        code = exc.code if exc.code in _by_code or exc.code == APPLICATION else 8
        return [code, exc.type, exc.message, exc.data]
    name = type(exc).__name__
    return [APPLICATION, "python." + name, str(exc), None]
