package account

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// NSRegister is the XEP-0077 namespace.
const NSRegister = "jabber:iq:register"

// XEP-0133 command nodes used here.
const (
	NodeDeleteUser        = "http://jabber.org/protocol/admin#delete-user"
	NodeChangePassword    = "http://jabber.org/protocol/admin#change-user-password"
	NodeEndUserSession    = "http://jabber.org/protocol/admin#end-user-session"
	NodeRegisteredUsers   = "http://jabber.org/protocol/admin#get-registered-users-num"
	NodeOnlineUsers       = "http://jabber.org/protocol/admin#get-online-users-num"
	DefaultStatsCacheTime = 5 * time.Minute
)

// Commander runs an ad-hoc command at the server as an administrator:
// *xmpp.Admin, the persistent admin session the sign-up flow uses too.
type Commander interface {
	Run(ctx context.Context, node string, fill func(*form.Data) error) (xmpp.CommandResult, error)
}

// Config configures a Manager.
type Config struct {
	// XMPP says how to reach the server; accounts are on XMPP.Domain.
	XMPP xmpp.Config
	// Admin runs admin commands (fallback password change and deletion,
	// ending sessions, statistics). nil: those are not available.
	Admin Commander
	// EndSessions ends every session of the account with the admin command
	// end-user-session after a password change or a deletion (needs Admin).
	EndSessions bool
	// StatsCache is how long Stats answers from its cache.
	// Zero means DefaultStatsCacheTime.
	StatsCache time.Duration
	// Now is the clock of the statistics cache; nil means time.Now.
	Now func() time.Time
	// Log receives events; usernames only at debug level. nil discards.
	Log *slog.Logger
	// Retire, when set, retires the name of an account about to be deleted
	// (internal/retire, delete.retire_names), before anything is asked of
	// the server; an error (the store cannot be written) stops the
	// deletion and is returned as it is.
	Retire func(ctx context.Context, local string) error
}

// Manager logs in to accounts, changes passwords, deletes accounts and reads
// statistics on the XMPP server. It keeps no password and no login state;
// it is safe for concurrent use.
type Manager struct {
	cfg    Config
	domain jid.JID
	log    *slog.Logger
	now    func() time.Time

	statsMu sync.Mutex
	stats   *Stats
	statsAt time.Time
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StatsCache <= 0 {
		cfg.StatsCache = DefaultStatsCacheTime
	}
	d, _ := jid.New("", cfg.XMPP.Domain, "")
	return &Manager{cfg: cfg, domain: d, log: cfg.Log, now: cfg.Now}
}

// Session is an account logged in with its password: the flow's one login,
// on whose stream the flow then acts.
type Session struct {
	m        *Manager
	c        *xmpp.Conn
	local    string
	password string
}

// Login logs in as local with password (a real SASL login: STARTTLS, then
// SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN). Errors are *xmpp.Error: Auth when
// the server refused the credentials (unknown account or wrong password; an
// empty name or password is refused without asking), Unavailable when it
// could not say.
func (m *Manager) Login(ctx context.Context, local, password string) (*Session, error) {
	if local == "" || password == "" {
		return nil, &xmpp.Error{Kind: xmpp.Auth, Op: "login", Text: "empty username or password"}
	}
	c, err := xmpp.Login(ctx, m.cfg.XMPP, local, password, nil)
	if err != nil {
		return nil, xmpp.AsError(err)
	}
	return &Session{m: m, c: c, local: local, password: password}, nil
}

// Close ends the session.
func (s *Session) Close() error { return s.c.Close() }

// verify logs in as local with password once and out again: nil, or the
// login's error.
func (m *Manager) verify(ctx context.Context, local, password string) error {
	c, err := xmpp.Login(ctx, m.cfg.XMPP, local, password, nil)
	if err != nil {
		return xmpp.AsError(err)
	}
	_ = c.Close()
	return nil
}

