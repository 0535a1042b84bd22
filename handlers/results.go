package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/resultlink"
)

// Result pages, reached by Post/Redirect/Get: a form that did something
// (created, changed or deleted an account, or sent a sign-up whose outcome
// is unknown) answers 303 See Other with the link of its result page, which
// carries what the page shows sealed in its query (?t=, internal/resultlink:
// encrypted and authenticated, with an expiry; no cookie, nothing kept per
// visitor, never the password). A reload, the back button or a restored tab
// loads that page again and never sends the form again. After resultTTL, or
// for a link that is not one of ours, the page says so honestly.
//
// The import's summary is not a result page of this kind: it lists what
// was restored, contact by contact, which would have to be kept somewhere
// (the store, or a long link naming the user's contacts) to be shown again;
// it stays the answer of its POST.

// resultKind is a result page: its path, the page it renders and its link's
// kind (resultlink binds a token to its kind).
type resultKind struct {
	kind string
	path string
	page string
}

var (
	resultRegistered = resultKind{"registered", "/welcome", "registered"}
	resultUnknown    = resultKind{"register_unknown", "/register/unknown", "register_unknown"}
	resultPassword   = resultKind{"password_done", "/password/done", "password_done"}
	resultDeleted    = resultKind{"deleted", "/delete/done", "deleted"}
)

// resultTTL is how long a result page can be shown again: a day, for a
// phone that restores its tabs the next morning.
const resultTTL = 24 * time.Hour

// resultTokenKey is the echo context key of the token of the result page
// being rendered: the language links keep it (render.go).
const resultTokenKey = "portal.result_token"

// redirectResult answers 303 with the link of k's page for address. When
// links cannot be made (no Sealer, or the store fails), it renders the page
// at once by fallback instead: the account was created, changed or deleted
// and must be shown, even without a reloadable link.
func (h *Handler) redirectResult(c echo.Context, k resultKind, address string, fallback func() error) error {
	return h.redirectSealed(c, k, address, resultTTL, fallback)
}

// redirectSealed is redirectResult for any value of k's page (what the
// page's link seals), with a link that lives ttl (at most resultTTL).
func (h *Handler) redirectSealed(c echo.Context, k resultKind, value string, ttl time.Duration, fallback func() error) error {
	if h.d.Links == nil {
		return fallback()
	}
	token, err := h.d.Links.Seal(c.Request().Context(), k.kind, value, min(ttl, resultTTL))
	if err != nil {
		h.d.Log.Warn("result.link", "page", k.page, "outcome", "not_sealed", "err", err)
		return fallback()
	}
	q := url.Values{"t": {token}, "lang": {h.lang(c)}}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, k.path+"?"+q.Encode())
}

// resultGone is the page of a result link that is no longer, or never was,
// a valid one.
type resultGone struct {
	Expired bool
	Kind    string // the result page's kind: what the page was about
}

// result serves k's page from its link.
func (h *Handler) result(k resultKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.d.Links == nil {
			return echo.ErrNotFound
		}
		token := c.QueryParam("t")
		address, err := h.d.Links.Open(c.Request().Context(), k.kind, token)
		switch {
		case errors.Is(err, resultlink.ErrExpired):
			return h.renderStatus(c, http.StatusGone, "result_gone", resultGone{Expired: true, Kind: k.kind})
		case errors.Is(err, resultlink.ErrInvalid):
			return h.renderStatus(c, http.StatusBadRequest, "result_gone", resultGone{Kind: k.kind})
		case err != nil:
			return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
		}
		c.Set(resultTokenKey, token) // a token Open accepted: base64url
		return h.renderResult(c, k, address, http.StatusOK)
	}
}

// renderResult renders k's page for address. status is the status of the
// unknown outcome's page: 200 from its link, 503 when it answers its form
// directly (redirectResult's fallback).
func (h *Handler) renderResult(c echo.Context, k resultKind, address string, status int) error {
	switch k {
	case resultRegistered:
		r := openRegistered(address)
		local, _, _ := strings.Cut(r.Address, "@")
		return h.showRegistered(c, local, r.Contact)
	case resultInvite:
		r, ok := openInvite(address)
		if !ok {
			return h.renderStatus(c, http.StatusBadRequest, "result_gone", resultGone{Kind: k.kind})
		}
		return h.showInvite(c, r)
	case resultUnknown:
		local, _, _ := strings.Cut(address, "@")
		return h.renderStatus(c, status, k.page, unknownPage{Address: address, Again: "/register?" + url.Values{"username": {local}}.Encode()})
	case resultPassword:
		return h.render(c, k.page, passwordDone{Address: address})
	default:
		return h.render(c, k.page, deletedPage{Address: address})
	}
}

// unknownPage is the page of a sign-up the server may or may not have
// carried out: it stopped answering after the request was sent.
type unknownPage struct {
	Address string
	Again   string // the sign-up form with the same name filled in
}
