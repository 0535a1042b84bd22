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
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/xmpp-portal/portal/internal/app"
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
		// Small per-client budgets, which each Tor circuit gets too, so
		// that the visitors below run out of them in a few requests.
		"PORTAL_ABUSE_SIGNUPS_PER_HOUR":    strconv.Itoa(e2eSignupsPerHour),
		"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE": strconv.Itoa(e2eCaptchasPerMinute),
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
	if got := fetch(t, clearnet+"/", ""); !strings.Contains(got.body, addr) {
		t.Error("the home page of a published service does not show its onion address")
	}
	dirs, uploads, err := service.WaitUploaded(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: every upload answered at %v (%d uploads, %d HSDirs have the descriptor)", since(), uploads, len(dirs))

	hc := torVisitor(t, tn.SocksAddr, "")
	base := "http://" + addr
	do := func(ctx context.Context, method, path string, form url.Values) (*http.Response, string, error) {
		return visit(ctx, hc, base, method, path, form)
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
	took := time.Since(first).Round(time.Millisecond)
	evs, _, _ := client.Events(clientMark)
	received := "the client had the descriptor already"
	for _, e := range evs {
		if e.Type == "HS_DESC" && e.Arg(0) == "RECEIVED" && e.Arg(1) == id {
			received = fmt.Sprintf("client received the descriptor from %s after %v", e.Arg(3), e.At.Sub(first).Round(time.Millisecond))
			break
		}
	}
	t.Logf("timing: sign-up page over the onion at %v (%d tries, fetch took %v, %v after the first upload; %s)", reached, tries, took, reached-published, received)
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
	if err == nil && resp.StatusCode == http.StatusSeeOther {
		// Post/Redirect/Get: the success page is the redirect's.
		resp, page, err = do(ctx, "GET", resp.Header.Get("Location"), nil)
	}
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

	// ---- Tor's defences and a budget per circuit (issue 16) ----

	// Proof of work: the descriptor the service uploaded, decrypted with
	// the service's address as a client decrypts it, offers the puzzle.
	desc, err := service.GetInfo(ctx, "hs/service/desc/id/"+id)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := testenv.OnionDescriptorPlaintext(desc, addr)
	if err != nil {
		t.Fatalf("the service's descriptor: %v", err)
	}
	pow := ""
	for _, line := range strings.Split(inner, "\n") {
		if strings.HasPrefix(line, "pow-params ") {
			pow = line
		}
	}
	if f := strings.Fields(pow); len(f) != 5 || f[1] != "v1" {
		t.Errorf("descriptor without proof-of-work parameters (pow-params v1 <seed> <effort> <expiry>):\n%s", inner)
	} else {
		t.Logf("pow: the descriptor says %q (suggested effort %s: no attack, no puzzle to solve)", pow, f[3])
	}
	if got, err := a.Onion.GetConf("HiddenServicePoWDefensesEnabled"); err != nil || got != "1" {
		t.Errorf("HiddenServicePoWDefensesEnabled = %q, %v", got, err)
	}

	// Two visitors on two circuits (SOCKS isolation: one circuit per
	// username). The first answers every captcha wrongly: its sign-up
	// budget (abuse.signups_per_hour, per circuit) runs out and it gets 429;
	// the second signs up over the same onion address.
	ctx, cancel = wait()
	defer cancel()
	visitorA := torVisitor(t, tn.SocksAddr, "visitor-a")
	visitorB := torVisitor(t, tn.SocksAddr, "visitor-b")
	getPage := func(hc *http.Client, what string) (*http.Response, string) {
		t.Helper()
		for {
			resp, page, err := visit(ctx, hc, base, "GET", "/register", nil)
			if err == nil {
				return resp, page
			}
			// A new circuit is built for a new visitor: should that fail,
			// try again when tor reports a change.
			t.Logf("%s: %v", what, err)
			if ev, err := nextOnionChange(ctx, client, service, id); err != nil {
				t.Fatalf("%s: no report of tor that can change it: %v", what, err)
			} else {
				t.Logf("%s: trying again after %s", what, ev)
			}
		}
	}
	_, page = getPage(visitorA, "visitor A's form")
	for i := 1; ; i++ {
		m := onionCaptchaRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("visitor A, attempt %d: no captcha\n%s", i, page)
		}
		right, err := testenv.CaptchaAnswer(a.Store)(context.Background(), m[1])
		if err != nil {
			t.Fatal(err)
		}
		resp, page, err = visit(ctx, visitorA, base, "POST", "/register", url.Values{
			"captcha_id": {m[1]}, "captcha": {wrongAnswer(right)}, "username": {fmt.Sprintf("wrong.%d", i)}, "password": {pw}, "password2": {pw},
		})
		if err != nil {
			t.Fatalf("visitor A, attempt %d: %v", i, err)
		}
		// The try that spends the budget's last unit is answered with the
		// 429 page at once (no new captcha that would be refused).
		if i < e2eSignupsPerHour {
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("visitor A, wrong answer %d: %d, want 400 (the form again)\n%s", i, resp.StatusCode, page)
			}
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many sign-up attempts came over your Tor connection") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("visitor A, wrong answer %d of a budget of %d: %d (Retry-After %q), want 429 from its own budget\n%s",
				i, e2eSignupsPerHour, resp.StatusCode, resp.Header.Get("Retry-After"), page)
		}
		t.Logf("visitor A: %d wrong answers, the last answered with 429 (Retry-After %ss)", e2eSignupsPerHour, resp.Header.Get("Retry-After"))
		break
	}
	_, page = getPage(visitorB, "visitor B's form")
	const userB = "onion.second"
	if resp, page = signUp(t, ctx, a, visitorB, base, page, userB, pw); resp.StatusCode != 200 || !strings.Contains(page, userB+"@"+srv.Domain) {
		t.Fatalf("visitor B after visitor A ran out: %d\n%s", resp.StatusCode, page)
	}
	if s, err := xmpp.Login(ctx, srv.XMPP(), userB, pw, nil); err != nil {
		t.Fatalf("visitor B's account cannot log in: %v", err)
	} else {
		s.Close()
	}
	t.Logf("timing: visitor B signed up over the onion at %v, after visitor A's 429", since())

	// A flood of forms over one circuit stops at its own captcha budget;
	// clearnet pages and a clearnet sign-up work throughout.
	flooder := torVisitor(t, tn.SocksAddr, "flooder")
	clearnetForm := func(when string) string {
		got := fetch(t, clearnet+"/register", "")
		if got.status != 200 {
			t.Fatalf("clearnet GET /register %s: %d", when, got.status)
		}
		return got.body
	}
	clearnetForm("before the flood")
	floodStart, forms, refusedAt := time.Now(), 0, 0
	getPage(flooder, "the flooder's first form")
	forms++
	// A window of a minute may end during the flood on a busy machine and
	// give the circuit its budget again: go on until refused, at most ten
	// budgets' worth.
	for refusedAt == 0 && forms < 10*e2eCaptchasPerMinute {
		resp, _, err := visit(ctx, flooder, base, "GET", "/register", nil)
		if err != nil {
			t.Fatalf("flood, form %d: %v", forms+1, err)
		}
		forms++
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			refusedAt = forms
		default:
			t.Fatalf("flood, form %d: %d", forms, resp.StatusCode)
		}
		if forms == 2 {
			clearnetForm("during the flood")
		}
	}
	if refusedAt == 0 {
		t.Fatalf("%d forms over one circuit, none refused", forms)
	}
	t.Logf("flood: circuit refused at form %d (budget %d a minute) after %v", refusedAt, e2eCaptchasPerMinute, time.Since(floodStart).Round(time.Millisecond))
	_, page, err = visit(ctx, flooder, base, "GET", "/register", nil)
	if err != nil || !strings.Contains(page, "over your Tor connection") {
		t.Errorf("the flooding circuit after its refusal: %v\n%s", err, page)
	}
	body := clearnetForm("after the flood")
	m = onionCaptchaRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("clearnet form without a captcha\n%s", body)
	}
	right, err := testenv.CaptchaAnswer(a.Store)(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	const userC = "clearnet.during.flood"
	cresp, err := http.PostForm(clearnet+"/register", url.Values{"captcha_id": {m[1]}, "captcha": {right}, "username": {userC}, "password": {pw}, "password2": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	cbody, _ := io.ReadAll(cresp.Body)
	cresp.Body.Close()
	if cresp.StatusCode != 200 || !strings.Contains(string(cbody), userC+"@"+srv.Domain) {
		t.Fatalf("clearnet sign-up after the onion flood: %d\n%s", cresp.StatusCode, cbody)
	}
	// The flooder's circuit is refused; another circuit still gets a form.
	if resp, _ := getPage(torVisitor(t, tn.SocksAddr, "late-visitor"), "a late visitor's form"); resp.StatusCode != 200 {
		t.Errorf("another circuit after the flood: %d", resp.StatusCode)
	}

	// A PROXY header sent to the clearnet listener is refused and logged
	// (the onion listener's refusals: TestOnionProxyHeaders).
	if got := rawExchange(t, strings.TrimPrefix(clearnet, "http://"), torCircuitHeader(1)+plainGet); got != "400 PROXY protocol header refused." {
		t.Errorf("clearnet listener with a PROXY header: %.200q", got)
	}

	l := logs.String()
	if !strings.Contains(l, "onion=true") || !strings.Contains(l, "account.created") {
		t.Errorf("log lacks onion requests or account.created")
	}
	for _, want := range []string{"budget=signup prefix=0 onion=true circuit=true", "budget=captcha prefix=0 onion=true circuit=true",
		"http.proxy_header_refused listener=clearnet", "onion.added mode=launch", "pow=true intro_dos=true circuit_ids=true"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(l, "onion.circuit_header_refused") {
		t.Error("tor's circuit header was refused")
	}
}

// Budgets of TestOnionEndToEnd, per client and so per Tor circuit.
const (
	e2eSignupsPerHour    = 3
	e2eCaptchasPerMinute = 6
)

// torVisitor is an HTTP client through the client tor's SOCKS port. tor
// isolates streams by SOCKS username (IsolateSOCKSAuth, on by default), so
// each name is a visitor with circuits of its own, as Tor Browser has one
// per site; "" is the anonymous one.
func torVisitor(t *testing.T, socks, name string) *http.Client {
	t.Helper()
	var auth *proxy.Auth
	if name != "" {
		auth = &proxy.Auth{User: name, Password: name}
	}
	d, err := proxy.SOCKS5("tcp", socks, auth, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	// No time limit per request: tor ends a stream it cannot serve
	// (SocksTimeout), and the hang limit ends the test.
	tr := &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// visit sends one request to base+path with hc, as Tor Browser would (an
// Origin on form posts), and returns the answer and its unescaped body.
func visit(ctx context.Context, hc *http.Client, base, method, path string, form url.Values) (*http.Response, string, error) {
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

// signUp answers the captcha of the form page (read from the store) and
// posts it with user and password; a redirect (Post/Redirect/Get) is
// followed to the result page.
func signUp(t *testing.T, ctx context.Context, a *app.App, hc *http.Client, base, page, user, pw string) (*http.Response, string) {
	t.Helper()
	m := onionCaptchaRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no captcha on the form\n%s", page)
	}
	answer, err := testenv.CaptchaAnswer(a.Store)(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := visit(ctx, hc, base, "POST", "/register", url.Values{
		"captcha_id": {m[1]}, "captcha": {answer}, "username": {user}, "password": {pw}, "password2": {pw},
	})
	if err == nil && resp.StatusCode == http.StatusSeeOther {
		resp, body, err = visit(ctx, hc, base, "GET", resp.Header.Get("Location"), nil)
	}
	if err != nil {
		t.Fatalf("sign-up of %s: %v", user, err)
	}
	return resp, body
}

// wrongAnswer is a captcha answer that is not right.
func wrongAnswer(right string) string {
	b := []byte(right)
	for i := range b {
		b[i] = '0' + (b[i]-'0'+1)%10
	}
	return string(b)
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
