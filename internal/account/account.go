package account

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmppconn"
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

// Commander runs an ad-hoc command at the server as an administrator.
// *provision.Admin implements it on its persistent session.
type Commander interface {
	Run(ctx context.Context, node string, fill func(*form.Data) error) (xmppconn.CommandResult, error)
}

// Config configures a Manager.
type Config struct {
	// XMPP says how to reach the server; accounts are on XMPP.Domain.
	XMPP xmppconn.Config
	// Admin runs admin commands (fallback deletion, ending sessions,
	// statistics). nil: those are not available.
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
}

// Manager changes passwords, deletes accounts and reads statistics on the
// XMPP server. It keeps no password and no login state; it is safe for
// concurrent use.
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

// HasAdmin reports whether admin commands can be used.
func (m *Manager) HasAdmin() bool { return m.cfg.Admin != nil }

// login opens a session as local with password; errors are *Error of op.
func (m *Manager) login(ctx context.Context, op, local, password string, h xmpp.Handler) (*xmpp.Session, *Error) {
	if local == "" || password == "" {
		// Nothing to ask the server: an empty name or password never logs in.
		return nil, &Error{Op: op, Kind: ErrAuth, Text: "empty username or password"}
	}
	s, err := xmppconn.Login(ctx, m.cfg.XMPP, local, password, h)
	if err != nil {
		return nil, classify(op, err)
	}
	return s, nil
}

// Verify checks local's password with a real SASL login (SCRAM-SHA-256,
// SCRAM-SHA-1 or PLAIN over TLS) and logs out again. It returns nil when
// the login succeeds, an error matching ErrAuth when the server refuses the
// credentials (unknown account or wrong password), and one matching
// ErrUnavailable when the server cannot say.
func (m *Manager) Verify(ctx context.Context, local, password string) error {
	s, e := m.login(ctx, "verify", local, password, nil)
	if e != nil {
		return e
	}
	_ = xmppconn.Close(s)
	return nil
}

// ChangePassword sets local's password from old to new with XEP-0077 on the
// user's own authenticated stream. It reports success only after a fresh
// login with new works and one with old is refused.
//
// Errors: ErrAuth (old is wrong), ErrPasswordPolicy (the server refused new
// by its policy; nothing changed), ErrRefused (refused otherwise),
// ErrUnavailable, ErrNotVerified (the server said yes but the logins do not
// agree). With Config.EndSessions, every session of the account is ended
// after the change (a failure to do so is logged, not returned).
func (m *Manager) ChangePassword(ctx context.Context, local, old, new string) error {
	const op = "change_password"
	if new == "" {
		return &Error{Op: op, Kind: ErrPasswordPolicy, Text: "empty new password"}
	}
	s, e := m.login(ctx, op, local, old, nil)
	if e != nil {
		return e
	}
	user, _ := jid.New(local, m.domain.Domainpart(), "")
	q := xmlstream.Wrap(xmlstream.MultiReader(
		textElem("username", user.Localpart()),
		textElem("password", new),
	), xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}})
	_, err := xmppconn.SendIQ(ctx, s, stanza.IQ{Type: stanza.SetIQ, To: m.domain}, q)
	_ = xmppconn.Close(s)
	if err != nil {
		e := classify(op, err)
		switch {
		case errors.Is(e, ErrUnavailable):
			// The answer was lost: the change may or may not have happened.
			// The logins below tell.
			m.log.WarnContext(ctx, "account.password_change_unanswered", "err", err)
			if verr := m.checkChanged(ctx, op, local, old, new); verr != nil {
				return e
			}
		case errors.Is(e, ErrRefused) && m.cfg.Admin != nil && adminFallbackCondition(e.Condition):
			// The server does not let users change their password in-band
			// (never for a policy refusal: that would bypass the policy).
			m.log.InfoContext(ctx, "account.password_change_refused_inband", "condition", e.Condition, "fallback", "admin")
			if aerr := m.adminChangePassword(ctx, local, new); aerr != nil {
				return aerr
			}
			if verr := m.checkChanged(ctx, op, local, old, new); verr != nil {
				m.log.WarnContext(ctx, "account.password_change_not_verified", "err", verr)
				return verr
			}
		default:
			m.log.InfoContext(ctx, "account.password_change_refused", "kind", kindName(e.Kind), "condition", e.Condition)
			m.log.DebugContext(ctx, "account.password_change_refused", "user", local, "text", e.Text)
			return e
		}
	} else if verr := m.checkChanged(ctx, op, local, old, new); verr != nil {
		m.log.WarnContext(ctx, "account.password_change_not_verified", "err", verr)
		return verr
	}
	m.log.InfoContext(ctx, "account.password_changed")
	m.log.DebugContext(ctx, "account.password_changed", "user", local)
	m.endSessionsAfter(ctx, local)
	return nil
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
func (m *Manager) adminChangePassword(ctx context.Context, local, new string) *Error {
	user, err := jid.New(local, m.domain.Domainpart(), "")
	if err != nil {
		return &Error{Op: "change_password", Kind: ErrRefused, Err: err}
	}
	_, err = m.cfg.Admin.Run(ctx, NodeChangePassword, func(d *form.Data) error {
		if err := setAccountJID(d, user); err != nil {
			return err
		}
		if _, err := d.Set("password", new); err != nil {
			return &Error{Kind: ErrUnavailable, Text: "change-user-password form has an unexpected password field", Err: err}
		}
		return nil
	})
	if err != nil {
		e := classify("change_password", err)
		m.log.WarnContext(ctx, "account.password_change_admin_failed", "kind", kindName(e.Kind), "condition", e.Condition)
		return e
	}
	return nil
}

