package handlers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestBrowserSignupHonestPages: in Chromium with JavaScript off, on a phone
// and on a desktop, the pages that tell a newcomer what is known: a sign-up
// whose outcome is unknown (no "not created"; how to find out; "sign up
// again" fills in the name), its page after a reload, an expired result
// link, a forged one, and the 429 page that GET /register shows once the
// client's sign-up budget is spent (what was counted, when to come back).
// Screenshots go to PORTAL_TEST_SCREENSHOTS (default: the test's temporary
// directory).
func TestBrowserSignupHonestPages(t *testing.T) {
	e := newFlowEnv(t, func(d *handlers.Deps, st *store.Memory) {
		d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 2 }), Log: d.Log})
	})
	shots := os.Getenv("PORTAL_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	b := testenv.StartBrowser(t)
	n := 0
	shot := func(name string) {
		t.Helper()
		n++
		b.Viewport(390, 844, true)
		b.ScreenshotScreen(filepath.Join(shots, fmt.Sprintf("honest-%02d-%s-phone-screen.png", n, name)))
		b.Viewport(1280, 900, false)
		b.Screenshot(filepath.Join(shots, fmt.Sprintf("honest-%02d-%s-desktop.png", n, name)))
		b.Viewport(390, 844, true)
	}
	b.Viewport(390, 844, true)
	text := func(step string, want []string, not ...string) {
		t.Helper()
		got := b.Text()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: the page lacks %q:\n%s", step, w, got)
			}
		}
		for _, w := range not {
			if strings.Contains(got, w) {
				t.Errorf("%s: the page says %q:\n%s", step, w, got)
			}
		}
	}
	// The unknown outcome.
	e.prov.failWith = &xmpp.Error{Kind: xmpp.Unavailable, Unanswered: true}
	b.Open(e.srv.URL + "/register?lang=en")
	b.Fill("#username", "Maybe")
	b.Fill("#password", flowPW)
	b.Fill("#password2", flowPW)
	ans, err := testenv.CaptchaAnswer(e.st)(t.Context(), b.Value(`input[name=captcha_id]`))
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#captcha", ans)
	b.Click(`button[value=register]`)
	unknown := []string{"We do not know whether your account was created", "It may have created your account", "maybe@example.test", "sign in with your chat app"}
	text("unknown outcome", unknown, "not created", "Nothing was created")
	shot("unknown")
	b.Reload()
	text("unknown outcome, reloaded", unknown)
	e.prov.failWith = nil
	b.Click(`a[href*="username=maybe"]`)
	if got := b.Value("#username"); got != "maybe" {
		t.Errorf("sign up again: the name is %q", got)
	}
	// An expired link, a forged one.
	id, ans := e.storeCaptcha(t)
	r, _ := e.post(t, "/register", signupForm(id, ans, "later", flowPW), nil)
	loc := r.Header.Get("Location")
	e.clk.Advance(25 * time.Hour)
	b.Open(e.srv.URL + loc)
	text("expired link", []string{"This page has expired", "If you created an account, it still exists"}, "later@")
	shot("expired")
	b.Open(e.srv.URL + "/welcome?lang=de&t=AAAA")
	text("forged link", []string{"Dieser Link ist nicht gültig"})
	shot("forged-de")
	// The 429 page: two wrong captchas spend the budget of 2 an hour.
	for range 2 {
		b.Open(e.srv.URL + "/register?lang=en")
		b.Fill("#username", "bot")
		b.Fill("#password", flowPW)
		b.Fill("#password2", flowPW)
		b.Fill("#captcha", "000000")
		b.Click(`button[value=register]`)
	}
	if b.Status() != 429 {
		t.Errorf("the second wrong captcha: status %d", b.Status())
	}
	b.Open(e.srv.URL + "/register?lang=en")
	if b.Status() != 429 {
		t.Errorf("the form with the budget spent: status %d", b.Status())
	}
	text("429", []string{"Please wait a little", "Too many sign-up attempts came from your network in the last hour", "Please come back in 60 minutes"}, "Prove you are a person")
	shot("limited")
	b.Open(e.srv.URL + "/register?lang=de")
	text("429 de", []string{"Bitte warten Sie ein wenig", "Bitte kommen Sie in 60 Minuten wieder"})
	shot("limited-de")
}
