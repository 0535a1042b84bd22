#!/usr/bin/env bash
# Runs every Go fuzz target of the repository (every "func FuzzX" in a
# _test.go file, found anew on each run, so new targets need no edit here)
# for a short fixed time: FUZZ_BUDGET seconds in total (default 60), split
# evenly, at most 5 s per target. Compilation is not counted.
#
# An input that makes a target fail is written by go test to
# <package>/testdata/fuzz/<Target>/ and fails this script; commit that file
# with the fix: plain `go test` then replays it as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
budget=${FUZZ_BUDGET:-60}
mapfile -t targets < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . \
  | sed -E 's#^\./(.+)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)$#\1 \2#' | sort -u)
n=${#targets[@]}
if [ "$n" -eq 0 ]; then echo "fuzz: no targets"; exit 0; fi
per=$(( budget / n ))
[ "$per" -gt 5 ] && per=5
[ "$per" -lt 1 ] && per=1
echo "fuzz: $n targets, ${per}s each"
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "fuzz: $name (./$dir)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "${per}s" "./$dir" | grep -v '^fuzz: elapsed' || { echo "fuzz: $name failed; the input is in ./$dir/testdata/fuzz/$name/"; exit 1; }
done
