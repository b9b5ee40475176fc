#!/usr/bin/env bash
# Callbacks through NAT: the chat client sits in a network namespace that
# can reach the server but that no connection can enter (a firewall drops
# every new inbound connection, as a NAT or a home router does), and the
# server's callbacks still reach it, over the connection the client opened.
#
#   run.sh BUILD_DIR
#
# Two namespaces joined by a veth pair: S (the server, 10.201.0.1) and
# C (the clients, 10.201.0.2). The test
#   1. starts a probe listener in C and checks that S can connect to it;
#   2. installs the firewall in C (nft, else iptables): established and
#      related traffic and loopback pass, everything else inbound is
#      dropped;
#   3. proves that S can no longer connect to the probe (while C itself
#      still can: the probe is listening, only the rule stops S);
#   4. runs chat-server in S and two chat-clients in C; each must see the
#      other's message, delivered by callback from S.
# Exit 0 on success, 1 on failure, 77 (skip) when not root or when network
# namespaces or a firewall tool are unavailable. Namespaces, links and
# processes are removed on every exit (trap).
set -u

BUILD=${1:?usage: run.sh BUILD_DIR}
SERVER=$BUILD/examples/chat/chat-server
CLIENT=$BUILD/examples/chat/chat-client
LINE_S=10 # deadline for an expected line, in seconds

skip() { echo "SKIP: $*"; exit 77; }
fail() {
    echo "FAIL: $*"
    for f in "$TMP"/*.out; do
        [ -f "$f" ] && { echo "--- $(basename "$f")"; cat "$f"; }
    done
    exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, firewall rules)"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
ip netns list >/dev/null 2>&1 || skip "ip netns is unavailable"
if command -v nft >/dev/null 2>&1; then
    FW=nft
elif command -v iptables >/dev/null 2>&1; then
    FW=iptables
else
    skip "neither nft nor iptables is installed (scripts/deps.sh)"
fi
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || fail "chat programs not built in $BUILD"

NS_S=roc-nat-s-$$
NS_C=roc-nat-c-$$
V_S=rns$$ # interface names: at most 15 characters
V_C=rnc$$
A_S=10.201.0.1
A_C=10.201.0.2
TMP=$(mktemp -d)
PIDS=()
FDS=()

cleanup() {
    for fd in "${FDS[@]}"; do
        eval "exec $fd>&-" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        # each had 5 s to go, then it is killed
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    ip netns del "$NS_S" 2>/dev/null
    ip netns del "$NS_C" 2>/dev/null
    ip link del "$V_S" 2>/dev/null # gone with its namespace, unless setup failed half way
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$NS_S" 2>/dev/null || skip "cannot create a network namespace"
ip netns add "$NS_C" || fail "cannot create the second namespace"
ip link add "$V_S" type veth peer name "$V_C" || skip "cannot create a veth pair"
ip link set "$V_S" netns "$NS_S" && ip link set "$V_C" netns "$NS_C" &&
    ip -n "$NS_S" addr add "$A_S/24" dev "$V_S" &&
    ip -n "$NS_C" addr add "$A_C/24" dev "$V_C" &&
    ip -n "$NS_S" link set lo up && ip -n "$NS_C" link set lo up &&
    ip -n "$NS_S" link set "$V_S" up && ip -n "$NS_C" link set "$V_C" up ||
    fail "cannot set up the veth link"

# wait_line FILE LINE: polls FILE for the exact LINE until the deadline
wait_line() {
    local end=$((SECONDS + LINE_S))
    until grep -qxF -- "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || fail "no line '$2' in $(basename "$1") within ${LINE_S}s"
        sleep 0.02
    done
}

# first_line FILE: the first line of FILE once there is one
first_line() {
    local end=$((SECONDS + LINE_S))
    until [ -s "$1" ] && head -1 "$1" | grep -q .; do
        [ $SECONDS -lt $end ] || fail "nothing in $(basename "$1") within ${LINE_S}s"
        sleep 0.02
    done
    head -1 "$1"
}

# can_connect NS ADDR PORT: a TCP connection from NS succeeds within 2 s
can_connect() {
    ip netns exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null
}

# 1. a probe listener in C, reachable from S before the firewall
ip netns exec "$NS_C" "$SERVER" "tcp://$A_C:0" >"$TMP/probe.out" 2>&1 &
PIDS+=($!)
PROBE=$(first_line "$TMP/probe.out")
PROBE_PORT=${PROBE##*:}
can_connect "$NS_S" "$A_C" "$PROBE_PORT" ||
    fail "S cannot reach the probe in C even without the firewall"

# 2. the firewall of C: nothing new comes in
if [ "$FW" = nft ]; then
    ip netns exec "$NS_C" nft -f - <<'EOF' || fail "nft rules refused"
table inet roc_nat {
    chain input {
        type filter hook input priority 0; policy drop;
        iif "lo" accept
        ct state established,related accept
    }
}
EOF
else
    ip netns exec "$NS_C" iptables -A INPUT -i lo -j ACCEPT &&
        ip netns exec "$NS_C" iptables -A INPUT -m conntrack \
            --ctstate ESTABLISHED,RELATED -j ACCEPT &&
        ip netns exec "$NS_C" iptables -P INPUT DROP ||
        fail "iptables rules refused"
fi

# 3. S can no longer connect into C; C still reaches its own probe
if can_connect "$NS_S" "$A_C" "$PROBE_PORT"; then
    fail "S still connects into C through the firewall"
fi
can_connect "$NS_C" "$A_C" "$PROBE_PORT" || fail "the probe in C stopped listening"
echo "ok: a connection from S into C is refused by the firewall ($FW)"

# 4. the chat: server in S, two clients in C
ip netns exec "$NS_S" "$SERVER" --keepalive 2000 "tcp://$A_S:0" >"$TMP/server.out" 2>&1 &
PIDS+=($!)
URL=$(first_line "$TMP/server.out")
can_connect "$NS_C" "$A_S" "${URL##*:}" || fail "C cannot reach the server in S"

start_client() { # NAME: stdin from a fifo held open on fd FD_<NAME>
    mkfifo "$TMP/$1.in"
    ip netns exec "$NS_C" "$CLIENT" "$URL" "$1" <"$TMP/$1.in" >"$TMP/$1.out" 2>&1 &
    PIDS+=($!)
    local fd
    exec {fd}>"$TMP/$1.in"
    FDS+=("$fd")
    eval "FD_$1=$fd"
}

start_client alice
wait_line "$TMP/alice.out" "* joined as alice"
start_client bob
wait_line "$TMP/bob.out" "* joined as bob"
wait_line "$TMP/alice.out" "* bob joined"
# the server saw alice come from C's address (printed before join returned)
grep -q "^alice joined from tcp://$A_C:" "$TMP/server.out" ||
    fail "the server did not see alice connect from C"

echo "hello from alice" >&"$FD_alice"
wait_line "$TMP/bob.out" "alice: hello from alice"
echo "hi alice" >&"$FD_bob"
wait_line "$TMP/alice.out" "bob: hi alice"

# still no way in: the callbacks used the clients' own connections
if can_connect "$NS_S" "$A_C" "$PROBE_PORT"; then
    fail "S connects into C after the chat"
fi
echo "ok: callbacks from S reached both clients in C"

exit 0
