package handlers

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/xmpp/account"
)

type statsPage struct {
	Stats account.Stats
	// Read is when the numbers were read, UTC, to the minute.
	Read string
	// Uptime of the portal in days, hours and minutes.
	Days, Hours, Minutes int
}

// stats shows the server's registered and online counts (or that the server
// does not provide them) and the portal's uptime. No per-user data.
func (h *Handler) stats(c echo.Context) error {
	var p statsPage
	if h.d.Accounts != nil {
		p.Stats = h.d.Accounts.Stats(c.Request().Context())
	}
	if !p.Stats.At.IsZero() {
		p.Read = p.Stats.At.UTC().Format("2006-01-02 15:04")
	}
	if !h.d.Started.IsZero() {
		up := h.now().Sub(h.d.Started)
		if up < 0 {
			up = 0
		}
		p.Days = int(up / (24 * time.Hour))
		p.Hours = int(up % (24 * time.Hour) / time.Hour)
		p.Minutes = int(up % time.Hour / time.Minute)
	}
	return h.render(c, "stats", p)
}
