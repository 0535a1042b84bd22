package provision

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// AddUserNode is the XEP-0133 command the admin mode uses.
const AddUserNode = "http://jabber.org/protocol/admin#add-user"

// Reconnect backoff of the admin session: exponential with jitter, bounded.
// The bound is what a server that comes back waits at most before the portal
// tries again; it must keep recovery within 5 s of the restart
// (TestAdminBackoffAllowsFastRecovery, TestResilienceXMPPServerKilled). A
// failed attempt against a server that is down costs it nothing (connection
// refused).
const (
	adminBackoffMin = 200 * time.Millisecond
	adminBackoffMax = 3 * time.Second
)

// AdminBackoffMax is the longest the admin session waits after failed
// connection attempts before it tries again (the cap of its backoff): what a
// server that comes back may wait, at most, before the portal reconnects.
const AdminBackoffMax = adminBackoffMax

var errBackoff = errors.New("provision: admin session reconnect is backing off after failures")

// Admin creates accounts with XEP-0133 add-user over one persistent session
// of the portal's admin account. The session is opened on first use,
// shared by concurrent Create calls (IQs are multiplexed by id), and
// reopened when it dies, with exponential backoff and jitter between failed
// attempts. While backing off, Create waits if its context allows it and
// fails with KindUnavailable otherwise.
type Admin struct {
	cfg      xmppconn.Config
	domain   jid.JID
	adminJID jid.JID
	password string
	log      *slog.Logger
	timeout  time.Duration
	inFlight *admission // bounds the add-user commands under way (admission.go)
	// withTimeout sets every deadline of the provisioner (context.WithTimeout).
	// Tests wrap it to see that each is the configured timeout: an exact check
	// where a bound on elapsed time would depend on the machine's load.
	withTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)

	mu       sync.Mutex
	sess     *xmpp.Session
	dialing  chan struct{} // closed when the running connect attempt ends
	failures int           // consecutive failed connect attempts
	nextTry  time.Time     // no connect attempt before this
	closed   bool
}

var _ Provisioner = (*Admin)(nil)

// NewAdmin returns an admin-mode Provisioner. adminJID must be an account on
// cfg.Domain that the server treats as an administrator. Nothing is
// connected until the first Create or Check. log may be nil.
func NewAdmin(cfg xmppconn.Config, adminJID jid.JID, adminPassword string, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = xmppconn.DefaultTimeout
	}
	domain, _ := jid.New("", cfg.Domain, "")
	return &Admin{
		cfg:      cfg,
		domain:   domain,
		adminJID: adminJID.Bare(),
		password: adminPassword,
		log:      log.With("provision", "admin"),
		timeout:  timeout,
		inFlight: newAdmission(maxInFlight),

		withTimeout: context.WithTimeout,
	}
}

// Create creates localpart@domain with password via add-user.
// Every failure is an *Error.
func (a *Admin) Create(ctx context.Context, localpart, password string) error {
	start := time.Now()
	err := a.create(ctx, localpart, password)
	logCreate(ctx, a.log, localpart, err, time.Since(start))
	return err
}

func (a *Admin) create(ctx context.Context, localpart, password string) error {
	user, perr := checkInput(a.cfg.Domain, localpart, password)
	if perr != nil {
		return perr
	}
	ctx, cancel := a.withTimeout(ctx, a.timeout)
	defer cancel()
	release, err := a.inFlight.acquire(ctx, a.timeout/2)
	if err != nil {
		return err
	}
	defer release()
	s, err := a.session(ctx)
	if err != nil {
		return Classify(err)
	}
	// Command calls fill between its two steps; the second one creates the
	// account. A connection failure or timeout after it was sent leaves the
	// outcome unknown.
	filled := false
	_, err = xmppconn.Command(ctx, s, a.domain, AddUserNode, func(d *form.Data) error {
		err := fillAddUser(d, user, password)
		filled = err == nil
		return err
	})
	if err != nil {
		a.maybeDrop(s, err)
		pe := Classify(err)
		if filled && pe.Kind == KindUnavailable {
			pe.Unanswered = true
		}
		return pe
	}
	return nil
}

