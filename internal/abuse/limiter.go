package abuse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// Action is what a request wants to do; each action has its budgets.
type Action int

// The actions the portal limits. Every action has at least one budget on
// every listener (see Allow for the order they are counted in).
const (
	// Signup is one submitted sign-up form. Clearnet: the global budget,
	// the client's network budgets (IPv6 /48 and /56) and the client's own
	// hourly budget. Onion: the onion sign-up budget and one unit of the
	// onion captcha budget (the form may be shown again with a new captcha),
	// and, when the request's Tor circuit is known, the circuit's own hourly
	// budget (the per-client one).
	Signup Action = iota + 1
	// Captcha is one new sign-up form (it puts a captcha in the store), one
	// captcha picture or one sound. Clearnet: the client's network budgets
	// (IPv6 /48 and /56) and its own per-minute budget. Onion: the onion
	// captcha budget, all onion clients together, and the circuit's own
	// per-minute budget when the circuit is known.
	Captcha
	// Credential is one password check (password change, export, delete,
	// import). Clearnet: the client's network budgets (IPv6 /48 and /56) and
	// its own per-minute budget. Onion: the onion budget, and the circuit's
	// own per-minute budget when the circuit is known.
	Credential
)

func (a Action) String() string {
	switch a {
	case Signup:
		return "signup"
	case Captcha:
		return "captcha"
	case Credential:
		return "credential"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Budgets are the limits of a Limiter. Every value must be at least 1, and
// IPv6Factor48 at least IPv6Factor56.
type Budgets struct {
	SignupsPerHour                 int // per client
	GlobalSignupsPerHour           int // clearnet, all clients together
	CaptchasPerMinute              int // per client
	CredentialChecksPerMinute      int // per client
	OnionSignupsPerHour            int // onion listener, all clients together
	OnionCaptchasPerMinute         int // onion listener, all clients together
	OnionCredentialChecksPerMinute int // onion listener, all clients together
	// OnionCircuitsPerMinute pays for the counters of Tor circuits (see
	// LimiterOptions.Circuit): each new per-circuit counter takes one unit,
	// never given back; over it, a circuit without a counter is counted on
	// the shared onion budgets only. Zero in LimiterOptions.Budgets:
	// DefaultOnionCircuitsPerMinute.
	OnionCircuitsPerMinute int

	// IPv6Factor56 and IPv6Factor48 multiply the per-client budgets
	// (sign-ups, captchas, credential checks) into the budgets of the
	// client's IPv6 /56 and /48 networks: a client in 2001:db8:1:2::/64 is
	// counted against its /64 budget, against the budget of
	// 2001:db8:1::/56 (IPv6Factor56 times as large) and against that of
	// 2001:db8:1::/48 (IPv6Factor48 times as large). Without them one /48,
	// which holds 65,536 /64s and is often handed to a single customer,
	// would have 65,536 budgets. IPv4 clients have no network budgets (see
	// DefaultIPv6Factor48).
	IPv6Factor56 int
	IPv6Factor48 int
}

// Defaults of the network factors (Budgets.IPv6Factor56, IPv6Factor48).
//
// A /56 is what RIPE-690 recommends giving one household or small office;
// its devices usually share one /64 (the home LAN), so twice a client's
// budget leaves room for a second network (guest Wi-Fi) and no more.
//
// A /48 is a site, a large customer, or an ISP's pool of 256 customers'
// /56s (or of many mobile devices' /64s), so its budget is shared by
// everybody in it: 4 clients' worth is still more than an IPv4 address
// behind a carrier-grade NAT gets (one client's budget for hundreds of
// subscribers, see below), and it keeps the worst case of one /48 in the
// memory store (NetworkKeyBound: 3,998 keys with the default budgets and
// captcha.ttl) under the 1/20 of store.max_keys (100,000) that one network
// may take (NetworkShareDivisor). A factor of 16 would allow 12,902 keys,
// an eighth of the default store, for one /48.
//
// IPv4 addresses are counted whole (/32) and never at a wider prefix:
// carrier-grade NAT puts hundreds or thousands of subscribers behind one
// address and a whole carrier behind one /24, so a /24 budget would lock out
// an ISP's customers for one abuser, while an attacker's supply of IPv4
// addresses is small and costly, unlike the free 65,536 /64s of a /48.
const (
	DefaultIPv6Factor56 = 2
	DefaultIPv6Factor48 = 4
)

// DefaultOnionCaptchasPerMinute is the default onion captcha budget: four
// clients' worth (abuse.captchas_per_minute is 30), room for some 40 onion
// sign-up attempts a minute (form, picture, form sent), far above the onion
// sign-up budget (20 an hour), while the onion listener's worst case in the
// memory store (OnionKeyBound: 1,806 keys with the defaults) stays under 2%
// of store.max_keys, well within its quarter (OnionShareDivisor). Every onion
// visitor shares it, so one onion client can use it up for the others
// (that cannot be told apart) but never for clearnet visitors.
const DefaultOnionCaptchasPerMinute = 120

// DefaultOnionCircuitsPerMinute is the default of
// Budgets.OnionCircuitsPerMinute: new per-circuit counters a minute, all Tor
// circuits together. A visitor who signs up makes two or three (a captcha
// counter with the first form, a sign-up counter with the first attempt, a
// new captcha counter when a minute passes between forms), so 30 a minute
// is ten or more new visitors a minute, far above the onion sign-up budget
// (20 an hour). What circuits can leave in the store is then at most
// 2 × 30 × 61 = 3,660 counters (OnionKeyBound), whatever their number.
const DefaultOnionCircuitsPerMinute = 30

// DefaultBudgets are the budgets of the configuration's defaults.
func DefaultBudgets() Budgets {
	return Budgets{
		SignupsPerHour:                 10,
		GlobalSignupsPerHour:           100,
		CaptchasPerMinute:              30,
		CredentialChecksPerMinute:      10,
		OnionSignupsPerHour:            20,
		OnionCaptchasPerMinute:         DefaultOnionCaptchasPerMinute,
		OnionCredentialChecksPerMinute: 30,
		OnionCircuitsPerMinute:         DefaultOnionCircuitsPerMinute,
		IPv6Factor56:                   DefaultIPv6Factor56,
		IPv6Factor48:                   DefaultIPv6Factor48,
	}
}

// validate reports the first budget below 1, or factors out of order.
func (b Budgets) validate() error {
	for _, f := range []struct {
		name string
		n    int
	}{
		{"SignupsPerHour", b.SignupsPerHour}, {"GlobalSignupsPerHour", b.GlobalSignupsPerHour},
		{"CaptchasPerMinute", b.CaptchasPerMinute}, {"CredentialChecksPerMinute", b.CredentialChecksPerMinute},
		{"OnionSignupsPerHour", b.OnionSignupsPerHour}, {"OnionCaptchasPerMinute", b.OnionCaptchasPerMinute},
		{"OnionCredentialChecksPerMinute", b.OnionCredentialChecksPerMinute},
		{"OnionCircuitsPerMinute", b.OnionCircuitsPerMinute},
		{"IPv6Factor56", b.IPv6Factor56}, {"IPv6Factor48", b.IPv6Factor48},
	} {
		if f.n < 1 {
			return fmt.Errorf("abuse: budget %s must be at least 1, got %d", f.name, f.n)
		}
	}
	if b.IPv6Factor48 < b.IPv6Factor56 {
		return fmt.Errorf("abuse: IPv6Factor48 (%d) must be at least IPv6Factor56 (%d): a /48 holds 256 /56s", b.IPv6Factor48, b.IPv6Factor56)
	}
	return nil
}

// DefaultEpoch is the default lifetime of the epoch key.
const DefaultEpoch = 24 * time.Hour

// LimiterOptions configure NewLimiter. Zero values take the defaults.
type LimiterOptions struct {
	Budgets Budgets // zero: DefaultBudgets
	// Epoch is the lifetime of the epoch key (zero: DefaultEpoch).
	Epoch time.Duration
	// EpochRecheck is how often the cached epoch key is read again from the
	// store (zero: DefaultEpochRecheck).
	EpochRecheck time.Duration
	// TrustedProxies are addresses or CIDR prefixes whose X-Forwarded-For is
	// honoured on the clearnet listener.
	TrustedProxies []string
	// IsOnion reports whether a request came over the onion listener
	// (handlers.IsOnion). Nil: no request is.
	IsOnion func(*http.Request) bool
	// Circuit returns, for a request over the onion listener, what
	// identifies the Tor circuit it came over (tor's circuit id with the tor
	// session it belongs to, 1 to 64 bytes), when the onion listener reads
	// circuit ids (tor's HiddenServiceExportCircuitID). The circuit is then
	// counted like a clearnet client, under HMAC(epoch key, tag + id), on
	// the per-client budgets, besides the shared onion budgets. Nil, or ok
	// false: onion requests are counted on the shared onion budgets only.
	Circuit func(*http.Request) (id []byte, ok bool)
	// Now is the clock for the epoch key cache (nil: time.Now). Counter
	// windows follow the store's clock (TTLs).
	Now func() time.Time
	// Log gets refusals and epoch key events, never addresses or keys.
	Log *slog.Logger
}

// Limiter decides whether a request is within its budgets. It is safe for
// concurrent use; instances sharing a store share every budget.
type Limiter struct {
	st             store.Store
	b              Budgets
	epochTTL       time.Duration
	epochRecheck   time.Duration
	trustedProxies []netip.Prefix
	isOnion        func(*http.Request) bool
	circuit        func(*http.Request) ([]byte, bool)
	now            func() time.Time
	log            *slog.Logger

	mu           sync.Mutex
	epoch        []byte
	epochUntil   time.Time
	noClientOnce sync.Once
}

// NewLimiter returns a Limiter counting in st.
func NewLimiter(st store.Store, o LimiterOptions) (*Limiter, error) {
	if st == nil {
		return nil, errors.New("abuse: NewLimiter needs a store")
	}
	if o.Budgets == (Budgets{}) {
		o.Budgets = DefaultBudgets()
	}
	if o.Budgets.OnionCircuitsPerMinute == 0 {
		o.Budgets.OnionCircuitsPerMinute = DefaultOnionCircuitsPerMinute
	}
	if err := o.Budgets.validate(); err != nil {
		return nil, err
	}
	if o.Epoch == 0 {
		o.Epoch = DefaultEpoch
	}
	if o.Epoch < time.Second {
		return nil, fmt.Errorf("abuse: epoch must be at least 1s, got %s", o.Epoch)
	}
	if o.EpochRecheck <= 0 {
		o.EpochRecheck = DefaultEpochRecheck
	}
	tp, err := ParseTrustedProxies(o.TrustedProxies)
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		st: st, b: o.Budgets, epochTTL: o.Epoch, epochRecheck: o.EpochRecheck,
		trustedProxies: tp, isOnion: o.IsOnion, circuit: o.Circuit, now: o.Now, log: o.Log,
	}
	if l.isOnion == nil {
		l.isOnion = func(*http.Request) bool { return false }
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return l, nil
}

// Budget names, as found in Decision.Budget and in the log.
const (
	BudgetSignup          = "signup"
	BudgetGlobalSignup    = "global_signup"
	BudgetOnionSignup     = "onion_signup"
	BudgetCaptcha         = "captcha"
	BudgetOnionCaptcha    = "onion_captcha"
	BudgetCredential      = "credential"
	BudgetOnionCredential = "onion_credential"
	BudgetOnionCircuit    = "onion_circuit"
)

// level is what a budget counts: everyone of a class, the client's IPv6 /48
// or /56 network, the client itself, or the Tor circuit of an onion request.
// Allow counts the levels in this order, widest first, so that a request
// refused at one level has created no key at a narrower one (see Allow).
type level int

const (
	levelShared  level = iota // all clients of a class together (global, onion)
	level48                   // the client's IPv6 /48
	level56                   // the client's IPv6 /56
	levelClient               // the client: IPv4 /32 or IPv6 /64
	levelCircuit              // an onion request's Tor circuit (after the shared onion budgets)
)

// prefix is the network prefix length a level counts at (0: shared or client).
func (lv level) prefix() int {
	switch lv {
	case level48:
		return 48
	case level56:
		return 56
	}
	return 0
}

// giveBack says which callers' releases give a budget's unit back.
type giveBack int

const (
	// byRelease: Release gives it back, ReleaseShared does not (the
	// client's own budget: a wrong captcha costs the client an attempt).
	byRelease giveBack = iota
	// byBoth: Release and ReleaseShared give it back (global and onion
	// sign-ups and onion credential checks: bots without answers must not
	// use up everyone's budget).
	byBoth
	// never: only a refusal inside Allow gives it back. Network budgets
	// and the onion captcha budget count what a class may put in the store
	// (a new /64 or /56 counter, a captcha, a failed password check): if
	// their units came back, a /48 could create keys without limit, one /64
	// at a time (NetworkKeyBound).
	never
)

// budget is one counter a request is checked against.
type budget struct {
	name   string // Decision.Budget
	limit  int
	period time.Duration
	level  level
	back   giveBack
}

// steps returns the budgets of action a, in the order Allow counts them.
// circuit is true for an onion request whose Tor circuit is known: it is
// counted on the per-client budgets too, after the shared onion ones.
func (l *Limiter) steps(a Action, onion, circuit, ipv6 bool) ([]budget, error) {
	b := l.b
	// perCircuit is the circuit's own budget for a per-client limit (none
	// when the circuit is not known).
	perCircuit := func(name string, perClient int, period time.Duration) []budget {
		if !circuit {
			return nil
		}
		return []budget{{name, perClient, period, levelCircuit, byRelease}}
	}
	// network returns the /48 and /56 budgets for a per-client limit
	// (IPv6 clients only) followed by the client's own.
	network := func(name string, perClient int, period time.Duration) []budget {
		own := budget{name, perClient, period, levelClient, byRelease}
		if !ipv6 {
			return []budget{own}
		}
		return []budget{
			{name, perClient * b.IPv6Factor48, period, level48, never},
			{name, perClient * b.IPv6Factor56, period, level56, never},
			own,
		}
	}
	switch a {
	case Signup:
		if onion {
			return append([]budget{
				{BudgetOnionSignup, b.OnionSignupsPerHour, time.Hour, levelShared, byBoth},
				{BudgetOnionCaptcha, b.OnionCaptchasPerMinute, time.Minute, levelShared, never},
			}, perCircuit(BudgetSignup, b.SignupsPerHour, time.Hour)...), nil
		}
		return append([]budget{{BudgetGlobalSignup, b.GlobalSignupsPerHour, time.Hour, levelShared, byBoth}},
			network(BudgetSignup, b.SignupsPerHour, time.Hour)...), nil
	case Captcha:
		if onion {
			return append([]budget{{BudgetOnionCaptcha, b.OnionCaptchasPerMinute, time.Minute, levelShared, never}},
				perCircuit(BudgetCaptcha, b.CaptchasPerMinute, time.Minute)...), nil
		}
		return network(BudgetCaptcha, b.CaptchasPerMinute, time.Minute), nil
	case Credential:
		if onion {
			return append([]budget{{BudgetOnionCredential, b.OnionCredentialChecksPerMinute, time.Minute, levelShared, byBoth}},
				perCircuit(BudgetCredential, b.CredentialChecksPerMinute, time.Minute)...), nil
		}
		return network(BudgetCredential, b.CredentialChecksPerMinute, time.Minute), nil
	}
	return nil, fmt.Errorf("abuse: unknown action %d", int(a))
}

// Decision is the answer of Allow.
type Decision struct {
	// Allowed is true when every budget had room; one unit of each is
	// reserved then (see Release).
	Allowed bool
	// RetryAfter is, when refused, the time until the refusing budget's
	// window ends (at least one second).
	RetryAfter time.Duration
	// Budget names the refusing budget (BudgetSignup, ...) when refused.
	// The network budgets of an IPv6 client carry the name of the
	// per-client budget they multiply (BudgetSignup, BudgetCaptcha,
	// BudgetCredential), with Prefix set.
	Budget string
	// Prefix is, when refused by a network budget, the prefix length it
	// counts (56 or 48); 0 for the client's own and for shared budgets.
	Prefix int
	// Shared is true when the refusing budget is shared by all clients
	// (a global or onion budget), false when it is the client's own or its
	// network's.
	Shared bool
	// Circuit is true when the refusing budget is the one of the Tor
	// circuit an onion request came over (Budget names the per-client
	// budget: BudgetSignup, BudgetCaptcha, BudgetCredential).
	Circuit bool

	l    *Limiter
	held []*heldUnit
}

type heldUnit struct {
	key      string
	back     giveBack
	released atomic.Bool
}

// Allow checks r against the budgets of action and reserves one unit of each
// when all have room. A refusal reserves nothing. Store errors (including
// store.ErrFull) are returned wrapped, with a zero Decision: callers must fail
// closed and create nothing.
//
// The budgets are counted widest first: the shared budget of the class
// (global or onion), then the client's /48 and /56 (IPv6), then the client,
// or, over the onion listener, the request's Tor circuit. A refused request
// gives back the units it took; since the refusing counter existed already
// (it was full), a refused request never creates a key below the level that
// refused it, and every new client or /56 counter belongs to a request that
// holds a unit of its /48 budget. So the keys one network can create are
// bounded by its /48 budgets, whatever the number of its /64s or of its
// refused requests (NetworkKeyBound).
//
// Tor circuits are unbounded in number and cost nothing to open, so a new
// circuit counter is paid by a unit of the shared onion circuit budget
// (Budgets.OnionCircuitsPerMinute), never given back. When that budget has
// no room, the counter just created is deleted again and the request is
// counted on the shared onion budgets only, as it would be without circuit
// ids: circuits can put at most that budget's counters in the store
// (OnionKeyBound), and a flood of new circuits never locks out visitors
// whose circuits have counters already.
func (l *Limiter) Allow(ctx context.Context, r *http.Request, a Action) (Decision, error) {
	onion, steps, err := l.keyedSteps(ctx, r, a)
	if err != nil {
		return Decision{}, err
	}

	d := Decision{Allowed: true, l: l}
	for _, ks := range steps {
		b, key := ks.budget, ks.key
		n, ok, retry, err := l.take(ctx, key, b)
		if err != nil {
			d.release(ctx, all)
			return Decision{}, fmt.Errorf("abuse: %s budget: %w", b.name, err)
		}
		if !ok {
			d.release(ctx, all)
			return l.limited(a, b, onion, retry), nil
		}
		if b.level == levelCircuit && n == 1 {
			paid, err := l.payCircuitCounter(ctx, key)
			if err != nil {
				d.release(ctx, all)
				return Decision{}, fmt.Errorf("abuse: %s budget: %w", BudgetOnionCircuit, err)
			}
			if !paid {
				l.log.Info("abuse.circuit_unkeyed", "action", a.String(), "budget", BudgetOnionCircuit,
					"effect", "counted on the shared onion budgets only")
				continue
			}
		}
		d.held = append(d.held, &heldUnit{key: key, back: b.back})
	}
	return d, nil
}

// payCircuitCounter takes one unit of the shared onion circuit budget for the
// circuit counter key that the caller has just created. The unit is never
// given back: it pays for the key. Without room, the key is deleted again
// (paid is false): a concurrent request of the same circuit that counted on
// it in between loses its unit, which only lets that circuit through once
// more.
func (l *Limiter) payCircuitCounter(ctx context.Context, key string) (paid bool, err error) {
	_, ok, _, err := l.take(ctx, "rl:"+BudgetOnionCircuit,
		budget{BudgetOnionCircuit, l.b.OnionCircuitsPerMinute, time.Minute, levelShared, never})
	if err != nil || ok {
		return ok, err
	}
	return false, l.st.Del(ctx, key)
}

// take reserves one unit of budget b under key and returns the counter's
// value after it (1: the counter was created by this call). Counters are
// windows that start with their first unit (Incr's TTL). Released units are
// counted under key+":r" in the same window, so the units in use are used -
// released.
func (l *Limiter) take(ctx context.Context, key string, b budget) (int64, bool, time.Duration, error) {
	n, err := l.st.Incr(ctx, key, b.period)
	if err != nil {
		return 0, false, 0, err
	}
	if n <= int64(b.limit) {
		return n, true, 0, nil
	}
	released := int64(0)
	v, err := l.st.Get(ctx, key+":r")
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return n, false, 0, err
	default:
		if released, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return n, false, 0, errors.New("abuse: released counter is not a number")
		}
	}
	if n-released <= int64(b.limit) {
		return n, true, 0, nil
	}
	// Refused. The unit just taken is not given back: units of refused
	// requests stay counted until the window ends, so that "allowed" can be
	// decided from this request's own count n and the releases so far, which
	// is exact under any interleaving (allowed - released <= limit). A
	// budget that ran out therefore stays out for the rest of its window.
	ttl, err := l.st.TTL(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return n, false, time.Second, nil // the window just ended
	case err != nil:
		return n, false, 0, err
	}
	return n, false, ceilSecond(ttl), nil
}

