package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// Clock tells the suite how time passes for the store under test.
type Clock struct {
	// Advance lets d pass for the store: a fake clock moves at once, a real
	// one sleeps (nil means time.Sleep).
	Advance func(d time.Duration)
	// Unit is the TTL the suite gives keys it wants to see expire, and the
	// step it advances time by. A fake clock can use anything (FakeClock uses
	// a minute); Redis should use 50–150 ms. With a real clock Run may run a
	// case again with a larger unit (see Run).
	Unit time.Duration
	// Exact is true when time moves only through Advance (a fake clock): TTLs
	// are then compared exactly, expiry is checked once and every failed
	// check fails the test. With a real clock the suite bounds TTLs by the
	// time it measured since the write, polls for expiry (bounded by
	// ExpiryWait), and calls a check inconclusive when the key it expected
	// could already have expired (see Run).
	Exact bool
	// ExpiryWait bounds the polling for a key to disappear after its TTL with
	// a real clock. It is a hang limit: polling ends as soon as the key is
	// gone, so a generous value costs nothing. Zero means 30s.
	ExpiryWait time.Duration
}

// DefaultExpiryWait is the ExpiryWait used when Clock.ExpiryWait is zero.
const DefaultExpiryWait = 30 * time.Second

// Real-clock cases that turn out inconclusive are run again with the unit
// multiplied by unitGrowth, at most maxAttempts times in all (100 ms becomes
// 400 ms, 1.6 s and 6.4 s): a stall that swallows a whole unit of 6.4 s is a
// hang, not load.
const (
	unitGrowth  = 4
	maxAttempts = 4
)

// clockGrain is the resolution of the store's clock: Redis keeps expiry
// times in whole milliseconds, so a key may be reported gone up to 1 ms
// before its TTL has passed by our clock, and a TTL may read up to 1 ms short.
const clockGrain = time.Millisecond

// FakeClock is a manual clock for stores that take a Now func: testenv's
// FakeClock (Now, Advance), set to a fixed instant, that Run can drive.
// It is safe for concurrent use.
type FakeClock struct {
	*testenv.FakeClock
}

// NewFakeClock returns a clock set to a fixed instant.
func NewFakeClock() *FakeClock {
	return &FakeClock{testenv.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
}

// Clock describes c for Run: exact, with a unit of one minute.
func (c *FakeClock) Clock() Clock {
	return Clock{Advance: c.Advance, Unit: time.Minute, Exact: true}
}

// RealClock describes wall time for Run, with keys expiring after unit.
func RealClock(unit time.Duration) Clock {
	return Clock{Advance: time.Sleep, Unit: unit}
}

// NewStoreFunc returns a fresh, empty store and the clock driving its expiry.
// The store must be closed by a t.Cleanup registered by the function.
// When stores share a backend (Redis), every call must return a store with a
// prefix of its own on the same server: the suite relies on this to test
// prefix isolation, and subtests run in parallel.
type NewStoreFunc func(t *testing.T) (store.Store, Clock)

// Run runs the contract suite as parallel subtests of t.
//
// With an exact clock every check is strict and every case runs once.
//
// With a real clock, time passes whether the suite looks or not, and a busy
// machine can stall it between writing a key and checking that the key is
// still there for longer than the key's TTL. Such a check proves nothing, so
// the suite takes a timestamp just before every write that sets a TTL, and a
// check that finds the key gone (or changed, when an expiry would explain it)
// is inconclusive rather than failed when the time measured since the write
// has reached the TTL. Run then runs the case again on a fresh store with a
// unit unitGrowth times larger, and fails it only when it is still
// inconclusive with the largest unit (a stall of seconds is a hang, not
// load). A check that fails while less than the TTL had passed is a failure
// at once, whatever the unit.
func Run(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, c Clock, newStore NewStoreFunc)
	}{
		{"SetGet", testSetGet},
		{"Missing", testMissing},
		{"Del", testDel},
		{"InvalidTTL", testInvalidTTL},
		{"SubMillisecondTTL", testSubMillisecondTTL},
		{"TTL", testTTL},
		{"SetReplacesTTL", testSetReplacesTTL},
		{"Incr", testIncr},
		{"IncrKeepsTTL", testIncrKeepsTTL},
		{"IncrOnSetValue", testIncrOnSetValue},
		{"IncrAfterExpiry", testIncrAfterExpiry},
		{"SetNX", testSetNX},
		{"GetDel", testGetDel},
		{"GetDelConcurrent", testGetDelConcurrent},
		{"IncrConcurrent", testIncrConcurrent},
		{"SetNXConcurrent", testSetNXConcurrent},
		{"ExpiryEveryKind", testExpiryEveryKind},
		{"PrefixIsolation", testPrefixIsolation},
		{"Keys", testKeys},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for attempt := 1; ; attempt++ {
				s, c := newStore(t)
				if c.Advance == nil {
					c.Advance = time.Sleep
				}
				if c.Unit <= 0 {
					t.Fatal("storetest: Clock.Unit must be > 0")
				}
				if c.ExpiryWait <= 0 {
					c.ExpiryWait = DefaultExpiryWait
				}
				for range attempt - 1 {
					c.Unit *= unitGrowth
				}
				why, done := runCase(t, tc.fn, s, c, newStore)
				if done {
					return
				}
				if attempt == maxAttempts {
					t.Fatalf("still inconclusive with a unit of %v: %s; the store or the machine stalls for longer than a unit", c.Unit, why)
				}
				t.Logf("inconclusive with a unit of %v (%s); running again on a fresh store with a unit of %v", c.Unit, why, c.Unit*unitGrowth)
			}
		})
	}
}

