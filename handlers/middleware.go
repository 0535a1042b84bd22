package handlers

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// contentSecurityPolicy allows no script at all, no framing and no resource
// from another origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// registerCSP is the sign-up form's policy: contentSecurityPolicy with
// frames of the portal's own pages, for the captcha's frame (captchaframe.go).
const registerCSP = "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; frame-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// captchaFrameCSP is the captcha frame's policy: contentSecurityPolicy, but
// the portal's own pages may frame it (and nobody else). The frame answers
// with X-Frame-Options SAMEORIGIN to the same effect for browsers without
// frame-ancestors.
const captchaFrameCSP = "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"form-action 'self'; frame-ancestors 'self'; base-uri 'none'"

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		return next(c)
	}
}

var crossOrigin = http.NewCrossOriginProtection()

// crossOriginProtection refuses state-changing requests that a browser marks
// as coming from another site (Sec-Fetch-Site, or Origin against Host).
func crossOriginProtection(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := crossOrigin.Check(c.Request()); err != nil {
			return wrapPage(err, http.StatusForbidden, i18n.K("error.cross_origin"))
		}
		return next(c)
	}
}

// bodyLimit refuses bodies over the configured size, declared or streamed.
func (h *Handler) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		limit := h.d.BodyLimit
		tooLarge := newPageError(http.StatusRequestEntityTooLarge, i18n.K("error.body_too_large"))
		if c.Path() == "/import" && r.Method == http.MethodPost && h.d.ImportMaxBytes > limit {
			// The upload of an export file; its form fields add a little.
			limit = h.d.ImportMaxBytes + 64<<10
			tooLarge = newPageError(http.StatusRequestEntityTooLarge, i18n.K("migrate.err.file_too_large"), (h.d.ImportMaxBytes+1<<20-1)>>20)
		}
		if limit > 0 && r.Body != nil {
			if r.ContentLength > limit {
				return tooLarge
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
		}
		return next(c)
	}
}

// requestLog logs one line per request: method, route pattern, status and
// duration. No address, no user agent, no query string, no referrer.
func (h *Handler) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "(none)"
		}
		took := time.Since(start)
		h.d.Log.Info("http.request", "method", c.Request().Method, "route", route,
			"status", c.Response().Status, "ms", took.Milliseconds(), "onion", IsOnion(c.Request()))
		h.d.Metrics.Request(route, c.Request().Method, c.Response().Status, took)
		return nil
	}
}

func (h *Handler) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = wrapPage(fmt.Errorf("panic: %v", r), http.StatusInternalServerError, i18n.K("error.internal"))
			}
		}()
		return next(c)
	}
}

// asMaxBytes reports whether err comes from a body over the limit.
func asMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// formType is the one body type the portal's forms (other than /import)
// send.
const formType = "application/x-www-form-urlencoded"

// parseForm reads the posted form, mapping a body over the limit to 413.
// Only URL-encoded bodies are read: anything else (a multipart body, which
// net/http would spool to disk) is refused unread with 415.
func parseForm(r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != formType {
		return newPageError(http.StatusUnsupportedMediaType, i18n.K("error.bad_request"))
	}
	if err := r.ParseForm(); err != nil {
		if asMaxBytes(err) {
			return wrapPage(err, http.StatusRequestEntityTooLarge, i18n.K("error.body_too_large"))
		}
		return wrapPage(err, http.StatusBadRequest, i18n.K("error.bad_request"))
	}
	return nil
}
