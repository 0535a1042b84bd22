package handlers

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/qrsvg"
	"github.com/xmpp-portal/portal/internal/resultlink"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// Onboarding: the two ways from the sign-up form into an app, and the first
// contact.
//
//   - The web path ("Create account"): the form creates the account with
//     the name and password typed; the success page (/welcome) says how to
//     sign in to an app with them.
//   - The invite path ("Create it in my app"): after a solved captcha the
//     portal asks the server for a one-time account invite (XEP-0401;
//     Invites, internal/xmpp/signup) and shows it (/welcome/app) as a link
//     and a QR code for the app, which registers with the token; no
//     password is typed on the web. Offered only where the server offers
//     the command; counted on the same budgets as a sign-up.
//   - The first contact (Site.FirstContact, site.first_contact): a box on
//     the form, ticked by default. On the web path the portal logs in once
//     as the new account and adds the contact with a subscription request
//     (Contacts); on the invite path the portal never holds the account's
//     password, so the page offers the contact as the app's next step.
//
// Both result pages show their QR code as a PNG served from the page's own
// sealed link (/welcome/qr.png, /welcome/app/qr.png: nothing about the
// account is in the URL), so that it shows with SVG turned off (Tor
// Browser's "Safest") under img-src 'self'; without a link (no Sealer) the
// page inlines the SVG instead.

// Invites makes one-time account invites (*signup.Invites).
type Invites interface {
	// Offered reports whether the server offers invites now.
	Offered(ctx context.Context) bool
	// Create asks for one invite. Errors are *xmpp.Error (NotAvailable:
	// the server does not offer the command).
	Create(ctx context.Context) (signup.Invite, error)
}

// Contacts gives a new account its first contact (*account.Manager): one
// login as the account, the contact on its roster with a subscription
// request. Errors are *xmpp.Error.
type Contacts interface {
	AddContact(ctx context.Context, local, password, address string) error
}

// The sign-up form's buttons (registerForm.Action).
const (
	actionRegister = "register"
	actionInvite   = "invite"
)

// qrScale is the PNG QR code's pixels per module: an invite's code (41
// modules with its quiet zone) is 328 pixels wide, shown at 15rem, sharp on
// a phone's screen and read by a camera at arm's length.
const qrScale = 8

// resultInvite is the invite path's result page.
var resultInvite = resultKind{"invite", "/welcome/app", "invite"}

// The first contact's outcome on the web path, kept in the success page's
// link.
const (
	contactNone   = ""
	contactAdded  = "added"
	contactFailed = "failed"
)

// registeredResult is what the success page's link seals: the address and
// the first contact's outcome, "address\x00outcome" (an address holds no
// NUL; a link sealed before the first contact existed holds the address
// alone).
type registeredResult struct {
	Address string
	Contact string // contactNone, contactAdded or contactFailed
}

func (r registeredResult) seal() string {
	if r.Contact == contactNone {
		return r.Address
	}
	return r.Address + "\x00" + r.Contact
}

func openRegistered(v string) registeredResult {
	a, c, _ := strings.Cut(v, "\x00")
	if c != contactAdded && c != contactFailed {
		c = contactNone
	}
	return registeredResult{Address: a, Contact: c}
}

// inviteResult is what the invite page's link seals: the token, its expiry
// (Unix seconds, 0 unknown) and whether the first contact was asked for.
type inviteResult struct {
	Token   string
	Expires time.Time
	Contact bool
}

func (r inviteResult) seal() string {
	exp := int64(0)
	if !r.Expires.IsZero() {
		exp = r.Expires.Unix()
	}
	c := ""
	if r.Contact {
		c = "1"
	}
	return r.Token + "\x00" + strconv.FormatInt(exp, 10) + "\x00" + c
}

func openInvite(v string) (inviteResult, bool) {
	parts := strings.Split(v, "\x00")
	if len(parts) != 3 || !signup.ValidInviteToken(parts[0]) {
		return inviteResult{}, false
	}
	r := inviteResult{Token: parts[0], Contact: parts[2] == "1"}
	if n, err := strconv.ParseInt(parts[1], 10, 64); err == nil && n > 0 {
		r.Expires = time.Unix(n, 0)
	}
	return r, true
}

// invitesOffered reports whether the form offers "Create it in my app".
func (h *Handler) invitesOffered(ctx context.Context) bool {
	if h.d.Invites == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, h.d.XMPPTimeout)
	defer cancel()
	return h.d.Invites.Offered(ctx)
}

// firstContact is the address the form offers to add, "" for none.
func (h *Handler) firstContact() string {
	if h.d.Contacts == nil {
		return ""
	}
	return h.d.Site.FirstContact
}

// errInvitesOff answers a form sent with "Create it in my app" where the
// portal offers no invites.
var errInvitesOff = &xmpp.Error{Kind: xmpp.NotAvailable, Op: "invite", Text: "no invites on this portal"}