// inconclusive is the panic value by which Clock.failKey ends a case whose
// check proved nothing; runCase recovers it.
type inconclusive struct{ why string }

// runCase runs fn and reports whether it finished (passed, or failed through
// t.Fatal and the like) rather than ending inconclusive, and why not.
func runCase(t *testing.T, fn func(*testing.T, store.Store, Clock, NewStoreFunc), s store.Store, c Clock, newStore NewStoreFunc) (why string, done bool) {
	defer func() {
		if r := recover(); r != nil {
			inc, ok := r.(inconclusive)
			if !ok {
				panic(r)
			}
			why, done = inc.why, false
		}
	}()
	fn(t, s, c, newStore)
	return "", true
}

var bg = context.Background()

// A stamp records a write that gives keys a TTL: the time just before the
// write was sent, and the TTL. The store cannot have expired such a key
// before at+ttl (less clockGrain) by our clock.
type stamp struct {
	at  time.Time
	ttl time.Duration
}

// stampNow returns the stamp of a write with ttl about to be sent. One stamp
// may cover several writes with the same TTL made after it.
func stampNow(ttl time.Duration) stamp { return stamp{at: time.Now(), ttl: ttl} }

// mayHaveExpired reports whether keys written at st may be gone by now.
func (c Clock) mayHaveExpired(st stamp) bool {
	return !c.Exact && time.Since(st.at) >= st.ttl-clockGrain
}

// failKey fails the test for a check that found a key written at st missing,
// or changed in a way its expiry would explain (recreated by Incr or SetNX).
// With a real clock, when the key may have expired by now (and the check ran
// before now), the check proves nothing: failKey then ends the case as
// inconclusive and Run runs it again with a larger unit. Otherwise the
// store really lost the key, and the test fails.
func (c Clock) failKey(t *testing.T, st stamp, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if c.mayHaveExpired(st) {
		panic(inconclusive{fmt.Sprintf("%s, %v after a write with TTL %v", msg, time.Since(st.at).Round(time.Millisecond), st.ttl)})
	}
	t.Fatal(msg)
}

