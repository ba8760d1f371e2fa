#!/usr/bin/env bash
# Builds libzircon (scripts/cabi.sh) and runs the C ABI checks; `make test`
# calls it. Everything goes to build/cabi (tests in build/cabi/tests).
#   1. every public header compiles on its own as C11 and as C++17
#      (-pedantic -Wall -Wextra -Werror);
#   2. tests/c: abi_cxx (C++17), abi_test against libzircon.so and against
#      libzircon.a (with their SIGBUS children and the dlopen child);
#   3. examples/c/filepager on generated files of several sizes;
#   4. tests/c/pagerd_vmo against a pagerd (cmd/pagerd) on a directory store,
#      which the test kills at its end.
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
for h in include/zircon/*.h include/zircon/syscalls/*.h include/pagerd/*.h; do
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
"$CC" "${copts[@]}" tests/c/pagerd_vmo.c -o "$tdir/pagerd_vmo" "${shared[@]}"
"$GO" build -o "$tdir/pagerd" ./cmd/pagerd

echo "cabi-test: running"
"$tdir/abi_cxx"
"$tdir/abi_test" "$tdir" "$out/libzircon.so"
"$tdir/abi_test_static" "$tdir" "$out/libzircon.so"

data=$(mktemp -d)
pagerd_pid=
cleanup() {
  if [ -n "$pagerd_pid" ]; then kill -9 "$pagerd_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT
head -c $((3 * 1024 * 1024 + 1234)) /dev/urandom >"$data/odd.bin"
head -c 8192 /dev/urandom >"$data/two-pages.bin"
printf 'x' >"$data/one-byte.bin"
"$tdir/filepager" -t 8 "$data/odd.bin"
"$tdir/filepager" -t 3 -r 0 "$data/odd.bin"
"$tdir/filepager" -t 2 "$data/two-pages.bin"
"$tdir/filepager" -t 1 "$data/one-byte.bin"

echo "cabi-test: pagerd VMOs through the C ABI"
mkdir -p "$data/store"
head -c $((10 * 4096 + 123)) /dev/urandom >"$data/store/data"
cp "$data/store/data" "$data/store/ro"
"$tdir/pagerd" -socket "$data/pagerd.sock" -store "dir:$data/store" -metrics off \
  -log-level warn -log-format console 2>"$data/pagerd.log" &
pagerd_pid=$!
disown "$pagerd_pid" # the test kills it; no "Killed" job report
for _ in $(seq 100); do
  [ -S "$data/pagerd.sock" ] && break
  kill -0 "$pagerd_pid" 2>/dev/null || { cat "$data/pagerd.log" >&2; fail "pagerd did not start"; }
  sleep 0.1
done
[ -S "$data/pagerd.sock" ] || fail "pagerd did not create its socket"
timeout 120 "$tdir/pagerd_vmo" "$data/pagerd.sock" "$data/store" "$pagerd_pid" ||
  { cat "$data/pagerd.log" >&2; fail "pagerd_vmo failed"; }
for _ in $(seq 100); do # the test killed it
  kill -0 "$pagerd_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pagerd_pid" 2>/dev/null && fail "pagerd is still running after the test killed it"
pagerd_pid=
echo "cabi-test: ok"
