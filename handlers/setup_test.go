package handlers_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// What the environments of package handlers_test share, on top of
// handlers.UnitDeps (testdeps_test.go).

// withClock makes the handler's clock and sleeper c.
func withClock(c *testenv.FakeClock) func(*handlers.Deps) {
	return func(d *handlers.Deps) { d.Now, d.Sleep = c.Now, c.Sleep }
}

// newMem is a memory store of at most maxKeys keys (0: the default), closed
// with the test.
func newMem(t *testing.T, maxKeys int) *store.Memory {
	st := store.NewMemory(store.MemoryOptions{MaxKeys: maxKeys, SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	return st
}

// newLimiter is a Limiter on st with opts; the onion listener's requests
// are told by handlers.IsOnion.
func newLimiter(t testing.TB, st store.Store, opts abuse.LimiterOptions) *abuse.Limiter {
	t.Helper()
	opts.IsOnion = handlers.IsOnion
	lim, err := abuse.NewLimiter(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

// budgets are generous budgets (100 of everything) changed by set.
func budgets(set func(*abuse.Budgets)) abuse.Budgets {
	b := abuse.Budgets{SignupsPerHour: 100, GlobalSignupsPerHour: 100, CaptchasPerMinute: 100,
		CredentialChecksPerMinute: 100, OnionSignupsPerHour: 100, OnionCaptchasPerMinute: 100, OnionCredentialChecksPerMinute: 100,
		IPv6Factor56: 100, IPv6Factor48: 100}
	set(&b)
	return b
}

// serveDeps serves a handler of d for the test.
func serveDeps(t testing.TB, d handlers.Deps) *httptest.Server {
	srv := httptest.NewServer(handlers.New(d).HTTPHandler())
	t.Cleanup(srv.Close)
	return srv
}

// deadServer is example.test on a loopback port nobody listens on: every
// path up to a login is real, the login fails as unreachable.
func deadServer(t testing.TB) xmpp.Config {
	t.Helper()
	return xmpp.Config{Domain: "example.test", Addr: testenv.ClosedAddr(t), Timeout: 2 * time.Second}
}
