package app_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// torCircuitHeader is the PROXY line tor writes before a visitor's bytes
// with HiddenServiceExportCircuitID haproxy (connection_edge.c).
func torCircuitHeader(gid uint32) string {
	return fmt.Sprintf("PROXY TCP6 fc00:dead:beef:4dad::%x:%x ::1 %d 80\r\n", gid>>16, gid&0xffff, gid&0xffff)
}

// circuitClient talks to the onion service's local listener as tor does
// for one circuit: every connection starts with that circuit's header.
func circuitClient(lnAddr string, gid uint32) *http.Client {
	return &http.Client{
		Timeout: onionHangLimit,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", lnAddr)
			if err != nil {
				return nil, err
			}
			if _, err := io.WriteString(c, torCircuitHeader(gid)); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetchOverCircuit GETs path from the onion listener over circuit gid.
func fetchOverCircuit(t *testing.T, lnAddr string, gid uint32, path, host string) page {
	t.Helper()
	return doOverCircuit(t, circuitClient(lnAddr, gid), "http://"+host, "GET", path, nil)
}

func doOverCircuit(t *testing.T, hc *http.Client, base, method, path string, form url.Values) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", "en")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, html.UnescapeString(string(b))}
}

// rawExchange sends raw on a new connection to addr and returns the status
// line and body of the answer, or "closed" when the server closed without
// one.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(onionHangLimit))
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "closed"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(html.UnescapeString(string(b))))
}

const plainGet = "GET /register HTTP/1.1\r\nHost: x\r\nAccept-Language: en\r\n\r\n"

// TestOnionProxyHeaders: tor's circuit header is read on the onion listener
// only, and only when the portal's tor exports it (launch mode with
// onion.export_circuit_id): there a connection without it is closed and
// logged. A PROXY header sent to the clearnet listener, or to the onion
// listener when tor does not export circuit ids (where it can only be a
// visitor's), is answered 400 and logged as refused. (Offline tor: only the
// tor binary is needed.)
func TestOnionProxyHeaders(t *testing.T) {
	torPath := testenv.TorBinary(t)
	start := func(t *testing.T, export string) (*onionPortal, string) {
		p := startOnionPortal(t, map[string]string{
			"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": t.TempDir(), "PORTAL_ONION_TOR_PATH": torPath,
			"PORTAL_ONION_TORRC_EXTRA": offlineTorrc(t), "PORTAL_ONION_EXPORT_CIRCUIT_ID": export,
		})
		ctx, cancel := context.WithTimeout(context.Background(), onionHangLimit)
		defer cancel()
		if st, err := p.a.Onion.WaitState(ctx, onion.StateAnnouncing); err != nil {
			t.Fatalf("onion state %s: %v (%v)", st, err, p.a.Onion.Err())
		}
		ln, _ := p.a.Onion.Listen()
		return p, ln.Addr().String()
	}
	clearnetAddr := func(p *onionPortal) string { return strings.TrimPrefix(p.base, "http://") }

	t.Run("circuit ids exported", func(t *testing.T) {
		p, onionAddr := start(t, "true")
		if got := rawExchange(t, onionAddr, torCircuitHeader(7)+plainGet); !strings.HasPrefix(got, "200 ") || !strings.Contains(got, onOnionText) {
			t.Errorf("onion page with tor's header: %.200q", got)
		}
		if got := rawExchange(t, onionAddr, plainGet); got != "closed" {
			t.Errorf("onion listener without tor's header: %.200q, want the connection closed", got)
		}
		if !strings.Contains(p.logs.String(), "onion.circuit_header_refused") {
			t.Error("a connection without tor's header was not logged")
		}
		before := strings.Count(p.logs.String(), "http.proxy_header_refused")
		got := rawExchange(t, clearnetAddr(p), torCircuitHeader(7)+plainGet)
		if got != "400 PROXY protocol header refused." {
			t.Errorf("clearnet listener with a PROXY header: %.200q", got)
		}
		l := p.logs.String()
		if strings.Count(l, "http.proxy_header_refused") != before+1 || !strings.Contains(l, "http.proxy_header_refused listener=clearnet") {
			t.Errorf("clearnet refusal not logged:\n%s", l)
		}
		if got := fetch(t, p.base+"/register", ""); got.status != 200 {
			t.Errorf("clearnet page after the refusal: %d", got.status)
		}
	})
	t.Run("no circuit ids", func(t *testing.T) {
		p, onionAddr := start(t, "false")
		if got := rawExchange(t, onionAddr, plainGet); !strings.HasPrefix(got, "200 ") || !strings.Contains(got, onOnionText) {
			t.Errorf("onion page without a header: %.200q", got)
		}
		// A visitor sending a circuit header of its own to choose its budget.
		if got := rawExchange(t, onionAddr, torCircuitHeader(7)+plainGet); got != "400 PROXY protocol header refused." {
			t.Errorf("onion listener without circuit ids, with a PROXY header: %.200q", got)
		}
		if l := p.logs.String(); !strings.Contains(l, "http.proxy_header_refused listener=onion") {
			t.Errorf("onion refusal not logged:\n%s", l)
		}
		for _, leak := range []string{"fc00", "dead:beef"} {
			if strings.Contains(p.logs.String(), leak) {
				t.Errorf("log holds the header's address %q", leak)
			}
		}
	})
}

