package signup

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Creator creates accounts on the XMPP server: *Admin and *IBR. localpart
// is already normalised by the caller (PRECIS UsernameCaseMapped). Every
// failure is an *xmpp.Error; ask its Kind with errors.Is or xmpp.KindOf,
// and Unanswered for a request sent but not answered.
type Creator interface {
	Create(ctx context.Context, localpart, password string) error
}

var (
	_ Creator = (*Admin)(nil)
	_ Creator = (*IBR)(nil)
)

// checkInput rejects what must never be sent: an empty password, or a name
// that cannot form an address (admin mode only; IBR sends names raw and
// lets the server decide).
func checkInput(domain jid.JID, localpart, password string) (jid.JID, error) {
	if password == "" {
		return jid.JID{}, emptyPassword()
	}
	if localpart == "" {
		return jid.JID{}, &xmpp.Error{Kind: xmpp.InvalidName, Op: "check input", Condition: "jid-malformed", Text: "empty username"}
	}
	j, err := jid.New(localpart, domain.Domainpart(), "")
	if err != nil || j.Localpart() == "" {
		return jid.JID{}, &xmpp.Error{Kind: xmpp.InvalidName, Op: "check input", Condition: "jid-malformed",
			Text: "username is not a valid JID localpart", Err: err}
	}
	return j, nil
}

func emptyPassword() *xmpp.Error {
	return &xmpp.Error{Kind: xmpp.PasswordPolicy, Op: "check input", Condition: "not-acceptable", Text: "empty password"}
}

// failure returns err as an *xmpp.Error for the operation op (an error
// that is not one gets KindOf's kind), marked Unanswered if sent is set and
// the failure is a connection's. The *xmpp.Error is copied before it is
// marked: the same value can reach several callers (the cause of a dead
// connection).
func failure(err error, op string, sent bool) error {
	var e *xmpp.Error
	if !errors.As(err, &e) {
		return &xmpp.Error{Kind: xmpp.KindOf(err), Op: op, Unanswered: sent && xmpp.KindOf(err) == xmpp.Unavailable, Err: err}
	}
	if sent && e.Kind == xmpp.Unavailable && !e.Unanswered {
		c := *e
		c.Unanswered = true
		return &c
	}
	return err
}

// errorClass is xmpp.ErrorClass, plus "busy" for a request refused by the
// admission bound.
func errorClass(err error) string {
	if errors.Is(err, errBusy) {
		return "busy"
	}
	return xmpp.ErrorClass(err)
}

// logCreate logs the outcome of a Create: event and outcome at Info/Warn,
// the username only at Debug, never the password or an address.
func logCreate(ctx context.Context, log *slog.Logger, localpart string, err error, d time.Duration) {
	ms := d.Milliseconds()
	if err == nil {
		log.InfoContext(ctx, "account.created", "duration_ms", ms)
		log.DebugContext(ctx, "account.created", "user", localpart)
		return
	}
	e := xmpp.AsError(err)
	level := slog.LevelInfo // a refused name is a normal outcome
	switch e.Kind {
	case xmpp.Unavailable, xmpp.Unknown, xmpp.Protocol, xmpp.NotAllowed:
		level = slog.LevelWarn
	}
	attrs := []any{"kind", e.Kind.String(), "duration_ms", ms}
	if e.Condition != "" {
		attrs = append(attrs, "condition", e.Condition)
	}
	if e.Kind == xmpp.Unavailable || e.Kind == xmpp.Unknown || e.Kind == xmpp.Protocol {
		attrs = append(attrs, "error_class", errorClass(e))
	}
	if e.Unanswered {
		attrs = append(attrs, "outcome", "unknown")
	}
	log.Log(ctx, level, "account.create_failed", attrs...)
	// Server texts may quote user input: Debug only, like the username.
	log.DebugContext(ctx, "account.create_failed", "user", localpart, "text", e.Text)
}
