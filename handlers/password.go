package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// passwordPage is the password change form as the page shows it.
type passwordPage struct {
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
	return h.showPasswordForm(c, http.StatusOK, passwordPage{})
}

func (h *Handler) showPasswordForm(c echo.Context, status int, p passwordPage) error {
	p.MinPassword = h.d.MinPassword
	return h.renderStatus(c, status, "password", p)
}

// passwordSubmit checks, in order: origin (middleware), the credential rate
// budget, the form (passwordForm.Validate: address on this domain, current
// password given, new password by the sign-up rules), the current password
// (the guard: regulated per account, padded in time); then changes the
// password on the server, which confirms it by logging in with the new one
// and failing with the old one.
func (h *Handler) passwordSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Accounts == nil {
		return h.notYet(c)
	}
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	var f passwordForm
	f.Parse(r.PostForm)
	g := h.guard(c, flowPassword, start)
	if err := g.take(1); err != nil {
		return err
	}
	lang := h.lang(c)
	page := passwordPage{Address: keepTyped(f.Address)}
	if errs := f.Validate(h.d.Policy); len(errs) > 0 {
		g.release()
		h.d.Log.Info("password.refused", "reason", "form")
		page.AddressError, page.CurrentError, page.NewError = h.msg(lang, errs["address"]), h.msg(lang, errs["current"]), h.msg(lang, errs["password"])
		return h.showPasswordForm(c, http.StatusUnprocessableEntity, page)
	}
	local := f.Account.Local

	actErr, err := h.withAccount(g, f.Account, f.Current, func(ctx context.Context, acc Account) error {
		return acc.ChangePassword(ctx, f.Password)
	})
	if errors.Is(err, errBadCredentials) {
		page.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
		return h.showPasswordForm(c, badCredentialsStatus, page)
	}
	if err != nil {
		return err
	}
	if actErr != nil {
		e := h.xmppError(flowPassword, actErr)
		switch {
		case xmpp.KindOf(actErr) == xmpp.PasswordPolicy:
			page.NewError = e.Message(h.d.I18n, lang)
			return h.showPasswordForm(c, e.Status, page)
		case e.Status == badCredentialsStatus:
			// The password changed between the login and the change.
			page.Error = e.Message(h.d.I18n, lang)
			return h.showPasswordForm(c, e.Status, page)
		}
		return e
	}
	// The outcome is the account manager's log line
	// (account.password_changed, account.password_change_refused, …).
	address := local + "@" + h.d.Policy.Domain()
	return h.redirectResult(c, resultPassword, address, func() error {
		return h.render(c, "password_done", passwordDone{Address: address})
	})
}
