package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/account"
)

// fakeAccounts is the XMPP side: accounts in a map; every login takes
// loginTime on the fake clock (unknownTime for an unknown account).
type fakeAccounts struct {
	mu          sync.Mutex
	clock       *testenv.FakeClock
	users       map[string]string
	loginTime   time.Duration
	unknownTime time.Duration
	changeErr   error
	deleteErr   error
	stats       account.Stats
	calls       []string
}

func (f *fakeAccounts) login(local, pw string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	have, ok := f.users[local]
	if !ok {
		f.clock.Advance(f.unknownTime)
		return &xmpp.Error{Op: "login", Kind: xmpp.Auth}
	}
	f.clock.Advance(f.loginTime)
	if have != pw {
		return &xmpp.Error{Op: "login", Kind: xmpp.Auth}
	}
	return nil
}

func (f *fakeAccounts) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

// Login is the flow's one login; the fake session acts as the account.
func (f *fakeAccounts) Login(ctx context.Context, local, pw string) (handlers.Account, error) {
	f.record("login " + local)
	if err := f.login(local, pw); err != nil {
		return nil, err
	}
	return &fakeSession{f: f, local: local}, nil
}

type fakeSession struct {
	f     *fakeAccounts
	local string
}

func (s *fakeSession) ChangePassword(ctx context.Context, new string) error {
	f := s.f
	f.record("change " + s.local)
	if f.changeErr != nil {
		return f.changeErr
	}
	f.mu.Lock()
	f.users[s.local] = new
	f.mu.Unlock()
	return nil
}

func (s *fakeSession) Delete(ctx context.Context) error {
	f := s.f
	f.record("delete " + s.local)
	if f.deleteErr != nil {
		return f.deleteErr
	}
	f.mu.Lock()
	delete(f.users, s.local)
	f.mu.Unlock()
	return nil
}

func (s *fakeSession) Close() error { return nil }

func (f *fakeAccounts) Stats(ctx context.Context) account.Stats {
	f.record("stats")
	return f.stats
}

func (f *fakeAccounts) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeAccounts) password(local string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[local]
}

func (f *fakeAccounts) has(local string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.users[local]
	return ok
}

type manageEnv struct {
	*env
	accts *fakeAccounts
	clock *testenv.FakeClock
	reg   *abuse.Regulator
}

const (
	minResponse = time.Second
	goodPW      = "old Secret phrase 1"
	newPW       = "new Secret phrase 2"
)

// newManageEnv is the portal with the account pages: bob on fake accounts,
// the regulator and the limiter on a memory store, responses padded to
// minResponse on a fake clock.
func newManageEnv(t *testing.T) *manageEnv {
	t.Helper()
	st := newMem(t, 10_000)
	clock := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	accts := &fakeAccounts{clock: clock, users: map[string]string{"bob": goodPW}, loginTime: 80 * time.Millisecond, unknownTime: 5 * time.Millisecond}
	reg := abuse.NewRegulator(st, abuse.RegulatorOptions{Now: clock.Now})
	d, logs := handlers.UnitDeps(t, withClock(clock))
	d.Captchas, d.Signup = handlers.UnitCaptchas(st), &fakeProvisioner{created: map[string]string{}}
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(*abuse.Budgets) {}), Log: d.Log})
	d.Accounts, d.Regulator, d.MinResponse = accts, reg, minResponse
	d.Started, d.UploadExpiry = clock.Now().Add(-(26*time.Hour + 3*time.Minute)), "30 days"
	return &manageEnv{env: &env{srv: serveDeps(t, d), st: st, logs: logs}, accts: accts, clock: clock, reg: reg}
}

func passwordForm(addr, current, pw string) url.Values {
	return url.Values{"address": {addr}, "current": {current}, "password": {pw}, "password2": {pw}, "lang": {"en"}}
}

func deleteForm(addr, pw string) url.Values {
	return url.Values{"address": {addr}, "password": {pw}, "confirm": {addr}, "understand": {"yes"}, "lang": {"en"}}
}

