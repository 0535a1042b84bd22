package store

import (
	"errors"
	"fmt"
	"time"
)

// OpenOption tunes Open.
type OpenOption func(*openConfig)

type openConfig struct {
	mem MemoryOptions
}

// WithMaxKeys bounds the memory store (see MemoryOptions.MaxKeys). Redis ignores it.
func WithMaxKeys(n int) OpenOption { return func(c *openConfig) { c.mem.MaxKeys = n } }

// WithSweepInterval sets the memory store's sweep interval. Redis ignores it.
func WithSweepInterval(d time.Duration) OpenOption {
	return func(c *openConfig) { c.mem.SweepInterval = d }
}

// WithClock injects the memory store's clock. Redis ignores it (Redis keeps its own time).
func WithClock(now func() time.Time) OpenOption { return func(c *openConfig) { c.mem.Now = now } }

// Open returns the store named by driver:
//
//	"memory"  in-process store for one portal instance; url must be empty, prefix is ignored.
//	"redis"   Redis (single, Sentinel or Cluster); url as described at ParseRedisURL;
//	          every key is written under prefix (empty means DefaultPrefix).
//
// Open does not connect: call Ping to check the backend. Errors never contain the URL.
func Open(driver, url, prefix string, opts ...OpenOption) (Store, error) {
	var c openConfig
	for _, o := range opts {
		o(&c)
	}
	switch driver {
	case "memory", "":
		if url != "" {
			return nil, errors.New(`store: driver "memory" takes no URL (did you mean driver "redis"?)`)
		}
		return NewMemory(c.mem), nil
	case "redis":
		if url == "" {
			return nil, errors.New(`store: driver "redis" needs a URL (redis://host:port/db)`)
		}
		r, err := OpenRedis(url, prefix)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return r, nil
	default:
		return nil, fmt.Errorf(`store: unknown driver %q (want "memory" or "redis")`, driver)
	}
}
