package resultlink_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/resultlink"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/store/storetest"
	"github.com/xmpp-portal/portal/internal/testenv"
)

func newSealer(t *testing.T) (*resultlink.Sealer, *store.Memory, *storetest.FakeClock) {
	t.Helper()
	clk := storetest.NewFakeClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { m.Close() })
	return resultlink.New(m, resultlink.Options{Now: clk.Now}), m, clk
}

// TestSealOpen: a token opens to its value, for its kind only, until its
// time is over; it is URL-safe and does not show the value.
func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	s, m, clk := newSealer(t)
	tok, err := s.Seal(ctx, "registered", "alice@example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("token %q is not base64url", tok)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	if strings.Contains(string(raw), "alice") || strings.Contains(tok, "alice") {
		t.Error("the token shows the value")
	}
	for range 2 {
		if v, err := s.Open(ctx, "registered", tok); err != nil || v != "alice@example.org" {
			t.Fatalf("Open: %q, %v", v, err)
		}
	}
	if _, err := s.Open(ctx, "deleted", tok); !errors.Is(err, resultlink.ErrInvalid) {
		t.Errorf("another kind: %v", err)
	}
	other, _ := s.Seal(ctx, "registered", "alice@example.org", time.Hour)
	if other == tok {
		t.Error("two seals of one value are the same token")
	}
	clk.Advance(time.Hour)
	if _, err := s.Open(ctx, "registered", tok); !errors.Is(err, resultlink.ErrExpired) {
		t.Errorf("after its time: %v", err)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("%d keys in the store, want the one key of the period", n)
	}
}

// TestOpenRefusesForgeries: a token changed anywhere, cut, made up or of
// another store is invalid, never a value.
func TestOpenRefusesForgeries(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newSealer(t)
	tok, _ := s.Seal(ctx, "k", "bob@example.org", time.Hour)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x20
		if v, err := s.Open(ctx, "k", base64.RawURLEncoding.EncodeToString(b)); err == nil {
			t.Fatalf("byte %d changed: opened to %q", i, v)
		}
	}
	other, _, _ := newSealer(t)
	for name, bad := range map[string]string{
		"empty": "", "cut": tok[:len(tok)-3], "padded": tok + "=", "not base64": "<script>",
		"long": strings.Repeat("A", resultlink.MaxToken+1), "other store": func() string { o, _ := other.Seal(ctx, "k", "bob@example.org", time.Hour); return o }(),
	} {
		if v, err := s.Open(ctx, "k", bad); !errors.Is(err, resultlink.ErrInvalid) {
			t.Errorf("%s: %q, %v", name, v, err)
		}
	}
}

// TestKeysRotate: each period has its own key, made once for every
// instance on the store; a token made near a period's end opens for its
// whole time in the next; keys go two periods later.
func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	clk := storetest.NewFakeClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { m.Close() })
	a := resultlink.New(m, resultlink.Options{Now: clk.Now, Period: time.Hour})
	b := resultlink.New(m, resultlink.Options{Now: clk.Now, Period: time.Hour})
	// To the last minute of a period.
	now := clk.Now()
	clk.Advance(now.Truncate(time.Hour).Add(59 * time.Minute).Sub(now))
	var wg sync.WaitGroup
	toks := make([]string, 16)
	for i := range toks {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			toks[i], _ = s.Seal(ctx, "k", "v", time.Hour)
		})
	}
	wg.Wait()
	clk.Advance(59 * time.Minute) // the next period, 59 minutes into the tokens' hour
	for i, tok := range toks {
		if v, err := b.Open(ctx, "k", tok); err != nil || v != "v" {
			t.Fatalf("token %d (of both instances) in the next period: %q %v", i, v, err)
		}
	}
	fresh, _ := a.Seal(ctx, "k", "w", time.Hour)
	if n := m.Len(); n != 2 {
		t.Errorf("%d keys, want the two periods'", n)
	}
	clk.Advance(2 * time.Hour)
	if _, err := a.Open(ctx, "k", toks[0]); !errors.Is(err, resultlink.ErrInvalid) {
		t.Errorf("a token whose key is gone: %v", err)
	}
	if _, err := a.Open(ctx, "k", fresh); !errors.Is(err, resultlink.ErrExpired) {
		t.Errorf("a token past its time: %v", err)
	}
}

// TestSealStoreTrouble: without a store there is no token and no value.
func TestSealStoreTrouble(t *testing.T) {
	ctx := context.Background()
	s, m, _ := newSealer(t)
	tok, _ := s.Seal(ctx, "k", "v", time.Hour)
	m.Close()
	if _, err := s.Seal(ctx, "k", "v", time.Hour); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Seal: %v", err)
	}
	if _, err := s.Open(ctx, "k", tok); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open: %v", err)
	}
	if _, err := s.Seal(ctx, "k", strings.Repeat("x", resultlink.MaxValue+1), time.Hour); err == nil {
		t.Error("a value over MaxValue was sealed")
	}
}

// TestRedisShared: two instances on one Redis share the keys.
func TestRedisShared(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	var sealers []*resultlink.Sealer
	for range 2 {
		r, err := store.OpenRedis(srv.URL(), "rl:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		sealers = append(sealers, resultlink.New(r, resultlink.Options{}))
	}
	tok, err := sealers[0].Seal(ctx, "k", "carol@example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sealers[1].Open(ctx, "k", tok); err != nil || v != "carol@example.org" {
		t.Fatalf("the other instance: %q %v", v, err)
	}
}
