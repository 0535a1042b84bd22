package handlers

import (
	"context"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/qrsvg"
)

// registerPage is the sign-up form as the page shows it.
type registerPage struct {
	CaptchaID     string
	Username      string // as typed, to re-fill the form; passwords are never re-filled
	MinPassword   int
	Error         string
	UsernameError string
	PasswordError string
	CaptchaError  string
}

type registeredPage struct {
	Address string
	URI     template.URL
	QR      template.HTML
}

func (h *Handler) registerShow(c echo.Context) error {
	// Every form holds a new captcha in the store: it counts against the
	// client's captcha budget, or one client loading the form in a loop
	// could fill the store and lock everybody out of signing up
	// (TestResilienceFormFloodCannotLockOut).
	if _, err := h.checkBudget(c, abuse.Captcha); err != nil {
		return err
	}
	return h.showRegisterForm(c, http.StatusOK, registerPage{})
}

// showRegisterForm renders the form with a fresh captcha.
func (h *Handler) showRegisterForm(c echo.Context, status int, f registerPage) error {
	id, err := h.d.Captchas.New()
	if err != nil {
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	}
	f.CaptchaID = id
	f.MinPassword = h.d.MinPassword
	if f == (registerPage{CaptchaID: id, MinPassword: h.d.MinPassword}) {
		// A fresh form, the same for everyone but the captcha (pagecache.go).
		return h.renderWithCaptcha(c, status, "register", f)
	}
	return h.renderStatus(c, status, "register", f)
}

// registerSubmit checks, in order: origin (middleware), rate budgets (the
// client's and the global or onion one), the form (registerForm.Validate),
// of which the captcha first: it is checked against the store and consumed
// whatever the outcome; then the username and the password. Only then does
// it ask the XMPP server to create the account.
func (h *Handler) registerSubmit(c echo.Context) error {
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	var f registerForm
	f.Parse(r.PostForm)
	lang := h.lang(c)
	page := registerPage{Username: f.Username}

	if f.Reload {
		if _, err := h.checkBudget(c, abuse.Captcha); err != nil { // a new captcha, as in registerShow
			return err
		}
		return h.showRegisterForm(c, http.StatusOK, page)
	}

	// Budgets before the captcha; a sign-up that does not happen gives its
	// units back (a wrong captcha only the shared one: it costs the client).
	budget, err := h.checkBudget(c, abuse.Signup)
	if err != nil {
		return err
	}
	errs := f.Validate(h.d.Policy)

	// The captcha is checked first and consumed whatever the outcome.
	if e := errs["captcha"]; e != nil {
		budget.ReleaseShared(r.Context())
		if f.CaptchaID != "" {
			if _, err := h.d.Captchas.Verify(r.Context(), f.CaptchaID, ""); err != nil {
				return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
			}
		}
		h.d.Log.Info("signup.refused", "reason", "captcha_missing")
		h.d.Metrics.SignupRefused("captcha_missing")
		page.CaptchaError = h.msg(lang, e)
		return h.showRegisterForm(c, http.StatusBadRequest, page)
	}
	ok, err := h.d.Captchas.Verify(r.Context(), f.CaptchaID, f.Captcha)
	if err != nil {
		budget.Release(r.Context())
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	}
	if !ok {
		budget.ReleaseShared(r.Context())
		h.d.Log.Info("signup.refused", "reason", "captcha_wrong")
		h.d.Metrics.SignupRefused("captcha_wrong")
		page.CaptchaError = h.d.I18n.T(lang, i18n.K("register.err.captcha_wrong"))
		return h.showRegisterForm(c, http.StatusBadRequest, page)
	}

	if len(errs) > 0 { // the username, or else the password
		budget.Release(r.Context())
		reason, e := "username_policy", errs["username"]
		if e == nil {
			reason, e = "password_policy", errs["password"]
		}
		h.d.Log.Info("signup.refused", "reason", reason, "key", string(e.Key))
		h.d.Metrics.SignupRefused(reason)
		page.UsernameError, page.PasswordError = h.msg(lang, errs["username"]), h.msg(lang, errs["password"])
		return h.showRegisterForm(c, http.StatusUnprocessableEntity, page)
	}
	local := f.Local

	ctx, cancel := context.WithTimeout(r.Context(), h.d.XMPPTimeout)
	defer cancel()
	if err := h.d.Signup.Create(ctx, local, f.Password); err != nil {
		budget.Release(r.Context())
		e := h.xmppError(flowRegister, err) // logged by the Signup (account.create_failed)
		if e.Msg.Key == "register.err.username_taken" || e.Msg.Key == "register.err.username_refused" {
			page.UsernameError = e.Message(h.d.I18n, lang)
		} else {
			page.Error = e.Message(h.d.I18n, lang)
		}
		return h.showRegisterForm(c, e.Status, page)
	}
	// account.created is the Signup's log line (one per event).

	address := local + "@" + h.d.Site.Domain
	uri := "xmpp:" + address
	qr, err := qrsvg.SVG(uri, 200, address)
	if err != nil {
		h.d.Log.Error("qr.render", "err", err)
	}
	return h.renderRegistered(c, local, registeredPage{Address: address, URI: template.URL(uri), QR: qr})
}