// TestOnionCircuitBudgetsOffline: over the onion listener each circuit has
// the per-client budgets (tor offline; the circuits are headers written by
// the test, as tor writes them). A flood of forms over one circuit ends in
// 429 for that circuit, with the onion wording, while another circuit and
// clearnet get their pages.
func TestOnionCircuitBudgetsOffline(t *testing.T) {
	p := startOnionPortal(t, map[string]string{
		"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": t.TempDir(), "PORTAL_ONION_TOR_PATH": testenv.TorBinary(t),
		"PORTAL_ONION_TORRC_EXTRA": offlineTorrc(t), "PORTAL_ABUSE_CAPTCHAS_PER_MINUTE": "4",
	})
	ctx, cancel := context.WithTimeout(context.Background(), onionHangLimit)
	defer cancel()
	if _, err := p.a.Onion.WaitState(ctx, onion.StateAnnouncing); err != nil {
		t.Fatal(err)
	}
	ln, _ := p.a.Onion.Listen()
	host := p.a.Onion.Address()
	flood := circuitClient(ln.Addr().String(), 11)
	var got page
	for i := range 40 { // a window of a minute may end in between on a busy machine: go on until refused
		got = doOverCircuit(t, flood, "http://"+host, "GET", "/register", nil)
		if got.status == http.StatusTooManyRequests {
			t.Logf("circuit 11 refused at form %d", i+1)
			break
		}
		if got.status != 200 {
			t.Fatalf("form %d over circuit 11: %d", i+1, got.status)
		}
	}
	if got.status != http.StatusTooManyRequests || !strings.Contains(got.body, "over your Tor connection") {
		t.Fatalf("the flood over one circuit was not stopped by its budget: %d\n%s", got.status, got.body)
	}
	if other := fetchOverCircuit(t, ln.Addr().String(), 12, "/register", host); other.status != 200 {
		t.Errorf("another circuit during the flood: %d", other.status)
	}
	if c := fetch(t, p.base+"/register", ""); c.status != 200 {
		t.Errorf("clearnet during the flood: %d", c.status)
	}
}

