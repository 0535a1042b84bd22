package abuse_test

import (
	"context"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
)

// TestCheckSaysWhatAllowWouldDo: Check tells, without counting and without
// creating a key, whether Allow would refuse now, naming the budget and the
// wait as Allow does; units given back make room again.
func TestCheckSaysWhatAllowWouldDo(t *testing.T) {
	ctx := context.Background()
	f := newLimStore(t, 0)
	b := bigBudgets()
	b.SignupsPerHour = 2
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
	alice, bob := lreq("192.0.2.1"), lreq("192.0.2.2")

	keys := f.st.Len()
	for range 5 {
		if d, err := l.Check(ctx, alice, abuse.Signup); err != nil || !d.Allowed {
			t.Fatalf("a fresh client: %+v %v", d, err)
		}
	}
	if n := f.st.Len(); n > keys+1 { // the epoch key, at most
		t.Errorf("Check created %d keys", n-keys)
	}
	var held []abuse.Decision
	for range 2 {
		d, _ := l.Allow(ctx, alice, abuse.Signup)
		held = append(held, d)
	}
	f.clk.Advance(10 * time.Minute)
	d, err := l.Check(ctx, alice, abuse.Signup)
	if err != nil || d.Allowed || d.Budget != abuse.BudgetSignup || d.Shared || d.RetryAfter != 50*time.Minute {
		t.Fatalf("alice at her budget: %+v %v", d, err)
	}
	held[0].Release(ctx)
	if d, _ := l.Check(ctx, alice, abuse.Signup); !d.Allowed {
		t.Fatalf("a unit given back makes no room: %+v", d)
	}
	if a, _ := l.Allow(ctx, alice, abuse.Signup); !a.Allowed {
		t.Fatalf("Allow disagrees with Check: %+v", a)
	}
	// Spent again; a refused Allow keeps it spent for the window, and Check
	// says so too.
	if a, _ := l.Allow(ctx, alice, abuse.Signup); a.Allowed || a.Budget != abuse.BudgetSignup {
		t.Fatalf("Allow over the budget: %+v", a)
	}
	held[1].Release(ctx)
	if d, _ := l.Check(ctx, alice, abuse.Signup); d.Allowed {
		t.Fatalf("Check after a refused Allow: %+v", d)
	}
	if a, _ := l.Allow(ctx, alice, abuse.Signup); a.Allowed {
		t.Fatalf("Allow disagrees with Check: %+v", a)
	}
	// The shared budget: carol has her own room, but the server's is spent.
	g := bigBudgets()
	g.GlobalSignupsPerHour = 2
	fg := newLimStore(t, 0)
	lg := fg.limiter(t, abuse.LimiterOptions{Budgets: g})
	for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		if a, _ := lg.Allow(ctx, lreq(ip), abuse.Signup); !a.Allowed {
			t.Fatalf("%s refused", ip)
		}
	}
	d, _ = lg.Check(ctx, bob, abuse.Signup)
	if d.Allowed || d.Budget != abuse.BudgetGlobalSignup || !d.Shared {
		t.Fatalf("bob when the global budget is spent: %+v", d)
	}
	// The window ends.
	f.clk.Advance(time.Hour)
	fg.clk.Advance(time.Hour)
	if d, _ := lg.Check(ctx, bob, abuse.Signup); !d.Allowed {
		t.Fatalf("after the window: %+v", d)
	}
	if d, _ := l.Check(ctx, alice, abuse.Signup); !d.Allowed {
		t.Fatalf("alice after the window: %+v", d)
	}
	// Onion requests: the onion budgets.
	if d, _ := l.Check(ctx, lonion(lreq("127.0.0.1")), abuse.Signup); !d.Allowed {
		t.Fatalf("onion: %+v", d)
	}
}
