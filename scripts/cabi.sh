#!/usr/bin/env bash
# Builds libzircon, pagerd's C ABI (package ./cabi, cgo), into build/cabi:
#   libzircon.so  -buildmode=c-shared; exports only zx_*, _zx_* and pagerd_vmo_* (version
#                 script cabi/libzircon.map), SONAME libzircon.so
#   libzircon.a   -buildmode=c-archive, merged into one relocatable object
#                 whose only global definitions are zx_*, _zx_* and pagerd_vmo_*, so the Go
#                 runtime's and cgo's symbols cannot clash with a program's
# Headers: include/zircon, include/pagerd (cc -Iinclude prog.c -Lbuild/cabi -lzircon).
# Usage: scripts/cabi.sh [outdir]   (GO overrides the go command)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=${1:-build/cabi}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$GO" build -buildmode=c-shared -trimpath \
  -ldflags="-extldflags=-Wl,--version-script=$PWD/cabi/libzircon.map,-soname,libzircon.so" \
  -o "$tmp/libzircon.so" ./cabi

"$GO" build -buildmode=c-archive -trimpath -o "$tmp/raw.a" ./cabi
ld -r --whole-archive "$tmp/raw.a" -o "$tmp/all.o"
nm --defined-only "$tmp/all.o" | awk '$3 ~ /^(_?zx_|pagerd_vmo_)/ { print $3 }' >"$tmp/keep"
[ "$(wc -l <"$tmp/keep")" -gt 60 ] || { echo "cabi.sh: zx_* symbols missing from the archive" >&2; exit 1; }
objcopy --keep-global-symbols="$tmp/keep" "$tmp/all.o" "$tmp/libzircon.o"
ar rcs "$tmp/libzircon.a" "$tmp/libzircon.o"

mv -f "$tmp/libzircon.so" "$tmp/libzircon.a" "$out/"
rm -f "$out/libzircon.h" # cgo's generated header: the API is include/zircon
echo "cabi: built $out/libzircon.so and $out/libzircon.a"
