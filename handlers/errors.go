package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// pageError is an error the error handler shows as a page of its own: the
// HTTP status and the translated message. Statuses are the handlers'
// business; internal/i18n and internal/policy hold none.
type pageError struct {
	Status int
	Msg    *i18n.Error
}

// newPageError is the page error of status that shows key with args.
func newPageError(status int, key i18n.Key, args ...any) *pageError {
	return &pageError{Status: status, Msg: i18n.NewError(key, args...)}
}

// wrapPage is newPageError keeping err, the cause, for the log.
func wrapPage(err error, status int, key i18n.Key, args ...any) *pageError {
	return &pageError{Status: status, Msg: i18n.Wrap(err, key, args...)}
}

// Error describes e for the log: status, key and cause (never the message's
// arguments, which may hold what the user typed).
func (e *pageError) Error() string {
	return "status=" + strconv.Itoa(e.Status) + " " + e.Msg.Error()
}

// Unwrap returns the message, whose Unwrap is the cause.
func (e *pageError) Unwrap() error { return e.Msg }

// Message is the text the user sees, in lang.
func (e *pageError) Message(b *i18n.Bundle, lang string) string { return e.Msg.Message(b, lang) }

type errorPage struct {
	Status  int // the HTTP status: 404 says "Page not found" (pages/error.html)
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
	pe := h.userError(err)
	switch {
	case pe.Status >= 500:
		h.d.Log.Error("http.error", "route", c.Path(), "status", pe.Status, "err", err)
	default:
		h.d.Log.Debug("http.error", "route", c.Path(), "status", pe.Status, "err", err)
	}
	lang := h.lang(c)
	back := ""
	if c.Request().Method == http.MethodPost {
		back = c.Path()
	}
	page := "error"
	if pe.Status == http.StatusTooManyRequests {
		page = "limited" // what was counted and when to come back, not "that did not work"
	}
	h.renderStatus(c, pe.Status, page, errorPage{Status: pe.Status, Message: pe.Message(h.d.I18n, lang), Back: back})
}

// userError turns any error into the page error shown to the user. A bare
// *i18n.Error (a message without a status) is a refused request, 400.
func (h *Handler) userError(err error) *pageError {
	var pe *pageError
	if errors.As(err, &pe) {
		return pe
	}
	var msg *i18n.Error
	if errors.As(err, &msg) {
		return &pageError{Status: http.StatusBadRequest, Msg: msg}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return wrapPage(err, he.Code, i18n.K("error.not_found"))
		case http.StatusMethodNotAllowed:
			return wrapPage(err, he.Code, i18n.K("error.method"))
		case http.StatusRequestEntityTooLarge:
			return wrapPage(err, he.Code, i18n.K("error.body_too_large"))
		}
		if he.Code >= 400 && he.Code < 500 {
			return wrapPage(err, he.Code, i18n.K("error.bad_request"))
		}
	}
	if asMaxBytes(err) {
		return wrapPage(err, http.StatusRequestEntityTooLarge, i18n.K("error.body_too_large"))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.timeout"))
	}
	return wrapPage(err, http.StatusInternalServerError, i18n.K("error.internal"))
}
