package handlers

import (
	"context"
	"html/template"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/qrsvg"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/views"
)

// registerPage is the sign-up form as the page shows it: a captcha (its id;
// the picture is in a frame of its own, captchaframe.go) or, after a solved
// captcha, the pass that stands for it (Pass), and every refusal of the last
// try at once.
type registerPage struct {
	CaptchaID   string
	Pass        string // the pass token; no captcha is shown while it is set
	PassMinutes int    // how long the pass has left, in whole minutes, for the note that replaces the captcha
	Username    string // as typed, to re-fill the form; passwords are never re-filled
	MinPassword int
	MaxPassword int    // the password fields' maxlength: what the server accepts, in UTF-16 units at most
	Pattern     string // the username field's pattern (usernamePattern)
	FrameHeight int    // the captcha frame's height in CSS pixels (captcha_frame.html)
	Digits      int    // how many digits the captcha has (0: not said)
	// Invites: the form offers "Create it in my app" (onboarding.go).
	Invites bool
	// FirstContact is the address the form offers to add ("" none), and
	// Contact whether its box is ticked (it is on a new form).
	FirstContact string
	Contact      bool
	// Refusals: Error is the server's (nothing was created); the others
	// belong to their fields.
	Error          string
	UsernameError  string
	PasswordError  string
	Password2Error string
	CaptchaError   string
}

// fresh reports whether p is the form as everyone first sees it: nothing
// typed, no refusal, no pass (pagecache.go renders it once).
func (p registerPage) fresh() bool {
	return p.Username == "" && p.Pass == "" && p.Error == "" && p.UsernameError == "" && p.PasswordError == "" &&
		p.Password2Error == "" && p.CaptchaError == "" && p.Contact
}

// Summary is the form's error summary (partials/errorsummary.html): the
// server's refusal under heading, then each refused field in the order of
// the form.
func (p registerPage) Summary(heading string) views.Summary {
	return views.NewSummary(heading, p.Error, "username", p.UsernameError, "password", p.PasswordError,
		"password2", p.Password2Error, "captcha", p.CaptchaError)
}

// registeredPage is the web path's success page (onboarding.go).
type registeredPage struct {
	Address string
	URI     template.URL  // xmpp:<address>, what the QR code holds
	QRImage string        // the QR code's PNG (its link), "" without a link
	QR      template.HTML // the QR code inline (SVG), only without QRImage
	// FirstContact is the first contact's address when the form asked for
	// it, and ContactAdded whether it was added (else: add it yourself).
	FirstContact string
	ContactAdded bool
}

// usernamePattern is the username field's pattern: what the server refuses
// in every case, so the browser can say so before anything is sent. It
// refuses white space inside the name (JavaScript's \s), the characters an
// address's local part never holds (" & ' / : < >) and an @ that is not
// followed by a domain; white space around the name (the server trims it)
// and "name@domain" (the server takes its own domain) pass. Whether a name
// is accepted is the server's question (PRECIS, reserved names, length):
// the pattern never refuses what the server would accept
// (TestUsernamePatternNeverRefusesAccepted).
const usernamePattern = `\s*[^\s"&'\/:<>@]+(@[^\s"&'\/:<>@]+)?\s*`

func (h *Handler) registerShow(c echo.Context) error {
	// A client whose sign-up budget has run out gets the page that says so,
	// not a captcha that would be refused.
	if err := h.checkRoom(c, abuse.Signup); err != nil {
		return err
	}
	// Every form holds a new captcha in the store: it counts against the
	// client's captcha budget, or one client loading the form in a loop
	// could fill the store and lock everybody out of signing up
	// (TestResilienceFormFloodCannotLockOut).
	if _, err := h.checkBudget(c, abuse.Captcha); err != nil {
		return err
	}
	// "Sign up again with the same name" (the page of an unknown outcome)
	// links here with the name.
	return h.showRegisterForm(c, http.StatusOK, registerPage{Username: keepTyped(c.QueryParam("username")), Contact: true})
}

// showRegisterForm renders the form: with the pass of p, or else with a
// fresh captcha.
func (h *Handler) showRegisterForm(c echo.Context, status int, p registerPage) error {
	c.Response().Header().Set("Content-Security-Policy", registerCSP)
	p.MinPassword = h.d.MinPassword
	p.MaxPassword = 2 * h.d.Policy.Rules().MaxPassword // a rune is at most two UTF-16 units
	p.Pattern, p.FrameHeight, p.Digits = usernamePattern, captchaFrameHeight, h.d.CaptchaDigits
	p.Invites, p.FirstContact = h.invitesOffered(c.Request().Context()), h.firstContact()
	if p.Pass != "" {
		return h.renderStatus(c, status, "register", p)
	}
	id, err := h.d.Captchas.New()
	if err != nil {
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	}
	p.CaptchaID = id
	if p.fresh() {
		// A fresh form, the same for everyone but the captcha (pagecache.go).
		return h.renderWithCaptcha(c, status, "register", p)
	}
	return h.renderStatus(c, status, "register", p)
}