// ceilSecond rounds d up to whole seconds, at least one.
func ceilSecond(d time.Duration) time.Duration {
	return max((d + time.Second - 1).Truncate(time.Second), time.Second)
}

// Release gives back the units the Decision reserved: call it when the
// action did not take place (nothing was created), so that only real
// sign-ups count. The units of the client's network budgets (IPv6 /56, /48)
// and of the onion captcha budget are kept: they bound what a network, or the
// onion listener, can put in the store, and a released unit would let the
// next /64 of the same /48 create keys again. Each unit is given back at most
// once, whatever is called how often. Errors are logged, not returned: the
// units then stay used until their window ends. Release on a refused or zero
// Decision does nothing.
func (d Decision) Release(ctx context.Context) { d.release(ctx, callerRelease) }

// ReleaseShared gives back only the units of shared budgets (global and
// onion sign-ups, onion credential checks), keeping the client's own and its
// network's: for a wrong captcha, which should cost the client an attempt but
// must not let bots without answers use up everyone's budget.
func (d Decision) ReleaseShared(ctx context.Context) { d.release(ctx, callerReleaseShared) }

// releaseScope is who gives units back.
type releaseScope int

const (
	all                 releaseScope = iota // Allow after a refusal or an error: every unit
	callerRelease                           // Release: all but the kept ones
	callerReleaseShared                     // ReleaseShared: shared ones only
)

