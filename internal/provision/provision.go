package provision

import (
	"context"
	"errors"
	"fmt"
)

// Kind classifies why the XMPP server did not create an account.
type Kind int

const (
	// KindUnknown is a refusal the portal could not classify; Condition carries
	// the server's defined condition so the page can still name it.
	KindUnknown        Kind = iota
	KindConflict            // name taken
	KindInvalidName         // name refused by the server (jid-malformed, not-acceptable on the name)
	KindPasswordPolicy      // password refused by the server's policy
	KindThrottled           // server says: too many registrations, wait
	KindNotAllowed          // forbidden / not-allowed / registration closed / admin lacks rights
	KindUnavailable         // server unreachable, TLS failure, timeout, connection lost
)

// Error is what Provisioner methods return for every failure.
type Error struct {
	Kind      Kind
	Condition string // XMPP defined condition, if any (e.g. "conflict")
	Text      string // server's human text, for the log only
	Err       error  // underlying error, for the log only
	// Unanswered marks a KindUnavailable failure that happened after the
	// request that creates the account was sent: the server may have
	// created it before the connection died or the time ran out, so the
	// outcome is unknown and must not be reported as "nothing was created".
	Unanswered bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("provision: kind=%s condition=%q text=%q: %v", e.Kind, e.Condition, e.Text, e.Err)
}

// String returns a short name for k, suitable for logs and metrics.
func (k Kind) String() string {
	switch k {
	case KindUnknown:
		return "unknown"
	case KindConflict:
		return "conflict"
	case KindInvalidName:
		return "invalid_name"
	case KindPasswordPolicy:
		return "password_policy"
	case KindThrottled:
		return "throttled"
	case KindNotAllowed:
		return "not_allowed"
	case KindUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, KindUnavailable for context deadline errors,
// and KindUnknown otherwise.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindUnavailable
	}
	return KindUnknown
}

// Provisioner creates accounts on the XMPP server.
// localpart is already normalised by the caller (PRECIS UsernameCaseMapped).
type Provisioner interface {
	Create(ctx context.Context, localpart, password string) error
	Close() error
}
