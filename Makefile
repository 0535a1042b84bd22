# The commands of the repository; the scripts work without make too.
.PHONY: test bench fuzz vulncheck

# The Go toolchain of go.mod. The machine's own Go (/usr/local/go) only
# bootstraps it: the go command downloads go1.27.3 from the module proxy on
# first use. The scripts set it themselves; exported here too for any recipe.
export GOTOOLCHAIN := go1.27.3

# Everything CI runs: vet, govulncheck, gofmt, unit and integration tests
# against real servers (installed from Debian if missing), then every fuzz
# target briefly.
test:
	scripts/test.sh

# Benchmarks against the real server and Prosody's own page; writes
# docs/benchmarks.md and prints the goals met or missed (about 13 minutes).
bench:
	scripts/bench.sh

# Only the fuzz targets (FUZZ_EXECS executions each, default 10000).
fuzz:
	scripts/fuzz.sh

# Only govulncheck: known vulnerabilities reachable from the code, against a
# database built locally from a pinned golang.org/x/vulndb (also part of test).
vulncheck:
	scripts/vulncheck.sh
