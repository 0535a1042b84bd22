package abuse_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
)

type circuitCtxKey struct{}

// withCircuit marks r as having come over Tor circuit n (what the onion
// listener's PROXY header reader does for the real portal).
func withCircuit(r *http.Request, n int) *http.Request {
	id := binary.BigEndian.AppendUint32([]byte("tor session 1:"), uint32(n))
	return r.WithContext(context.WithValue(r.Context(), circuitCtxKey{}, id))
}

// circuitOf is LimiterOptions.Circuit for requests marked by withCircuit.
func circuitOf(r *http.Request) ([]byte, bool) {
	id, ok := r.Context().Value(circuitCtxKey{}).([]byte)
	return id, ok
}

func onionCircuit(n int) *http.Request { return withCircuit(lonion(lreq("127.0.0.1")), n) }

// TestCircuitBudgets: with circuit ids, an onion visitor is counted like a
// clearnet client, per Tor circuit. Wrong captchas cost the circuit that
// sends them (its sign-up budget), not the shared onion sign-up budget, so a
// visitor on another circuit still signs up; a flood of forms over one
// circuit is stopped by that circuit's captcha budget while the shared onion
// captcha budget keeps room for the others. Clearnet budgets are untouched.
//
// Without circuit ids (the same test on a Limiter without
// LimiterOptions.Circuit, the portal before circuit ids) the first visitor
// is never refused and the second is refused once the shared budget is gone:
// the test checks that too.
func TestCircuitBudgets(t *testing.T) {
	ctx := context.Background()
	b := bigBudgets()
	b.SignupsPerHour, b.CaptchasPerMinute, b.CredentialChecksPerMinute = 3, 5, 2
	b.OnionSignupsPerHour, b.OnionCaptchasPerMinute = 4, 20

	f := newLimStore(t, 0)
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b, Circuit: circuitOf})

	// Visitor 1 answers every captcha wrongly: three tries, then 429 from
	// its own sign-up budget, for an hour.
	for i := range 3 {
		d := mustAllow(t, l, onionCircuit(1), abuse.Signup)
		if !d.Allowed {
			t.Fatalf("wrong answer %d of circuit 1 refused: %+v", i+1, d)
		}
		d.ReleaseShared(ctx)
	}
	f.clk.Advance(10 * time.Minute)
	d := mustAllow(t, l, onionCircuit(1), abuse.Signup)
	if d.Allowed || d.Budget != abuse.BudgetSignup || !d.Circuit || d.Shared || d.RetryAfter != 50*time.Minute {
		t.Fatalf("4th sign-up of circuit 1: %+v, want refused by its own sign-up budget for 50 minutes", d)
	}
	if !strings.Contains(f.logs.String(), "circuit=true") {
		t.Error("refusal by a circuit budget not logged as such")
	}
	// Visitor 2, another circuit over the same onion service, signs up: the
	// shared onion sign-up budget counts created accounts only.
	for i := range 4 {
		if d := mustAllow(t, l, onionCircuit(2+i), abuse.Signup); !d.Allowed {
			t.Fatalf("sign-up %d on a fresh circuit refused: %+v", i+1, d)
		}
	}
	// Four accounts created over the onion: now the shared budget is out.
	if d := mustAllow(t, l, onionCircuit(9), abuse.Signup); d.Allowed || d.Budget != abuse.BudgetOnionSignup || !d.Shared || d.Circuit {
		t.Fatalf("5th onion sign-up: %+v, want refused by the shared onion budget", d)
	}

	// A flood of forms over one circuit stops at its captcha budget.
	for i := range 5 {
		if d := mustAllow(t, l, onionCircuit(20), abuse.Captcha); !d.Allowed {
			t.Fatalf("form %d of circuit 20 refused: %+v", i+1, d)
		}
	}
	for range 10 {
		if d := mustAllow(t, l, onionCircuit(20), abuse.Captcha); d.Allowed || d.Budget != abuse.BudgetCaptcha || !d.Circuit {
			t.Fatalf("form over circuit 20's budget: %+v", d)
		}
	}
	if d := mustAllow(t, l, onionCircuit(21), abuse.Captcha); !d.Allowed {
		t.Fatalf("a form of another circuit refused during the flood: %+v", d)
	}
	// Password checks too.
	for range 2 {
		mustAllow(t, l, onionCircuit(30), abuse.Credential)
	}
	if d := mustAllow(t, l, onionCircuit(30), abuse.Credential); d.Allowed || d.Budget != abuse.BudgetCredential || !d.Circuit {
		t.Fatalf("3rd password check of circuit 30: %+v", d)
	}
	// Clearnet is untouched.
	for _, ip := range []string{"127.0.0.1", "198.51.100.7"} {
		if d := mustAllow(t, l, lreq(ip), abuse.Signup); !d.Allowed {
			t.Errorf("clearnet sign-up from %s refused: %+v", ip, d)
		}
	}
	if k1, ok, err := l.ClientKey(ctx, onionCircuit(1)); !ok || err != nil {
		t.Errorf("circuit has no client key: %v %v", ok, err)
	} else if k2, _, _ := l.ClientKey(ctx, onionCircuit(2)); k1 == k2 {
		t.Error("two circuits share a key")
	}

	// The same visits without circuit ids: visitor 1 is never refused by a
	// budget of its own, and uses up the shared captcha budget for visitor 2.
	f = newLimStore(t, 0)
	l = f.limiter(t, abuse.LimiterOptions{Budgets: b})
	for i := range 20 {
		d := mustAllow(t, l, onionCircuit(1), abuse.Signup)
		if !d.Allowed {
			t.Fatalf("without circuit ids, wrong answer %d refused: %+v", i+1, d)
		}
		d.ReleaseShared(ctx)
	}
	if d := mustAllow(t, l, onionCircuit(2), abuse.Signup); d.Allowed || d.Budget != abuse.BudgetOnionCaptcha {
		t.Fatalf("without circuit ids, the second visitor: %+v, want refused by the shared onion captcha budget", d)
	}
}

