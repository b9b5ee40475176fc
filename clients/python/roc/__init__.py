"""roc: a pure-Python client and server for ROC (Remote Object Call),
a second implementation of wire protocol v1 (docs/wire.md)."""
from .errors import (RocError, RemoteError, NoSuchObject, NoSuchMethod,
                     BadArguments, ProtocolError, MessageTooLarge, Unauthorized,
                     Timeout, Internal, CommunicationError, ConnectionRefused,
                     ConnectionClosed, NamingError)
from .expose import expose
from .uri import parse as parse_uri, URI
from .connection import current_call, CallContext
from .proxy import Proxy, CallbackProxy, connect
from .daemon import Daemon, behavior
from .naming import NameServer, locate_ns
from .events import subscribe, subscribe_url, Subscription
from .security import (TLSOptions, PeerInfo, set_client_tls, set_client_key_file,
                       set_client_key)

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = ["RocError", "RemoteError", "NoSuchObject", "NoSuchMethod",
           "BadArguments", "ProtocolError", "MessageTooLarge", "Unauthorized",
           "Timeout", "Internal", "CommunicationError", "ConnectionRefused",
           "ConnectionClosed", "NamingError", "expose", "parse_uri", "URI",
           "current_call", "CallContext", "Proxy", "CallbackProxy", "Daemon",
           "behavior", "NameServer", "locate_ns", "connect", "TLSOptions",
           "PeerInfo", "set_client_tls", "set_client_key_file", "set_client_key",
           "subscribe", "subscribe_url", "Subscription"]
