package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/i18n"
)

// The captcha's picture lives in a small page of its own, framed by the
// sign-up form (an iframe): its "new picture" button is a form of that
// page, which gives the same captcha id new digits (Captchas.Renew). The
// sign-up form around it is not sent and not reloaded, so nothing typed into
// it is lost, and its hidden captcha_id stays right. No script is needed;
// the frame may be framed by the portal's own pages only (captchaFrameCSP,
// X-Frame-Options SAMEORIGIN), and the sign-up form allows frames of its
// own origin only (registerCSP).

// captchaFrameHeight is the frame's height in the sign-up form, in CSS
// pixels: the picture (at most captchastore.ImageHeight pixels high, less
// where the screen is narrower), and below it the sound's player and the
// button (184 pixels on a phone and on a desktop, measured by
// TestBrowserSignupForgivesMistakes, which fails when the frame is too
// small at either size).
const captchaFrameHeight = captchastore.ImageHeight + 184

// captchaFramePage is the frame's data.
type captchaFramePage struct {
	ID      string
	Version string // a random query on the picture and sound, so no cache shows the old digits
	Error   string // a refusal (budget, store) shown instead of the button's result
}

// frameHeaders lets the portal's own pages frame the response.
func frameHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", captchaFrameCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
}

// captchaFrame shows the picture of a captcha with its sound and the "new
// picture" button. It puts nothing in the store and reads nothing from it:
// the picture and the sound are fetched (and counted) on their own.
func (h *Handler) captchaFrame(c echo.Context) error {
	frameHeaders(c)
	var f renewForm
	f.Parse(c.Param("id"))
	if errs := f.Validate(); len(errs) > 0 {
		return echo.ErrNotFound
	}
	return h.renderFrame(c, http.StatusOK, captchaFramePage{ID: f.ID})
}

// captchaRenew is the frame's "new picture": new digits for the same
// captcha, paid by a unit of the client's captcha budget like a new form,
// then the frame again (303, so a reload of the frame does not ask again).
func (h *Handler) captchaRenew(c echo.Context) error {
	frameHeaders(c)
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	var f renewForm
	f.Parse(c.Param("id"))
	if errs := f.Validate(); len(errs) > 0 {
		return echo.ErrNotFound
	}
	page := captchaFramePage{ID: f.ID}
	if _, err := h.checkBudget(c, abuse.Captcha); err != nil {
		return h.frameError(c, page, err)
	}
	if err := h.d.Captchas.Renew(r.Context(), f.ID); err != nil {
		if errors.Is(err, captchastore.ErrNotFound) {
			return echo.ErrNotFound
		}
		return h.frameError(c, page, wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable")))
	}
	h.d.Log.Debug("captcha.renewed")
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, "/register/picture/"+f.ID+"?"+url.Values{"lang": {h.lang(c)}}.Encode())
}

// frameError shows a refusal of the "new picture" button inside the frame,
// with the picture as it was, instead of a whole error page in the frame.
func (h *Handler) frameError(c echo.Context, page captchaFramePage, err error) error {
	pe := h.userError(err)
	if pe.Status >= 500 {
		h.d.Log.Error("http.error", "route", c.Path(), "status", pe.Status, "err", err)
	}
	page.Error = pe.Message(h.d.I18n, h.lang(c))
	return h.renderFrame(c, pe.Status, page)
}

func (h *Handler) renderFrame(c echo.Context, status int, page captchaFramePage) error {
	var v [8]byte
	_, _ = rand.Read(v[:])
	page.Version = hex.EncodeToString(v[:])
	return h.renderStatus(c, status, "captcha_frame", page)
}