// lock makes bob locked by five failed attempts.
func (e *manageEnv) lock(t *testing.T) {
	t.Helper()
	for i := 0; i < 5; i++ {
		if r, _ := e.post(t, "/password", passwordForm("bob", "wrong password "+string(rune('a'+i)), newPW), nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("attempt %d: status %d", i+1, r.StatusCode)
		}
	}
	if locked, _, _ := e.reg.Locked(context.Background(), "bob@example.test"); !locked {
		t.Fatal("bob is not locked after five failures")
	}
}

// TestCredentialFailuresAreUniform: an unknown account, a wrong password and
// a locked account (even with the right password) get the same status and the
// same page, after the same time.
func TestCredentialFailuresAreUniform(t *testing.T) {
	for _, flow := range []struct {
		path string
		form func(addr, pw string) url.Values
	}{
		{"/password", func(addr, pw string) url.Values { return passwordForm(addr, pw, newPW) }},
		{"/delete", deleteForm},
	} {
		t.Run(flow.path, func(t *testing.T) {
			type answer struct {
				status  int
				body    string
				elapsed time.Duration
			}
			try := func(setup func(e *manageEnv), pw string) (answer, *manageEnv) {
				e := newManageEnv(t)
				setup(e)
				start := e.clock.Now()
				r, body := e.post(t, flow.path, flow.form("bob", pw), nil)
				return answer{r.StatusCode, body, e.clock.Now().Sub(start)}, e
			}
			unknown, _ := try(func(e *manageEnv) { delete(e.accts.users, "bob") }, goodPW)
			wrong, _ := try(func(*manageEnv) {}, "not the password")
			locked, e := try(func(e *manageEnv) { e.lock(t) }, goodPW)

			if unknown.status != http.StatusForbidden {
				t.Fatalf("unknown account: status %d:\n%s", unknown.status, unknown.body)
			}
			if !strings.Contains(unknown.body, "The address or the password is not right") {
				t.Errorf("message missing:\n%s", unknown.body)
			}
			// Locking is a denial of service by design: the page says that
			// it stops only these forms, never the account.
			if !strings.Contains(unknown.body, "your chat account itself is not affected, and your app still signs in") {
				t.Errorf("the answer does not say that a lock leaves the account alone:\n%s", unknown.body)
			}
			for name, a := range map[string]answer{"wrong password": wrong, "locked": locked} {
				if a.status != unknown.status || a.body != unknown.body {
					t.Errorf("%s: status %d, body differs from the unknown-account answer:\n%s\n---\n%s", name, a.status, a.body, unknown.body)
				}
			}
			for name, a := range map[string]answer{"unknown": unknown, "wrong password": wrong, "locked": locked} {
				if a.elapsed != minResponse {
					t.Errorf("%s: answered after %s, want exactly %s", name, a.elapsed, minResponse)
				}
			}
			// Locked: the server was not even asked, and the right password
			// did not lift the lock.
			for _, c := range e.accts.Calls()[5:] {
				t.Errorf("server asked while locked: %s", c)
			}
			if l, _, _ := e.reg.Locked(context.Background(), "bob@example.test"); !l {
				t.Error("the right password lifted the lock")
			}
			if e.accts.password("bob") != goodPW {
				t.Error("account changed while locked")
			}
		})
	}
}

