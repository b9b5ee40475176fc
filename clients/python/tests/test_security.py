"""TLS and the pre-shared-key handshake (docs/security.md), both ways with
the C runtime: a Python proxy -> the C echo-server with a key and over
tls+tcp / wss; the C echo-client -> the Python echo_server with a key and
over TLS; Python <-> Python for mutual TLS, a raw call before the proof and
the authorization hook. Certificates are made by openssl in a temporary
directory for each run (no committed keys), as tests/test_tls.c does."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import support

import roc
from roc import codec, security
from roc.connection import Connection

D = None  # the temporary directory


def P(name):
    return os.path.join(D, name)


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, cwd=D, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(name):
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-days 2 -subj /CN=%s -keyout %s.key -out %s.pem" % (name, name, name))


def make_cert(name, cn, ca):
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=%s "
       "-keyout %s.key -out %s.csr && printf 'subjectAltName=DNS:%s\\n' > %s.ext && "
       "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days 2 "
       "-extfile %s.ext -out %s.crt && cat %s.crt %s.key > %s.pem"
       % (cn, name, name, cn, name, name, ca, ca, name, name, name, name, name))


def setUpModule():
    global D
    D = tempfile.mkdtemp(prefix="roc-pysec-")
    if not shutil.which("openssl"):
        raise unittest.SkipTest("openssl is not installed")
    make_ca("ca")
    make_ca("evilca")
    make_cert("server", "localhost", "ca")
    make_cert("other", "otherhost", "ca")
    make_cert("evil", "localhost", "evilca")
    make_cert("client", "client1", "ca")
    for name, text in (("key", "correct horse battery staple\n"), ("other.key", "not the key\n"),
                       ("empty.key", ""), ("crlf.key", "k\r\n\n")):
        with open(P(name), "w") as f:
            f.write(text)
    with open(P("long.key"), "wb") as f:
        f.write(b"x" * 257)


def tearDownModule():
    reset()
    if D:
        shutil.rmtree(D, ignore_errors=True)


def reset():
    roc.set_client_key(None)
    roc.set_client_tls(None)
    from roc.proxy import _pool
    _pool.close_all()


def server(argv, **env):
    """A server process (C or Python) with extra environment."""
    e = support.env()
    e.pop("ROC_KEY_FILE", None)
    e.update(env)
    s = support.Server.__new__(support.Server)
    s.argv = argv
    s.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    s.uri = support.read_line(s.proc, 10.0)
    if not s.uri:
        s.stop()
        raise AssertionError("%s printed no URI" % argv)
    s.url = s.uri.split("@", 1)[1]
    return s


def c_echo(*args, **env):
    return server([support.c_binary("examples/echo/echo-server")] + list(args), **env)


def py_echo(*args, **env):
    return server([sys.executable, "-m", "roc.examples.echo_server"] + list(args), **env)


def c_client(uri, *args, **env):
    """echo-client with extra environment: (status, stdout, stderr)."""
    e = dict(os.environ)
    for k in ("ROC_KEY_FILE", "ROC_TLS_CA", "ROC_TLS_CERT", "ROC_TLS_SERVER_NAME"):
        e.pop(k, None)
    e.update(env)
    p = subprocess.run([support.c_binary("examples/echo/echo-client"), "--timeout", "5000",
                        uri] + list(args), capture_output=True, timeout=30, text=True, env=e)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


class KeyFileTests(unittest.TestCase):
    def tearDown(self):
        reset()

    def test_key_rules_as_libroc(self):
        self.assertEqual(security.load_key(P("key")), b"correct horse battery staple")
        self.assertEqual(security.load_key(P("crlf.key")), b"k")
        with self.assertRaisesRegex(ValueError, "empty"):
            security.load_key(P("empty.key"))
        with self.assertRaisesRegex(ValueError, "longer than 256"):
            security.load_key(P("long.key"))
        with self.assertRaisesRegex(ValueError, "cannot read"):
            security.load_key(P("missing"))
        with self.assertRaisesRegex(ValueError, "empty"):
            roc.Daemon("tcp://127.0.0.1:0", key_file=P("empty.key"))
        with self.assertRaisesRegex(ValueError, "empty"):
            roc.set_client_key_file(P("empty.key"))

    def test_proof_example_of_wire_md(self):
        # the hex example of docs/wire.md, section "Handshake"
        key = b"secret"
        cn = bytes(range(16))
        sn = bytes(range(16, 32))
        self.assertEqual(security.proof(key, b"roc-server", cn, sn).hex(),
                         "f01c6770e0052a09d12feab6395b2e0bfcd7b0eb0088a60fe7719afab9e7f0ce")
        self.assertEqual(security.proof(key, b"roc-client", cn, sn).hex(),
                         "4b8f946222e621d03b907e6be5a05bfd986550770e68a92800e1fe35b053bbef")
        sp = security.proof(key, b"roc-server", cn, sn)
        self.assertEqual(codec.frame([1, codec.HELLO, {"v": [1, 1], "nonce": sn, "auth": True,
                                                       "proof": sp}]).hex(),
                         "0000004f93010084a176920101a56e6f6e6365c410" + sn.hex()
                         + "a461757468c3a570726f6f66c420" + sp.hex())
        self.assertEqual(codec.frame([1, codec.AUTH, security.proof(key, b"roc-client", cn, sn)])
                         .hex()[:16], "00000025930109c4")
        hello = codec.frame([1, codec.HELLO, {"v": [1, 1], "nonce": cn}])
        self.assertEqual(hello.hex(), "0000002193010082a176920101a56e6f6e6365c410" + cn.hex())


class PyClientCDaemonKeyTests(unittest.TestCase):
    """Python proxy -> C echo-server with a key."""

    @classmethod
    def setUpClass(cls):
        cls.srv = c_echo("--key-file", P("key"), "tcp://127.0.0.1:0")

    @classmethod
    def tearDownClass(cls):
        reset()
        assert cls.srv.stop() == 0

    def tearDown(self):
        reset()

    def test_right_key_served(self):
        roc.set_client_key_file(P("key"))
        with roc.Proxy(self.srv.uri) as p:
            self.assertEqual(p.add(40, 2), 42)

    def test_env_key_file(self):
        os.environ["ROC_KEY_FILE"] = P("key")
        try:
            with roc.Proxy(self.srv.uri) as p:
                self.assertEqual(p.echo("env"), "env")
        finally:
            del os.environ["ROC_KEY_FILE"]

    def test_wrong_key_refused(self):
        roc.set_client_key_file(P("other.key"))
        with roc.Proxy(self.srv.uri) as p:
            with self.assertRaisesRegex(roc.Unauthorized, "wrong key"):
                p.add(1, 2)

    def test_no_key_refused(self):
        with roc.Proxy(self.srv.uri) as p:
            with self.assertRaisesRegex(roc.Unauthorized, "requires a key"):
                p.add(1, 2)


class CClientPyDaemonKeyTests(unittest.TestCase):
    """C echo-client -> Python echo_server with a key (and Python -> Python)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = py_echo("--key-file", P("key"), "tcp://127.0.0.1:0")

    @classmethod
    def tearDownClass(cls):
        reset()
        assert cls.srv.stop() == 0

    def tearDown(self):
        reset()

    def test_c_client_right_key(self):
        self.assertEqual(c_client(self.srv.uri, "add", "40", "2", ROC_KEY_FILE=P("key")),
                         (0, "42", ""))

    def test_c_client_wrong_key(self):
        st, out, err = c_client(self.srv.uri, "add", "1", "2", ROC_KEY_FILE=P("other.key"))
        self.assertEqual(st, 1)
        self.assertIn("roc.Unauthorized", err)
        self.assertIn("wrong key", err)

    def test_c_client_no_key(self):
        st, out, err = c_client(self.srv.uri, "add", "1", "2")
        self.assertEqual(st, 1)
        self.assertIn("requires a key", err)

    def test_py_client(self):
        roc.set_client_key(b"correct horse battery staple")
        with roc.Proxy(self.srv.uri) as p:
            self.assertEqual(p.echo(b"\x00"), b"\x00")
        reset()
        roc.set_client_key(b"nope")
        with roc.Proxy(self.srv.uri) as p:
            with self.assertRaisesRegex(roc.Unauthorized, "wrong key"):
                p.echo(1)

    def _raw(self):
        host, port = self.srv.url.split("://")[1].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        return s

    def _recv(self, s):
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
        n = int.from_bytes(buf[:4], "big")
        return codec.decode_envelope(buf[4:4 + n])

    def test_call_before_proof_refused_and_closed(self):
        s = self._raw()
        try:
            s.sendall(codec.frame([1, codec.HELLO, {"v": [1, 1]}]))
            h = self._recv(s)
            self.assertIs(h.options["auth"], True)
            self.assertEqual(len(h.options["nonce"]), 16)
            self.assertNotIn("proof", h.options)  # we sent no nonce
            s.sendall(codec.frame([1, codec.CALL, 7, "echo", "echo", [1], {}]))
            e = self._recv(s)
            self.assertEqual((e.kind, e.id, e.error[0], e.error[1]),
                             (codec.ERROR, 7, 6, "roc.Unauthorized"))
            self.assertEqual(support.poll(lambda: s.recv(100) == b"" or None, 5, "close"), True)
        finally:
            s.close()

    def test_wrong_proof_refused_with_id_0(self):
        s = self._raw()
        try:
            cn = security.nonce()
            s.sendall(codec.frame([1, codec.HELLO, {"v": [1, 1], "nonce": cn}]))
            h = self._recv(s)
            key = b"correct horse battery staple"
            self.assertEqual(h.options["proof"],
                             security.proof(key, b"roc-server", cn, h.options["nonce"]))
            s.sendall(codec.frame([1, codec.AUTH, b"\x00" * 32]))
            e = self._recv(s)
            self.assertEqual((e.kind, e.id, e.error[0]), (codec.ERROR, 0, 6))
            self.assertIn("wrong key", e.error[2])
        finally:
            s.close()


