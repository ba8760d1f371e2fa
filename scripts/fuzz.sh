#!/usr/bin/env bash
# Runs every Go fuzz target of the repo for a short while (FUZZTIME, default
# 5s each; `make test` uses the default, `make fuzz FUZZTIME=10m` goes
# longer). Their seed corpora (testdata/fuzz) also run as plain tests in
# `go test`. A failure leaves the crashing input in the package's
# testdata/fuzz/<Target>/ and fails the script.
# Usage: scripts/fuzz.sh   (GO overrides the go command)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
# Every func FuzzXxx in a _test.go file, as "package-dir target".
targets=$(grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  dir=$(dirname "$f")
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r t; do echo "$dir $t"; done
done)
[ -n "$targets" ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
while read -r dir target; do
  echo "fuzz: $target in $dir for $FUZZTIME"
  "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$dir" ||
    { echo "fuzz: $target in $dir failed" >&2; exit 1; }
done <<<"$targets"
echo "fuzz: ok"
