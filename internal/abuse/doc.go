// Package abuse holds the portal's abuse control on top of store.Store. It
// never stores, logs or returns an IP address.
//
// # Rate limits without addresses (Limiter)
//
// A Limiter counts requests against budgets: sign-ups per client per hour,
// captcha pictures per client per minute, credential checks per client per
// minute, and global sign-ups per hour; requests from the onion listener have
// their own global budgets for sign-ups and credential checks and are never
// counted per client (every onion client is 127.0.0.1).
//
// A client is the key HMAC-SHA256(epoch key, address masked to /32 for IPv4 and
// /64 for IPv6), truncated to 128 bits. The epoch key is 32 random bytes kept in
// the store under "rl:epoch" with the TTL of one epoch (24 h by default): the
// first instance that needs it creates it with SetNX, the others read it, and
// when it expires the next request creates a new one, so counters of an old
// epoch cannot be linked to the new one, nor to anyone. Each instance caches
// the key and reads it again every minute (or when its TTL ends), so
// instances agree again soon after the store lost its data.
//
// The client address is the TCP peer. X-Forwarded-For is used only when the
// peer is a configured trusted proxy and the request did not come over the
// onion listener; then the right-most address that is not a trusted proxy is
// the client.
//
// Budgets are counted with store.Incr on windows that start at the first
// request (the TTL of the counter); the time left on the counter is the wait
// time a refused client is told. Allow reserves one unit of every budget that
// applies; Decision.Release gives the units back when the action did not take
// place (a sign-up refused by the username rules), so budgets count what they
// say and still hold under concurrent requests on several instances.
//
// Every store error makes Allow return an error (fail closed): the web layer
// answers 503 and creates nothing. A full memory store (store.ErrFull) is an
// error too: existing counters and bans are never forgotten to make room.
package abuse