// ChangePassword sets the account's password to new with XEP-0077 on this
// session's stream (or, when the server does not allow that in-band and an
// admin is configured, with change-user-password). It reports success only
// after one fresh login with new works: the change costs the server two
// logins in all, the session's and this one.
//
// Errors (*xmpp.Error): PasswordPolicy (the server refused new by its
// policy; nothing changed), NotAllowed or Unknown (refused otherwise),
// Unavailable, NotVerified (the server said yes but new does not log in).
// With Config.EndSessions, every session of the account is ended after the
// change (a failure to do so is logged, not returned).
func (s *Session) ChangePassword(ctx context.Context, new string) error {
	m := s.m
	const op = "change_password"
	if new == "" {
		return &xmpp.Error{Kind: xmpp.PasswordPolicy, Op: op, Text: "empty new password"}
	}
	user, _ := jid.New(s.local, m.domain.Domainpart(), "")
	q := xmlstream.Wrap(xmlstream.MultiReader(
		textElem("username", user.Localpart()),
		textElem("password", new),
	), xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}})
	_, err := s.c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ, To: m.domain}, q)
	if err != nil {
		e := passwordError(op, err)
		switch {
		case e.Kind == xmpp.Unavailable:
			// The answer was lost: the change may or may not have happened.
			// The login below tells.
			m.log.WarnContext(ctx, "account.password_change_unanswered", "err", err)
			if verr := m.checkChanged(ctx, op, s.local, new); verr != nil {
				return e
			}
		case m.cfg.Admin != nil && adminFallbackCondition(e.Condition):
			// The server does not let users change their password in-band
			// (never for a policy refusal: that would bypass the policy).
			m.log.InfoContext(ctx, "account.password_change_refused_inband", "condition", e.Condition, "fallback", "admin")
			if aerr := m.adminChangePassword(ctx, s.local, new); aerr != nil {
				return aerr
			}
			if verr := m.checkChanged(ctx, op, s.local, new); verr != nil {
				m.log.WarnContext(ctx, "account.password_change_not_verified", "err", verr)
				return verr
			}
		default:
			m.log.InfoContext(ctx, "account.password_change_refused", "kind", e.Kind.String(), "condition", e.Condition)
			m.log.DebugContext(ctx, "account.password_change_refused", "user", s.local, "text", e.Text)
			return e
		}
	} else if verr := m.checkChanged(ctx, op, s.local, new); verr != nil {
		m.log.WarnContext(ctx, "account.password_change_not_verified", "err", verr)
		return verr
	}
	m.log.InfoContext(ctx, "account.password_changed")
	m.log.DebugContext(ctx, "account.password_changed", "user", s.local)
	m.endSessionsAfter(ctx, s.local)
	return nil
}

// passwordError is err of a password change: the name was not sent, so a
// refusal the classifier reads as one of the name is one of the password.
func passwordError(op string, err error) *xmpp.Error {
	e := xmpp.AsError(err)
	if e.Op == "" || e.Op == "iq" {
		e.Op = op
	}
	if e.Kind == xmpp.InvalidName {
		e.Kind = xmpp.PasswordPolicy
	}
	return e
}

// adminFallbackCondition reports whether an in-band refusal with this
// condition means "not allowed in-band" (rather than "not this password").
func adminFallbackCondition(c string) bool {
	switch c {
	case "forbidden", "not-allowed", "service-unavailable", "feature-not-implemented", "registration-required":
		return true
	}
	return false
}

