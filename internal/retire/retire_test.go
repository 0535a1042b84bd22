package retire

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// TestRetire: a retired name is retired for its TTL and then free again;
// other names and other domains are not; the store holds no name.
func TestRetire(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open("memory", "", "t:")
	if err != nil {
		t.Fatal(err)
	}
	n := New(st, []byte("secret"), "example.org", 50*time.Millisecond)
	if r, err := n.Retired(ctx, "alice"); err != nil || r {
		t.Fatalf("before: %v %v", r, err)
	}
	if err := n.Retire(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if r, _ := n.Retired(ctx, "alice"); !r {
		t.Fatal("alice not retired")
	}
	if r, _ := n.Retired(ctx, "alicia"); r {
		t.Fatal("alicia retired")
	}
	if r, _ := New(st, []byte("secret"), "example.net", time.Hour).Retired(ctx, "alice"); r {
		t.Fatal("alice retired on another domain")
	}
	if r, _ := New(st, []byte("other"), "example.org", time.Hour).Retired(ctx, "alice"); r {
		t.Fatal("a key of another secret matches")
	}
	k := n.key("alice")
	if strings.Contains(k, "alice") || len(k) != len("retired:")+32 {
		t.Fatalf("key %q", k)
	}
	if v, _ := st.Get(ctx, k); bytes.Contains(v, []byte("alice")) {
		t.Fatal("the value holds the name")
	}
	// The TTL is the store's: wait for the key to expire (a bound, not a
	// measurement: the test waits until it has).
	deadline := time.Now().Add(time.Minute)
	for {
		if r, _ := n.Retired(ctx, "alice"); !r {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still retired after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOff: a TTL of 0 retires nothing.
func TestOff(t *testing.T) {
	n := New(nil, nil, "example.org", 0)
	if n != nil || n.TTL() != 0 {
		t.Fatal("not off")
	}
	if err := n.Retire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if r, err := n.Retired(context.Background(), "a"); r || err != nil {
		t.Fatal(r, err)
	}
}

type failing struct{ store.Store }

func (failing) Get(context.Context, string) ([]byte, error) { return nil, errors.New("boom") }
func (failing) Set(context.Context, string, []byte, time.Duration) error {
	return store.ErrFull
}

// TestStoreFailure: every store failure is ErrUnavailable.
func TestStoreFailure(t *testing.T) {
	n := New(failing{}, nil, "example.org", time.Hour)
	if err := n.Retire(context.Background(), "a"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatal(err)
	}
	if _, err := n.Retired(context.Background(), "a"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatal(err)
	}
}
