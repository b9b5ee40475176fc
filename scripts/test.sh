#!/usr/bin/env bash
# Sets up everything and runs all tests: packages, build, ctest.
# Usage: bash scripts/test.sh [build-dir] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
BUILD=${1:-build}
shift || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
# in a -DROC_SANITIZE=ON build: leaks inside nng itself (tests/lsan.supp)
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cd "$BUILD" && ctest --output-on-failure -j2 --timeout 600
