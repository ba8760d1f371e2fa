#!/usr/bin/env bash
# Builds libzircon (scripts/cabi.sh) and runs the C ABI checks; `make test`
# calls it. Everything goes to build/cabi (tests in build/cabi/tests).
#   1. every public header compiles on its own as C11 and as C++17
#      (-pedantic -Wall -Wextra -Werror);
#   2. tests/c: abi_cxx (C++17), abi_test against libzircon.so and against
#      libzircon.a (with their SIGBUS children and the dlopen child);
#   3. examples/c/filepager on generated files of several sizes.
# Usage: scripts/cabi-test.sh   (CC, CXX override the compilers)
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-gcc}
CXX=${CXX:-g++}
out=build/cabi
tdir=$out/tests

fail() { echo "cabi-test: $*" >&2; exit 1; }

if ! command -v "$CXX" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "cabi-test: installing g++ for the C++17 header check" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
  else
    fail "$CXX is required to check the headers as C++17; install g++"
  fi
fi

./scripts/cabi.sh "$out"
mkdir -p "$tdir"

cwarn=(-Wall -Wextra -Werror -pedantic)
copts=(-std=c11 "${cwarn[@]}" -g -O1 -Iinclude)
cxxopts=(-std=c++17 "${cwarn[@]}" -g -O1 -Iinclude)
shared=(-L"$out" -lzircon "-Wl,-rpath,\$ORIGIN/.." -lpthread)
static=("$out/libzircon.a" -lpthread)

echo "cabi-test: headers as C11 and C++17"
for h in include/zircon/*.h include/zircon/syscalls/*.h; do
  name=${h#include/}
  printf '#include <%s>\ntypedef int nonempty_tu;\n' "$name" | "$CC" -std=c11 "${cwarn[@]}" -Iinclude -fsyntax-only -x c - ||
    fail "$name does not compile on its own as C11"
  printf '#include <%s>\n' "$name" | "$CXX" -std=c++17 "${cwarn[@]}" -Iinclude -fsyntax-only -x c++ - ||
    fail "$name does not compile on its own as C++17"
done

echo "cabi-test: building tests/c and examples/c"
"$CC" "${copts[@]}" tests/c/abi_test.c -o "$tdir/abi_test" "${shared[@]}"
"$CC" "${copts[@]}" tests/c/abi_test.c -o "$tdir/abi_test_static" "${static[@]}"
"$CC" "${copts[@]}" tests/c/sigbus_child.c -o "$tdir/sigbus_child" "${shared[@]}"
"$CC" "${copts[@]}" tests/c/sigbus_child.c -o "$tdir/sigbus_child_static" "${static[@]}"
"$CC" "${copts[@]}" tests/c/sigbus_dlopen.c -o "$tdir/sigbus_dlopen" -ldl -lpthread
"$CXX" "${cxxopts[@]}" tests/c/abi_cxx.cc -o "$tdir/abi_cxx" "${shared[@]}"
"$CC" "${copts[@]}" -O2 examples/c/filepager.c -o "$tdir/filepager" "${shared[@]}"

echo "cabi-test: running"
"$tdir/abi_cxx"
"$tdir/abi_test" "$tdir" "$out/libzircon.so"
"$tdir/abi_test_static" "$tdir" "$out/libzircon.so"

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
head -c $((3 * 1024 * 1024 + 1234)) /dev/urandom >"$data/odd.bin"
head -c 8192 /dev/urandom >"$data/two-pages.bin"
printf 'x' >"$data/one-byte.bin"
"$tdir/filepager" -t 8 "$data/odd.bin"
"$tdir/filepager" -t 3 -r 0 "$data/odd.bin"
"$tdir/filepager" -t 2 "$data/two-pages.bin"
"$tdir/filepager" -t 1 "$data/one-byte.bin"
echo "cabi-test: ok"
