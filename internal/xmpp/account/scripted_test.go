package account

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/xmpptest"
)

// The flows against a scripted server (package xmpptest): fast, no real
// server. The requests are the ones Prosody 0.12 and ejabberd 23.01 get and
// the answers are theirs (recorded through a proxy in front of the servers
// the integration suite starts). Every Dial of the scripted server is one
// login: a change costs 2, a deletion 2, a refusal by the server 1.

const (
	alice   = "alice@example.org"
	oldPass = "first Secret phrase 1"
	newPass = "second Secret phrase 2"
)

// fakeAdmin is a Commander: it offers the forms the servers send (Prosody's
// for delete-user and end-user-session: accountjids, jid-multi; ejabberd's
// change-user-password: accountjid, password), lets fill set them and
// hands the filled form to answer.
type fakeAdmin struct {
	mu     sync.Mutex
	calls  []string
	answer func(node string, d *form.Data) (xmpp.CommandResult, error)
}

func (f *fakeAdmin) Run(ctx context.Context, node string, fill func(*form.Data) error) (xmpp.CommandResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, strings.TrimPrefix(node, "http://jabber.org/protocol/admin#"))
	answer := f.answer
	f.mu.Unlock()
	var d *form.Data
	switch node {
	case NodeChangePassword:
		d = form.New(form.Hidden("FORM_TYPE", form.Value("http://jabber.org/protocol/admin")), form.JID("accountjid"), form.TextPrivate("password"))
	case NodeDeleteUser, NodeEndUserSession:
		d = form.New(form.Hidden("FORM_TYPE", form.Value("http://jabber.org/protocol/admin")), form.JIDMulti("accountjids"))
	}
	if fill != nil {
		if d == nil {
			return xmpp.CommandResult{}, errors.New("fakeAdmin: no form for " + node)
		}
		if err := fill(d); err != nil {
			return xmpp.CommandResult{}, err
		}
	}
	if answer == nil {
		return xmpp.CommandResult{Node: node, Status: "completed"}, nil
	}
	return answer(node, d)
}

func (f *fakeAdmin) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// accountOf reads the account field of a filled admin form.
func accountOf(d *form.Data) string {
	if j, ok := d.GetJID("accountjid"); ok {
		return j.String()
	}
	if js, ok := d.GetJIDs("accountjids"); ok && len(js) == 1 {
		return js[0].String()
	}
	return ""
}

type scripted struct {
	srv  *xmpptest.Server
	mgr  *Manager
	logs *testenv.LockedBuffer
}

// newScripted is a Manager on a scripted server where alice has oldPass;
// admin may be nil.
func newScripted(t *testing.T, admin Commander) scripted {
	t.Helper()
	srv := xmpptest.New(t)
	srv.AddAccount(alice, oldPass)
	logs := &testenv.LockedBuffer{}
	cfg := Config{XMPP: srv.Config("example.org"), Admin: admin, Log: slog.New(slog.NewTextHandler(logs, nil))}
	if admin != nil {
		cfg.EndSessions = true
	}
	return scripted{srv: srv, mgr: New(cfg), logs: logs}
}

// session logs alice in with oldPass: the flow's one login.
func (s scripted) session(t *testing.T) *Session {
	t.Helper()
	se, err := s.mgr.Login(context.Background(), "alice", oldPass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { se.Close() })
	return se
}

func (s scripted) logins(t *testing.T, want int) {
	t.Helper()
	if n := s.srv.Dials(); n != want {
		t.Errorf("the flow cost %d logins, want %d", n, want)
	}
}

// changeRequest is XEP-0077's password change as the servers get it.
func changeRequest(pw string) xmpptest.Exchange {
	return xmpptest.Exchange{From: alice, Type: "set", To: "example.org",
		Payload: `<query xmlns="jabber:iq:register"><username>alice</username><password>` + pw + `</password></query>`}
}

// removeRequest is XEP-0077's account removal as the servers get it.
func removeRequest() xmpptest.Exchange {
	return xmpptest.Exchange{From: alice, Type: "set", To: "example.org", Payload: `<query xmlns="jabber:iq:register"><remove/></query>`}
}

