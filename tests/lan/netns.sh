#!/usr/bin/env bash
# Two "hosts" for LAN discovery tests: network namespaces A and B joined by
# a veth pair (10.99.0.1 <-> 10.99.0.2), each with a D-Bus system bus and an
# avahi-daemon of its own (notes/lan-testing.md). mDNS never leaves the
# pair: avahi runs only inside the namespaces, allowed only on their veth.
#
#   netns.sh up DIR            make everything; DIR/env gets the names
#   netns.sh run DIR A|B CMD…  run CMD in a host, with its bus
#   netns.sh stop-avahi DIR A|B
#   netns.sh down DIR          kill what runs in the namespaces, delete them
#
# `up` exits 77 when this machine cannot do it (not root, no ip netns, no
# avahi-daemon or dbus-daemon): the caller skips. Namespaces are named after
# the PID that made them; `up` also removes those of dead makers.
set -euo pipefail

SKIP=77
cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || { echo "usage: $0 up|run|stop-avahi|down DIR ..." >&2; exit 2; }

need() {
    [ "$(id -u)" = 0 ] || { echo "SKIP: LAN tests need root (network namespaces)"; exit $SKIP; }
    for p in ip avahi-daemon dbus-daemon unshare mount; do
        command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        command -v "$p" >/dev/null 2>&1 || { echo "SKIP: $p is not installed"; exit $SKIP; }
    done
    ip netns list >/dev/null 2>&1 || { echo "SKIP: ip netns does not work here"; exit $SKIP; }
    # can this machine (container) make a namespace and a veth in it?
    local probe=roct$$p
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "SKIP: cannot create network namespaces here"
        exit $SKIP
    fi
    if ! ip -n "$probe" link add rvprobe0 type veth peer name rvprobe1 2>/dev/null; then
        ip netns del "$probe" 2>/dev/null
        echo "SKIP: no veth support here"
        exit $SKIP
    fi
    ip netns del "$probe"
}

ns_kill_all() { # every process in namespace $1, by PID
    local pids
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    local end=$((SECONDS + 5))
    while [ -n "$(ip netns pids "$1" 2>/dev/null || true)" ] && [ $SECONDS -lt $end ]; do
        sleep 0.05
    done
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    return 0
}

ns_del() {
    ns_kill_all "$1"
    ip netns del "$1" 2>/dev/null || true
}

reap_stale() { # namespaces left by a maker that died (SIGKILLed test)
    local n pid
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^roct[0-9]+[abp]$' || true); do
        pid=${n#roct}
        pid=${pid%[abp]}
        alive "$pid" || ns_del "$n"
    done
}

alive() { # PID runs (a zombie does not count: its parent may be gone)
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}

load() { # shellcheck disable=SC1091
    . "$DIR/env"
}

start_host() { # H IFACE NS
    local h=$1 ifc=$2 ns=$3 hd="$DIR/$1"
    mkdir -p "$hd"
    cat >"$hd/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$hd/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/> <allow own="*"/> <allow send_destination="*"/> <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
    cat >"$hd/avahi.conf" <<EOF
[server]
host-name=roc-$(echo "$h" | tr 'AB' 'ab')
use-ipv4=yes
use-ipv6=no
allow-interfaces=$ifc
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=yes
EOF
    ip netns exec "$ns" dbus-daemon --config-file="$hd/bus.conf" --nofork --nopidfile \
        >"$hd/dbus.log" 2>&1 &
    local end=$((SECONDS + 15))
    until [ -S "$hd/system_bus_socket" ]; do
        [ $SECONDS -lt $end ] || { echo "dbus-daemon of $h did not start" >&2; cat "$hd/dbus.log" >&2; return 1; }
        sleep 0.05
    done
    start_avahi "$h"
}

start_avahi() { # H
    local h=$1 hd="$DIR/$1" ns
    load
    ns=$([ "$h" = A ] && echo "$NS_A" || echo "$NS_B")
    : >"$hd/avahi.log"
    mkdir -p /run/avahi-daemon
    # avahi's pid file path is fixed: a private /run/avahi-daemon per daemon
    ip netns exec "$ns" unshare --mount --propagation private sh -c \
        "mount -t tmpfs none /run/avahi-daemon && exec env DBUS_SYSTEM_BUS_ADDRESS=unix:path=$hd/system_bus_socket avahi-daemon --no-drop-root --no-chroot --no-rlimits -f $hd/avahi.conf" \
        >>"$hd/avahi.log" 2>&1 &
    echo $! >"$hd/avahi.pid"
    local end=$((SECONDS + 20))
    until grep -q "Server startup complete" "$hd/avahi.log"; do
        if [ $SECONDS -ge $end ] || ! alive "$(cat "$hd/avahi.pid")"; then
            echo "avahi-daemon of $h did not start:" >&2
            cat "$hd/avahi.log" >&2
            return 1
        fi
        sleep 0.05
    done
}

case "$cmd" in
up)
    need
    reap_stale
    mkdir -p "$DIR"
    tag=${ROC_LAN_TAG:-$PPID}
    NS_A=roct${tag}a NS_B=roct${tag}b VETH_A=rv${tag}a VETH_B=rv${tag}b
    cat >"$DIR/env" <<EOF
NS_A=$NS_A
NS_B=$NS_B
VETH_A=$VETH_A
VETH_B=$VETH_B
ADDR_A=10.99.0.1
ADDR_B=10.99.0.2
BUS_A=unix:path=$DIR/A/system_bus_socket
BUS_B=unix:path=$DIR/B/system_bus_socket
EOF
    test -s /etc/machine-id || dbus-uuidgen --ensure=/etc/machine-id
    fail() { echo "LAN setup failed: $*" >&2; "$0" down "$DIR" || true; exit 1; }
    ip netns add "$NS_A" || fail "ip netns add"
    ip netns add "$NS_B" || fail "ip netns add"
    ip link add "$VETH_A" type veth peer name "$VETH_B" || fail "veth"
    ip link set "$VETH_A" netns "$NS_A" && ip link set "$VETH_B" netns "$NS_B" || fail "veth move"
    ip -n "$NS_A" addr add 10.99.0.1/24 dev "$VETH_A"
    ip -n "$NS_B" addr add 10.99.0.2/24 dev "$VETH_B"
    for n in "$NS_A" "$NS_B"; do ip -n "$n" link set lo up; done
    ip -n "$NS_A" link set "$VETH_A" up
    ip -n "$NS_B" link set "$VETH_B" up
    start_host A "$VETH_A" "$NS_A" || fail "host A"
    start_host B "$VETH_B" "$NS_B" || fail "host B"
    ;;
run)
    load
    h=${3:?A or B}
    shift 3
    if [ "$h" = A ]; then ns=$NS_A bus=$BUS_A; else ns=$NS_B bus=$BUS_B; fi
    exec ip netns exec "$ns" env DBUS_SYSTEM_BUS_ADDRESS="$bus" "$@"
    ;;
stop-avahi)
    load
    h=${3:?A or B}
    pid=$(cat "$DIR/$h/avahi.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        end=$((SECONDS + 10))
        while alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.05; done
    fi
    ;;
start-avahi)
    h=${3:?A or B}
    start_avahi "$h"
    ;;
down)
    [ -f "$DIR/env" ] || exit 0
    load
    ns_del "$NS_A"
    ns_del "$NS_B"
    ip link del "$VETH_A" 2>/dev/null || true
    ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
