package testenv

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"
)

// LockedBuffer is a buffer that several goroutines may write to at once
// (a logger's output while handlers, servers and the test run): an
// io.Writer whose String is what was written so far. The zero value is
// ready to use.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CountingReader counts the bytes read through it from R (how much of a
// body a handler or a parser took). N is read once the reading is over.
type CountingReader struct {
	R io.Reader
	N int64
}

// Read reads from R and adds what it got to N.
func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// FakeClock is a clock that only the test moves: Now stays where it is
// until Advance or Sleep, so nothing waits for wall time. Sleep has the
// signature of the sleepers the code takes (func(ctx, d)): it records d
// and moves the clock by d at once. It is safe for concurrent use; the
// zero value starts at the zero time.
type FakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

// NewFakeClock returns a clock set to at.
func NewFakeClock(at time.Time) *FakeClock { return &FakeClock{t: at} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Sleep records d and moves the clock forward by d, without waiting (ctx
// is not looked at: the sleep is over before it could end).
func (c *FakeClock) Sleep(_ context.Context, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
}

// Slept returns every d Sleep was called with, in order.
func (c *FakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}
