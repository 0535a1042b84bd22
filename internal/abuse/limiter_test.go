package abuse_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/store/storetest"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// req is a request from peer (host or host:port) with optional
// X-Forwarded-For header values.
func lreq(peer string, xff ...string) *http.Request {
	r := httptest.NewRequest("POST", "/register", nil)
	if !strings.Contains(peer, "]:") && strings.Count(peer, ":") != 1 {
		if strings.Contains(peer, ":") {
			peer = "[" + peer + "]"
		}
		peer += ":40000"
	}
	r.RemoteAddr = peer
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

// onion returns r as the onion listener marks it (the real handlers.MarkOnion).
func lonion(r *http.Request) *http.Request {
	var marked *http.Request
	handlers.MarkOnion(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { marked = r })).ServeHTTP(httptest.NewRecorder(), r)
	return marked
}

type lfix struct {
	st   *store.Memory
	clk  *storetest.FakeClock
	logs *testenv.LockedBuffer
}

// newLimStore returns a memory store on a fake clock.
func newLimStore(t *testing.T, maxKeys int) lfix {
	t.Helper()
	clk := storetest.NewFakeClock()
	st := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1, MaxKeys: maxKeys})
	t.Cleanup(func() { st.Close() })
	return lfix{st: st, clk: clk, logs: &testenv.LockedBuffer{}}
}

func (f lfix) limiter(t *testing.T, o abuse.LimiterOptions) *abuse.Limiter {
	t.Helper()
	o.Now = f.clk.Now
	o.IsOnion = handlers.IsOnion
	o.Log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := abuse.NewLimiter(f.st, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func bigBudgets() abuse.Budgets {
	return abuse.Budgets{SignupsPerHour: 1000, GlobalSignupsPerHour: 1000, CaptchasPerMinute: 1000,
		CredentialChecksPerMinute: 1000, OnionSignupsPerHour: 1000, OnionCaptchasPerMinute: 1000, OnionCredentialChecksPerMinute: 1000,
		IPv6Factor56: 1000, IPv6Factor48: 1000}
}

func mustAllow(t *testing.T, l *abuse.Limiter, r *http.Request, a abuse.Action) abuse.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), r, a)
	if err != nil {
		t.Fatalf("Allow(%s): %v", a, err)
	}
	return d
}

// TestClientBudgets: the N+1st request of one client within the window is
// refused with the time left; another client is not affected; the window ends
// on the store's clock.
func TestClientBudgets(t *testing.T) {
	tests := []struct {
		action abuse.Action
		set    func(*abuse.Budgets)
		period time.Duration
		budget string
	}{
		{abuse.Signup, func(b *abuse.Budgets) { b.SignupsPerHour = 3 }, time.Hour, abuse.BudgetSignup},
		{abuse.Captcha, func(b *abuse.Budgets) { b.CaptchasPerMinute = 3 }, time.Minute, abuse.BudgetCaptcha},
		{abuse.Credential, func(b *abuse.Budgets) { b.CredentialChecksPerMinute = 3 }, time.Minute, abuse.BudgetCredential},
	}
	for _, tc := range tests {
		t.Run(tc.action.String(), func(t *testing.T) {
			f := newLimStore(t, 0)
			b := bigBudgets()
			tc.set(&b)
			l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
			for i := range 3 {
				if d := mustAllow(t, l, lreq("198.51.100.20"), tc.action); !d.Allowed {
					t.Fatalf("request %d refused: %+v", i+1, d)
				}
			}
			f.clk.Advance(tc.period / 4)
			d := mustAllow(t, l, lreq("198.51.100.20:5555"), tc.action) // another port: same client
			if d.Allowed || d.Budget != tc.budget || d.Shared {
				t.Fatalf("4th request: %+v", d)
			}
			if want := tc.period - tc.period/4; d.RetryAfter != want {
				t.Errorf("RetryAfter = %s, want %s", d.RetryAfter, want)
			}
			if d := mustAllow(t, l, lreq("198.51.100.21"), tc.action); !d.Allowed {
				t.Errorf("another client refused: %+v", d)
			}
			f.clk.Advance(tc.period - tc.period/4)
			if d := mustAllow(t, l, lreq("198.51.100.20"), tc.action); !d.Allowed {
				t.Errorf("refused after the window: %+v", d)
			}
			if !strings.Contains(f.logs.String(), "abuse.limited") {
				t.Error("refusal not logged")
			}
		})
	}
}

