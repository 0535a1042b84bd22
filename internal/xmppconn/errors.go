package xmppconn

import (
	"errors"
	"strings"
)

var (
	// ErrAuth is matched (errors.Is) by errors caused by the server refusing
	// the credentials (SASL not-authorized, account-disabled,
	// credentials-expired, invalid-authzid) or by a username that cannot form
	// a valid address.
	ErrAuth = errors.New("xmppconn: authentication failed")

	// ErrUnavailable is matched by errors caused by the connection: the server
	// could not be reached, TLS failed, a deadline passed, the stream was
	// closed, or the server refused to negotiate the stream.
	ErrUnavailable = errors.New("xmppconn: server unavailable")

	// ErrProtocol is matched by errors caused by a reply this package cannot
	// use: malformed, too large, or not what the protocol requires.
	ErrProtocol = errors.New("xmppconn: unexpected reply from server")
)

// AuthError is a SASL failure reported by the server.
type AuthError struct {
	Condition string // SASL condition, e.g. "not-authorized"
	Text      string // server's text, for logs only
}

func (e *AuthError) Error() string {
	s := "xmppconn: authentication failed: " + e.Condition
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is reports whether target is ErrAuth (credential problems),
// ErrUnavailable (temporary-auth-failure) or ErrProtocol (anything else).
func (e *AuthError) Is(target error) bool {
	switch e.Condition {
	case "not-authorized", "account-disabled", "credentials-expired", "invalid-authzid", conditionBadUsername:
		return target == ErrAuth
	case "temporary-auth-failure":
		return target == ErrUnavailable
	default:
		return target == ErrProtocol
	}
}

// conditionBadUsername is the AuthError condition used when the localpart
// cannot form a valid JID; nothing was sent to the server.
const conditionBadUsername = "bad-username"

// ConnError is a failure of the connection itself. It matches ErrUnavailable.
type ConnError struct {
	Op  string // what was being done: "dial", "negotiate", "send", "receive", ...
	Err error
}

func (e *ConnError) Error() string {
	if e.Err == nil {
		return "xmppconn: " + e.Op + ": server unavailable"
	}
	return "xmppconn: " + e.Op + ": " + e.Err.Error()
}

func (e *ConnError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUnavailable.
func (e *ConnError) Is(target error) bool { return target == ErrUnavailable }

// ProtocolError is an unusable reply. It matches ErrProtocol.
type ProtocolError struct {
	Msg string
	Err error
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return "xmppconn: " + e.Msg + ": " + e.Err.Error()
	}
	return "xmppconn: " + e.Msg
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Is reports whether target is ErrProtocol.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

func protoErr(msg string, err error) error { return &ProtocolError{Msg: msg, Err: err} }

// StanzaError is an IQ of type "error" returned by the server.
type StanzaError struct {
	Type      string // "auth", "cancel", "continue", "modify", "wait"
	Condition string // defined condition, e.g. "conflict"; "undefined-condition" if missing
	Text      string // human text (no language, else "en", else the first one), for logs only
	Lang      string // language of Text
}

func (e *StanzaError) Error() string {
	s := "xmppconn: stanza error: " + e.Type + "/" + e.Condition
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Note is a XEP-0050 <note/> of a command response.
type Note struct {
	Type string // "info", "warn" or "error"
	Text string
}

// CommandError is a completed or canceled ad-hoc command whose response
// carries at least one note of type "error" (this is how Prosody reports
// failures), or a command the server canceled.
type CommandError struct {
	Node   string
	Status string
	Notes  []Note // all notes of the response
}

func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString("xmppconn: command ")
	b.WriteString(e.Node)
	b.WriteString(" failed (")
	b.WriteString(e.Status)
	b.WriteString(")")
	for _, n := range e.Notes {
		if n.Type == "error" {
			b.WriteString(": ")
			b.WriteString(n.Text)
		}
	}
	return b.String()
}

// ErrorText returns the text of the first error note.
func (e *CommandError) ErrorText() string {
	for _, n := range e.Notes {
		if n.Type == "error" {
			return n.Text
		}
	}
	return ""
}
