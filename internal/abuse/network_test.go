package abuse_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
)

// v6 is an address in the /64 number n64 of the /56 number n56 of the /48
// 2001:db8:<n48>::/48.
func v6(n48, n56, n64 int, host string) string {
	return fmt.Sprintf("2001:db8:%x:%x::%s", n48, n56<<8|n64, host)
}

// netCase is one action with a per-client budget of 3 and factors 2 (/56)
// and 4 (/48): a /56 gets 6 units, a /48 12.
type netCase struct {
	action abuse.Action
	budget string
	period time.Duration
}

var netCases = []netCase{
	{abuse.Signup, abuse.BudgetSignup, time.Hour},
	{abuse.Captcha, abuse.BudgetCaptcha, time.Minute},
	{abuse.Credential, abuse.BudgetCredential, time.Minute},
}

func netBudgets() abuse.Budgets {
	b := bigBudgets()
	b.SignupsPerHour, b.CaptchasPerMinute, b.CredentialChecksPerMinute = 3, 3, 3
	b.IPv6Factor56, b.IPv6Factor48 = 2, 4
	return b
}

// countKeys counts the store's keys that start with prefix.
func countKeys(f lfix, prefix string) int {
	n := 0
	f.st.ForEach(func(k string, _ []byte, _ time.Duration) {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	})
	return n
}

// TestNetworkBudgets (hardening hole 7): an IPv6 client is counted at its
// /64, /56 and /48. One /64 that used up its budget leaves other /64s and
// other /48s alone; many /64s of one /56 stop at the /56 budget; 300 /64s
// spread over the /56s of one /48 stop at the /48 budget (and another /48 goes
// on); Release keeps the network units, so a /48 cannot create counters
// without end one /64 at a time; IPv4 addresses are never counted together.
func TestNetworkBudgets(t *testing.T) {
	ctx := context.Background()
	for _, nc := range netCases {
		t.Run(nc.action.String(), func(t *testing.T) {
			refused := func(t *testing.T, d abuse.Decision, prefix int) {
				t.Helper()
				if d.Allowed || d.Budget != nc.budget || d.Prefix != prefix || d.Shared || d.RetryAfter != nc.period {
					t.Fatalf("want a refusal by %s at prefix %d, retry %s; got %+v", nc.budget, prefix, nc.period, d)
				}
			}
			t.Run("one /64 used up", func(t *testing.T) {
				f := newLimStore(t, 0)
				l := f.limiter(t, abuse.LimiterOptions{Budgets: netBudgets()})
				for i := range 3 { // three addresses of one /64 are one client
					if d := mustAllow(t, l, lreq(v6(1, 1, 1, fmt.Sprint(i+1))), nc.action); !d.Allowed {
						t.Fatalf("request %d refused: %+v", i+1, d)
					}
				}
				refused(t, mustAllow(t, l, lreq(v6(1, 1, 1, "ffff")), nc.action), 0)
				for _, ip := range []string{v6(2, 1, 1, "1"), v6(0xffff, 0, 0, "1"), v6(1, 1, 2, "1"), v6(1, 2, 1, "1"), "198.51.100.1"} {
					if d := mustAllow(t, l, lreq(ip), nc.action); !d.Allowed {
						t.Errorf("%s refused after another /64 used its budget: %+v", ip, d)
					}
				}
			})
			t.Run("many /64s of one /56", func(t *testing.T) {
				f := newLimStore(t, 0)
				l := f.limiter(t, abuse.LimiterOptions{Budgets: netBudgets()})
				allowed := 0
				for n64 := range 256 {
					d := mustAllow(t, l, lreq(v6(1, 7, n64, "1")), nc.action)
					if d.Allowed {
						allowed++
					} else {
						refused(t, d, 56)
					}
				}
				if allowed != 6 {
					t.Errorf("%d /64s of one /56 allowed, want the /56 budget 6", allowed)
				}
				// Another /56 of the /48 has its own 6, then the /48 is out.
				for i := range 6 {
					if d := mustAllow(t, l, lreq(v6(1, 8, i, "1")), nc.action); !d.Allowed {
						t.Fatalf("another /56, request %d: %+v", i+1, d)
					}
				}
				refused(t, mustAllow(t, l, lreq(v6(1, 9, 0, "1")), nc.action), 48)
			})
			t.Run("300 /64s of one /48", func(t *testing.T) {
				f := newLimStore(t, 0)
				l := f.limiter(t, abuse.LimiterOptions{Budgets: netBudgets()})
				allowed := 0
				for i := range 300 {
					d := mustAllow(t, l, lreq(v6(0x48, i%256, i/256, "1")), nc.action)
					if d.Allowed {
						allowed++
					} else {
						refused(t, d, 48)
					}
				}
				if allowed != 12 {
					t.Errorf("%d of 300 /64s allowed, want the /48 budget 12", allowed)
				}
				// Only allowed requests created client counters.
				if n := countKeys(f, "rl:"+nc.budget+":"); n != 12 {
					t.Errorf("%d client counters in the store, want 12", n)
				}
				if d := mustAllow(t, l, lreq(v6(0x49, 0, 0, "1")), nc.action); !d.Allowed {
					t.Errorf("another /48 refused: %+v", d)
				}
				f.clk.Advance(nc.period)
				if d := mustAllow(t, l, lreq(v6(0x48, 200, 0, "1")), nc.action); !d.Allowed {
					t.Errorf("refused after the /48 window ended: %+v", d)
				}
			})
			t.Run("Release keeps the network units", func(t *testing.T) {
				f := newLimStore(t, 0)
				l := f.limiter(t, abuse.LimiterOptions{Budgets: netBudgets()})
				allowed := 0
				for i := range 300 {
					d := mustAllow(t, l, lreq(v6(0x48, i%256, i/256, "1")), nc.action)
					if d.Allowed {
						allowed++
					}
					d.Release(ctx) // a form error: nothing took place
				}
				if allowed != 12 {
					t.Errorf("%d of 300 released requests allowed, want 12", allowed)
				}
				// The client's own unit did come back.
				for i := range 3 {
					if d := mustAllow(t, l, lreq(v6(0x50, 0, 0, "1")), nc.action); !d.Allowed {
						t.Fatalf("request %d: %+v", i, d)
					} else {
						d.Release(ctx)
					}
				}
				if d := mustAllow(t, l, lreq(v6(0x50, 0, 0, "1")), nc.action); !d.Allowed {
					t.Errorf("the client's released units were not given back: %+v", d)
				}
			})
			t.Run("IPv4 is counted per address", func(t *testing.T) {
				f := newLimStore(t, 0)
				l := f.limiter(t, abuse.LimiterOptions{Budgets: netBudgets()})
				for i := range 256 {
					if d := mustAllow(t, l, lreq(fmt.Sprintf("198.51.100.%d", i)), nc.action); !d.Allowed {
						t.Fatalf("198.51.100.%d refused: %+v", i, d)
					}
				}
				if n := countKeys(f, "rl:"+nc.budget+"/"); n != 0 {
					t.Errorf("%d network counters for IPv4 clients", n)
				}
			})
		})
	}
}