// adminChangePassword runs change-user-password for local.
func (m *Manager) adminChangePassword(ctx context.Context, local, new string) *xmpp.Error {
	user, err := jid.New(local, m.domain.Domainpart(), "")
	if err != nil {
		return &xmpp.Error{Kind: xmpp.InvalidName, Op: "change_password", Err: err}
	}
	_, err = m.cfg.Admin.Run(ctx, NodeChangePassword, func(d *form.Data) error {
		if err := setAccountJID(d, user); err != nil {
			return err
		}
		if _, err := d.Set("password", new); err != nil {
			return &xmpp.Error{Kind: xmpp.Protocol, Text: "change-user-password form has an unexpected password field", Err: err}
		}
		return nil
	})
	if err != nil {
		e := passwordError("change_password", err)
		m.log.WarnContext(ctx, "account.password_change_admin_failed", "kind", e.Kind.String(), "condition", e.Condition)
		return e
	}
	return nil
}

// checkChanged verifies with one login that new logs in.
func (m *Manager) checkChanged(ctx context.Context, op, local, new string) *xmpp.Error {
	if err := m.verify(ctx, local, new); err != nil {
		if errors.Is(err, xmpp.Auth) {
			return &xmpp.Error{Kind: xmpp.NotVerified, Op: op, Text: "the new password does not log in", Err: err}
		}
		return &xmpp.Error{Kind: xmpp.NotVerified, Op: op, Text: "could not log in with the new password to check", Err: err}
	}
	return nil
}

// Delete removes the account from the server: XEP-0077 <remove/> on this
// session's stream, or, if the server refuses that and an admin is
// configured, the admin command delete-user. It reports success only after
// one fresh login with the password is refused: the deletion costs the
// server two logins in all, the session's and this one.
//
// Errors (*xmpp.Error): NotAllowed or Unknown (the server refused and there
// is no admin to fall back on), Unavailable, NotVerified (the account still
// logs in afterwards); Config.Retire's error as it is (nothing was asked of
// the server).
func (s *Session) Delete(ctx context.Context) error {
	m := s.m
	const op = "delete"
	if m.cfg.Retire != nil {
		// First, so that a name is never free between the deletion and its
		// retirement; a name retired for an account that then fails to be
		// deleted is taken anyway.
		if err := m.cfg.Retire(ctx, s.local); err != nil {
			m.log.WarnContext(ctx, "account.delete_refused", "reason", "retire_failed", "err", err)
			return err
		}
	}
	q := xmlstream.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "remove"}}),
		xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}},
	)
	_, err := s.c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ, To: m.domain}, q)
	method := "ibr"
	if err != nil {
		e := deleteError(op, err)
		switch {
		case e.Kind == xmpp.Unavailable:
			// The server may have removed the account and closed the stream
			// before its answer arrived; the login below tells.
			m.log.InfoContext(ctx, "account.delete_unanswered", "err", err)
		case m.cfg.Admin != nil:
			m.log.InfoContext(ctx, "account.delete_refused_inband", "condition", e.Condition, "fallback", "admin")
			if aerr := m.adminDelete(ctx, s.local); aerr != nil {
				return aerr
			}
			method = "admin"
		default:
			m.log.InfoContext(ctx, "account.delete_refused", "kind", e.Kind.String(), "condition", e.Condition)
			m.log.DebugContext(ctx, "account.delete_refused", "user", s.local, "text", e.Text)
			return e
		}
	}
	if m.cfg.EndSessions {
		// The servers end the sessions of a removed account themselves;
		// this is belt and braces, and may fail for an account that is gone.
		if err := m.EndOtherSessions(ctx, s.local); err != nil {
			m.log.DebugContext(ctx, "account.end_sessions_after_delete", "err", err)
		}
	}
	err = m.verify(ctx, s.local, s.password)
	switch {
	case errors.Is(err, xmpp.Auth):
	case err == nil:
		m.log.ErrorContext(ctx, "account.delete_not_verified", "method", method, "reason", "still_logs_in")
		return &xmpp.Error{Kind: xmpp.NotVerified, Op: op, Text: "the account still logs in after deletion"}
	default:
		m.log.WarnContext(ctx, "account.delete_not_verified", "method", method, "err", err)
		return &xmpp.Error{Kind: xmpp.NotVerified, Op: op, Text: "could not check that the account is gone", Err: err}
	}
	m.log.InfoContext(ctx, "account.deleted", "method", method)
	m.log.DebugContext(ctx, "account.deleted", "user", s.local)
	return nil
}

