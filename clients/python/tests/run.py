"""Runs one test module of clients/python/tests (or all of them) with
unittest; fails when the module cannot be imported, when msgpack is
missing, or when no test ran.

    python3 clients/python/tests/run.py [test_module ...]
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

try:
    import msgpack  # noqa: F401
except ImportError:
    print("%s has no msgpack: install python3-msgpack (scripts/deps.sh)" % sys.executable,
          file=sys.stderr)
    sys.exit(1)

names = sys.argv[1:]
loader = unittest.TestLoader()
if names:
    suite = unittest.TestSuite(loader.loadTestsFromName(n) for n in names)
else:
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
result = unittest.TextTestRunner(verbosity=2).run(suite)
if result.testsRun == 0:
    print("no test ran", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if result.wasSuccessful() else 1)