// maybeDrop closes the shared session after a failed request unless the
// failure was only our caller giving up on a session that still works: a
// timeout may mean a silently dead connection, so it is not trusted again.
func (a *Admin) maybeDrop(s *xmpp.Session, err error) {
	if !errors.Is(err, xmppconn.ErrUnavailable) && !errors.Is(err, xmppconn.ErrProtocol) {
		return // a stanza error or a command error: the session is fine
	}
	if errors.Is(err, context.Canceled) && xmppconn.Alive(s) {
		return
	}
	a.drop(s, errorClass(err))
}

// fillAddUser sets the add-user form fields (the same on Prosody and
// ejabberd: accountjid, password, password-verify).
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
		return &Error{Kind: KindUnknown, Text: "add-user form has unexpected field types", Err: err}
	}
	if !seen {
		return &Error{Kind: KindUnknown, Text: "add-user form has no accountjid field"}
	}
	return nil
}

// Check logs in as the admin (or reuses the session) and verifies that the
// server offers the add-user command to it. Use it at startup.
func (a *Admin) Check(ctx context.Context) error {
	ctx, cancel := a.withTimeout(ctx, a.timeout)
	defer cancel()
	s, err := a.session(ctx)
	if err != nil {
		return Classify(err)
	}
	items, err := xmppconn.ListCommands(ctx, s, a.domain)
	if err != nil {
		a.maybeDrop(s, err)
		return Classify(err)
	}
	for _, it := range items {
		if it.Node == AddUserNode {
			a.log.InfoContext(ctx, "provision.check", "outcome", "ok")
			return nil
		}
	}
	a.log.WarnContext(ctx, "provision.check", "outcome", "add_user_not_offered")
	return &Error{Kind: KindNotAllowed, Condition: "item-not-found",
		Text: "the server does not offer " + AddUserNode + " to the admin account (is it an admin?)"}
}

// Ping is Check.
func (a *Admin) Ping(ctx context.Context) error { return a.Check(ctx) }

// Close ends the admin session. Create fails with KindUnavailable afterwards.
func (a *Admin) Close() error {
	a.mu.Lock()
	a.closed = true
	s := a.sess
	a.sess = nil
	a.mu.Unlock()
	if s != nil {
		_ = xmppconn.Close(s)
		a.log.Info("provision.admin.session", "outcome", "closed")
	}
	return nil
}

// drop forgets s (if it is still the current session) and closes it.
func (a *Admin) drop(s *xmpp.Session, why string) {
	a.mu.Lock()
	if a.sess == s {
		a.sess = nil
	}
	a.mu.Unlock()
	go xmppconn.Close(s)
	a.log.Warn("provision.admin.session", "outcome", "dropped", "reason", why)
}

// session returns a live admin session, connecting if needed.
func (a *Admin) session(ctx context.Context) (*xmpp.Session, error) {
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return nil, &Error{Kind: KindUnavailable, Err: errors.New("provision: admin provisioner closed")}
		}
		if s := a.sess; s != nil {
			if xmppconn.Alive(s) {
				a.mu.Unlock()
				return s, nil
			}
			a.sess = nil
			go xmppconn.Close(s)
			a.log.Warn("provision.admin.session", "outcome", "lost")
		}
		if ch := a.dialing; ch != nil {
			a.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if wait := time.Until(a.nextTry); wait > 0 {
			a.mu.Unlock()
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return nil, &Error{Kind: KindUnavailable, Err: errBackoff}
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		a.dialing = ch
		a.mu.Unlock()

		s, callerGone, err := a.connect(ctx)

		a.mu.Lock()
		a.dialing = nil
		close(ch)
		switch {
		case err == nil && a.closed:
			a.mu.Unlock()
			go xmppconn.Close(s)
			return nil, &Error{Kind: KindUnavailable, Err: errors.New("provision: admin provisioner closed")}
		case err == nil:
			a.sess = s
			a.failures = 0
			a.nextTry = time.Time{}
			a.mu.Unlock()
			return s, nil
		case callerGone:
			// Our caller gave up; that says nothing about the server.
			a.mu.Unlock()
			return nil, err
		default:
			a.failures++
			d := backoff(a.failures, adminBackoffMin, adminBackoffMax)
			a.nextTry = time.Now().Add(d)
			n := a.failures
			a.mu.Unlock()
			a.log.Warn("provision.admin.connect", "outcome", "failed", "kind", Classify(err).Kind.String(),
				"error_class", errorClass(err), "attempt", n, "retry_in_ms", d.Milliseconds())
			a.log.Debug("provision.admin.connect", "outcome", "failed", "error", err.Error())
			return nil, err
		}
	}
}

