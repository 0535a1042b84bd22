package app

import (
	"crypto/rand"
	"fmt"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/account"
	"github.com/xmpp-portal/portal/internal/provision"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// setupAccounts wires account management (password change, deletion,
// statistics) and the per-account brute-force regulation into a.Accounts and
// a.Regulator.
//
// Admin commands (deletion fallback, ending sessions, statistics) run on the
// provisioner's admin session in admin mode; in ibr mode on a separate admin
// session if xmpp.admin_jid and xmpp.admin_password are set, else they are
// not available.
func (a *App) setupAccounts(xc xmppconn.Config) error {
	cfg := a.Config
	var cmd account.Commander
	switch p := a.Provisioner.(type) {
	case *provision.Admin:
		cmd = p
	default:
		if cfg.XMPP.AdminJID != "" && cfg.XMPP.AdminPassword != "" {
			j, err := jid.Parse(cfg.XMPP.AdminJID)
			if err != nil {
				return fmt.Errorf("xmpp.admin_jid: %w", err)
			}
			adm := provision.NewAdmin(xc, j, cfg.XMPP.AdminPassword, a.Log)
			a.accountAdmin = adm
			cmd = adm
		}
	}
	a.Accounts = account.New(account.Config{
		XMPP: xc, Admin: cmd, EndSessions: cfg.Account.EndSessions, StatsCache: cfg.Stats.Cache, Log: a.Log,
	})

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
	return nil
}

// closeAccounts ends the separate admin session of ibr mode, if any.
func (a *App) closeAccounts() error {
	if a.accountAdmin != nil {
		return a.accountAdmin.Close()
	}
	return nil
}
