package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestBrowserManageAccount: in headless Chromium with JavaScript disabled, a
// person signs up, changes the password and deletes the account, each through
// the real forms of the real portal against real Prosody.
func TestBrowserManageAccount(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	// No response padding here: the unit tests check it with a fake clock,
	// and this test should not sleep.
	a, base, logs := startPortal(t, srv, map[string]string{"PORTAL_REGULATION_MIN_RESPONSE": "0s"})
	b := testenv.StartBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const pw1, pw2 = "amber river stone 17", "copper field window 83"
	login := func(pw string) error {
		s, err := xmpp.Login(ctx, srv.XMPP(), "manage.me", pw, nil)
		if err == nil {
			s.Close()
		}
		return err
	}

	// Sign up.
	b.Open(base + "/register?lang=en")
	b.Fill("#username", "Manage.Me")
	b.Fill("#password", pw1)
	b.Fill("#password2", pw1)
	answer, err := testenv.CaptchaAnswer(a.Store)(ctx, b.Value(`input[name=captcha_id]`))
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#captcha", answer)
	b.Click(`button[value=register]`)
	if b.Status() != 200 || !strings.Contains(b.Text(), "manage.me@localhost") {
		t.Fatalf("sign-up failed: %d\n%s", b.Status(), b.Text())
	}

	// Change the password: from the success page to the account hub to the form.
	b.Click(`a[href^="/account"]`)
	b.Click(`a[href^="/password"]`)
	if !strings.Contains(b.Text(), "Change the password of your chat account") {
		t.Fatalf("password page not shown:\n%s", b.Text())
	}
	b.Fill("#address", "manage.me@localhost")
	b.Fill("#current", pw1)
	b.Fill("#password", pw2)
	b.Fill("#password2", pw2)
	b.Click(`button[type=submit]`)
	if b.Status() != 200 || !strings.Contains(b.Text(), "Your password has been changed") {
		t.Fatalf("password change: %d\n%s", b.Status(), b.Text())
	}
	b.Screenshot(filepath.Join(t.TempDir(), "password_done.png"))
	if err := login(pw1); !errors.Is(err, xmpp.Auth) {
		t.Errorf("old password after the change: %v", err)
	}
	if err := login(pw2); err != nil {
		t.Fatalf("new password after the change: %v", err)
	}

	// Delete: first without ticking the box (refused, nothing deleted), then for real.
	b.Click(`a[href^="/account"]`)
	b.Click(`a[href^="/delete"]`)
	text := b.Text()
	if !strings.Contains(text, "This deletes your XMPP chat account itself.") || !strings.Contains(text, "Export my data first") {
		t.Fatalf("delete page:\n%s", text)
	}
	b.Fill("#address", "manage.me")
	b.Fill("#password", pw2)
	b.Fill("#confirm", "manage.me@localhost")
	b.Click(`button[type=submit]`)
	if b.Status() != 422 || !strings.Contains(b.Text(), "tick the box") {
		t.Fatalf("without the box: %d\n%s", b.Status(), b.Text())
	}
	if err := login(pw2); err != nil {
		t.Fatalf("account gone without the box: %v", err)
	}
	if got := b.Value("#confirm"); got != "manage.me@localhost" {
		t.Errorf("confirmation not kept: %q", got)
	}
	b.Fill("#password", pw2)
	b.Check("#understand")
	b.Click(`button[type=submit]`)
	if b.Status() != 200 || !strings.Contains(b.Text(), "Your chat account has been deleted") {
		t.Fatalf("deletion: %d\n%s", b.Status(), b.Text())
	}
	b.Screenshot(filepath.Join(t.TempDir(), "deleted.png"))
	if err := login(pw2); !errors.Is(err, xmpp.Auth) {
		t.Errorf("login after deletion: %v", err)
	}

	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("browser holds cookies: %v", c)
	}
	if r := b.NonLocalRequests(); len(r) != 0 {
		t.Errorf("requests to other hosts: %v", r)
	}
	l := logs.String()
	// One line per event (the account manager's; at debug a second line
	// names the user).
	for _, ev := range []string{"account.password_changed", "account.deleted"} {
		if n := infoEvents(l, ev); n != 1 {
			t.Errorf("%d %q lines in the log, want 1", n, ev)
		}
	}
	if strings.Contains(l, pw1) || strings.Contains(l, pw2) {
		t.Error("a password is in the log")
	}
}

// infoEvents counts the lines of a text log at level INFO whose message is
// exactly msg.
func infoEvents(log, msg string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, " level=INFO msg="+msg)
		if ok && (rest == "" || rest[0] == ' ') {
			n++
		}
	}
	return n
}
