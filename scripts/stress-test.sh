#!/usr/bin/env bash
# The whole suite (scripts/test.sh, with the same tests and assertions) on a
# machine whose every core is kept busy by a spinning process: the noisy
# neighbour a shared CI machine has. The spinners end with the suite, and in
# any case after STRESS_LIMIT seconds (default 5400, CI's own limit).
#
#   scripts/stress-test.sh                 # the whole suite under load
#   scripts/stress-test.sh -run TestX ./pkg # arguments go to go test
#   STRESS_RUNS=3 scripts/stress-test.sh   # three runs in a row; stops at the first failure
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${STRESS_LIMIT:-5400}"
runs="${STRESS_RUNS:-1}"
case "$limit$runs" in *[!0-9]*) echo "stress-test: STRESS_LIMIT and STRESS_RUNS take whole numbers" >&2; exit 2 ;; esac
cores=$(nproc)
spinners=()
stop() {
  for p in "${spinners[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${spinners[@]}" 2>/dev/null || true
  spinners=()
}
trap stop EXIT INT TERM
for run in $(seq 1 "$runs"); do
  for _ in $(seq 1 "$cores"); do
    timeout "$limit" sh -c 'while :; do :; done' &
    spinners+=("$!")
  done
  echo "stress-test: run $run of $runs, $cores busy-loop process(es) beside the suite (at most ${limit}s)"
  start=$(date +%s)
  status=0
  bash scripts/test.sh "$@" || status=$?
  stop
  echo "stress-test: run $run: exit $status after $(( $(date +%s) - start ))s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$status" -eq 0 ] || exit "$status"
done
