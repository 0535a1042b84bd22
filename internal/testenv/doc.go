// Package testenv starts real external programs for integration tests:
// XMPP servers (StartProsody, StartEjabberd), Redis and a headless browser.
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
// environment variable is non-empty.
package testenv
