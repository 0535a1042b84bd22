package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/account"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// hardEnv is the portal's handlers against a real Prosody (admin mode), with
// the real account manager, migrator, regulator, limiter and captchas on a
// memory store; the clock is fake, so padding and bans never wait.
type hardEnv struct {
	*env
	srv   *testenv.Server
	reg   *abuse.Regulator
	clock *testenv.FakeClock
	ctx   context.Context
}

const hardPW = "hardening Secret phrase 7"

// startHardEnv starts Prosody and the portal. The operator reserves "press".
func startHardEnv(t *testing.T) *hardEnv {
	t.Helper()
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	cfg := srv.XMPP()
	session := srv.Admin()
	st := newMem(t, 20_000)
	clock := testenv.NewFakeClock(time.Now())
	reg := abuse.NewRegulator(st, abuse.RegulatorOptions{Now: clock.Now, Secret: []byte("hardening secret 0123456789")})
	caps := handlers.UnitCaptchas(st)
	d, logs := handlers.UnitDeps(t, withClock(clock), handlers.WithRules(t, policy.Rules{Domain: srv.Domain, MinPassword: 10,
		Reserved: []string{srv.AdminJID.Localpart(), "press"}}))
	d.Signup, d.Captchas, d.XMPPTimeout = signup.NewAdmin(session, nil), caps, 10*time.Second
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(*abuse.Budgets) {}), Log: d.Log})
	d.Accounts = handlers.ManagerAccounts(account.New(account.Config{XMPP: cfg, Admin: session, Log: d.Log}))
	d.Regulator, d.MinResponse = reg, minResponse
	d.Migrator = &migrate.Service{Resolver: migrate.Resolver{Own: cfg}, MaxImportBytes: 1 << 20, Log: d.Log}
	d.ImportMaxBytes = 1 << 20
	return &hardEnv{env: &env{srv: serveDeps(t, d), st: st, caps: caps, logs: logs}, srv: srv, reg: reg, clock: clock, ctx: ctx}
}

func (e *hardEnv) create(t *testing.T, local string) {
	t.Helper()
	if err := e.srv.CreateUser(e.ctx, local, hardPW); err != nil {
		t.Fatalf("create %s: %v", local, err)
	}
}

func (e *hardEnv) canLogin(local, pw string) bool {
	s, err := xmpp.Login(e.ctx, e.srv.XMPP(), local, pw, nil)
	if err != nil {
		return false
	}
	s.Close()
	return true
}

// lockVia fails five times on /password for the address as typed.
func (e *hardEnv) lockVia(t *testing.T, typed ...string) {
	t.Helper()
	for i := 0; i < 5; i++ {
		addr := typed[i%len(typed)]
		if r, body := e.post(t, "/password", passwordForm(addr, fmt.Sprintf("wrong password %d", i), newPW), nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("failure %d (%s): status %d\n%s", i+1, addr, r.StatusCode, body)
		}
	}
}

