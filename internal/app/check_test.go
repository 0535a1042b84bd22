package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/app/apptest"
	"github.com/xmpp-portal/portal/internal/preflight"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// portalEnv is the environment of a portal in admin mode pointed at srv,
// its admin password read from a file.
func portalEnv(t *testing.T, srv *testenv.Server) map[string]string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "admin_password")
	// A trailing newline, as "echo pw > file" leaves it, must not matter.
	if err := os.WriteFile(pw, []byte(srv.AdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := apptest.ServerEnv(t, srv, map[string]string{
		"PORTAL_XMPP_MODE":                "admin",
		"PORTAL_XMPP_ADMIN_PASSWORD_FILE": pw,
		"PORTAL_XMPP_TIMEOUT":             "5s",
	})
	delete(env, "PORTAL_XMPP_ADMIN_PASSWORD")
	return env
}

func runMain(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := app.Main(args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckCommand runs "portal -check" (app.Main) against real servers
// started from the shipped configs, and against the usual mistakes.
func TestCheckCommand(t *testing.T) {
	closed := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	open := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeIBR})
	ej := testenv.StartEjabberd(t, testenv.Options{Mode: testenv.ModeAdmin})

	deadAddr := testenv.ClosedAddr(t)

	tests := []struct {
		name   string
		srv    *testenv.Server
		change map[string]string
		code   int
		want   []string
		not    []string
	}{
		{"prosody correct", closed, nil, 0,
			[]string{"ok    xmpp.connect", "ok    xmpp.admin_login", "ok    xmpp.admin_commands", "public in-band registration is closed (invite only)",
				"ok    xmpp.invites", "the server offers account invites", "result: ok\n"}, []string{"WARN", "FAIL"}},
		{"ejabberd correct", ej, nil, 0,
			[]string{"ok    xmpp.admin_commands", "public in-band registration is closed (forbidden)",
				"ok    xmpp.invites", "the server does not offer account invites", "mod_invites_adhoc", "result: ok\n"}, []string{"WARN", "FAIL"}},
		{"invites off", closed, map[string]string{"PORTAL_INVITE_ENABLED": "false"}, 0,
			[]string{"ok    xmpp.invites", "account invites are off (invite.enabled = false)", "result: ok\n"}, []string{"WARN", "FAIL"}},
		{"wrong admin password", closed, map[string]string{"PORTAL_XMPP_ADMIN_PASSWORD_FILE": "", "PORTAL_XMPP_ADMIN_PASSWORD": "wrong-password-123"}, 1,
			[]string{"FAIL  xmpp.admin_login", "wrong password, or the account does not exist", "prosodyctl register", "result: 1 failed"}, []string{"wrong-password-123"}},
		{"unreachable server", closed, map[string]string{"PORTAL_XMPP_ADDR": deadAddr}, 1,
			[]string{"FAIL  xmpp.connect", "cannot connect to the XMPP server at " + deadAddr, "skip  xmpp.admin_login"}, nil},
		{"public registration open in admin mode", open, nil, 0,
			[]string{"WARN  xmpp.registration", preflight.LoudOpenRegistration, "captcha is pointless", "result: ok with 1 warning(s)"}, []string{"FAIL"}},
		{"redis store down", closed, map[string]string{"PORTAL_STORE_DRIVER": "redis", "PORTAL_STORE_URL": "redis://" + deadAddr + "/0"}, 1,
			[]string{"FAIL  store", "redis store does not answer", "ok    xmpp.admin_login"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := portalEnv(t, tc.srv)
			for k, v := range tc.change {
				env[k] = v
			}
			code, out, errb := runMain(env, "-check")
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out+errb, n) {
					t.Errorf("output contains %q", n)
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errb)
			}
		})
	}
}

// TestStartupChecksLogOpenRegistration: at startup the same checks run and
// an open public registration in admin mode is logged as a warning.
func TestStartupChecksLogOpenRegistration(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeIBR})
	var logs bytes.Buffer
	a, err := app.New(apptest.Config(t, portalEnv(t, srv)), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := a.StartupChecks(context.Background())
	if r.Failed() || r.Count(preflight.Warn) != 1 {
		t.Fatalf("report: %+v", r)
	}
	l := logs.String()
	for _, w := range []string{"level=WARN msg=preflight.warning check=xmpp.registration", preflight.LoudOpenRegistration, "msg=preflight.done failed=0 warnings=1"} {
		if !strings.Contains(l, w) {
			t.Errorf("log lacks %q:\n%s", w, l)
		}
	}
	if strings.Contains(l, srv.AdminPassword) {
		t.Error("the admin password is in the log")
	}
}