func (d Decision) release(ctx context.Context, scope releaseScope) {
	for _, u := range d.held {
		switch {
		case scope == callerRelease && u.back == never,
			scope == callerReleaseShared && u.back != byBoth:
			continue
		}
		if u.released.Swap(true) {
			continue
		}
		ttl, err := d.l.st.TTL(ctx, u.key)
		if errors.Is(err, store.ErrNotFound) {
			continue // the window ended: nothing to give back
		}
		if err == nil {
			_, err = d.l.st.Incr(ctx, u.key+":r", ttl)
		}
		if err != nil {
			d.l.log.Warn("abuse.release_failed", "err", err)
		}
	}
}

// limited is the refused Decision of budget b for action a, logged once
// (abuse.limited: the budget, never the client): by Allow, and by Check
// for a page that says so before anything is counted.
func (l *Limiter) limited(a Action, b budget, onion bool, retry time.Duration) Decision {
	l.log.Info("abuse.limited", "action", a.String(), "budget", b.name, "prefix", b.level.prefix(), "onion", onion,
		"circuit", b.level == levelCircuit, "retry_after_s", int(retry/time.Second))
	return Decision{Budget: b.name, Prefix: b.level.prefix(), Shared: b.level == levelShared,
		Circuit: b.level == levelCircuit, RetryAfter: retry}
}

