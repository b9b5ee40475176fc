#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds an outside
# project against it twice: with CMake (find_package(roc), roc_generate) and
# with pkg-config; runs both.
set -euo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
cmake -S "$SRC" -B "$TMP/consumer" -DCMAKE_PREFIX_PATH="$TMP/prefix" >/dev/null
cmake --build "$TMP/consumer" >/dev/null
out=$(LD_LIBRARY_PATH="$TMP/prefix/lib" "$TMP/consumer/consumer")
[ "$out" = "hello, installed" ] || { echo "cmake consumer said: $out"; exit 1; }
# pkg-config: the same program, its generated code made by the installed rocgen
mkdir -p "$TMP/pc"
"$TMP/prefix/bin/rocgen" -o "$TMP/pc" "$SRC/hello.roc"
PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig" cc -std=c11 -Wall -Werror \
  -I"$TMP/pc" "$SRC/main.c" "$TMP/pc/hello.roc.c" -o "$TMP/pc/consumer" \
  $(PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig" pkg-config --cflags --libs roc)
out=$(LD_LIBRARY_PATH="$TMP/prefix/lib" "$TMP/pc/consumer")
[ "$out" = "hello, installed" ] || { echo "pkg-config consumer said: $out"; exit 1; }
echo "install: find_package and pkg-config consumers both work"
