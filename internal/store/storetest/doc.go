// Package storetest is the contract test suite every store.Store
// implementation must pass. The memory store runs it with a fake clock (expiry
// takes no wall time); the Redis store runs it against a real redis-server with
// short real TTLs and bounded polling.
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
