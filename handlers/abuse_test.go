package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/views"
)

// limitedEnv is env with a Limiter on a memory store; the test server's
// peer (127.0.0.1) is a trusted proxy, so X-Forwarded-For picks the client.
// onion serves the same handler as the onion listener would.
type limitedEnv struct {
	*env
	onion *httptest.Server
}

func newMem(t *testing.T, maxKeys int) *store.Memory {
	st := store.NewMemory(store.MemoryOptions{MaxKeys: maxKeys, SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	return st
}

func newLimitedEnv(t *testing.T, b abuse.Budgets, maxKeys int) *limitedEnv {
	t.Helper()
	st := newMem(t, maxKeys)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	caps := captchastore.NewCaptchas(st, captchastore.Options{Length: 6, TTL: time.Minute, Log: log})
	bundle, pol, as, vw := loadUI(t)
	lim, err := abuse.NewLimiter(st, abuse.LimiterOptions{Budgets: b, TrustedProxies: []string{"127.0.0.1"}, IsOnion: handlers.IsOnion, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	prov := &fakeProvisioner{created: map[string]string{}}
	h := handlers.New(handlers.Deps{
		Log: log, I18n: bundle, Views: vw, Assets: as, Captchas: caps, Policy: pol, Provisioner: prov,
		Site:      views.Site{Name: "Example", Domain: "example.test", StorageNote: "Kept 7 days."},
		BodyLimit: 8 << 10, XMPPTimeout: 5 * time.Second, MinPassword: 10, Limiter: lim,
	})
	srv := httptest.NewServer(h.HTTPHandler())
	t.Cleanup(srv.Close)
	onion := httptest.NewServer(handlers.MarkOnion(h.HTTPHandler()))
	t.Cleanup(onion.Close)
	return &limitedEnv{env: &env{srv: srv, st: st, caps: caps, prov: prov, logs: logs}, onion: onion}
}

func budgets(set func(*abuse.Budgets)) abuse.Budgets {
	b := abuse.Budgets{SignupsPerHour: 100, GlobalSignupsPerHour: 100, CaptchasPerMinute: 100,
		CredentialChecksPerMinute: 100, OnionSignupsPerHour: 100, OnionCredentialChecksPerMinute: 100}
	set(&b)
	return b
}

func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

func (e *limitedEnv) created() int {
	e.prov.mu.Lock()
	defer e.prov.mu.Unlock()
	return len(e.prov.created)
}

// want429 checks a 429 page: Retry-After close to wantWait, the message.
func want429(t *testing.T, resp *http.Response, body string, wantWait time.Duration, text string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429:\n%s", resp.StatusCode, body)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || time.Duration(secs)*time.Second > wantWait || time.Duration(secs)*time.Second < wantWait-10*time.Second {
		t.Errorf("Retry-After %q, want about %s", resp.Header.Get("Retry-After"), wantWait)
	}
	if !strings.Contains(body, text) {
		t.Errorf("page lacks %q:\n%s", text, body)
	}
}

// TestSignupBudgetPerClient: the N+1st sign-up attempt of a client is refused
// with 429 and the wait, before its captcha is touched; another client goes on.
func TestSignupBudgetPerClient(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 2 }), 0)
	const pw = "correct horse battery"
	// A wrong captcha costs the client an attempt; a successful sign-up too.
	id, _ := e.newCaptcha(t)
	if r, _ := e.post(t, "/register", signupForm(id, "000000x", "alice", pw), from("198.51.100.1")); r.StatusCode != 400 {
		t.Fatalf("wrong captcha: %d", r.StatusCode)
	}
	id, ans := e.newCaptcha(t)
	if r, b := e.post(t, "/register", signupForm(id, ans, "alice", pw), from("198.51.100.1")); r.StatusCode != 200 {
		t.Fatalf("sign-up: %d\n%s", r.StatusCode, b)
	}
	id, ans = e.newCaptcha(t)
	r, body := e.post(t, "/register", signupForm(id, ans, "alice2", pw), from("198.51.100.1"))
	want429(t, r, body, time.Hour, "Too many sign-ups came from your network recently. Please try again in 60 minutes.")
	if _, err := e.caps.Peek(context.Background(), id); err != nil {
		t.Errorf("the refused request consumed its captcha: %v", err)
	}
	// German page.
	form := signupForm(id, ans, "alice2", pw)
	form.Set("lang", "de")
	r, body = e.post(t, "/register", form, from("198.51.100.1"))
	want429(t, r, body, time.Hour, "Bitte versuchen Sie es in 60 Minuten erneut.")
	// Another client.
	if r, b := e.post(t, "/register", signupForm(id, ans, "bob", pw), from("198.51.100.2")); r.StatusCode != 200 {
		t.Fatalf("another client: %d\n%s", r.StatusCode, b)
	}
	if n := e.created(); n != 2 {
		t.Errorf("%d accounts created, want 2", n)
	}
}

