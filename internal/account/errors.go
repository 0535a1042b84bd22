package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/xmpp-portal/portal/internal/provision"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// Sentinel errors. Every error returned by a Manager matches exactly one of
// them with errors.Is.
var (
	// ErrAuth: the server refused the address and password (unknown account
	// or wrong password; the server does not say which, nor does the portal).
	ErrAuth = errors.New("account: the server refused the address or password")

	// ErrUnavailable: the server could not be reached, did not answer in
	// time, or answered something unusable. Nothing is known about the
	// credentials.
	ErrUnavailable = errors.New("account: the XMPP server cannot be reached")

	// ErrPasswordPolicy: the server refused the new password by its policy
	// (ejabberd password_strength). The password was not changed.
	ErrPasswordPolicy = errors.New("account: the server refused the new password")

	// ErrRefused: the server refused the operation for another reason (for
	// example it does not allow removing accounts in-band and no admin
	// account is configured). Nothing was changed.
	ErrRefused = errors.New("account: the server refused the request")

	// ErrNotVerified: the server accepted the change, but the check
	// afterwards did not confirm it (the new password does not log in, the
	// old one still does, or a deleted account still logs in).
	ErrNotVerified = errors.New("account: the change could not be confirmed")

	// ErrNotAvailable: the operation needs something this deployment lacks
	// (an admin account, or a command the server does not offer).
	ErrNotAvailable = errors.New("account: not available on this server")
)

// Error is the error type of every Manager failure. Kind is one of the
// sentinel errors above; the rest is for the log only (server texts may
// quote user input: log them at debug level).
type Error struct {
	Op        string // "verify", "change_password", "delete", "end_sessions", "stats"
	Kind      error
	Condition string // XMPP condition, if the server named one
	Text      string // server's text, if any
	Err       error  // underlying error
}

func (e *Error) Error() string {
	s := "account: " + e.Op + ": " + kindName(e.Kind)
	if e.Condition != "" {
		s += " (" + e.Condition + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// KindName returns a short name of err's kind for logs: "auth",
// "unavailable", "password_policy", "refused", "not_verified",
// "not_available", or "other".
func KindName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return kindName(e.Kind)
	}
	return "other"
}

func kindName(k error) string {
	switch k {
	case ErrAuth:
		return "auth"
	case ErrUnavailable:
		return "unavailable"
	case ErrPasswordPolicy:
		return "password_policy"
	case ErrRefused:
		return "refused"
	case ErrNotVerified:
		return "not_verified"
	case ErrNotAvailable:
		return "not_available"
	}
	return fmt.Sprintf("%v", k)
}

// classify turns an error from xmppconn, provision or the context into an
// *Error of op.
func classify(op string, err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Op == "" {
			e.Op = op
		}
		return e
	}
	out := &Error{Op: op, Err: err}
	var se *xmppconn.StanzaError
	var ce *xmppconn.CommandError
	var pe *provision.Error
	switch {
	case errors.As(err, &pe):
		// The admin session could not be opened: never the user's fault.
		out.Condition, out.Text = pe.Condition, pe.Text
		switch pe.Kind {
		case provision.KindNotAllowed:
			out.Kind = ErrNotAvailable
		default:
			out.Kind = ErrUnavailable
		}
	case errors.Is(err, xmppconn.ErrAuth):
		out.Kind = ErrAuth
	case errors.Is(err, xmppconn.ErrUnavailable), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled), errors.Is(err, xmppconn.ErrProtocol):
		out.Kind = ErrUnavailable
	case errors.As(err, &se):
		out.Condition, out.Text = se.Condition, se.Text
		switch se.Condition {
		case "not-acceptable":
			out.Kind = ErrPasswordPolicy
		case "internal-server-error", "remote-server-timeout", "resource-constraint":
			out.Kind = ErrUnavailable
		default:
			out.Kind = ErrRefused
		}
	case errors.As(err, &ce):
		out.Kind, out.Text = ErrRefused, ce.ErrorText()
	default:
		out.Kind = ErrUnavailable
	}
	return out
}
