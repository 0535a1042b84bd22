package handlers_test

import (
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestSignupOutcomeNeverOverclaims: a sign-up the server may have completed
// before it stopped answering is never reported as "not created": its page
// says only what is known (it may exist) and how to
// find out (sign in with the app; if that fails, sign up again with the same
// name), with the redirect to its result page or, without result links, as
// the answer itself. One that certainly never reached the server says that
// nothing was created, in the form with the name kept.
func TestSignupOutcomeNeverOverclaims(t *testing.T) {
	const unknown = "We do not know whether your account was created"
	notCreated := []string{"Nothing was created", "was not created"}
	check := func(t *testing.T, body string) {
		t.Helper()
		for _, want := range []string{unknown, "carol@example.test", "sign in with your chat app", `href="/register?lang=en&amp;username=carol"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %q:\n%s", want, body)
			}
		}
		for _, not := range notCreated {
			if strings.Contains(body, not) {
				t.Errorf("the page says %q:\n%s", not, body)
			}
		}
	}
	t.Run("sent, no answer, answered at once", func(t *testing.T) {
		e := newEnv(t)
		e.prov.failWith = &xmpp.Error{Kind: xmpp.Unavailable, Unanswered: true}
		id, ans := e.newCaptcha(t)
		resp, body := e.post(t, "/register", signupForm(id, ans, "carol", "correct horse battery"), nil)
		if resp.StatusCode != 503 {
			t.Fatalf("status %d, want 503:\n%s", resp.StatusCode, body)
		}
		check(t, body)
	})
	t.Run("sent, no answer, by its result page", func(t *testing.T) {
		e := newFlowEnv(t)
		e.prov.failWith = &xmpp.Error{Kind: xmpp.Unavailable, Unanswered: true}
		id, ans := e.newCaptcha(t)
		resp, body := e.post(t, "/register", signupForm(id, ans, "carol", "correct horse battery"), nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/register/unknown?") {
			t.Fatalf("status %d, Location %q, want 303 to /register/unknown:\n%s", resp.StatusCode, loc, body)
		}
		for range 2 { // and again: a reload
			resp, body = e.get(t, loc)
			if resp.StatusCode != 200 {
				t.Fatalf("the page of the unknown outcome: %d\n%s", resp.StatusCode, body)
			}
			check(t, body)
		}
	})
	t.Run("never sent", func(t *testing.T) {
		e := newFlowEnv(t)
		e.prov.failWith = &xmpp.Error{Kind: xmpp.Unavailable}
		id, ans := e.newCaptcha(t)
		resp, body := e.post(t, "/register", signupForm(id, ans, "carol", "correct horse battery"), nil)
		if resp.StatusCode != 503 || !strings.Contains(body, "Nothing was created") || strings.Contains(body, unknown) {
			t.Fatalf("status %d, want 503 with %q and without %q:\n%s", resp.StatusCode, "Nothing was created", unknown, body)
		}
		if !strings.Contains(body, `value="carol"`) {
			t.Error("the name was not kept in the form")
		}
		if !strings.Contains(body, `name="pass"`) {
			t.Error("the solved captcha was not kept as a pass: trying again would cost a new picture")
		}
	})
}
