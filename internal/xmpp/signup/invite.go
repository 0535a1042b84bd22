package signup

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// InviteNode is the admin command that creates a one-time account invite
// (XEP-0401; Prosody 0.12's mod_invites_adhoc offers it to admins).
const InviteNode = "urn:xmpp:invite#create-account"

// How long Invites trusts what it learnt about the server's offer: a
// command seen is looked for again after inviteOfferTTL, a failure to ask
// after inviteRetryTTL (the form does not wait for the server each time).
const (
	inviteOfferTTL = 5 * time.Minute
	inviteRetryTTL = 30 * time.Second
	// MaxInviteToken bounds the token taken from the server's answer.
	MaxInviteToken = 128
)

// Invite is one account invite as the server made it.
type Invite struct {
	// Token is the one-time token (XEP-0445 preauth): letters, digits, '-'
	// and '_' only, at most MaxInviteToken bytes. It is a credential: it
	// creates an account. Never log it.
	Token string
	// Expires is when the server stops taking the token; zero when the
	// server did not say.
	Expires time.Time
}

// URI is the invite's link for apps (XEP-0401 §4): the domain, the action
// register and the token, xmpp:example.org?register;preauth=TOKEN.
func (i Invite) URI(domain string) string {
	return "xmpp:" + domain + "?register;preauth=" + i.Token
}

