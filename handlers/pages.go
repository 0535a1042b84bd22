package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

func (h *Handler) home(c echo.Context) error { return h.renderCached(c, http.StatusOK, "home", nil) }
func (h *Handler) account(c echo.Context) error {
	return h.renderCached(c, http.StatusOK, "account", nil)
}
func (h *Handler) notYet(c echo.Context) error { return h.render(c, "notyet", nil) }

// legal serves one of the operator's legal pages (Deps.Legal) in the
// visitor's language, or in the default language when the operator wrote
// none in theirs.
func (h *Handler) legal(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		pages := h.d.Legal[name]
		p, ok := pages[h.lang(c)]
		if !ok {
			p = pages[h.d.DefaultLang]
		}
		return h.renderCached(c, http.StatusOK, "legal", p)
	}
}

// health answers 200 with the state of each component, or 503 when one is down.
func (h *Handler) health(c echo.Context) error { return h.states(c, h.d.Health) }

// ready answers as health, with the components account creation needs
// (Deps.Ready): 503 while the XMPP server or the store is down.
func (h *Handler) ready(c echo.Context) error {
	if h.d.Ready == nil {
		return h.states(c, h.d.Health)
	}
	return h.states(c, h.d.Ready)
}

func (h *Handler) states(c echo.Context, check func(ctx context.Context) (map[string]string, error)) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if check == nil {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
	states, err := check(c.Request().Context())
	if states == nil {
		states = map[string]string{}
	}
	if err != nil {
		states["status"] = "degraded"
		return c.JSON(http.StatusServiceUnavailable, states)
	}
	states["status"] = "ok"
	return c.JSON(http.StatusOK, states)
}
