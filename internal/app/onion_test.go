package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/app/apptest"
	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// onionPortal is a portal started by startOnionPortal.
type onionPortal struct {
	a    *app.App
	base string // clearnet base URL
	logs *testenv.LockedBuffer
	stop func() // shuts the portal down and waits (also done at cleanup)
}

// startOnionPortal runs the real portal (apptest.Start) with env on top of
// a configuration that needs no XMPP server for page views.
func startOnionPortal(t *testing.T, env map[string]string) *onionPortal {
	t.Helper()
	all := map[string]string{
		"PORTAL_XMPP_DOMAIN": "localhost",
		"PORTAL_XMPP_ADDR":   "127.0.0.1:1",
		"PORTAL_XMPP_MODE":   "ibr",
		"PORTAL_LOG_LEVEL":   "debug",
	}
	maps.Copy(all, env)
	logs := &testenv.LockedBuffer{}
	// Registered before the portal's own cleanup, so it runs after the
	// shutdown: the log shown is the whole of it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("portal log:\n%s", logs.String())
		}
	})
	p := apptest.Start(t, all, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return &onionPortal{a: p.App, base: p.URL, logs: logs, stop: p.Stop}
}

type page struct {
	status int
	header http.Header
	body   string
}

func fetch(t *testing.T, url, host string) page {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Accept-Language", "en")
	resp, err := (&http.Client{Timeout: onionHangLimit}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, html.UnescapeString(string(b))}
}

func health(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	p := fetch(t, base+"/healthz", "")
	var m map[string]string
	if err := json.Unmarshal([]byte(p.body), &m); err != nil { // (JSON has no HTML entities to unescape)
		t.Fatalf("/healthz: %v: %q", err, p.body)
	}
	return p.status, m
}

