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
//
// # Brute-force regulation per account (Regulator)
//
// A Regulator protects every form that checks a password (password change,
// export, deletion) per account, not per client, so it needs no address and
// treats Tor users like everyone else. After MaxFailures failed verifications
// (default 5) within Window (default 10 minutes) the account is locked for Ban
// (default 15 minutes). The web layer does not even ask the XMPP server while
// an account is locked, and answers exactly as for an unknown account or a
// wrong password; a successful verification never lifts a lock early.
//
// The account is identified by HMAC-SHA256(secret, normalised bare JID),
// truncated to 128 bits ("reg:l:<digest>" holds a lock, "reg:f:<digest>:<slot>"
// the failures of one tenth of the window), so the store holds no address.
// Without a configured secret a fixed key is used (SHA-256 strength). The lock
// stores its end time, and the slots are numbered by the Regulator's clock, so
// locks and windows follow that (injectable) clock; the store's TTLs only
// clean up. Store errors are returned: callers fail closed.
package abuse
