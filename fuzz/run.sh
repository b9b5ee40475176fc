#!/usr/bin/env bash
# Runs ROC's libFuzzer targets (docs/security.md, "Fuzzing").
#
#   bash fuzz/run.sh SECONDS [TARGET...]
#       installs clang when it is absent, builds the targets with clang in
#       build-fuzz (CC=clang cmake -DROC_FUZZ=ON), then runs each target (all
#       by default: value envelope uri idl daemon) for SECONDS from its seed
#       corpus fuzz/<target>/. New corpus entries go to
#       build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/.
#   bash fuzz/run.sh --one TARGET BINARY SECONDS
#       runs one built target (what the ctest fuzz_smoke_<target> does).
#
# Exit status: 0 when no target crashed. Each run ends with a line
#   fuzz <target>: <seconds> s, <execs> execs, <crashes> crash(es)
# A crash leaves its input in build-fuzz/artifacts/<target>-crash-*: minimise
# it with BINARY -minimize_crash=1 -runs=10000 FILE, copy it to
# fuzz/regressions/<target>-<what> and tests/test_fuzz_regressions.c replays
# it in every build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

run_one() {
  local t=$1 bin=$2 secs=$3
  local out=${ROC_FUZZ_OUT:-$(dirname "$bin")}
  mkdir -p "$out/corpus/$t" "$out/artifacts"
  local opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-")
  case $t in
    idl) opts+=(-max_len=8192 -dict="$ROOT/fuzz/idl.dict") ;;
    daemon) opts+=(-max_len=4096) ;;
    *) opts+=(-max_len=4096) ;;
  esac
  # the daemon target keeps a daemon alive across inputs: its memory is
  # freed asynchronously, which the per-input leak check would misreport
  local asan="abort_on_error=1:symbolize=1"
  [ "$t" = daemon ] && asan="$asan:detect_leaks=0"
  local log="$out/artifacts/$t.log" rc=0
  ASAN_OPTIONS=$asan UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" "${opts[@]}" "$out/corpus/$t" "$ROOT/fuzz/$t" >"$log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  local crashes=0
  [ $rc -ne 0 ] && crashes=1
  echo "fuzz $t: $secs s, ${execs:-?} execs, $crashes crash(es)"
  if [ $rc -ne 0 ]; then
    grep -E "ERROR|SUMMARY|Test unit written|runtime error" "$log" | head -20
    echo "(full log: $log)"
  fi
  return $rc
}

if [ "${1:-}" = "--one" ]; then
  run_one "$2" "$3" "$4"
  exit
fi

SECS=${1:?usage: run.sh SECONDS [TARGET...]}
shift
TARGETS=${*:-value envelope uri idl daemon}
if ! command -v clang >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
BUILD="$ROOT/build-fuzz"
CC=clang cmake -S "$ROOT" -B "$BUILD" -DROC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
tgts=()
for t in $TARGETS; do tgts+=(--target "fuzz_$t"); done
cmake --build "$BUILD" -j"$(nproc)" "${tgts[@]}"
status=0
for t in $TARGETS; do
  run_one "$t" "$BUILD/fuzz/fuzz_$t" "$SECS" || status=1
done
exit $status