// registerSubmit checks, in order: origin (middleware), rate budgets (the
// client's and the global or onion one), then the whole form at once
// (registerForm.Validate: the name, the password and its repetition, and
// that a captcha was answered or a pass given), and the captcha or the
// pass. Every refusal of the form is shown together, with the captcha's.
//
// Only a solved captcha or a valid pass leads to the server: "name taken"
// is never said before (no free oracle of taken names). A captcha solved on
// a form that failed otherwise becomes a pass (captchastore.Passes): the
// next tries of that form need no new picture, until the pass is used up,
// expires or an account is created with it.
//
// A created account is shown by a redirect to its result page (results.go),
// so a reload never sends the form again; so is a sign-up whose outcome is
// unknown (the server stopped answering after it was sent).
func (h *Handler) registerSubmit(c echo.Context) error {
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	var f registerForm
	f.Parse(r.PostForm)
	lang := h.lang(c)
	ctx := r.Context()
	page := registerPage{Username: f.Username, Contact: f.Contact}
	invite := f.Action == actionInvite

	// Budgets first; a sign-up that does not happen gives its units back
	// (a wrong captcha only the shared one: it costs the client).
	budget, err := h.checkBudget(c, abuse.Signup)
	if err != nil {
		return err
	}
	var errs fieldErrors
	if invite {
		// "Create it in my app": the captcha only; the name and the
		// password are chosen in the app.
		errs = f.ValidateInvite()
	} else {
		errs = f.Validate(h.d.Policy)
		page.UsernameError, page.PasswordError = h.msg(lang, errs["username"]), h.msg(lang, errs["password"])
		page.Password2Error = h.msg(lang, errs["password2"])
	}

	// The pass, or the captcha: either is used up by this try.
	var pass *captchastore.Pass
	if f.Pass != "" && h.d.Passes != nil {
		p, ok, err := h.d.Passes.Take(ctx, f.Pass)
		if err != nil {
			budget.Release(ctx)
			return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
		}
		if ok {
			pass = &p
		} else {
			errs.add("captcha", i18n.NewError(i18n.K("signup.err.pass_expired")))
		}
	} else if f.Pass != "" {
		errs.add("captcha", i18n.NewError(i18n.K("register.err.captcha_missing")))
	}
	solved := pass != nil
	if !solved {
		reason := "captcha_missing"
		if e := errs["captcha"]; e != nil {
			if f.CaptchaID != "" { // consumed whatever the outcome
				if _, err := h.d.Captchas.Verify(ctx, f.CaptchaID, ""); err != nil {
					budget.Release(ctx)
					return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
				}
			}
			if e.Key == "signup.err.pass_expired" {
				reason = "pass_expired"
			}
			page.CaptchaError = h.msg(lang, e)
		} else {
			ok, err := h.d.Captchas.Verify(ctx, f.CaptchaID, f.Captcha)
			if err != nil {
				budget.Release(ctx)
				return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
			}
			solved = ok
			reason = "captcha_wrong"
			page.CaptchaError = h.d.I18n.T(lang, i18n.K("register.err.captcha_wrong"))
		}
		if !solved {
			budget.ReleaseShared(ctx)
			h.d.Log.Info("signup.refused", "reason", reason)
			if reason == "pass_expired" {
				h.d.Metrics.SignupRefused("captcha_missing")
			} else {
				h.d.Metrics.SignupRefused(reason)
			}
			// The try cost the client a unit: when that was its last, say
			// so now rather than show a captcha that will be refused.
			if err := h.checkRoom(c, abuse.Signup); err != nil {
				return err
			}
			return h.showRegisterForm(c, http.StatusBadRequest, page)
		}
		page.CaptchaError = ""
	}

	// Solved (now, or before: the pass). From here on nothing created gives
	// the client's unit back, and the form keeps its pass.
	keep := func() {
		kept, ok := captchastore.Pass{}, false
		if pass == nil {
			kept, ok = h.issuePass(ctx)
		} else {
			kept, ok = h.keepPass(ctx, *pass)
		}
		if ok {
			page.Pass = kept.Token
			page.PassMinutes = max(1, int(math.Ceil(kept.Until().Sub(h.now()).Minutes())))
		}
	}
	if len(errs) > 0 {
		budget.Release(ctx)
		reason, e := "username_policy", errs["username"]
		if e == nil {
			reason, e = "password_policy", errs["password"]
		}
		if e == nil {
			e = errs["password2"]
		}
		h.d.Log.Info("signup.refused", "reason", reason, "key", string(e.Key))
		h.d.Metrics.SignupRefused(reason)
		keep()
		return h.showRegisterForm(c, http.StatusUnprocessableEntity, page)
	}
	if invite {
		// One invite per captcha, counted like a sign-up: a failure gives
		// the units back and keeps the pass, for the form or another try.
		inv, err := h.createInvite(ctx)
		if err != nil {
			budget.Release(ctx)
			e := h.xmppError(flowInvite, err)
			page.Error = e.Message(h.d.I18n, lang)
			keep()
			return h.showRegisterForm(c, e.Status, page)
		}
		// invite.created is the Invites' log line; never the token.
		return h.inviteCreated(c, inv, f.Contact)
	}
	local := f.Local

	cctx, cancel := context.WithTimeout(ctx, h.d.XMPPTimeout)
	defer cancel()
	if err := h.d.Signup.Create(cctx, local, f.Password); err != nil {
		budget.Release(ctx)
		e := h.xmppError(flowRegister, err) // logged by the Signup (account.create_failed)
		if xe := xmpp.AsError(err); xe.Unanswered {
			// Sent, then no answer: the account may exist. The pass is
			// not kept (one account per pass); the page says what is known.
			return h.redirectResult(c, resultUnknown, local+"@"+h.d.Site.Domain, func() error {
				return h.renderResult(c, resultUnknown, local+"@"+h.d.Site.Domain, http.StatusServiceUnavailable)
			})
		}
		if e.Msg.Key == "register.err.username_taken" || e.Msg.Key == "register.err.username_refused" {
			page.UsernameError = e.Message(h.d.I18n, lang)
		} else {
			page.Error = e.Message(h.d.I18n, lang)
		}
		keep()
		return h.showRegisterForm(c, e.Status, page)
	}
	// account.created is the Signup's log line (one per event). The pass,
	// if any, stays used up: it served its one account.

	address := local + "@" + h.d.Site.Domain
	contact := h.addFirstContact(ctx, f, local)
	sealed := registeredResult{Address: address, Contact: contact}.seal()
	return h.redirectResult(c, resultRegistered, sealed, func() error { return h.showRegistered(c, local, contact) })
}

