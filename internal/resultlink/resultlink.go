// Package resultlink seals what a result page shows (the address of a new,
// changed or deleted account) into the link of that page, so that the page
// is reached by a redirect after the form (Post/Redirect/Get) and shows the
// same thing again on a reload, the back button or a restored tab, with no
// cookie, no session and nothing kept per visitor.
//
// A token is the value and its expiry sealed with AES-256-GCM (encrypted
// and authenticated: the address is not readable from the URL, in the
// browser's history or anywhere else, and a token cannot be forged or
// changed), under a key of the period it was made in. The keys live in the
// store, so every instance on one Redis opens every instance's tokens: the
// first instance that needs the key of a period makes it (set-if-absent),
// the others read it, and it expires two periods later, after the last
// token sealed with it. The store holds at most two such keys at a time.
package resultlink

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// Defaults of Options.
const (
	DefaultPeriod = 24 * time.Hour
	DefaultPrefix = "link:"
)

// Limits of what is sealed and opened.
const (
	// MaxValue is the longest value Seal takes, in bytes (an address:
	// localpart and domain part of at most 1023 bytes each, and the @).
	MaxValue = 2047
	// MaxToken is the longest token Open looks at, in characters.
	MaxToken = 4 * (1 + 8 + 12 + 8 + MaxValue + 16 + 2) / 3
)

// ErrExpired is returned by Open for a token that was sealed here but whose
// time is over.
var ErrExpired = errors.New("resultlink: the link has expired")

// ErrInvalid is returned by Open for anything else that is not a live token
// of this kind: malformed, forged, changed, of another kind, or sealed with
// a key the store no longer holds (expired long ago, or lost with the
// memory store at a restart).
var ErrInvalid = errors.New("resultlink: the link is not valid")

// Options configure New. Zero values take the defaults.
type Options struct {
	// Period is how long one key seals tokens (zero: DefaultPeriod); a
	// token lives at most this long.
	Period time.Duration
	// Prefix is put before the store keys (empty: DefaultPrefix).
	Prefix string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Sealer seals and opens tokens with keys kept in a store. It is safe for
// concurrent use.
type Sealer struct {
	st     store.Store
	period time.Duration
	prefix string
	now    func() time.Time
}

// New returns a Sealer on st.
func New(st store.Store, o Options) *Sealer {
	s := &Sealer{st: st, period: o.Period, prefix: o.Prefix, now: o.Now}
	if s.period <= 0 {
		s.period = DefaultPeriod
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

const version = 1

// Seal returns a token for value of kind (the page it is for) that Open
// accepts for ttl (at most the period). The token is unpadded base64url:
// letters, digits, '-' and '_'. The error wraps store.ErrUnavailable (or is
// store.ErrFull) when the key cannot be read or made.
func (s *Sealer) Seal(ctx context.Context, kind, value string, ttl time.Duration) (string, error) {
	if len(value) > MaxValue {
		return "", errors.New("resultlink: value too long")
	}
	ttl = min(max(ttl, time.Second), s.period)
	now := s.now()
	n := s.periodOf(now)
	aead, err := s.key(ctx, n, true)
	if err != nil {
		return "", err
	}
	// version | period | nonce | sealed(expiry | value)
	b := make([]byte, 1+8+12, 1+8+12+8+len(value)+aead.Overhead())
	b[0] = version
	binary.BigEndian.PutUint64(b[1:9], uint64(n))
	_, _ = rand.Read(b[9:21]) // never fails (Go 1.24+)
	plain := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(now.Add(ttl).Unix()))
	plain = append(plain, value...)
	b = aead.Seal(b, b[9:21], plain, additional(kind, b[:9]))
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Open returns the value sealed in token for kind: ErrExpired when its
// time is over, ErrInvalid for anything that is not a token of kind made by
// a Sealer on this store, and a store error (wrapping store.ErrUnavailable)
// when the key cannot be read.
func (s *Sealer) Open(ctx context.Context, kind, token string) (string, error) {
	if len(token) > MaxToken {
		return "", ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+8+12+8+16 || b[0] != version {
		return "", ErrInvalid
	}
	n := int64(binary.BigEndian.Uint64(b[1:9]))
	if n < 0 || n > s.periodOf(s.now())+1 {
		return "", ErrInvalid
	}
	aead, err := s.key(ctx, n, false)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrInvalid
	}
	if err != nil {
		return "", err
	}
	plain, err := aead.Open(nil, b[9:21], b[21:], additional(kind, b[:9]))
	if err != nil {
		return "", ErrInvalid
	}
	if expiry := time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0); !s.now().Before(expiry) {
		return "", ErrExpired
	}
	return string(plain[8:]), nil
}

// additional binds a token to its kind and its header.
func additional(kind string, header []byte) []byte {
	return append([]byte("resultlink\x00"+kind+"\x00"), header...)
}

func (s *Sealer) periodOf(t time.Time) int64 { return t.UnixNano() / int64(s.period) }

// key returns the cipher of period n's key: read from the store, or, when
// create is true and there is none yet, made (set-if-absent, so instances
// agree on one) with a TTL of two periods and a tenth. Without create, a
// missing key is store.ErrNotFound.
func (s *Sealer) key(ctx context.Context, n int64, create bool) (cipher.AEAD, error) {
	name := fmt.Sprintf("%skey:%d", s.prefix, n)
	k, err := s.st.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) && create {
		var fresh [32]byte
		_, _ = rand.Read(fresh[:])
		if _, err = s.st.SetNX(ctx, name, fresh[:], 2*s.period+s.period/10); err == nil {
			k, err = s.st.Get(ctx, name)
		}
	}
	if errors.Is(err, store.ErrNotFound) && !create {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("resultlink: key: %w", err)
	}
	if len(k) != 32 {
		return nil, errors.New("resultlink: stored key has the wrong length")
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
