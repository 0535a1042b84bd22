// Package apptest runs the real portal for tests: its configuration from a
// map of PORTAL_* settings (read as config.Load reads the environment),
// app.New, and Serve on a loopback listener, shut down when the test ends.
//
// It is a test helper (a package whose name ends in "test", by the import
// rules of handlers/arch_test.go): production code never imports it. It is
// not part of internal/testenv because it imports the portal itself
// (internal/app and, through it, every package the portal is made of), and
// the tests of those packages import testenv: testenv stays below them, and
// this package sits under internal/app, the layer it starts.
package apptest

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// HangLimit bounds the wait for a portal to shut down: a hang limit, not a
// measurement (a shutdown takes milliseconds idle).
const HangLimit = 3 * time.Minute

// ServerEnv returns the settings of a portal on srv: PORTAL_XMPP_DOMAIN,
// PORTAL_XMPP_ADDR, PORTAL_XMPP_MODE (the server's mode),
// PORTAL_XMPP_CA_FILE (srv's certificates, in a file of the test),
// PORTAL_XMPP_ADMIN_JID and PORTAL_XMPP_ADMIN_PASSWORD; then those of each
// layer in turn, a later one overriding an earlier (nil layers are fine).
func ServerEnv(t testing.TB, srv *testenv.Server, layers ...map[string]string) map[string]string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PORTAL_XMPP_DOMAIN":         srv.Domain,
		"PORTAL_XMPP_ADDR":           srv.Addr,
		"PORTAL_XMPP_MODE":           srv.Mode,
		"PORTAL_XMPP_CA_FILE":        ca,
		"PORTAL_XMPP_ADMIN_JID":      srv.AdminJID.String(),
		"PORTAL_XMPP_ADMIN_PASSWORD": srv.AdminPassword,
	}
	for _, l := range layers {
		maps.Copy(env, l)
	}
	return env
}

// Config is the portal's configuration from env, read as config.Load reads
// the environment (no command line); an invalid one fails the test.
func Config(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// Portal is a portal started by Start.
type Portal struct {
	App  *app.App
	URL  string // the clearnet listener, "http://127.0.0.1:port"
	once sync.Once
	stop func()
}

// Start runs the portal configured by env (Config) with log: app.New, then
// Serve on a new 127.0.0.1 listener. It returns once the portal serves.
// Stop, also run when the test ends, shuts it down.
func Start(t testing.TB, env map[string]string, log *slog.Logger) *Portal {
	t.Helper()
	a, err := app.New(Config(t, env), log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	p := &Portal{App: a, URL: "http://" + ln.Addr().String()}
	p.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(HangLimit):
			t.Errorf("portal did not shut down within %v", HangLimit)
		}
		a.Close()
	}
	t.Cleanup(p.Stop)
	<-a.Ready
	return p
}

// Stop shuts the portal down (Serve's context ends), waits for Serve to
// return within HangLimit, fails the test if it returned an error, and
// closes the App. Stopping a stopped portal does nothing.
func (p *Portal) Stop() { p.once.Do(p.stop) }
