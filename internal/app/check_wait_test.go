package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/preflight"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestStartupChecksWaitForTheServer: while the XMPP server cannot be
// reached, the startup checks wait and retry on the given schedule, then log
// the last report once; a cancelled context ends the waiting.
func TestStartupChecksWaitForTheServer(t *testing.T) {
	dead := testenv.ClosedAddr(t)
	env := map[string]string{
		"PORTAL_XMPP_DOMAIN": "d.example", "PORTAL_XMPP_ADDR": dead,
		"PORTAL_XMPP_ADMIN_JID": "portal@d.example", "PORTAL_XMPP_ADMIN_PASSWORD": "top-secret-pw",
	}
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	waits := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	tests := []struct {
		name     string
		sleepErr error
		slept    int
	}{
		{"server never comes", nil, 3},
		{"portal stops while waiting", context.Canceled, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var slept []time.Duration
			r := a.startupChecks(context.Background(), waits, func(_ context.Context, d time.Duration) error {
				slept = append(slept, d)
				return tc.sleepErr
			})
			if len(slept) != tc.slept {
				t.Fatalf("slept %v, want %d pauses", slept, tc.slept)
			}
			for i, d := range slept {
				if d != waits[i] {
					t.Errorf("pause %d = %s, want %s", i, d, waits[i])
				}
			}
			if c, _ := r.Find(preflight.CheckConnect); c.Status != preflight.Fail {
				t.Errorf("connect: %+v", c)
			}
			l := logs.String()
			if n := strings.Count(l, "msg=preflight.waiting"); n != tc.slept {
				t.Errorf("%d preflight.waiting lines, want %d:\n%s", n, tc.slept, l)
			}
			if n := strings.Count(l, "msg=preflight.failed check=xmpp.connect"); n != 1 {
				t.Errorf("report logged %d times:\n%s", n, l)
			}
			if strings.Contains(l, "top-secret-pw") {
				t.Error("password in the log")
			}
		})
	}
}
