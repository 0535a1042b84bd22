package provision

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// Classify maps an error from the XMPP side (xmppconn, the context, the
// network) to an *Error with the Kind the web layer explains. It returns nil
// for nil and an *Error unchanged.
//
// Stanza errors (IBR on both servers, ad-hoc commands on ejabberd):
//
//	conflict                                  -> KindConflict
//	jid-malformed                             -> KindInvalidName
//	not-acceptable, text about the password   -> KindPasswordPolicy
//	not-acceptable, text about the username   -> KindInvalidName
//	policy-violation, resource-constraint     -> KindThrottled
//	forbidden, not-allowed, not-authorized,
//	service-unavailable, registration-required -> KindNotAllowed
//	internal-server-error, remote-server-timeout -> KindUnavailable
//	anything else                             -> KindUnknown (Condition set)
//
// Ad-hoc commands that complete with a note of type "error" (Prosody) are
// classified by the note's text ("already exists" -> KindConflict, ...).
// Connection failures, timeouts and EOF are KindUnavailable; a refused admin
// login is KindNotAllowed; odd replies are KindUnknown.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var se *xmppconn.StanzaError
	if errors.As(err, &se) {
		return &Error{Kind: stanzaKind(se), Condition: se.Condition, Text: se.Text, Err: err}
	}
	var ce *xmppconn.CommandError
	if errors.As(err, &ce) {
		text := ce.ErrorText()
		k := noteKind(text)
		if text == "" && ce.Status == "canceled" {
			k = KindUnknown
		}
		return &Error{Kind: k, Text: text, Err: err}
	}
	var ne net.Error
	switch {
	case errors.Is(err, xmppconn.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.As(err, &ne):
		return &Error{Kind: KindUnavailable, Err: err}
	case errors.Is(err, xmppconn.ErrAuth):
		// Only the admin account logs in here: its credentials were refused.
		var ae *xmppconn.AuthError
		cond := "not-authorized"
		if errors.As(err, &ae) {
			cond = ae.Condition
		}
		return &Error{Kind: KindNotAllowed, Condition: cond, Err: err}
	}
	return &Error{Kind: KindUnknown, Err: err}
}

func stanzaKind(se *xmppconn.StanzaError) Kind {
	switch se.Condition {
	case "conflict":
		return KindConflict
	case "jid-malformed":
		return KindInvalidName
	case "not-acceptable", "bad-request":
		// Prosody: "The requested username is invalid.",
		// "Username: Required value missing", "Password: Required value
		// missing"; ejabberd: "The password is too weak", "The password
		// contains unacceptable characters".
		t := strings.ToLower(se.Text)
		switch {
		case strings.Contains(t, "password"):
			return KindPasswordPolicy
		case strings.Contains(t, "username"), strings.Contains(t, "user name"), strings.Contains(t, "jid"):
			return KindInvalidName
		}
		if se.Condition == "not-acceptable" && t == "" {
			return KindInvalidName
		}
		return KindUnknown
	case "policy-violation", "resource-constraint":
		return KindThrottled
	case "forbidden", "not-allowed", "not-authorized", "service-unavailable", "registration-required":
		return KindNotAllowed
	case "internal-server-error", "remote-server-timeout", "remote-server-not-found":
		return KindUnavailable
	}
	return KindUnknown
}

// noteKind classifies the text of an error note of a completed ad-hoc
// command (Prosody's mod_admin_adhoc).
func noteKind(text string) Kind {
	t := strings.ToLower(text)
	switch {
	case strings.Contains(t, "already exists"):
		return KindConflict // "Account already exists"
	case strings.Contains(t, "failed to write"):
		return KindUnavailable // "Failed to write data to disk"
	case strings.Contains(t, "password mismatch"), strings.Contains(t, "empty username"),
		strings.Contains(t, "invalid jid"), strings.Contains(t, "accountjid"):
		// "Invalid data.\nPassword mismatch, or empty username": the portal
		// always sends matching passwords, so the name was refused.
		return KindInvalidName
	case strings.Contains(t, "permission"), strings.Contains(t, "not allowed"), strings.Contains(t, "forbidden"):
		return KindNotAllowed
	}
	return KindUnknown
}

// errorClass names the kind of a low-level failure for logs, without the
// error text (which may contain addresses).
func errorClass(err error) string {
	var ne net.Error
	var ae *xmppconn.AuthError
	var oe *net.OpError
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &ae):
		return "auth_" + ae.Condition
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "dial_failed"
	case isTLSError(err):
		return "tls"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_closed"
	case errors.Is(err, errBackoff):
		return "backoff"
	case errors.Is(err, errBusy):
		return "busy"
	case errors.Is(err, xmppconn.ErrProtocol):
		return "protocol"
	case errors.Is(err, xmppconn.ErrUnavailable):
		return "stream_failed"
	}
	return "other"
}

func isTLSError(err error) bool {
	var ve *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	var ae tls.AlertError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	return errors.As(err, &ve) || errors.As(err, &re) || errors.As(err, &ae) || errors.As(err, &ue) || errors.As(err, &he)
}