class AuthorizeTests(unittest.TestCase):
    """The authorization hook of a Python daemon: read-only methods for
    everyone, the rest for peers that proved the key (docs/security.md)."""

    def test_hook(self):
        class Store:
            @roc.expose
            def get(self):
                return "value"

            @roc.expose
            def set(self, v):
                return v

        seen = []

        def authorize(peer, obj, method):
            seen.append(peer)
            return method in ("get", "ping") or peer.authenticated

        with roc.Daemon("tcp://127.0.0.1:0", authorize=authorize) as d:
            uri = d.register(Store(), "store")
            d.start()
            with roc.Proxy(uri) as p:
                self.assertEqual(p.get(), "value")
                with self.assertRaisesRegex(roc.Unauthorized, "store.set"):
                    p.set(1)
            self.assertFalse(seen[0].authenticated)
            self.assertTrue(seen[0].address.startswith("tcp://127.0.0.1:"))
        reset()
        with roc.Daemon("tcp://127.0.0.1:0", authorize=authorize, key_file=P("key")) as d:
            uri = d.register(Store(), "store")
            d.start()
            roc.set_client_key_file(P("key"))
            with roc.Proxy(uri) as p:
                self.assertEqual(p.set(5), 5)
            self.assertTrue(seen[-1].authenticated)
        reset()


