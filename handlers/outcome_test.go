package handlers_test

import (
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestSignupOutcomeNeverOverclaims: a sign-up the server may have completed
// before it stopped answering is never reported as "nothing was created";
// one that certainly never reached it is.
func TestSignupOutcomeNeverOverclaims(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		want, not string
	}{
		{"sent, no answer", &xmpp.Error{Kind: xmpp.Unavailable, Unanswered: true},
			"it is not known whether the account exists", "Nothing was created"},
		{"never sent", &xmpp.Error{Kind: xmpp.Unavailable},
			"Nothing was created", "not known whether"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.prov.failWith = tc.err
			id, ans := e.newCaptcha(t)
			resp, body := e.post(t, "/register", signupForm(id, ans, "carol", "correct horse battery"), nil)
			if resp.StatusCode != 503 || !strings.Contains(body, tc.want) || strings.Contains(body, tc.not) {
				t.Fatalf("status %d, want 503 with %q and without %q:\n%s", resp.StatusCode, tc.want, tc.not, body)
			}
			if !strings.Contains(body, `value="carol"`) {
				t.Error("the name was not kept in the form")
			}
		})
	}
}
