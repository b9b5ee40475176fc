"""echo_server: serves the object "echo" on one URL, as the C example
examples/echo/echo-server does, so that every test of the C daemon also
runs against the Python one.

    python3 -m roc.examples.echo_server URL      e.g. tcp://127.0.0.1:9100

Prints the object's URI ("ROC:echo@<url>", with the real port when the URL
asked for port 0) as the first line on stdout, then serves until SIGINT or
SIGTERM and shuts down cleanly.

Methods:
    echo(x) -> x
    add(a, b) -> a + b     ints, or floats when either is a float
    sleep(ms) -> nil       gives up early when the caller cancels
    fail(message)          raises echo.Failure with that message
"""
import signal
import sys
import time

import roc

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


class Failure(roc.RemoteError):
    """echo.Failure, the example's application exception."""
    remote_type = "echo.Failure"


def _tname(v):
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if v <= I64_MAX else "uint"
    return {float: "float", str: "str", bytes: "bin", list: "array",
            dict: "map"}.get(type(v), "ref")


@roc.behavior(instance="single", interface="echo.Echo")
class Echo:
    @roc.expose(params="any x", result="any")
    def echo(self, x):
        return x

    @roc.expose(params="number a, number b", result="number")
    def add(self, a, b):
        num = (int, float)
        if isinstance(a, float) or isinstance(b, float):
            if not isinstance(a, num) or not isinstance(b, num) or \
                    isinstance(a, bool) or isinstance(b, bool):
                raise roc.BadArguments("add: expected numbers, got %s and %s"
                                       % (_tname(a), _tname(b)))
            return float(a) + float(b)
        ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and v <= I64_MAX
        if not ok(a) or not ok(b):
            raise roc.BadArguments("add: expected integers, got %s and %s"
                                   % (_tname(a), _tname(b)))
        s = a + b
        if not I64_MIN <= s <= I64_MAX:
            raise roc.BadArguments("add: %d + %d overflows int64" % (a, b))
        return s

    @roc.expose(params="i64 ms", result="void", blocking=True)
    def sleep(self, ms):
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= 3600 * 1000:
            raise roc.BadArguments("sleep: expected milliseconds in [0, 3600000]")
        call = roc.current_call()
        end = time.monotonic() + ms / 1000.0
        while not (call and call.cancelled):
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.005))
        return None

    @roc.expose(params="string message", result="void")
    def fail(self, message):
        if not isinstance(message, str):
            raise roc.BadArguments("fail: expected a string message")
        raise Failure(message)


USAGE = ("usage: python3 -m roc.examples.echo_server [--key-file F] [--tls-cert F] "
         "[--tls-ca F] [--tls-require-client-cert] URL   (e.g. tcp://127.0.0.1:9100)")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    url, key_file, tls = None, None, {}
    flags = {"--key-file": "key_file", "--tls-cert": "cert_key_file", "--tls-ca": "ca_file"}
    while argv:
        a = argv.pop(0)
        if a in flags and argv:
            v = argv.pop(0)
            if a == "--key-file":
                key_file = v
            else:
                tls[flags[a]] = v
        elif a == "--tls-require-client-cert":
            tls["require_client_cert"] = True
        elif not a.startswith("-") and url is None:
            url = a
        else:
            url = None
            break
    if url is None:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        daemon = roc.Daemon(url, key_file=key_file, tls=roc.TLSOptions(**tls) if tls else None)
    except (roc.RocError, ValueError) as e:
        print("echo_server: cannot listen on %s: %s" % (url, e), file=sys.stderr)
        return 1
    uri = daemon.register(Echo(), "echo")
    print(uri, flush=True)
    stop = lambda *_: daemon.shutdown()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    daemon.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
