package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/store/storetest"
)

func newMemory(t *testing.T, opts store.MemoryOptions) (*store.Memory, *storetest.FakeClock) {
	t.Helper()
	clk := storetest.NewFakeClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	m := store.NewMemory(opts)
	t.Cleanup(func() { m.Close() })
	return m, clk
}

func TestMemoryStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Clock) {
		m, clk := newMemory(t, store.MemoryOptions{})
		return m, clk.Clock()
	})
}

// The contract again with a small bound, so the slot accounting (expired
// keys reused, GetDel/Del freeing) is exercised by every operation.
func TestMemoryStoreContractSmallBound(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Clock) {
		m, clk := newMemory(t, store.MemoryOptions{MaxKeys: 100})
		return m, clk.Clock()
	})
}

func TestMemoryStoreBound(t *testing.T) {
	ctx := context.Background()
	const max = 50
	m, clk := newMemory(t, store.MemoryOptions{MaxKeys: max, SweepInterval: -1})

	// Fill: half with short keys, half with long-lived keys (think bans).
	for i := range max {
		ttl := time.Hour
		if i%2 == 0 {
			ttl = time.Minute
		}
		if err := m.Set(ctx, fmt.Sprintf("k%d", i), []byte("v"), ttl); err != nil {
			t.Fatalf("Set #%d: %v", i, err)
		}
	}
	if m.Len() != max {
		t.Fatalf("Len = %d, want %d", m.Len(), max)
	}

	// New keys are refused by every creating operation.
	if err := m.Set(ctx, "new", []byte("v"), time.Hour); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Set(new) when full = %v, want ErrFull", err)
	}
	if ok, err := m.SetNX(ctx, "new", []byte("v"), time.Hour); ok || !errors.Is(err, store.ErrFull) {
		t.Fatalf("SetNX(new) when full = %v, %v; want ErrFull", ok, err)
	}
	if _, err := m.Incr(ctx, "new", time.Hour); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Incr(new) when full = %v, want ErrFull", err)
	}
	if _, err := m.Get(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused key exists: %v", err)
	}

	// Existing keys are never evicted and stay usable.
	for i := range max {
		if _, err := m.Get(ctx, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("existing key k%d: %v", i, err)
		}
	}
	if err := m.Set(ctx, "k1", []byte("7"), time.Hour); err != nil {
		t.Fatalf("overwrite existing when full: %v", err)
	}
	if n, err := m.Incr(ctx, "k1", time.Hour); err != nil || n != 8 {
		t.Fatalf("Incr existing when full = %d, %v; want 8", n, err)
	}
	if ok, err := m.SetNX(ctx, "k1", []byte("x"), time.Hour); ok || err != nil {
		t.Fatalf("SetNX existing when full = %v, %v; want false, nil", ok, err)
	}

	// Deleting frees a slot.
	if err := m.Del(ctx, "k3"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "new", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set after Del = %v", err)
	}
	if _, err := m.GetDel(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Incr(ctx, "new2", time.Hour); err != nil {
		t.Fatalf("Incr after GetDel = %v", err)
	}
	if err := m.Set(ctx, "new3", []byte("v"), time.Hour); !errors.Is(err, store.ErrFull) {
		t.Fatalf("full again: %v", err)
	}

	// An expired key still holds its slot until it is swept, but writing it
	// again reuses the slot.
	clk.Advance(2 * time.Minute)
	if err := m.Set(ctx, "new3", []byte("v"), time.Hour); !errors.Is(err, store.ErrFull) {
		t.Fatalf("before sweep: %v, want ErrFull", err)
	}
	if n, err := m.Incr(ctx, "k0", time.Hour); err != nil || n != 1 {
		t.Fatalf("Incr on expired key when full = %d, %v; want 1", n, err)
	}
	if removed := m.Sweep(); removed != max/2-1 {
		t.Fatalf("Sweep removed %d, want %d", removed, max/2-1)
	}
	if m.Len() != max/2+1 {
		t.Fatalf("Len after sweep = %d, want %d", m.Len(), max/2+1)
	}
	for i := range max / 2 {
		if err := m.Set(ctx, fmt.Sprintf("after%d", i), []byte("v"), time.Hour); i < max/2-1 && err != nil {
			t.Fatalf("Set after sweep #%d: %v", i, err)
		} else if i == max/2-1 && !errors.Is(err, store.ErrFull) {
			t.Fatalf("Set beyond bound after sweep: %v, want ErrFull", err)
		}
	}
	// The long-lived keys survived everything.
	for i := 1; i < max; i += 2 {
		if i == 3 {
			continue // deleted above
		}
		if _, err := m.Get(ctx, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("long-lived key k%d lost: %v", i, err)
		}
	}
}

