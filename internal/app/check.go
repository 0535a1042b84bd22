package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/preflight"
)

// Preflight runs the startup checks (internal/preflight) for a's
// configuration: the store, the XMPP server's reachability and certificate,
// in admin mode the admin login and its XEP-0133 rights, and whether public
// in-band registration is closed (admin mode) or offered (ibr mode).
func (a *App) Preflight(ctx context.Context) preflight.Report {
	cfg := a.Config
	pc := preflight.Config{Mode: cfg.XMPP.Mode, Store: a.Store, StoreDriver: cfg.Store.Driver}
	xc, err := XMPPConfig(cfg)
	if err != nil {
		// New has already read the same file; only a change since then lands here.
		return preflight.Report{{Check: preflight.CheckConnect, Status: preflight.Fail, Message: "the XMPP TLS settings cannot be used", Err: err}}
	}
	pc.XMPP = xc
	if cfg.XMPP.Mode == "admin" {
		if j, err := jid.Parse(cfg.XMPP.AdminJID); err == nil {
			pc.AdminJID, pc.AdminPassword = j, cfg.XMPP.AdminPassword
		}
	}
	return preflight.Run(ctx, pc)
}

// StartupChecks runs Preflight and writes the outcome to the log: failures
// at error level, warnings (such as open public registration) at warn level.
// The portal keeps serving whatever the outcome; Main runs it in the
// background at startup.
func (a *App) StartupChecks(ctx context.Context) preflight.Report {
	r := a.Preflight(ctx)
	r.Log(ctx, a.Log)
	return r
}

// check is "portal -check": it runs the startup checks once, prints them for
// the operator and returns 1 if one failed (warnings alone return 0).
func check(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) int {
	fmt.Fprintf(out, "portal %s -check: %s mode, domain %s, server %s, store %s\n",
		Version, cfg.XMPP.Mode, cfg.XMPP.Domain, cfg.XMPP.Addr, cfg.Store.Driver)
	a, err := New(cfg, log)
	if err != nil {
		fmt.Fprintf(out, "FAIL  %-20s %v\n", "setup", err)
		return 1
	}
	defer a.Close()
	r := a.Preflight(ctx)
	_ = r.Write(out)
	if r.Failed() {
		return 1
	}
	return 0
}