// TestSignupBudgetCountsSignups: sign-ups refused after the captcha (rules,
// server) give their unit back; cross-site posts never reach the budget.
func TestSignupBudgetCountsSignups(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 1 }), 0)
	const pw = "correct horse battery"
	if r, _ := e.post(t, "/register", url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site", "X-Forwarded-For": "198.51.100.1"}); r.StatusCode != 403 {
		t.Fatalf("cross-site: %d", r.StatusCode)
	}
	id, ans := e.newCaptcha(t)
	if r, _ := e.post(t, "/register", signupForm(id, ans, "carol", "short"), from("198.51.100.1")); r.StatusCode != 422 {
		t.Fatalf("short password: %d", r.StatusCode)
	}
	id, ans = e.newCaptcha(t)
	if r, b := e.post(t, "/register", signupForm(id, ans, "carol", pw), from("198.51.100.1")); r.StatusCode != 200 {
		t.Fatalf("sign-up after a refused one: %d\n%s", r.StatusCode, b)
	}
	id, ans = e.newCaptcha(t)
	if r, b := e.post(t, "/register", signupForm(id, ans, "carol2", pw), from("198.51.100.1")); r.StatusCode != 429 {
		t.Fatalf("second sign-up: %d\n%s", r.StatusCode, b)
	}
}

// TestGlobalSignupBudgetRefusesEveryone: the global budget is shared by all
// clients; wrong captchas do not use it up.
func TestGlobalSignupBudgetRefusesEveryone(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.GlobalSignupsPerHour = 2 }), 0)
	const pw = "correct horse battery"
	for i := range 3 {
		id, _ := e.newCaptcha(t)
		if r, _ := e.post(t, "/register", signupForm(id, "0", "x", pw), from("203.0.113."+strconv.Itoa(i+1))); r.StatusCode != 400 {
			t.Fatalf("wrong captcha: %d", r.StatusCode)
		}
	}
	for i, ip := range []string{"203.0.113.10", "2001:db8::10"} {
		id, ans := e.newCaptcha(t)
		if r, b := e.post(t, "/register", signupForm(id, ans, "user"+strconv.Itoa(i), pw), from(ip)); r.StatusCode != 200 {
			t.Fatalf("sign-up %d: %d\n%s", i, r.StatusCode, b)
		}
	}
	for _, ip := range []string{"203.0.113.11", "2001:db8:9::1"} {
		id, ans := e.newCaptcha(t)
		r, body := e.post(t, "/register", signupForm(id, ans, "late", pw), from(ip))
		want429(t, r, body, time.Hour, "This server has had many sign-ups in the last hour")
	}
	if n := e.created(); n != 2 {
		t.Errorf("%d accounts created, want 2", n)
	}
}

