#!/usr/bin/env bash
# Runs every Go fuzz target of the repository (every "func FuzzX" in a
# _test.go file, found anew on each run, so new targets need no edit here)
# for a fixed number of executions each: FUZZ_EXECS (default 10000; 0 skips).
# On this 2-core machine that is 1.4-9 s per target, about 40 s in all.
#
# The budget is a count, not a duration, on purpose: a count is the same work
# on an idle or a busy machine (a loaded CI machine runs slower instead of
# fuzzing less, or hitting a deadline). It was first chosen against a Go 1.26
# bug: with a duration (-fuzztime 5s) the fuzz coordinator could report
# "context deadline exceeded" as a failure of the target when the deadline
# fired while a worker was still running (golang/go#75804). The project now
# builds with Go 1.27.3, where that is fixed; the count stays for the reason
# above.
#
# An input that makes a target fail is written by go test to
# <package>/testdata/fuzz/<Target>/ and fails this script; commit that file
# with the fix: plain `go test` then replays it as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export GOTOOLCHAIN=go1.27.3 # as go.mod; the machine's own Go only bootstraps it
execs=${FUZZ_EXECS:-10000}
case "$execs" in ''|*[!0-9]*) echo "fuzz: FUZZ_EXECS must be a number, got '$execs'" >&2; exit 2 ;; esac
if [ "$execs" -eq 0 ]; then echo "fuzz: skipped (FUZZ_EXECS=0)"; exit 0; fi
mapfile -t targets < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . \
  | sed -E 's#^\./(.+)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)$#\1 \2#' | sort -u)
n=${#targets[@]}
if [ "$n" -eq 0 ]; then echo "fuzz: no targets"; exit 0; fi
echo "fuzz: $n targets, $execs executions each"
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "fuzz: $name (./$dir)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "${execs}x" "./$dir" | grep -v '^fuzz: elapsed' || { echo "fuzz: $name failed; the input is in ./$dir/testdata/fuzz/$name/"; exit 1; }
done
