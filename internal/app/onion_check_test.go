package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/preflight"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestOnionDefensesCheck: portal -check says which of tor's defences the
// onion service gets, in launch mode from the tor executable, in control
// mode from the running tor; proof of work off or impossible is a warning.
func TestOnionDefensesCheck(t *testing.T) {
	torPath := testenv.TorBinary(t)
	shared := testenv.StartTor(t, testenv.TorOptions{})
	// A tor 0.4.7, built before the pow module existed.
	oldTor := filepath.Join(t.TempDir(), "tor")
	os.WriteFile(oldTor, []byte("#!/bin/sh\ncase \"$1\" in --version) echo 'Tor version 0.4.7.16.';; --list-modules) printf 'relay: yes\\ndirauth: yes\\n';; esac\n"), 0o755)
	state := t.TempDir()
	base := map[string]string{"PORTAL_XMPP_DOMAIN": "d.example", "PORTAL_XMPP_MODE": "ibr",
		"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": state, "PORTAL_ONION_TOR_PATH": torPath}
	tests := []struct {
		name   string
		env    map[string]string
		status preflight.Status
		want   []string
	}{
		{"launch, defaults", nil, preflight.OK, []string{"launch mode, tor 0.4.", "proof of work on (queue 25/s, burst 250)",
			"introduction rate limit on (25/s, burst 200 per introduction point)", "a budget per Tor circuit (HiddenServiceExportCircuitID haproxy; 30 new circuit counters a minute)"}},
		{"launch, all off", map[string]string{"PORTAL_ONION_POW": "false", "PORTAL_ONION_INTRO_DOS": "false", "PORTAL_ONION_EXPORT_CIRCUIT_ID": "false"},
			preflight.Warn, []string{"proof of work off (onion.pow false)", "introduction rate limit off", "no budget per Tor circuit", "set onion.pow true"}},
		{"launch, tor without pow", map[string]string{"PORTAL_ONION_TOR_PATH": oldTor}, preflight.Warn,
			[]string{"tor 0.4.7.16", "no proof of work: tor 0.4.7.16 was built without the pow module", "install a tor with the pow module"}},
		{"launch, no tor", map[string]string{"PORTAL_ONION_TOR_PATH": filepath.Join(state, "no-tor")}, preflight.Warn, []string{"tor cannot be run"}},
		{"control", map[string]string{"PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "unix:" + shared.ControlSocket}, preflight.OK,
			[]string{"control mode, tor 0.4.9", "proof of work on (queue 25/s, burst 250) with ADD_ONION", "no introduction rate limit and no budget per Tor circuit", "pow: yes"}},
		{"control, pow off", map[string]string{"PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": "unix:" + shared.ControlSocket, "PORTAL_ONION_POW": "false"},
			preflight.Warn, []string{"proof of work off"}},
		{"control, no tor", map[string]string{"PORTAL_ONION_MODE": "control", "PORTAL_ONION_CONTROL_ADDR": testenv.ClosedAddr(t)}, preflight.Warn,
			[]string{"cannot be asked"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, _, err := config.Load(nil, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			r := onionDefensesCheck(context.Background(), cfg)
			var out bytes.Buffer
			preflight.Report{r}.Write(&out)
			if r.Check != CheckOnionDefenses || r.Status != tc.status {
				t.Errorf("status %s, want %s:\n%s", r.Status, tc.status, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("lacks %q:\n%s", w, out.String())
				}
			}
		})
	}

	// portal -check prints the line (the XMPP server is not there: its
	// checks fail, the onion line is there all the same).
	env := map[string]string{"PORTAL_XMPP_ADDR": testenv.ClosedAddr(t), "PORTAL_XMPP_TIMEOUT": "2s"}
	for k, v := range base {
		env[k] = v
	}
	var out, errb bytes.Buffer
	Main([]string{"-check"}, func(k string) string { return env[k] }, &out, &errb)
	if !strings.Contains(out.String(), "ok    onion.defenses       launch mode, tor 0.4.") {
		t.Errorf("portal -check:\n%s\n%s", out.String(), errb.String())
	}
}