// TestGlobalSignupBudget: once the global budget is used, everyone is
// refused; the refused client's own unit is given back; released units make
// room again, each at most once.
func TestGlobalSignupBudget(t *testing.T) {
	ctx := context.Background()
	t.Run("refuses everyone", func(t *testing.T) {
		f := newLimStore(t, 0)
		b := bigBudgets()
		b.GlobalSignupsPerHour = 3
		b.SignupsPerHour = 1
		l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
		for i, ip := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"} {
			if d := mustAllow(t, l, lreq(ip), abuse.Signup); !d.Allowed {
				t.Fatalf("client %d refused: %+v", i, d)
			}
		}
		f.clk.Advance(10 * time.Minute)
		for _, ip := range []string{"192.0.2.9", "2001:db8:1::9"} {
			d := mustAllow(t, l, lreq(ip), abuse.Signup)
			if d.Allowed || d.Budget != abuse.BudgetGlobalSignup || !d.Shared || d.RetryAfter != 50*time.Minute {
				t.Fatalf("%s over the global budget: %+v", ip, d)
			}
		}
		// The refused client was not charged: the global budget is counted
		// first, so its own counter was never touched.
		k, _, _ := l.ClientKey(ctx, lreq("192.0.2.9"))
		if v, err := f.st.Get(ctx, "rl:signup:"+k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a sign-up refused by the global budget counted for the client: %q, %v", v, err)
		}
		// Captcha and credential budgets are separate.
		if d := mustAllow(t, l, lreq("192.0.2.9"), abuse.Credential); !d.Allowed {
			t.Errorf("credential check refused by the sign-up budget: %+v", d)
		}
		f.clk.Advance(50 * time.Minute)
		if d := mustAllow(t, l, lreq("192.0.2.9"), abuse.Signup); !d.Allowed {
			t.Errorf("refused after the global window: %+v", d)
		}
	})
	t.Run("release makes room once", func(t *testing.T) {
		f := newLimStore(t, 0)
		b := bigBudgets()
		b.GlobalSignupsPerHour = 2
		l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
		first := mustAllow(t, l, lreq("192.0.2.1"), abuse.Signup)
		if !first.Allowed || !mustAllow(t, l, lreq("192.0.2.2"), abuse.Signup).Allowed {
			t.Fatal("first two refused")
		}
		first.Release(ctx)
		first.Release(ctx) // at most once
		if d := mustAllow(t, l, lreq("192.0.2.3"), abuse.Signup); !d.Allowed {
			t.Fatalf("after a release: %+v", d)
		}
		if d := mustAllow(t, l, lreq("192.0.2.4"), abuse.Signup); d.Allowed {
			t.Fatalf("a double release made room for two: %+v", d)
		}
	})
}

// TestReleaseShared: a wrong captcha keeps the client's unit and gives the
// global one back.
func TestReleaseShared(t *testing.T) {
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.GlobalSignupsPerHour, b.SignupsPerHour = 1, 1
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
	d := mustAllow(t, l, lreq("192.0.2.1"), abuse.Signup)
	if !d.Allowed {
		t.Fatal(d)
	}
	d.ReleaseShared(context.Background())
	d.Release(context.Background()) // gives back the client unit only now
	if d := mustAllow(t, l, lreq("192.0.2.2"), abuse.Signup); !d.Allowed {
		t.Fatalf("global unit not released: %+v", d)
	}
	f2 := newLimStore(t, 0)
	l2 := f2.limiter(t, abuse.LimiterOptions{Budgets: b})
	mustAllow(t, l2, lreq("192.0.2.1"), abuse.Signup).ReleaseShared(context.Background())
	if d := mustAllow(t, l2, lreq("192.0.2.1"), abuse.Signup); d.Allowed || d.Budget != abuse.BudgetSignup {
		t.Fatalf("client unit released by ReleaseShared: %+v", d)
	}
	if d := mustAllow(t, l2, lreq("192.0.2.2"), abuse.Signup); !d.Allowed {
		t.Fatalf("global unit kept by ReleaseShared: %+v", d)
	}
}

