// Package storetest is the contract test suite every store.Store
// implementation must pass. The memory store runs it with a fake clock (expiry
// takes no wall time); the Redis store runs it against a real redis-server with
// short real TTLs. With a real clock no check depends on how fast the machine
// is: TTLs are bounded by the time the suite measured since the write, waits
// for expiry are polls with a generous hang limit, and a check that a key is
// still there is inconclusive, not failed, once the key's TTL has passed by
// the suite's own clock; Run then runs the case again with a larger unit
// (see Run).
//
//	func TestMemoryStoreContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) (store.Store, storetest.Clock) {
//			clk := storetest.NewFakeClock()
//			s := store.NewMemory(store.MemoryOptions{Now: clk.Now})
//			t.Cleanup(func() { s.Close() })
//			return s, clk.Clock()
//		})
//	}
package storetest
