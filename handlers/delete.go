package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// deletePage is the deletion form as the page shows it.
type deletePage struct {
	Address       string // as typed, to re-fill the form; never the password
	Confirm       string
	UploadExpiry  string
	Error         string
	AddressError  string
	PasswordError string
	ConfirmError  string
	CheckError    string
}

type deletedPage struct {
	Address string
}

func (h *Handler) deleteShow(c echo.Context) error {
	if h.d.Accounts == nil {
		return h.notYet(c)
	}
	return h.showDeleteForm(c, http.StatusOK, deletePage{})
}

func (h *Handler) showDeleteForm(c echo.Context, status int, p deletePage) error {
	p.UploadExpiry = h.d.UploadExpiry
	return h.renderStatus(c, status, "delete", p)
}

// deleteSubmit checks, in order: origin (middleware), the credential rate
// budget, the form (deleteForm.Validate: address on this domain, the same
// address typed again, the "cannot be undone" box ticked, a password); then
// the password (the guard: regulated per account, padded in time); then
// deletes the account on the server, which confirms it by failing to log
// in. Nothing is deleted unless every check passed.
func (h *Handler) deleteSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Accounts == nil {
		return h.notYet(c)
	}
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	var f deleteForm
	f.Parse(r.PostForm)
	g := h.guard(c, flowDelete, start)
	if err := g.take(1); err != nil {
		return err
	}
	lang := h.lang(c)
	page := deletePage{Address: keepTyped(f.Address), Confirm: keepTyped(f.Confirm)}
	if errs := f.Validate(h.d.Policy); len(errs) > 0 {
		g.release()
		h.d.Log.Info("delete.refused", "reason", "form")
		page.AddressError, page.ConfirmError = h.msg(lang, errs["address"]), h.msg(lang, errs["confirm"])
		page.PasswordError, page.CheckError = h.msg(lang, errs["password"]), h.msg(lang, errs["understand"])
		return h.showDeleteForm(c, http.StatusUnprocessableEntity, page)
	}
	local := f.Account.Local

	actErr, err := h.withAccount(g, f.Account, f.Password, func(ctx context.Context, acc Account) error {
		return acc.Delete(ctx)
	})
	if errors.Is(err, errBadCredentials) {
		page.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
		return h.showDeleteForm(c, badCredentialsStatus, page)
	}
	if err != nil {
		return err
	}
	if actErr != nil {
		e := h.xmppError(flowDelete, actErr)
		if e.Status == badCredentialsStatus {
			page.Error = e.Message(h.d.I18n, lang)
			return h.showDeleteForm(c, e.Status, page)
		}
		return e
	}
	// The outcome is the account manager's log line (account.deleted,
	// account.delete_refused, account.delete_not_verified, …).
	address := local + "@" + h.d.Policy.Domain()
	return h.redirectResult(c, resultDeleted, address, func() error {
		return h.render(c, "deleted", deletedPage{Address: address})
	})
}
