package handlers

import (
	"bytes"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/views"
)

// lang is the page language: an explicit ?lang= (or the form field of a form
// already read) first, then Accept-Language, then the default.
//
// It never reads a request body: error pages ask for the language of
// requests whose body was refused (too large, cross-origin), and reading it
// here would parse what was refused (a multipart body would even be spooled
// to a temporary file).
func (h *Handler) lang(c echo.Context) string {
	r := c.Request()
	explicit := c.QueryParam("lang")
	if explicit == "" && r.PostForm != nil {
		explicit = r.PostForm.Get("lang")
	}
	accept := c.Request().Header.Get("Accept-Language")
	if explicit == "" && accept == "" {
		return h.d.DefaultLang
	}
	return h.d.I18n.Match(explicit, accept)
}

func (h *Handler) page(c echo.Context, lang string, data any) views.Page {
	p := views.Page{Lang: lang, Site: h.d.Site, OnOnion: IsOnion(c.Request()), Data: data}
	if !h.onionShown() {
		p.Site.Onion = ""
	}
	path := c.Request().URL.Path
	if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
		path = "/"
		if c.Path() != "" {
			path = c.Path()
		}
	}
	if t, _ := c.Get(resultTokenKey).(string); t != "" {
		// A result page (results.go): its language links stay on it.
		path += "?t=" + t
	}
	for _, code := range h.d.I18n.Languages() {
		p.Langs = append(p.Langs, views.LangLink{
			Code: code, Name: h.d.I18n.T(code, i18n.Key("lang."+code)), URL: views.Href(path, code), Current: code == lang,
		})
	}
	return p
}

func (h *Handler) render(c echo.Context, name string, data any) error {
	return h.renderStatus(c, http.StatusOK, name, data)
}

func (h *Handler) renderStatus(c echo.Context, status int, name string, data any) error {
	lang := h.lang(c)
	var buf bytes.Buffer
	if err := h.d.Views.Render(&buf, name, h.page(c, lang, data)); err != nil {
		h.d.Log.Error("view.render", "page", name, "err", err)
		return c.String(http.StatusInternalServerError, "internal error")
	}
	c.Response().Header().Set("Content-Language", lang)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// msg is e translated into lang; "" for no error.
func (h *Handler) msg(lang string, e *i18n.Error) string {
	if e == nil {
		return ""
	}
	return e.Message(h.d.I18n, lang)
}

// onionShown reports whether pages show the onion address: there is one and
// it answers (Deps.OnionPublished).
func (h *Handler) onionShown() bool {
	return h.d.Site.Onion != "" && (h.d.OnionPublished == nil || h.d.OnionPublished())
}
