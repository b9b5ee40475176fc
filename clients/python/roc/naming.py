"""Name server client: ROCNAME:/ROCMETA: resolution (issue 4). The C name
server roc-ns is not in the tree yet; until it is, resolution fails with
roc.NamingError."""
import os

from . import errors

DEFAULT_NS = "tcp://127.0.0.1:9090"


def ns_url():
    return os.environ.get("ROC_NS") or DEFAULT_NS


def resolve(uri, timeout=None):
    raise errors.NamingError("cannot resolve %s: the name server client is not built yet" % uri)
