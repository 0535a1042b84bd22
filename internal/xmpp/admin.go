package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Reconnect backoff of the admin session: exponential with jitter, bounded.
// The bound is what a server that comes back waits at most before the portal
// tries again; it keeps recovery within seconds of a restart
// (TestResilienceXMPPServerKilled). A failed attempt against a server that
// is down costs it nothing (connection refused).
const (
	adminBackoffMin = 200 * time.Millisecond
	// AdminBackoffMax is the longest the admin session waits after failed
	// connection attempts before it tries again (the cap of its backoff):
	// what a server that comes back may wait, at most, before the portal
	// reconnects.
	AdminBackoffMax = 3 * time.Second
)

// ErrBackoff: the admin session is waiting before it tries to connect again.
var ErrBackoff = errors.New("xmpp: admin session reconnect is backing off after failures")

var errCallerGone = errors.New("xmpp: caller's context ended")

// Admin is the one persistent session of the portal's admin account. It is
// opened on first use, shared by concurrent callers (IQs are multiplexed by
// id), and reopened when it dies, with exponential backoff and jitter
// between failed attempts. While backing off, calls wait if their context
// allows it and fail with Unavailable (wrapping ErrBackoff) otherwise.
//
// A refused admin login is NotAllowed: the deployment, not the user, is at
// fault.
type Admin struct {
	cfg      Config
	domain   jid.JID
	adminJID jid.JID
	password string
	log      *slog.Logger
	timeout  time.Duration
	// WithTimeout sets every deadline of the session (context.WithTimeout).
	// Tests wrap it to see that each is the configured timeout: an exact
	// check where a bound on elapsed time would depend on the machine's load.
	WithTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)

	mu       sync.Mutex
	conn     *Conn
	dialing  chan struct{} // closed when the running connect attempt ends
	failures int           // consecutive failed connect attempts
	nextTry  time.Time     // no connect attempt before this
	closed   bool
}

// NewAdmin returns the admin session of adminJID (an account on cfg.Domain
// that the server treats as an administrator). Nothing is connected until
// the first call. log may be nil.
func NewAdmin(cfg Config, adminJID jid.JID, password string, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	domain, _ := jid.New("", cfg.Domain, "")
	return &Admin{cfg: cfg, domain: domain, adminJID: adminJID.Bare(), password: password,
		log: log.With("xmpp", "admin"), timeout: timeout, WithTimeout: context.WithTimeout}
}

// Domain is the server's domain, the address admin commands are sent to.
func (a *Admin) Domain() jid.JID { return a.domain }

// Timeout is the bound of one admin operation.
func (a *Admin) Timeout() time.Duration { return a.timeout }

// Run runs the ad-hoc command node at the server (XEP-0050, e.g. a XEP-0133
// admin command) on the admin session, connecting it if needed. fill sets
// the fields of the command's form, as for Conn.Command, and sent (if not
// nil) is told when the form has been filled, that is, when the step that
// acts is about to be sent.
//
// Errors are those of Conn.Command (the command's result comes with a
// failure the server reported in a note); a session that cannot be opened
// is Unavailable or NotAllowed. A request that fails on the connection drops
// the session (unless only ctx was canceled), and the next call reconnects.
func (a *Admin) Run(ctx context.Context, node string, fill func(*form.Data) error) (CommandResult, error) {
	return a.RunWith(ctx, node, nil, fill)
}

// RunWith is Run with the command's form known in advance, submitted in the
// first request (Conn.CommandWith: one round trip where the server allows).
func (a *Admin) RunWith(ctx context.Context, node string, known *form.Data, fill func(*form.Data) error) (CommandResult, error) {
	ctx, cancel := a.WithTimeout(ctx, a.timeout)
	defer cancel()
	c, err := a.session(ctx)
	if err != nil {
		return CommandResult{}, err
	}
	res, err := c.CommandWith(ctx, a.domain, node, known, fill)
	if err != nil {
		a.maybeDrop(c, err)
	}
	return res, err
}

// Check logs in as the admin (or reuses the session) and verifies that the
// server offers the command node to it; NotAllowed if it does not.
func (a *Admin) Check(ctx context.Context, node string) error {
	ctx, cancel := a.WithTimeout(ctx, a.timeout)
	defer cancel()
	c, err := a.session(ctx)
	if err != nil {
		return err
	}
	items, err := c.ListCommands(ctx, a.domain)
	if err != nil {
		a.maybeDrop(c, err)
		return err
	}
	for _, it := range items {
		if it.Node == node {
			return nil
		}
	}
	return &Error{Kind: NotAllowed, Op: "check", Condition: "item-not-found",
		Text: "the server does not offer " + node + " to the admin account (is it an admin?)"}
}

