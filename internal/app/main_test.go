package app

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMainFlags(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer bad.Close()
	env := map[string]string{"PORTAL_XMPP_DOMAIN": "d.example", "PORTAL_XMPP_ADMIN_JID": "portal@d.example", "PORTAL_XMPP_ADMIN_PASSWORD": "top-secret-pw"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   string
		stderr   string
		notInOut string
	}{
		{"version", []string{"-version"}, nil, 0, "portal ", "", ""},
		{"config dump masks secrets", []string{"-config-dump"}, env, 0, `xmpp.admin_password = "********"`, "", "top-secret-pw"},
		{"bad config lists problems", []string{"-xmpp.mode", "x"}, nil, 2, "", "xmpp.domain", ""},
		{"healthcheck ok", []string{"-healthcheck", ok.URL}, nil, 0, "", "", ""},
		{"healthcheck 503", []string{"-healthcheck", bad.URL}, nil, 1, "", "answered 503", ""},
		{"healthcheck unreachable", []string{"-healthcheck", "http://127.0.0.1:1/healthz"}, nil, 1, "", "healthcheck", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tc.args, func(k string) string { return tc.env[k] }, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errb.String())
			}
			if !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stdout %q / stderr %q", out.String(), errb.String())
			}
			if tc.notInOut != "" && strings.Contains(out.String()+errb.String(), tc.notInOut) {
				t.Errorf("output leaks %q", tc.notInOut)
			}
		})
	}
}

func TestOnionLocation(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	const addr = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"
	rec := httptest.NewRecorder()
	onionLocation(addr, inner).ServeHTTP(rec, httptest.NewRequest("GET", "/register?lang=de", nil))
	if got := rec.Header().Get("Onion-Location"); got != "http://"+addr+"/register?lang=de" {
		t.Errorf("Onion-Location = %q", got)
	}
	rec = httptest.NewRecorder()
	onionLocation("", inner).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("Onion-Location"); got != "" {
		t.Errorf("Onion-Location without an address: %q", got)
	}
}
