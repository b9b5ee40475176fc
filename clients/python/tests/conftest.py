"""pytest setup of clients/python/tests: the package from this tree, and a
clear failure (not a skip) when msgpack is missing. The test modules are
unittest.TestCase classes; pytest runs them unchanged, and so does run.py."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for p in (os.path.dirname(HERE), HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    import msgpack  # noqa: F401
except ImportError:
    raise pytest.UsageError("%s has no msgpack: install python3-msgpack (scripts/deps.sh)"
                            % sys.executable)
