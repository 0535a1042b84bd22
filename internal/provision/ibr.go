package provision

import (
	"context"
	"encoding/xml"
	"log/slog"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// NSRegister is the XEP-0077 namespace.
const NSRegister = "jabber:iq:register"

// IBR creates accounts with XEP-0077 in-band registration, on a fresh
// unauthenticated STARTTLS stream per account (closed afterwards).
// The server must allow registration from the portal's address only.
type IBR struct {
	cfg      xmppconn.Config
	log      *slog.Logger
	timeout  time.Duration
	inFlight *admission // bounds the registrations under way (admission.go)
	// withTimeout sets every deadline of the provisioner, as in Admin.
	withTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
}

var _ Provisioner = (*IBR)(nil)

// NewIBR returns an IBR-mode Provisioner. log may be nil.
func NewIBR(cfg xmppconn.Config, log *slog.Logger) *IBR {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = xmppconn.DefaultTimeout
	}
	return &IBR{cfg: cfg, log: log.With("provision", "ibr"), timeout: timeout, inFlight: newAdmission(maxInFlight),
		withTimeout: context.WithTimeout}
}

// Create registers localpart with password. The name is sent as given (the
// server decides whether it is valid); an empty password is refused
// without asking the server. Every failure is an *Error.
func (r *IBR) Create(ctx context.Context, localpart, password string) error {
	start := time.Now()
	err := r.create(ctx, localpart, password)
	logCreate(ctx, r.log, localpart, err, time.Since(start))
	return err
}

func (r *IBR) create(ctx context.Context, localpart, password string) error {
	if password == "" {
		return &Error{Kind: KindPasswordPolicy, Condition: "not-acceptable", Text: "empty password"}
	}
	ctx, cancel := r.withTimeout(ctx, r.timeout)
	defer cancel()
	release, err := r.inFlight.acquire(ctx, r.timeout/2)
	if err != nil {
		return err
	}
	defer release()
	s, err := xmppconn.Unauth(ctx, r.cfg)
	if err != nil {
		return Classify(err)
	}
	// The answer is known once the IQ returns: the stream is closed in the
	// background (Close waits for the server's closing tag, up to 2 s), so
	// the user does not wait for it.
	defer func() { go xmppconn.Close(s) }()
	q := xmlstream.Wrap(xmlstream.MultiReader(
		element("username", localpart),
		element("password", password),
	), xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}})
	if _, err := xmppconn.SendIQ(ctx, s, stanza.IQ{Type: stanza.SetIQ}, q); err != nil {
		pe := Classify(err)
		// Sent but not answered: the server may have registered the name.
		pe.Unanswered = pe.Kind == KindUnavailable
		return pe
	}
	return nil
}

func element(name, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}})
}

// Check opens an unauthenticated stream and asks for the registration form:
// it fails with KindNotAllowed if the server does not offer registration
// (Prosody with allow_registration = false) and with KindUnavailable if it
// cannot be reached. Use it at startup. Address restrictions (the server
// allowing IBR from the portal's address only) are applied on submit and
// cannot be checked without creating an account.
func (r *IBR) Check(ctx context.Context) error {
	ctx, cancel := r.withTimeout(ctx, r.timeout)
	defer cancel()
	s, err := xmppconn.Unauth(ctx, r.cfg)
	if err != nil {
		pe := Classify(err)
		r.log.WarnContext(ctx, "provision.check", "outcome", "failed", "kind", pe.Kind.String(), "error_class", errorClass(err))
		return pe
	}
	defer xmppconn.Close(s)
	q := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}})
	if _, err := xmppconn.SendIQ(ctx, s, stanza.IQ{Type: stanza.GetIQ}, q); err != nil {
		pe := Classify(err)
		r.log.WarnContext(ctx, "provision.check", "outcome", "failed", "kind", pe.Kind.String(), "condition", pe.Condition)
		return pe
	}
	r.log.InfoContext(ctx, "provision.check", "outcome", "ok")
	return nil
}

// Ping is Check.
func (r *IBR) Ping(ctx context.Context) error { return r.Check(ctx) }

// Close does nothing: IBR keeps no connection open.
func (r *IBR) Close() error { return nil }
