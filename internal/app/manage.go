package app

import (
	"crypto/rand"
	"fmt"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/retire"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/account"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// setupAccounts wires account management (password change, deletion,
// statistics) and the per-account brute-force regulation into a.Accounts and
// a.Regulator.
//
// Admin commands (fallbacks, ending sessions, statistics) run on a.Admin,
// the admin session sign-up uses too in admin mode; without admin
// credentials (ibr mode) they are not available.
func (a *App) setupAccounts(xc xmpp.Config) error {
	cfg := a.Config
	ac := account.Config{XMPP: xc, EndSessions: cfg.Account.EndSessions, StatsCache: cfg.Stats.Cache, Log: a.Log}
	if a.Admin != nil {
		ac.Admin = a.Admin
	}
	a.Accounts = account.New(ac)

	secret := []byte(cfg.Regulation.Secret)
	if len(secret) == 0 && cfg.Store.Driver == "memory" {
		// The counters live in this process only: a key of its own loses
		// nothing and keeps the digests unlinkable to names.
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return fmt.Errorf("regulation secret: %w", err)
		}
	}
	a.Regulator = abuse.NewRegulator(a.Store, abuse.RegulatorOptions{
		MaxFailures: cfg.Regulation.MaxFailures, Window: cfg.Regulation.Window, Ban: cfg.Regulation.Ban, Secret: secret,
	})

	// Deleted names stay retired (delete.retire_names): keyed with the
	// regulation's secret, retired before a deletion, refused at sign-up.
	if names := retire.New(a.Store, secret, cfg.XMPP.Domain, cfg.Delete.RetireNames); names != nil {
		ac.Retire = names.Retire
		a.Accounts = account.New(ac)
		a.Signup = signup.RefuseRetired(a.Signup, names.Retired)
	}
	return nil
}
