// Package testenv holds what tests share: it starts real external
// programs for integration tests (XMPP servers with StartProsody and
// StartEjabberd, Redis, tor, a headless browser), and has the small helpers
// tests would otherwise each declare (EachServer, a suite run in a parallel
// subtest per real XMPP server; Server.CreateUser, an account made with
// XEP-0133 add-user on the admin session the Server keeps, Server.Admin;
// ClosedAddr, a loopback address nothing listens on; TCPServer, a
// loopback server the test plays (a black hole without a serve
// function); CountingReader, what was read of a body; LockedBuffer, a log
// several goroutines write to; FakeClock, a clock only the test moves, with
// a Sleep that advances it; TLSCertificate, certificates of the run's CA for
// servers a test plays itself, such as package xmpptest's; CaptchaAnswer,
// the answer of a captcha read from the store a test owns). Its non-test
// files are test helpers by design: production code never imports it.
// Helpers that need the portal itself (app.New and its configuration) are
// in internal/app/apptest: testenv stays below the packages it tests.
//
// go test -short runs no server: every helper that needs one (the Start*
// functions, TorBinary, AttachTor, ServerBinary) skips the test first with
// "needs <server>; -short", so the unit tests run in seconds on a machine
// without any of them and no test file carries a rule of its own. Without
// -short nothing is skipped for being slow.
//
// The XMPP servers are started from the configuration files shipped in
// deploy/. Each server runs as its system user (prosody, ejabberd; dropped to with
// setpriv when the tests run as root) in its own temporary directory, on free
// loopback ports, with a TLS certificate generated in Go for this test run
// (SAN localhost). Nothing is written outside the temporary directory and no
// port other than loopback ones is opened (ejabberd runs without epmd, with
// its Erlang distribution port on 127.0.0.1).
//
// The configuration is always read from the repository's deploy/ directory
// (found by walking up to go.mod); the harness only substitutes ports, paths
// and test values:
//
//   - Prosody: deploy/prosody/prosody.cfg.lua is copied unchanged and driven
//     by PROSODY_* environment variables.
//   - ejabberd: deploy/ejabberd/ejabberd.yml (admin mode) or
//     deploy/ejabberd/ejabberd-ibr.yml (ibr mode) and
//     deploy/ejabberd/ejabberdctl.cfg have their @NAME@ placeholders replaced.
//
// If a server binary is missing the test is skipped, or fails when the CI
// environment variable is non-empty (scripts/test.sh sets it: CI must not
// skip silently).
package testenv
