package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
)

type errorPage struct {
	Message string
	Back    string
}

// errorHandler is the one place errors become pages: the user sees a
// translated message, the log gets the details (never an address).
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		h.d.Log.Warn("http.error_after_commit", "route", c.Path(), "err", err)
		return
	}
	ue := h.userError(err)
	switch {
	case ue.Status >= 500:
		h.d.Log.Error("http.error", "route", c.Path(), "status", ue.Status, "err", err)
	default:
		h.d.Log.Debug("http.error", "route", c.Path(), "status", ue.Status, "err", err)
	}
	lang := h.lang(c)
	back := ""
	if c.Request().Method == http.MethodPost {
		back = c.Path()
	}
	h.renderStatus(c, ue.Status, "error", errorPage{Message: ue.Message(h.d.I18n, lang), Back: back})
}

// userError turns any error into the i18n.Error shown to the user.
func (h *Handler) userError(err error) *i18n.Error {
	var ue *i18n.Error
	if errors.As(err, &ue) {
		if ue.Status == 0 {
			ue.Status = http.StatusBadRequest
		}
		return ue
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return i18n.Wrap(err, he.Code, i18n.K("error.not_found"))
		case http.StatusMethodNotAllowed:
			return i18n.Wrap(err, he.Code, i18n.K("error.method"))
		case http.StatusRequestEntityTooLarge:
			return i18n.Wrap(err, he.Code, i18n.K("error.body_too_large"))
		}
		if he.Code >= 400 && he.Code < 500 {
			return i18n.Wrap(err, he.Code, i18n.K("error.bad_request"))
		}
	}
	if asMaxBytes(err) {
		return i18n.Wrap(err, http.StatusRequestEntityTooLarge, i18n.K("error.body_too_large"))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("error.timeout"))
	}
	return i18n.Wrap(err, http.StatusInternalServerError, i18n.K("error.internal"))
}
