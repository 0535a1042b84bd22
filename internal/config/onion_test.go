package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOnionOptions(t *testing.T) {
	dir := t.TempDir()
	extra := filepath.Join(dir, "extra.torrc")
	os.WriteFile(extra, []byte("DisableNetwork 1\n"), 0o600)
	base := map[string]string{"PORTAL_XMPP_DOMAIN": "d.example", "PORTAL_XMPP_MODE": "ibr"}
	tests := []struct {
		name string
		env  map[string]string
		want string // substring of the error; "" = valid
	}{
		{"disabled by default", nil, ""},
		{"launch", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_TORRC_EXTRA": extra}, ""},
		{"enabled needs a state dir", map[string]string{"PORTAL_ONION_ENABLED": "1"}, "onion.state_dir"},
		{"not a bool", map[string]string{"PORTAL_ONION_ENABLED": "yes please"}, "not true or false"},
		{"unknown mode", map[string]string{"PORTAL_ONION_MODE": "embedded"}, "must be launch or control"},
		{"tor path defaults to tor", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_TOR_PATH": ""}, ""},
		{"missing torrc extra", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_TORRC_EXTRA": filepath.Join(dir, "nope")}, "onion.torrc_extra"},
		{"control needs an address", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control"}, "onion.control_addr"},
		{"control socket", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "unix:/run/tor/control"}, ""},
		{"control socket relative", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "unix:run/control"}, "absolute path"},
		{"control port", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "127.0.0.1:9051", "PORTAL_ONION_CONTROL_PASSWORD": "pw"}, ""},
		{"control port bad", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "localhost"}, "not host:port"},
		{"missing cookie file", map[string]string{"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": dir, "PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "/run/tor/control", "PORTAL_ONION_COOKIE_FILE": filepath.Join(dir, "nope")}, "onion.cookie_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			for k, v := range tc.env {
				m[k] = v
			}
			c, _, err := Load(nil, env(m))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.env["PORTAL_ONION_ENABLED"] == "true" && (!c.Onion.Enabled || c.Onion.StateDir != dir || c.Onion.TorPath != "tor") {
					t.Errorf("onion config not applied: %+v", c.Onion)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOnionPasswordIsSecret(t *testing.T) {
	if _, _, err := Load([]string{"-onion.control_password", "x"}, env(nil)); err == nil {
		t.Error("onion.control_password accepted as a flag")
	}
	c, _, err := Load(nil, env(map[string]string{"PORTAL_XMPP_DOMAIN": "d.example", "PORTAL_XMPP_MODE": "ibr", "PORTAL_ONION_CONTROL_PASSWORD": "hunter22"}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	c.Dump(&b)
	if strings.Contains(b.String(), "hunter22") || !strings.Contains(b.String(), `onion.control_password = "********"`) {
		t.Errorf("dump does not mask the control password:\n%s", b.String())
	}
}

func TestOnionAddressFlag(t *testing.T) {
	_, fl, _ := Load([]string{"-onion-address"}, env(nil))
	if !fl.OnionAddress {
		t.Error("-onion-address not parsed")
	}
}
