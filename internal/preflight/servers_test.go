package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

func adminConfig(s *testenv.Server) Config {
	return Config{XMPP: s.XMPP(), Mode: "admin", AdminJID: s.AdminJID, AdminPassword: s.AdminPassword}
}

func statuses(r Report) map[string]Status {
	m := map[string]Status{}
	for _, x := range r {
		m[x.Check] = x.Status
	}
	return m
}

// serverCase is one real server configuration with the outcomes expected
// from the checks.
type serverCase struct {
	name  string
	start func(testing.TB, testenv.Options) *testenv.Server
	mode  string // the server's configuration (deploy/ file or PROSODY_PORTAL_MODE)
	// Registration outcome for a portal in admin mode and in ibr mode.
	adminReg, ibrReg Status
	adminRegText     string
}

// TestRunAgainstRealServers runs the checks against Prosody and ejabberd,
// each configured from deploy/ for admin and for ibr mode, with portals in
// both modes and with the usual mistakes.
func TestRunAgainstRealServers(t *testing.T) {
	cases := []serverCase{
		// Prosody in admin mode loads the invite modules: in-band
		// registration needs the portal's token, and the server offers the
		// form (an ibr-mode portal cannot tell, as with ejabberd below).
		{"prosody/admin", testenv.StartProsody, testenv.ModeAdmin, OK, OK, "closed (invite only)"},
		{"prosody/ibr", testenv.StartProsody, testenv.ModeIBR, Warn, OK, LoudOpenRegistration},
		// ejabberd offers the form even when its access rule denies
		// everybody: an ibr-mode portal cannot tell (documented).
		{"ejabberd/admin", testenv.StartEjabberd, testenv.ModeAdmin, OK, OK, "closed (forbidden)"},
		{"ejabberd/ibr", testenv.StartEjabberd, testenv.ModeIBR, Warn, OK, LoudOpenRegistration},
	}
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			srv := sc.start(t, testenv.Options{Mode: sc.mode})
			ctx := context.Background()

			t.Run("admin portal", func(t *testing.T) {
				cfg := adminConfig(srv)
				cfg.Store, cfg.StoreDriver, cfg.Invites = pinger{}, "memory", true
				r := Run(ctx, cfg)
				want := map[string]Status{CheckStore: OK, CheckConnect: OK, CheckAdminLogin: OK, CheckAdminCommands: OK,
					CheckInvites: OK, CheckRegistration: sc.adminReg}
				if got := statuses(r); !equalStatuses(got, want) {
					t.Fatalf("statuses %v, want %v\n%s", got, want, reportText(r))
				}
				// Only Prosody configured for admin mode offers invites
				// (and only when the portal offers them).
				inv, _ := r.Find(CheckInvites)
				if offered := sc.name == "prosody/admin"; strings.Contains(inv.Message, "server offers account invites") != offered ||
					strings.Contains(inv.Message, "does not offer") == offered || (!offered && !strings.Contains(inv.Hint, "mod_invites_adhoc")) {
					t.Errorf("invites: %+v", inv)
				}
				cfg.Invites = false
				inv, _ = Run(ctx, cfg).Find(CheckInvites)
				if inv.Status != OK || !strings.Contains(inv.Message, "invite.enabled = false") {
					t.Errorf("invites with invite.enabled false: %+v", inv)
				}
				reg, _ := r.Find(CheckRegistration)
				if !strings.Contains(reg.Message, sc.adminRegText) {
					t.Errorf("registration: %q, want it to contain %q", reg.Message, sc.adminRegText)
				}
				if sc.adminReg == Warn && (!strings.Contains(reg.Hint, "captcha is pointless") || !strings.Contains(reg.Hint, "allow_registration = false")) {
					t.Errorf("open-registration hint: %q", reg.Hint)
				}
				// The probe changed nothing: the admin password still works.
				s, err := xmpp.Login(ctx, srv.XMPP(), srv.AdminJID.Localpart(), srv.AdminPassword, nil)
				if err != nil {
					t.Fatalf("admin login after the checks: %v", err)
				}
				s.Close()
			})

			t.Run("ibr portal", func(t *testing.T) {
				r := Run(ctx, Config{XMPP: srv.XMPP(), Mode: "ibr"})
				want := map[string]Status{CheckConnect: OK, CheckRegistration: sc.ibrReg}
				if got := statuses(r); !equalStatuses(got, want) {
					t.Fatalf("statuses %v, want %v\n%s", got, want, reportText(r))
				}
			})

			t.Run("wrong admin password", func(t *testing.T) {
				cfg := adminConfig(srv)
				cfg.AdminPassword = "not-the-password"
				r := Run(ctx, cfg)
				login, _ := r.Find(CheckAdminLogin)
				if login.Status != Fail || !strings.Contains(login.Message, "wrong password") || !strings.Contains(login.Hint, "register") {
					t.Fatalf("admin login: %+v\n%s", login, reportText(r))
				}
				if c, _ := r.Find(CheckAdminCommands); c.Status != Skipped {
					t.Errorf("commands: %+v", c)
				}
				// Without a login the probe may not submit: closed or "could not check".
				if reg, _ := r.Find(CheckRegistration); reg.Status == Fail {
					t.Errorf("registration: %+v", reg)
				}
			})

			t.Run("admin account without rights", func(t *testing.T) {
				if err := srv.CreateUser(ctx, "notadmin", "plain user password 1"); err != nil {
					t.Fatal(err)
				}
				cfg := adminConfig(srv)
				cfg.AdminJID, cfg.AdminPassword = jid.MustParse("notadmin@"+srv.Domain), "plain user password 1"
				r := Run(ctx, cfg)
				c, _ := r.Find(CheckAdminCommands)
				if c.Status != Fail || !strings.Contains(c.Message, "is not an administrator") || !strings.Contains(c.Hint, "admin_adhoc") {
					t.Fatalf("commands: %+v\n%s", c, reportText(r))
				}
			})

			t.Run("missing recommended command", func(t *testing.T) {
				cfg := adminConfig(srv)
				cfg.Recommended = []string{NodeChangeUserPassword, "http://jabber.org/protocol/admin#no-such-command"}
				r := Run(ctx, cfg)
				c, _ := r.Find(CheckAdminCommands)
				if c.Status != Warn || !strings.Contains(c.Message, "no-such-command") {
					t.Fatalf("commands: %+v", c)
				}
			})

			t.Run("certificate not trusted", func(t *testing.T) {
				cfg := adminConfig(srv)
				cfg.XMPP.TLS = &tls.Config{RootCAs: x509.NewCertPool(), ServerName: srv.Domain}
				r := Run(ctx, cfg)
				c, _ := r.Find(CheckConnect)
				if c.Status != Fail || !strings.Contains(c.Message, "certificate was not accepted") || !strings.Contains(c.Hint, "xmpp.ca_file") {
					t.Fatalf("connect: %+v", c)
				}
			})

			t.Run("certificate for another name", func(t *testing.T) {
				cfg := adminConfig(srv)
				cfg.XMPP.TLS = &tls.Config{RootCAs: srv.CAPool, ServerName: "other.example"}
				r := Run(ctx, cfg)
				c, _ := r.Find(CheckConnect)
				if c.Status != Fail || !strings.Contains(c.Message, `accepted for "other.example"`) {
					t.Fatalf("connect: %+v", c)
				}
			})
		})
	}
}

func equalStatuses(got, want map[string]Status) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func reportText(r Report) string {
	var b strings.Builder
	_ = r.Write(&b)
	return b.String()
}
