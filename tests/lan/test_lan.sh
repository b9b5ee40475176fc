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

# what a client in host H with nothing configured finds: "NS <ms> <list>"
ns_found() { on "$1" "$HELPER" nsclient none </dev/null 2>"$DIR/nsfound.err" | grep '^NS '; }
# a client's whole search, with one name server announced (B's avahi has
# A's records in its cache by now, as it would on a LAN)
if line=$(ns_found B) && [ "$(echo "$line" | cut -d' ' -f3-)" = "ROC:roc.ns@tcp://10.99.0.1:9090" ]; then
    pass "one name server on the LAN: a client in B gets it alone ($(echo "$line" | cut -d' ' -f2) ms)"
else
    fail "one name server on the LAN, B found: $line $(cat "$DIR/nsfound.err")"
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

# and B's avahi-daemon holds no record of it either (a PTR left in its
# cache would make every search start a resolver that fails only after 5 s)
if command -v avahi-browse >/dev/null 2>&1; then
    ptr_gone() { ! on B avahi-browse -p -t _roc-ns._tcp 2>/dev/null | grep -q "roc-a"; }
    if until_ok 10 ptr_gone; then
        pass "no record of the stopped roc-ns is left in B's avahi cache"
    else
        fail "B's avahi still lists the stopped roc-ns: $(on B avahi-browse -p -t _roc-ns._tcp 2>&1)"
    fi
fi
# no name server announced: the search ends when avahi says it has nothing
# more (ALL_FOR_NOW, about 1 s), not at ROC_NS_DISCOVER_MS (8 s here)
if line=$(ns_found B) && echo "$line" | grep -q " tcp://127.0.0.1:9090$" &&
   [ "$(echo "$line" | cut -d' ' -f2)" -lt 4000 ]; then
    pass "no name server on the LAN: the search gives up in $(echo "$line" | cut -d' ' -f2) ms, not 8000"
else
    fail "no name server on the LAN, B found: $line $(cat "$DIR/nsfound.err")"
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