// TestResponseFloor: the padding is measured from the start of the request,
// also for a success, and a slow server is not padded further.
func TestResponseFloor(t *testing.T) {
	tests := []struct {
		name      string
		loginTime time.Duration
		pw        string
		status    int
		minTotal  time.Duration
		slept     time.Duration // total asked of the sleeper
	}{
		{"fast failure", 10 * time.Millisecond, "not the password", 403, minResponse, minResponse - 10*time.Millisecond},
		{"fast success", 10 * time.Millisecond, goodPW, 200, minResponse, minResponse - 10*time.Millisecond},
		{"slow failure", 3 * time.Second, "not the password", 403, 3 * time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newManageEnv(t)
			e.accts.loginTime = tc.loginTime
			start := e.clock.Now()
			r, body := e.post(t, "/password", passwordForm("bob", tc.pw, newPW), nil)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d:\n%s", r.StatusCode, body)
			}
			if got := e.clock.Now().Sub(start); got < tc.minTotal {
				t.Errorf("answered after %s, want at least %s", got, tc.minTotal)
			}
			var total time.Duration
			for _, d := range e.clock.Slept() {
				total += d
			}
			if total != tc.slept {
				t.Errorf("slept %s (%v), want %s", total, e.clock.Slept(), tc.slept)
			}
		})
	}
}

// TestLockoutAndRelease: five failures lock the account; after the ban the
// right password works again. No wall-clock waiting.
func TestLockoutAndRelease(t *testing.T) {
	e := newManageEnv(t)
	e.lock(t)
	if r, _ := e.post(t, "/password", passwordForm("Bob@Example.test", goodPW, newPW), nil); r.StatusCode != 403 {
		t.Fatalf("locked account (other spelling) accepted: %d", r.StatusCode)
	}
	e.clock.Advance(abuse.DefaultBan)
	r, body := e.post(t, "/password", passwordForm("bob", goodPW, newPW), nil)
	if r.StatusCode != 200 || !strings.Contains(body, "bob@example.test") {
		t.Fatalf("after the ban: status %d:\n%s", r.StatusCode, body)
	}
	if e.accts.password("bob") != newPW {
		t.Error("password not changed")
	}
}

func TestPasswordChange(t *testing.T) {
	tests := []struct {
		name      string
		form      url.Values
		changeErr error
		status    int
		contains  string
		changed   bool
		asked     bool // the server was asked at all
	}{
		{"success", passwordForm("bob@example.test", goodPW, newPW), nil, 200, "The portal checked it", true, true},
		{"address on another domain", passwordForm("bob@other.test", goodPW, newPW), nil, 422, "end in @example.test", false, false},
		{"empty address", passwordForm("", goodPW, newPW), nil, 422, "Please choose a username", false, false},
		{"reserved name", passwordForm("admin", goodPW, newPW), nil, 422, "reserved names", false, false},
		{"no current password", passwordForm("bob", "", newPW), nil, 422, "enter your current password", false, false},
		{"new too short", passwordForm("bob", goodPW, "short"), nil, 422, "at least 10 characters", false, false},
		{"new is common", passwordForm("bob", goodPW, "password123"), nil, 422, "most common passwords", false, false},
		{"new is the username", passwordForm("bob", goodPW, "bob12345678"), nil, 422, "must not be your username", false, false},
		{"new twice differs", func() url.Values {
			f := passwordForm("bob", goodPW, newPW)
			f.Set("password2", newPW+"x")
			return f
		}(), nil, 422, "do not match", false, false},
		{"same as current", passwordForm("bob", goodPW, goodPW), nil, 422, "same as the current one", false, false},
		{"server policy", passwordForm("bob", goodPW, newPW), &xmpp.Error{Kind: xmpp.PasswordPolicy}, 422, "refused this new password as too weak", false, true},
		{"server refuses", passwordForm("bob", goodPW, newPW), &xmpp.Error{Kind: xmpp.NotAllowed}, 502, "refused to change the password", false, true},
		{"not verified", passwordForm("bob", goodPW, newPW), &xmpp.Error{Kind: xmpp.NotVerified}, 502, "could not confirm it", false, true},
		{"server down", passwordForm("bob", goodPW, newPW), &xmpp.Error{Kind: xmpp.Unavailable}, 503, "cannot be reached", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newManageEnv(t)
			e.accts.changeErr = tc.changeErr
			r, body := e.post(t, "/password", tc.form, nil)
			if r.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("status %d (want %d), want %q in:\n%s", r.StatusCode, tc.status, tc.contains, body)
			}
			if changed := e.accts.password("bob") == newPW; changed != tc.changed {
				t.Errorf("changed = %v", changed)
			}
			if asked := len(e.accts.Calls()) > 0; asked != tc.asked {
				t.Errorf("server asked = %v (%v)", asked, e.accts.Calls())
			}
			if strings.Contains(body, goodPW) || strings.Contains(body, newPW) {
				t.Error("a password is echoed in the page")
			}
		})
	}
}

