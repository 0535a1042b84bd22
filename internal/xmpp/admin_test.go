package xmpp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

const addUserNode = "http://jabber.org/protocol/admin#add-user"

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestAdminBackoff(t *testing.T) {
	t.Parallel()
	cfg := Config{Domain: "localhost", Addr: closedAddr(t), Timeout: time.Second}
	a := NewAdmin(cfg, jid.MustParse("portal-admin@localhost"), "pw", nil)
	defer a.Close()
	for i := 0; i < 6; i++ {
		a.Run(context.Background(), addUserNode, nil) // builds up failures
		a.mu.Lock()
		a.nextTry = time.Time{} // skip the wait, keep the count
		a.mu.Unlock()
	}
	a.Run(context.Background(), addUserNode, nil)
	// Hold the backoff for an hour, so that no stall of this machine can
	// end it before the calls below (backoff's lengths are TestBackoffBounds').
	a.mu.Lock()
	a.nextTry = time.Now().Add(time.Hour)
	a.mu.Unlock()
	// Now a short deadline cannot wait for the backoff: fail fast. Exact,
	// without a clock: the refusal that does not wait is ErrBackoff; a call
	// that waited would end with its context's error instead.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.Run(ctx, addUserNode, nil); KindOf(err) != Unavailable || !errors.Is(err, ErrBackoff) {
		t.Errorf("Run during backoff = %v, want the backoff refusal", err)
	}
	if err := a.Check(ctx, addUserNode); KindOf(err) != Unavailable || !errors.Is(err, ErrBackoff) {
		t.Errorf("Check during backoff = %v, want the backoff refusal", err)
	}
}

func TestBackoffBounds(t *testing.T) {
	for n := 0; n < 100; n++ {
		d := backoff(n, 200*time.Millisecond, 10*time.Second)
		exp := 200 * time.Millisecond
		for i := 1; i < n && exp < 10*time.Second; i++ {
			exp *= 2
		}
		if exp > 10*time.Second {
			exp = 10 * time.Second
		}
		if d < exp/2 || d > exp {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", n, d, exp/2, exp)
		}
	}
}

// TestAdminBackoffAllowsFastRecovery: however long the server was down, the
// admin session tries again at most AdminBackoffMax after the last failure,
// which leaves time for the connection and login within the 5 s the portal
// has to recover after the server is back.
func TestAdminBackoffAllowsFastRecovery(t *testing.T) {
	const recovery, login = 5 * time.Second, 1500 * time.Millisecond
	for n := 0; n < 1000; n++ {
		if d := backoff(n, adminBackoffMin, AdminBackoffMax); d+login > recovery {
			t.Fatalf("after %d failures the next attempt waits %v: recovery could take longer than %v", n, d, recovery)
		}
	}
}