// TestNetworkRefusalOrder: a sign-up refused by the global budget creates no
// counter of the client or its networks, and a request refused at the /48
// creates no /56 or /64 counter: the widest budget is counted first.
func TestNetworkRefusalOrder(t *testing.T) {
	f := newLimStore(t, 0)
	b := netBudgets()
	b.GlobalSignupsPerHour = 1
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
	if d := mustAllow(t, l, lreq("192.0.2.1"), abuse.Signup); !d.Allowed {
		t.Fatal(d)
	}
	before := countKeys(f, "rl:signup")
	for i := range 50 {
		if d := mustAllow(t, l, lreq(v6(1, i, 0, "1")), abuse.Signup); d.Allowed || d.Budget != abuse.BudgetGlobalSignup {
			t.Fatalf("over the global budget: %+v", d)
		}
	}
	if n := countKeys(f, "rl:signup"); n != before {
		t.Errorf("refused sign-ups created %d counters", n-before)
	}

	for i := range 12 { // use up the /48's captchas
		mustAllow(t, l, lreq(v6(2, i, 0, "1")), abuse.Captcha)
	}
	before = countKeys(f, "rl:captcha")
	for i := range 200 {
		if d := mustAllow(t, l, lreq(v6(2, 100+i%100, i/100+1, "1")), abuse.Captcha); d.Allowed || d.Prefix != 48 {
			t.Fatalf("over the /48 budget: %+v", d)
		}
	}
	if n := countKeys(f, "rl:captcha"); n > before+1 { // at most the /48's release counter
		t.Errorf("requests refused at the /48 created %d counters", n-before)
	}
}

// TestOnionHasEveryBudget: every action has a budget over the onion listener
// (and on clearnet): after its limit, each is refused.
func TestOnionHasEveryBudget(t *testing.T) {
	for _, onion := range []bool{false, true} {
		for _, a := range []abuse.Action{abuse.Signup, abuse.Captcha, abuse.Credential} {
			t.Run(fmt.Sprintf("%s onion=%v", a, onion), func(t *testing.T) {
				f := newLimStore(t, 0)
				b := abuse.Budgets{SignupsPerHour: 1, GlobalSignupsPerHour: 1, CaptchasPerMinute: 1, CredentialChecksPerMinute: 1,
					OnionSignupsPerHour: 1, OnionCaptchasPerMinute: 2, OnionCredentialChecksPerMinute: 1, IPv6Factor56: 1, IPv6Factor48: 1}
				l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
				r := func() *http.Request {
					if onion {
						return lonion(lreq("127.0.0.1"))
					}
					return lreq("2001:db8::1")
				}
				refusedAt := -1
				for i := range 3 {
					if d := mustAllow(t, l, r(), a); !d.Allowed {
						refusedAt = i
						break
					}
				}
				if refusedAt < 0 {
					t.Errorf("three requests allowed: no budget applies")
				}
			})
		}
	}
}