// TestOnionBudgets: onion requests are never keyed per client, ignore
// X-Forwarded-For even from a trusted peer, and share the onion budgets,
// which are separate from the clearnet ones.
func TestOnionBudgets(t *testing.T) {
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.OnionSignupsPerHour, b.OnionCredentialChecksPerMinute = 2, 2
	b.SignupsPerHour, b.GlobalSignupsPerHour = 1, 1
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b, TrustedProxies: []string{"127.0.0.1"}})
	ctx := context.Background()

	if _, ok, err := l.ClientKey(ctx, lonion(lreq("127.0.0.1"))); ok || err != nil {
		t.Fatalf("onion request has a client key (ok=%v, err=%v)", ok, err)
	}
	for i, xff := range []string{"192.0.2.1", "192.0.2.2"} {
		if d := mustAllow(t, l, lonion(lreq("127.0.0.1", xff)), abuse.Signup); !d.Allowed {
			t.Fatalf("onion sign-up %d refused: %+v", i, d)
		}
	}
	d := mustAllow(t, l, lonion(lreq("127.0.0.1", "192.0.2.3")), abuse.Signup)
	if d.Allowed || d.Budget != abuse.BudgetOnionSignup || !d.Shared {
		t.Fatalf("3rd onion sign-up: %+v", d)
	}
	// Clearnet budgets are untouched by onion traffic, and the same
	// forwarded address over clearnet is a client of its own.
	if d := mustAllow(t, l, lreq("127.0.0.1", "192.0.2.1"), abuse.Signup); !d.Allowed {
		t.Fatalf("clearnet sign-up refused after onion ones: %+v", d)
	}
	for range 2 {
		if d := mustAllow(t, l, lonion(lreq("127.0.0.1")), abuse.Credential); !d.Allowed {
			t.Fatalf("onion credential refused: %+v", d)
		}
	}
	if d := mustAllow(t, l, lonion(lreq("127.0.0.1")), abuse.Credential); d.Allowed || d.Budget != abuse.BudgetOnionCredential {
		t.Fatalf("3rd onion credential check: %+v", d)
	}
	// Onion captchas are counted together, never per client.
	for range 5 {
		if d := mustAllow(t, l, lonion(lreq("127.0.0.1")), abuse.Captcha); !d.Allowed {
			t.Fatalf("onion captcha refused: %+v", d)
		}
	}
	f.st.ForEach(func(k string, _ []byte, _ time.Duration) {
		if strings.HasPrefix(k, "rl:captcha") {
			t.Errorf("onion captcha counted per client under %q", k)
		}
	})
	if v, err := f.st.Get(ctx, "rl:onion_captcha"); err != nil || string(v) != "7" { // 5 pictures, 2 sign-ups
		t.Errorf("onion captcha counter %q, %v; want 7", v, err)
	}
}

// TestOnionCaptchaBudget (hardening hole 6): every onion request that can put
// a captcha in the store (a new form, a picture or sound, a sign-up form
// shown again) takes a unit of the onion captcha budget, shared by all onion
// clients; it refuses after its limit until its window ends, is never given
// back, and leaves clearnet captchas alone.
func TestOnionCaptchaBudget(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// use spends one request of the onion captcha budget the way
		// the handlers do, and reports whether it was allowed.
		use func(t *testing.T, l *abuse.Limiter, r *http.Request) abuse.Decision
	}{
		{"forms and pictures", func(t *testing.T, l *abuse.Limiter, r *http.Request) abuse.Decision {
			return mustAllow(t, l, r, abuse.Captcha)
		}},
		{"sign-ups with a wrong captcha", func(t *testing.T, l *abuse.Limiter, r *http.Request) abuse.Decision {
			d := mustAllow(t, l, r, abuse.Signup)
			d.ReleaseShared(ctx) // a wrong captcha: the form is shown again with a new one
			return d
		}},
		{"sign-ups refused after the captcha", func(t *testing.T, l *abuse.Limiter, r *http.Request) abuse.Decision {
			d := mustAllow(t, l, r, abuse.Signup)
			d.Release(ctx)
			return d
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLimStore(t, 0)
			b := bigBudgets()
			b.OnionCaptchasPerMinute = 4
			b.CaptchasPerMinute = 1
			l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
			for i := range 4 {
				if d := tc.use(t, l, lonion(lreq("127.0.0.1", "192.0.2."+strconv.Itoa(i)))); !d.Allowed {
					t.Fatalf("onion request %d refused: %+v", i+1, d)
				}
			}
			f.clk.Advance(20 * time.Second)
			for _, a := range []abuse.Action{abuse.Captcha, abuse.Signup} {
				d := mustAllow(t, l, lonion(lreq("127.0.0.1")), a)
				if d.Allowed || d.Budget != abuse.BudgetOnionCaptcha || !d.Shared || d.Prefix != 0 || d.RetryAfter != 40*time.Second {
					t.Fatalf("onion %s over the onion captcha budget: %+v", a, d)
				}
			}
			// Clearnet clients have their own budgets.
			for _, ip := range []string{"127.0.0.1", "198.51.100.1", "2001:db8::1"} {
				if d := mustAllow(t, l, lreq(ip), abuse.Captcha); !d.Allowed {
					t.Errorf("clearnet captcha from %s refused after the onion budget ran out: %+v", ip, d)
				}
			}
			f.clk.Advance(40 * time.Second)
			if d := mustAllow(t, l, lonion(lreq("127.0.0.1")), abuse.Captcha); !d.Allowed {
				t.Errorf("onion captcha refused after the window: %+v", d)
			}
		})
	}
}