func (e *hardEnv) locked(t *testing.T, bare string) bool {
	t.Helper()
	l, _, err := e.reg.Locked(e.ctx, bare)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// exportOf is a small export of user@host with one contact.
func exportOf(t *testing.T, host, user, contact string) []byte {
	t.Helper()
	u := &pie.User{Name: user, Roster: &pie.Roster{Items: []pie.RosterItem{{JID: contact, Name: "Friend", Subscription: "both"}}}}
	var buf bytes.Buffer
	if err := pie.NewWriter(&buf).WriteDocument(&pie.Document{Hosts: []*pie.Host{{JID: host, Users: []*pie.User{u}}}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *hardEnv) postImport(t *testing.T, fields map[string]string, file []byte) (int, string) {
	t.Helper()
	ct, body := multipartBody(t, fields, file)
	resp, err := http.Post(e.env.srv.URL+"/import", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *hardEnv) rosterHas(t *testing.T, local, contact string) bool {
	t.Helper()
	ex, err := migrate.OpenExport(e.ctx, e.srv.XMPP(), local, hardPW, migrate.ExportOptions{})
	if err != nil {
		t.Fatalf("open export of %s: %v", local, err)
	}
	defer ex.Close()
	var sb strings.Builder
	if _, err := ex.WriteTo(e.ctx, &sb); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(sb.String(), contact)
}

func (e *hardEnv) movedStatement(t *testing.T, local string) string {
	t.Helper()
	s, err := xmpp.Login(e.ctx, e.srv.XMPP(), local, hardPW, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := s.SendIQ(e.ctx, stanza.IQ{Type: stanza.GetIQ}, xmltree.NewElement(pie.NSPubSub, "pubsub").Add(xmltree.NewElement(pie.NSPubSub, "items", "node", migrate.NSMoved)).TokenReader())
	if err != nil {
		return ""
	}
	el, _ := xmltree.FromTokens(resp.TokenReader(), 20)
	return el.Child("", "items").Child("", "item").Child("", "moved").Child("", "new-jid").Text()
}

// TestHardening holds the entry points against the attacks that found holes
// (the hardening issue), against a real Prosody. Each subtest names its hole.
func TestHardening(t *testing.T) {
	e := startHardEnv(t)
	domain := e.srv.Domain

	// Hole 1: /import checked the lock of its target only when moving, and
	// its wrong guesses were never counted.
	t.Run("ImportHonoursLockout", func(t *testing.T) {
		e.create(t, "bob")
		e.lockVia(t, "bob")
		file := exportOf(t, domain, "bob", "friend-bob@example.net")
		status, body := e.postImport(t, map[string]string{"address": "bob", "password": hardPW, "lang": "en"}, file)
		if status != http.StatusForbidden {
			t.Fatalf("import into a locked account: status %d\n%s", status, body)
		}
		if e.rosterHas(t, "bob", "friend-bob@example.net") {
			t.Fatal("import into a locked account wrote to it")
		}
	})
	t.Run("ImportGuessesAreCounted", func(t *testing.T) {
		e.create(t, "carol")
		file := exportOf(t, domain, "carol", "friend-carol@example.net")
		for i := 0; i < 5; i++ {
			if status, body := e.postImport(t, map[string]string{"address": "carol", "password": fmt.Sprint("guess ", i), "lang": "en"}, file); status != http.StatusForbidden {
				t.Fatalf("guess %d: status %d\n%s", i, status, body)
			}
		}
		if !e.locked(t, "carol@"+domain) {
			t.Fatal("five wrong passwords on /import did not lock the account")
		}
	})

	// Hole 2: addresses spelled differently were different accounts.
	t.Run("SpellingsAreOneAccount", func(t *testing.T) {
		e.create(t, "alice")
		e.lockVia(t, "alice")
		file := exportOf(t, domain, "alice", "friend-alice@example.net")
		for _, spelling := range []string{"alice@" + strings.ToUpper(domain), "alice@" + domain + ".", "Alice@" + strings.ToUpper(domain[:1]) + domain[1:], " xmpp:ALICE@" + domain + " "} {
			status, body := e.postImport(t, map[string]string{"address": spelling, "password": hardPW, "lang": "en"}, file)
			if status != http.StatusForbidden {
				t.Errorf("%q while alice is locked: status %d\n%s", spelling, status, body)
			}
		}
		if e.rosterHas(t, "alice", "friend-alice@example.net") {
			t.Error("a spelling of a locked account was imported into")
		}
	})
	t.Run("ReservedInEverySpelling", func(t *testing.T) {
		admin := e.srv.AdminJID.Localpart()
		file := exportOf(t, domain, "someone", "friend-admin@example.net")
		for _, spelling := range []string{admin + "@" + strings.ToUpper(domain), admin + "@" + domain + ".", strings.ToUpper(admin)} {
			status, body := e.postImport(t, map[string]string{"address": spelling, "password": e.srv.AdminPassword, "lang": "en"}, file)
			if status != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be managed here") {
				t.Errorf("import into %q: status %d\n%s", spelling, status, body)
			}
		}
		// The old address of a "moved" import comes from the file: reserved
		// there too, whatever its spelling.
		e.create(t, "dora")
		moved := exportOf(t, strings.ToUpper(domain)+".", admin, "friend-admin@example.net")
		status, body := e.postImport(t, map[string]string{"address": "dora", "password": hardPW, "moved": "1", "old_password": e.srv.AdminPassword, "lang": "en"}, moved)
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be managed here") {
			t.Errorf("moved import from the admin account: status %d\n%s", status, body)
		}
		if got := e.movedStatement(t, "dora"); got != "" {
			t.Errorf("dora has a moved statement %q", got)
		}
	})

	// Hole 3: the moved statement was published before the new account's
	// password was proven, and the answers told which password was wrong.
	t.Run("MovedOnlyAfterBothPasswords", func(t *testing.T) {
		e.create(t, "erin")  // old account
		e.create(t, "frank") // new account
		file := exportOf(t, domain, "erin", "friend-erin@example.net")
		s1, b1 := e.postImport(t, map[string]string{"address": "frank", "password": "not frank's password", "moved": "1", "old_password": hardPW, "lang": "en"}, file)
		if s1 != http.StatusForbidden {
			t.Fatalf("wrong new password: status %d\n%s", s1, b1)
		}
		if got := e.movedStatement(t, "erin"); got != "" {
			t.Fatalf("moved statement %q published although the new account's password was wrong", got)
		}
		s2, b2 := e.postImport(t, map[string]string{"address": "frank", "password": hardPW, "moved": "1", "old_password": "not erin's password", "lang": "en"}, file)
		if s2 != s1 || b2 != b1 {
			t.Fatalf("the answers tell which password was wrong:\n%d %s\n---\n%d %s", s1, b1, s2, b2)
		}
		if e.rosterHas(t, "frank", "friend-erin@example.net") {
			t.Fatal("imported although the old account's password was wrong")
		}
	})

	// Hole 8: names the server folds together.
	t.Run("ServerFoldingAtSignup", func(t *testing.T) {
		for _, name := range []string{"preß", "PREß", "ᴀdmin", "ʀoot", "ssßx"} {
			id, ans := e.newCaptcha(t)
			r, body := e.post(t, "/register", signupForm(id, ans, name, hardPW), nil)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("sign-up as %q: status %d\n%s", name, r.StatusCode, body)
			}
		}
		if e.canLogin("press", hardPW) || e.canLogin("ssssx", hardPW) {
			t.Error("an account was created under a folded or reserved name")
		}
	})
	t.Run("ServerFoldingOneCounter", func(t *testing.T) {
		e.create(t, "strasse")
		e.lockVia(t, "straße", "STRASSE", "Straße", "strasse", "STRAßE")
		if !e.locked(t, "strasse@"+domain) {
			t.Fatal("five failures under spellings that log into strasse did not lock it")
		}
		if r, _ := e.post(t, "/password", passwordForm("strasse", hardPW, newPW), nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("locked account accepted: %d", r.StatusCode)
		}
	})
}
