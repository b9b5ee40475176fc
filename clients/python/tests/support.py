"""Helpers of the interop tests: find the C build, run servers as real
processes, poll with deadlines (never sleep to wait)."""
import glob
import os
import select
import socket
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(PKG))
sys.path.insert(0, PKG)


def build_dir():
    """The C build: $ROC_BUILD_DIR (ctest sets it), else a build*/ of the tree
    that has the echo example."""
    d = os.environ.get("ROC_BUILD_DIR")
    if d:
        return d
    for d in sorted(glob.glob(os.path.join(ROOT, "build*"))):
        if os.access(os.path.join(d, "examples/echo/echo-server"), os.X_OK):
            return d
    return None


def c_binary(rel):
    d = build_dir()
    p = os.path.join(d, rel) if d else None
    if not p or not os.access(p, os.X_OK):
        if os.environ.get("ROC_BUILD_DIR"):
            raise AssertionError("missing C binary %s" % p)
        raise unittest.SkipTest("C binary %s not built" % rel)
    return p


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = PKG + os.pathsep + e.get("PYTHONPATH", "")
    return e


def terminate(proc, timeout=10.0):
    """SIGTERM, SIGKILL after timeout seconds, and reap."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """A server process that prints its URI as the first line."""

    def __init__(self, argv, timeout=10.0):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env())
        self.uri = read_line(self.proc, timeout)
        if not self.uri:
            err = self.proc.stderr.read1(4096) if self.proc.poll() is not None else b""
            self.stop()
            raise AssertionError("%s printed no URI (%r)" % (argv, err))
        self.url = self.uri.split("@", 1)[1]

    def stop(self, timeout=10.0):
        terminate(self.proc, timeout)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def read_line(proc, timeout):
    end = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            buf += chunk
    return buf.split(b"\n", 1)[0].decode().strip()


def c_echo_server(url="tcp://127.0.0.1:0"):
    return Server([c_binary("examples/echo/echo-server"), url])


def py_echo_server(url="tcp://127.0.0.1:0"):
    return Server([sys.executable, "-m", "roc.examples.echo_server", url])


def run_c_client(*args, timeout=30.0):
    """Runs echo-client; returns (exit status, stdout, stderr)."""
    p = subprocess.run([c_binary("examples/echo/echo-client")] + list(args),
                       capture_output=True, timeout=timeout, text=True)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def poll(pred, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Raw:
    """A raw ROC byte stream to a daemon, for malformed-input tests."""

    def __init__(self, url):
        import roc.transport
        self.s = roc.transport.connect(url, 5.0)
        self.buf = b""

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            pass

    def frame(self, timeout=5.0):
        """The next frame's body, or None at end of stream."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return body
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no frame in time")
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk

    def eof(self, timeout=5.0):
        """True when the peer closes within timeout (data discarded)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.s.settimeout(max(0.01, end - time.monotonic()))
            try:
                if not self.s.recv(65536):
                    return True
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
        return False

    def close(self):
        self.s.close()