class TLSTests(unittest.TestCase):
    def tearDown(self):
        reset()

    def test_close_races_peer_close(self):
        # The C daemon closes as soon as it reads bye, while this side
        # still writes its WebSocket close frame (or closes a TLS socket
        # another thread writes to). Freeing the SSL socket under that
        # write crashed the interpreter about once in 300 closes.
        for url in ("wss://localhost:0/roc", "tls+tcp://localhost:0"):
            srv = c_echo("--tls-cert", P("server.pem"), url)
            try:
                roc.set_client_tls(ca_file=P("ca.pem"))
                obj, _, addr = srv.uri.partition("@")
                obj = obj[len("ROC:"):]
                bad = []

                def churn():
                    # Own connections (a proxy would share one per URL).
                    for i in range(100):
                        c = Connection.dial(addr)
                        if c.call(obj, "add", [i, 1]).result(10) != i + 1:
                            bad.append(i)
                        c.close()
                ts = [threading.Thread(target=churn) for _ in range(3)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                self.assertEqual(bad, [], url)
            finally:
                reset()
                self.assertEqual(srv.stop(), 0)

    def test_py_client_c_daemon_tls_tcp_and_wss(self):
        for url in ("tls+tcp://localhost:0", "wss://localhost:0/roc"):
            srv = c_echo("--tls-cert", P("server.pem"), url)
            try:
                roc.set_client_tls(ca_file=P("ca.pem"))
                with roc.Proxy(srv.uri) as p:
                    self.assertEqual(p.add(40, 2), 42, url)
                    futs = [p._future("echo", i) for i in range(100)]
                    self.assertEqual([f.result(10) for f in futs], list(range(100)))
            finally:
                reset()
                self.assertEqual(srv.stop(), 0)

    def test_py_client_c_daemon_tls_with_key_from_env(self):
        srv = c_echo("--tls-cert", P("server.pem"), "--key-file", P("key"),
                     "tls+tcp://localhost:0")
        os.environ.update(ROC_TLS_CA=P("ca.pem"), ROC_KEY_FILE=P("key"))
        try:
            with roc.Proxy(srv.uri) as p:
                self.assertEqual(p.echo("both"), "both")
        finally:
            del os.environ["ROC_TLS_CA"], os.environ["ROC_KEY_FILE"]
            reset()
            self.assertEqual(srv.stop(), 0)

    def test_untrusted_and_wrong_name_refused(self):
        for cert in ("evil.pem", "other.pem"):
            srv = c_echo("--tls-cert", P(cert), "tls+tcp://localhost:0")
            try:
                roc.set_client_tls(ca_file=P("ca.pem"))
                with roc.Proxy(srv.uri) as p:
                    with self.assertRaisesRegex(roc.Unauthorized, "not trusted or not for this name"):
                        p.add(1, 2)
            finally:
                reset()
                self.assertEqual(srv.stop(), 0)

    def test_bare_ip_needs_server_name(self):
        srv = c_echo("--tls-cert", P("server.pem"), "tls+tcp://127.0.0.1:0")
        try:
            roc.set_client_tls(ca_file=P("ca.pem"))
            with roc.Proxy(srv.uri) as p:
                with self.assertRaisesRegex(ValueError, "bare IP address"):
                    p.add(1, 2)
            reset()
            roc.set_client_tls(ca_file=P("ca.pem"), server_name="localhost")
            with roc.Proxy(srv.uri) as p:
                self.assertEqual(p.add(1, 2), 3)
            reset()
            roc.set_client_tls(server_name="localhost")
            with roc.Proxy(srv.uri) as p:  # no CA: refused before dialing
                with self.assertRaisesRegex(ValueError, "CA file"):
                    p.add(1, 2)
        finally:
            reset()
            self.assertEqual(srv.stop(), 0)

    def test_c_client_py_daemon_tls_and_key(self):
        srv = py_echo("--tls-cert", P("server.pem"), "--key-file", P("key"),
                      "tls+tcp://localhost:0")
        try:
            self.assertEqual(c_client(srv.uri, "add", "40", "2", ROC_TLS_CA=P("ca.pem"),
                                      ROC_KEY_FILE=P("key")), (0, "42", ""))
            st, _, err = c_client(srv.uri, "add", "40", "2", ROC_TLS_CA=P("evilca.pem"),
                                  ROC_KEY_FILE=P("key"))
            self.assertEqual(st, 1)
            self.assertIn("roc.Unauthorized", err)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_mutual_tls_py_py(self):
        seen = []

        class Echo:
            @roc.expose
            def echo(self, x):
                return x

        tls = roc.TLSOptions(cert_key_file=P("server.pem"), ca_file=P("ca.pem"),
                             require_client_cert=True)
        with roc.Daemon("tls+tcp://localhost:0", tls=tls,
                        authorize=lambda p, o, m: seen.append(p) or True) as d:
            uri = d.register(Echo(), "echo")
            d.start()
            roc.set_client_tls(ca_file=P("ca.pem"))
            with roc.Proxy(uri, timeout=5) as p:
                with self.assertRaises(roc.RocError):
                    p.echo(1)
            reset()
            roc.set_client_tls(ca_file=P("ca.pem"), cert_key_file=P("client.pem"))
            with roc.Proxy(uri) as p:
                self.assertEqual(p.echo("m"), "m")
            self.assertTrue(seen[-1].tls and seen[-1].tls_verified)


if __name__ == "__main__":
    unittest.main()
