package app_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestMetricsCountsOnly: after real traffic against Prosody (a wrong
// captcha, a refused password, a sign-up, the same name again, wrong
// passwords until a lock, a budget spent, an export and its import), the
// metrics listener shows every outcome counted, and no label value is a
// name, an address, an IP address or a user agent. The public listener
// does not serve the metrics.
func TestMetricsCountsOnly(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	a, base, logs := startPortal(t, srv, map[string]string{
		"PORTAL_METRICS_LISTEN":                     "127.0.0.1:0",
		"PORTAL_REGULATION_MIN_RESPONSE":            "0s",
		"PORTAL_REGULATION_MAX_FAILURES":            "2",
		"PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE": "5",
	})
	if a.MetricsAddr == nil {
		t.Fatal("metrics.listen set, but no metrics listener")
	}
	const visitor = "127.0.0.7"
	const agent = "metrics-probe/1.0"
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(visitor)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: testenv.XMPPTimeout}
	do := func(method, path, ctype string, body []byte, want int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("User-Agent", agent)
		req.Header.Set("Accept-Language", "en")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d\n%s\n%s", method, path, resp.StatusCode, want, b, logs.String())
		}
		return b
	}
	form := func(path string, v url.Values, want int) []byte {
		t.Helper()
		return do("POST", path, "application/x-www-form-urlencoded", []byte(v.Encode()), want)
	}
	captchaRE := regexp.MustCompile(`name="captcha_id" value="([^"]+)"`)
	signup := func(user, pw string, right bool, want int) {
		t.Helper()
		m := captchaRE.FindSubmatch(do("GET", "/register", "", nil, 200))
		if m == nil {
			t.Fatal("no captcha")
		}
		answer, err := testenv.CaptchaAnswer(a.Store)(context.Background(), string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !right {
			answer = "0"
		}
		form("/register", url.Values{"username": {user}, "password": {pw}, "password2": {pw}, "captcha_id": {string(m[1])}, "captcha": {answer}}, want)
	}

	const user, pw = "metricsuser", "violet mountain lantern 42"
	address := user + "@" + srv.Domain
	signup(user, pw, false, http.StatusBadRequest)              // captcha fail
	signup(user, "short", true, http.StatusUnprocessableEntity) // password_policy
	signup(user, pw, true, 200)                                 // created
	signup(user, pw, true, http.StatusConflict)                 // the server says conflict
	ghost := url.Values{"address": {"ghost@" + srv.Domain}, "current": {"wrong password"}, "password": {pw}, "password2": {pw}}
	form("/password", ghost, http.StatusForbidden) // refused
	form("/password", ghost, http.StatusForbidden) // refused, now locked
	export := form("/export", url.Values{"address": {address}, "password": {pw}}, 200)
	// The import of that export into the same account.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("address", address)
	w.WriteField("password", pw)
	fw, _ := w.CreateFormFile("file", "export.xml")
	fw.Write(export)
	w.Close()
	do("POST", "/import", w.FormDataContentType(), mp.Bytes(), 200)
	// Locked attempts until the client's password-check budget is spent.
	for i := 0; ; i++ {
		req, _ := http.NewRequest("POST", base+"/password", strings.NewReader(ghost.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if resp.StatusCode != http.StatusForbidden || i == 10 {
			t.Fatalf("locked attempt %d: %d", i, resp.StatusCode)
		}
	}

	// The scrape, over the metrics listener.
	resp, err := http.Get("http://" + a.MetricsAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d\n%s", resp.StatusCode, text)
	}
	for _, want := range []string{
		`portal_signups_total{outcome="created",reason=""} 1`,
		`portal_signups_total{outcome="refused",reason="captcha_wrong"} 1`,
		`portal_signups_total{outcome="refused",reason="password_policy"} 1`,
		`portal_signups_total{outcome="failed",reason="conflict"} 1`,
		`portal_captcha_checks_total{result="fail"} 1`,
		`portal_captcha_checks_total{result="pass"} 3`,
		`portal_password_checks_total{flow="password",outcome="refused"} 2`,
		`portal_password_checks_total{flow="export",outcome="ok"} 1`,
		`portal_lockouts_total{flow="password"} 1`,
		`portal_password_checks_total{flow="password",outcome="locked"}`,
		`portal_budget_refusals_total{action="credential",budget="credential"} 1`,
		`portal_transfers_total{direction="export",outcome="done",reason=""} 1`,
		`portal_transfers_total{direction="import",outcome="done",reason=""} 1`,
		`portal_xmpp_errors_total{flow="register",kind="conflict"} 1`,
		`portal_http_request_duration_seconds_count{method="POST",route="/register",status="3xx"} 1`, // the redirect to the result page
		`portal_http_request_duration_seconds_count{method="GET",route="/welcome",status="2xx"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, dir := range []string{"export", "import"} {
		if !regexp.MustCompile(`portal_transfer_bytes_total\{direction="` + dir + `"\} [1-9]`).MatchString(text) {
			t.Errorf("no %s bytes counted", dir)
		}
	}
	// Nothing personal in any label value: only closed sets of words and
	// route patterns.
	labelValue := regexp.MustCompile(`="([^"]*)"`)
	safe := regexp.MustCompile(`^go[0-9.]+$|^[a-zA-Z0-9_]*$|^/[a-z/:*]*$|^\(none\)$|^[0-9.e+Inf-]+$|^[0-9]xx$`)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, m := range labelValue.FindAllStringSubmatch(line, -1) {
			v := m[1]
			if !safe.MatchString(v) || net.ParseIP(v) != nil || strings.Contains(v, user) || strings.Contains(v, "@") || strings.Contains(v, srv.Domain) {
				t.Errorf("label value %q in %s", v, line)
			}
		}
	}
	for _, s := range []string{visitor, agent, user, "ghost"} {
		if strings.Contains(text, s) {
			t.Errorf("the metrics mention %q", s)
		}
	}
	// Not on the public listener.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
}
