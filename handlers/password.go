package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

type passwordForm struct {
	Address      string // as typed, to re-fill the form; passwords never are
	MinPassword  int
	Error        string
	AddressError string
	CurrentError string
	NewError     string
}

type passwordDone struct {
	Address string
}

func (h *Handler) passwordShow(c echo.Context) error {
	if h.d.Accounts == nil {
		return h.notYet(c)
	}
	return h.renderStatus(c, http.StatusOK, "password", passwordForm{MinPassword: h.d.MinPassword})
}

func (h *Handler) showPasswordForm(c echo.Context, status int, f passwordForm) error {
	f.MinPassword = h.d.MinPassword
	return h.renderStatus(c, status, "password", f)
}

// passwordSubmit checks, in order: origin (middleware), the credential rate
// budget, the form (address on this domain, current password given, new
// password by the sign-up rules), the current password (regulated per
// account, padded in time); then changes the password on the server, which
// confirms it by logging in with the new one and failing with the old one.
func (h *Handler) passwordSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Accounts == nil {
		return h.notYet(c)
	}
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	g := h.guard(c, "password", start)
	if err := g.take(1); err != nil {
		return err
	}
	lang := h.lang(c)
	tr := func(e *i18n.Error) string { return e.Message(h.d.I18n, lang) }
	raw := r.PostForm.Get("address")
	f := passwordForm{Address: keepTyped(raw)}
	current, pw, pw2 := r.PostForm.Get("current"), r.PostForm.Get("password"), r.PostForm.Get("password2")

	addr, aerr := h.d.Policy.Account(raw)
	if aerr != nil {
		f.AddressError = tr(aerr)
	}
	local := addr.Local
	if current == "" {
		f.CurrentError = h.d.I18n.T(lang, i18n.K("manage.err.current_missing"))
	}
	if perr := h.d.Policy.Password(pw, pw2, local); perr != nil {
		f.NewError = tr(perr)
	} else if pw == current {
		f.NewError = h.d.I18n.T(lang, i18n.K("password.err.same"))
	}
	if f.AddressError != "" || f.CurrentError != "" || f.NewError != "" {
		g.release()
		h.d.Log.Info("password.refused", "reason", "form")
		return h.showPasswordForm(c, http.StatusUnprocessableEntity, f)
	}

	sess, err := guardLogin(g, addr, current, unavailableKey(flowPassword), func(ctx context.Context) (Account, error) {
		return h.d.Accounts.Login(ctx, local, current)
	})
	if err != nil {
		if errors.Is(err, errBadCredentials) {
			f.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
			return h.showPasswordForm(c, badCredentialsStatus, f)
		}
		return err
	}
	defer sess.Close()
	g.pad()

	ctx, cancel := context.WithTimeout(r.Context(), 3*h.d.XMPPTimeout)
	defer cancel()
	if err := sess.ChangePassword(ctx, pw); err != nil {
		e := h.xmppError(flowPassword, err)
		switch {
		case xmpp.KindOf(err) == xmpp.PasswordPolicy:
			h.d.Log.Info("password.failed", "kind", xmpp.KindOf(err).String())
			f.NewError = e.Message(h.d.I18n, lang)
			return h.showPasswordForm(c, e.Status, f)
		case e.Status == badCredentialsStatus:
			// The password changed between the login and the change.
			h.d.Log.Info("password.failed", "kind", xmpp.KindOf(err).String())
			f.Error = e.Message(h.d.I18n, lang)
			return h.showPasswordForm(c, e.Status, f)
		}
		h.d.Log.Warn("password.failed", "kind", xmpp.KindOf(err).String(), "err", err)
		return e
	}
	h.d.Log.Info("password.changed")
	h.d.Log.Debug("password.changed.user", "username", local)
	return h.render(c, "password_done", passwordDone{Address: local + "@" + h.d.Policy.Domain()})
}

// keepTyped bounds what is echoed back into a form.
func keepTyped(s string) string {
	if len(s) > 1023 {
		return s[:1023]
	}
	return s
}
