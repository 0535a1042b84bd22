package app_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

var onionCaptchaRe = regexp.MustCompile(`name="captcha_id" value="([^"]+)"`)

// onionE2EHangFactor sets the hang limit of every wait of TestOnionEndToEnd
// after the network's first complete consensus: that many times as long as
// the consensus took in the same run (at least onionHangLimit). Each wait
// ends as soon as tor reports what it waits for; the limit only has to be
// far above what this run's machine needs, which the consensus time
// measures: on the same machine and load, client and onion service tors
// bootstrap, publish and connect in about as long again (12–18 s idle).
const onionE2EHangFactor = 10

// TestOnionEndToEnd: a private Tor network on 127.0.0.1 (3 authorities that
// are relays, 3 relays, a client; inside a network namespace with only
// loopback when the machine allows it). The portal, in launch mode,
// publishes its onion service into that network; a client through the
// client tor's SOCKS port loads the sign-up page over the .onion address,
// signs up, and the new account logs in over XMPP.
//
// Every step waits for what tor reports, not for a time: the client and
// the portal's tor start once the authorities publish a consensus with every
// relay (testenv.TorNet); the page is fetched once the client tor has
// bootstrapped and the portal's tor has confirmed every descriptor upload
// it started (HS_DESC events on its control port); a failed fetch is tried
// again when tor reports something that can change the outcome (a new
// upload, a new consensus at the client, a descriptor received).
func TestOnionEndToEnd(t *testing.T) {
	if !testenv.IsolateNetwork(t) {
		return
	}
	torPath := testenv.TorBinary(t)
	setup := time.Now()
	tn := testenv.StartTorNet(t, testenv.TorNetOptions{Relays: 3})
	since := func() time.Duration { return time.Since(tn.Started).Round(100 * time.Millisecond) }
	t.Logf("timing: keys and configs in %v; %d authorities and relays launched (time 0 below)", tn.Started.Sub(setup).Round(time.Millisecond), len(tn.PIDs()))

	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	t.Logf("timing: prosody up at %v", since())
	consensus := tn.WaitConsensus(t)
	hang := max(onionHangLimit, onionE2EHangFactor*consensus)
	t.Logf("timing: every authority has a consensus with every relay at %v; hang limit of the waits from here on %v", consensus.Round(100*time.Millisecond), hang.Round(time.Second))
	client := tn.StartClient(t)

	state := t.TempDir()
	a, clearnet, logs := startPortal(t, srv, map[string]string{
		"PORTAL_ONION_ENABLED":     "true",
		"PORTAL_ONION_STATE_DIR":   state,
		"PORTAL_ONION_TOR_PATH":    torPath,
		"PORTAL_ONION_TORRC_EXTRA": tn.ServiceTorrc,
	})
	addr := a.Onion.Address()
	id := a.Onion.Key().ServiceID()
	dataDir := onion.Config{StateDir: state}.DataDir()
	service := testenv.AttachTor(t, "the portal's tor", dataDir, filepath.Join(dataDir, "control-port-*"), "HS_DESC", "STATUS_CLIENT")
	t.Logf("timing: portal up at %v; onion address %s", since(), addr)

	wait := func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), hang) }
	ctx, cancel := wait()
	defer cancel()
	if err := client.WaitBootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: client tor bootstrapped at %v", since())
	if st, err := a.Onion.WaitState(ctx, onion.StatePublished); err != nil {
		t.Fatalf("onion service not published: state %s: %v (%v)\n%s", st, err, a.Onion.Err(), logs.String())
	}
	published := since()
	t.Logf("timing: first descriptor upload confirmed at %v", published)
	// Published: clearnet pages now send visitors to the onion.
	if got := fetch(t, clearnet+"/register", ""); got.header.Get("Onion-Location") != "http://"+addr+"/register" {
		t.Errorf("clearnet page of a published service: Onion-Location %q", got.header.Get("Onion-Location"))
	}
	dirs, uploads, err := service.WaitUploaded(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: every upload answered at %v (%d uploads, %d HSDirs have the descriptor)", since(), uploads, len(dirs))

	d, err := proxy.SOCKS5("tcp", tn.SocksAddr, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	// No time limit per request: tor ends a stream it cannot serve
	// (SocksTimeout), and the hang limit ends the test.
	tr := &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr,
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
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, html.UnescapeString(string(b)), err
	}

	// The first fetch. With the client bootstrapped and every upload
	// confirmed it succeeds at once; should it fail all the same (the
	// client asked an HSDir that is not in the service's set because their
	// consensuses differ, an introduction failed), it is tried again when
	// tor reports something that can change the outcome.
	var (
		resp  *http.Response
		page  string
		tries int
	)
	ctx, cancel = wait()
	defer cancel()
	_, clientMark, _ := client.Events(0)
	first := time.Now()
	for {
		tries++
		resp, page, err = do(ctx, "GET", "/register", nil)
		if err == nil {
			break
		}
		t.Logf("timing: fetch %d at %v failed: %v", tries, since(), err)
		if ctx.Err() != nil {
			t.Fatalf("sign-up page not reachable over %s within the hang limit %v (%d tries): %v\nclient tor events:\n%s\nportal's tor events:\n%s",
				addr, hang, tries, err, client.EventTail(30), service.EventTail(30))
		}
		ev, err := nextOnionChange(ctx, client, service, id)
		if err != nil {
			t.Fatalf("sign-up page not reachable over %s (%d tries), and no report of tor since that can change it: %v\nclient tor events:\n%s\nportal's tor events:\n%s",
				addr, tries, err, client.EventTail(30), service.EventTail(30))
		}
		t.Logf("timing: trying again at %v after %s", since(), ev)
	}
	reached := since()
	fetch := time.Since(first).Round(time.Millisecond)
	evs, _, _ := client.Events(clientMark)
	received := "the client had the descriptor already"
	for _, e := range evs {
		if e.Type == "HS_DESC" && e.Arg(0) == "RECEIVED" && e.Arg(1) == id {
			received = fmt.Sprintf("client received the descriptor from %s after %v", e.Arg(3), e.At.Sub(first).Round(time.Millisecond))
			break
		}
	}
	t.Logf("timing: sign-up page over the onion at %v (%d tries, fetch took %v, %v after the first upload; %s)", reached, tries, fetch, reached-published, received)
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
	answer, err := testenv.CaptchaAnswer(a.Store)(context.Background(), m[1])
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

	lctx, lcancel := wait()
	defer lcancel()
	s, err := xmpp.Login(lctx, srv.XMPP(), user, pw, nil)
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

// nextOnionChange waits, from now on, for the next report of a tor that can
// make a failed fetch of the onion service id succeed: the client has a new
// consensus (new HSDirs to ask) or received the descriptor, or the
// service's tor uploaded it again. It returns that event.
func nextOnionChange(ctx context.Context, client, service *testenv.TorControl, id string) (testenv.TorEvent, error) {
	_, cm, _ := client.Events(math.MaxInt)
	_, sm, _ := service.Events(math.MaxInt)
	for {
		cevs, cnext, cch := client.Events(cm)
		sevs, snext, sch := service.Events(sm)
		cm, sm = cnext, snext
		for _, e := range cevs {
			if e.Type == "NEWCONSENSUS" || e.Type == "HS_DESC" && e.Arg(0) == "RECEIVED" && e.Arg(1) == id {
				return e, nil
			}
		}
		for _, e := range sevs {
			if e.Type == "HS_DESC" && e.Arg(0) == "UPLOADED" && e.Arg(1) == id {
				return e, nil
			}
		}
		select {
		case <-cch:
		case <-sch:
		case <-ctx.Done():
			return testenv.TorEvent{}, ctx.Err()
		}
		if err := errors.Join(client.Err(), service.Err()); err != nil {
			return testenv.TorEvent{}, err
		}
	}
}
