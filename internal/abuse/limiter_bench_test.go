package abuse_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// BenchmarkLimiterAllow measures one limiter decision on both backends:
//
//	BenchmarkLimiterAllow/{memory,redis}/{captcha,signup}/{serial,parallel}
//
// captcha is one client budget (one Incr), signup a client and the global
// budget (two Incr). Requests come from 1024 clients; budgets are large
// enough that every decision is "allowed" (the common case). The epoch key
// is cached, as it is between rechecks.
func BenchmarkLimiterAllow(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchLimiter(b, func(b *testing.B) store.Store {
			m := store.NewMemory(store.MemoryOptions{MaxKeys: 1 << 24})
			b.Cleanup(func() { m.Close() })
			return m
		})
	})
	b.Run("redis", func(b *testing.B) {
		srv := testenv.StartRedis(b)
		n := 0
		benchLimiter(b, func(b *testing.B) store.Store {
			n++
			st, err := store.Open("redis", srv.URL(), fmt.Sprintf("bench%d:", n))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func benchLimiter(b *testing.B, newStore func(*testing.B) store.Store) {
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		reqs[i] = lreq(fmt.Sprintf("10.%d.%d.1", i/256, i%256))
	}
	budgets := abuse.Budgets{SignupsPerHour: 1 << 30, GlobalSignupsPerHour: 1 << 30, CaptchasPerMinute: 1 << 30,
		CredentialChecksPerMinute: 1 << 30, OnionSignupsPerHour: 1 << 30, OnionCredentialChecksPerMinute: 1 << 30}
	for _, a := range []abuse.Action{abuse.Captcha, abuse.Signup} {
		b.Run(a.String(), func(b *testing.B) {
			run := func(b *testing.B, parallel bool) {
				l, err := abuse.NewLimiter(newStore(b), abuse.LimiterOptions{Budgets: budgets})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := l.Allow(ctx, reqs[0], a); err != nil { // epoch key
					b.Fatal(err)
				}
				one := func(i int) {
					d, err := l.Allow(ctx, reqs[i%len(reqs)], a)
					if err != nil || !d.Allowed {
						b.Fatalf("Allow: %+v %v", d, err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for i := range b.N {
						one(i)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						one(i)
						i += 7
					}
				})
			}
			b.Run("serial", func(b *testing.B) { run(b, false) })
			b.Run("parallel", func(b *testing.B) { run(b, true) })
		})
	}
}
