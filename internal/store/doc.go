// Package store defines the portal's small key/value interface and its two
// implementations: an in-memory store (the default, for one instance) and Redis
// (for several instances sharing state).
//
// The Store interface pins the TTL rules every implementation keeps (ttl > 0
// always, Incr sets the TTL only when it creates the key, expired = missing);
// the contract suite in storetest runs against both implementations.
//
// Memory (NewMemory) holds at most MaxKeys keys (100,000 by default). When it
// is full it refuses to create new keys with ErrFull and never evicts existing
// ones, so an attacker filling the store cannot make it forget a ban. Expired
// keys are swept in the background (and early when the store is full); the
// clock can be injected for tests.
//
// Redis (NewRedis, OpenRedis) uses a go-redis UniversalClient, so one URL
// covers a single server, Sentinel and Cluster (see ParseRedisURL). GetDel is
// the atomic GETDEL command, Incr a Lua script (INCR, then PEXPIRE when the key
// was created), SetNX is SET NX PX. Every key is written under a prefix
// ("portal:" by default). Unreachable servers give errors wrapping
// ErrUnavailable, fast (about a second with the default options).
//
// Open(driver, url, prefix) picks an implementation from configuration.
// Neither errors nor logs of this package contain keys, values, URLs or passwords
// (RedactURL masks a URL for display).
package store
