package handlers

import (
	"context"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/qrsvg"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

type registerForm struct {
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
	return h.showRegisterForm(c, http.StatusOK, registerForm{})
}

// showRegisterForm renders the form with a fresh captcha.
func (h *Handler) showRegisterForm(c echo.Context, status int, f registerForm) error {
	id, err := h.d.Captchas.New()
	if err != nil {
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	}
	f.CaptchaID = id
	f.MinPassword = h.d.MinPassword
	if f == (registerForm{CaptchaID: id, MinPassword: h.d.MinPassword}) {
		// A fresh form, the same for everyone but the captcha (pagecache.go).
		return h.renderWithCaptcha(c, status, "register", f)
	}
	return h.renderStatus(c, status, "register", f)
}

// registerSubmit checks, in order: origin (middleware), rate budgets (the
// client's and the global or onion one), captcha, username, password; only
// then asks the XMPP server to create the account.
func (h *Handler) registerSubmit(c echo.Context) error {
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	lang := h.lang(c)
	tr := func(e *i18n.Error) string { return e.Message(h.d.I18n, lang) }
	username := r.PostForm.Get("username")
	if len(username) > 1023 {
		username = username[:1023]
	}
	f := registerForm{Username: username}

	if r.PostForm.Get("action") == "reload" {
		if _, err := h.checkBudget(c, abuse.Captcha); err != nil { // a new captcha, as in registerShow
			return err
		}
		return h.showRegisterForm(c, http.StatusOK, f)
	}

	// Budgets before the captcha; a sign-up that does not happen gives its
	// units back (a wrong captcha only the shared one: it costs the client).
	budget, err := h.checkBudget(c, abuse.Signup)
	if err != nil {
		return err
	}

	// The captcha is checked first and consumed whatever the outcome.
	id, answer := strings.TrimSpace(r.PostForm.Get("captcha_id")), strings.TrimSpace(r.PostForm.Get("captcha"))
	if id == "" || answer == "" {
		budget.ReleaseShared(r.Context())
		if id != "" {
			if _, err := h.d.Captchas.Verify(r.Context(), id, ""); err != nil {
				return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
			}
		}
		h.d.Log.Info("signup.refused", "reason", "captcha_missing")
		f.CaptchaError = h.d.I18n.T(lang, i18n.K("register.err.captcha_missing"))
		return h.showRegisterForm(c, http.StatusBadRequest, f)
	}
	ok, err := h.d.Captchas.Verify(r.Context(), id, answer)
	if err != nil {
		budget.Release(r.Context())
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	}
	if !ok {
		budget.ReleaseShared(r.Context())
		h.d.Log.Info("signup.refused", "reason", "captcha_wrong")
		f.CaptchaError = h.d.I18n.T(lang, i18n.K("register.err.captcha_wrong"))
		return h.showRegisterForm(c, http.StatusBadRequest, f)
	}

	local, uerr := h.d.Policy.Username(username)
	if uerr != nil {
		budget.Release(r.Context())
		h.d.Log.Info("signup.refused", "reason", "username_policy", "key", string(uerr.Key))
		f.UsernameError = tr(uerr)
		return h.showRegisterForm(c, http.StatusUnprocessableEntity, f)
	}
	if perr := h.d.Policy.Password(r.PostForm.Get("password"), r.PostForm.Get("password2"), local); perr != nil {
		budget.Release(r.Context())
		h.d.Log.Info("signup.refused", "reason", "password_policy", "key", string(perr.Key))
		f.PasswordError = tr(perr)
		return h.showRegisterForm(c, http.StatusUnprocessableEntity, f)
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.d.XMPPTimeout)
	defer cancel()
	if err := h.d.Signup.Create(ctx, local, r.PostForm.Get("password")); err != nil {
		budget.Release(r.Context())
		e := h.xmppError(flowRegister, err)
		h.d.Log.Info("signup.failed", "kind", xmpp.KindOf(err).String(), "err", err)
		h.d.Log.Debug("signup.failed.user", "username", local)
		if e.Msg.Key == "register.err.username_taken" || e.Msg.Key == "register.err.username_refused" {
			f.UsernameError = e.Message(h.d.I18n, lang)
		} else {
			f.Error = e.Message(h.d.I18n, lang)
		}
		return h.showRegisterForm(c, e.Status, f)
	}
	h.d.Log.Info("account.created")
	h.d.Log.Debug("account.created.user", "username", local)

	address := local + "@" + h.d.Site.Domain
	uri := "xmpp:" + address
	qr, err := qrsvg.SVG(uri, 200, address)
	if err != nil {
		h.d.Log.Error("qr.render", "err", err)
	}
	return h.renderRegistered(c, local, registeredPage{Address: address, URI: template.URL(uri), QR: qr})
}