// issuePass makes a pass for the form whose captcha was just solved.
// Without Passes, or when the store cannot keep it, ok is false: the form
// simply gets a new captcha.
func (h *Handler) issuePass(ctx context.Context) (captchastore.Pass, bool) {
	if h.d.Passes == nil {
		return captchastore.Pass{}, false
	}
	p, err := h.d.Passes.Issue(ctx)
	if err != nil {
		h.d.Log.Warn("signup.pass", "outcome", "not_issued", "err", err)
		return p, false
	}
	return p, true
}

// keepPass puts a pass back for the next try of its form, one try less.
func (h *Handler) keepPass(ctx context.Context, p captchastore.Pass) (captchastore.Pass, bool) {
	kept, ok, err := h.d.Passes.Keep(ctx, p)
	if err != nil {
		h.d.Log.Warn("signup.pass", "outcome", "not_kept", "err", err)
		return kept, false
	}
	if !ok {
		h.d.Log.Info("signup.pass", "outcome", "used_up")
	}
	return kept, ok
}

// showRegistered renders the success page of the new account local: the
// address, how to sign in to an app, the apps, a QR code of the address
// and the first contact's outcome (contact: contactNone, contactAdded or
// contactFailed). The QR code is a PNG from the page's link; only a page
// without a link (no Sealer) inlines it as SVG.
func (h *Handler) showRegistered(c echo.Context, local, contact string) error {
	address := local + "@" + h.d.Site.Domain
	uri := "xmpp:" + address
	p := registeredPage{Address: address, URI: template.URL(uri)} // #nosec G203 -- a name the server accepted
	if token, _ := c.Get(resultTokenKey).(string); token != "" {
		p.QRImage = resultRegistered.path + "/qr.png?t=" + token // a token Open accepted: base64url
	} else {
		qr, err := qrsvg.SVG(uri, 200, address)
		if err != nil {
			h.d.Log.Error("qr.render", "err", err)
		}
		p.QR = qr
	}
	if addr := h.firstContact(); addr != "" && contact != contactNone {
		p.FirstContact, p.ContactAdded = addr, contact == contactAdded
	}
	return h.renderRegistered(c, local, p)
}
