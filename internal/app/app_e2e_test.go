package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/app/apptest"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// startPortal runs the real portal (apptest.Start: app.New, real listener)
// against srv, logging at debug, and returns it with its base URL and its
// log.
func startPortal(t *testing.T, srv *testenv.Server, extra map[string]string) (*app.App, string, *testenv.LockedBuffer) {
	t.Helper()
	env := apptest.ServerEnv(t, srv, map[string]string{
		"PORTAL_LOG_LEVEL":         "debug",
		"PORTAL_SITE_STORAGE_NOTE": "Messages are kept for one week.",
	}, extra)
	logs := &testenv.LockedBuffer{}
	p := apptest.Start(t, env, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return p.App, p.URL, logs
}

// TestBrowserSignup: a person in headless Chromium with JavaScript disabled
// signs up through the real form; the account then logs in over XMPP.
func TestBrowserSignup(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	a, base, logs := startPortal(t, srv, nil)
	b := testenv.StartBrowser(t)

	b.Open(base + "/?lang=en")
	b.Click(`a.button[href^="/register"]`)
	if !strings.Contains(b.Text(), "Create your account on localhost") {
		t.Fatalf("sign-up page not shown:\n%s", b.Text())
	}
	const pw = "violet mountain lantern 42"

	// A wrong captcha first: clear message, nothing created, a new picture.
	b.Fill("#username", "Browser.User")
	b.Fill("#password", pw)
	b.Fill("#password2", pw)
	b.Fill("#captcha", "0")
	b.Click(`button[value=register]`)
	if b.Status() != 400 || !strings.Contains(b.Text(), "The digits were wrong") {
		t.Fatalf("wrong captcha: status %d\n%s", b.Status(), b.Text())
	}
	if got := b.Value("#username"); got != "Browser.User" {
		t.Errorf("username not kept: %q", got)
	}
	if got := b.Value("#password"); got != "" {
		t.Errorf("password re-filled: %q", got)
	}

	id := b.Value(`input[name=captcha_id]`)
	answer, err := testenv.CaptchaAnswer(a.Store)(context.Background(), id)
	if err != nil {
		t.Fatalf("captcha answer: %v", err)
	}
	b.Fill("#password", pw)
	b.Fill("#password2", pw)
	b.Fill("#captcha", answer)
	b.Click(`button[value=register]`)
	text := b.Text()
	if b.Status() != 200 || !strings.Contains(text, "browser.user@localhost") || !strings.Contains(text, "Your account is ready") {
		t.Fatalf("success page not shown: status %d\n%s", b.Status(), text)
	}
	if !strings.Contains(b.HTML(), `<img class="qr" src="/welcome/qr.png?t=`) {
		t.Error("no QR code on the success page")
	}
	b.Screenshot(filepath.Join(t.TempDir(), "registered.png"))
	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("browser holds cookies: %v", c)
	}
	if r := b.NonLocalRequests(); len(r) != 0 {
		t.Errorf("requests to other hosts: %v", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang limit
	defer cancel()
	s, err := xmpp.Login(ctx, srv.XMPP(), "browser.user", pw, nil)
	if err != nil {
		t.Fatalf("new account cannot log in: %v", err)
	}
	s.Close()
	// One line per event: the Signup's (at debug a second line names the user).
	if n := infoEvents(logs.String(), "account.created"); n != 1 {
		t.Errorf("%d account.created lines at info in the log, want 1:\n%s", n, logs.String())
	}
}

// TestSignupKeepsNoClientAddress drives sign-ups (a failed and a successful
// one, over real ejabberd) from a distinct loopback address and proves that
// address appears nowhere in the log, in any form.
func TestSignupKeepsNoClientAddress(t *testing.T) {
	srv := testenv.StartEjabberd(t, testenv.Options{Mode: testenv.ModeAdmin})
	a, base, logs := startPortal(t, srv, nil)
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")},
		}).DialContext},
	}
	get := func(path string) string {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(form url.Values) (int, string) {
		resp, err := client.PostForm(base+"/register", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	idRe := regexp.MustCompile(`name="captcha_id" value="([^"]+)"`)
	captcha := func() (string, string) {
		m := idRe.FindStringSubmatch(get("/register"))
		if m == nil {
			t.Fatal("no captcha on the form")
		}
		ans, err := testenv.CaptchaAnswer(a.Store)(context.Background(), m[1])
		if err != nil {
			t.Fatal(err)
		}
		return m[1], ans
	}
	pw := "quiet harbour seventeen"
	id, _ := captcha()
	if code, _ := post(url.Values{"captcha_id": {id}, "captcha": {"1"}, "username": {"privacy1"}, "password": {pw}, "password2": {pw}}); code != 400 {
		t.Errorf("wrong captcha: %d", code)
	}
	id, ans := captcha()
	if code, body := post(url.Values{"captcha_id": {id}, "captcha": {ans}, "username": {"privacy1"}, "password": {pw}, "password2": {pw}}); code != 200 {
		t.Fatalf("sign-up: %d\n%s", code, body)
	}
	get("/captcha/" + id + ".png")
	get("/nope")

	l := logs.String()
	if !strings.Contains(l, "http.request") {
		t.Fatal("request log is empty: the test would prove nothing")
	}
	for _, form := range []string{"127.0.0.7", "7f000007", "7F000007", string([]byte{127, 0, 0, 7}), "::ffff:127.0.0.7", "2130706439"} {
		if strings.Contains(l, form) {
			t.Errorf("client address %q found in the log", form)
		}
	}
}