// TestClientAddress: which address a request is counted under, compared
// through client keys (the address itself never leaves the package).
func TestClientAddress(t *testing.T) {
	f := newLimStore(t, 0)
	l := f.limiter(t, abuse.LimiterOptions{TrustedProxies: []string{"10.0.0.0/8", "2001:db8:ffff::1", "::ffff:192.0.2.200"}})
	ctx := context.Background()
	key := func(r *http.Request) string {
		t.Helper()
		k, ok, err := l.ClientKey(ctx, r)
		if err != nil || !ok {
			t.Fatalf("ClientKey: ok=%v err=%v", ok, err)
		}
		return k
	}
	tests := []struct {
		name string
		r    *http.Request
		want string // the address it must count as
	}{
		{"plain peer", lreq("198.51.100.7"), "198.51.100.7"},
		{"XFF from an untrusted peer is ignored", lreq("198.51.100.7", "203.0.113.1"), "198.51.100.7"},
		{"XFF from a trusted proxy", lreq("10.1.2.3", "203.0.113.1"), "203.0.113.1"},
		{"right-most untrusted wins over a spoofed left part", lreq("10.1.2.3", "6.6.6.6, 203.0.113.1"), "203.0.113.1"},
		{"chain of trusted proxies", lreq("10.1.2.3", "203.0.113.1, 10.9.9.9"), "203.0.113.1"},
		{"several header lines", lreq("10.1.2.3", "6.6.6.6", "203.0.113.1, 10.9.9.9"), "203.0.113.1"},
		{"addresses with ports", lreq("10.1.2.3", "203.0.113.1:8443"), "203.0.113.1"},
		{"IPv6 in brackets with port", lreq("[2001:db8:ffff::1]:443", "[2001:db8:5::1]:1234"), "2001:db8:5::1"},
		{"trusted single IPv6 proxy", lreq("2001:db8:ffff::1", "203.0.113.1"), "203.0.113.1"},
		{"another address in the proxy's /64 is not trusted", lreq("2001:db8:ffff::2", "203.0.113.1"), "2001:db8:ffff::2"},
		{"mapped trusted proxy", lreq("::ffff:192.0.2.200", "203.0.113.1"), "203.0.113.1"},
		{"only trusted hops: the left-most", lreq("10.1.2.3", "10.4.4.4, 10.5.5.5"), "10.4.4.4"},
		{"garbage stops at the last trusted hop", lreq("10.1.2.3", "203.0.113.1, not-an-ip"), "10.1.2.3"},
		{"no header from a trusted proxy", lreq("10.1.2.3"), "10.1.2.3"},
		{"IPv4-mapped peer is IPv4", lreq("::ffff:198.51.100.7"), "198.51.100.7"},
		{"IPv6 /64: same network", lreq("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := key(tc.r), key(lreq(tc.want)); got != want {
				t.Errorf("not counted as %s", tc.want)
			}
		})
	}
	// Different clients get different keys.
	for _, pair := range [][2]string{
		{"192.0.2.1", "192.0.2.2"}, {"2001:db8:1:2::1", "2001:db8:1:3::1"}, {"0.0.0.1", "::1"},
	} {
		if key(lreq(pair[0])) == key(lreq(pair[1])) {
			t.Errorf("%s and %s share a key", pair[0], pair[1])
		}
	}
	// Onion requests never use X-Forwarded-For, even from a trusted peer.
	lo := f.limiter(t, abuse.LimiterOptions{TrustedProxies: []string{"127.0.0.0/8"}})
	if _, ok, _ := lo.ClientKey(ctx, lonion(lreq("127.0.0.1", "203.0.113.1"))); ok {
		t.Error("onion request keyed per client")
	}
	if _, err := abuse.NewLimiter(f.st, abuse.LimiterOptions{TrustedProxies: []string{"nope"}}); err == nil {
		t.Error("bad trusted proxy accepted")
	}
}