// TestOnionSignupBudget: onion requests share the onion budget whatever
// X-Forwarded-For says, and leave the clearnet budgets alone.
func TestOnionSignupBudget(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.OnionSignupsPerHour = 1; b.GlobalSignupsPerHour = 1 }), 0)
	const pw = "correct horse battery"
	post := func(srv *httptest.Server, user, ip string) (*http.Response, string) {
		id, ans := e.newCaptcha(t)
		old := e.srv
		e.srv = srv
		defer func() { e.srv = old }()
		return e.post(t, "/register", signupForm(id, ans, user, pw), from(ip))
	}
	if r, b := post(e.onion, "onion1", "192.0.2.1"); r.StatusCode != 200 {
		t.Fatalf("onion sign-up: %d\n%s", r.StatusCode, b)
	}
	r, body := post(e.onion, "onion2", "192.0.2.2")
	want429(t, r, body, time.Hour, "Many sign-ups came over the onion service")
	if r, b := post(e.srv, "clear1", "192.0.2.2"); r.StatusCode != 200 {
		t.Fatalf("clearnet sign-up after the onion budget ran out: %d\n%s", r.StatusCode, b)
	}
}

// TestCaptchaBudget: pictures and sounds count per client per minute.
func TestCaptchaBudget(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.CaptchasPerMinute = 2 }), 0)
	id, _ := e.newCaptcha(t)
	get := func(path, ip string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.String()
	}
	for _, p := range []string{"/captcha/" + id + ".png", "/captcha/" + id + ".wav"} {
		if r, _ := get(p, "198.51.100.1"); r.StatusCode != 200 {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}
	r, body := get("/captcha/"+id+".png", "198.51.100.1")
	want429(t, r, body, time.Minute, "Too many captcha pictures or sounds were requested from your network. Please try again in one minute.")
	if r, _ := get("/captcha/"+id+".png", "198.51.100.2"); r.StatusCode != 200 {
		t.Errorf("another client: %d", r.StatusCode)
	}
}

// TestStoreTroubleFailsClosed: an unreachable store gives the clear 503 page
// and creates nothing; a full memory store gives the "busy" 503 page.
func TestStoreTroubleFailsClosed(t *testing.T) {
	const pw = "correct horse battery"
	t.Run("unavailable", func(t *testing.T) {
		e := newLimitedEnv(t, budgets(func(*abuse.Budgets) {}), 0)
		id, ans := e.newCaptcha(t)
		e.st.Close()
		r, body := e.post(t, "/register", signupForm(id, ans, "dave", pw), nil)
		if r.StatusCode != 503 || !strings.Contains(body, "temporarily unavailable") {
			t.Fatalf("status %d:\n%s", r.StatusCode, body)
		}
		if r, _ := e.get(t, "/captcha/"+id+".png"); r.StatusCode != 503 {
			t.Errorf("captcha picture with the store down: %d", r.StatusCode)
		}
		if r, _ := e.get(t, "/"); r.StatusCode != 200 {
			t.Errorf("home page with the store down: %d", r.StatusCode)
		}
		if n := e.created(); n != 0 {
			t.Errorf("%d accounts created", n)
		}
	})
	t.Run("full", func(t *testing.T) {
		e := newLimitedEnv(t, budgets(func(*abuse.Budgets) {}), 5)
		id, ans := e.newCaptcha(t) // the captcha and the form load's budget keys
		// Fill the rest.
		for i := 0; ; i++ {
			err := e.st.Set(context.Background(), fmt.Sprintf("f%d", i), []byte("x"), time.Hour)
			if errors.Is(err, store.ErrFull) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r, body := e.post(t, "/register", signupForm(id, ans, "erin", pw), nil)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") != "60" || !strings.Contains(body, "The portal is very busy") {
			t.Fatalf("status %d, Retry-After %q:\n%s", r.StatusCode, r.Header.Get("Retry-After"), body)
		}
		if n := e.created(); n != 0 {
			t.Errorf("%d accounts created", n)
		}
	})
}
