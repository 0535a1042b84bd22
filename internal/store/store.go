package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get, GetDel and TTL when the key does not exist or has expired.
var ErrNotFound = errors.New("store: key not found")

// ErrFull is returned by the memory store when it holds its maximum number of keys
// and a new key would have to be created. Existing keys are never evicted to make
// room, so a ban or a counter cannot be pushed out by an attacker creating keys.
var ErrFull = errors.New("store: full")

// ErrUnavailable wraps errors of a backend that cannot be reached (Redis down,
// loading, read-only replica, wrong credentials) and of a store that was closed.
// The web layer answers such errors with 503, never with "wrong captcha".
// Test with errors.Is(err, store.ErrUnavailable).
var ErrUnavailable = errors.New("store: unavailable")

// ErrInvalidTTL is returned by every method taking a ttl when ttl <= 0.
var ErrInvalidTTL = errors.New("store: ttl must be > 0")

// Store is the small key/value interface the portal keeps its short-lived state in:
// captcha answers, rate-limit counters, brute-force regulation and the epoch key.
//
// TTL rules (the same for every implementation, pinned by storetest.Run):
//   - ttl must be > 0 wherever a ttl is taken; a ttl <= 0 is an error
//     (ErrInvalidTTL), never "forever". Every key therefore expires.
//   - TTLs have millisecond precision; a ttl below 1ms is rounded up to 1ms.
//   - Set replaces value and TTL.
//   - Incr creates the key with value 1 and the given TTL when it does not exist;
//     on an existing key it increments and leaves the TTL as it is (the ttl
//     argument is still validated).
//   - SetNX sets key only when absent and reports whether it did.
//   - An expired key behaves exactly like a missing key.
//
// Other rules:
//   - Values are copied in both directions: callers may reuse their slices.
//   - Errors never contain keys or values (keys may be derived from user names).
//   - Backend failures wrap ErrUnavailable; a closed store returns errors
//     wrapping ErrUnavailable too. Close may be called more than once.
//   - All methods are safe for concurrent use.
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores val under key with the given TTL, replacing any value and TTL.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// SetNX stores val under key with the given TTL only when key is absent
	// (or expired) and reports whether it did.
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// GetDel returns the value of key and deletes it, atomically: of several
	// concurrent callers (on any number of instances sharing a backend) exactly
	// one gets the value, the others get ErrNotFound.
	GetDel(ctx context.Context, key string) ([]byte, error)
	// Incr increments the integer stored under key and returns the new value.
	// A missing key is created with value 1 and the given TTL; an existing key
	// keeps its TTL. The value must be a base-10 int64 (as written by Incr or
	// by Set with strconv.AppendInt); anything else is an error.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// TTL returns the time left before key expires, or ErrNotFound.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Del deletes key. Deleting a missing key is not an error.
	Del(ctx context.Context, key string) error
	// Ping reports whether the backend can be reached (errors wrap ErrUnavailable).
	Ping(ctx context.Context) error
	// Close releases the store (stops the memory sweeper, closes Redis connections).
	Close() error
}