// TestEpochKey: client keys depend on the epoch key, which the first limiter
// creates, others share, and which is replaced after one epoch.
func TestEpochKey(t *testing.T) {
	ctx := context.Background()
	f := newLimStore(t, 0)
	o := abuse.LimiterOptions{Epoch: 24 * time.Hour, EpochRecheck: time.Minute}
	a, b := f.limiter(t, o), f.limiter(t, o)
	key := func(l *abuse.Limiter, ip string) string {
		t.Helper()
		k, _, err := l.ClientKey(ctx, lreq(ip))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	epoch := func() []byte {
		v, err := f.st.Get(ctx, "rl:epoch")
		if err != nil {
			t.Fatalf("epoch key: %v", err)
		}
		return v
	}
	k1 := key(a, "192.0.2.1")
	if key(b, "192.0.2.1") != k1 {
		t.Fatal("two limiters on one store disagree")
	}
	e1 := epoch()
	if len(e1) != 32 {
		t.Fatalf("epoch key has %d bytes", len(e1))
	}
	if ttl, _ := f.st.TTL(ctx, "rl:epoch"); ttl != 24*time.Hour {
		t.Errorf("epoch key TTL %s", ttl)
	}
	f.clk.Advance(12 * time.Hour)
	if key(a, "192.0.2.1") != k1 {
		t.Fatal("key changed within the epoch")
	}
	f.clk.Advance(12*time.Hour + time.Second)
	k2 := key(b, "192.0.2.1")
	if k2 == k1 {
		t.Fatal("client key unchanged after the epoch ended")
	}
	if bytes.Equal(epoch(), e1) {
		t.Fatal("epoch key not replaced")
	}
	if key(a, "192.0.2.1") != k2 {
		t.Fatal("limiters disagree after rotation")
	}
	// The store lost its data (Redis restarted empty) and another instance
	// made a new key: within one recheck interval everyone uses it.
	if err := f.st.Del(ctx, "rl:epoch"); err != nil {
		t.Fatal(err)
	}
	c := f.limiter(t, o) // a fresh instance
	k3 := key(c, "192.0.2.1")
	if k3 == k2 {
		t.Fatal("no new key after the store lost it")
	}
	f.clk.Advance(time.Minute)
	if key(a, "192.0.2.1") != k3 || key(b, "192.0.2.1") != k3 {
		t.Fatal("limiter kept a stale epoch key past the recheck")
	}
	// A damaged key in the store is replaced, not a reason to fail.
	if err := f.st.Set(ctx, "rl:epoch", []byte("short"), time.Hour); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute)
	k4 := key(a, "192.0.2.1")
	if k4 == k3 || len(epoch()) != 32 {
		t.Fatal("damaged epoch key not replaced")
	}
	if ttl, _ := f.st.TTL(ctx, "rl:epoch"); ttl != 24*time.Hour {
		t.Errorf("replaced epoch key TTL %s", ttl)
	}
}