# --- two name servers over one registry: a client gets both, fails over --
# The registry is an etcd in A that both roc-ns use (memory stores, each
# given the name, where etcd is not installed). One roc-ns in A, one in B;
# a client in B lists B's first (this host), A's next.
PORT2=9190
if command -v etcd >/dev/null 2>&1 && command -v curl >/dev/null 2>&1; then
    bash "$NETNS" run "$DIR" A env -u ETCD_NAME -u ETCD_DATA_DIR etcd --name lan \
        --data-dir "$DIR/etcd" --listen-client-urls http://10.99.0.1:23790 \
        --advertise-client-urls http://10.99.0.1:23790 \
        --listen-peer-urls http://127.0.0.1:23800 \
        --initial-advertise-peer-urls http://127.0.0.1:23800 \
        --initial-cluster lan=http://127.0.0.1:23800 --log-level warn \
        >"$DIR/etcd.log" 2>&1 &
    PIDS+=($!)
    if until_ok 20 bash "$NETNS" run "$DIR" B curl -sf http://10.99.0.1:23790/health -o /dev/null; then
        STORE=(--store etcd://10.99.0.1:23790/roclan)
    else
        fail "etcd in A did not start: $(tail -5 "$DIR/etcd.log")"
        STORE=()
    fi
else
    STORE=()
fi
bash "$NETNS" run "$DIR" A "${NOCONF[@]}" "$ROCNS" --url tcp://0.0.0.0:$PORT2 "${STORE[@]}" \
    >"$DIR/ns2a.out" 2>"$DIR/ns2a.err" &
NS2A_PID=$!
PIDS+=($NS2A_PID)
bash "$NETNS" run "$DIR" B "${NOCONF[@]}" "$ROCNS" --url tcp://0.0.0.0:$PORT2 "${STORE[@]}" \
    >"$DIR/ns2b.out" 2>"$DIR/ns2b.err" &
NS2B_PID=$!
PIDS+=($NS2B_PID)
wait_line "$DIR/ns2a.out" "ROC:roc.ns@" 15 && wait_line "$DIR/ns2b.out" "ROC:roc.ns@" 15 ||
    fail "the two roc-ns did not start: $(cat "$DIR/ns2a.err" "$DIR/ns2b.err")"
NS2A_URI=ROC:roc.ns@tcp://10.99.0.1:$PORT2
reg() { on B "$ROC" --ns "$1" ns register demo.ha ROC:ha@tcp://10.99.0.1:1 --replace >/dev/null 2>&1; }
look() { on B "$ROC" --ns "$1" ns lookup demo.ha 2>/dev/null | grep -q "ROC:ha@"; }
if [ ${#STORE[@]} -gt 0 ]; then
    # registered through A's, seen through B's: one registry
    reg tcp://10.99.0.1:$PORT2 && until_ok 10 look tcp://10.99.0.2:$PORT2 ||
        fail "a name registered through A's roc-ns is not seen through B's"
else
    reg tcp://10.99.0.1:$PORT2 && reg tcp://10.99.0.2:$PORT2 || fail "register demo.ha"
fi
both_seen() { [ "$(discover_b _roc-ns._tcp | grep -c ":$PORT2")" = 2 ]; }
until_ok 20 both_seen || fail "B's avahi does not see both name servers"
# B's own one is announced on B's interfaces: B may see it at 10.99.0.2 or
# at 127.0.0.1
if line=$(ns_found B) && echo "$line" | grep -qE "^NS [0-9]+ ROC:roc\.ns@tcp://(10\.99\.0\.2|127\.0\.0\.1):$PORT2,$NS2A_URI$"; then
    pass "two name servers on the LAN: a client in B gets both, its own host's first ($(echo "$line" | cut -d' ' -f2) ms)"
else
    fail "two name servers, B found: $line $(cat "$DIR/nsfound.err")"
fi
if line=$(ns_found A) && echo "$line" | grep -qE "^NS [0-9]+ ROC:roc\.ns@tcp://(10\.99\.0\.1|127\.0\.0\.1):$PORT2,ROC:roc\.ns@tcp://10\.99\.0\.2:$PORT2$"; then
    pass "and a client in A gets both, A's first ($(echo "$line" | cut -d' ' -f2) ms)"
else
    fail "two name servers, A found: $line $(cat "$DIR/nsfound.err")"
fi
# a client that found both keeps working when the one it uses is killed
mkfifo "$DIR/cl.in"
bash "$NETNS" run "$DIR" B "${NOCONF[@]}" "$HELPER" nsclient demo.ha <"$DIR/cl.in" >"$DIR/cl.out" 2>"$DIR/cl.err" &
CL_PID=$!
PIDS+=($CL_PID)
exec 3>"$DIR/cl.in"
echo lookup >&3
if wait_line "$DIR/cl.out" "^LOOKUP " 15 &&
   grep "^LOOKUP " "$DIR/cl.out" | grep -qvF "via $NS2A_URI"; then
    pass "the client looks demo.ha up through B's own roc-ns"
else
    fail "client before the kill: $(cat "$DIR/cl.out" "$DIR/cl.err")"
fi
kill -KILL $NS2B_PID
wait $NS2B_PID 2>/dev/null
echo lookup >&3
if until_ok 15 eval '[ "$(grep -c "^LOOKUP \|^ERR " "$DIR/cl.out")" -ge 2 ]' &&
   [ "$(grep -c "^LOOKUP ROC:ha@tcp://10.99.0.1:1 via $NS2A_URI fresh ROC:ha@tcp://10.99.0.1:1$" "$DIR/cl.out")" = 1 ]; then
    pass "B's roc-ns killed (kill -9): the same client, and a new handle on its list, are answered by A's"
else
    fail "client after the kill: $(cat "$DIR/cl.out" "$DIR/cl.err")"
fi
exec 3>&-
wait $CL_PID 2>/dev/null
if out=$(on B "$ROC" ns list demo. 2>&1) && echo "$out" | grep -q "^demo.ha"; then
    pass "roc ns list from B with nothing configured still answers"
else
    fail "roc ns list from B after the kill: $out"
fi
kill -TERM $NS2A_PID

echo "$FAILS failure(s)"
[ $FAILS = 0 ]
