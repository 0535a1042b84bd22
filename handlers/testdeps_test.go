package handlers

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/assets"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/views"
)

// The one set-up of the handlers' tests. It is in package handlers so that
// both the internal tests and package handlers_test can use it; every test
// environment starts from UnitDeps and states only what differs.

// UnitRules are the rules of example.test that the unit tests use.
var UnitRules = policy.Rules{Domain: "example.test", MinUsername: 2, MaxUsername: 32, MinPassword: 10}

// UnitSite is the site of the unit tests.
var UnitSite = views.Site{Name: "Example", Domain: "example.test", StorageNote: "Messages are kept for 7 days.", Contact: "xmpp:admin@example.test"}

// UnitDeps returns the Deps of a test handler and the log they write:
//
//   - a text log at debug level (usernames are logged only there, so the
//     tests that look for them in the log see every line) into the
//     returned buffer;
//   - the catalogs, views and assets, and the policy of UnitRules;
//   - UnitSite, an 8 KiB body limit, a 5 s XMPP timeout, the minimum
//     password of UnitRules;
//   - no captchas, sign-up, accounts, migrator, limiter or regulator: nil
//     means "not wired" (see Deps), and each environment sets those it
//     serves.
//
// The options (WithRules; package handlers_test's withClock) run in order
// on these defaults; an environment sets its own fields on the result.
func UnitDeps(t testing.TB, opts ...func(*Deps)) (Deps, *testenv.LockedBuffer) {
	t.Helper()
	logs := new(testenv.LockedBuffer)
	bundle, pol, as, vw := LoadUI(t, UnitRules)
	d := Deps{
		Log: TextLog(logs, slog.LevelDebug), I18n: bundle, Views: vw, Assets: as, Policy: pol,
		Site: UnitSite, BodyLimit: 8 << 10, XMPPTimeout: 5 * time.Second, MinPassword: UnitRules.MinPassword,
		CaptchaDigits: unitCaptchaDigits,
	}
	for _, o := range opts {
		o(&d)
	}
	return d, logs
}

// WithRules is the option for another domain or other rules (a real
// server's): the policy and the site's domain follow rules.
func WithRules(t testing.TB, rules policy.Rules) func(*Deps) {
	return func(d *Deps) {
		t.Helper()
		pol, err := policy.New(rules)
		if err != nil {
			t.Fatal(err)
		}
		d.Policy = pol
		d.Site.Domain = pol.Domain()
		d.MinPassword = pol.Rules().MinPassword
	}
}

// UnitCaptchas are the captchas of the tests on st: six digits (the
// form's label says so: Deps.CaptchaDigits), a minute to answer. (Their log
// is the store adapter's, which handlers do not use.)
func UnitCaptchas(st store.Store) *captchastore.Captchas {
	return captchastore.NewCaptchas(st, captchastore.Options{Length: unitCaptchaDigits, TTL: time.Minute})
}

const unitCaptchaDigits = 6

// TextLog is a text log at level into w.
func TextLog(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// LoadUI returns what every test handler renders with: the catalogs, the
// policy of rules, the assets and the views.
func LoadUI(t testing.TB, rules policy.Rules) (*i18n.Bundle, *policy.Policy, *assets.Set, *views.Renderer) {
	t.Helper()
	bundle, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	as, err := assets.Load()
	if err != nil {
		t.Fatal(err)
	}
	vw, err := views.New(bundle.Printer, bundle.Languages(), as.URL)
	if err != nil {
		t.Fatal(err)
	}
	return bundle, pol, as, vw
}
