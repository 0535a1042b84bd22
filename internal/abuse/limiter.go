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

// The actions the portal limits.
const (
	// Signup is one submitted sign-up form: the client's hourly budget and
	// the global one (clearnet), or the onion budget (onion).
	Signup Action = iota + 1
	// Captcha is one captcha picture or sound: the client's per-minute
	// budget (clearnet); onion requests are not counted.
	Captcha
	// Credential is one password check (password change, export, delete):
	// the client's per-minute budget (clearnet) or the onion budget (onion).
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

// Budgets are the limits of a Limiter. Every value must be at least 1.
type Budgets struct {
	SignupsPerHour                 int // per client
	GlobalSignupsPerHour           int // clearnet, all clients together
	CaptchasPerMinute              int // per client
	CredentialChecksPerMinute      int // per client
	OnionSignupsPerHour            int // onion listener, all clients together
	OnionCredentialChecksPerMinute int // onion listener, all clients together
}

// DefaultBudgets are the budgets of the configuration's defaults.
func DefaultBudgets() Budgets {
	return Budgets{
		SignupsPerHour:                 10,
		GlobalSignupsPerHour:           100,
		CaptchasPerMinute:              30,
		CredentialChecksPerMinute:      10,
		OnionSignupsPerHour:            20,
		OnionCredentialChecksPerMinute: 30,
	}
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
	for name, n := range map[string]int{
		"SignupsPerHour": o.Budgets.SignupsPerHour, "GlobalSignupsPerHour": o.Budgets.GlobalSignupsPerHour,
		"CaptchasPerMinute": o.Budgets.CaptchasPerMinute, "CredentialChecksPerMinute": o.Budgets.CredentialChecksPerMinute,
		"OnionSignupsPerHour": o.Budgets.OnionSignupsPerHour, "OnionCredentialChecksPerMinute": o.Budgets.OnionCredentialChecksPerMinute,
	} {
		if n < 1 {
			return nil, fmt.Errorf("abuse: budget %s must be at least 1, got %d", name, n)
		}
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
		trustedProxies: tp, isOnion: o.IsOnion, now: o.Now, log: o.Log,
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
	BudgetCredential      = "credential"
	BudgetOnionCredential = "onion_credential"
)

// budget is one counter a request is checked against.
type budget struct {
	name   string
	limit  int
	period time.Duration
	shared bool // all clients together (global or onion)
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
	Budget string
	// Shared is true when the refusing budget is shared by all clients
	// (a global or onion budget), false when it is the client's own.
	Shared bool

	l    *Limiter
	held []*heldUnit
}

type heldUnit struct {
	key      string
	shared   bool
	released atomic.Bool
}

// Allow checks r against the budgets of action and reserves one unit of each
// when all have room. A refusal reserves nothing. Store errors (including
// store.ErrFull) are returned wrapped, with a zero Decision: callers must fail
// closed and create nothing.
func (l *Limiter) Allow(ctx context.Context, r *http.Request, a Action) (Decision, error) {
	onion := l.isOnion(r)
	var steps []budget
	switch a {
	case Signup:
		if onion {
			steps = []budget{{BudgetOnionSignup, l.b.OnionSignupsPerHour, time.Hour, true}}
		} else {
			steps = []budget{{BudgetSignup, l.b.SignupsPerHour, time.Hour, false}, {BudgetGlobalSignup, l.b.GlobalSignupsPerHour, time.Hour, true}}
		}
	case Captcha:
		if !onion {
			steps = []budget{{BudgetCaptcha, l.b.CaptchasPerMinute, time.Minute, false}}
		}
	case Credential:
		if onion {
			steps = []budget{{BudgetOnionCredential, l.b.OnionCredentialChecksPerMinute, time.Minute, true}}
		} else {
			steps = []budget{{BudgetCredential, l.b.CredentialChecksPerMinute, time.Minute, false}}
		}
	default:
		return Decision{}, fmt.Errorf("abuse: unknown action %d", int(a))
	}

	d := Decision{Allowed: true, l: l}
	client := ""
	for _, b := range steps {
		key := "rl:" + b.name
		if !b.shared {
			if client == "" {
				k, _, err := l.ClientKey(ctx, r)
				if err != nil {
					d.release(ctx, false)
					return Decision{}, err
				}
				client = k
			}
			key += ":" + client
		}
		ok, retry, err := l.take(ctx, key, b)
		if err != nil {
			d.release(ctx, false)
			return Decision{}, fmt.Errorf("abuse: %s budget: %w", b.name, err)
		}
		if !ok {
			d.release(ctx, false)
			l.log.Info("abuse.limited", "action", a.String(), "budget", b.name, "onion", onion, "retry_after_s", int(retry/time.Second))
			return Decision{Budget: b.name, Shared: b.shared, RetryAfter: retry}, nil
		}
		d.held = append(d.held, &heldUnit{key: key, shared: b.shared})
	}
	return d, nil
}

// take reserves one unit of budget b under key. Counters are windows that
// start with their first unit (Incr's TTL). Released units are counted under
// key+":r" in the same window, so the units in use are used - released.
func (l *Limiter) take(ctx context.Context, key string, b budget) (bool, time.Duration, error) {
	n, err := l.st.Incr(ctx, key, b.period)
	if err != nil {
		return false, 0, err
	}
	if n <= int64(b.limit) {
		return true, 0, nil
	}
	released := int64(0)
	v, err := l.st.Get(ctx, key+":r")
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, 0, err
	default:
		if released, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return false, 0, errors.New("abuse: released counter is not a number")
		}
	}
	if n-released <= int64(b.limit) {
		return true, 0, nil
	}
	// Refused. The unit just taken is not given back: units of refused
	// requests stay counted until the window ends, so that "allowed" can be
	// decided from this request's own count n and the releases so far, which
	// is exact under any interleaving (allowed - released <= limit). A
	// budget that ran out therefore stays out for the rest of its window.
	ttl, err := l.st.TTL(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, time.Second, nil // the window just ended
	case err != nil:
		return false, 0, err
	}
	return false, ceilSecond(ttl), nil
}

// ceilSecond rounds d up to whole seconds, at least one.
func ceilSecond(d time.Duration) time.Duration {
	return max((d + time.Second - 1).Truncate(time.Second), time.Second)
}

// Release gives back every unit the Decision reserved: call it when the
// action did not take place (nothing was created), so that only real
// sign-ups count. Each unit is given back at most once, whatever is called
// how often. Errors are logged, not returned: the units then stay used
// until their window ends. Release on a refused or zero Decision does nothing.
func (d Decision) Release(ctx context.Context) { d.release(ctx, false) }

// ReleaseShared gives back only the units of shared budgets (global and
// onion), keeping the client's own: for a wrong captcha, which should cost the
// client an attempt but must not let bots without answers use up everyone's
// budget.
func (d Decision) ReleaseShared(ctx context.Context) { d.release(ctx, true) }

func (d Decision) release(ctx context.Context, sharedOnly bool) {
	for _, u := range d.held {
		if (sharedOnly && !u.shared) || u.released.Swap(true) {
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
