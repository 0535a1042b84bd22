package captchastore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/store/storetest"
)

func newPasses(t *testing.T, o captchastore.PassOptions) (*captchastore.Passes, *store.Memory, *storetest.FakeClock) {
	t.Helper()
	clk := storetest.NewFakeClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { m.Close() })
	o.Now = clk.Now
	return captchastore.NewPasses(m, o), m, clk
}

// TestPassTries: a pass serves Tries tries of its form: each try takes it
// (Take), a try that created nothing puts it back with one try less (Keep),
// and after the last one it is gone. A token is never two passes' and says
// nothing but randomness.
func TestPassTries(t *testing.T) {
	ctx := context.Background()
	ps, m, _ := newPasses(t, captchastore.PassOptions{Tries: 3})
	p, err := ps.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !captchastore.ValidPassToken(p.Token) || p.Left != 3 {
		t.Fatalf("issued %+v", p)
	}
	for try := 1; try <= 3; try++ {
		got, ok, err := ps.Take(ctx, p.Token)
		if err != nil || !ok || got.Left != 4-try {
			t.Fatalf("take %d: %+v %v %v", try, got, ok, err)
		}
		// Taken: a second try at the same time finds no pass.
		if _, ok, _ := ps.Take(ctx, p.Token); ok {
			t.Fatalf("take %d: the pass was usable twice at once", try)
		}
		kept, ok, err := ps.Keep(ctx, got)
		if err != nil || ok != (try < 3) || (ok && kept.Left != 3-try) {
			t.Fatalf("keep %d: %+v %v %v", try, kept, ok, err)
		}
	}
	if _, ok, _ := ps.Take(ctx, p.Token); ok {
		t.Fatal("a used-up pass still works")
	}
	if n := m.Len(); n != 0 {
		t.Errorf("%d keys left in the store", n)
	}
	q, _ := ps.Issue(ctx)
	if q.Token == p.Token {
		t.Error("two passes with one token")
	}
}

// TestPassExpires: a pass lives TTL from its issue, kept or not.
func TestPassExpires(t *testing.T) {
	ctx := context.Background()
	ps, _, clk := newPasses(t, captchastore.PassOptions{TTL: 2 * time.Minute})
	p, _ := ps.Issue(ctx)
	clk.Advance(time.Minute)
	got, ok, _ := ps.Take(ctx, p.Token)
	if !ok {
		t.Fatal("a pass gone before its time")
	}
	if _, ok, _ := ps.Keep(ctx, got); !ok {
		t.Fatal("not kept")
	}
	clk.Advance(time.Minute) // two minutes since the issue: Keep did not extend it
	if _, ok, _ := ps.Take(ctx, p.Token); ok {
		t.Fatal("a kept pass outlived its issue's TTL")
	}
	q, _ := ps.Issue(ctx)
	got, _, _ = ps.Take(ctx, q.Token)
	clk.Advance(2 * time.Minute)
	if _, ok, _ := ps.Keep(ctx, got); ok {
		t.Error("Keep put back a pass whose time is over")
	}
}

// TestPassTokensBounded: what cannot be a token is never looked up.
func TestPassTokensBounded(t *testing.T) {
	ctx := context.Background()
	ps, _, _ := newPasses(t, captchastore.PassOptions{})
	for _, tok := range []string{"", "x", strings.Repeat("A", 21), strings.Repeat("A", 23), strings.Repeat("A", 1<<20), "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAA\x00A", "captcha:AAAAAAAAAAAAA"} {
		if captchastore.ValidPassToken(tok) {
			t.Errorf("%.30q is a token", tok)
		}
		if _, ok, err := ps.Take(ctx, tok); ok || err != nil {
			t.Errorf("Take(%.30q) = %v, %v", tok, ok, err)
		}
	}
}

// TestPassConcurrentTries: of many tries with one pass at once, exactly one
// gets it.
func TestPassConcurrentTries(t *testing.T) {
	ctx := context.Background()
	ps, _, _ := newPasses(t, captchastore.PassOptions{})
	p, _ := ps.Issue(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 32 {
		wg.Go(func() {
			if _, ok, _ := ps.Take(ctx, p.Token); ok {
				mu.Lock()
				got++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got != 1 {
		t.Errorf("%d tries got the pass, want 1", got)
	}
}

// TestPassStoreTrouble: a store that fails is an error, never a pass.
func TestPassStoreTrouble(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewFakeClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1, MaxKeys: 1})
	t.Cleanup(func() { m.Close() })
	ps := captchastore.NewPasses(m, captchastore.PassOptions{Now: clk.Now})
	if _, err := ps.Issue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Issue(ctx); !errors.Is(err, store.ErrFull) {
		t.Errorf("issue in a full store: %v", err)
	}
	m.Close()
	if _, ok, err := ps.Take(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); ok || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("take from a closed store: %v %v", ok, err)
	}
}

// TestRenew: new digits under the same id, for the TTL from now; a verified
// or expired id is made again; an id New cannot have made is refused.
func TestRenew(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewFakeClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { m.Close() })
	c := captchastore.NewCaptchas(m, captchastore.Options{TTL: 2 * time.Minute})
	id, err := c.New()
	if err != nil {
		t.Fatal(err)
	}
	answer := func() string {
		b, err := m.Get(ctx, captchastore.DefaultPrefix+id)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	old := answer()
	changed := false
	for range 5 { // the same digits again by chance: 1 in 10^6 each
		if err := c.Renew(ctx, id); err != nil {
			t.Fatal(err)
		}
		if answer() != old {
			changed = true
			break
		}
	}
	if !changed {
		t.Fatal("Renew kept the digits")
	}
	if ok, _ := c.Verify(ctx, id, old); ok {
		t.Error("the old digits still solve the captcha")
	}
	// Verified (gone): made again; then it lives the TTL from the renewal.
	if err := c.Renew(ctx, id); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := c.Renew(ctx, id); err != nil {
		t.Fatal(err)
	}
	clk.Advance(90 * time.Second)
	if ok, _ := c.Verify(ctx, id, answer()); !ok {
		t.Error("a renewed captcha did not live its TTL from the renewal")
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 21), "AAAAAAAAAAAAAAAAAAA-"} {
		if err := c.Renew(ctx, bad); !errors.Is(err, captchastore.ErrNotFound) {
			t.Errorf("Renew(%q): %v", bad, err)
		}
	}
}
