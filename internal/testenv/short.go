package testenv

import (
	"os"
	"testing"
)

// skipShort is the one rule of go test -short: a test that needs a real
// server (Prosody, ejabberd, redis-server, tor, Chromium, nginx) is an
// integration test and is skipped, with the message "needs <server>;
// -short", before anything is looked up or started. Every Start* helper,
// TorBinary, AttachTor and ServerBinary call it first, so no test file
// carries a rule of its own. Without -short nothing changes: a missing
// server skips the test, or fails it when CI is set.
func skipShort(t testing.TB, server string) {
	t.Helper()
	if isShort() {
		t.Skip("needs " + server + "; -short")
	}
}

// isShort is testing.Short; the package's own tests of what happens
// without -short (a missing binary) replace it.
var isShort = testing.Short

// browserBinary is the browser a test drives: the program named by the
// environment variable env, else def, looked up as ServerBinary does
// (skipped under -short, "needs <name>; -short"; missing: skipped, or
// failed under CI, naming the Debian package pkg).
func browserBinary(t testing.TB, name, pkg, env, def string) string {
	t.Helper()
	skipShort(t, name)
	exe := os.Getenv(env)
	if exe == "" {
		exe = def
	}
	return xmppNeedBinary(t, name+" at "+exe+" (the Debian package "+pkg+", or set "+env+")", exe)
}

// ServerBinary returns the path of the program of a server a test runs
// itself (nginx, say): the first of candidates that exists (a name is looked
// up in PATH, a path with a slash is taken as is). Under -short the test is
// skipped ("needs <what>; -short"); when the program is missing it is
// skipped too, or failed when the CI environment variable is set.
func ServerBinary(t testing.TB, what string, candidates ...string) string {
	t.Helper()
	skipShort(t, what)
	return xmppNeedBinary(t, what, candidates...)
}
