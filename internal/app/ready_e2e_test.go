package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestReadyzSeesProsodyOutage: a monitor on /readyz sees a dead XMPP
// server (503, "xmpp":"unavailable") and its return, while /healthz (the
// portal is up) stays 200 throughout.
func TestReadyzSeesProsodyOutage(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	_, base, logs := startPortal(t, srv, nil)
	get := func(path string) (int, map[string]string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, b)
		}
		return resp.StatusCode, m
	}
	// waitReady polls /readyz until it answers want (the answer is cached
	// for a few seconds); the limit is a hang limit, not a measurement.
	waitReady := func(want int) map[string]string {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			code, m := get("/readyz")
			if code == want {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still %d %v, want %d\n%s", code, m, want, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if m := waitReady(200); m["xmpp"] != "ok" || m["store"] != "ok" || m["status"] != "ok" {
		t.Errorf("/readyz with Prosody up: %v", m)
	}
	srv.Kill()
	if m := waitReady(http.StatusServiceUnavailable); m["xmpp"] != "unavailable" || m["store"] != "ok" || m["status"] != "degraded" {
		t.Errorf("/readyz with Prosody dead: %v", m)
	}
	if code, m := get("/healthz"); code != 200 || m["store"] != "ok" {
		t.Errorf("/healthz with Prosody dead: %d %v (the portal itself is up)", code, m)
	}
	srv.Restart()
	if m := waitReady(200); m["xmpp"] != "ok" {
		t.Errorf("/readyz after Prosody's restart: %v", m)
	}
}