// TestOnionCircuitFloodLeavesClearnet: Tor circuits cost nothing, so a
// flood can bring a new circuit with every request. Here 3,000 requests,
// each over a new circuit (forms, wrong captchas, and password forms that
// are refused before a password is tried, whose shared units are given
// back), against a memory store of 5,000 keys, about the smallest the
// configuration allows with these budgets: the onion class stays within
// its quarter of the store (the shared onion budgets, and the onion
// circuit budget that pays for every circuit's counters), and clearnet
// visitors still get the form and sign up. Without the circuit budget the
// password forms alone would leave two counters per circuit, 2,000 keys.
func TestOnionCircuitFloodLeavesClearnet(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn"})
	const maxKeys = 5000
	a, clearnet, logs := startPortal(t, srv, map[string]string{
		"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": t.TempDir(), "PORTAL_ONION_TOR_PATH": testenv.TorBinary(t),
		"PORTAL_ONION_TORRC_EXTRA": offlineTorrc(t), "PORTAL_STORE_MAX_KEYS": strconv.Itoa(maxKeys),
		"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE": "5", "PORTAL_ABUSE_SIGNUPS_PER_HOUR": "3", "PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE": "2",
		"PORTAL_ABUSE_IPV6_56_FACTOR": "1", "PORTAL_ABUSE_IPV6_48_FACTOR": "1",
		"PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE": "10", "PORTAL_ABUSE_ONION_CIRCUITS_PER_MINUTE": "5",
		"PORTAL_REGULATION_MIN_RESPONSE": "0s",
	})
	ctx, cancel := context.WithTimeout(context.Background(), onionHangLimit)
	defer cancel()
	if _, err := a.Onion.WaitState(ctx, onion.StateAnnouncing); err != nil {
		t.Fatal(err)
	}
	mem, ok := a.Store.(*store.Memory)
	if !ok {
		t.Fatalf("store %T", a.Store)
	}
	ln, _ := a.Onion.Listen()
	base := "http://" + a.Onion.Address()
	status := map[string]map[int]int{}
	peak := 0
	for i := range 3000 {
		hc := circuitClient(ln.Addr().String(), uint32(1000+i)) // a new circuit every time
		var kind string
		var got page
		switch i % 3 {
		case 0:
			kind, got = "form", doOverCircuit(t, hc, base, "GET", "/register", nil)
		case 1:
			kind, got = "wrong captcha", doOverCircuit(t, hc, base, "POST", "/register", url.Values{"captcha_id": {"x"}, "captcha": {"1"}, "username": {"flood"}, "password": {"p"}, "password2": {"p"}})
		default:
			kind, got = "password form refused", doOverCircuit(t, hc, base, "POST", "/password", url.Values{})
		}
		if status[kind] == nil {
			status[kind] = map[int]int{}
		}
		status[kind][got.status]++
		if got.status == http.StatusServiceUnavailable {
			t.Fatalf("request %d (%s): 503, the store is full\n%.400s", i, kind, got.body)
		}
		peak = max(peak, mem.Len())
	}
	t.Logf("flood over 3,000 new circuits: %v; the store held at most %d keys (a quarter of %d is %d)", status, peak, maxKeys, maxKeys/4)
	if peak > maxKeys/4 {
		t.Errorf("the onion flood held %d keys, more than its quarter of %d", peak, maxKeys)
	}
	if status["password form refused"][http.StatusUnprocessableEntity] == 0 || status["form"][http.StatusTooManyRequests] == 0 {
		t.Errorf("the flood did not reach the forms or was not refused: %v", status)
	}
	if !strings.Contains(logs.String(), "abuse.circuit_unkeyed") {
		t.Error("no circuit went without a counter of its own: the circuit budget never ran out")
	}

	// Clearnet: the form, and a whole sign-up.
	got := fetch(t, clearnet+"/register", "")
	m := onionCaptchaRe.FindStringSubmatch(got.body)
	if got.status != 200 || m == nil {
		t.Fatalf("clearnet GET /register after the flood: %d", got.status)
	}
	answer, err := testenv.CaptchaAnswer(a.Store)(ctx, m[1])
	if err != nil {
		t.Fatal(err)
	}
	const user, pw = "after.circuit.flood", "tunnel lantern orchard 78"
	resp, err := http.PostForm(clearnet+"/register", url.Values{"captcha_id": {m[1]}, "captcha": {answer}, "username": {user}, "password": {pw}, "password2": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), user+"@"+srv.Domain) {
		t.Fatalf("clearnet sign-up after the flood: %d\n%.400s", resp.StatusCode, body)
	}
}
