package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

func TestMemoryForEach(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := store.NewMemory(store.MemoryOptions{SweepInterval: -1, Now: func() time.Time { return now }})
	defer m.Close()
	ctx := context.Background()
	for k, ttl := range map[string]time.Duration{"a": time.Minute, "b": time.Hour, "gone": time.Second} {
		if err := m.Set(ctx, k, []byte("v-"+k), ttl); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Second) // "gone" expires, not swept
	got := map[string]string{}
	m.ForEach(func(k string, v []byte, ttl time.Duration) {
		got[k] = string(v)
		if ttl <= 0 {
			t.Errorf("%s: ttl %s", k, ttl)
		}
		v[0] = 'X' // a copy: must not change the store
	})
	if len(got) != 2 || got["a"] != "v-a" || got["b"] != "v-b" {
		t.Fatalf("ForEach saw %v", got)
	}
	if v, _ := m.Get(ctx, "a"); string(v) != "v-a" {
		t.Errorf("ForEach handed out the stored slice: %q", v)
	}
}