func offlineTorrc(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "offline.torrc")
	if err := os.WriteFile(p, []byte("DisableNetwork 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const onOnionText = "You are here through this server's onion service."

// onionHangLimit bounds the waits of the onion tests for tor and the
// portal (a state, a shutdown, a page over loopback). Each wait ends as soon
// as what it waits for happens: an offline tor starts and is added in well
// under a second idle, so only a hang reaches the limit.
const onionHangLimit = 3 * time.Minute

// TestOnionOffline runs the portal with the onion service in launch mode and
// tor's network disabled (needs only the tor binary): the service is in the
// torrc with the persisted key, the portal answers through the onion's local
// listener as an onion page (each connection with tor's circuit header), clearnet pages carry no Onion-Location
// and do not show the address while tor has not published the service (an
// offline tor never does), /healthz
// reports the onion state, and a restart keeps the address.
func TestOnionOffline(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{
		"PORTAL_ONION_ENABLED":     "true",
		"PORTAL_ONION_STATE_DIR":   state,
		"PORTAL_ONION_TOR_PATH":    testenv.TorBinary(t),
		"PORTAL_ONION_TORRC_EXTRA": offlineTorrc(t),
	}
	begin := time.Now()
	p := startOnionPortal(t, env)
	if p.a.Onion == nil {
		t.Fatal("onion.enabled but no onion service")
	}
	// The clearnet listener serves at once, whatever tor does.
	if got := fetch(t, p.base+"/", ""); got.status != 200 {
		t.Fatalf("clearnet before tor: %d", got.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), onionHangLimit)
	defer cancel()
	if st, err := p.a.Onion.WaitState(ctx, onion.StateAnnouncing, onion.StatePublished); err != nil {
		t.Fatalf("onion state %s: %v (%v)", st, err, p.a.Onion.Err())
	}
	t.Logf("onion service added %v after the start", time.Since(begin).Round(time.Millisecond))

	key, err := onion.LoadKey(onion.Config{StateDir: state}.KeyDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := key.Address()
	if p.a.Onion.Address() != addr {
		t.Fatalf("service address %s, key %s", p.a.Onion.Address(), addr)
	}
	keyDir := onion.Config{StateDir: state}.KeyDir()
	if dirs, err := p.a.Onion.GetConf("HiddenServiceDir"); err != nil || !strings.Contains(dirs, keyDir) {
		t.Fatalf("GETCONF HiddenServiceDir = %q, %v", dirs, err)
	}

	ln, _ := p.a.Onion.Listen()
	t.Run("onion side", func(t *testing.T) {
		for i, path := range []string{"/", "/register"} {
			// As tor sends it: a circuit header first (onion.export_circuit_id).
			got := fetchOverCircuit(t, ln.Addr().String(), uint32(i+1), path, addr)
			if got.status != 200 || !strings.Contains(got.body, onOnionText) {
				t.Errorf("%s over the onion listener: %d, footer missing\n%s", path, got.status, got.body)
			}
			if h := got.header.Get("Onion-Location"); h != "" {
				t.Errorf("%s: Onion-Location on the onion side: %q", path, h)
			}
			if h := got.header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("%s: HSTS on the onion side: %q", path, h)
			}
		}
	})
	t.Run("clearnet side", func(t *testing.T) {
		// "announcing": the address does not answer yet, so no clearnet
		// page sends visitors there (TestOnionEndToEnd sees the header once
		// the descriptor is uploaded).
		for _, path := range []string{"/", "/register?lang=de", "/healthz", "/no-such-page?x=1"} {
			got := fetch(t, p.base+path, "")
			if h, ok := got.header["Onion-Location"]; ok {
				t.Errorf("%s: Onion-Location %q while the service is %s", path, h, p.a.Onion.State())
			}
			if strings.Contains(got.body, onOnionText) {
				t.Errorf("%s: clearnet page claims to be on the onion", path)
			}
		}
		// Nor does a page show the address (home card, footer): the
		// same rule as the header.
		if got := fetch(t, p.base+"/", ""); strings.Contains(got.body, addr) {
			t.Error("the home page shows the onion address while the service does not answer yet")
		}
		code, h := health(t, p.base)
		if code != 200 || h["onion"] != onion.StateAnnouncing {
			t.Errorf("/healthz: %d %v", code, h)
		}
	})

	// Restart: same address, added again.
	p.stop()
	p2 := startOnionPortal(t, env)
	if p2.a.Onion.Address() != addr {
		t.Fatalf("address after restart %s, before %s", p2.a.Onion.Address(), addr)
	}
	if st, err := p2.a.Onion.WaitState(ctx, onion.StateAnnouncing, onion.StatePublished); err != nil {
		t.Fatalf("after restart: state %s: %v (%v)", st, err, p2.a.Onion.Err())
	}
	if dirs, err := p2.a.Onion.GetConf("HiddenServiceDir"); err != nil || !strings.Contains(dirs, keyDir) {
		t.Fatalf("after restart: GETCONF HiddenServiceDir = %q, %v", dirs, err)
	}
	ln2, _ := p2.a.Onion.Listen()
	if got := fetchOverCircuit(t, ln2.Addr().String(), 1, "/", addr); !strings.Contains(got.body, onOnionText) {
		t.Error("after restart: onion page not marked")
	}

	// -onion-address prints the same address without starting anything.
	var out, errb bytes.Buffer
	code := app.Main([]string{"-onion-address"}, func(k string) string {
		return map[string]string{"PORTAL_ONION_STATE_DIR": state}[k]
	}, &out, &errb)
	if code != 0 || strings.TrimSpace(out.String()) != addr {
		t.Errorf("-onion-address: exit %d, %q, %q", code, out.String(), errb.String())
	}
	t.Logf("whole test %v", time.Since(begin).Round(time.Millisecond))
}

// TestOnionDisabled: without the onion service, no Onion-Location, no
// onion state and no onion footer.
func TestOnionDisabled(t *testing.T) {
	p := startOnionPortal(t, nil)
	if p.a.Onion != nil {
		t.Fatal("onion service without onion.enabled")
	}
	for _, path := range []string{"/", "/register"} {
		got := fetch(t, p.base+path, "")
		if h, ok := got.header["Onion-Location"]; ok {
			t.Errorf("%s: Onion-Location %q with the onion service disabled", path, h)
		}
		if strings.Contains(got.body, ".onion") {
			t.Errorf("%s mentions an onion address", path)
		}
	}
	if _, h := health(t, p.base); h["onion"] != "" {
		t.Errorf("/healthz reports an onion state: %v", h)
	}
}

// TestOnionTorFailureKeepsClearnet: with no usable tor the clearnet side
// serves normally and /healthz stays 200 while reporting the onion state.
func TestOnionTorFailureKeepsClearnet(t *testing.T) {
	p := startOnionPortal(t, map[string]string{
		"PORTAL_ONION_ENABLED":   "true",
		"PORTAL_ONION_STATE_DIR": t.TempDir(),
		"PORTAL_ONION_TOR_PATH":  filepath.Join(t.TempDir(), "no-tor-here"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), onionHangLimit)
	defer cancel()
	if _, err := p.a.Onion.WaitState(ctx, onion.StateRetrying); err != nil {
		t.Fatalf("no retrying state: %v", err)
	}
	if got := fetch(t, p.base+"/register", ""); got.status != 200 || got.header.Get("Onion-Location") != "" {
		t.Errorf("clearnet while tor fails: %d, Onion-Location %q (the address does not answer)", got.status, got.header.Get("Onion-Location"))
	}
	code, h := health(t, p.base)
	if code != 200 || (h["onion"] != onion.StateRetrying && h["onion"] != onion.StateStarting) {
		t.Errorf("/healthz: %d %v", code, h)
	}
	if !strings.Contains(p.logs.String(), "onion.failed") {
		t.Error("tor failure not logged")
	}
}

// TestOnionKeyChecks: the portal refuses to start with a key readable by
// others, and with an onion.address that is not the key's.
func TestOnionKeyChecks(t *testing.T) {
	state := t.TempDir()
	dir := onion.Config{StateDir: state}.KeyDir()
	k, _, err := onion.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := onion.GenerateKey()
	newApp := func(env map[string]string) error {
		all := map[string]string{"PORTAL_XMPP_DOMAIN": "localhost", "PORTAL_XMPP_MODE": "ibr",
			"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": state}
		maps.Copy(all, env)
		a, err := app.New(apptest.Config(t, all), slog.New(slog.DiscardHandler))
		if err == nil {
			a.Close()
		}
		return err
	}
	if err := newApp(map[string]string{"PORTAL_ONION_ADDRESS": k.Address()}); err != nil {
		t.Errorf("matching onion.address refused: %v", err)
	}
	if err := newApp(map[string]string{"PORTAL_ONION_ADDRESS": other.Address()}); err == nil || !strings.Contains(err.Error(), "onion.address") {
		t.Errorf("mismatching onion.address: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, onion.SecretKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	err = newApp(nil)
	if err == nil || !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 key: %v", err)
	}
	var out, errb bytes.Buffer
	code := app.Main([]string{"-onion-address"}, func(k string) string {
		return map[string]string{"PORTAL_ONION_STATE_DIR": state}[k]
	}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "chmod 600") {
		t.Errorf("-onion-address with a 0644 key: exit %d, %q", code, errb.String())
	}
}
