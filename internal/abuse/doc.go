// Package abuse holds the portal's abuse control on top of store.Store. It
// never stores, logs or returns an IP address.
//
// # Rate limits without addresses (Limiter)
//
// A Limiter counts requests against budgets, and every action has at least
// one budget on every listener. Clearnet: sign-ups per client per hour,
// captchas (new sign-up forms, pictures, sounds) per client per minute,
// credential checks per client per minute, and global sign-ups per hour.
// Onion: the onion listener's own budgets for sign-ups, captchas and
// credential checks, shared by all onion clients (every onion client is
// 127.0.0.1).
//
// # Tor circuits
//
// When the onion listener reads tor's circuit ids (HiddenServiceExportCircuitID
// haproxy, LimiterOptions.Circuit), an onion request is also counted on the
// per-client budgets under its Tor circuit, keyed like an address:
// HMAC-SHA256(epoch key, tag + id), the tag (128) its own, the id tor's
// circuit number with a random id of the tor process it came from (circuit
// numbers start again when tor does). Tor Browser uses one circuit per site
// for ten minutes and more, so a visitor's wrong captchas cost that visitor
// (its sign-up budget), and the shared onion sign-up budget counts created
// accounts only. Circuits cost nothing to open, so they cannot bound the
// onion class by themselves: the shared onion budgets are counted first and
// still bound everything onion traffic can do, and every new per-circuit
// counter is paid by a unit of the shared onion circuit budget
// (Budgets.OnionCircuitsPerMinute), never given back. When it has no room a
// new circuit's request is counted on the shared budgets only, as without
// circuit ids, and leaves no counter (see Allow and OnionKeyBound).
//
// A client is the key HMAC-SHA256(epoch key, tag + address masked to /32 for
// IPv4 and /64 for IPv6), truncated to 128 bits. The tag byte names the
// family and prefix length (4: IPv4 /32, 6: IPv6 /64, 56: IPv6 /56, 48:
// IPv6 /48), so keys of different prefix lengths never hash the same input.
// The epoch key is 32 random bytes kept in
// the store under "rl:epoch" with the TTL of one epoch (24 h by default): the
// first instance that needs it creates it with SetNX, the others read it, and
// when it expires the next request creates a new one, so counters of an old
// epoch cannot be linked to the new one, nor to anyone. Each instance caches
// the key and reads it again every minute (or when its TTL ends), so
// instances agree again soon after the store lost its data.
//
// # Networks
//
// An IPv6 client is counted three times: under its /64 (its own budget),
// under its /56 (Budgets.IPv6Factor56 times the budget) and under its /48
// (IPv6Factor48 times), each keyed like the client ("rl:captcha/48:<key>"),
// so a holder of a /48, 65,536 /64s, gets a few clients' worth of budget
// rather than 65,536. IPv4 clients are counted at /32 only: carrier-grade NAT
// puts many subscribers behind one address and a whole carrier behind a few
// /24s (see DefaultIPv6Factor48).
//
// # The store is shared, not given away
//
// Allow counts the widest budget first (shared, /48, /56, client), and the
// network budgets and the onion captcha budget are never given back by
// Release, so everything a class of traffic can put in the store (captchas,
// counters, the Regulator's keys) is bounded by its budgets: OnionKeyBound
// for the onion listener (its Tor circuits' counters included),
// NetworkKeyBound for one /48 (one IPv4 address holds fewer). The
// configuration refuses budgets whose bound is larger than
// store.max_keys/OnionShareDivisor (onion) or store.max_keys/
// NetworkShareDivisor (one network), so neither a flood over Tor nor one
// network can fill the memory store for the others. On Redis, which has no
// key limit, the store grows by at most these bounds times the number of
// distinct networks (and IPv4 addresses) sending at once; set maxmemory with
// maxmemory-policy noeviction, so that a full Redis refuses writes (the
// portal answers 503 until keys expire: it fails closed) rather than evicting
// counters, locks or the epoch key.
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
// say and still hold under concurrent requests on several instances. The
// units of network budgets and of the onion captcha budget are kept: they pay
// for what the request may have put in the store.
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
