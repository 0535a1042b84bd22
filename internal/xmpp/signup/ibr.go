package signup

import (
	"context"
	"encoding/xml"
	"log/slog"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// NSRegister is the XEP-0077 namespace.
const NSRegister = "jabber:iq:register"

// IBR creates accounts with XEP-0077 in-band registration, on a fresh
// unauthenticated STARTTLS stream per account (xmpp.Unauth, closed
// afterwards). It holds no connection between calls. The server must allow
// registration from the portal's address only.
type IBR struct {
	cfg      xmpp.Config
	log      *slog.Logger
	timeout  time.Duration
	inFlight *admission // bounds the registrations under way (admission.go)
	// WithTimeout sets every deadline of Create and Check
	// (context.WithTimeout by default), each the configured timeout. Tests
	// wrap it to see that each is: an exact check where a bound on elapsed
	// time would depend on the machine's load. Set it before the first call.
	WithTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
}

// NewIBR returns the ibr mode for the server of cfg; cfg.Timeout (or
// xmpp.DefaultTimeout) bounds each call. log may be nil.
func NewIBR(cfg xmpp.Config, log *slog.Logger) *IBR {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = xmpp.DefaultTimeout
	}
	return &IBR{cfg: cfg, log: log.With("signup", "ibr"), timeout: timeout, inFlight: newAdmission(maxInFlight),
		WithTimeout: context.WithTimeout}
}

// Create registers localpart with password. The name is sent as given (the
// server decides whether it is valid); an empty password is refused
// without asking the server. Every failure is an *xmpp.Error, Unanswered
// when the connection failed after the registration was sent.
func (r *IBR) Create(ctx context.Context, localpart, password string) error {
	start := time.Now()
	err := r.create(ctx, localpart, password)
	logCreate(ctx, r.log, localpart, err, time.Since(start))
	return err
}

func (r *IBR) create(ctx context.Context, localpart, password string) error {
	if password == "" {
		return emptyPassword()
	}
	ctx, cancel := r.WithTimeout(ctx, r.timeout)
	defer cancel()
	release, err := r.inFlight.acquire(ctx, r.timeout/2)
	if err != nil {
		return err
	}
	defer release()
	c, err := xmpp.Unauth(ctx, r.cfg)
	if err != nil {
		return failure(err, "register", false)
	}
	// The answer is known once the IQ returns: the stream is closed in the
	// background (Close waits for the server's closing tag, up to 2 s), so
	// the user does not wait for it.
	defer func() { go c.Close() }()
	q := xmlstream.Wrap(xmlstream.MultiReader(
		element("username", localpart),
		element("password", password),
	), xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}})
	if _, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, q); err != nil {
		// Sent but not answered: the server may have registered the name.
		return failure(err, "register", true)
	}
	return nil
}

func element(name, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}})
}

// Check opens an unauthenticated stream and asks for the registration form:
// it fails with NotAllowed if the server does not offer registration
// (Prosody with allow_registration = false) and with Unavailable if it
// cannot be reached. Use it at startup. Address restrictions (the server
// allowing IBR from the portal's address only) are applied on submit and
// cannot be checked without creating an account.
func (r *IBR) Check(ctx context.Context) error {
	ctx, cancel := r.WithTimeout(ctx, r.timeout)
	defer cancel()
	c, err := xmpp.Unauth(ctx, r.cfg)
	if err != nil {
		e := xmpp.AsError(err)
		r.log.WarnContext(ctx, "signup.check", "outcome", "failed", "kind", e.Kind.String(), "error_class", errorClass(e))
		return failure(err, "check", false)
	}
	defer c.Close()
	q := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}})
	if _, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, q); err != nil {
		e := xmpp.AsError(err)
		r.log.WarnContext(ctx, "signup.check", "outcome", "failed", "kind", e.Kind.String(), "condition", e.Condition)
		return failure(err, "check", false)
	}
	r.log.InfoContext(ctx, "signup.check", "outcome", "ok")
	return nil
}
