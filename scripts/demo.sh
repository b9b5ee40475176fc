#!/usr/bin/env bash
# Sets up everything and runs the demo: an echo server and a client calling
# it over tcp on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
PORT=${ROC_DEMO_PORT:-9100}
./build/examples/echo/echo-server "tcp://127.0.0.1:$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
URI="ROC:echo@tcp://127.0.0.1:$PORT"
./build/examples/echo/echo-client --wait "$URI" echo '"hello, ROC"'
./build/examples/echo/echo-client "$URI" add 40 2
./build/examples/echo/echo-client "$URI" fail '"on purpose"' || echo "(the error above is the demo of a remote exception)"