func TestMemoryStoreBoundConcurrent(t *testing.T) {
	ctx := context.Background()
	const max = 1000
	m, _ := newMemory(t, store.MemoryOptions{MaxKeys: max, SweepInterval: -1})
	errs := make(chan error, 64*100)
	done := make(chan struct{})
	for g := range 64 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 100 {
				_, err := m.Incr(ctx, fmt.Sprintf("g%d-%d", g, i), time.Hour)
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for range 64 {
		<-done
	}
	close(errs)
	full := 0
	for err := range errs {
		if !errors.Is(err, store.ErrFull) {
			t.Fatalf("unexpected error: %v", err)
		}
		full++
	}
	if m.Len() != max || full != 64*100-max {
		t.Fatalf("Len = %d, ErrFull %d times; want %d and %d", m.Len(), full, max, 64*100-max)
	}
}

func TestMemoryStoreSweep(t *testing.T) {
	ctx := context.Background()
	m, clk := newMemory(t, store.MemoryOptions{SweepInterval: -1})
	for i := range 100 {
		ttl := time.Minute
		if i < 30 {
			ttl = time.Second
		}
		if _, err := m.Incr(ctx, fmt.Sprintf("n%d", i), ttl); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Sweep(); got != 0 {
		t.Fatalf("Sweep before expiry removed %d", got)
	}
	clk.Advance(time.Second)
	if got := m.Sweep(); got != 30 {
		t.Fatalf("Sweep removed %d, want 30", got)
	}
	if m.Len() != 70 {
		t.Fatalf("Len = %d, want 70", m.Len())
	}
	clk.Advance(time.Minute)
	if got := m.Sweep(); got != 70 || m.Len() != 0 {
		t.Fatalf("Sweep removed %d, Len %d; want 70, 0", got, m.Len())
	}
}

// The background sweeper runs every SweepInterval, and Close stops it.
func TestMemoryStoreBackgroundSweep(t *testing.T) {
	ctx := context.Background()
	m, clk := newMemory(t, store.MemoryOptions{SweepInterval: 5 * time.Millisecond})
	for i := range 10 {
		if err := m.Set(ctx, fmt.Sprintf("k%d", i), nil, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	waitLen(t, m, 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// A store found full asks the sweeper for an early sweep, so room comes back
// without waiting for the next SweepInterval.
func TestMemoryStoreFullTriggersSweep(t *testing.T) {
	ctx := context.Background()
	m, clk := newMemory(t, store.MemoryOptions{MaxKeys: 10, SweepInterval: time.Hour})
	for i := range 10 {
		if err := m.Set(ctx, fmt.Sprintf("k%d", i), nil, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	if err := m.Set(ctx, "new", nil, time.Second); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Set = %v, want ErrFull", err)
	}
	waitLen(t, m, 0)
	if err := m.Set(ctx, "new", nil, time.Second); err != nil {
		t.Fatalf("Set after early sweep = %v", err)
	}
}

// sweepWait is a hang limit for the background sweeper: waitLen returns as
// soon as the sweep is seen, so it only has to outlast a busy machine.
const sweepWait = 30 * time.Second

func waitLen(t *testing.T, m *store.Memory, want int) {
	t.Helper()
	deadline := time.Now().Add(sweepWait)
	for m.Len() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d after %v, want %d", m.Len(), sweepWait, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// Without an injected clock the store runs on the real one: the TTL read
// back is at most the one written and at least what is left of it after
// the time the test measured since just before the write. The TTL is long
// enough that the key cannot expire during the test, however slow.
func TestMemoryStoreDefaults(t *testing.T) {
	m := store.NewMemory(store.MemoryOptions{})
	defer m.Close()
	ctx := context.Background()
	const ttl = time.Hour
	start := time.Now()
	if err := m.Set(ctx, "k", []byte("v"), ttl); err != nil {
		t.Fatal(err)
	}
	d, err := m.TTL(ctx, "k")
	if min := ttl - time.Since(start); err != nil || d > ttl || d < min {
		t.Fatalf("TTL with the real clock = %v, %v; want in [%v, %v]", d, err, min, ttl)
	}
}
