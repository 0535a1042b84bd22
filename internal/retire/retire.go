// Package retire keeps the names of deleted accounts retired for a while
// (delete.retire_names), so that nobody else can register a deleted address
// and receive what the old owner's contacts still send to it, on any
// server the portal fronts.
//
// The store holds a keyed hash of each retired name, never the name:
// HMAC-SHA256(secret, "retired-name" 0 domain 0 localpart), 128 bits, as
// the key, with the retirement as its TTL. Without the secret nobody can
// tell from the store which names were retired; with it one can only test
// a name one already knows. The localpart is the normalised one (the one
// address parser's), so every spelling of a name is the same name.
package retire

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// Names is the set of retired names of one domain on a store. A nil *Names
// retires nothing (delete.retire_names 0).
type Names struct {
	st     store.Store
	secret []byte
	domain string
	ttl    time.Duration
}

// New returns the retired names of domain on st, each kept for ttl. ttl
// <= 0: nil (names are not retired).
func New(st store.Store, secret []byte, domain string, ttl time.Duration) *Names {
	if ttl <= 0 {
		return nil
	}
	return &Names{st: st, secret: append([]byte(nil), secret...), domain: domain, ttl: ttl}
}

// TTL is how long a name stays retired (0 for a nil Names).
func (n *Names) TTL() time.Duration {
	if n == nil {
		return 0
	}
	return n.ttl
}

// key is the store key of a normalised localpart.
func (n *Names) key(local string) string {
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("retired-name\x00"))
	m.Write([]byte(n.domain))
	m.Write([]byte{0})
	m.Write([]byte(local))
	return "retired:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Retire retires local for the TTL from now (again, if it already was).
// An error wraps store.ErrUnavailable when the store cannot be written:
// the caller must not delete the account then.
func (n *Names) Retire(ctx context.Context, local string) error {
	if n == nil {
		return nil
	}
	if err := n.st.Set(ctx, n.key(local), []byte{1}, n.ttl); err != nil {
		return unavailable(err)
	}
	return nil
}

// Retired reports whether local is retired. An error wraps
// store.ErrUnavailable: the caller must not create the account then.
func (n *Names) Retired(ctx context.Context, local string) (bool, error) {
	if n == nil {
		return false, nil
	}
	_, err := n.st.Get(ctx, n.key(local))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, unavailable(err)
}

// unavailable makes every store failure (a full memory store included) an
// ErrUnavailable one: the page says the portal cannot act now.
func unavailable(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}