// mustSet writes key and returns the stamp of the write.
func mustSet(t *testing.T, s store.Store, key, val string, ttl time.Duration) stamp {
	t.Helper()
	st := stampNow(ttl)
	if err := s.Set(bg, key, []byte(val), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
	return st
}

// wantValue checks that key, written at st, reads as want.
func wantValue(t *testing.T, s store.Store, c Clock, st stamp, key, want string) {
	t.Helper()
	got, err := s.Get(bg, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.failKey(t, st, "Get(%q): not found, want %q", key, want)
	case err != nil:
		t.Fatalf("Get(%q): %v, want %q", key, err, want)
	case string(got) != want:
		c.failKey(t, st, "Get(%q) = %q, want %q", key, got, want)
	}
}

func wantNotFound(t *testing.T, s store.Store, key string) {
	t.Helper()
	if v, err := s.Get(bg, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

// wantGone waits (with a real clock, up to the hang limit ExpiryWait) until
// key reads as missing through Get, TTL and GetDel.
func wantGone(t *testing.T, s store.Store, c Clock, key string) {
	t.Helper()
	deadline := time.Now().Add(c.ExpiryWait)
	for {
		_, err := s.Get(bg, key)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		if c.Exact || time.Now().After(deadline) {
			t.Fatalf("Get(%q): key still there after its TTL", key)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.TTL(bg, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TTL(%q) of expired key: %v, want ErrNotFound", key, err)
	}
	if _, err := s.GetDel(bg, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDel(%q) of expired key: %v, want ErrNotFound", key, err)
	}
}

// wantTTL checks the TTL of key, written at st, after the suite advanced the
// clock so that at most max can be left. With an exact clock it must be max.
// With a real clock it must be at most max (the sleeps of Advance passed for
// the store too) and more than what is left of st.ttl after the time
// measured since the write (less clockGrain); both bounds come from the
// clock, so no amount of load moves the TTL outside them.
func wantTTL(t *testing.T, s store.Store, c Clock, st stamp, key string, max time.Duration) {
	t.Helper()
	got, err := s.TTL(bg, key)
	if errors.Is(err, store.ErrNotFound) {
		c.failKey(t, st, "TTL(%q): not found, want %v", key, max)
	}
	if err != nil {
		t.Fatalf("TTL(%q): %v", key, err)
	}
	if c.Exact {
		if got != max {
			t.Fatalf("TTL(%q) = %v, want %v", key, got, max)
		}
		return
	}
	elapsed := time.Since(st.at)
	min := st.ttl - elapsed - clockGrain
	if got > max || got <= min {
		t.Fatalf("TTL(%q) = %v, want in (%v, %v] (%v after the write with TTL %v)", key, got, min, max, elapsed, st.ttl)
	}
}

func testSetGet(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	long := 1000 * c.Unit
	st := stampNow(long)
	in := []byte("value")
	if err := s.Set(bg, "k", in, long); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the store must have copied it
	got, err := s.Get(bg, "k")
	if errors.Is(err, store.ErrNotFound) {
		c.failKey(t, st, "Get: not found, want value")
	}
	if err != nil || string(got) != "value" {
		t.Fatalf("Get = %q, %v; want value", got, err)
	}
	got[0] = 'Y' // and must hand out copies
	wantValue(t, s, c, st, "k", "value")

	mustSet(t, s, "k", "second", long)
	wantValue(t, s, c, st, "k", "second")

	mustSet(t, s, "empty", "", long)
	wantValue(t, s, c, st, "empty", "")

	bin := make([]byte, 64<<10)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	if err := s.Set(bg, "bin", bin, long); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(bg, "bin")
	if errors.Is(err, store.ErrNotFound) {
		c.failKey(t, st, "Get(bin): not found")
	}
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("Get(bin): %d bytes, %v; want the 64 KiB written", len(got), err)
	}
	if err := s.Ping(bg); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testMissing(t *testing.T, s store.Store, _ Clock, _ NewStoreFunc) {
	wantNotFound(t, s, "nope")
	if _, err := s.GetDel(bg, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDel(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.TTL(bg, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TTL(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Del(bg, "nope"); err != nil {
		t.Fatalf("Del(missing) = %v, want nil", err)
	}
	if errors.Is(store.ErrNotFound, store.ErrUnavailable) {
		t.Fatal("ErrNotFound must not be ErrUnavailable")
	}
}

func testDel(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := mustSet(t, s, "a", "1", 100*c.Unit)
	mustSet(t, s, "b", "2", 100*c.Unit)
	if err := s.Del(bg, "a"); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, "a")
	wantValue(t, s, c, st, "b", "2")
	if err := s.Del(bg, "a"); err != nil {
		t.Fatalf("second Del = %v", err)
	}
}

func testInvalidTTL(t *testing.T, s store.Store, _ Clock, _ NewStoreFunc) {
	for _, ttl := range []time.Duration{0, -1, -time.Hour} {
		if err := s.Set(bg, "k", []byte("v"), ttl); !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("Set(ttl=%v) = %v, want ErrInvalidTTL", ttl, err)
		}
		if ok, err := s.SetNX(bg, "k", []byte("v"), ttl); ok || !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("SetNX(ttl=%v) = %v, %v; want false, ErrInvalidTTL", ttl, ok, err)
		}
		if n, err := s.Incr(bg, "n", ttl); n != 0 || !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("Incr(ttl=%v) = %d, %v; want 0, ErrInvalidTTL", ttl, n, err)
		}
	}
	wantNotFound(t, s, "k")
	wantNotFound(t, s, "n")
	// Also on existing keys: the ttl is checked before anything else. (An
	// hour outlasts any run of the suite: these checks need no stamp.)
	if _, err := s.Incr(bg, "n", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(bg, "n", 0); !errors.Is(err, store.ErrInvalidTTL) {
		t.Errorf("Incr(existing, ttl=0) = %v, want ErrInvalidTTL", err)
	}
	if got, err := s.Get(bg, "n"); err != nil || string(got) != "1" {
		t.Errorf("counter after refused Incr = %q, %v; want 1", got, err)
	}
}

func testSubMillisecondTTL(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := stampNow(time.Millisecond)
	if err := s.Set(bg, "k", []byte("v"), 500*time.Microsecond); err != nil {
		t.Fatalf("Set(500µs) = %v, want it rounded up to 1ms", err)
	}
	if c.Exact {
		wantTTL(t, s, c, st, "k", time.Millisecond)
	}
	c.Advance(2 * time.Millisecond)
	wantGone(t, s, c, "k")
}

func testTTL(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := mustSet(t, s, "k", "v", 10*c.Unit)
	wantTTL(t, s, c, st, "k", 10*c.Unit)
	c.Advance(c.Unit)
	wantTTL(t, s, c, st, "k", 9*c.Unit)
}

func testSetReplacesTTL(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	mustSet(t, s, "k", "old", 100*c.Unit)
	st := mustSet(t, s, "k", "new", c.Unit)
	wantTTL(t, s, c, st, "k", c.Unit)
	wantValue(t, s, c, st, "k", "new")
	c.Advance(c.Unit + c.Unit/2)
	wantGone(t, s, c, "k")

	mustSet(t, s, "k2", "short", c.Unit)
	st = mustSet(t, s, "k2", "long", 100*c.Unit)
	c.Advance(c.Unit + c.Unit/2)
	wantValue(t, s, c, st, "k2", "long")
}

func testIncr(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := stampNow(100 * c.Unit)
	for want := int64(1); want <= 5; want++ {
		n, err := s.Incr(bg, "n", 100*c.Unit)
		if err != nil {
			t.Fatalf("Incr = %v; want %d", err, want)
		}
		if n != want {
			c.failKey(t, st, "Incr = %d; want %d", n, want)
		}
	}
	wantValue(t, s, c, st, "n", "5")
	wantTTL(t, s, c, st, "n", 100*c.Unit)
	if err := s.Del(bg, "n"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Incr(bg, "n", c.Unit); err != nil || n != 1 {
		t.Fatalf("Incr after Del = %d, %v; want 1", n, err)
	}
}

func testIncrKeepsTTL(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := stampNow(3 * c.Unit)
	if n, err := s.Incr(bg, "n", 3*c.Unit); err != nil || n != 1 {
		t.Fatalf("first Incr = %d, %v", n, err)
	}
	wantTTL(t, s, c, st, "n", 3*c.Unit)
	c.Advance(c.Unit)
	n, err := s.Incr(bg, "n", 1000*c.Unit)
	if err != nil {
		t.Fatalf("second Incr: %v", err)
	}
	if n != 2 {
		c.failKey(t, st, "second Incr = %d; want 2", n)
	}
	// The second ttl must be ignored: at most 2 units are left.
	wantTTL(t, s, c, st, "n", 2*c.Unit)
	c.Advance(2*c.Unit + c.Unit/2)
	wantGone(t, s, c, "n")
}

func testIncrOnSetValue(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := mustSet(t, s, "n", "41", 5*c.Unit)
	n, err := s.Incr(bg, "n", 1000*c.Unit)
	if err != nil {
		t.Fatalf("Incr on Set(41): %v", err)
	}
	if n != 42 {
		c.failKey(t, st, "Incr on Set(41) = %d; want 42", n)
	}
	wantTTL(t, s, c, st, "n", 5*c.Unit)
	st = mustSet(t, s, "n", strconv.FormatInt(-7, 10), 5*c.Unit)
	if n, err := s.Incr(bg, "n", c.Unit); err != nil {
		t.Fatalf("Incr on Set(-7): %v", err)
	} else if n != -6 {
		c.failKey(t, st, "Incr on Set(-7) = %d; want -6", n)
	}

	for _, bad := range []string{"abc", "", "1.5", "99999999999999999999"} {
		st := mustSet(t, s, "bad", bad, 5*c.Unit)
		_, err := s.Incr(bg, "bad", c.Unit)
		switch {
		case err == nil: // what Incr does on a key that has expired
			c.failKey(t, st, "Incr on Set(%q) succeeded; want a plain error", bad)
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable):
			t.Errorf("Incr on Set(%q) = %v; want a plain error", bad, err)
		}
		wantValue(t, s, c, st, "bad", bad)
	}
}

func testIncrAfterExpiry(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	for range 3 {
		if _, err := s.Incr(bg, "n", c.Unit); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(c.Unit + c.Unit/2)
	wantGone(t, s, c, "n")
	st := stampNow(10 * c.Unit)
	if n, err := s.Incr(bg, "n", 10*c.Unit); err != nil || n != 1 {
		t.Fatalf("Incr after expiry = %d, %v; want 1", n, err)
	}
	wantTTL(t, s, c, st, "n", 10*c.Unit)
}

func testSetNX(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := stampNow(10 * c.Unit)
	ok, err := s.SetNX(bg, "k", []byte("first"), 10*c.Unit)
	if err != nil || !ok {
		t.Fatalf("SetNX(absent) = %v, %v; want true", ok, err)
	}
	ok, err = s.SetNX(bg, "k", []byte("second"), 1000*c.Unit)
	if err != nil {
		t.Fatalf("SetNX(present): %v", err)
	}
	if ok {
		c.failKey(t, st, "SetNX(present) = true; want false")
	}
	wantValue(t, s, c, st, "k", "first")
	wantTTL(t, s, c, st, "k", 10*c.Unit)

	if err := s.Del(bg, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetNX(bg, "k", []byte("third"), c.Unit); err != nil || !ok {
		t.Fatalf("SetNX after Del = %v, %v; want true", ok, err)
	}
	c.Advance(c.Unit + c.Unit/2)
	wantGone(t, s, c, "k")
	st = stampNow(10 * c.Unit)
	if ok, err := s.SetNX(bg, "k", []byte("fourth"), 10*c.Unit); err != nil || !ok {
		t.Fatalf("SetNX after expiry = %v, %v; want true", ok, err)
	}
	wantValue(t, s, c, st, "k", "fourth")
}

func testGetDel(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := mustSet(t, s, "k", "once", 100*c.Unit)
	got, err := s.GetDel(bg, "k")
	if errors.Is(err, store.ErrNotFound) {
		c.failKey(t, st, "GetDel: not found; want once")
	}
	if err != nil || string(got) != "once" {
		t.Fatalf("GetDel = %q, %v; want once", got, err)
	}
	if _, err := s.GetDel(bg, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second GetDel = %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "k")
	// The key can be written again.
	st = mustSet(t, s, "k", "again", 100*c.Unit)
	wantValue(t, s, c, st, "k", "again")

	mustSet(t, s, "short", "x", c.Unit)
	c.Advance(c.Unit + c.Unit/2)
	wantGone(t, s, c, "short")
}

// concurrency is the number of goroutines racing in the concurrent tests.
const concurrency = 32

// race runs fn in n goroutines released at the same moment and waits for them.
func race(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}

func testGetDelConcurrent(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	for round := range 20 {
		key := fmt.Sprintf("captcha-%d", round)
		want := fmt.Sprintf("answer-%d", round)
		st := mustSet(t, s, key, want, 100*c.Unit)
		var mu sync.Mutex
		wins, misses := 0, 0
		var errs []error
		race(concurrency, func(int) {
			got, err := s.GetDel(bg, key)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && string(got) == want:
				wins++
			case errors.Is(err, store.ErrNotFound):
				misses++
			default:
				errs = append(errs, fmt.Errorf("GetDel = %q, %v", got, err))
			}
		})
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errors.Join(errs...))
		}
		if wins == 0 { // all missed: the key may have expired first
			c.failKey(t, st, "round %d: no winner among %d", round, concurrency)
		}
		if wins != 1 || misses != concurrency-1 {
			t.Fatalf("round %d: %d winners and %d misses, want 1 and %d", round, wins, misses, concurrency-1)
		}
	}
}

func testIncrConcurrent(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	const per = 50
	total := concurrency * per
	seen := make([]int32, total+1)
	var mu sync.Mutex
	var errs []error
	st := stampNow(100 * c.Unit)
	race(concurrency, func(int) {
		for range per {
			n, err := s.Incr(bg, "n", 100*c.Unit)
			mu.Lock()
			if err != nil || n < 1 || n > int64(total) {
				errs = append(errs, fmt.Errorf("Incr = %d, %v", n, err))
			} else {
				seen[n]++
			}
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	for n := 1; n <= total; n++ {
		if seen[n] != 1 { // a counter that expired mid-race counts again from 1
			c.failKey(t, st, "Incr returned %d %d times, want once (lost or duplicated increment)", n, seen[n])
		}
	}
	wantValue(t, s, c, st, "n", strconv.Itoa(total))
	wantTTL(t, s, c, st, "n", 100*c.Unit)
}

func testSetNXConcurrent(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	for round := range 10 {
		key := fmt.Sprintf("lock-%d", round)
		var mu sync.Mutex
		var winners []int
		var errs []error
		st := stampNow(100 * c.Unit)
		race(concurrency, func(i int) {
			ok, err := s.SetNX(bg, key, []byte(strconv.Itoa(i)), 100*c.Unit)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				winners = append(winners, i)
			}
		})
		if len(errs) > 0 {
			t.Fatal(errors.Join(errs...))
		}
		if len(winners) > 1 { // the first lock may have expired before the second
			c.failKey(t, st, "round %d: %d SetNX winners, want 1", round, len(winners))
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d SetNX winners, want 1", round, len(winners))
		}
		wantValue(t, s, c, st, key, strconv.Itoa(winners[0]))
	}
}

func testExpiryEveryKind(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	// A key that expired between its first write and the second would be
	// created again by Incr with the second, long TTL, and wantGone would
	// fail: such a case is inconclusive (failKey), not failed.
	st := mustSet(t, s, "set", "v", c.Unit)
	if ok, err := s.SetNX(bg, "setnx", []byte("v"), c.Unit); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if _, err := s.Incr(bg, "incr", c.Unit); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Incr(bg, "incr", 1000*c.Unit); err != nil {
		t.Fatal(err)
	} else if n != 2 {
		c.failKey(t, st, "second Incr = %d, want 2", n)
	}
	mustSet(t, s, "set-incr", "10", c.Unit)
	if n, err := s.Incr(bg, "set-incr", 1000*c.Unit); err != nil {
		t.Fatalf("Incr: %v", err)
	} else if n != 11 {
		c.failKey(t, st, "Incr on Set(10) = %d, want 11", n)
	}
	keep := mustSet(t, s, "keep", "v", 1000*c.Unit)

	c.Advance(c.Unit + c.Unit/2)
	for _, k := range []string{"set", "setnx", "incr", "set-incr"} {
		wantGone(t, s, c, k)
	}
	wantValue(t, s, c, keep, "keep", "v")
	for _, k := range []string{"set", "setnx", "incr", "set-incr"} {
		if ok, err := s.SetNX(bg, k, []byte("new"), 10*c.Unit); err != nil || !ok {
			t.Fatalf("SetNX(%q) after expiry = %v, %v; want true", k, ok, err)
		}
	}
}

func testPrefixIsolation(t *testing.T, a store.Store, c Clock, newStore NewStoreFunc) {
	b, _ := newStore(t)
	long := 1000 * c.Unit
	st := mustSet(t, a, "shared", "from-a", long)
	wantNotFound(t, b, "shared")
	mustSet(t, b, "shared", "from-b", long)
	wantValue(t, a, c, st, "shared", "from-a")
	wantValue(t, b, c, st, "shared", "from-b")

	if n, err := a.Incr(bg, "count", long); err != nil || n != 1 {
		t.Fatalf("a.Incr = %d, %v", n, err)
	}
	if n, err := b.Incr(bg, "count", long); err != nil || n != 1 {
		t.Fatalf("b.Incr = %d, %v; want 1 (a's counter leaked)", n, err)
	}
	if ok, err := b.SetNX(bg, "lock", []byte("b"), long); err != nil || !ok {
		t.Fatalf("b.SetNX = %v, %v", ok, err)
	}
	if ok, err := a.SetNX(bg, "lock", []byte("a"), long); err != nil || !ok {
		t.Fatalf("a.SetNX = %v, %v; want true (b's key leaked)", ok, err)
	}
	got, err := a.GetDel(bg, "shared")
	if errors.Is(err, store.ErrNotFound) {
		c.failKey(t, st, "a.GetDel: not found")
	}
	if err != nil || string(got) != "from-a" {
		t.Fatalf("a.GetDel = %q, %v", got, err)
	}
	wantValue(t, b, c, st, "shared", "from-b")
	if err := b.Del(bg, "lock"); err != nil {
		t.Fatal(err)
	}
	wantValue(t, a, c, st, "lock", "a")
}

func testKeys(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	long := 1000 * c.Unit
	st := stampNow(long)
	keys := []string{"", " ", "a b", "ä/ö:ü", "line\nbreak", "nul\x00byte", "{tag}", "*", "k", "K"}
	for i, k := range keys {
		mustSet(t, s, k, strconv.Itoa(i), long)
	}
	for i, k := range keys {
		wantValue(t, s, c, st, k, strconv.Itoa(i))
	}
}

func testCanceledContext(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	st := mustSet(t, s, "k", "v", 1000*c.Unit)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(canceled ctx) = %v, want context.Canceled", err)
	}
	if err := s.Set(ctx, "k", []byte("w"), c.Unit); !errors.Is(err, context.Canceled) {
		t.Errorf("Set(canceled ctx) = %v, want context.Canceled", err)
	}
	if _, err := s.GetDel(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetDel(canceled ctx) = %v, want context.Canceled", err)
	}
	wantValue(t, s, c, st, "k", "v")
}

func testClosed(t *testing.T, s store.Store, c Clock, _ NewStoreFunc) {
	mustSet(t, s, "k", "v", 1000*c.Unit)
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	checks := map[string]error{}
	_, checks["Get"] = s.Get(bg, "k")
	checks["Set"] = s.Set(bg, "k", nil, c.Unit)
	_, checks["SetNX"] = s.SetNX(bg, "x", nil, c.Unit)
	_, checks["GetDel"] = s.GetDel(bg, "k")
	_, checks["Incr"] = s.Incr(bg, "n", c.Unit)
	_, checks["TTL"] = s.TTL(bg, "k")
	checks["Del"] = s.Del(bg, "k")
	checks["Ping"] = s.Ping(bg)
	for op, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on closed store = %v, want ErrUnavailable", op, err)
		}
	}
}
