package abuse_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// keyRecorder remembers every key and value written through it.
type keyRecorder struct {
	store.Store
	mu   sync.Mutex
	seen []string
}

func (k *keyRecorder) note(s string) {
	k.mu.Lock()
	k.seen = append(k.seen, s)
	k.mu.Unlock()
}

func (k *keyRecorder) Get(ctx context.Context, key string) ([]byte, error) {
	k.note(key)
	return k.Store.Get(ctx, key)
}

func (k *keyRecorder) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	k.note(key)
	k.note(string(v))
	return k.Store.Set(ctx, key, v, ttl)
}

func (k *keyRecorder) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	k.note(key)
	return k.Store.Incr(ctx, key, ttl)
}

func (k *keyRecorder) Del(ctx context.Context, key string) error {
	k.note(key)
	return k.Store.Del(ctx, key)
}

// stores returns the stores the regulator is tested on: memory always,
// Redis when redis-server is installed (required in CI).
func stores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"memory": func(t *testing.T) store.Store {
			st, err := store.Open("memory", "", "t:")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"redis": func(t *testing.T) store.Store {
			r := testenv.StartRedis(t)
			st, err := store.Open("redis", r.URL(), "t:")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

func TestRegulator(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			n := 0
			account := func() string { n++; return "user" + string(rune('a'+n)) + "@example.test" }
			newReg := func(o abuse.RegulatorOptions) (*abuse.Regulator, *testenv.FakeClock) {
				c := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
				o.Now = c.Now
				return abuse.NewRegulator(st, o), c
			}
			mustLocked := func(t *testing.T, r *abuse.Regulator, acc string, want bool) {
				t.Helper()
				got, _, err := r.Locked(ctx, acc)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("Locked = %v, want %v", got, want)
				}
			}
			fail := func(t *testing.T, r *abuse.Regulator, acc string) bool {
				t.Helper()
				locked, err := r.Fail(ctx, acc)
				if err != nil {
					t.Fatal(err)
				}
				return locked
			}

			tests := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"five failures lock, the ban releases", func(t *testing.T) {
					r, clock := newReg(abuse.RegulatorOptions{})
					acc := account()
					for i := 1; i <= 4; i++ {
						if fail(t, r, acc) {
							t.Fatalf("locked after %d failures", i)
						}
						clock.Advance(time.Minute)
					}
					mustLocked(t, r, acc, false)
					if !fail(t, r, acc) {
						t.Fatal("fifth failure within 10 minutes did not lock")
					}
					mustLocked(t, r, acc, true)
					_, until, _ := r.Locked(ctx, acc)
					if want := clock.Now().Add(abuse.DefaultBan); !until.Equal(want.Truncate(time.Millisecond)) {
						t.Errorf("until %v, want %v", until, want)
					}
					clock.Advance(abuse.DefaultBan - time.Millisecond)
					mustLocked(t, r, acc, true)
					clock.Advance(time.Millisecond)
					mustLocked(t, r, acc, false)
					// The failures that caused the ban are spent.
					if fail(t, r, acc) {
						t.Fatal("one failure after the ban locked again")
					}
				}},
				{"failures spread beyond the window do not lock", func(t *testing.T) {
					r, clock := newReg(abuse.RegulatorOptions{})
					acc := account()
					for i := 0; i < 4; i++ {
						fail(t, r, acc)
					}
					clock.Advance(abuse.DefaultWindow + time.Second)
					for i := 0; i < 4; i++ {
						if fail(t, r, acc) {
							t.Fatalf("locked by failures older than the window (%d new)", i+1)
						}
					}
					mustLocked(t, r, acc, false)
				}},
				{"accounts are independent", func(t *testing.T) {
					r, _ := newReg(abuse.RegulatorOptions{})
					a, b := account(), account()
					for i := 0; i < 5; i++ {
						fail(t, r, a)
					}
					mustLocked(t, r, a, true)
					mustLocked(t, r, b, false)
				}},
				{"configured limits", func(t *testing.T) {
					r, clock := newReg(abuse.RegulatorOptions{MaxFailures: 2, Window: time.Minute, Ban: 30 * time.Second})
					acc := account()
					fail(t, r, acc)
					clock.Advance(61 * time.Second)
					if fail(t, r, acc) {
						t.Fatal("locked across a 1-minute window")
					}
					if !fail(t, r, acc) {
						t.Fatal("not locked after 2 failures")
					}
					clock.Advance(30 * time.Second)
					mustLocked(t, r, acc, false)
				}},
				{"nothing lifts a lock but time", func(t *testing.T) {
					r, clock := newReg(abuse.RegulatorOptions{})
					acc := account()
					for i := 0; i < 5; i++ {
						fail(t, r, acc)
					}
					// A second regulator (another instance) sees the lock too.
					r2 := abuse.NewRegulator(st, abuse.RegulatorOptions{Now: clock.Now})
					mustLocked(t, r2, acc, true)
					clock.Advance(14 * time.Minute)
					mustLocked(t, r, acc, true)
				}},
			}
			for _, tc := range tests {
				t.Run(tc.name, tc.run)
			}
		})
	}
}

// TestRegulatorKeepsNoAddress: the store sees neither the address nor its
// parts, and the keys depend on the secret.
func TestRegulatorKeepsNoAddress(t *testing.T) {
	ctx := context.Background()
	mem, err := store.Open("memory", "", "t:")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	keysFor := func(secret string) []string {
		rec := &keyRecorder{Store: mem}
		r := abuse.NewRegulator(rec, abuse.RegulatorOptions{Secret: []byte(secret)})
		for i := 0; i < 5; i++ {
			if _, err := r.Fail(ctx, "juliet.capulet@example.test"); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := r.Locked(ctx, "juliet.capulet@example.test"); err != nil {
			t.Fatal(err)
		}
		return rec.seen
	}
	a, b := keysFor("one"), keysFor("two")
	if len(a) == 0 {
		t.Fatal("nothing recorded: the test would prove nothing")
	}
	for _, s := range append(a, b...) {
		for _, part := range []string{"juliet", "capulet", "example"} {
			if strings.Contains(strings.ToLower(s), part) {
				t.Errorf("store saw %q (contains %q)", s, part)
			}
		}
	}
	if a[0] == b[0] {
		t.Errorf("same key %q with different secrets", a[0])
	}
}

// TestRegulatorStoreDown: store errors are returned, never "not locked".
func TestRegulatorStoreDown(t *testing.T) {
	st, err := store.Open("memory", "", "t:")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := abuse.NewRegulator(st, abuse.RegulatorOptions{})
	if _, _, err := r.Locked(context.Background(), "a@b"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Locked on a closed store: %v", err)
	}
	if _, err := r.Fail(context.Background(), "a@b"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Fail on a closed store: %v", err)
	}
}
