package provision

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAdmission(t *testing.T) {
	ad := newAdmission(2)
	ctx := context.Background()
	r1, err := ad.acquire(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ad.acquire(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// Full, and the caller's deadline leaves less than keep: refused at
	// once, as unavailable, marked as never sent.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ad.acquire(short, time.Second); KindOf(err) != KindUnavailable || !errors.Is(err, errBusy) {
		t.Fatalf("acquire when full with too little time = %v", err)
	} else if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("refusal took %v: it must not wait", d)
	}
	// A cancelled caller gives up too.
	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	if _, err := ad.acquire(gone, 0); !errors.Is(err, errBusy) {
		t.Fatalf("acquire with a cancelled context = %v", err)
	}

	// A waiting caller gets the slot a finished one releases.
	got := make(chan error, 1)
	go func() {
		r, err := ad.acquire(ctx, time.Second) // no deadline: waits
		if err == nil {
			r()
		}
		got <- err
	}()
	r1()
	if err := <-got; err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}
	r2()
	// Everything was given back: two fresh slots.
	for i := 0; i < 2; i++ {
		if _, err := ad.acquire(short, 0); err != nil {
			t.Fatalf("slot %d after release: %v", i, err)
		}
	}
	if errorClass(&Error{Kind: KindUnavailable, Err: errBusy}) != "busy" {
		t.Error("errorClass does not name errBusy")
	}
}
