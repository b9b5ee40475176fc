#!/usr/bin/env bash
# Installs the Debian 12 packages ROC builds and tests with. Idempotent.
set -euo pipefail
PKGS="cmake make gcc pkg-config libnng-dev libmbedtls-dev openssl libmsgpack-dev libcmocka-dev libjansson-dev libsqlite3-dev python3-msgpack python3-pytest libcurl4-openssl-dev chromium nftables libavahi-client-dev avahi-daemon dbus iproute2 etcd-server etcd-client"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  # Packages with services (avahi-daemon, etcd-server, dbus) must not start
  # them in the machine's own network namespace: the tests start their own,
  # inside namespaces or on 127.0.0.1. policy-rc.d forbids starts meanwhile.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  trap '[ -n "$guard" ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
