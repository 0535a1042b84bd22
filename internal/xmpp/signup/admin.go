package signup

import (
	"context"
	"log/slog"
	"time"

	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// AddUserNode is the XEP-0133 command the admin mode uses.
const AddUserNode = "http://jabber.org/protocol/admin#add-user"

// Admin creates accounts with XEP-0133 add-user on the persistent session
// of the portal's admin account (an *xmpp.Admin, which connects,
// reconnects with backoff and is closed by its owner, not here).
type Admin struct {
	admin    *xmpp.Admin
	log      *slog.Logger
	inFlight *admission // bounds the add-user commands under way (admission.go)
}

// NewAdmin returns the admin mode on admin's session. log may be nil.
func NewAdmin(admin *xmpp.Admin, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Admin{admin: admin, log: log.With("signup", "admin"), inFlight: newAdmission(maxInFlight)}
}

// Create creates localpart@domain with password via add-user. A name that
// cannot form an address and an empty password are refused without asking
// the server. The whole call, waiting for an in-flight slot included, is
// bounded by the admin session's Timeout (a deadline set through its
// WithTimeout, like each of the session's own). Every failure is an
// *xmpp.Error, Unanswered when the connection failed after the filled form
// was sent.
func (a *Admin) Create(ctx context.Context, localpart, password string) error {
	start := time.Now()
	err := a.create(ctx, localpart, password)
	logCreate(ctx, a.log, localpart, err, time.Since(start))
	return err
}

func (a *Admin) create(ctx context.Context, localpart, password string) error {
	user, err := checkInput(a.admin.Domain(), localpart, password)
	if err != nil {
		return err
	}
	timeout := a.admin.Timeout()
	ctx, cancel := a.admin.WithTimeout(ctx, timeout)
	defer cancel()
	release, err := a.inFlight.acquire(ctx, timeout/2)
	if err != nil {
		return err
	}
	defer release()
	// The form is sent with the first request (one round trip on Prosody
	// and ejabberd; a server that wants its own form first gets it filled
	// in a second step). fill runs just before the request that creates
	// the account is sent: a connection failure or timeout after that
	// leaves the outcome unknown.
	filled := false
	_, err = a.admin.RunWith(ctx, AddUserNode, addUserForm(), func(d *form.Data) error {
		err := fillAddUser(d, user, password)
		filled = err == nil
		return err
	})
	if err != nil {
		return failure(err, "add-user", filled)
	}
	return nil
}

// addUserForm is XEP-0133's add-user form (§4.1) as Prosody and ejabberd
// send it, so that it can be submitted without asking for it first.
func addUserForm() *form.Data {
	return form.New(
		form.Hidden("FORM_TYPE", form.Value("http://jabber.org/protocol/admin")),
		form.JID("accountjid"),
		form.TextPrivate("password"),
		form.TextPrivate("password-verify"),
	)
}

// fillAddUser sets the add-user form fields (the same on Prosody and
// ejabberd: accountjid, password, password-verify). A form it cannot fill
// is Unknown, as before the vocabulary had Protocol: an answer of that
// kind would make xmpp.Admin drop a session that is fine.
func fillAddUser(d *form.Data, user jid.JID, password string) error {
	seen := false
	var err error
	d.ForFields(func(f form.FieldData) {
		if err != nil {
			return
		}
		switch f.Var {
		case "accountjid":
			seen = true
			_, err = d.Set(f.Var, user)
		case "password", "password-verify":
			_, err = d.Set(f.Var, password)
		}
	})
	if err != nil {
		return &xmpp.Error{Kind: xmpp.Unknown, Op: "add-user", Text: "add-user form has unexpected field types", Err: err}
	}
	if !seen {
		return &xmpp.Error{Kind: xmpp.Unknown, Op: "add-user", Text: "add-user form has no accountjid field"}
	}
	return nil
}

// Check logs in as the admin (or reuses the session) and verifies that the
// server offers the add-user command to it (xmpp.Admin.Check): NotAllowed
// if it does not or the admin login is refused, Unavailable if the server
// cannot be reached. Use it at startup.
func (a *Admin) Check(ctx context.Context) error {
	err := a.admin.Check(ctx, AddUserNode)
	if err != nil {
		e := xmpp.AsError(err)
		a.log.WarnContext(ctx, "signup.check", "outcome", "failed", "kind", e.Kind.String(),
			"condition", e.Condition, "error_class", errorClass(e))
		return failure(err, "check", false)
	}
	a.log.InfoContext(ctx, "signup.check", "outcome", "ok")
	return nil
}
