package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestConfigDumpBare: -config-dump run without the service's environment
// prints what it read (defaults and all), lists the problems on stderr and
// exits 2.
func TestConfigDumpBare(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"-config-dump"}, func(string) string { return "" }, &out, &errb)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{`listen = "127.0.0.1:8080"`, `xmpp.domain = ""`, `log.format = "text"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %s:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), "xmpp.domain") || !strings.Contains(errb.String(), "-check") {
		t.Errorf("stderr does not list the problem and the way out: %q", errb.String())
	}
}

// mainChildEnv makes TestMainChild run Main with the arguments after "--"
// and exit with its status: tests that need a process of their own (go-redis
// keeps its logger in a global) start the test binary again with it.
const mainChildEnv = "PORTAL_TEST_MAIN_CHILD"

func TestMainChild(t *testing.T) {
	if os.Getenv(mainChildEnv) != "1" {
		t.Skip("run by other tests in a process of its own")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args, os.Getenv, os.Stdout, os.Stderr))
}

// TestJSONLogStaysJSON: with log.format=json every line the portal writes
// to stderr is a JSON object, also go-redis' own message about a Redis it
// cannot reach (before, it went to the standard logger as plain text).
func TestJSONLogStaysJSON(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainChild$", "--", "-check")
	cmd.Env = append(os.Environ(), mainChildEnv+"=1",
		"PORTAL_LOG_FORMAT=json", "PORTAL_LOG_LEVEL=info",
		"PORTAL_XMPP_DOMAIN=example.test", "PORTAL_XMPP_MODE=ibr", "PORTAL_XMPP_ADDR=127.0.0.1:1",
		"PORTAL_STORE_DRIVER=redis", "PORTAL_STORE_URL=redis://127.0.0.1:1/0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute): // a hang limit
		cmd.Process.Kill()
		<-done
		t.Fatal("portal -check did not end")
	}
	if !strings.Contains(stderr.String(), "failed to dial") {
		t.Fatalf("no go-redis message at all (did the store check not dial?):\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"store.redis"`) {
		t.Errorf("go-redis' message is not the portal's store.redis event")
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
		}
	}
}

// TestOnionLocationOnlyWhenPublished: the header follows the service's
// state, request by request.
func TestOnionLocationOnlyWhenPublished(t *testing.T) {
	const addr = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"
	published := false
	h := onionLocationWhen(addr, func() bool { return published }, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	get := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/register", nil))
		return rec.Header().Get("Onion-Location")
	}
	if got := get(); got != "" {
		t.Errorf("announcing: Onion-Location %q", got)
	}
	published = true
	if got := get(); got != "http://"+addr+"/register" {
		t.Errorf("published: Onion-Location %q", got)
	}
	published = false
	if got := get(); got != "" {
		t.Errorf("tor restarting: Onion-Location %q", got)
	}
}