func TestChangePasswordScripted(t *testing.T) {
	ctx := context.Background()
	// The server changes the password and says so (both servers: an empty
	// result); one fresh login with the new password confirms it.
	t.Run("in-band", func(t *testing.T) {
		admin := &fakeAdmin{}
		s := newScripted(t, admin)
		ex := changeRequest(newPass)
		ex.Do = func() { s.srv.SetPassword(alice, newPass) }
		s.srv.Expect(ex)
		if err := s.session(t).ChangePassword(ctx, newPass); err != nil {
			t.Fatalf("change: %v", err)
		}
		s.logins(t, 2)
		if n := s.srv.Logins(alice); n != 2 {
			t.Errorf("%d logins of alice, want the session's and the check's", n)
		}
		// The other sessions are ended (Config.EndSessions); no fallback.
		if got := admin.Calls(); !slices.Equal(got, []string{"end-user-session"}) {
			t.Errorf("admin commands %v, want end-user-session only", got)
		}
		if l := s.logs.String(); !strings.Contains(l, "account.password_changed") || strings.Contains(l, "refused_inband") {
			t.Errorf("log:\n%s", l)
		}
	})

	// ejabberd's password_strength refuses it: the policy's answer, never
	// the admin fallback (that would bypass the policy), no second login.
	t.Run("policy refusal", func(t *testing.T) {
		admin := &fakeAdmin{}
		s := newScripted(t, admin)
		ex := changeRequest("abc")
		ex.Error = `<query xmlns='jabber:iq:register'><username>alice</username><password>abc</password></query>` +
			xmpptest.StanzaError("modify", "not-acceptable", "The password is too weak")
		s.srv.Expect(ex)
		err := s.session(t).ChangePassword(ctx, "abc")
		if !errors.Is(err, xmpp.PasswordPolicy) {
			t.Fatalf("weak password: %v, want PasswordPolicy", err)
		}
		if e := xmpp.AsError(err); e.Condition != "not-acceptable" || e.Text != "The password is too weak" {
			t.Errorf("error %+v", e)
		}
		s.logins(t, 1)
		if got := admin.Calls(); len(got) != 0 {
			t.Errorf("admin commands %v after a policy refusal", got)
		}
		if pw, _ := s.srv.Password(alice); pw != oldPass {
			t.Errorf("password changed to %q", pw)
		}
	})

	// The server does not allow the change in-band (ejabberd's access rule:
	// forbidden): change-user-password as the admin, then the check login.
	t.Run("forbidden, admin fallback", func(t *testing.T) {
		admin := &fakeAdmin{}
		s := newScripted(t, admin)
		admin.answer = func(node string, d *form.Data) (xmpp.CommandResult, error) {
			if node == NodeChangePassword {
				pw, _ := d.GetString("password")
				if acct := accountOf(d); acct != alice {
					t.Errorf("change-user-password for %q", acct)
				}
				s.srv.SetPassword(alice, pw)
			}
			return xmpp.CommandResult{Node: node, Status: "completed"}, nil
		}
		ex := changeRequest(newPass)
		ex.Error = xmpptest.StanzaError("auth", "forbidden", "Access denied by service policy")
		s.srv.Expect(ex)
		if err := s.session(t).ChangePassword(ctx, newPass); err != nil {
			t.Fatalf("change: %v", err)
		}
		s.logins(t, 2)
		if got := admin.Calls(); !slices.Equal(got, []string{"change-user-password", "end-user-session"}) {
			t.Errorf("admin commands %v", got)
		}
		if pw, _ := s.srv.Password(alice); pw != newPass {
			t.Errorf("password %q, want the new one", pw)
		}
		if l := s.logs.String(); !strings.Contains(l, "account.password_change_refused_inband condition=forbidden fallback=admin") {
			t.Errorf("log:\n%s", l)
		}
	})

	t.Run("forbidden, no admin", func(t *testing.T) {
		s := newScripted(t, nil)
		ex := changeRequest(newPass)
		ex.Error = xmpptest.StanzaError("auth", "forbidden", "Access denied by service policy")
		s.srv.Expect(ex)
		if err := s.session(t).ChangePassword(ctx, newPass); !errors.Is(err, xmpp.NotAllowed) {
			t.Fatalf("change: %v, want NotAllowed", err)
		}
		s.logins(t, 1)
	})

	// The answer is lost (the connection dies after the request): the
	// check login decides whether the change happened.
	t.Run("lost answer, changed", func(t *testing.T) {
		s := newScripted(t, nil)
		ex := changeRequest(newPass)
		ex.Do = func() { s.srv.SetPassword(alice, newPass) }
		ex.Lost = true
		s.srv.Expect(ex)
		if err := s.session(t).ChangePassword(ctx, newPass); err != nil {
			t.Fatalf("change: %v, want success (the new password logs in)", err)
		}
		s.logins(t, 2)
		if l := s.logs.String(); !strings.Contains(l, "account.password_change_unanswered") || !strings.Contains(l, "account.password_changed") {
			t.Errorf("log:\n%s", l)
		}
	})

	t.Run("lost answer, not changed", func(t *testing.T) {
		s := newScripted(t, nil)
		ex := changeRequest(newPass)
		ex.Lost = true
		s.srv.Expect(ex)
		err := s.session(t).ChangePassword(ctx, newPass)
		if !errors.Is(err, xmpp.Unavailable) {
			t.Fatalf("change: %v, want Unavailable", err)
		}
		s.logins(t, 2)
		if pw, _ := s.srv.Password(alice); pw != oldPass {
			t.Errorf("password changed to %q", pw)
		}
	})

	// The server says yes, but the new password does not log in.
	t.Run("not verified", func(t *testing.T) {
		s := newScripted(t, nil)
		s.srv.Expect(changeRequest(newPass))
		if err := s.session(t).ChangePassword(ctx, newPass); !errors.Is(err, xmpp.NotVerified) {
			t.Fatalf("change: %v, want NotVerified", err)
		}
		s.logins(t, 2)
	})

	// Refused before anything is sent.
	t.Run("empty", func(t *testing.T) {
		s := newScripted(t, nil)
		if err := s.session(t).ChangePassword(ctx, ""); !errors.Is(err, xmpp.PasswordPolicy) {
			t.Fatalf("empty password: %v", err)
		}
		s.logins(t, 1)
	})
}

