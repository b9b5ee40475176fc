#!/usr/bin/env bash
# The console in a real browser: Debian's chromium (apt package `chromium`,
# scripts/deps.sh) driven by playwright-core from npm (pinned in
# package-lock.json; `npm ci`, no browser download).
#   bash tests/console/run.sh BUILD_DIR
# Exit 0 passed, 1 failed, 77 skipped (no chromium, node or npm here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)"
chromium="${ROC_CHROMIUM:-/usr/bin/chromium}"

skip() { echo "SKIP: $*" >&2; exit 77; }
[ -x "$chromium" ] || skip "no chromium at $chromium (apt-get install chromium)"
command -v node >/dev/null || skip "no node"
command -v npm >/dev/null || skip "no npm"
# does this chromium start at all here? (a headless run that prints the DOM
# of an empty page)
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
if ! timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic \
     --no-first-run --disable-background-networking --disable-component-update \
     --disable-sync --user-data-dir="$probe" --dump-dom about:blank \
     >/dev/null 2>"$probe/err"; then
  sed -n 1,5p "$probe/err" >&2
  skip "chromium cannot run here"
fi

work="$build/console-test"
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/console.test.mjs" "$work/"
if [ ! -d "$work/node_modules/playwright-core" ] ||
   ! cmp -s "$here/package-lock.json" "$work/node_modules/.package-lock.json.src" 2>/dev/null; then
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "npm ci failed" >&2; exit 1; }
  cp "$here/package-lock.json" "$work/node_modules/.package-lock.json.src"
fi
ROC_BINARY_DIR="$build" ROC_CONSOLE_DIR="$(cd "$here/../../gateway/console" && pwd)" \
  ROC_CHROMIUM="$chromium" node "$work/console.test.mjs"
