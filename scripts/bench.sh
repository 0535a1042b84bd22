#!/usr/bin/env bash
# `make bench`: measures the portal against the XMPP server it fronts, on this
# machine, in one run, and writes docs/benchmarks.md (date, machine, load
# average, every figure as a ratio against a baseline of the same run), then
# prints the goals met or missed.
#
# It installs what it needs if missing (the test servers via install-deps.sh;
# wrk, the HTTP load tool; sqlite3 and lua-dbi-sqlite3 for the export
# benchmark's SQL message archive; tesseract-ocr, pocketsphinx,
# pocketsphinx-en-us and sox for the captcha's readability), builds the
# portal binary and runs
# TestBenchmarks in internal/bench (real Prosody in admin and ibr mode, a
# Prosody with mod_register_web as the page baseline, an admin-mode Prosody
# with mod_register_web on which the portal's sign-ups and Prosody's own
# form's are compared, a Prosody with its message archive in SQLite for the
# export, Redis for the mixed load).
# About 13 minutes with the defaults; tune with
#   PORTAL_BENCH_SIGNUP_SECONDS (5)  PORTAL_BENCH_SIGNUP_ROUNDS (2)
#   PORTAL_BENCH_PAGE_SECONDS (10)
#   PORTAL_BENCH_PAGE_CONNS (64)     PORTAL_BENCH_PAGE_ROUNDS (2)
#   PORTAL_BENCH_LOAD_SECONDS (60)   PORTAL_BENCH_LOAD_CONNS (256)
#   PORTAL_BENCH_STARTUPS (5)        PORTAL_BENCH_OUT (docs/benchmarks.md)
#   PORTAL_BENCH_EXPORT_MESSAGES (10000)  PORTAL_BENCH_EXPORT_LARGE (100000)
#   PORTAL_BENCH_EXPORT_ROUNDS (3)   PORTAL_BENCH_EXPORT_INTERNAL (1000)
#   PORTAL_BENCH_CAPTCHAS (180)      PORTAL_BENCH_CAPTCHA_SOUNDS (10)
#   PORTAL_BENCH_ONLY (all; e.g. "export", "captcha" or "signup,webform,pages" for a partial run)
# The machine should be otherwise idle: the load average at the start and
# the end is part of the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
missing=""
command -v wrk >/dev/null || missing="$missing wrk"
command -v sqlite3 >/dev/null || missing="$missing sqlite3"
ls /usr/lib/*/lua/*/dbd/sqlite3.so >/dev/null 2>&1 || missing="$missing lua-dbi-sqlite3"
# The captcha's readability: tesseract reads the pictures, pocketsphinx (and
# sox to resample) hears the sounds.
command -v tesseract >/dev/null || missing="$missing tesseract-ocr"
command -v pocketsphinx_continuous >/dev/null || missing="$missing pocketsphinx"
[ -d /usr/share/pocketsphinx/model/en-us/en-us ] || missing="$missing pocketsphinx-en-us"
command -v sox >/dev/null || missing="$missing sox"
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "bench: installing$missing"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
export PATH="$PATH:/usr/local/go/bin"
export GOTOOLCHAIN=go1.27.3 # as go.mod; the machine's own Go only bootstraps it
export CI=1
out=${PORTAL_BENCH_OUT:-docs/benchmarks.md}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) (the machine should be idle)"
PORTAL_BENCH_OUT="$out" go test -run '^TestBenchmarks$' -count=1 -timeout 60m -v ./internal/bench