// TestCircuitCountersArePaid: every new per-circuit counter takes a unit of
// the onion circuit budget, never given back. Over it, a new circuit's
// request is still served, counted on the shared onion budgets only, and
// leaves no counter; circuits with counters keep their budgets; in the next
// window new circuits get counters again.
func TestCircuitCountersArePaid(t *testing.T) {
	ctx := context.Background()
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.CaptchasPerMinute = 2
	b.OnionCircuitsPerMinute = 3
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b, Circuit: circuitOf})
	counters := func() int { // circuit counters, without their release counters
		n := 0
		f.st.ForEach(func(k string, _ []byte, _ time.Duration) {
			if (strings.HasPrefix(k, "rl:captcha:") || strings.HasPrefix(k, "rl:signup:")) && !strings.HasSuffix(k, ":r") {
				n++
			}
		})
		return n
	}

	for n := range 3 {
		d := mustAllow(t, l, onionCircuit(n), abuse.Captcha)
		if !d.Allowed {
			t.Fatalf("circuit %d refused: %+v", n, d)
		}
		d.Release(ctx)
	}
	if c := counters(); c != 3 {
		t.Fatalf("%d circuit counters, want 3", c)
	}
	// Circuits 3 to 12: served without counters of their own.
	for n := 3; n < 13; n++ {
		for range 3 { // over the per-circuit budget of 2: not counted per circuit
			if d := mustAllow(t, l, onionCircuit(n), abuse.Captcha); !d.Allowed {
				t.Fatalf("circuit %d without a counter refused: %+v", n, d)
			}
		}
	}
	if c := counters(); c != 3 {
		t.Errorf("%d circuit counters after the circuit budget ran out, want still 3", c)
	}
	if !strings.Contains(f.logs.String(), "abuse.circuit_unkeyed") {
		t.Error("a circuit without a counter was not logged")
	}
	// Circuit 0 keeps its budget (one unit was released, two are left).
	for range 2 {
		if d := mustAllow(t, l, onionCircuit(0), abuse.Captcha); !d.Allowed {
			t.Fatalf("circuit 0 refused within its budget: %+v", d)
		}
	}
	if d := mustAllow(t, l, onionCircuit(0), abuse.Captcha); d.Allowed || !d.Circuit {
		t.Fatalf("circuit 0 over its budget: %+v", d)
	}
	// The next minute: new circuits are counted again.
	f.clk.Advance(time.Minute)
	if d := mustAllow(t, l, onionCircuit(12), abuse.Signup); !d.Allowed {
		t.Fatalf("circuit 12 in the next window: %+v", d)
	}
	if n := countKeys(f, "rl:signup:"); n != 1 { // no release counter: nothing was released
		t.Errorf("%d sign-up counters of circuits, want 1", n)
	}
	v, err := f.st.Get(ctx, "rl:onion_circuit")
	if err != nil || string(v) != "1" {
		t.Errorf("onion circuit counter %q %v, want 1", v, err)
	}
}

// TestCircuitBudgetDefault: a Limiter whose budgets leave the onion circuit
// budget out takes the default; a negative one is refused.
func TestCircuitBudgetDefault(t *testing.T) {
	if got := abuse.DefaultBudgets().OnionCircuitsPerMinute; got != abuse.DefaultOnionCircuitsPerMinute {
		t.Errorf("DefaultBudgets().OnionCircuitsPerMinute = %d", got)
	}
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.OnionCircuitsPerMinute = -1
	if _, err := abuse.NewLimiter(f.st, abuse.LimiterOptions{Budgets: b}); err == nil || !strings.Contains(err.Error(), "OnionCircuitsPerMinute") {
		t.Errorf("negative circuit budget: %v", err)
	}
}
