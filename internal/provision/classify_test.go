package provision

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// iqError builds an IQ error exactly as the servers send it.
func iqError(typ, cond, text, lang string) string {
	t := ""
	if text != "" {
		l := ""
		if lang != "" {
			l = ` xml:lang="` + lang + `"`
		}
		t = `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"` + l + `>` + text + `</text>`
	}
	return `<iq xmlns="jabber:client" type="error" id="r1"><query xmlns="jabber:iq:register"><username>u</username><password>p</password></query>` +
		`<error type="` + typ + `"><` + cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` + t + `</error></iq>`
}

func stanzaErr(t *testing.T, raw string) error {
	t.Helper()
	_, err := xmppconn.ReadIQ(xml.NewDecoder(strings.NewReader(raw)))
	var se *xmppconn.StanzaError
	if !errors.As(err, &se) {
		t.Fatalf("ReadIQ(%s) = %v, want a stanza error", raw, err)
	}
	return err
}

// The stanzas of reference/xmpp-servers.md §5 (Prosody 0.12.3 and ejabberd
// 23.01), plus the ad-hoc add-user failures of §4.5.
func TestClassifyServerErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		kind Kind
		cond string
	}{
		{"prosody taken", iqError("cancel", "conflict", "The requested username already exists.", ""), KindConflict, "conflict"},
		{"ejabberd taken", iqError("cancel", "conflict", "User already exists", "en"), KindConflict, "conflict"},
		{"ejabberd add-user taken", iqError("cancel", "conflict", "", ""), KindConflict, "conflict"},
		{"prosody bad username", iqError("modify", "not-acceptable", "The requested username is invalid.", ""), KindInvalidName, "not-acceptable"},
		{"ejabberd bad username", iqError("modify", "jid-malformed", "Malformed username", "en"), KindInvalidName, "jid-malformed"},
		{"prosody empty username", iqError("modify", "not-acceptable", "Username: Required value missing", ""), KindInvalidName, "not-acceptable"},
		{"prosody empty password", iqError("modify", "not-acceptable", "Password: Required value missing", ""), KindPasswordPolicy, "not-acceptable"},
		{"ejabberd weak password", iqError("modify", "not-acceptable", "The password is too weak", "en"), KindPasswordPolicy, "not-acceptable"},
		{"ejabberd bad password chars", iqError("modify", "not-acceptable", "The password contains unacceptable characters", "en"), KindPasswordPolicy, "not-acceptable"},
		{"prosody throttled", iqError("wait", "policy-violation", "Too many registrations from this IP address recently", ""), KindThrottled, "policy-violation"},
		{"ejabberd throttled", iqError("wait", "resource-constraint", "Users are not allowed to register accounts so quickly", "en"), KindThrottled, "resource-constraint"},
		{"prosody ip blocklisted", iqError("auth", "forbidden", "Your IP address is blocklisted", ""), KindNotAllowed, "forbidden"},
		{"prosody ip not allowlisted", iqError("auth", "forbidden", "Your IP address is not allowlisted", ""), KindNotAllowed, "forbidden"},
		{"ejabberd access denied", iqError("auth", "forbidden", "Access denied by service policy", "en"), KindNotAllowed, "forbidden"},
		{"prosody ibr disabled", iqError("cancel", "service-unavailable", "", ""), KindNotAllowed, "service-unavailable"},
		{"prosody registration-required", iqError("auth", "registration-required", "", ""), KindNotAllowed, "registration-required"},
		{"ejabberd not-allowed", iqError("cancel", "not-allowed", "Not allowed", "en"), KindNotAllowed, "not-allowed"},
		{"prosody disk", iqError("wait", "internal-server-error", "Failed to write data to disk.", ""), KindUnavailable, "internal-server-error"},
		{"ejabberd add-user mismatch", iqError("cancel", "item-not-found", "No hook has processed this command", "en"), KindUnknown, "item-not-found"},
		{"unknown condition", iqError("cancel", "gone", "", ""), KindUnknown, "gone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pe := Classify(stanzaErr(t, tc.raw))
			if pe.Kind != tc.kind || pe.Condition != tc.cond {
				t.Errorf("Classify = kind %s cond %q, want %s %q", pe.Kind, pe.Condition, tc.kind, tc.cond)
			}
			if KindOf(pe) != tc.kind {
				t.Errorf("KindOf = %s", KindOf(pe))
			}
		})
	}
}

func TestClassifyOther(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		kind Kind
	}{
		{"prosody add-user exists note", &xmppconn.CommandError{Status: "completed", Notes: []xmppconn.Note{{Type: "info", Text: "x"}, {Type: "error", Text: "Account already exists"}}}, KindConflict},
		{"prosody add-user invalid note", &xmppconn.CommandError{Status: "completed", Notes: []xmppconn.Note{{Type: "error", Text: "Invalid data.\nPassword mismatch, or empty username"}}}, KindInvalidName},
		{"prosody add-user disk note", &xmppconn.CommandError{Status: "completed", Notes: []xmppconn.Note{{Type: "error", Text: "Failed to write data to disk"}}}, KindUnavailable},
		{"prosody other note", &xmppconn.CommandError{Status: "completed", Notes: []xmppconn.Note{{Type: "error", Text: "Trying to add a user on a but command was sent to b"}}}, KindUnknown},
		{"canceled command", &xmppconn.CommandError{Status: "canceled"}, KindUnknown},
		{"dial refused", &xmppconn.ConnError{Op: "dial", Err: refused}, KindUnavailable},
		{"raw dial error", refused, KindUnavailable},
		{"deadline", context.DeadlineExceeded, KindUnavailable},
		{"wrapped deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), KindUnavailable},
		{"canceled", context.Canceled, KindUnavailable},
		{"eof", io.EOF, KindUnavailable},
		{"unexpected eof", io.ErrUnexpectedEOF, KindUnavailable},
		{"temporary auth failure", &xmppconn.AuthError{Condition: "temporary-auth-failure"}, KindUnavailable},
		{"admin password refused", &xmppconn.AuthError{Condition: "not-authorized"}, KindNotAllowed},
		{"protocol", &xmppconn.ProtocolError{Msg: "odd"}, KindUnknown},
		{"anything", errors.New("x"), KindUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got.Kind != tc.kind {
				t.Errorf("Classify(%v) = %s, want %s", tc.err, got.Kind, tc.kind)
			}
		})
	}
	if Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	pe := &Error{Kind: KindThrottled}
	if Classify(fmt.Errorf("w: %w", pe)) != pe {
		t.Error("Classify does not return an *Error unchanged")
	}
}

func TestErrorClass(t *testing.T) {
	for err, want := range map[error]string{
		&xmppconn.ConnError{Op: "dial", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}: "connection_refused",
		context.DeadlineExceeded:                         "timeout",
		&xmppconn.ConnError{Op: "x", Err: io.EOF}:        "connection_closed",
		&xmppconn.AuthError{Condition: "not-authorized"}: "auth_not-authorized",
		errBackoff: "backoff",
	} {
		if got := errorClass(err); got != want {
			t.Errorf("errorClass(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := KindUnknown; k <= KindUnavailable; k++ {
		s := k.String()
		if seen[s] || strings.HasPrefix(s, "kind(") {
			t.Errorf("Kind %d: %q", k, s)
		}
		seen[s] = true
	}
}