// keyedStep is one budget a request is counted on, with its counter's key.
type keyedStep struct {
	budget
	key string
}

// keyedSteps are the budgets of action a for r in the order they are
// counted, each with its counter's key, and whether r came over the onion
// service: the one place that keys a request, for Allow and Check. Keyed
// before counting: every budget but the shared ones needs the client's
// keys (clearnet: the epoch key, cached; onion: the circuit's key).
func (l *Limiter) keyedSteps(ctx context.Context, r *http.Request, a Action) (bool, []keyedStep, error) {
	onion := l.isOnion(r)
	var (
		ck      clientKeys
		circuit bool
		err     error
	)
	switch {
	case !onion:
		if ck, err = l.clientKeys(ctx, r); err != nil {
			return onion, nil, err
		}
	default:
		if ck.client, circuit, err = l.circuitKey(ctx, r); err != nil {
			return onion, nil, err
		}
	}
	steps, err := l.steps(a, onion, circuit, ck.ipv6())
	if err != nil {
		return onion, nil, err
	}
	out := make([]keyedStep, 0, len(steps))
	for _, b := range steps {
		key := "rl:" + b.name
		switch b.level {
		case level48:
			key += "/48:" + ck.net48
		case level56:
			key += "/56:" + ck.net56
		case levelClient, levelCircuit:
			key += ":" + ck.client
		}
		out = append(out, keyedStep{budget: b, key: key})
	}
	return onion, out, nil
}
