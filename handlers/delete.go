package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

type deleteForm struct {
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
	return h.showDeleteForm(c, http.StatusOK, deleteForm{})
}

func (h *Handler) showDeleteForm(c echo.Context, status int, f deleteForm) error {
	f.UploadExpiry = h.d.UploadExpiry
	return h.renderStatus(c, status, "delete", f)
}

// deleteSubmit checks, in order: origin (middleware), the credential rate
// budget, the form (address on this domain, the same address typed again,
// the "cannot be undone" box ticked, a password); then the password (regulated
// per account, padded in time); then deletes the account on the server, which
// confirms it by failing to log in. Nothing is deleted unless every check
// passed.
func (h *Handler) deleteSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Accounts == nil {
		return h.notYet(c)
	}
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	g := h.guard(c, "delete", start)
	if err := g.take(1); err != nil {
		return err
	}
	lang := h.lang(c)
	tr := func(e *i18n.Error) string { return e.Message(h.d.I18n, lang) }
	raw, confirm, password := r.PostForm.Get("address"), r.PostForm.Get("confirm"), r.PostForm.Get("password")
	f := deleteForm{Address: keepTyped(raw), Confirm: keepTyped(confirm)}

	addr, aerr := h.d.Policy.Account(raw)
	if aerr != nil {
		f.AddressError = tr(aerr)
	} else if again, cerr := h.d.Policy.OwnAddress(confirm); cerr != nil || again != addr {
		f.ConfirmError = h.d.I18n.T(lang, i18n.K("delete.err.confirm"))
	}
	local := addr.Local
	if password == "" {
		f.PasswordError = h.d.I18n.T(lang, i18n.K("manage.err.current_missing"))
	}
	if r.PostForm.Get("understand") != "yes" {
		f.CheckError = h.d.I18n.T(lang, i18n.K("delete.err.understand"))
	}
	if f.AddressError != "" || f.ConfirmError != "" || f.PasswordError != "" || f.CheckError != "" {
		g.release()
		h.d.Log.Info("delete.refused", "reason", "form")
		return h.showDeleteForm(c, http.StatusUnprocessableEntity, f)
	}

	sess, err := guardLogin(g, addr, password, unavailableKey(flowDelete), func(ctx context.Context) (Account, error) {
		return h.d.Accounts.Login(ctx, local, password)
	})
	if err != nil {
		if errors.Is(err, errBadCredentials) {
			f.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
			return h.showDeleteForm(c, badCredentialsStatus, f)
		}
		return err
	}
	defer sess.Close()
	g.pad()

	ctx, cancel := context.WithTimeout(r.Context(), 3*h.d.XMPPTimeout)
	defer cancel()
	if err := sess.Delete(ctx); err != nil {
		e := h.xmppError(flowDelete, err)
		if e.Status == badCredentialsStatus {
			h.d.Log.Info("delete.failed", "kind", xmpp.KindOf(err).String())
			f.Error = e.Message(h.d.I18n, lang)
			return h.showDeleteForm(c, e.Status, f)
		}
		level := slog.LevelWarn
		if xmpp.KindOf(err) == xmpp.NotVerified {
			level = slog.LevelError
		}
		h.d.Log.Log(ctx, level, "delete.failed", "kind", xmpp.KindOf(err).String(), "err", err)
		return e
	}
	h.d.Log.Info("account.deleted")
	h.d.Log.Debug("account.deleted.user", "username", local)
	return h.render(c, "deleted", deletedPage{Address: local + "@" + h.d.Policy.Domain()})
}