// Close ends the admin session. Calls fail with Unavailable afterwards.
func (a *Admin) Close() error {
	a.mu.Lock()
	a.closed = true
	c := a.conn
	a.conn = nil
	a.mu.Unlock()
	if c != nil {
		_ = c.Close()
		a.log.Info("xmpp.admin.session", "outcome", "closed")
	}
	return nil
}

// maybeDrop closes the shared session after a failed request unless the
// failure was only the caller giving up on a session that still works: a
// timeout may mean a silently dead connection, so it is not trusted again.
func (a *Admin) maybeDrop(c *Conn, err error) {
	if k := KindOf(err); k != Unavailable && k != Protocol {
		return // a stanza error or a command's note: the session is fine
	}
	if errors.Is(err, context.Canceled) && c.Alive() {
		return
	}
	a.drop(c, ErrorClass(err))
}

// drop forgets c (if it is still the current session) and closes it.
func (a *Admin) drop(c *Conn, why string) {
	a.mu.Lock()
	if a.conn == c {
		a.conn = nil
	}
	a.mu.Unlock()
	go c.Close()
	a.log.Warn("xmpp.admin.session", "outcome", "dropped", "reason", why)
}

// session returns a live admin session, connecting if needed.
func (a *Admin) session(ctx context.Context) (*Conn, error) {
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return nil, &Error{Kind: Unavailable, Op: "admin", Err: errors.New("admin session closed")}
		}
		if c := a.conn; c != nil {
			if c.Alive() {
				a.mu.Unlock()
				return c, nil
			}
			a.conn = nil
			go c.Close()
			a.log.Warn("xmpp.admin.session", "outcome", "lost")
		}
		if ch := a.dialing; ch != nil {
			a.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, unavailable("admin", ctx.Err())
			}
		}
		if wait := time.Until(a.nextTry); wait > 0 {
			a.mu.Unlock()
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return nil, unavailable("admin", ErrBackoff)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return nil, unavailable("admin", ctx.Err())
			}
		}
		ch := make(chan struct{})
		a.dialing = ch
		a.mu.Unlock()

		c, callerGone, err := a.connect(ctx)

		a.mu.Lock()
		a.dialing = nil
		close(ch)
		switch {
		case err == nil && a.closed:
			a.mu.Unlock()
			go c.Close()
			return nil, &Error{Kind: Unavailable, Op: "admin", Err: errors.New("admin session closed")}
		case err == nil:
			a.conn = c
			a.failures = 0
			a.nextTry = time.Time{}
			a.mu.Unlock()
			return c, nil
		case callerGone:
			// Our caller gave up; that says nothing about the server.
			a.mu.Unlock()
			return nil, err
		default:
			a.failures++
			d := backoff(a.failures, adminBackoffMin, AdminBackoffMax)
			a.nextTry = time.Now().Add(d)
			n := a.failures
			a.mu.Unlock()
			a.log.Warn("xmpp.admin.connect", "outcome", "failed", "kind", KindOf(err).String(),
				"error_class", ErrorClass(err), "attempt", n, "retry_in_ms", d.Milliseconds())
			a.log.Debug("xmpp.admin.connect", "outcome", "failed", "error", err.Error())
			return nil, err
		}
	}
}

// connect logs in as the admin and turns its message archive off (the
// admin account should keep nothing; best effort). callerGone reports
// whether the attempt was cut short because ctx ended (rather than the
// server being slow or unreachable).
func (a *Admin) connect(ctx context.Context) (c *Conn, callerGone bool, err error) {
	start := time.Now()
	cctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	tctx, tcancel := a.WithTimeout(cctx, a.timeout)
	defer tcancel()
	stop := context.AfterFunc(ctx, func() { cancel(errCallerGone) })
	defer stop()
	c, err = Login(tctx, a.cfg, a.adminJID.Localpart(), a.password, nil)
	if err != nil {
		return nil, errors.Is(context.Cause(cctx), errCallerGone), adminLoginError(err)
	}
	prefs := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: "urn:xmpp:mam:2", Local: "prefs"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "default"}, Value: "never"}},
	})
	if _, err := c.SendIQ(tctx, stanza.IQ{Type: stanza.SetIQ}, prefs); err != nil {
		a.log.Debug("xmpp.admin.mam_prefs", "outcome", "failed", "error_class", ErrorClass(err))
	}
	a.log.Info("xmpp.admin.connect", "outcome", "ok", "duration_ms", time.Since(start).Milliseconds())
	return c, false, nil
}

// adminLoginError is err, a failed login of the admin account, with a
// refusal (Auth) turned into NotAllowed: only the admin account logs in
// here, so the deployment, not the user, is at fault. The Auth error is
// not wrapped, so that errors.Is(err, Auth) does not hold for it.
func adminLoginError(err error) error {
	if e := AsError(err); e.Kind == Auth {
		return &Error{Kind: NotAllowed, Op: "admin login", Condition: e.Condition, Text: e.Text, Err: e.Err}
	}
	return err
}

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