// createInvite asks the server for an invite, within the XMPP timeout.
func (h *Handler) createInvite(ctx context.Context) (signup.Invite, error) {
	if h.d.Invites == nil {
		return signup.Invite{}, errInvitesOff
	}
	ctx, cancel := context.WithTimeout(ctx, h.d.XMPPTimeout)
	defer cancel()
	return h.d.Invites.Create(ctx)
}

// addFirstContact gives the new account local its first contact, when the
// form asked for it: contactAdded, contactFailed, or contactNone when
// there is none to add. A failure is logged and said on the success page;
// the account exists either way.
func (h *Handler) addFirstContact(ctx context.Context, f registerForm, local string) string {
	addr := h.firstContact()
	if addr == "" || !f.Contact {
		return contactNone
	}
	ctx, cancel := context.WithTimeout(ctx, h.d.XMPPTimeout)
	defer cancel()
	if err := h.d.Contacts.AddContact(ctx, local, f.Password, addr); err != nil {
		// account.first_contact_failed is the Manager's log line.
		h.d.Log.Warn("signup.first_contact", "outcome", "failed", "kind", xmpp.KindOf(err).String())
		return contactFailed
	}
	return contactAdded
}

// inviteCreated answers a created invite: a redirect to its page, whose
// link lives as long as the invite (at most resultTTL).
func (h *Handler) inviteCreated(c echo.Context, inv signup.Invite, contact bool) error {
	r := inviteResult{Token: inv.Token, Expires: inv.Expires, Contact: contact}
	ttl := resultTTL
	if !inv.Expires.IsZero() {
		ttl = min(ttl, max(inv.Expires.Sub(h.now()), time.Second))
	}
	return h.redirectSealed(c, resultInvite, r.seal(), ttl, func() error { return h.showInvite(c, r) })
}

// invitePage is the invite path's result page.
type invitePage struct {
	URI     template.URL  // xmpp:<domain>?register;preauth=<token>
	QRImage string        // the QR code's PNG (its link), "" without a link
	QR      template.HTML // the QR code inline (SVG), only without QRImage
	// Minutes the invite still works (0: the server did not say), and its
	// end in UTC (15:04).
	Minutes int
	Until   string
	// FirstContact is the address the newcomer asked to add (the app's
	// next step), and ContactURI the link that adds it (XEP-0147 roster).
	FirstContact string
	ContactURI   template.URL
}

// showInvite renders the invite page of r.
func (h *Handler) showInvite(c echo.Context, r inviteResult) error {
	uri := signup.Invite{Token: r.Token}.URI(h.d.Site.Domain)
	p := invitePage{URI: template.URL(uri)} // #nosec G203 -- a checked token and the configured domain
	if token, _ := c.Get(resultTokenKey).(string); token != "" {
		p.QRImage = resultInvite.path + "/qr.png?" + url.Values{"t": {token}}.Encode()
	} else {
		label := h.d.I18n.T(h.lang(c), i18n.K("onboarding.invite.qr_alt"))
		qr, err := qrsvg.SVG(uri, 0, label)
		if err != nil {
			h.d.Log.Error("qr.render", "err", err)
		}
		p.QR = qr
	}
	if !r.Expires.IsZero() {
		left := r.Expires.Sub(h.now())
		p.Minutes = max(1, int(left.Round(time.Minute)/time.Minute))
		p.Until = r.Expires.UTC().Format("15:04")
	}
	if addr := h.firstContact(); addr != "" && r.Contact {
		p.FirstContact = addr
		p.ContactURI = template.URL("xmpp:" + addr + "?roster") // #nosec G203 -- an address policy.ParseAddress accepted
	}
	return h.render(c, resultInvite.page, p)
}

// resultQR serves the QR code of k's result page as a PNG, from the page's
// own link (?t=): the address or the invite never appears in a URL. Not
// cached: an invite's code is a credential.
func (h *Handler) resultQR(k resultKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.d.Links == nil {
			return echo.ErrNotFound
		}
		value, err := h.d.Links.Open(c.Request().Context(), k.kind, c.QueryParam("t"))
		switch {
		case errors.Is(err, resultlink.ErrExpired):
			return c.NoContent(http.StatusGone)
		case errors.Is(err, resultlink.ErrInvalid):
			return c.NoContent(http.StatusBadRequest)
		case err != nil:
			return c.NoContent(http.StatusServiceUnavailable)
		}
		var uri string
		switch k {
		case resultInvite:
			r, ok := openInvite(value)
			if !ok {
				return c.NoContent(http.StatusBadRequest)
			}
			uri = signup.Invite{Token: r.Token}.URI(h.d.Site.Domain)
		default:
			uri = "xmpp:" + openRegistered(value).Address
		}
		b, err := qrsvg.PNG(uri, qrScale)
		if err != nil {
			h.d.Log.Error("qr.render", "err", err)
			return c.NoContent(http.StatusInternalServerError)
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "image/png", b)
	}
}
