package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestServers runs the same suite against real Prosody and real ejabberd
// (admin mode; ejabberd with password_strength 32), one start per server.
func TestServers(t *testing.T) {
	testenv.EachServer(t, testenv.Options{Mode: testenv.ModeAdmin, PasswordStrength: 32}, suite)
}

var userSeq atomic.Int64

func suite(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := srv.XMPP()
	admin := srv.Admin()
	clock := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logs := &testenv.LockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Every login of the manager dials once: the dials are the logins, each
	// a password hash on the server.
	var logins atomic.Int64
	mcfg := cfg
	mcfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		logins.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	mgr := New(Config{XMPP: mcfg, Admin: admin, EndSessions: true, StatsCache: time.Minute, Now: clock.Now, Log: log})

	const pw1, pw2 = "first Secret phrase 1", "second Secret phrase 2"
	newUser := func(t *testing.T) string {
		t.Helper()
		u := fmt.Sprintf("acct%d", userSeq.Add(1))
		if err := srv.CreateUser(ctx, u, pw1); err != nil {
			t.Fatalf("create %s: %v", u, err)
		}
		return u
	}
	login := func(u, pw string) error {
		s, err := mgr.Login(ctx, u, pw)
		if err != nil {
			return err
		}
		return s.Close()
	}
	mustLogin := func(t *testing.T, u, pw string) {
		t.Helper()
		if err := login(u, pw); err != nil {
			t.Fatalf("login %s: %v", u, err)
		}
	}
	mustRefuse := func(t *testing.T, u, pw string) {
		t.Helper()
		if err := login(u, pw); !errors.Is(err, xmpp.Auth) {
			t.Fatalf("login %s: %v, want Auth", u, err)
		}
	}
	// change and remove are the flows as the web layer runs them: the
	// user's one login, then the action on that stream.
	change := func(u, old, new string) error {
		s, err := mgr.Login(ctx, u, old)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.ChangePassword(ctx, new)
	}
	remove := func(u, pw string) error {
		s, err := mgr.Login(ctx, u, pw)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Delete(ctx)
	}

	t.Run("verify", func(t *testing.T) {
		u := newUser(t)
		mustLogin(t, u, pw1)
		mustRefuse(t, u, pw2)              // wrong password
		mustRefuse(t, "nosuchuser"+u, pw1) // unknown user
		mustRefuse(t, u, "")               // empty password: nothing sent
		down := New(Config{XMPP: xmpp.Config{Domain: srv.Domain, Addr: testenv.ClosedAddr(t), TLS: cfg.TLS, Timeout: 2 * time.Second}})
		if _, err := down.Login(ctx, u, pw1); !errors.Is(err, xmpp.Unavailable) || errors.Is(err, xmpp.Auth) {
			t.Errorf("server down: %v, want Unavailable only", err)
		}
	})

	t.Run("change password", func(t *testing.T) {
		u := newUser(t)
		before := logins.Load()
		if err := change(u, pw1, pw2); err != nil {
			t.Fatalf("change: %v", err)
		}
		// One login per action: the user's, and one to verify the result.
		if n := logins.Load() - before; n != 2 {
			t.Errorf("a password change cost %d logins, want 2", n)
		}
		mustRefuse(t, u, pw1)
		mustLogin(t, u, pw2)
		// In-band (XEP-0077), not the admin fallback.
		if l := logs.String(); !strings.Contains(l, "account.password_changed") || strings.Contains(l, "refused_inband") {
			t.Errorf("log:\n%s", l)
		}
	})

	t.Run("change with wrong current password", func(t *testing.T) {
		u := newUser(t)
		if err := change(u, pw2, "third Secret phrase 3"); !errors.Is(err, xmpp.Auth) {
			t.Fatalf("change: %v, want Auth", err)
		}
		if err := change("nosuchuser"+u, pw1, pw2); !errors.Is(err, xmpp.Auth) {
			t.Fatalf("change for unknown user: %v, want Auth", err)
		}
		mustLogin(t, u, pw1)
	})

	t.Run("change refused by policy", func(t *testing.T) {
		if srv.Name != "ejabberd" {
			t.Skip("Prosody 0.12 has no password policy")
		}
		u := newUser(t)
		err := change(u, pw1, "abc")
		if !errors.Is(err, xmpp.PasswordPolicy) {
			t.Fatalf("weak password: %v, want PasswordPolicy", err)
		}
		mustLogin(t, u, pw1)
		mustRefuse(t, u, "abc")
	})

	t.Run("end sessions", func(t *testing.T) {
		u := newUser(t)
		s, err := xmpp.Login(ctx, cfg, u, pw1, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !s.Alive() {
			t.Fatal("fresh session not alive")
		}
		if err := mgr.EndOtherSessions(ctx, u); err != nil {
			t.Fatalf("end sessions: %v", err)
		}
		waitClosed(t, s)
		noAdmin := New(Config{XMPP: cfg})
		if err := noAdmin.EndOtherSessions(ctx, u); !errors.Is(err, xmpp.NotAvailable) {
			t.Errorf("without admin: %v", err)
		}
	})

	// Prosody 0.12 ends the other sessions on a password change by itself;
	// ejabberd 23.01 does not, so there only end-user-session does it.
	t.Run("sessions ended after password change", func(t *testing.T) {
		u := newUser(t)
		s, err := xmpp.Login(ctx, cfg, u, pw1, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := change(u, pw1, pw2); err != nil {
			t.Fatalf("change: %v", err)
		}
		waitClosed(t, s)
		mustLogin(t, u, pw2)
	})

	t.Run("delete", func(t *testing.T) {
		u := newUser(t)
		if err := remove(u, pw2); !errors.Is(err, xmpp.Auth) {
			t.Fatalf("delete with wrong password: %v, want Auth", err)
		}
		mustLogin(t, u, pw1)
		if err := remove("nosuchuser"+u, pw1); !errors.Is(err, xmpp.Auth) {
			t.Fatalf("delete unknown user: %v, want Auth", err)
		}
		s, err := xmpp.Login(ctx, cfg, u, pw1, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		before := logins.Load()
		if err := remove(u, pw1); err != nil {
			t.Fatalf("delete: %v", err)
		}
		// One login per action: the user's, and one to see it refused.
		if n := logins.Load() - before; n != 2 {
			t.Errorf("a deletion cost %d logins, want 2", n)
		}
		mustRefuse(t, u, pw1)
		waitClosed(t, s)
		if l := logs.String(); !strings.Contains(l, "msg=account.deleted method=ibr") {
			t.Errorf("not deleted in-band; log:\n%s", l)
		}
		// The name is free again.
		if err := srv.CreateUser(ctx, u, pw2); err != nil {
			t.Fatalf("create %s again: %v", u, err)
		}
		mustLogin(t, u, pw2)
		mustRefuse(t, u, pw1)
	})

	// The admin fallbacks (used when a server refuses XEP-0077 in-band; the
	// shipped configurations allow it, so they are exercised directly).
	t.Run("admin fallback commands", func(t *testing.T) {
		u := newUser(t)
		if e := mgr.adminChangePassword(ctx, u, pw2); e != nil {
			t.Fatalf("change-user-password: %v", e)
		}
		mustRefuse(t, u, pw1)
		mustLogin(t, u, pw2)
		if e := mgr.adminDelete(ctx, u); e != nil {
			t.Fatalf("delete-user: %v", e)
		}
		mustRefuse(t, u, pw2)
	})

	t.Run("stats", func(t *testing.T) {
		st := mgr.Stats(ctx)
		if st.Unreachable {
			t.Fatalf("stats: unreachable")
		}
		// Both servers give both numbers: ejabberd by itself, Prosody 0.12
		// with the shipped mod_portal_stats (deploy/prosody/modules).
		if !st.Registered.Available || st.Registered.Value < 2 || !st.Online.Available {
			t.Fatalf("%s stats %+v", srv.Name, st)
		}
		before, online := st.Registered.Value, st.Online.Value
		u := newUser(t)
		// Two sessions of one account are two connections.
		for range 2 {
			c, err := xmpp.Login(ctx, cfg, u, pw1, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Send(ctx, xmltree.NewElement("jabber:client", "presence").TokenReader()); err != nil {
				t.Fatal(err)
			}
		}
		if again := mgr.Stats(ctx); again.Registered.Value != before || !again.At.Equal(st.At) {
			t.Errorf("not cached: %+v then %+v", st, again)
		}
		clock.Advance(time.Minute)
		fresh := mgr.Stats(ctx)
		if fresh.Registered.Value != before+1 {
			t.Errorf("after the cache time: %d registered, want %d", fresh.Registered.Value, before+1)
		}
		if fresh.Online.Value < online+2 {
			t.Errorf("online %d with two more sessions, was %d", fresh.Online.Value, online)
		}
		noAdmin := New(Config{XMPP: cfg}).Stats(ctx)
		if noAdmin.Registered.Available || noAdmin.Online.Available {
			t.Errorf("without admin: %+v", noAdmin)
		}
	})
}

// waitClosed waits until the server has closed s (a hang limit).
func waitClosed(t *testing.T, s *xmpp.Conn) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(time.Minute):
		t.Fatal("the session was not ended")
	}
}
