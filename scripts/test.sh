#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then
# runs vet, govulncheck, a gofmt check and every test (unit and integration,
# against real Prosody, ejabberd, Redis and headless Chromium started by the
# tests themselves on loopback). A missing server is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$PATH:/usr/local/go/bin"
# The Go toolchain of go.mod: the machine's own Go (/usr/local/go) only
# bootstraps it, downloading it from the module proxy on first use.
export GOTOOLCHAIN=go1.27.3
export CI="${CI:-1}"
go mod download
go vet ./...
# Known vulnerabilities reachable from the code (govulncheck against a local
# database built from golang.org/x/vulndb): about 25 s, 70 s on the first run
# (builds its cache), measured on a busy 2-core machine.
bash scripts/vulncheck.sh
# The toolchain's own gofmt: GOTOOLCHAIN switches only the go command, the
# gofmt in PATH is the machine's.
unformatted=$("$(go env GOROOT)/bin/gofmt" -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go test -race -count=1 -timeout 20m "$@" ./...
# Every fuzz target for a fixed number of executions (FUZZ_EXECS, default
# 10000 each, about 40 s in all; FUZZ_EXECS=0 skips).
bash scripts/fuzz.sh
