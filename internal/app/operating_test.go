package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
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

// TestReadinessCache: /readyz answers from one check per readyCache however
// often it is asked, concurrent askers share the check in flight, and a
// change of outcome is logged once.
func TestReadinessCache(t *testing.T) {
	clock := &testenv.FakeClock{}
	var logs testenv.LockedBuffer
	var mu sync.Mutex
	checks, down := 0, false
	release := make(chan struct{})
	r := &readiness{now: clock.Now, log: slog.New(slog.NewTextHandler(&logs, nil)),
		check: func(ctx context.Context) (map[string]string, error) {
			<-release
			mu.Lock()
			defer mu.Unlock()
			checks++
			if down {
				return map[string]string{"store": "ok", "xmpp": "unavailable"}, errors.New("xmpp down")
			}
			return map[string]string{"store": "ok", "xmpp": "ok"}, nil
		}}
	// Eight askers at once: one check.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if st, err := r.get(context.Background()); err != nil || st["xmpp"] != "ok" {
				t.Errorf("ready: %v %v", st, err)
			}
		})
	}
	close(release)
	wg.Wait()
	// Within the cache: no check, even though the server went down.
	mu.Lock()
	down = true
	mu.Unlock()
	clock.Advance(readyCache - time.Millisecond)
	if _, err := r.get(context.Background()); err != nil {
		t.Errorf("within the cache: %v", err)
	}
	if checks != 1 {
		t.Errorf("%d checks for 9 askers within %v, want 1", checks, readyCache)
	}
	// After it: checked again, not ready, logged once.
	clock.Advance(time.Millisecond)
	for range 3 {
		if st, err := r.get(context.Background()); err == nil || st["xmpp"] != "unavailable" {
			t.Errorf("after the cache: %v %v", st, err)
		}
	}
	if checks != 2 {
		t.Errorf("%d checks, want 2", checks)
	}
	if n := strings.Count(logs.String(), "health.not_ready"); n != 1 {
		t.Errorf("%d health.not_ready lines, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "health.ready"); n != 1 {
		t.Errorf("%d health.ready lines, want 1", n)
	}
}
