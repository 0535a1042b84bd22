package signup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// hangLimit bounds waits that end at once unless the code under test hangs.
// It is far above anything a busy machine adds and far below the hours a
// hang would last.
const hangLimit = 30 * time.Second

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
	// once, as unavailable, marked as never sent. "At once" without a clock:
	// the deadline is an hour away and no slot is ever freed, so an acquire
	// that waited would wait for an hour; it must return before the
	// deadline, and within a hang limit that only a hang reaches.
	short, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	refused := make(chan error, 1)
	go func() {
		_, err := ad.acquire(short, 2*time.Hour)
		refused <- err
	}()
	select {
	case err := <-refused:
		if xmpp.KindOf(err) != xmpp.Unavailable || !errors.Is(err, errBusy) {
			t.Fatalf("acquire when full with too little time = %v", err)
		}
		if short.Err() != nil {
			t.Fatal("the refusal came only after the caller's deadline: it waited")
		}
	case <-time.After(hangLimit):
		t.Fatalf("acquire when full with too little time still waits after %v: it must not wait", hangLimit)
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
	if errorClass(busy()) != "busy" {
		t.Error("errorClass does not name errBusy")
	}
}