// connect logs in as the admin and turns its message archive off (the
// admin account should keep nothing; best effort).
// callerGone reports whether the attempt was cut short because ctx ended
// (rather than the server being slow or unreachable).
func (a *Admin) connect(ctx context.Context) (s *xmpp.Session, callerGone bool, err error) {
	start := time.Now()
	cctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	tctx, tcancel := a.withTimeout(cctx, a.timeout)
	defer tcancel()
	stop := context.AfterFunc(ctx, func() { cancel(errCallerGone) })
	defer stop()
	s, err = xmppconn.Login(tctx, a.cfg, a.adminJID.Localpart(), a.password, nil)
	if err != nil {
		return nil, errors.Is(context.Cause(cctx), errCallerGone), err
	}
	prefs := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: "urn:xmpp:mam:2", Local: "prefs"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "default"}, Value: "never"}},
	})
	if _, err := xmppconn.SendIQ(tctx, s, stanza.IQ{Type: stanza.SetIQ}, prefs); err != nil {
		a.log.Debug("provision.admin.mam_prefs", "outcome", "failed", "error_class", errorClass(err))
	}
	a.log.Info("provision.admin.connect", "outcome", "ok", "duration_ms", time.Since(start).Milliseconds())
	return s, false, nil
}

var errCallerGone = errors.New("provision: caller's context ended")

// backoff returns the wait after n consecutive failures: min·2^(n-1),
// capped at max, with "equal jitter" (between half and all of it).
func backoff(n int, min, max time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := max
	if n-1 < 32 {
		if v := min << (n - 1); v > 0 && v < max {
			d = v
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// checkInput rejects what must never be sent: an empty password, or a name
// that cannot form an address (admin mode only; IBR sends names raw and
// lets the server decide).
func checkInput(domain, localpart, password string) (jid.JID, *Error) {
	if password == "" {
		return jid.JID{}, &Error{Kind: KindPasswordPolicy, Condition: "not-acceptable", Text: "empty password"}
	}
	if localpart == "" {
		return jid.JID{}, &Error{Kind: KindInvalidName, Condition: "jid-malformed", Text: "empty username"}
	}
	j, err := jid.New(localpart, domain, "")
	if err != nil || j.Localpart() == "" {
		return jid.JID{}, &Error{Kind: KindInvalidName, Condition: "jid-malformed", Text: "username is not a valid JID localpart", Err: err}
	}
	return j, nil
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
	pe := Classify(err)
	level := slog.LevelInfo // a refused name is a normal outcome
	if pe.Kind == KindUnavailable || pe.Kind == KindUnknown || pe.Kind == KindNotAllowed {
		level = slog.LevelWarn
	}
	attrs := []any{"kind", pe.Kind.String(), "duration_ms", ms}
	if pe.Condition != "" {
		attrs = append(attrs, "condition", pe.Condition)
	}
	if pe.Kind == KindUnavailable || pe.Kind == KindUnknown {
		attrs = append(attrs, "error_class", errorClass(pe.Err))
	}
	if pe.Unanswered {
		attrs = append(attrs, "outcome", "unknown")
	}
	log.Log(ctx, level, "account.create_failed", attrs...)
	// Server texts may quote user input: Debug only, like the username.
	log.DebugContext(ctx, "account.create_failed", "user", localpart, "text", pe.Text)
}
