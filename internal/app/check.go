package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

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
	pc.Invites = cfg.Invite.Enabled
	if cfg.XMPP.Mode == "admin" {
		if j, err := jid.Parse(cfg.XMPP.AdminJID); err == nil {
			pc.AdminJID, pc.AdminPassword = j, cfg.XMPP.AdminPassword
		}
	}
	return preflight.Run(ctx, pc)
}

// startupWaits are the pauses between startup check rounds while the XMPP
// server cannot be reached yet (it may be starting next to the portal, as in
// docker compose or on one host with systemd): about two minutes in all.
var startupWaits = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StartupChecks runs Preflight and writes the outcome to the log: failures
// at error level, warnings (such as open public registration) at warn level.
// While the XMPP server cannot be reached it waits and tries again for about
// two minutes ("preflight.waiting"), then logs the last report. The portal
// keeps serving whatever the outcome; Main runs this in the background.
func (a *App) StartupChecks(ctx context.Context) preflight.Report {
	return a.startupChecks(ctx, startupWaits, sleepCtx)
}

func (a *App) startupChecks(ctx context.Context, waits []time.Duration, sleep func(context.Context, time.Duration) error) preflight.Report {
	r := a.Preflight(ctx)
	for i, d := range waits {
		c, ok := r.Find(preflight.CheckConnect)
		if !ok || c.Status != preflight.Fail {
			break
		}
		a.Log.InfoContext(ctx, "preflight.waiting", "detail", c.Message, "attempt", i+1, "retry_in", d.String())
		if sleep(ctx, d) != nil {
			break
		}
		r = a.Preflight(ctx)
	}
	r.Log(ctx, a.Log)
	if a.Invites != nil {
		// The sign-up form asks whether to offer invites; the answer is
		// ready before the first visitor.
		a.Invites.Offered(ctx)
	}
	return r
}

// check is "portal -check": it runs the startup checks once (with
// onion.enabled also the onion service's defences, onionDefensesCheck),
// prints them for the operator and returns 1 if one failed (warnings alone
// return 0).
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
	if cfg.Onion.Enabled {
		r = append(r, onionDefensesCheck(ctx, cfg))
	}
	_ = r.Write(out)
	if r.Failed() {
		return 1
	}
	return 0
}
