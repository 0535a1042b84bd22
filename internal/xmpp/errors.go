package xmpp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Kind is what went wrong, in the one vocabulary of the XMPP side: the web
// layer maps each kind to a status and a message (handlers/messages.go).
// A Kind is an error, so errors.Is(err, xmpp.Auth) asks for it.
type Kind int

// The kinds.
const (
	// Unknown is a refusal the portal could not classify; Error.Condition
	// carries the server's condition so the page can still name it.
	Unknown Kind = iota
	// Auth: the server refused the credentials (unknown account or wrong
	// password; the server does not say which, nor does the portal).
	Auth
	// Unavailable: the server could not be reached, TLS failed, a deadline
	// passed, the stream was closed or refused.
	Unavailable
	// Protocol: the server answered something the portal cannot use
	// (malformed, too large, not what the protocol requires).
	Protocol
	// Conflict: the name is taken.
	Conflict
	// InvalidName: the server refused the name.
	InvalidName
	// PasswordPolicy: the server refused the password by its policy.
	PasswordPolicy
	// Throttled: the server says too many requests, wait.
	Throttled
	// NotAllowed: forbidden, not allowed, registration closed, the admin
	// account lacks rights or was refused.
	NotAllowed
	// NotVerified: the server accepted a change that the check afterwards
	// did not confirm.
	NotVerified
	// NotAvailable: the operation needs something this deployment lacks
	// (an admin account, a command the server does not offer).
	NotAvailable
)

var kindNames = [...]string{
	Unknown: "unknown", Auth: "auth", Unavailable: "unavailable", Protocol: "protocol",
	Conflict: "conflict", InvalidName: "invalid_name", PasswordPolicy: "password_policy",
	Throttled: "throttled", NotAllowed: "not_allowed", NotVerified: "not_verified", NotAvailable: "not_available",
}

// String returns a short name for k, for logs and metrics.
func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(?)"
}

// Error lets a Kind be an errors.Is target.
func (k Kind) Error() string { return "xmpp: " + k.String() }

// Error is every failure of this package and the packages below it.
type Error struct {
	Kind Kind
	// Op is what was being done ("dial", "negotiate", "send", "receive",
	// "add-user", ...), for the log.
	Op string
	// Condition is the XMPP defined condition (stanza or SASL), if any.
	Condition string
	// Text is the server's human text, for the log only (it may quote user
	// input: log it at debug level).
	Text string
	// Unanswered marks a failure after the request that changes something
	// was sent: the server may have done it before the connection died or
	// the time ran out, so the outcome is unknown.
	Unanswered bool
	// Err is the underlying error, for the log.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("xmpp: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.Condition != "" {
		b.WriteString(" (" + e.Condition + ")")
	}
	if e.Text != "" {
		b.WriteString(": " + e.Text)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// KindOf returns the Kind of err: an *Error's, Unavailable for context
// errors and network failures, Unknown otherwise (and for nil).
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return Unknown
	case errors.As(err, &e):
		return e.Kind
	case isConnFailure(err):
		return Unavailable
	}
	return Unknown
}

// AsError returns err as an *Error: itself, or a new one of the Kind of
// KindOf. It returns nil for nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindOf(err), Err: err}
}

func isConnFailure(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne)
}

// unavailable is a connection failure while doing op.
func unavailable(op string, err error) *Error { return &Error{Kind: Unavailable, Op: op, Err: err} }

// protocol is an answer the portal cannot use.
func protocol(msg string, err error) *Error { return &Error{Kind: Protocol, Text: msg, Err: err} }

// saslKind classifies a SASL failure condition (RFC 6120 §6.5).
func saslKind(condition string) Kind {
	switch condition {
	case "not-authorized", "account-disabled", "credentials-expired", "invalid-authzid", conditionBadUsername:
		return Auth
	case "temporary-auth-failure":
		return Unavailable
	}
	return Protocol
}

// conditionBadUsername is the condition of a login whose localpart cannot
// form a valid address; nothing was sent to the server.
const conditionBadUsername = "bad-username"

// StanzaKind classifies a stanza error by its defined condition and, where
// the condition alone does not say, the server's text (the servers word
// the same condition differently for names and passwords):
//
//	conflict                                    -> Conflict
//	jid-malformed                               -> InvalidName
//	not-acceptable, bad-request: text about the
//	  password -> PasswordPolicy, about the name
//	  (or not-acceptable without text) -> InvalidName
//	policy-violation, resource-constraint       -> Throttled
//	forbidden, not-allowed, not-authorized,
//	  service-unavailable, registration-required,
//	  feature-not-implemented                   -> NotAllowed
//	internal-server-error, remote-server-timeout,
//	  remote-server-not-found                   -> Unavailable
//	anything else                               -> Unknown
func StanzaKind(condition, text string) Kind {
	switch condition {
	case "conflict":
		return Conflict
	case "jid-malformed":
		return InvalidName
	case "not-acceptable", "bad-request":
		// Prosody: "The requested username is invalid.", "Username:
		// Required value missing", "Password: Required value missing";
		// ejabberd: "The password is too weak", "The password contains
		// unacceptable characters".
		t := strings.ToLower(text)
		switch {
		case strings.Contains(t, "password"):
			return PasswordPolicy
		case strings.Contains(t, "username"), strings.Contains(t, "user name"), strings.Contains(t, "jid"):
			return InvalidName
		}
		if condition == "not-acceptable" && t == "" {
			return InvalidName
		}
		return Unknown
	case "policy-violation", "resource-constraint":
		return Throttled
	case "forbidden", "not-allowed", "not-authorized", "service-unavailable", "registration-required", "feature-not-implemented":
		return NotAllowed
	case "internal-server-error", "remote-server-timeout", "remote-server-not-found":
		return Unavailable
	}
	return Unknown
}

// noteKind classifies the text of an error note of a completed ad-hoc
// command (how Prosody's mod_admin_adhoc reports failures).
func noteKind(text string) Kind {
	t := strings.ToLower(text)
	switch {
	case strings.Contains(t, "already exists"):
		return Conflict // "Account already exists"
	case strings.Contains(t, "failed to write"):
		return Unavailable // "Failed to write data to disk"
	case strings.Contains(t, "password mismatch"), strings.Contains(t, "empty username"),
		strings.Contains(t, "invalid jid"), strings.Contains(t, "accountjid"):
		// "Invalid data.\nPassword mismatch, or empty username": the portal
		// always sends matching passwords, so the name was refused.
		return InvalidName
	case strings.Contains(t, "permission"), strings.Contains(t, "not allowed"), strings.Contains(t, "forbidden"):
		return NotAllowed
	}
	return Unknown
}

// ErrorClass names the kind of a low-level failure for logs, without the
// error text (which may contain addresses).
func ErrorClass(err error) string {
	var ne net.Error
	var oe *net.OpError
	var e *Error
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &e) && e.Kind == Auth:
		return "auth_" + e.Condition
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
	case errors.Is(err, ErrBackoff):
		return "backoff"
	case errors.As(err, &e) && e.Kind == Protocol:
		return "protocol"
	case errors.As(err, &e) && e.Kind == Unavailable:
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

// Note is a XEP-0050 <note/> of a command response.
type Note struct {
	Type string // "info", "warn" or "error"
	Text string
}
