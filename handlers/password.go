package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/account"
	"github.com/xmpp-portal/portal/internal/i18n"
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

	if _, err := guardLogin(g, addr, current, i18n.K("manage.err.unavailable"), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, h.d.Accounts.Verify(ctx, local, current)
	}); err != nil {
		if errors.Is(err, errBadCredentials) {
			f.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
			return h.showPasswordForm(c, badCredentialsStatus, f)
		}
		return err
	}
	g.pad()

	ctx, cancel := context.WithTimeout(r.Context(), 3*h.d.XMPPTimeout)
	defer cancel()
	err := h.d.Accounts.ChangePassword(ctx, local, current, pw)
	switch {
	case err == nil:
	case errors.Is(err, account.ErrPasswordPolicy):
		h.d.Log.Info("password.failed", "kind", account.KindName(err))
		f.NewError = h.d.I18n.T(lang, i18n.K("password.err.server_policy"))
		return h.showPasswordForm(c, http.StatusUnprocessableEntity, f)
	case errors.Is(err, account.ErrAuth):
		// The password changed between the check and the change.
		h.d.Log.Info("password.failed", "kind", account.KindName(err))
		f.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
		return h.showPasswordForm(c, badCredentialsStatus, f)
	case errors.Is(err, account.ErrNotVerified):
		h.d.Log.Error("password.failed", "kind", account.KindName(err), "err", err)
		return i18n.Wrap(err, http.StatusBadGateway, i18n.K("password.err.not_verified"))
	case errors.Is(err, account.ErrRefused), errors.Is(err, account.ErrNotAvailable):
		h.d.Log.Warn("password.failed", "kind", account.KindName(err), "err", err)
		return i18n.Wrap(err, http.StatusBadGateway, i18n.K("password.err.refused"))
	default:
		h.d.Log.Warn("password.failed", "kind", account.KindName(err), "err", err)
		return i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("password.err.unavailable"))
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
