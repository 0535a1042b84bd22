package testenv

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLockedBuffer(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestFakeClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewFakeClock(at)
	if !c.Now().Equal(at) {
		t.Fatalf("Now %v", c.Now())
	}
	c.Advance(time.Minute)
	c.Sleep(context.Background(), 2*time.Second)
	c.Sleep(context.Background(), 3*time.Second)
	if want := at.Add(time.Minute + 5*time.Second); !c.Now().Equal(want) {
		t.Errorf("Now %v, want %v", c.Now(), want)
	}
	if got := c.Slept(); !slices.Equal(got, []time.Duration{2 * time.Second, 3 * time.Second}) {
		t.Errorf("Slept %v", got)
	}
	var zero FakeClock
	zero.Advance(time.Hour)
	if zero.Now() != (time.Time{}).Add(time.Hour) {
		t.Errorf("zero clock: %v", zero.Now())
	}
}

func TestCountingReader(t *testing.T) {
	c := &CountingReader{R: strings.NewReader("0123456789")}
	buf := make([]byte, 4)
	if n, _ := c.Read(buf); n != 4 || c.N != 4 {
		t.Fatalf("read %d, counted %d", n, c.N)
	}
	if _, err := io.Copy(io.Discard, c); err != nil || c.N != 10 {
		t.Errorf("counted %d after the rest (%v), want 10", c.N, err)
	}
}