// TestDeleteNeedsConfirmation: without the address typed again, or without
// the box ticked, nothing is deleted and the server is not even asked.
func TestDeleteNeedsConfirmation(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(url.Values)
		status   int
		contains string
		deleted  bool
	}{
		{"everything given", func(url.Values) {}, 200, "The portal checked it: the account can no longer sign in", true},
		{"confirmation with domain", func(f url.Values) { f.Set("confirm", "BOB@example.test") }, 200, "Account deleted", true},
		{"no confirmation", func(f url.Values) { f.Del("confirm") }, 422, "does not match", false},
		{"other address typed again", func(f url.Values) { f.Set("confirm", "alice") }, 422, "does not match", false},
		{"box not ticked", func(f url.Values) { f.Del("understand") }, 422, "tick the box", false},
		{"box with another value", func(f url.Values) { f.Set("understand", "on") }, 422, "tick the box", false},
		{"no password", func(f url.Values) { f.Del("password") }, 422, "enter your current password", false},
		{"wrong password", func(f url.Values) { f.Set("password", "not the password") }, 403, "not right", false},
		{"other domain", func(f url.Values) { f.Set("address", "bob@other.test"); f.Set("confirm", "bob@other.test") }, 422, "end in @example.test", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newManageEnv(t)
			f := deleteForm("bob", goodPW)
			tc.edit(f)
			r, body := e.post(t, "/delete", f, nil)
			if r.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("status %d (want %d), want %q in:\n%s", r.StatusCode, tc.status, tc.contains, body)
			}
			if deleted := !e.accts.has("bob"); deleted != tc.deleted {
				t.Errorf("deleted = %v", deleted)
			}
			if tc.status == 422 && len(e.accts.Calls()) > 0 {
				t.Errorf("server asked for an incomplete form: %v", e.accts.Calls())
			}
		})
	}
}

func TestDeleteErrors(t *testing.T) {
	for _, tc := range []struct {
		err      error
		status   int
		contains string
	}{
		{&xmpp.Error{Kind: xmpp.NotVerified}, 502, "could not confirm that it is gone"},
		{&xmpp.Error{Kind: xmpp.NotAllowed}, 502, "refused to delete the account"},
		{&xmpp.Error{Kind: xmpp.Unavailable}, 503, "Nothing was deleted"},
	} {
		e := newManageEnv(t)
		e.accts.deleteErr = tc.err
		r, body := e.post(t, "/delete", deleteForm("bob", goodPW), nil)
		if r.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%v: status %d, want %d and %q:\n%s", tc.err, r.StatusCode, tc.status, tc.contains, body)
		}
	}
}

// TestManageCrossSitePostRefused: forms posted from another site change
// nothing and never reach the server.
func TestManageCrossSitePostRefused(t *testing.T) {
	for _, path := range []string{"/password", "/delete"} {
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site"},
			{"Sec-Fetch-Site": "same-site"},
			{"Origin": "https://evil.example"},
		} {
			e := newManageEnv(t)
			form := passwordForm("bob", goodPW, newPW)
			if path == "/delete" {
				form = deleteForm("bob", goodPW)
			}
			r, body := e.post(t, path, form, hdr)
			if r.StatusCode != 403 || !strings.Contains(body, "another web site") {
				t.Errorf("%s %v: status %d:\n%s", path, hdr, r.StatusCode, body)
			}
			if c := e.accts.Calls(); len(c) > 0 {
				t.Errorf("%s %v: server asked: %v", path, hdr, c)
			}
		}
		// Same-origin works (control).
		e := newManageEnv(t)
		form := passwordForm("bob", goodPW, newPW)
		if path == "/delete" {
			form = deleteForm("bob", goodPW)
		}
		if r, body := e.post(t, path, form, map[string]string{"Sec-Fetch-Site": "same-origin"}); r.StatusCode != 200 {
			t.Errorf("%s same-origin: %d\n%s", path, r.StatusCode, body)
		}
	}
}