// deleteError is err of a deletion: a policy refusal cannot be about a
// password or a name here, so it is a refusal.
func deleteError(op string, err error) *xmpp.Error {
	e := xmpp.AsError(err)
	if e.Op == "" || e.Op == "iq" {
		e.Op = op
	}
	if e.Kind == xmpp.PasswordPolicy || e.Kind == xmpp.InvalidName {
		e.Kind = xmpp.Unknown
	}
	return e
}

// adminDelete runs delete-user for local. Its outcome is checked by the
// caller's login attempt (Prosody reports a failed deletion as an
// informational note).
func (m *Manager) adminDelete(ctx context.Context, local string) *xmpp.Error {
	user, err := jid.New(local, m.domain.Domainpart(), "")
	if err != nil {
		return &xmpp.Error{Kind: xmpp.InvalidName, Op: "delete", Err: err}
	}
	_, err = m.cfg.Admin.Run(ctx, NodeDeleteUser, func(d *form.Data) error { return setAccountJID(d, user) })
	if err != nil {
		e := deleteError("delete", err)
		m.log.WarnContext(ctx, "account.delete_admin_failed", "kind", e.Kind.String(), "condition", e.Condition)
		return e
	}
	return nil
}

// EndOtherSessions ends every session of local with the admin command
// end-user-session (Prosody's form names the field accountjids, jid-multi;
// ejabberd's accountjid, jid-single: the form decides). It returns a
// NotAvailable error when no admin is configured.
func (m *Manager) EndOtherSessions(ctx context.Context, local string) error {
	const op = "end_sessions"
	if m.cfg.Admin == nil {
		return &xmpp.Error{Kind: xmpp.NotAvailable, Op: op, Text: "no admin account configured"}
	}
	user, err := jid.New(local, m.domain.Domainpart(), "")
	if err != nil || local == "" {
		return &xmpp.Error{Kind: xmpp.InvalidName, Op: op, Text: "not a valid address", Err: err}
	}
	_, err = m.cfg.Admin.Run(ctx, NodeEndUserSession, func(d *form.Data) error { return setAccountJID(d, user) })
	if err != nil {
		return xmpp.AsError(err)
	}
	m.log.InfoContext(ctx, "account.sessions_ended")
	return nil
}

func (m *Manager) endSessionsAfter(ctx context.Context, local string) {
	if !m.cfg.EndSessions || m.cfg.Admin == nil {
		return
	}
	if err := m.EndOtherSessions(ctx, local); err != nil {
		m.log.WarnContext(ctx, "account.end_sessions_failed", "kind", xmpp.KindOf(err).String(), "err", err)
	}
}

// setAccountJID fills the account field of an admin form, whichever of the
// two names (accountjid, accountjids) and types (jid-single, jid-multi,
// text-single) the server uses.
func setAccountJID(d *form.Data, user jid.JID) error {
	var err error
	done := false
	d.ForFields(func(f form.FieldData) {
		if err != nil || done || (f.Var != "accountjids" && f.Var != "accountjid") {
			return
		}
		done = true
		switch f.Type {
		case form.TypeJIDMulti:
			_, err = d.Set(f.Var, []jid.JID{user})
		case form.TypeJID, "":
			_, err = d.Set(f.Var, user)
		case form.TypeText, form.TypeTextMulti:
			_, err = d.Set(f.Var, user.String())
		default:
			err = errors.New("account field has type " + string(f.Type))
		}
	})
	if err != nil {
		return &xmpp.Error{Kind: xmpp.Protocol, Text: "admin form has unexpected field types", Err: err}
	}
	if !done {
		return &xmpp.Error{Kind: xmpp.Protocol, Text: "admin form has no account field"}
	}
	return nil
}

func textElem(name, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}})
}
