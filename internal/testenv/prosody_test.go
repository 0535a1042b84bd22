package testenv

import (
	"context"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

func TestStartProsody(t *testing.T) {
	t.Parallel()
	s := StartProsody(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	sess, err := xmpp.Login(ctx, s.XMPP(), s.AdminJID.Localpart(), s.AdminPassword, nil)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	sess.Close()
}

func TestProsodyKillRestart(t *testing.T) {
	t.Parallel()
	s := StartProsody(t, Options{Mode: ModeIBR})
	pid := s.PID()
	s.Kill()
	if s.PID() != 0 {
		t.Error("PID after Kill")
	}
	if err := syscallKill0(pid); err == nil {
		t.Errorf("process %d still exists after Kill", pid)
	}
	s.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	sess, err := xmpp.Login(ctx, s.XMPP(), s.AdminJID.Localpart(), s.AdminPassword, nil)
	if err != nil {
		t.Fatalf("admin login after kill+restart: %v", err)
	}
	sess.Close()
}
