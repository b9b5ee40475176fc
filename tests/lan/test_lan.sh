#!/usr/bin/env bash
# LAN discovery across two hosts with real avahi-daemons (tests/lan/netns.sh:
# network namespaces A 10.99.0.1 and B 10.99.0.2 joined by a veth, a bus
# and an avahi-daemon each). Run by ctest as test_discovery_lan:
#   test_lan.sh BUILD_DIR
# Exits 77 (skipped) when the machine cannot make namespaces or has no
# avahi-daemon; always tears everything down. Never sleeps to wait: every
# wait polls for its condition with a deadline.
set -uo pipefail

BUILD=${1:?usage: test_lan.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/netns.sh"
ROC="$BUILD/tools/roc"
ROCNS="$BUILD/nameserver/roc-ns"
HELPER="$BUILD/tests/test_discovery"
for p in "$ROC" "$ROCNS" "$HELPER"; do
    [ -x "$p" ] || { echo "missing $p: build first"; exit 1; }
done
if "$ROC" discover --timeout 0.1 2>&1 | grep -q "built without avahi"; then
    echo "SKIP: built with -DROC_WITH_AVAHI=OFF"
    exit 77
fi

DIR=$(mktemp -d /tmp/roc-lan.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    bash "$NETNS" down "$DIR" >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bash "$NETNS" up "$DIR"
rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "FAIL: could not set up the two hosts"; exit 1; }

FAILS=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
# Runs a command in host A or B with nothing configured: no ROC_NS. In the
# background, start it as `bash "$NETNS" run "$DIR" H "${NOCONF[@]}" ... &`
# so that $! is the program itself (netns.sh, ip and env exec it).
NOCONF=(env -u ROC_NS ROC_NS_DISCOVER_MS=8000 ROC_DISCOVER_TIMEOUT_MS=8000)
on() { local h=$1; shift; bash "$NETNS" run "$DIR" "$h" "${NOCONF[@]}" "$@"; }
# Polls until "$@" succeeds, for at most $1 seconds.
until_ok() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    while :; do
        "$@" && return 0
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}
wait_line() { # FILE PATTERN SECS
    local end=$((SECONDS + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}
discover_b() { on B "$ROC" discover --timeout 3 "$@" 2>"$DIR/disc.err"; }
b_sees() { discover_b "$1" | grep -qF "$2"; }
b_not_sees() { ! discover_b "$1" | grep -qF "$2"; }

# --- a name server in A, bound to every address, found from B -----------
bash "$NETNS" run "$DIR" A "${NOCONF[@]}" "$ROCNS" --url tcp://0.0.0.0:9090 >"$DIR/ns.out" 2>"$DIR/ns.err" &
NS_PID=$!
PIDS+=($NS_PID)
wait_line "$DIR/ns.out" "ROC:roc.ns@" 15 || { cat "$DIR/ns.err"; echo "FAIL: roc-ns did not start"; exit 1; }
if until_ok 20 b_sees _roc-ns._tcp "ROC:roc.ns@tcp://10.99.0.1:9090"; then
    pass "B sees A's roc-ns as _roc-ns._tcp with A's address"
else
    fail "B does not see A's roc-ns"; cat "$DIR/disc.err"
fi
out=$(discover_b _roc-ns._tcp --json)
if echo "$out" | grep -q '"address": "10.99.0.1"' &&
   ! echo "$out" | grep -qE '0\.0\.0\.0|127\.0\.0\.1'; then
    pass "the announcement carries 10.99.0.1, never 0.0.0.0 or 127.0.0.1"
else
    fail "bad addresses announced: $out"
fi

# --- objects and a service in A -----------------------------------------
bash "$NETNS" run "$DIR" A "${NOCONF[@]}" "$HELPER" serve calc demo.Calculator demo.Greeter demo.calc 10.99.0.1 \
    >"$DIR/srv.out" 2>"$DIR/srv.err" &
SRV_PID=$!
PIDS+=($SRV_PID)
if wait_line "$DIR/srv.out" "^READY" 30; then
    pass "A's daemons announced (and demo.calc registered in the name server found on the LAN)"
else
    fail "A's server did not come up: $(cat "$DIR/srv.err")"
fi

if out=$(on B "$ROC" ns lookup demo.calc 2>&1) && [ "${out%%$'\t'*}" != "" ] &&
   echo "$out" | grep -q "tcp://10.99.0.1:"; then
    pass "roc ns lookup from B with no configuration reaches A's roc-ns"
else
    fail "roc ns lookup from B: $out"
fi
if out=$(on B "$ROC" call ROCNAME:demo.calc add 2 3 2>&1) && [ "$out" = 5 ]; then
    pass "a ROCNAME: call from B reaches the server in A"
else
    fail "ROCNAME: call from B: $out"
fi
if until_ok 20 b_sees _roc._tcp "ROC:calc@tcp://10.99.0.1:"; then
    pass "B sees calc (_roc._tcp) with A's address"
else
    fail "B does not see calc"
fi
out=$(discover_b _roc._tcp --json)
if echo "$out" | grep -q '"iface": "demo.Calculator"' &&
   echo "$out" | grep -q '"iface": "demo.Greeter"' &&
   ! echo "$out" | grep -qE '0\.0\.0\.0|127\.0\.0\.1'; then
    pass "TXT iface of the object and of the service; no wildcard or loopback address"
else
    fail "discover --json from B: $out"
fi
if out=$(on B "$ROC" call ROCDISCOVER:Calculator add 20 22 2>&1) && [ "$out" = 42 ]; then
    pass "ROCDISCOVER:Calculator from B finds the object by interface name and calls it"
else
    fail "ROCDISCOVER:Calculator from B: $out"
fi
if out=$(on B "$ROC" call ROCDISCOVER:calc ping 2>&1) && [ "$out" = '"pong"' ]; then
    pass "ROCDISCOVER:calc finds it by object id"
else
    fail "ROCDISCOVER:calc from B: $out"
fi
if out=$(on B "$HELPER" connect Greeter 2>&1) && [ "$out" = "hello from the service" ]; then
    pass "roc_connect(\"service:Greeter\") from B connects to A's service"
else
    fail "service:Greeter from B: $out"
fi
t0=$SECONDS
if out=$(on B "$ROC" call ROCDISCOVER:NoSuchThing ping 2>&1); then
    fail "ROCDISCOVER:NoSuchThing succeeded: $out"
elif echo "$out" | grep -q "NoSuchThing" && [ $((SECONDS - t0)) -le 15 ]; then
    pass "an interface nobody announces: a clear error within the timeout"
else
    fail "ROCDISCOVER:NoSuchThing: $out"
fi

# --- avahi-daemon of A restarts: A's daemons are announced again ----------
bash "$NETNS" stop-avahi "$DIR" A
if bash "$NETNS" start-avahi "$DIR" A &&
   until_ok 20 b_sees _roc._tcp "ROC:calc@tcp://10.99.0.1:"; then
    pass "after avahi-daemon restarts in A, B sees calc again"
else
    fail "calc not announced again after avahi-daemon restarted in A"
fi

# --- withdrawal ------------------------------------------------------------
kill -TERM $SRV_PID
t0=$SECONDS
if until_ok 15 b_not_sees _roc._tcp "ROC:calc@"; then
    pass "calc disappears from B's view $((SECONDS - t0)) s after A's daemon stops"
else
    fail "calc still seen from B 15 s after A's daemon stopped"
fi
kill -TERM $NS_PID
if until_ok 15 b_not_sees _roc-ns._tcp "ROC:roc.ns@"; then
    pass "roc-ns withdraws its announcement on shutdown"
else
    fail "roc-ns still seen from B after it stopped"
fi

# --- avahi stopped in B: clear errors, the fallback, nothing hangs -------
bash "$NETNS" stop-avahi "$DIR" B
t0=$SECONDS
out=$(on B "$ROC" discover --timeout 10 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -q "avahi-daemon is not running" &&
   [ $((SECONDS - t0)) -le 3 ]; then
    pass "roc discover without avahi: exit 1, the cause, at once"
else
    fail "roc discover without avahi (rc $rc, $((SECONDS - t0)) s): $out"
fi
out=$(on B "$ROC" call ROCDISCOVER:Calculator add 1 2 2>&1)
if echo "$out" | grep -q "not available" && echo "$out" | grep -q "avahi"; then
    pass "ROCDISCOVER: without avahi: unavailable, naming the cause"
else
    fail "ROCDISCOVER: without avahi: $out"
fi
out=$(on B "$ROC" ns list 2>&1)
if echo "$out" | grep -q "fell back to tcp://127.0.0.1:9090" &&
   echo "$out" | grep -q "avahi-daemon is not running"; then
    pass "no name server anywhere: the error names the cause and the fallback"
else
    fail "roc ns list in B without avahi: $out"
fi
# a name server at the fallback location is used; it says once that it
# cannot be announced
bash "$NETNS" run "$DIR" B "${NOCONF[@]}" "$ROCNS" --url tcp://127.0.0.1:9090 >"$DIR/nsb.out" 2>"$DIR/nsb.err" &
NSB_PID=$!
PIDS+=($NSB_PID)
wait_line "$DIR/nsb.out" "ROC:roc.ns@" 15
if [ "$(grep -c "not announced on the LAN" "$DIR/nsb.err")" = 1 ] &&
   grep -q "avahi-daemon is not running" "$DIR/nsb.err"; then
    pass "roc-ns without avahi serves and warns once"
else
    fail "roc-ns without avahi: $(cat "$DIR/nsb.err")"
fi
if on B "$ROC" ns register demo.here ROC:x@tcp://127.0.0.1:1 >/dev/null 2>&1 &&
   on B "$ROC" ns lookup demo.here >/dev/null 2>&1; then
    pass "without avahi the default tcp://127.0.0.1:9090 is used"
else
    fail "fallback to tcp://127.0.0.1:9090 in B"
fi
kill -TERM $NSB_PID

# --- a daemon started before avahi-daemon is announced once it runs -------
bash "$NETNS" run "$DIR" B "${NOCONF[@]}" "$HELPER" serve late demo.Late demo.LateSvc >"$DIR/late.out" 2>"$DIR/late.err" &
LATE_PID=$!
PIDS+=($LATE_PID)
bash "$NETNS" start-avahi "$DIR" B
if wait_line "$DIR/late.out" "^READY" 30 &&
   until_ok 20 eval 'on A "$ROC" discover _roc._tcp --timeout 3 2>/dev/null | grep -qF "ROC:late@tcp://10.99.0.2:"'; then
    pass "a daemon started while avahi-daemon was down is announced once it runs; A sees B's address"
else
    fail "late announcement: $(cat "$DIR/late.err")"
fi
# killed outright: avahi-daemon withdraws for a client whose bus connection
# is gone
kill -KILL $LATE_PID
wait $LATE_PID 2>/dev/null
if until_ok 15 eval '! on A "$ROC" discover _roc._tcp --timeout 3 2>/dev/null | grep -qF "ROC:late@"'; then
    pass "a SIGKILLed daemon's announcements disappear from A's view"
else
    fail "a SIGKILLed daemon is still seen 15 s later"
fi

echo "$FAILS failure(s)"
[ $FAILS = 0 ]
