package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get and GetDel when the key does not exist or has expired.
var ErrNotFound = errors.New("store: key not found")

// ErrFull is returned by the memory store when it holds its maximum number of keys
// and a new key would have to be created.
var ErrFull = errors.New("store: full")

// ErrUnavailable wraps errors of a backend that cannot be reached (Redis down).
var ErrUnavailable = errors.New("store: unavailable")

// Store is the small key/value interface the portal keeps its short-lived state in:
// captcha answers, rate-limit counters, brute-force regulation and the epoch key.
//
// TTL rules (the same for every implementation):
//   - ttl must be > 0 wherever a ttl is taken; a ttl <= 0 is an error, never "forever".
//   - Set replaces value and TTL.
//   - Incr creates the key with value 1 and the given TTL when it does not exist;
//     on an existing key it increments and leaves the TTL as it is.
//   - SetNX sets key only when absent and reports whether it did.
//   - An expired key behaves exactly like a missing key.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	GetDel(ctx context.Context, key string) ([]byte, error)
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	TTL(ctx context.Context, key string) (time.Duration, error)
	Del(ctx context.Context, key string) error
	Ping(ctx context.Context) error
	Close() error
}
