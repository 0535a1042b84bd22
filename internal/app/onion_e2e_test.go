package app_test

import (
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

var onionCaptchaRe = regexp.MustCompile(`name="captcha_id" value="([^"]+)"`)

// TestOnionEndToEnd: a private Tor network on 127.0.0.1 (3 authorities that
// are relays, 3 relays, a client; inside a network namespace with only
// loopback when the machine allows it). The portal, in launch mode,
// publishes its onion service into that network; a client through the
// client tor's SOCKS port loads the sign-up page over the .onion address,
// signs up, and the new account logs in over XMPP.
func TestOnionEndToEnd(t *testing.T) {
	if !testenv.IsolateNetwork(t) {
		return
	}
	torPath := testenv.TorBinary(t)
	setup := time.Now()
	tn := testenv.StartTorNet(t, testenv.TorNetOptions{Relays: 3})
	since := func() time.Duration { return time.Since(tn.Started).Round(100 * time.Millisecond) }
	t.Logf("timing: keys and configs in %v; %d tors launched (time 0 below)", tn.Started.Sub(setup).Round(time.Millisecond), len(tn.PIDs()))

	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	a, _, logs := startPortal(t, srv, map[string]string{
		"PORTAL_ONION_ENABLED":     "true",
		"PORTAL_ONION_STATE_DIR":   t.TempDir(),
		"PORTAL_ONION_TOR_PATH":    torPath,
		"PORTAL_ONION_TORRC_EXTRA": tn.ServiceTorrc,
	})
	addr := a.Onion.Address()
	t.Logf("timing: prosody and portal up at %v; onion address %s", since(), addr)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if st, err := a.Onion.WaitState(ctx, onion.StatePublished); err != nil {
		t.Fatalf("onion service not published: state %s: %v (%v)\n%s", st, err, a.Onion.Err(), logs.String())
	}
	published := since()
	t.Logf("timing: descriptor uploaded at %v", published)

	d, err := proxy.SOCKS5("tcp", tn.SocksAddr, nil, &net.Dialer{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + addr
	do := func(ctx context.Context, method, path string, form url.Values) (*http.Response, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Accept-Language", "en")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base) // as Tor Browser sends it
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, html.UnescapeString(string(b)), err
	}

	// The first fetch: a client may ask an HSDir that has no descriptor
	// yet (SOCKS error 0xF0) or still be bootstrapping; retry for 90 s.
	var (
		resp  *http.Response
		page  string
		tries int
	)
	first := time.Now()
	for {
		tries++
		actx, acancel := context.WithTimeout(ctx, 30*time.Second)
		resp, page, err = do(actx, "GET", "/register", nil)
		acancel()
		if err == nil {
			break
		}
		t.Logf("timing: fetch %d at %v failed: %v", tries, since(), err)
		if time.Since(first) > 90*time.Second {
			t.Fatalf("sign-up page not reachable over %s within 90 s (%d tries): %v", addr, tries, err)
		}
		time.Sleep(2 * time.Second)
	}
	reached := since()
	t.Logf("timing: sign-up page over the onion at %v (%d tries, %v after the upload)", reached, tries, reached-published)
	if resp.StatusCode != 200 || !strings.Contains(page, onOnionText) {
		t.Fatalf("sign-up page over the onion: %d, no onion footer\n%s", resp.StatusCode, page)
	}
	if h := resp.Header.Get("Onion-Location"); h != "" {
		t.Errorf("Onion-Location over the onion: %q", h)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("HSTS over the onion: %q", h)
	}
	m := onionCaptchaRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no captcha on the sign-up page\n%s", page)
	}
	answer, err := a.Captchas.Peek(context.Background(), m[1])
	if err != nil {
		t.Fatalf("captcha answer: %v", err)
	}
	// The captcha picture comes over the onion too.
	if r, _, err := do(ctx, "GET", "/captcha/"+m[1]+".png", nil); err != nil || r.StatusCode != 200 {
		t.Errorf("captcha image over the onion: %v %v", r, err)
	}

	const user, pw = "onion.visitor", "tunnel lantern orchard 77"
	signupStart := time.Now()
	resp, page, err = do(ctx, "POST", "/register", url.Values{
		"captcha_id": {m[1]}, "captcha": {answer}, "username": {user}, "password": {pw}, "password2": {pw},
	})
	if err != nil {
		t.Fatalf("sign-up over the onion: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(page, user+"@"+srv.Domain) || !strings.Contains(page, onOnionText) {
		t.Fatalf("sign-up over the onion: %d\n%s", resp.StatusCode, page)
	}
	t.Logf("timing: signed up over the onion at %v (POST took %v)", since(), time.Since(signupStart).Round(time.Millisecond))

	lctx, lcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer lcancel()
	s, err := xmppconn.Login(lctx, srv.XMPP(), user, pw, nil)
	if err != nil {
		t.Fatalf("the account made over the onion cannot log in: %v", err)
	}
	s.Close()
	t.Logf("timing: XMPP login of the new account at %v", since())

	l := logs.String()
	if !strings.Contains(l, "onion=true") || !strings.Contains(l, "account.created") {
		t.Errorf("log lacks onion requests or account.created")
	}
}
