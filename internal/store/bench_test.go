package store_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// BenchmarkStore measures each operation on both backends, serially and
// with b.RunParallel:
//
//	BenchmarkStore/{memory,redis}/{Set,Get,Incr,GetDel}/{serial,parallel}
func BenchmarkStore(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchStore(b, func(b *testing.B) store.Store {
			m := store.NewMemory(store.MemoryOptions{MaxKeys: 1 << 30, SweepInterval: -1})
			b.Cleanup(func() { m.Close() })
			return m
		})
	})
	b.Run("redis", func(b *testing.B) {
		srv := testenv.StartRedis(b)
		benchStore(b, func(b *testing.B) store.Store {
			return openRedis(b, srv.URL(), uniquePrefix(b))
		})
	})
}

func benchStore(b *testing.B, newStore func(*testing.B) store.Store) {
	ctx := context.Background()
	val := []byte("0123456789abcdef0123456789abcdef") // a typical small value
	const ttl = time.Hour

	ops := []struct {
		name  string
		setup func(b *testing.B, s store.Store) // before the timer starts
		op    func(s store.Store, i int64) error
	}{
		{"Set", nil, func(s store.Store, i int64) error {
			return s.Set(ctx, "set:"+strconv.FormatInt(i%1024, 10), val, ttl)
		}},
		{"Get", func(b *testing.B, s store.Store) {
			if err := s.Set(ctx, "get", val, ttl); err != nil {
				b.Fatal(err)
			}
		}, func(s store.Store, _ int64) error {
			_, err := s.Get(ctx, "get")
			return err
		}},
		{"Incr", nil, func(s store.Store, i int64) error {
			_, err := s.Incr(ctx, "incr:"+strconv.FormatInt(i%64, 10), ttl)
			return err
		}},
		{"GetDel", func(b *testing.B, s store.Store) {
			for i := range int64(b.N) {
				if err := s.Set(ctx, "getdel:"+strconv.FormatInt(i, 10), val, ttl); err != nil {
					b.Fatal(err)
				}
			}
		}, func(s store.Store, i int64) error {
			_, err := s.GetDel(ctx, "getdel:"+strconv.FormatInt(i, 10))
			return err
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			b.Run("serial", func(b *testing.B) {
				s := newStore(b)
				if o.setup != nil {
					o.setup(b, s)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range int64(b.N) {
					if err := o.op(s, i); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				s := newStore(b)
				if o.setup != nil {
					o.setup(b, s)
				}
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := o.op(s, next.Add(1)-1); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
