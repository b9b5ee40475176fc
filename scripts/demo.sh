#!/usr/bin/env bash
# Sets up everything and runs the demo: the name server roc-ns, an echo
# server registered under the name demo.echo, and clients calling it through
# ROCNAME:demo.echo — all over tcp on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
NS_PORT=${ROC_DEMO_NS_PORT:-9090}
PORT=${ROC_DEMO_PORT:-9100}
export ROC_NS="tcp://127.0.0.1:$NS_PORT"
ROC=./build/tools/roc
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== roc-ns on $ROC_NS"
./build/nameserver/roc-ns --url "$ROC_NS" --log warn >/dev/null &
PIDS+=($!)
echo "== echo-server on tcp://127.0.0.1:$PORT"
./build/examples/echo/echo-server "tcp://127.0.0.1:$PORT" >/dev/null &
PIDS+=($!)

# wait until both answer (no fixed sleep)
for _ in $(seq 100); do
  $ROC --timeout 500 ns ping >/dev/null 2>&1 &&
    $ROC --timeout 500 ping "ROC:echo@tcp://127.0.0.1:$PORT" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== roc ns register demo.echo ROC:echo@tcp://127.0.0.1:$PORT --meta echo"
$ROC ns register demo.echo "ROC:echo@tcp://127.0.0.1:$PORT" --meta echo --replace
echo "== roc ns list"
$ROC ns list
echo "== calls through ROCNAME:demo.echo"
set -x
./build/examples/echo/echo-client ROCNAME:demo.echo echo '"hello, ROC"'
$ROC call ROCNAME:demo.echo add 40 2
$ROC call ROCMETA:echo echo '{"tagged": true}'
{ set +x; } 2>/dev/null
$ROC call ROCNAME:demo.echo fail '"on purpose"' || echo "(the error above is the demo of a remote exception)"
echo "== roc introspect ROCNAME:demo.echo"
$ROC introspect ROCNAME:demo.echo
