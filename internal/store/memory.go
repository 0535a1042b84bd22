package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of MemoryOptions.
const (
	DefaultMaxKeys       = 100_000
	DefaultSweepInterval = 30 * time.Second
)

// minKickGap is the least real time between two sweeps triggered by a full
// store (besides the periodic ones), so that an attacker hammering a full
// store cannot keep a core busy sweeping.
const minKickGap = time.Second

const memShards = 32

// errClosed is returned by a closed memory store.
var errClosed = fmt.Errorf("%w: store closed", ErrUnavailable)

// MemoryOptions configures NewMemory. The zero value is ready to use.
type MemoryOptions struct {
	// MaxKeys bounds the number of keys held (expired keys count until they
	// are swept). When it is reached, creating a new key fails with ErrFull;
	// existing keys stay readable, writable and incrementable.
	// Zero means DefaultMaxKeys; negative is an error of the caller (treated as 1).
	MaxKeys int
	// SweepInterval is how often expired keys are removed in the background.
	// Zero means DefaultSweepInterval; negative disables background sweeping
	// entirely, the early sweep of a full store included (call Sweep yourself).
	SweepInterval time.Duration
	// Now is the clock deciding expiry. Nil means time.Now. Tests inject a fake
	// clock so expiry takes no wall time.
	Now func() time.Time
}

// Memory is the in-memory Store for a single portal instance.
// It is safe for concurrent use. Create it with NewMemory and stop its sweeper
// with Close.
type Memory struct {
	now    func() time.Time
	max    int64
	count  atomic.Int64 // entries in all shards, expired or not
	seed   maphash.Seed
	shards [memShards]memShard

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	kick      chan struct{}
}

type memShard struct {
	mu sync.RWMutex
	m  map[string]*memEntry
	_  [40]byte // keep shards on separate cache lines
}

type memEntry struct {
	val []byte
	exp int64 // unix nanoseconds of the injected clock
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store and starts its sweeper.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		now:  opts.Now,
		max:  int64(opts.MaxKeys),
		seed: maphash.MakeSeed(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		kick: make(chan struct{}, 1),
	}
	if m.now == nil {
		m.now = time.Now
	}
	switch {
	case opts.MaxKeys == 0:
		m.max = DefaultMaxKeys
	case opts.MaxKeys < 0:
		m.max = 1
	}
	for i := range m.shards {
		m.shards[i].m = make(map[string]*memEntry)
	}
	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval < 0 {
		close(m.done) // no sweeper
		return m
	}
	go m.sweeper(interval)
	return m
}

func (m *Memory) sweeper(interval time.Duration) {
	defer close(m.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.Sweep()
			last = time.Now()
		case <-m.kick:
			if time.Since(last) < minKickGap {
				continue
			}
			m.Sweep()
			last = time.Now()
		}
	}
}

// Sweep removes every expired key now and returns how many it removed.
// The background sweeper calls it every SweepInterval, and soon after the
// store was found full (at most once a second).
func (m *Memory) Sweep() int {
	removed := 0
	for i := range m.shards {
		sh := &m.shards[i]
		now := m.nowNano()
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.exp <= now {
				delete(sh.m, k)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	m.count.Add(int64(-removed))
	return removed
}

// Len returns the number of keys held, including expired keys not swept yet.
func (m *Memory) Len() int { return int(m.count.Load()) }

// Close stops the sweeper. Later operations fail with an error wrapping
// ErrUnavailable. Close is idempotent and always returns nil.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.stop)
		<-m.done
	})
	return nil
}

func (m *Memory) nowNano() int64 { return m.now().UnixNano() }

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%memShards]
}

