package app

import (
	"fmt"
	"log/slog"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/proxyhdr"
	"github.com/xmpp-portal/portal/internal/store"
)

// NewLimiter builds the rate limiter from the abuse.* and http.trusted_proxies
// settings, counting in st. Requests marked by handlers.MarkOnion use the
// onion budgets, and, when the onion listener reads tor's circuit ids
// (config.OnionCircuits), each Tor circuit's per-client budgets too; IPv6
// clients are counted at /64, /56 and /48 (abuse.ipv6_56_factor,
// abuse.ipv6_48_factor).
func NewLimiter(cfg *config.Config, st store.Store, log *slog.Logger) (*abuse.Limiter, error) {
	o := abuse.LimiterOptions{
		Budgets:        cfg.AbuseBudgets(),
		Epoch:          cfg.Abuse.Epoch,
		TrustedProxies: cfg.HTTP.TrustedProxies,
		IsOnion:        handlers.IsOnion,
		Log:            log,
	}
	if cfg.OnionCircuits() {
		o.Circuit = proxyhdr.Circuit
	}
	l, err := abuse.NewLimiter(st, o)
	if err != nil {
		return nil, fmt.Errorf("abuse: %w", err)
	}
	return l, nil
}
