package abuse

import (
	"fmt"
	"time"
)

// Shares of the memory store (store.max_keys) that one class of traffic may
// take in its worst case; the configuration is refused at start when a
// class's bound (OnionKeyBound, NetworkKeyBound) is larger.
//
// The onion listener may take at most a quarter: every onion visitor shares
// its budgets, so one onion client can use them up, but the other three
// quarters stay for clearnet visitors. One network, an IPv6 /48 (or, with a
// smaller bound, one IPv4 address or IPv6 /64), may take at most a
// twentieth: twenty distinct /48s are needed to fill the store. The shares
// are fixed, not configuration: an operator who wants larger budgets raises
// store.max_keys with them.
const (
	OnionShareDivisor   = 4
	NetworkShareDivisor = 20
)

// Lifetimes are the store lifetimes the bounds depend on, from the
// configuration of the captcha store and of the Regulator.
type Lifetimes struct {
	// Captcha is captcha.ttl: how long a captcha put in the store lives.
	Captcha time.Duration
	// RegulationWindow and RegulationBan are regulation.window and
	// regulation.ban: a failed password check keeps a counter for the
	// window and a tenth, a lock lives for the ban.
	RegulationWindow time.Duration
	RegulationBan    time.Duration
}

// KeyBound is the most keys one class of traffic can hold in the store at
// one time, by kind; Total is their sum. It counts keys within their TTL: the
// memory store counts expired keys until its sweeper removes them (every
// 30 s, and within about a second once the store is full).
type KeyBound struct {
	Captchas   int // captchas (one per new sign-up form or new picture) and the sign-up passes that replace solved ones
	Regulation int // failed password checks and locks (Regulator)
	Counters   int // budget counters and their release counters (":r")
	Circuits   int // the onion listener's per-circuit counters and their release counters
}

// Total is the number of keys of the bound.
func (k KeyBound) Total() int { return k.Captchas + k.Regulation + k.Counters + k.Circuits }

func (k KeyBound) String() string {
	s := fmt.Sprintf("%d keys (%d captchas, %d password-check counters, %d rate counters", k.Total(), k.Captchas, k.Regulation, k.Counters)
	if k.Circuits > 0 {
		s += fmt.Sprintf(", %d Tor circuit counters", k.Circuits)
	}
	return s + ")"
}

// units is the most units a budget of limit per period can grant and keep in
// any stretch of time of length span: windows start at their first request
// and follow each other, so the stretch meets at most ceil(span/period)+1
// windows, each granting at most limit units that are not given back.
func units(limit int, period, span time.Duration) int {
	windows := int((span+period-1)/period) + 1
	return limit * windows
}

// regulationLife is how long a key of the Regulator lives: a failure slot
// the window and a tenth, a lock the ban. Each failed password check leaves
// at most one key (a lock replaces the failure slots it ends).
func (lt Lifetimes) regulationLife() time.Duration {
	return max(lt.RegulationWindow+lt.RegulationWindow/10, lt.RegulationBan)
}

// OnionKeyBound is the most keys the onion listener, all onion clients
// together, can hold in the store at one time; circuits says whether the
// onion listener knows each request's Tor circuit (LimiterOptions.Circuit).
//
//   - Captchas: every captcha a request over the onion listener can put in
//     the store (a new form, a new picture, a sign-up form shown again) is
//     paid by a unit of the onion captcha budget, which is never given back:
//     units(OnionCaptchasPerMinute, 1 min, captcha.ttl). A sign-up pass
//     takes the place of the solved captcha it is made from, for at most
//     captcha.ttl, and counts as that captcha.
//   - Regulation: every password check that reaches the Regulator holds a
//     unit of the onion credential budget that is not given back:
//     units(OnionCredentialChecksPerMinute, 1 min, regulation lifetime).
//   - Counters: the three onion counters and their release counters, 6,
//     and with circuits the onion circuit counter (never released), 7.
//   - Circuits: Tor circuits are unbounded in number, and each request of a
//     new circuit could create counters of its own. Every per-circuit
//     counter is paid, when it is created, by a unit of the onion circuit
//     budget that is never given back (Allow); a counter lives at most the
//     longest period of the per-client budgets (one hour), and each may
//     have a release counter: 2 × units(OnionCircuitsPerMinute, 1 min,
//     1 h). The per-client budgets themselves do not enter the bound: what
//     each circuit does is paid for by the shared onion budgets above.
func OnionKeyBound(b Budgets, lt Lifetimes, circuits bool) KeyBound {
	k := KeyBound{
		Captchas:   units(b.OnionCaptchasPerMinute, time.Minute, lt.Captcha),
		Regulation: units(b.OnionCredentialChecksPerMinute, time.Minute, lt.regulationLife()),
		Counters:   2 * 3,
	}
	if circuits {
		k.Counters++
		k.Circuits = 2 * units(b.OnionCircuitsPerMinute, time.Minute, time.Hour)
	}
	return k
}

// NetworkKeyBound is the most keys one IPv6 /48 network, all its /56s and
// /64s together, can hold in the store at one time. One IPv4 address or one
// /64 holds fewer (the same sums with factor 1 and no network counters).
//
// A /48's budgets are the per-client ones times IPv6Factor48; their units
// are never given back by the caller (Release keeps them), and Allow counts
// the /48 before the /56 and the client, so every new key a request of the
// network creates is paid by a /48 unit (see Allow):
//
//   - Captchas: a new form or picture takes a /48 captcha unit (so does a
//     new picture for a form's captcha, captchastore.Captchas.Renew, which
//     puts at most one key in the store); a sign-up form shown again after
//     a wrong or missing captcha keeps its /48 sign-up unit (after a right
//     one, the captcha it used up was deleted, and the sign-up pass or the
//     new captcha that takes its place lives no longer than captcha.ttl:
//     captchastore.Passes, whose TTL is at most captcha.ttl):
//     units(f48*captchas, 1 min, captcha.ttl) + units(f48*signups, 1 h,
//     captcha.ttl).
//   - Regulation: units(f48*credential checks, 1 min, regulation lifetime).
//   - Counters, for each of the three budgets: the /48 counter and its
//     release counter (2); the /56 counters, at most one per /56 and one per
//     /48 unit or live /64 counter in the last period, each with a release
//     counter (2*min(256, 2*units)); the /64 counters, one per /48 unit in
//     the last period, each with a release counter (2*min(65536, units)).
func NetworkKeyBound(b Budgets, lt Lifetimes) KeyBound {
	f := b.IPv6Factor48
	k := KeyBound{
		Captchas: units(f*b.CaptchasPerMinute, time.Minute, lt.Captcha) +
			units(f*b.SignupsPerHour, time.Hour, lt.Captcha),
		Regulation: units(f*b.CredentialChecksPerMinute, time.Minute, lt.regulationLife()),
	}
	for _, p := range []struct {
		limit  int
		period time.Duration
	}{
		{b.CaptchasPerMinute, time.Minute}, {b.SignupsPerHour, time.Hour}, {b.CredentialChecksPerMinute, time.Minute},
	} {
		live := units(f*p.limit, p.period, p.period) // new counters in the last period
		k.Counters += 2 + 2*min(256, 2*live) + 2*min(65536, live)
	}
	return k
}