// reserve takes a slot for a new key, or reports that the store is full.
func (m *Memory) reserve() bool {
	for {
		c := m.count.Load()
		if c >= m.max {
			select {
			case m.kick <- struct{}{}:
			default:
			}
			return false
		}
		if m.count.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

func expiry(now int64, ttl time.Duration) int64 {
	ttl = roundTTL(ttl)
	if now > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// roundTTL rounds ttl up to whole milliseconds, the precision Redis keeps.
func roundTTL(ttl time.Duration) time.Duration {
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl
}

func (m *Memory) check(ctx context.Context) error {
	if m.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	sh := m.shard(key)
	now := m.nowNano()
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e, ok := sh.m[key]
	if !ok || e.exp <= now {
		return nil, ErrNotFound
	}
	return clone(e.val), nil
}

// TTL implements Store.
func (m *Memory) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	sh := m.shard(key)
	now := m.nowNano()
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e, ok := sh.m[key]
	if !ok || e.exp <= now {
		return 0, ErrNotFound
	}
	return time.Duration(e.exp - now), nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	if err := m.check(ctx); err != nil {
		return err
	}
	v := clone(val)
	sh := m.shard(key)
	now := m.nowNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok {
		e.val, e.exp = v, expiry(now, ttl)
		return nil
	}
	if !m.reserve() {
		return ErrFull
	}
	sh.m[key] = &memEntry{val: v, exp: expiry(now, ttl)}
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, ErrInvalidTTL
	}
	if err := m.check(ctx); err != nil {
		return false, err
	}
	sh := m.shard(key)
	now := m.nowNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok {
		if e.exp > now {
			return false, nil
		}
		e.val, e.exp = clone(val), expiry(now, ttl)
		return true, nil
	}
	if !m.reserve() {
		return false, ErrFull
	}
	sh.m[key] = &memEntry{val: clone(val), exp: expiry(now, ttl)}
	return true, nil
}

// GetDel implements Store.
func (m *Memory) GetDel(ctx context.Context, key string) ([]byte, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	sh := m.shard(key)
	now := m.nowNano()
	sh.mu.Lock()
	e, ok := sh.m[key]
	if ok {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	m.count.Add(-1)
	if e.exp <= now {
		return nil, ErrNotFound
	}
	return e.val, nil // the entry is gone: nobody else holds e.val
}

// errNotInteger matches Redis' answer to INCR on a non-integer value.
var errNotInteger = errors.New("store: value is not an integer or out of range")

// Incr implements Store.
func (m *Memory) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, ErrInvalidTTL
	}
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	sh := m.shard(key)
	now := m.nowNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if ok && e.exp > now {
		n, err := strconv.ParseInt(string(e.val), 10, 64)
		if err != nil || n == math.MaxInt64 {
			return 0, errNotInteger
		}
		n++
		e.val = strconv.AppendInt(e.val[:0], n, 10)
		return n, nil
	}
	if ok { // expired, not swept yet: reuse its slot
		e.val, e.exp = append(e.val[:0], '1'), expiry(now, ttl)
		return 1, nil
	}
	if !m.reserve() {
		return 0, ErrFull
	}
	sh.m[key] = &memEntry{val: []byte{'1'}, exp: expiry(now, ttl)}
	return 1, nil
}

// Del implements Store.
func (m *Memory) Del(ctx context.Context, key string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	sh := m.shard(key)
	sh.mu.Lock()
	_, ok := sh.m[key]
	if ok {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
	if ok {
		m.count.Add(-1)
	}
	return nil
}

// Ping implements Store: it fails only when the store is closed.
func (m *Memory) Ping(ctx context.Context) error { return m.check(ctx) }

// ForEach calls fn for every key that has not expired, with a copy of its
// value and the time it has left, in no particular order. It is meant for
// tests and diagnostics (the privacy proof scans every key and value); fn is
// called without any lock held, on a snapshot taken one shard at a time.
func (m *Memory) ForEach(fn func(key string, val []byte, ttl time.Duration)) {
	type item struct {
		key string
		val []byte
		ttl time.Duration
	}
	for i := range m.shards {
		sh := &m.shards[i]
		now := m.nowNano()
		var items []item
		sh.mu.RLock()
		for k, e := range sh.m {
			if e.exp > now {
				items = append(items, item{k, clone(e.val), time.Duration(e.exp - now)})
			}
		}
		sh.mu.RUnlock()
		for _, it := range items {
			fn(it.key, it.val, it.ttl)
		}
	}
}
