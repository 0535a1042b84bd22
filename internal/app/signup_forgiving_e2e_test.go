package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestBrowserSignupForgivesMistakes: a newcomer on a phone (Chromium,
// JavaScript off, a 390×844 window) makes each mistake of issue 14 once
// and gets an account having solved exactly one captcha:
//
//   - an empty form: the browser refuses to send it (no request reaches the
//     portal: its log has no POST for it);
//   - a new picture: the frame's button renews the picture of the same
//     captcha, and everything typed into the form stays;
//   - a wrong captcha with a short password: the browser refuses the short
//     password before sending; with a common password instead, the portal
//     answers both refusals at once, in a summary in the first screen;
//   - a taken name, with the one captcha solved: the form comes back with
//     "taken" and a pass instead of a new picture;
//   - passwords that do not match: refused, the pass still stands;
//   - then the account is created and the browser lands on its result page,
//     which a reload and the back button show again.
//
// Every refusal is visible in the first screen. Screenshots of each state,
// on the phone and on a desktop (1280×900), go to PORTAL_TEST_SCREENSHOTS
// (default: the test's temporary directory).
func TestBrowserSignupForgivesMistakes(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang limit
	defer cancel()
	const good, other = "violet mountain lantern 42", "quiet harbour pebble 77"
	if err := srv.CreateUser(ctx, "taken", other); err != nil {
		t.Fatal(err)
	}
	a, base, logs := startPortal(t, srv, map[string]string{"PORTAL_REGULATION_MIN_RESPONSE": "0s"})
	shots := os.Getenv("PORTAL_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	b := testenv.StartBrowser(t)
	phone := func() { b.Viewport(390, 844, true) }
	phone()
	n := 0
	// shot takes the phone's first screen and whole page, then the desktop's
	// whole page, and goes back to the phone.
	shot := func(name string) {
		t.Helper()
		n++
		b.ScreenshotScreen(filepath.Join(shots, fmt.Sprintf("%02d-%s-phone-screen.png", n, name)))
		b.Screenshot(filepath.Join(shots, fmt.Sprintf("%02d-%s-phone.png", n, name)))
		b.Viewport(1280, 900, false)
		b.Screenshot(filepath.Join(shots, fmt.Sprintf("%02d-%s-desktop.png", n, name)))
		phone()
	}
	posts := func() int { return strings.Count(logs.String(), "msg=http.request method=POST route=/register ") }
	// firstScreen checks that the refusals are in the summary at the top and
	// the summary is in the first screen, and returns the summary's text.
	firstScreen := func(step string, want ...string) {
		t.Helper()
		if !b.InFirstScreen("#problems") {
			t.Errorf("%s: the refusals are not in the first screen", step)
		}
		summary := b.Text()
		for _, w := range want {
			if !strings.Contains(summary, w) {
				t.Errorf("%s: the page lacks %q:\n%s", step, w, summary)
			}
		}
	}
	solved := 0
	answer := func() string {
		t.Helper()
		solved++
		ans, err := testenv.CaptchaAnswer(a.Store)(ctx, b.Value(`input[name=captcha_id]`))
		if err != nil {
			t.Fatal(err)
		}
		return ans
	}

	b.Open(base + "/register?lang=en")
	if !b.FrameImageLoaded("iframe", "img") {
		t.Fatal("the captcha picture in the frame did not load")
	}
	for _, size := range [][2]int{{390, 844}, {320, 640}, {1280, 900}} {
		b.Viewport(size[0], size[1], size[0] < 1000)
		if over := b.FrameOverflow("iframe"); over > 0 {
			t.Errorf("at %dx%d the captcha's frame is %d pixels too small for its picture, sound and button", size[0], size[1], over)
		}
	}
	phone()
	shot("form")

	// 1. An empty form never reaches the portal.
	before := posts()
	if msg := b.ClickRefused(`button[value=register]`); !strings.HasPrefix(msg, "username:") {
		t.Errorf("empty form: the browser refused %q first, want the username", msg)
	}
	shot("empty-refused")

	// 2. A new picture keeps what was typed.
	b.Fill("#username", "Newcomer")
	b.Fill("#password", "short")
	b.Fill("#password2", "short")
	id := b.Value(`input[name=captcha_id]`)
	picture := b.FrameAttr("iframe", "img", "src")
	digits, err := testenv.CaptchaAnswer(a.Store)(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	renewed := false
	for range 3 { // the same digits again by chance: 1 in 10^6 each
		b.ClickInFrame("iframe", "button")
		now, err := testenv.CaptchaAnswer(a.Store)(ctx, id)
		if err != nil {
			t.Fatalf("the captcha after a new picture: %v", err)
		}
		if now != digits {
			renewed = true
			break
		}
	}
	if !renewed {
		t.Error("new picture: the captcha kept its digits")
	}
	if got := b.FrameAttr("iframe", "img", "src"); got == picture || !b.FrameImageLoaded("iframe", "img") {
		t.Errorf("new picture: the frame still shows %q", got)
	}
	for sel, want := range map[string]string{"#username": "Newcomer", "#password": "short", "#password2": "short", `input[name=captcha_id]`: id} {
		if got := b.Value(sel); got != want {
			t.Errorf("new picture: %s holds %q, want %q", sel, got, want)
		}
	}
	if !strings.Contains(b.URL(), "/register?lang=en") {
		t.Errorf("new picture: the page left the form: %s", b.URL())
	}
	shot("new-picture")

	// 3. A wrong captcha with a short password: the browser refuses the
	// password before anything is sent ...
	b.Fill("#captcha", "000000")
	if msg := b.ClickRefused(`button[value=register]`); !strings.HasPrefix(msg, "password:") {
		t.Errorf("short password: the browser refused %q, want the password", msg)
	}
	if got := posts(); got != before {
		t.Fatalf("%d sign-up forms reached the portal while the browser refused them", got-before)
	}
	// ... and with a common password the portal answers both refusals at once.
	b.Fill("#password", "password123")
	b.Fill("#password2", "password123")
	b.Click(`button[value=register]`)
	if b.Status() != 400 || posts() != before+1 {
		t.Fatalf("wrong captcha: status %d, %d posts", b.Status(), posts()-before)
	}
	firstScreen("wrong captcha", "most common passwords", "The digits were wrong")
	if b.Value("#username") != "Newcomer" || b.Value("#password") != "" {
		t.Errorf("wrong captcha: username %q kept, password %q", b.Value("#username"), b.Value("#password"))
	}
	shot("wrong-captcha-common-password")

	// 4. A taken name with the one captcha solved: a pass, no new picture.
	b.Fill("#username", "taken")
	b.Fill("#password", good)
	b.Fill("#password2", good)
	b.Fill("#captcha", answer())
	b.Click(`button[value=register]`)
	if b.Status() != 409 {
		t.Fatalf("taken name: status %d\n%s", b.Status(), b.Text())
	}
	firstScreen("taken name", "already taken")
	if b.Value(`input[name=pass]`) == "" || strings.Contains(b.HTML(), "<iframe") {
		t.Fatal("taken name: the form asks for a new picture instead of keeping the solved one")
	}
	shot("taken-name")

	// 5. Passwords that do not match.
	b.Fill("#username", "Newcomer")
	b.Fill("#password", good)
	b.Fill("#password2", other)
	b.Click(`button[value=register]`)
	if b.Status() != 422 {
		t.Fatalf("mismatch: status %d\n%s", b.Status(), b.Text())
	}
	firstScreen("mismatch", "do not match")
	shot("mismatch")

	// 6. Right: the account, on its result page.
	b.Fill("#password", good)
	b.Fill("#password2", good)
	b.Click(`button[value=register]`)
	success := func(step string) {
		t.Helper()
		text := b.Text()
		if b.Status() != 200 || !strings.Contains(b.URL(), "/welcome?") || !strings.Contains(text, "Your account is ready") || !strings.Contains(text, "newcomer@localhost") {
			t.Fatalf("%s: status %d at %s\n%s", step, b.Status(), b.URL(), text)
		}
		if strings.Contains(b.URL(), "newcomer") || strings.Contains(b.URL(), "violet") {
			t.Errorf("%s: the link names the account or the password: %s", step, b.URL())
		}
	}
	success("sign-up")
	shot("registered")
	b.Reload()
	success("reload")
	b.Click(`a[href^="/account"]`)
	b.Back()
	success("back")
	shot("registered-again")

	if solved != 1 {
		t.Errorf("%d captchas solved, want 1", solved)
	}
	if got := posts() - before; got != 4 {
		t.Errorf("%d sign-up forms reached the portal, want 4 (wrong captcha, taken, mismatch, right)", got)
	}
	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("browser holds cookies: %v", c)
	}
	if r := b.NonLocalRequests(); len(r) != 0 {
		t.Errorf("requests to other hosts: %v", r)
	}
	s, err := xmpp.Login(ctx, srv.XMPP(), "newcomer", good, nil)
	if err != nil {
		t.Fatalf("the new account cannot log in: %v", err)
	}
	s.Close()
	t.Logf("screenshots in %s", shots)
}
