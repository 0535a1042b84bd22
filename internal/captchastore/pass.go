package captchastore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// Defaults of PassOptions.
const (
	DefaultPassTTL    = 10 * time.Minute
	DefaultPassTries  = 5
	DefaultPassPrefix = "pass:"
)

// PassTokenLength is the length of a pass token: 16 random bytes in
// unpadded base64url.
const PassTokenLength = 22

// Pass is a solved captcha carried over to the next tries of one sign-up
// form (Passes). Token names it in the form's hidden field; Left is how
// many more times the form may be sent with it, this one included.
type Pass struct {
	Token string
	Left  int
	until time.Time // when it expires
}

// PassOptions configure NewPasses. Zero values take the defaults.
type PassOptions struct {
	// TTL is how long a pass lives from its issue (zero: DefaultPassTTL).
	// Keep it at most the captcha TTL: a pass takes the place of the
	// captcha it was made from, in the store and in the bounds of
	// internal/abuse (see NetworkKeyBound).
	TTL time.Duration
	// Tries is how many times a form may be sent with one pass (zero:
	// DefaultPassTries).
	Tries int
	// Prefix is put before each token to form the store key (empty:
	// DefaultPassPrefix).
	Prefix string
	// Now is the clock of the passes' expiry (nil: time.Now); the store's
	// TTL ends them in any case.
	Now func() time.Time
}

// Passes keep, in the store, the sign-up forms whose captcha was solved but
// which failed on another field (a password too short, a name taken): the
// next tries of that form need no new picture. A pass is single use for one
// account creation, serves a few tries (Tries) for a few minutes (TTL), and
// is named by a random token in a hidden field of the form, never a cookie.
// Take removes it from the store for the time of a try (get-and-delete, so
// two tries at once cannot both use it, across instances), Keep puts it back
// with one try less after a try that created nothing.
//
// Passes are safe for concurrent use.
type Passes struct {
	st     store.Store
	ttl    time.Duration
	tries  int
	prefix string
	now    func() time.Time
}

// NewPasses returns Passes on st.
func NewPasses(st store.Store, o PassOptions) *Passes {
	p := &Passes{st: st, ttl: o.TTL, tries: o.Tries, prefix: o.Prefix, now: o.Now}
	if p.ttl <= 0 {
		p.ttl = DefaultPassTTL
	}
	if p.tries <= 0 {
		p.tries = DefaultPassTries
	}
	if p.prefix == "" {
		p.prefix = DefaultPassPrefix
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// TTL is how long a pass lives from its issue.
func (p *Passes) TTL() time.Duration { return p.ttl }

// Issue makes a pass with every try left, for a form whose captcha was just
// solved. The error wraps store.ErrUnavailable (or is store.ErrFull) when the
// pass cannot be kept.
func (p *Passes) Issue(ctx context.Context) (Pass, error) {
	for range 3 {
		var b [16]byte
		_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
		ps := Pass{Token: base64.RawURLEncoding.EncodeToString(b[:]), Left: p.tries, until: p.now().Add(p.ttl)}
		ok, err := p.st.SetNX(ctx, p.key(ps.Token), ps.encode(), p.ttl)
		if err != nil {
			return Pass{}, fmt.Errorf("captchastore: pass: %w", err)
		}
		if ok {
			return ps, nil
		}
	}
	return Pass{}, errors.New("captchastore: pass: token collisions (broken random source?)")
}

// Take removes the pass named by token from the store and returns it, for
// one try of the form. ok is false for a token that names no pass (never
// issued, expired, used up, taken by a try under way) or that is not a
// token at all; the error is non-nil only when the store failed.
func (p *Passes) Take(ctx context.Context, token string) (ps Pass, ok bool, err error) {
	if !ValidPassToken(token) {
		return Pass{}, false, nil
	}
	b, err := p.st.GetDel(ctx, p.key(token))
	if errors.Is(err, store.ErrNotFound) {
		return Pass{}, false, nil
	}
	if err != nil {
		return Pass{}, false, fmt.Errorf("captchastore: pass: %w", err)
	}
	ps, ok = decodePass(token, b)
	if !ok || ps.Left < 1 || !p.now().Before(ps.until) {
		return Pass{}, false, nil
	}
	return ps, true, nil
}

// Keep puts a pass taken by Take back with one try less, after a try that
// created no account. It returns the pass as kept, or ok false when no try
// or no time is left (the form then needs a new captcha).
func (p *Passes) Keep(ctx context.Context, ps Pass) (kept Pass, ok bool, err error) {
	ps.Left--
	ttl := ps.until.Sub(p.now())
	if ps.Left < 1 || ttl <= 0 || !ValidPassToken(ps.Token) {
		return Pass{}, false, nil
	}
	if err := p.st.Set(ctx, p.key(ps.Token), ps.encode(), min(ttl, p.ttl)); err != nil {
		return Pass{}, false, fmt.Errorf("captchastore: pass: %w", err)
	}
	return ps, true, nil
}

func (p *Passes) key(token string) string { return p.prefix + token }

// Until is when the pass expires.
func (ps Pass) Until() time.Time { return ps.until }

// ValidPassToken reports whether token has the form of a pass token: what a
// form field may carry to the store.
func ValidPassToken(token string) bool {
	if len(token) != PassTokenLength {
		return false
	}
	for i := 0; i < len(token); i++ {
		switch ch := token[i]; {
		case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', ch == '-', ch == '_':
		default:
			return false
		}
	}
	return true
}

// encode is the stored value: tries left and the expiry in Unix
// milliseconds, "3 1767225600000".
func (ps Pass) encode() []byte {
	return []byte(strconv.Itoa(ps.Left) + " " + strconv.FormatInt(ps.until.UnixMilli(), 10))
}

func decodePass(token string, b []byte) (Pass, bool) {
	if len(b) > 40 {
		return Pass{}, false
	}
	left, until, ok := strings.Cut(string(b), " ")
	if !ok {
		return Pass{}, false
	}
	n, err := strconv.Atoi(left)
	if err != nil || n < 0 || n > 1000 {
		return Pass{}, false
	}
	ms, err := strconv.ParseInt(until, 10, 64)
	if err != nil {
		return Pass{}, false
	}
	return Pass{Token: token, Left: n, until: time.UnixMilli(ms)}, true
}