func TestDeleteScripted(t *testing.T) {
	ctx := context.Background()
	// Prosody's answer: the result, then the stream ends with
	// not-authorized "Account deleted"; the check login is refused.
	t.Run("in-band", func(t *testing.T) {
		admin := &fakeAdmin{}
		s := newScripted(t, admin)
		ex := removeRequest()
		ex.Do = func() { s.srv.RemoveAccount(alice) }
		ex.Close, ex.StreamError = true, xmpptest.StreamError("not-authorized", "Account deleted")
		s.srv.Expect(ex)
		if err := s.session(t).Delete(ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		s.logins(t, 2)
		if n := s.srv.Logins(alice); n != 1 {
			t.Errorf("%d successful logins of alice, want 1 (the check is refused)", n)
		}
		if got := admin.Calls(); !slices.Equal(got, []string{"end-user-session"}) {
			t.Errorf("admin commands %v", got)
		}
		if l := s.logs.String(); !strings.Contains(l, "msg=account.deleted method=ibr") {
			t.Errorf("log:\n%s", l)
		}
	})

	// ejabberd's answer: the result, then a conflict "User removed".
	t.Run("in-band, ejabberd", func(t *testing.T) {
		s := newScripted(t, nil)
		ex := removeRequest()
		ex.Do = func() { s.srv.RemoveAccount(alice) }
		ex.Close, ex.StreamError = true, xmpptest.StreamError("conflict", "User removed")
		s.srv.Expect(ex)
		if err := s.session(t).Delete(ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		s.logins(t, 2)
	})

	// The server refuses in-band removal: delete-user as the admin.
	t.Run("refused, admin fallback", func(t *testing.T) {
		admin := &fakeAdmin{}
		s := newScripted(t, admin)
		admin.answer = func(node string, d *form.Data) (xmpp.CommandResult, error) {
			if node == NodeDeleteUser {
				if acct := accountOf(d); acct != alice {
					t.Errorf("delete-user for %q", acct)
				}
				s.srv.RemoveAccount(alice)
			}
			return xmpp.CommandResult{Node: node, Status: "completed"}, nil
		}
		ex := removeRequest()
		ex.Error = xmpptest.StanzaError("cancel", "not-allowed", "")
		s.srv.Expect(ex)
		if err := s.session(t).Delete(ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		s.logins(t, 2)
		if got := admin.Calls(); !slices.Equal(got, []string{"delete-user", "end-user-session"}) {
			t.Errorf("admin commands %v", got)
		}
		if l := s.logs.String(); !strings.Contains(l, "msg=account.deleted method=admin") {
			t.Errorf("log:\n%s", l)
		}
	})

	t.Run("refused, no admin", func(t *testing.T) {
		s := newScripted(t, nil)
		ex := removeRequest()
		ex.Error = xmpptest.StanzaError("cancel", "not-allowed", "")
		s.srv.Expect(ex)
		if err := s.session(t).Delete(ctx); !errors.Is(err, xmpp.NotAllowed) {
			t.Fatalf("delete: %v, want NotAllowed", err)
		}
		s.logins(t, 1)
		if _, ok := s.srv.Password(alice); !ok {
			t.Error("account gone")
		}
	})

	// The server says yes but the account still logs in.
	t.Run("still logs in", func(t *testing.T) {
		s := newScripted(t, nil)
		s.srv.Expect(removeRequest())
		if err := s.session(t).Delete(ctx); !errors.Is(err, xmpp.NotVerified) {
			t.Fatalf("delete: %v, want NotVerified", err)
		}
		s.logins(t, 2)
		if l := s.logs.String(); !strings.Contains(l, "account.delete_not_verified") {
			t.Errorf("log:\n%s", l)
		}
	})

	// The connection dies before the answer: the check login decides.
	t.Run("lost answer, deleted", func(t *testing.T) {
		s := newScripted(t, nil)
		ex := removeRequest()
		ex.Do = func() { s.srv.RemoveAccount(alice) }
		ex.Lost = true
		s.srv.Expect(ex)
		if err := s.session(t).Delete(ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		s.logins(t, 2)
	})
}

// statsAdmin answers the counting commands with the given values ("":
// the field is missing) or errors.
type statsAdmin struct {
	fakeAdmin
	mu                 sync.Mutex
	registered, online string
	regErr, onErr      error
}

func newStatsAdmin() *statsAdmin {
	a := &statsAdmin{registered: "5", online: "2"}
	a.answer = func(node string, _ *form.Data) (xmpp.CommandResult, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		field, value, err := "registeredusersnum", a.registered, a.regErr
		if node == NodeOnlineUsers {
			field, value, err = "onlineusersnum", a.online, a.onErr
		}
		if err != nil {
			return xmpp.CommandResult{}, err
		}
		r := xmpp.CommandResult{Node: node, Status: "completed"}
		if value != "" {
			r.Fields = []xmpp.Field{{Var: "FORM_TYPE", Type: "hidden", Values: []string{"http://jabber.org/protocol/admin"}}, {Var: field, Values: []string{value}}}
		}
		return r, nil
	}
	return a
}

func (a *statsAdmin) set(registered, online string, regErr, onErr error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.registered, a.online, a.regErr, a.onErr = registered, online, regErr, onErr
}

var (
	// Prosody 0.12's answer to both counting commands.
	notOffered = &xmpp.Error{Kind: xmpp.NotAllowed, Op: "iq", Condition: "service-unavailable"}
	// The admin session cannot reach the server.
	unreachable = &xmpp.Error{Kind: xmpp.Unavailable, Op: "dial", Err: errors.New("connection refused")}
)

func TestStatsCountsAndCaches(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	admin := newStatsAdmin()
	m := New(Config{XMPP: xmpp.Config{Domain: "example.org"}, Admin: admin, StatsCache: time.Minute, Now: clock.Now})
	calls := func() int { return len(admin.Calls()) }

	st := m.Stats(ctx)
	if st != (Stats{Registered: Count{5, true}, Online: Count{2, true}, At: clock.Now()}) {
		t.Fatalf("stats %+v", st)
	}
	if got := admin.Calls(); !slices.Equal(got, []string{"get-registered-users-num", "get-online-users-num"}) {
		t.Fatalf("commands %v", got)
	}

	// Cached for StatsCache by the clock: no command, the same numbers.
	admin.set("6", "3", nil, nil)
	clock.Advance(time.Minute - time.Second)
	if again := m.Stats(ctx); again != st || calls() != 2 {
		t.Fatalf("not cached: %+v, %d commands", again, calls())
	}
	clock.Advance(time.Second)
	if fresh := m.Stats(ctx); fresh.Registered.Value != 6 || fresh.Online.Value != 3 || !fresh.At.Equal(clock.Now()) || calls() != 4 {
		t.Fatalf("after the cache time: %+v, %d commands", fresh, calls())
	}

	// Concurrent callers share one refresh.
	clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { m.Stats(ctx) })
	}
	wg.Wait()
	if calls() != 6 {
		t.Fatalf("%d commands after 8 concurrent callers, want 6", calls())
	}

	// Prosody 0.12 does not offer the numbers: not available, not a
	// failure, cached like an answer.
	admin.set("", "", notOffered, notOffered)
	clock.Advance(time.Minute)
	st = m.Stats(ctx)
	if st.Registered.Available || st.Online.Available || st.Unreachable {
		t.Fatalf("not offered: %+v", st)
	}
	clock.Advance(time.Minute - time.Second)
	if m.Stats(ctx); calls() != 8 {
		t.Fatalf("a refusal was not cached: %d commands", calls())
	}

	// Odd answers are never a guess.
	for _, tc := range []struct{ registered, online string }{{"many", "-1"}, {"", " 7 "}} {
		admin.set(tc.registered, tc.online, nil, nil)
		clock.Advance(time.Minute)
		st = m.Stats(ctx)
		if st.Registered.Available || st.Unreachable {
			t.Errorf("registered %q: %+v", tc.registered, st)
		}
		wantOnline := tc.online == " 7 "
		if st.Online.Available != wantOnline || (wantOnline && st.Online.Value != 7) {
			t.Errorf("online %q: %+v", tc.online, st)
		}
	}

	// One number unreachable: not Unreachable (the server answered the other).
	admin.set("5", "", nil, unreachable)
	clock.Advance(time.Minute)
	if st = m.Stats(ctx); st.Unreachable || !st.Registered.Available || st.Online.Available {
		t.Errorf("one unreachable: %+v", st)
	}
}

// A server that cannot be asked is cached for at most 30 s, however long
// StatsCache is, so the page recovers soon after the server does.
func TestStatsUnreachableCachedBriefly(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	admin := newStatsAdmin()
	admin.set("", "", unreachable, unreachable)
	m := New(Config{XMPP: xmpp.Config{Domain: "example.org"}, Admin: admin, Now: clock.Now}) // StatsCache: 5 minutes
	if st := m.Stats(ctx); !st.Unreachable || st.Registered.Available || st.Online.Available {
		t.Fatalf("unreachable: %+v", st)
	}
	admin.set("5", "2", nil, nil)
	clock.Advance(maxFailureCache - time.Second)
	if st := m.Stats(ctx); !st.Unreachable || len(admin.Calls()) != 2 {
		t.Fatalf("failure not cached: %+v, %d commands", st, len(admin.Calls()))
	}
	clock.Advance(time.Second)
	if st := m.Stats(ctx); st.Unreachable || st.Registered.Value != 5 {
		t.Fatalf("after 30 s: %+v", st)
	}
	// A caller that gives up does not leave a failure in the cache.
	clock.Advance(DefaultStatsCacheTime)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if st := m.Stats(canceled); st.Unreachable {
		t.Fatalf("canceled caller: %+v", st)
	}
}

func TestStatsWithoutAdmin(t *testing.T) {
	m := New(Config{XMPP: xmpp.Config{Domain: "example.org"}})
	if st := m.Stats(context.Background()); st.Registered.Available || st.Online.Available || st.Unreachable {
		t.Fatalf("without admin: %+v", st)
	}
}

// The account field of the admin forms is filled whatever the server calls
// it (Prosody: accountjids, jid-multi; ejabberd: accountjid, jid-single).
func TestSetAccountJID(t *testing.T) {
	user := jid.MustParse(alice)
	for _, d := range []*form.Data{
		form.New(form.JIDMulti("accountjids")),
		form.New(form.JID("accountjid")),
		form.New(form.Text("accountjid")),
	} {
		if err := setAccountJID(d, user); err != nil || accountOf(d)+firstString(d) == "" {
			t.Errorf("form %v: %v", d, err)
		}
	}
	if err := setAccountJID(form.New(form.Text("user")), user); !errors.Is(err, xmpp.Protocol) {
		t.Errorf("no account field: %v", err)
	}
}

func firstString(d *form.Data) string {
	s, _ := d.GetString("accountjid")
	return s
}
