package handlers

import (
	"testing"

	"github.com/xmpp-portal/portal/assets"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/views"
)

// LoadUI returns what every test handler renders with: the catalogs, the
// policy of rules, the assets and the views. It is in package handlers so
// that both the internal tests and package handlers_test can use it.
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

// UnitRules are the rules of example.test that the unit tests use.
var UnitRules = policy.Rules{Domain: "example.test", MinUsername: 2, MaxUsername: 32, MinPassword: 10}