// TestEpochKeySharedOnRedis: limiters on two clients of one Redis share the
// epoch key and every budget; concurrent first uses agree on one key.
func TestEpochKeySharedOnRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	open := func() store.Store {
		st, err := store.Open("redis", srv.URL(), "t:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	b := bigBudgets()
	b.GlobalSignupsPerHour = 10
	var ls []*abuse.Limiter
	for range 4 {
		l, err := abuse.NewLimiter(open(), abuse.LimiterOptions{Budgets: b})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	keys := make([]string, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Go(func() {
			k, _, err := l.ClientKey(context.Background(), lreq("192.0.2.1"))
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := range keys {
		if keys[i] != keys[0] {
			t.Fatalf("limiter %d has another key", i)
		}
	}
	var allowed atomic.Int64
	for i := range 40 {
		wg.Go(func() {
			d, err := ls[i%len(ls)].Allow(context.Background(), lreq("192.0.2."+string(rune('0'+i%10))), abuse.Signup)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Errorf("%d sign-ups allowed on four instances, global budget 10", allowed.Load())
	}
}

// TestConcurrentReservations: concurrent requests of one client never get
// more than the budget, whatever the interleaving.
func TestConcurrentReservations(t *testing.T) {
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.CredentialChecksPerMinute = 7
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			d, err := l.Allow(context.Background(), lreq("203.0.113.5"), abuse.Credential)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 7 {
		t.Errorf("%d allowed, budget 7", allowed.Load())
	}
}

// TestStoreFailuresFailClosed: an unreachable store refuses with an error
// wrapping store.ErrUnavailable; a full memory store refuses new clients with
// store.ErrFull and keeps counting (and refusing) the ones it knows.
func TestStoreFailuresFailClosed(t *testing.T) {
	t.Run("unavailable", func(t *testing.T) {
		f := newLimStore(t, 0)
		l := f.limiter(t, abuse.LimiterOptions{})
		f.st.Close()
		for _, a := range []abuse.Action{abuse.Signup, abuse.Captcha, abuse.Credential} {
			d, err := l.Allow(context.Background(), lreq("192.0.2.1"), a)
			if !errors.Is(err, store.ErrUnavailable) || d.Allowed {
				t.Errorf("%s: allowed=%v err=%v", a, d.Allowed, err)
			}
		}
	})
	t.Run("full", func(t *testing.T) {
		f := newLimStore(t, 4)
		b := bigBudgets()
		b.SignupsPerHour = 2
		l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
		// epoch key, client counter, global counter: 3 keys.
		mustAllow(t, l, lreq("192.0.2.1"), abuse.Signup)
		if err := f.st.Set(context.Background(), "filler", []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
		d, err := l.Allow(context.Background(), lreq("192.0.2.2"), abuse.Signup)
		if !errors.Is(err, store.ErrFull) || d.Allowed {
			t.Fatalf("new client on a full store: allowed=%v err=%v", d.Allowed, err)
		}
		if d := mustAllow(t, l, lreq("192.0.2.1"), abuse.Signup); !d.Allowed {
			t.Fatalf("known client's 2nd sign-up: %+v", d)
		}
		// The 3rd would need the ":r" key to give its unit back: the store
		// is full, so it is refused with an error, never allowed.
		d, err = l.Allow(context.Background(), lreq("192.0.2.1"), abuse.Signup)
		if d.Allowed || (err == nil && d.Budget != abuse.BudgetSignup) {
			t.Fatalf("known client over its budget on a full store: %+v, %v", d, err)
		}
	})
}

func TestNewLimiterValidates(t *testing.T) {
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.CaptchasPerMinute = 0
	if _, err := abuse.NewLimiter(f.st, abuse.LimiterOptions{Budgets: b}); err == nil {
		t.Error("zero budget accepted")
	}
	if _, err := abuse.NewLimiter(nil, abuse.LimiterOptions{}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := abuse.NewLimiter(f.st, abuse.LimiterOptions{Epoch: time.Millisecond}); err == nil {
		t.Error("tiny epoch accepted")
	}
}

// TestLogsCarryNoAddress: refusals and epoch events are logged without the
// client's address or key.
func TestLogsCarryNoAddress(t *testing.T) {
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.SignupsPerHour = 1
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
	r := lreq("192.0.2.77")
	k, _, _ := l.ClientKey(context.Background(), r)
	mustAllow(t, l, r, abuse.Signup)
	mustAllow(t, l, r, abuse.Signup)
	logs := f.logs.String()
	if !strings.Contains(logs, "abuse.limited") || !strings.Contains(logs, "abuse.epoch_key_created") {
		t.Fatalf("expected events missing:\n%s", logs)
	}
	for _, s := range []string{"192.0.2.77", "c000024d", k} {
		if strings.Contains(logs, s) {
			t.Errorf("log holds %q", s)
		}
	}
}
