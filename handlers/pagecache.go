package handlers

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// pageCache keeps pages that are the same for every visitor, rendered once:
// executing the templates costs about ten times more than everything else a
// GET of the home or sign-up page does (see docs/benchmarks.md and
// BenchmarkPages). The sign-up form differs between visitors only by its
// captcha id; it is rendered once with captchaPlaceholder and the id is put
// in per request.
//
// A cached page is keyed by everything views.Page is built from (page,
// status, language, path, onion, whether the onion address is shown). If you
// add a per-request value to views.Page, add it to pageKey too;
// TestPageCacheMatchesRender compares every cached page with a fresh
// rendering.
type pageCache struct {
	m sync.Map // pageKey -> []byte
}

type pageKey struct {
	page   string
	status int
	lang   string
	path   string
	onion  bool
	shown  bool // the onion address is shown (published)
	linked bool // a result page reached by its link: the language links carry its token
	// variant is what else a cached page depends on: the sign-up form's
	// offer of invites, the success page's first contact.
	variant string
}

// captchaPlaceholder stands for the captcha id in a cached sign-up form. Ids
// and the placeholder are letters and digits only, so they read the same in
// every HTML, attribute and URL context and the substitution is exact.
const captchaPlaceholder = "CaptchaIdPlaceholder0"

func (h *Handler) pageKey(c echo.Context, status int, name, lang string) pageKey {
	return pageKey{page: name, status: status, lang: lang, path: c.Request().URL.Path, onion: IsOnion(c.Request()), shown: h.onionShown()}
}

// renderCached writes the cached rendering of a page whose data is fixed
// (data must not depend on the request beyond what pageKey holds).
func (h *Handler) renderCached(c echo.Context, status int, name string, data any) error {
	lang := h.lang(c)
	k := h.pageKey(c, status, name, lang)
	if b, ok := h.cache.m.Load(k); ok {
		return h.writePage(c, status, lang, b.([]byte))
	}
	var buf bytes.Buffer
	if err := h.d.Views.Render(&buf, name, h.page(c, lang, data)); err != nil {
		h.d.Log.Error("view.render", "page", name, "err", err)
		return c.String(http.StatusInternalServerError, "internal error")
	}
	b := buf.Bytes()
	h.cache.m.Store(k, b)
	return h.writePage(c, status, lang, b)
}

// renderWithCaptcha renders the sign-up form f (which must carry nothing
// but its captcha id and fixed settings) from the cache, with f's captcha id
// put in. It falls back to a plain rendering for ids that are not letters
// and digits.
func (h *Handler) renderWithCaptcha(c echo.Context, status int, name string, f registerPage) error {
	id := f.CaptchaID
	if !alnum(id) || id == "" {
		return h.renderStatus(c, status, name, f)
	}
	lang := h.lang(c)
	k := h.pageKey(c, status, name, lang)
	k.variant = strconv.FormatBool(f.Invites) + "\x00" + f.FirstContact
	v, ok := h.cache.m.Load(k)
	if !ok {
		f.CaptchaID = captchaPlaceholder
		var buf bytes.Buffer
		if err := h.d.Views.Render(&buf, name, h.page(c, lang, f)); err != nil {
			h.d.Log.Error("view.render", "page", name, "err", err)
			return c.String(http.StatusInternalServerError, "internal error")
		}
		v, _ = h.cache.m.LoadOrStore(k, buf.Bytes())
	}
	b := bytes.ReplaceAll(v.([]byte), []byte(captchaPlaceholder), []byte(id))
	return h.writePage(c, status, lang, b)
}

// Placeholders of a cached success page: the new account's local part, its
// QR code and the token of the page's link (results.go), which its language
// links keep.
const (
	localPlaceholder = "localpartplaceholder0"
	qrPlaceholder    = "qrcodeplaceholder0"
	tokenPlaceholder = "resulttokenplaceholder0"
)

// renderRegistered renders the success page for local. It is cached like the
// sign-up form, with the local part and the QR code put in per request, when
// the local part is made of characters that read the same in every HTML,
// attribute and URL context (lower-case letters, digits, '.', '_' and '-',
// which covers most names); other names are rendered in full. Rendering the
// page was about half of a sign-up's CPU time in the portal.
func (h *Handler) renderRegistered(c echo.Context, local string, p registeredPage) error {
	if !plainLocal(local) || strings.Contains(local, qrPlaceholder) || strings.Contains(local, tokenPlaceholder) {
		return h.render(c, "registered", p)
	}
	token, _ := c.Get(resultTokenKey).(string)
	if !tokenChars(token) {
		return h.render(c, "registered", p)
	}
	lang := h.lang(c)
	k := h.pageKey(c, http.StatusOK, "registered", lang)
	k.linked = token != ""
	// The first contact's outcome (the address is the site's, fixed).
	k.variant = p.FirstContact + "\x00" + strconv.FormatBool(p.ContactAdded)
	v, ok := h.cache.m.Load(k)
	if !ok {
		address := localPlaceholder + "@" + h.d.Site.Domain
		ph := registeredPage{Address: address, URI: template.URL("xmpp:" + address), QR: template.HTML(qrPlaceholder),
			FirstContact: p.FirstContact, ContactAdded: p.ContactAdded}
		if k.linked {
			// The QR code is a PNG from the page's link.
			c.Set(resultTokenKey, tokenPlaceholder)
			ph.QR, ph.QRImage = "", resultRegistered.path+"/qr.png?t="+tokenPlaceholder
		}
		var buf bytes.Buffer
		err := h.d.Views.Render(&buf, "registered", h.page(c, lang, ph))
		c.Set(resultTokenKey, token)
		if err != nil {
			h.d.Log.Error("view.render", "page", "registered", "err", err)
			return c.String(http.StatusInternalServerError, "internal error")
		}
		v, _ = h.cache.m.LoadOrStore(k, buf.Bytes())
	}
	b := v.([]byte)
	if k.linked {
		b = bytes.ReplaceAll(b, []byte(tokenPlaceholder), []byte(token))
	}
	b = bytes.ReplaceAll(b, []byte(localPlaceholder), []byte(local))
	if !k.linked {
		b = bytes.Replace(b, []byte(qrPlaceholder), []byte(p.QR), 1)
	}
	return h.writePage(c, http.StatusOK, lang, b)
}

func plainLocal(s string) bool {
	if s == "" || len(s) > 1023 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// writePage sends a rendered page with the headers renderStatus sets.
func (h *Handler) writePage(c echo.Context, status int, lang string, b []byte) error {
	c.Response().Header().Set("Content-Language", lang)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, b)
}

// tokenChars reports whether s is made of the characters of a result link's
// token (unpadded base64url), which read the same in every HTML, attribute
// and URL context.
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		default:
			return false
		}
	}
	return true
}
