package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/xmpp-portal/portal/internal/provision"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"sasl not-authorized", &xmppconn.AuthError{Condition: "not-authorized"}, ErrAuth},
		{"sasl temporary failure", &xmppconn.AuthError{Condition: "temporary-auth-failure"}, ErrUnavailable},
		{"connection", &xmppconn.ConnError{Op: "dial", Err: io.EOF}, ErrUnavailable},
		{"odd reply", &xmppconn.ProtocolError{Msg: "x"}, ErrUnavailable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ErrUnavailable},
		{"weak password (ejabberd)", &xmppconn.StanzaError{Type: "modify", Condition: "not-acceptable"}, ErrPasswordPolicy},
		{"forbidden", &xmppconn.StanzaError{Type: "auth", Condition: "forbidden"}, ErrRefused},
		{"bad-request (prosody, other user)", &xmppconn.StanzaError{Type: "modify", Condition: "bad-request"}, ErrRefused},
		{"server error", &xmppconn.StanzaError{Type: "cancel", Condition: "internal-server-error"}, ErrUnavailable},
		{"prosody error note", &xmppconn.CommandError{Node: "n", Status: "completed"}, ErrRefused},
		// The ADMIN's login failing must never read as the user's wrong password.
		{"admin login refused", &provision.Error{Kind: provision.KindNotAllowed, Err: &xmppconn.AuthError{Condition: "not-authorized"}}, ErrNotAvailable},
		{"admin session down", &provision.Error{Kind: provision.KindUnavailable, Err: &xmppconn.ConnError{Op: "dial"}}, ErrUnavailable},
		{"already classified", &Error{Kind: ErrNotVerified}, ErrNotVerified},
		{"anything else", errors.New("?"), ErrUnavailable},
	}
	all := []error{ErrAuth, ErrUnavailable, ErrPasswordPolicy, ErrRefused, ErrNotVerified, ErrNotAvailable}
	for _, tc := range tests {
		got := classify("op", tc.err)
		for _, k := range all {
			if errors.Is(got, k) != (k == tc.want) {
				t.Errorf("%s: errors.Is(%v, %v) = %v", tc.name, got, k, errors.Is(got, k))
			}
		}
		if got.Op != "op" {
			t.Errorf("%s: op %q", tc.name, got.Op)
		}
	}
	if classify("op", nil) != nil {
		t.Error("classify(nil) != nil")
	}
	if KindName(&Error{Kind: ErrPasswordPolicy}) != "password_policy" || KindName(errors.New("x")) != "other" {
		t.Error("KindName")
	}
}