// checkChanged verifies that new logs in and old does not.
func (m *Manager) checkChanged(ctx context.Context, op, local, old, new string) *Error {
	if err := m.Verify(ctx, local, new); err != nil {
		e := classify(op, err)
		if errors.Is(e, ErrAuth) {
			return &Error{Op: op, Kind: ErrNotVerified, Text: "the new password does not log in", Err: err}
		}
		return &Error{Op: op, Kind: ErrNotVerified, Text: "could not log in with the new password to check", Err: err}
	}
	if old == new {
		return nil
	}
	err := m.Verify(ctx, local, old)
	switch {
	case err == nil:
		return &Error{Op: op, Kind: ErrNotVerified, Text: "the old password still logs in"}
	case errors.Is(err, ErrAuth):
		return nil
	default:
		return &Error{Op: op, Kind: ErrNotVerified, Text: "could not check that the old password stopped working", Err: err}
	}
}

// Delete removes local's account from the server: XEP-0077 <remove/> on the
// user's own authenticated stream, or, if the server refuses that and an
// admin is configured, the admin command delete-user. It reports success
// only after a fresh login with password is refused.
//
// Errors: ErrAuth (password wrong; nothing deleted), ErrRefused (the server
// refused and there is no admin to fall back on), ErrUnavailable,
// ErrNotVerified (the account still logs in afterwards).
func (m *Manager) Delete(ctx context.Context, local, password string) error {
	const op = "delete"
	s, e := m.login(ctx, op, local, password, nil)
	if e != nil {
		return e
	}
	q := xmlstream.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "remove"}}),
		xml.StartElement{Name: xml.Name{Space: NSRegister, Local: "query"}},
	)
	_, err := xmppconn.SendIQ(ctx, s, stanza.IQ{Type: stanza.SetIQ, To: m.domain}, q)
	_ = xmppconn.Close(s)
	method := "ibr"
	if err != nil {
		e := classify(op, err)
		switch {
		case errors.Is(e, ErrUnavailable):
			// The server may have removed the account and closed the stream
			// before its answer arrived; the login below tells.
			m.log.InfoContext(ctx, "account.delete_unanswered", "err", err)
		case m.cfg.Admin != nil:
			m.log.InfoContext(ctx, "account.delete_refused_inband", "condition", e.Condition, "fallback", "admin")
			if aerr := m.adminDelete(ctx, local); aerr != nil {
				return aerr
			}
			method = "admin"
		default:
			m.log.InfoContext(ctx, "account.delete_refused", "kind", kindName(e.Kind), "condition", e.Condition)
			m.log.DebugContext(ctx, "account.delete_refused", "user", local, "text", e.Text)
			if errors.Is(e, ErrPasswordPolicy) {
				e.Kind = ErrRefused
			}
			return e
		}
	}
	if m.cfg.EndSessions {
		// The servers end the sessions of a removed account themselves;
		// this is belt and braces, and may fail for an account that is gone.
		if err := m.EndOtherSessions(ctx, local); err != nil {
			m.log.DebugContext(ctx, "account.end_sessions_after_delete", "err", err)
		}
	}
	err = m.Verify(ctx, local, password)
	switch {
	case errors.Is(err, ErrAuth):
	case err == nil:
		m.log.ErrorContext(ctx, "account.delete_not_verified", "method", method, "reason", "still_logs_in")
		return &Error{Op: op, Kind: ErrNotVerified, Text: "the account still logs in after deletion"}
	default:
		m.log.WarnContext(ctx, "account.delete_not_verified", "method", method, "err", err)
		return &Error{Op: op, Kind: ErrNotVerified, Text: "could not check that the account is gone", Err: err}
	}
	m.log.InfoContext(ctx, "account.deleted", "method", method)
	m.log.DebugContext(ctx, "account.deleted", "user", local)
	return nil
}

