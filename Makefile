# The two commands of the repository; the scripts work without make too.
.PHONY: test bench fuzz

# Everything CI runs: vet, gofmt, unit and integration tests against real
# servers (installed from Debian if missing), then every fuzz target briefly.
test:
	scripts/test.sh

# Benchmarks against the real server and Prosody's own page; writes
# docs/benchmarks.md and prints the goals met or missed (about 13 minutes).
bench:
	scripts/bench.sh

# Only the fuzz targets (FUZZ_EXECS executions each, default 10000).
fuzz:
	scripts/fuzz.sh
