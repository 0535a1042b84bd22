package config

import (
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/abuse"
)

// TestAbuseOptions: the onion captcha budget and the IPv6 network factors
// load and validate, and a configuration with which the onion listener or one
// /48 network could take more than its share of the memory store is refused
// at start, naming the keys to change and the store.max_keys that would do.
func TestAbuseOptions(t *testing.T) {
	base := map[string]string{"PORTAL_XMPP_DOMAIN": "example.org", "PORTAL_XMPP_MODE": "ibr"}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr []string // every substring must be in the error; nil: valid
		check   func(t *testing.T, c *Config)
	}{
		{"defaults are the limiter's", nil, nil, func(t *testing.T, c *Config) {
			if got, want := c.AbuseBudgets(), abuse.DefaultBudgets(); got != want {
				t.Errorf("config defaults %+v, abuse.DefaultBudgets %+v", got, want)
			}
			if c.Abuse.OnionCaptchasPerMinute != 120 || c.Abuse.IPv6Factor56 != 2 || c.Abuse.IPv6Factor48 != 4 {
				t.Errorf("defaults: %+v", c.Abuse)
			}
		}},
		{"set", map[string]string{"PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE": "60", "PORTAL_ABUSE_IPV6_56_FACTOR": "3", "PORTAL_ABUSE_IPV6_48_FACTOR": "3"}, nil,
			func(t *testing.T, c *Config) {
				if b := c.AbuseBudgets(); b.OnionCaptchasPerMinute != 60 || b.IPv6Factor56 != 3 || b.IPv6Factor48 != 3 {
					t.Errorf("budgets: %+v", b)
				}
			}},
		{"onion captchas zero", map[string]string{"PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE": "0"},
			[]string{"abuse.onion_captchas_per_minute (PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE): must be between 1 and 1000000"}, nil},
		{"/56 factor zero", map[string]string{"PORTAL_ABUSE_IPV6_56_FACTOR": "0"}, []string{"abuse.ipv6_56_factor (PORTAL_ABUSE_IPV6_56_FACTOR): must be between 1 and 256"}, nil},
		{"/56 factor above its /64s", map[string]string{"PORTAL_ABUSE_IPV6_56_FACTOR": "257", "PORTAL_ABUSE_IPV6_48_FACTOR": "300"}, []string{"abuse.ipv6_56_factor"}, nil},
		{"/48 factor below the /56 one", map[string]string{"PORTAL_ABUSE_IPV6_56_FACTOR": "4", "PORTAL_ABUSE_IPV6_48_FACTOR": "3"},
			[]string{"abuse.ipv6_48_factor (PORTAL_ABUSE_IPV6_48_FACTOR): must be between abuse.ipv6_56_factor (4) and 65536 (the /64s of a /48), got 3"}, nil},
		{"/48 factor above its /64s", map[string]string{"PORTAL_ABUSE_IPV6_48_FACTOR": "65537", "PORTAL_STORE_DRIVER": "redis", "PORTAL_STORE_URL": "redis://h"},
			[]string{"abuse.ipv6_48_factor"}, nil},
		// Store shares (memory store, 100,000 keys): onion 1/4, one /48 1/20.
		{"onion could take more than a quarter", map[string]string{"PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE": "5000"},
			[]string{"abuse.onion_captchas_per_minute (PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE): the onion listener",
				"could hold 55486 keys (55000 captchas, 480 password-check counters, 6 rate counters)", "more than 1/4 of store.max_keys (100000)",
				"abuse.onion_credential_checks_per_minute", "captcha.ttl", "raise store.max_keys to at least 221944"}, nil},
		{"one /48 could take more than a twentieth", map[string]string{"PORTAL_ABUSE_IPV6_56_FACTOR": "4", "PORTAL_ABUSE_IPV6_48_FACTOR": "16"},
			[]string{"abuse.ipv6_48_factor (PORTAL_ABUSE_IPV6_48_FACTOR): one IPv6 /48 network could hold 12902 keys",
				"more than 1/20 of store.max_keys (100000)", "abuse.captchas_per_minute", "raise store.max_keys to at least 258040"}, nil},
		{"a larger store takes the larger factor", map[string]string{"PORTAL_ABUSE_IPV6_56_FACTOR": "4", "PORTAL_ABUSE_IPV6_48_FACTOR": "16", "PORTAL_STORE_MAX_KEYS": "258040"}, nil, nil},
		{"one key less is too small", map[string]string{"PORTAL_ABUSE_IPV6_56_FACTOR": "4", "PORTAL_ABUSE_IPV6_48_FACTOR": "16", "PORTAL_STORE_MAX_KEYS": "258039"},
			[]string{"abuse.ipv6_48_factor", "at least 258040"}, nil},
		{"per-client budgets count at /48 too", map[string]string{"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE": "1000"}, []string{"abuse.ipv6_48_factor", "one IPv6 /48 network"}, nil},
		{"a longer captcha.ttl holds more captchas", map[string]string{"PORTAL_CAPTCHA_TTL": "1h"}, []string{"one IPv6 /48 network could hold", "captcha.ttl"}, nil},
		{"the smallest store with the default budgets", map[string]string{"PORTAL_STORE_MAX_KEYS": "1000"},
			[]string{"one IPv6 /48 network could hold 3998 keys", "raise store.max_keys to at least 79960"}, nil},
		{"the smallest store the defaults fit", map[string]string{"PORTAL_STORE_MAX_KEYS": "79960"}, nil, nil},
		{"redis has no max_keys", map[string]string{"PORTAL_STORE_DRIVER": "redis", "PORTAL_STORE_URL": "redis://h",
			"PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE": "1000000", "PORTAL_ABUSE_IPV6_48_FACTOR": "65536"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, _, err := Load(nil, func(k string) string { return env[k] })
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
