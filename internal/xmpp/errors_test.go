package xmpp

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

// stanzaErr is the error SendIQ returns for the IQ error raw.
func stanzaErr(t *testing.T, raw string) *Error {
	t.Helper()
	_, err := ReadIQ(xml.NewDecoder(strings.NewReader(raw)))
	var e *Error
	if !errors.As(err, &e) || e.Op != "iq" {
		t.Fatalf("ReadIQ(%s) = %v, want a stanza error", raw, err)
	}
	return e
}

// The stanzas of reference/xmpp-servers.md §5 (Prosody 0.12.3 and ejabberd
// 23.01), plus the ad-hoc add-user failures of §4.5.
func TestStanzaKindServerErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		kind Kind
		cond string
	}{
		{"prosody taken", iqError("cancel", "conflict", "The requested username already exists.", ""), Conflict, "conflict"},
		{"ejabberd taken", iqError("cancel", "conflict", "User already exists", "en"), Conflict, "conflict"},
		{"ejabberd add-user taken", iqError("cancel", "conflict", "", ""), Conflict, "conflict"},
		{"prosody bad username", iqError("modify", "not-acceptable", "The requested username is invalid.", ""), InvalidName, "not-acceptable"},
		{"ejabberd bad username", iqError("modify", "jid-malformed", "Malformed username", "en"), InvalidName, "jid-malformed"},
		{"prosody empty username", iqError("modify", "not-acceptable", "Username: Required value missing", ""), InvalidName, "not-acceptable"},
		{"prosody empty password", iqError("modify", "not-acceptable", "Password: Required value missing", ""), PasswordPolicy, "not-acceptable"},
		{"ejabberd weak password", iqError("modify", "not-acceptable", "The password is too weak", "en"), PasswordPolicy, "not-acceptable"},
		{"ejabberd bad password chars", iqError("modify", "not-acceptable", "The password contains unacceptable characters", "en"), PasswordPolicy, "not-acceptable"},
		{"prosody throttled", iqError("wait", "policy-violation", "Too many registrations from this IP address recently", ""), Throttled, "policy-violation"},
		{"ejabberd throttled", iqError("wait", "resource-constraint", "Users are not allowed to register accounts so quickly", "en"), Throttled, "resource-constraint"},
		{"prosody ip blocklisted", iqError("auth", "forbidden", "Your IP address is blocklisted", ""), NotAllowed, "forbidden"},
		{"prosody ip not allowlisted", iqError("auth", "forbidden", "Your IP address is not allowlisted", ""), NotAllowed, "forbidden"},
		{"ejabberd access denied", iqError("auth", "forbidden", "Access denied by service policy", "en"), NotAllowed, "forbidden"},
		{"prosody ibr disabled", iqError("cancel", "service-unavailable", "", ""), NotAllowed, "service-unavailable"},
		{"prosody registration-required", iqError("auth", "registration-required", "", ""), NotAllowed, "registration-required"},
		{"ejabberd not-allowed", iqError("cancel", "not-allowed", "Not allowed", "en"), NotAllowed, "not-allowed"},
		{"prosody disk", iqError("wait", "internal-server-error", "Failed to write data to disk.", ""), Unavailable, "internal-server-error"},
		{"ejabberd add-user mismatch", iqError("cancel", "item-not-found", "No hook has processed this command", "en"), Unknown, "item-not-found"},
		{"unknown condition", iqError("cancel", "gone", "", ""), Unknown, "gone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := stanzaErr(t, tc.raw)
			if e.Kind != tc.kind || e.Condition != tc.cond {
				t.Errorf("stanza error = kind %s cond %q, want %s %q", e.Kind, e.Condition, tc.kind, tc.cond)
			}
			if k := StanzaKind(e.Condition, e.Text); k != tc.kind {
				t.Errorf("StanzaKind(%q, %q) = %s, want %s", e.Condition, e.Text, k, tc.kind)
			}
			if KindOf(e) != tc.kind || !errors.Is(e, tc.kind) {
				t.Errorf("KindOf = %s", KindOf(e))
			}
		})
	}
}