// ValidInviteToken reports whether s can be an invite token as the portal
// passes it on: 8 to MaxInviteToken letters, digits, '-' or '_' (Prosody's
// tokens are base64url), so that it reads the same in a URI, an attribute
// and a QR code.
func ValidInviteToken(s string) bool {
	if len(s) < 8 || len(s) > MaxInviteToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

// Invites asks the server, on the admin session, for one-time account
// invites: the "Create it in my app" path of sign-up. Whether the server
// offers the command is looked up on the admin session (disco#items of the
// commands node) and kept for a few minutes, so that the sign-up form knows
// whether to offer the path without asking the server every time.
type Invites struct {
	admin    *xmpp.Admin
	log      *slog.Logger
	now      func() time.Time
	inFlight *admission

	mu         sync.Mutex
	offered    bool
	known      bool      // offered holds an answer
	until      time.Time // when to look again
	refreshing bool
}

// NewInvites returns the invites of admin's server. log may be nil.
func NewInvites(admin *xmpp.Admin, log *slog.Logger) *Invites {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Invites{admin: admin, log: log.With("signup", "invite"), now: time.Now, inFlight: newAdmission(maxInFlight)}
}

// Offered reports whether the server offers account invites to the admin.
// The first call asks the server (bounded by ctx); later calls answer from
// what was learnt and, once that is old, look again in the background. A
// server that cannot be asked counts as not offering them, for
// inviteRetryTTL.
func (v *Invites) Offered(ctx context.Context) bool {
	v.mu.Lock()
	if v.known {
		if !v.now().Before(v.until) && !v.refreshing {
			v.refreshing = true
			go v.refresh(context.WithoutCancel(ctx))
		}
		ok := v.offered
		v.mu.Unlock()
		return ok
	}
	v.mu.Unlock()
	return v.refresh(ctx)
}

// Check asks the server now whether it offers account invites: nil when it
// does, NotAvailable when it does not (ejabberd 23.01, or Prosody without
// mod_invites_adhoc), Unavailable or NotAllowed when it cannot be asked.
func (v *Invites) Check(ctx context.Context) error {
	err := v.admin.Check(ctx, InviteNode)
	if err != nil && xmpp.KindOf(err) == xmpp.NotAllowed && xmpp.AsError(err).Condition == "item-not-found" {
		return &xmpp.Error{Kind: xmpp.NotAvailable, Op: "invite check", Condition: "item-not-found",
			Text: "the server does not offer " + InviteNode}
	}
	return err
}

// refresh asks the server and keeps the answer.
func (v *Invites) refresh(ctx context.Context) bool {
	err := v.Check(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refreshing = false
	if ctx.Err() != nil && err != nil && v.known {
		return v.offered // our caller gave up; that says nothing new
	}
	ttl, was, knew := inviteOfferTTL, v.offered, v.known
	switch k := xmpp.KindOf(err); {
	case err == nil:
		v.offered = true
	case k == xmpp.NotAvailable:
		v.offered = false
	default:
		v.offered = false
		ttl = inviteRetryTTL
		v.log.WarnContext(ctx, "invite.check", "outcome", "failed", "kind", k.String(), "error_class", errorClass(err))
	}
	if !knew || was != v.offered {
		v.log.InfoContext(ctx, "invite.check", "offered", v.offered)
	}
	v.known, v.until = true, v.now().Add(ttl)
	return v.offered
}

// forget marks the command as not offered, to be looked for again later:
// the server refused it although it was offered.
func (v *Invites) forget() {
	v.mu.Lock()
	v.offered, v.known, v.until = false, true, v.now().Add(inviteRetryTTL)
	v.mu.Unlock()
}

// Create asks the server for a one-time account invite. The token and its
// expiry are read from the command's answer (Prosody: the fields uri and
// expire); a token that is not a plain base64url string, or a URI for
// another domain or action, is a Protocol error. A server that no longer
// offers the command answers NotAvailable (and Offered says so until it is
// looked for again). Every failure is an *xmpp.Error; nothing is logged
// that holds the token.
func (v *Invites) Create(ctx context.Context) (Invite, error) {
	start := time.Now()
	inv, err := v.create(ctx)
	ms := time.Since(start).Milliseconds()
	if err != nil {
		e := xmpp.AsError(err)
		v.log.WarnContext(ctx, "invite.create_failed", "kind", e.Kind.String(), "condition", e.Condition, "duration_ms", ms)
		return Invite{}, err
	}
	attrs := []any{"duration_ms", ms}
	if !inv.Expires.IsZero() {
		life := inv.Expires.Sub(v.now()).Round(time.Minute)
		attrs = append(attrs, "lifetime", life.String())
		if life > 24*time.Hour {
			v.log.WarnContext(ctx, "invite.long_lifetime", "lifetime", life.String(),
				"hint", "the server's invites live longer than a day: set Prosody's invite_expiry (PROSODY_INVITE_EXPIRY) to an hour or so")
		}
	}
	v.log.InfoContext(ctx, "invite.created", attrs...)
	return inv, nil
}

func (v *Invites) create(ctx context.Context) (Invite, error) {
	timeout := v.admin.Timeout()
	ctx, cancel := v.admin.WithTimeout(ctx, timeout)
	defer cancel()
	release, err := v.inFlight.acquire(ctx, timeout/2)
	if err != nil {
		return Invite{}, err
	}
	defer release()
	res, err := v.admin.Run(ctx, InviteNode, nil)
	if err != nil {
		e := xmpp.AsError(err)
		switch {
		case e.Condition == "item-not-found", e.Kind == xmpp.NotAllowed:
			v.forget()
			return Invite{}, &xmpp.Error{Kind: xmpp.NotAvailable, Op: "invite", Condition: e.Condition, Text: e.Text, Err: err}
		}
		return Invite{}, failure(err, "invite", false)
	}
	uri, _ := res.Value("uri")
	token, ok := inviteToken(uri, v.admin.Domain().Domainpart())
	if !ok {
		return Invite{}, &xmpp.Error{Kind: xmpp.Protocol, Op: "invite", Text: "the invite's answer holds no usable register URI"}
	}
	inv := Invite{Token: token}
	if s, ok := res.Value("expire"); ok {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
			inv.Expires = t
		}
	}
	return inv, nil
}

// inviteToken reads the token of an account invite's URI for domain:
// xmpp:<domain>?register;preauth=<token>[;more], the form Prosody's
// mod_invites writes. Anything else is refused.
func inviteToken(uri, domain string) (string, bool) {
	if len(uri) > 2048 {
		return "", false
	}
	rest, ok := strings.CutPrefix(uri, "xmpp:")
	if !ok {
		return "", false
	}
	host, query, ok := strings.Cut(rest, "?")
	if !ok {
		return "", false
	}
	if h, err := url.PathUnescape(host); err != nil || !strings.EqualFold(h, domain) {
		return "", false
	}
	parts := strings.Split(query, ";")
	if parts[0] != "register" {
		return "", false
	}
	for _, p := range parts[1:] {
		if t, ok := strings.CutPrefix(p, "preauth="); ok && ValidInviteToken(t) {
			return t, true
		}
	}
	return "", false
}
