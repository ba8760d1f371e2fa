#!/usr/bin/env bash
# Checks (and where it can, installs) what pagerd's build and tests need:
# Go, a C compiler for cgo (race detector, C-thread test helpers, libzircon),
# and a kernel with userfaultfd (MISSING_SHMEM, THREAD_ID, POISON: Linux 6.6+).
set -euo pipefail

fail() { echo "check-env: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || fail "Go is not installed (need Go 1.26+ on PATH)"

if ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "check-env: installing gcc for cgo" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
  else
    fail "gcc is required for cgo (the race detector and the C-thread test helpers); install it"
  fi
fi

[ "$(uname -s)" = Linux ] || fail "pagerd needs Linux (userfaultfd)"
if [ ! -e /dev/userfaultfd ] && [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null || echo 0)" != 1 ] && [ "$(id -u)" != 0 ]; then
  fail "no access to userfaultfd: run as root, or give access to /dev/userfaultfd, or set vm.unprivileged_userfaultfd=1"
fi
major=$(uname -r | cut -d. -f1); minor=$(uname -r | cut -d. -f2)
if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 6 ]; }; then
  fail "kernel $(uname -r) is too old: pagerd needs Linux 6.6+ (UFFDIO_POISON); the tests also probe each feature they use"
fi
echo "check-env: ok (go $(go env GOVERSION), $(gcc --version | head -n1), kernel $(uname -r))"
