package storetest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// The rule that makes real-clock checks exact: a key may be gone only once
// its TTL (less the store's clock grain) has passed since the stamp.
func TestMayHaveExpired(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		exact bool
		st    stamp
		want  bool
	}{
		{"real, TTL ahead", false, stamp{at: now, ttl: time.Hour}, false},
		{"real, TTL passed", false, stamp{at: now.Add(-2 * time.Second), ttl: time.Second}, true},
		{"real, within the clock grain of the TTL", false, stamp{at: now.Add(-time.Second), ttl: time.Second + clockGrain/2}, true},
		{"exact, TTL passed", true, stamp{at: now.Add(-2 * time.Second), ttl: time.Second}, false},
	} {
		if got := (Clock{Exact: tc.exact}).mayHaveExpired(tc.st); got != tc.want {
			t.Errorf("%s: mayHaveExpired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// stallingStore sleeps before every Get and TTL, as a busy machine may stall
// a test between a write and the check that reads it back.
type stallingStore struct {
	store.Store
	stall time.Duration
}

func (s stallingStore) Get(ctx context.Context, key string) ([]byte, error) {
	time.Sleep(s.stall)
	return s.Store.Get(ctx, key)
}

func (s stallingStore) TTL(ctx context.Context, key string) (time.Duration, error) {
	time.Sleep(s.stall)
	return s.Store.TTL(ctx, key)
}

// The suite on the memory store with the real clock, stalled for three units
// before every read in the first attempt of each case: cases whose checks
// the stall makes meaningless are inconclusive and pass when run again with
// a larger unit; the others pass at once.
func TestRunRealClockStalled(t *testing.T) {
	const unit = 10 * time.Millisecond
	var mu sync.Mutex
	stores := map[string]int{} // stores made per case (attempts, plus PrefixIsolation's second)
	t.Run("suite", func(t *testing.T) {
		Run(t, func(t *testing.T) (store.Store, Clock) {
			m := store.NewMemory(store.MemoryOptions{})
			t.Cleanup(func() { m.Close() })
			mu.Lock()
			defer mu.Unlock()
			stores[t.Name()]++
			if stores[t.Name()] == 1 {
				return stallingStore{Store: m, stall: 3 * unit}, RealClock(unit)
			}
			return m, RealClock(unit)
		})
	})
	if t.Failed() {
		return
	}
	// A 1-unit key read back after a stall of 3 units: always inconclusive
	// the first time.
	if n := stores["TestRunRealClockStalled/suite/SetReplacesTTL"]; n < 2 {
		t.Errorf("SetReplacesTTL ran %d time(s), want it run again after an inconclusive attempt", n)
	}
	// No key with a TTL: never inconclusive.
	if n := stores["TestRunRealClockStalled/suite/Missing"]; n != 1 {
		t.Errorf("Missing ran %d times, want once", n)
	}
}

// shortTTLStore is a broken store: its keys expire at a quarter of their TTL.
type shortTTLStore struct{ store.Store }

func quarter(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return ttl // still refused
	}
	return max(ttl/4, time.Millisecond)
}

func (s shortTTLStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return s.Store.Set(ctx, key, val, quarter(ttl))
}

func (s shortTTLStore) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	return s.Store.SetNX(ctx, key, val, quarter(ttl))
}

func (s shortTTLStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return s.Store.Incr(ctx, key, quarter(ttl))
}

// Telling load from bugs must not let bugs through: the suite, run with a
// real clock in a child process, fails a store whose keys expire early.
func TestRunCatchesShortTTLs(t *testing.T) {
	if os.Getenv("STORETEST_SHORT_TTL_CHILD") == "1" {
		Run(t, func(t *testing.T) (store.Store, Clock) {
			m := store.NewMemory(store.MemoryOptions{})
			t.Cleanup(func() { m.Close() })
			return shortTTLStore{m}, RealClock(50 * time.Millisecond)
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunCatchesShortTTLs$", "-test.v")
	cmd.Env = append(os.Environ(), "STORETEST_SHORT_TTL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a store whose keys expire at a quarter of their TTL:\n%s", out)
	}
	for _, name := range []string{"TTL", "SetReplacesTTL", "IncrKeepsTTL"} {
		if !strings.Contains(string(out), "--- FAIL: TestRunCatchesShortTTLs/"+name+" ") {
			t.Errorf("case %s did not fail on the broken store:\n%s", name, out)
		}
	}
}
