package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClosedLabelSets: a value outside a label's closed set is counted as
// "other", whatever a caller passes; a nil *Metrics counts nothing.
func TestClosedLabelSets(t *testing.T) {
	m := New()
	m.SetRoutes([]string{"/register", "/captcha/:file"})
	m.SignupRefused("alice@example.org")
	m.SignupFailed("203.0.113.7")
	m.PasswordCheck("password", "Mozilla/5.0")
	m.XMPPError("bob", "conflict")
	m.Request("/register/alice", "PROPFIND", 200, time.Millisecond)
	m.Request("/captcha/:file", "GET", 200, time.Millisecond)
	m.Transfer("upload", "done", "alice", 10)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	text := string(b)
	for _, bad := range []string{"alice", "example.org", "203.0.113.7", "Mozilla", "bob", "PROPFIND", "upload"} {
		if strings.Contains(text, bad) {
			t.Errorf("metrics hold %q", bad)
		}
	}
	for _, want := range []string{
		`portal_signups_total{outcome="refused",reason="other"} 1`,
		`portal_signups_total{outcome="failed",reason="other"} 1`,
		`portal_password_checks_total{flow="password",outcome="other"} 1`,
		`portal_xmpp_errors_total{flow="other",kind="conflict"} 1`,
		`route="(none)"`, `route="/captcha/:file"`, `method="other"`,
	} {
		if !strings.Contains(text, want) && !strings.Contains(text, strings.Replace(want, "(none)", "other", 1)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	var nilM *Metrics
	nilM.SignupCreated()
	nilM.Request("/", "GET", 200, time.Second)
	nilM.SetRoutes(nil)
}
