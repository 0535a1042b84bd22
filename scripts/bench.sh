#!/usr/bin/env bash
# `make bench`: measures the portal against the XMPP server it fronts, on this
# machine, in one run, and writes docs/benchmarks.md (date, machine, load
# average, every figure as a ratio against a baseline of the same run), then
# prints the goals met or missed.
#
# It installs what it needs if missing (the test servers via install-deps.sh,
# and wrk, the HTTP load tool), builds the portal binary and runs
# TestBenchmarks in internal/bench (real Prosody in admin and ibr mode, a
# Prosody with mod_register_web as the page baseline, Redis for the mixed
# load). About 10 minutes with the defaults; tune with
#   PORTAL_BENCH_SIGNUP_SECONDS (5)  PORTAL_BENCH_PAGE_SECONDS (10)
#   PORTAL_BENCH_PAGE_CONNS (64)     PORTAL_BENCH_PAGE_ROUNDS (2)
#   PORTAL_BENCH_LOAD_SECONDS (60)   PORTAL_BENCH_LOAD_CONNS (256)
#   PORTAL_BENCH_STARTUPS (5)        PORTAL_BENCH_OUT (docs/benchmarks.md)
# The machine should be otherwise idle: the load average at the start and
# the end is part of the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "bench: installing wrk"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk
fi
export PATH="$PATH:/usr/local/go/bin"
export CI=1
out=${PORTAL_BENCH_OUT:-docs/benchmarks.md}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) (the machine should be idle)"
PORTAL_BENCH_OUT="$out" go test -run '^TestBenchmarks$' -count=1 -timeout 60m -v ./internal/bench