// TestDeletePageIsHonest: the page says what is removed and what stays before
// the button, offers the export first, and says it deletes the XMPP account
// itself, in both languages.
func TestDeletePageIsHonest(t *testing.T) {
	e := newManageEnv(t)
	_, body := e.get(t, "/delete?lang=en")
	order := []string{
		"This deletes your XMPP chat account itself.",
		"Not data in this web portal",
		`href="/export?lang=en"`,
		"the account itself", "contact list", "message archive", "profile (vCard) and your avatar",
		"bookmarks", "waiting for you while you were offline", "PEP data",
		"What stays", "copies held by your contacts", "group chats", "until the server removes them after <span>30 days</span>",
		"anyone may register the same address again",
		`name="confirm"`, `name="understand"`, `<button type="submit" class="danger">`,
	}
	pos := 0
	for _, s := range order {
		i := strings.Index(body[pos:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", s, body)
		}
		pos += i
	}
	_, de := e.get(t, "/delete?lang=de")
	for _, s := range []string{"Damit löschen Sie Ihr XMPP-Chat-Konto selbst.", "Zuerst meine Daten exportieren", "endgültig"} {
		if !strings.Contains(de, s) {
			t.Errorf("German page lacks %q", s)
		}
	}
	_, acct := e.get(t, "/account")
	for _, s := range []string{`href="/password?lang=en"`, `href="/export?lang=en"`, `href="/delete?lang=en"`, `href="/stats?lang=en"`} {
		if !strings.Contains(acct, s) {
			t.Errorf("/account lacks %s", s)
		}
	}
}

func TestStatsPage(t *testing.T) {
	at := time.Date(2026, 3, 1, 11, 58, 0, 0, time.UTC)
	tests := []struct {
		name  string
		stats account.Stats
		want  []string
		not   []string
	}{
		{"ejabberd-like", account.Stats{Registered: account.Count{Value: 1234, Available: true}, Online: account.Count{Value: 56, Available: true}, At: at},
			[]string{`id="registered">1234<`, `id="online">56<`, "2026-03-01 11:58", `id="uptime">1 d 2 h 3 min<`}, []string{"not available"}},
		{"prosody-like", account.Stats{At: at},
			[]string{`id="registered">not available on this server<`, `id="online">not available on this server<`}, []string{"could not be asked"}},
		{"unreachable", account.Stats{At: at, Unreachable: true},
			[]string{"could not be asked just now", "not available on this server"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newManageEnv(t)
			e.accts.stats = tc.stats
			r, body := e.get(t, "/stats?lang=en")
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(body, s) {
					t.Errorf("has %q", s)
				}
			}
		})
	}
}

// TestManageLogsNoSecrets: passwords never, usernames only at debug level.
func TestManageLogsNoSecrets(t *testing.T) {
	e := newManageEnv(t)
	e.post(t, "/password", passwordForm("bob", "not the password", newPW), nil)
	e.post(t, "/password", passwordForm("bob", goodPW, newPW), nil)
	e.post(t, "/delete", deleteForm("bob", newPW), nil)
	logs := e.logs.String()
	// The outcome (account.deleted) is the account manager's line, not a
	// handler's: the fake Accounts here log nothing.
	if !strings.Contains(logs, "credentials.check") {
		t.Fatalf("expected events missing:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, goodPW) || strings.Contains(line, newPW) || strings.Contains(line, "not the password") {
			t.Errorf("password in log: %s", line)
		}
		if !strings.Contains(line, "level=DEBUG") && strings.Contains(line, "bob") {
			t.Errorf("username above debug level: %s", line)
		}
	}
}