// adminDelete runs delete-user for local. Its outcome is checked by the
// caller's login attempt (Prosody reports a failed deletion as an
// informational note).
func (m *Manager) adminDelete(ctx context.Context, local string) *Error {
	user, err := jid.New(local, m.domain.Domainpart(), "")
	if err != nil {
		return &Error{Op: "delete", Kind: ErrRefused, Err: err}
	}
	_, err = m.cfg.Admin.Run(ctx, NodeDeleteUser, func(d *form.Data) error { return setAccountJID(d, user) })
	if err != nil {
		e := classify("delete", err)
		if errors.Is(e, ErrPasswordPolicy) {
			e.Kind = ErrRefused
		}
		m.log.WarnContext(ctx, "account.delete_admin_failed", "kind", kindName(e.Kind), "condition", e.Condition)
		return e
	}
	return nil
}

// EndOtherSessions ends every session of local with the admin command
// end-user-session (Prosody's form names the field accountjids, jid-multi;
// ejabberd's accountjid, jid-single: the form decides). It returns an error
// matching ErrNotAvailable when no admin is configured.
func (m *Manager) EndOtherSessions(ctx context.Context, local string) error {
	const op = "end_sessions"
	if m.cfg.Admin == nil {
		return &Error{Op: op, Kind: ErrNotAvailable, Text: "no admin account configured"}
	}
	user, err := jid.New(local, m.domain.Domainpart(), "")
	if err != nil || local == "" {
		return &Error{Op: op, Kind: ErrRefused, Text: "not a valid address", Err: err}
	}
	_, err = m.cfg.Admin.Run(ctx, NodeEndUserSession, func(d *form.Data) error { return setAccountJID(d, user) })
	if err != nil {
		return classify(op, err)
	}
	m.log.InfoContext(ctx, "account.sessions_ended")
	return nil
}

func (m *Manager) endSessionsAfter(ctx context.Context, local string) {
	if !m.cfg.EndSessions || m.cfg.Admin == nil {
		return
	}
	if err := m.EndOtherSessions(ctx, local); err != nil {
		m.log.WarnContext(ctx, "account.end_sessions_failed", "kind", KindName(err), "err", err)
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
		return &Error{Kind: ErrUnavailable, Text: "admin form has unexpected field types", Err: err}
	}
	if !done {
		return &Error{Kind: ErrUnavailable, Text: "admin form has no account field"}
	}
	return nil
}

func textElem(name, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}})
}
