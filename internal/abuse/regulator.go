package abuse

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// Defaults of RegulatorOptions.
const (
	DefaultMaxFailures = 5
	DefaultWindow      = 10 * time.Minute
	DefaultBan         = 15 * time.Minute
)

// regulatorSlots is the number of counters a window is split into: failures
// are counted per slot and the last regulatorSlots slots are added up, so the
// window slides in steps of Window/regulatorSlots.
const regulatorSlots = 10

// regulatorKeyless is the HMAC key used when no secret is configured: the
// account keys are then plain SHA-256-strength digests of the address.
var regulatorKeyless = []byte("xmpp-portal regulator v1")

// RegulatorOptions configure a Regulator. Zero fields take the defaults.
type RegulatorOptions struct {
	// MaxFailures failed verifications within Window lock the account.
	MaxFailures int
	// Window is the time over which failures are counted.
	Window time.Duration
	// Ban is how long a locked account stays locked.
	Ban time.Duration
	// Secret keys the HMAC that turns an address into a store key, so the
	// store holds no address and a copy of it cannot be matched against a
	// list of names without the secret. Empty: a fixed key (SHA-256 strength).
	Secret []byte
	// Now is the clock; nil means time.Now. Locks and counting windows follow
	// this clock (the store's own TTLs only clean up), so tests can move it.
	Now func() time.Time
}

// Regulator is brute-force regulation per account: after MaxFailures failed
// verifications within Window, the account is locked for Ban. It works on
// the store, so several portal instances sharing Redis share the counters.
// It never sees an IP address; the account is identified only by a keyed
// digest of its normalised bare JID.
//
// A lock is lifted only by time: no successful verification ends it early
// (the caller does not verify a locked account at all).
type Regulator struct {
	st     store.Store
	max    int
	window time.Duration
	slot   time.Duration
	ban    time.Duration
	secret []byte
	now    func() time.Time
}

// NewRegulator returns a Regulator on st.
func NewRegulator(st store.Store, o RegulatorOptions) *Regulator {
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Ban <= 0 {
		o.Ban = DefaultBan
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	secret := regulatorKeyless
	if len(o.Secret) > 0 {
		secret = append([]byte(nil), o.Secret...)
	}
	slot := o.Window / regulatorSlots
	if slot < time.Millisecond {
		slot = time.Millisecond
	}
	return &Regulator{st: st, max: o.MaxFailures, window: o.Window, slot: slot, ban: o.Ban, secret: secret, now: o.Now}
}

// accountKey is the store key part for account: 128 bits of
// HMAC-SHA256(secret, account), hex.
func (r *Regulator) accountKey(account string) string {
	m := hmac.New(sha256.New, r.secret)
	m.Write([]byte(account))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (r *Regulator) lockKey(h string) string { return "reg:l:" + h }

func (r *Regulator) slotKey(h string, slot int64) string {
	return "reg:f:" + h + ":" + strconv.FormatInt(slot, 10)
}

// Locked reports whether account (a normalised bare JID) is locked now, and
// until when. Store errors are returned (callers fail closed).
func (r *Regulator) Locked(ctx context.Context, account string) (bool, time.Time, error) {
	v, err := r.st.Get(ctx, r.lockKey(r.accountKey(account)))
	if errors.Is(err, store.ErrNotFound) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("abuse: regulator: %w", err)
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		// Not written by us; treat as locked for the rest of its TTL.
		return true, time.Time{}, nil
	}
	until := time.UnixMilli(ms)
	return r.now().Before(until), until, nil
}

// Fail records a failed verification of account and reports whether the
// account is locked now (this failure reached MaxFailures within Window).
func (r *Regulator) Fail(ctx context.Context, account string) (bool, error) {
	h := r.accountKey(account)
	now := r.now()
	cur := now.UnixMilli() / r.slot.Milliseconds()
	// Slot counters live a little longer than the window they count in.
	n, err := r.st.Incr(ctx, r.slotKey(h, cur), r.window+r.slot)
	if err != nil {
		return false, fmt.Errorf("abuse: regulator: %w", err)
	}
	total := n
	for i := int64(1); i < regulatorSlots && total < int64(r.max); i++ {
		v, err := r.st.Get(ctx, r.slotKey(h, cur-i))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("abuse: regulator: %w", err)
		}
		if c, err := strconv.ParseInt(string(v), 10, 64); err == nil && c > 0 {
			total += c
		}
	}
	if total < int64(r.max) {
		return false, nil
	}
	until := now.Add(r.ban)
	if err := r.st.Set(ctx, r.lockKey(h), strconv.AppendInt(nil, until.UnixMilli(), 10), r.ban); err != nil {
		return false, fmt.Errorf("abuse: regulator: %w", err)
	}
	// Start afresh after the ban: the failures that caused it are spent.
	for i := int64(0); i < regulatorSlots; i++ {
		if err := r.st.Del(ctx, r.slotKey(h, cur-i)); err != nil {
			return true, fmt.Errorf("abuse: regulator: %w", err)
		}
	}
	return true, nil
}
