package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// hangLimit bounds what ends by itself unless something hangs: the context of
// a whole test here, which starts (and restarts) a server. Restarting
// ejabberd took over 30 s with both cores busy.
const hangLimit = 5 * time.Minute

func TestStartEjabberd(t *testing.T) {
	t.Parallel()
	s := StartEjabberd(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	sess, err := xmpp.Login(ctx, s.XMPP(), s.AdminJID.Localpart(), s.AdminPassword, nil)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	sess.Close()

	// SIGKILL, then start again on the same data. (Recent writes may be lost:
	// ejabberd's Mnesia disc_only tables are dets files, repaired at start.)
	pid := s.PID()
	s.Kill()
	if err := syscallKill0(pid); err == nil {
		t.Errorf("Erlang VM %d still exists after Kill", pid)
	}
	s.Restart()
	sess, err = xmpp.Unauth(ctx, s.XMPP())
	if err != nil {
		t.Fatalf("stream after kill+restart: %v", err)
	}
	sess.Close()
}
