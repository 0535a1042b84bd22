package config

import (
	"strings"
	"testing"
)

// TestOnionDefenseOptions: tor's own defences (proof of work, the
// introduction rate limit, circuit ids) are on by default, load and
// validate; circuit ids apply in launch mode only, and then the onion
// listener's share of the memory store counts the circuits' counters, paid
// by abuse.onion_circuits_per_minute.
func TestOnionDefenseOptions(t *testing.T) {
	dir := t.TempDir()
	base := map[string]string{"PORTAL_XMPP_DOMAIN": "d.example", "PORTAL_XMPP_MODE": "ibr"}
	launch := map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir}
	control := map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "127.0.0.1:9051"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name  string
		env   map[string]string
		want  []string // substrings of the error; nil: valid
		check func(t *testing.T, c *Config)
	}{
		{"defaults", launch, nil, func(t *testing.T, c *Config) {
			o := c.Onion
			if !o.PoW || o.PoWQueueRate != 25 || o.PoWQueueBurst != 250 || !o.IntroDoS || o.IntroDoSRate != 25 || o.IntroDoSBurst != 200 || !o.ExportCircuitID {
				t.Errorf("defaults: %+v", o)
			}
			if !c.OnionCircuits() || c.Abuse.OnionCircuitsPerMinute != 30 || c.AbuseBudgets().OnionCircuitsPerMinute != 30 {
				t.Errorf("circuit budgets off by default in launch mode: %v %d", c.OnionCircuits(), c.Abuse.OnionCircuitsPerMinute)
			}
		}},
		{"control mode has no circuit ids", control, nil, func(t *testing.T, c *Config) {
			if c.OnionCircuits() {
				t.Error("circuit ids in control mode")
			}
		}},
		{"onion off has no circuit ids", nil, nil, func(t *testing.T, c *Config) {
			if c.OnionCircuits() {
				t.Error("circuit ids without onion.enabled")
			}
		}},
		{"export off", with(launch, "PORTAL_ONION_EXPORT_CIRCUIT_ID", "false"), nil, func(t *testing.T, c *Config) {
			if c.OnionCircuits() {
				t.Error("circuit ids with onion.export_circuit_id false")
			}
		}},
		{"pow off", with(launch, "PORTAL_ONION_POW", "false", "PORTAL_ONION_POW_QUEUE_BURST", "0"), nil, nil},
		{"pow queue without limit", with(launch, "PORTAL_ONION_POW_QUEUE_RATE", "0"), nil, nil},
		{"pow burst below rate", with(launch, "PORTAL_ONION_POW_QUEUE_RATE", "100", "PORTAL_ONION_POW_QUEUE_BURST", "50"),
			[]string{"onion.pow_queue_burst (PORTAL_ONION_POW_QUEUE_BURST): must be between onion.pow_queue_rate (100) and 1000000, got 50"}, nil},
		{"pow rate negative", with(launch, "PORTAL_ONION_POW_QUEUE_RATE", "-1"), []string{"onion.pow_queue_rate"}, nil},
		{"intro rate zero", with(launch, "PORTAL_ONION_INTRO_DOS_RATE", "0"), []string{"onion.intro_dos_rate (PORTAL_ONION_INTRO_DOS_RATE): must be between 1 and 1000000"}, nil},
		{"intro burst below rate", with(launch, "PORTAL_ONION_INTRO_DOS_BURST", "10"), []string{"onion.intro_dos_burst", "got 10"}, nil},
		{"intro off ignores its numbers", with(launch, "PORTAL_ONION_INTRO_DOS", "false", "PORTAL_ONION_INTRO_DOS_RATE", "0"), nil, nil},
		{"circuit budget zero", with(launch, "PORTAL_ABUSE_ONION_CIRCUITS_PER_MINUTE", "0"), []string{"abuse.onion_circuits_per_minute", "between 1 and 1000000"}, nil},
		// 2 × 400 × 61 = 48,800 circuit counters alone: more than a quarter
		// of 100,000 keys.
		{"circuits could take more than the onion quarter", with(launch, "PORTAL_ABUSE_ONION_CIRCUITS_PER_MINUTE", "400"),
			[]string{"abuse.onion_captchas_per_minute (PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE): the onion listener",
				"could hold 50607 keys (1320 captchas, 480 password-check counters, 7 rate counters, 48800 Tor circuit counters)",
				"abuse.onion_circuits_per_minute", "raise store.max_keys to at least 202428"}, nil},
		{"the same in control mode counts no circuits", with(control, "PORTAL_ABUSE_ONION_CIRCUITS_PER_MINUTE", "400"), nil, nil},
		{"the same without circuit ids", with(launch, "PORTAL_ABUSE_ONION_CIRCUITS_PER_MINUTE", "400", "PORTAL_ONION_EXPORT_CIRCUIT_ID", "false"), nil, nil},
		{"the same with a larger store", with(launch, "PORTAL_ABUSE_ONION_CIRCUITS_PER_MINUTE", "400", "PORTAL_STORE_MAX_KEYS", "202428"), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := with(base)
			for k, v := range tc.env {
				m[k] = v
			}
			c, _, err := Load(nil, env(m))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v\nlacks %q", err, w)
				}
			}
		})
	}
}