// Everything else the XMPP side fails with: failed ad-hoc commands (by
// their note: noteKind), connection failures, refused logins, odd replies.
func TestKindOfOther(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	command := func(status string, notes ...Note) error {
		_, err := finishCommand(CommandResult{Node: "http://jabber.org/protocol/admin#add-user", Status: status, Notes: notes})
		if err == nil {
			t.Fatalf("finishCommand(%s, %v) did not fail", status, notes)
		}
		return err
	}
	tests := []struct {
		name string
		err  error
		kind Kind
	}{
		{"prosody add-user exists note", command("completed", Note{Type: "info", Text: "x"}, Note{Type: "error", Text: "Account already exists"}), Conflict},
		{"prosody add-user invalid note", command("completed", Note{Type: "error", Text: "Invalid data.\nPassword mismatch, or empty username"}), InvalidName},
		{"prosody add-user disk note", command("completed", Note{Type: "error", Text: "Failed to write data to disk"}), Unavailable},
		{"prosody other note", command("completed", Note{Type: "error", Text: "Trying to add a user on a but command was sent to b"}), Unknown},
		{"canceled command", command("canceled"), Unknown},
		{"dial refused", unavailable("dial", refused), Unavailable},
		{"raw dial error", refused, Unavailable},
		{"deadline", context.DeadlineExceeded, Unavailable},
		{"wrapped deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), Unavailable},
		{"canceled", context.Canceled, Unavailable},
		{"eof", io.EOF, Unavailable},
		{"unexpected eof", io.ErrUnexpectedEOF, Unavailable},
		{"temporary auth failure", &Error{Kind: saslKind("temporary-auth-failure"), Condition: "temporary-auth-failure"}, Unavailable},
		{"admin password refused", adminLoginError(&Error{Kind: saslKind("not-authorized"), Op: "sasl", Condition: "not-authorized"}), NotAllowed},
		{"protocol", protocol("odd", nil), Protocol},
		{"anything", errors.New("x"), Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf(%v) = %s, want %s", tc.err, got, tc.kind)
			}
			if got := AsError(tc.err); got.Kind != tc.kind {
				t.Errorf("AsError(%v).Kind = %s, want %s", tc.err, got.Kind, tc.kind)
			}
		})
	}
	// The refused admin login keeps the SASL condition and is no longer
	// Auth: the user's credentials were not what was refused.
	if e := AsError(adminLoginError(&Error{Kind: Auth, Condition: "not-authorized"})); e.Condition != "not-authorized" || errors.Is(e, Auth) {
		t.Errorf("refused admin login = %+v", *e)
	}
	if err := adminLoginError(unavailable("dial", refused)); KindOf(err) != Unavailable {
		t.Errorf("admin login, server unreachable = %v", err)
	}
	if AsError(nil) != nil || KindOf(nil) != Unknown {
		t.Error("AsError(nil) != nil")
	}
	e := &Error{Kind: Throttled}
	if AsError(fmt.Errorf("w: %w", e)) != e {
		t.Error("AsError does not return an *Error unchanged")
	}
}

func TestErrorClass(t *testing.T) {
	for err, want := range map[error]string{
		unavailable("dial", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}): "connection_refused",
		context.DeadlineExceeded:                        "timeout",
		unavailable("x", io.EOF):                        "connection_closed",
		&Error{Kind: Auth, Condition: "not-authorized"}: "auth_not-authorized",
		ErrBackoff:                       "backoff",
		unavailable("admin", ErrBackoff): "backoff",
	} {
		if got := ErrorClass(err); got != want {
			t.Errorf("ErrorClass(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := Unknown; k <= NotAvailable; k++ {
		s := k.String()
		if seen[s] || strings.HasPrefix(s, "kind(") {
			t.Errorf("Kind %d: %q", k, s)
		}
		seen[s] = true
	}
}
