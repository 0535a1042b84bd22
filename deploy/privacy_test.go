package deploy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/logging"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// shippedProsodyLogLevel is the default of PROSODY_LOG_LEVEL in the shipped
// prosody.cfg.lua: the level an operator who sets nothing runs.
func shippedProsodyLogLevel(t *testing.T, root string) string {
	t.Helper()
	m := regexp.MustCompile(`env\("PROSODY_LOG_LEVEL", "([a-z]+)"\)`).FindAllStringSubmatch(readFile(t, root, "deploy", "prosody", "prosody.cfg.lua"), -1)
	if len(m) != 1 {
		t.Fatalf("prosody.cfg.lua: want one default for PROSODY_LOG_LEVEL, found %d", len(m))
	}
	return m[0][1]
}

// envFile reads KEY=value lines (comments and blank lines skipped, one level
// of double quotes removed), as systemd's EnvironmentFile= and sh read the
// shipped portal.env.example.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=value: %q", path, line)
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		env[k] = v
	}
	return env
}

// TestShippedSetupKeepsNoAddresses: the example storage note says "The
// portal keeps no IP addresses"; this holds for the shipped set-up as a
// whole. Prosody runs from deploy/prosody/prosody.cfg.lua at its default log
// level, the portal with the settings of deploy/systemd/portal.env.example
// (its log level and format), nginx with deploy/nginx/portal.conf in
// Debian's log settings. A visitor from 127.0.0.7 signs up, mistypes and
// then changes the password, logs in with an XMPP client straight to
// Prosody, and deletes the account. Afterwards no log of the three holds the
// visitor's address, and none holds the account's name.
func TestShippedSetupKeepsNoAddresses(t *testing.T) {
	root := repoRoot(t)
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: shippedProsodyLogLevel(t, root)})
	prosodyLog := filepath.Join(srv.Dir, "prosody.log")

	// The portal, configured as portal.env.example says, on this Prosody.
	env := envFile(t, filepath.Join(root, "deploy", "systemd", "portal.env.example"))
	note := env["PORTAL_SITE_STORAGE_NOTE"]
	if !strings.Contains(note, "keeps no IP addresses") {
		t.Fatalf("portal.env.example's storage note changed (%q): this test checks its promise", note)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"PORTAL_XMPP_DOMAIN": srv.Domain, "PORTAL_XMPP_ADDR": srv.Addr, "PORTAL_XMPP_CA_FILE": ca,
		"PORTAL_XMPP_ADMIN_JID": srv.AdminJID.String(), "PORTAL_XMPP_ADMIN_PASSWORD": srv.AdminPassword,
		"PORTAL_SITE_CONTACT": "xmpp:admin@" + srv.Domain, "PORTAL_REGULATION_MIN_RESPONSE": "0",
	} {
		env[k] = v
	}
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("portal.env.example: %v", err)
	}
	var portalLog testenv.LockedBuffer
	a, err := app.New(cfg, logging.New(&portalLog, cfg.Log.Level, cfg.Log.Format))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(2 * time.Minute): // a hang limit
			t.Error("portal did not shut down")
		}
		a.Close()
	})
	<-a.Ready

	n := startNginx(t, root, "http://"+ln.Addr().String())
	visitor := n.client(net.ParseIP(visitorIP))
	do := func(method, path string, form url.Values, want int) string {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, n.https+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept-Language", "en")
		req.Header.Set("User-Agent", "privacy-probe/1.0")
		resp, err := visitor.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d\n%s\nportal log:\n%s", method, path, resp.StatusCode, want, b, portalLog.String())
		}
		return string(b)
	}
	// done sends a form that succeeds: the answer is a redirect to its
	// result page (Post/Redirect/Get), which the visitor then loads.
	done := func(path string, form url.Values) {
		t.Helper()
		req, err := http.NewRequest("POST", n.https+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en")
		req.Header.Set("User-Agent", "privacy-probe/1.0")
		resp, err := visitor.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/") {
			t.Fatalf("POST %s: status %d, Location %q; want 303 to a result page\nportal log:\n%s", path, resp.StatusCode, loc, portalLog.String())
		}
		do("GET", loc, nil, 200)
	}

	user := fmt.Sprintf("probe%d", time.Now().UnixNano()%1_000_000_000)
	const pw, pw2 = "violet mountain lantern 42", "amber river compass 77"
	page := do("GET", "/register", nil, 200)
	m := regexp.MustCompile(`name="captcha_id" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no captcha on the sign-up page:\n%s", page)
	}
	answer, err := testenv.CaptchaAnswer(a.Store)(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	done("/register", url.Values{"username": {user}, "password": {pw}, "password2": {pw},
		"captcha_id": {m[1]}, "captcha": {answer}})
	address := user + "@" + srv.Domain
	// A wrong current password (a failed login on Prosody), then the change.
	do("POST", "/password", url.Values{"address": {address}, "current": {"wrong " + pw}, "password": {pw2}, "password2": {pw2}}, http.StatusForbidden)
	done("/password", url.Values{"address": {address}, "current": {pw}, "password": {pw2}, "password2": {pw2}})

	// An XMPP client of the visitor's logs in to Prosody directly.
	xc := srv.XMPP()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(visitorIP)}}
	xc.Dial = d.DialContext
	lctx, lcancel := context.WithTimeout(context.Background(), testenv.XMPPTimeout)
	c, err := xmpp.Login(lctx, xc, user, pw2, nil)
	lcancel()
	if err != nil {
		t.Fatalf("XMPP login from %s: %v", visitorIP, err)
	}
	c.Close()

	done("/delete", url.Values{"address": {address}, "password": {pw2}, "confirm": {address}, "understand": {"yes"}})

	// Prosody writes its log as it goes; the portal's log is in memory.
	if hits := logsMentioning(t, n.dir, visitorIP, user, "privacy-probe"); len(hits) > 0 {
		t.Errorf("nginx logged the visitor:\n%s", strings.Join(hits, "\n"))
	}
	plog := readFile(t, prosodyLog)
	for _, s := range []string{visitorIP, user} {
		if strings.Contains(strings.ToLower(plog), s) {
			t.Errorf("Prosody's log (level %s) holds %q:\n%s", shippedProsodyLogLevel(t, root), s, plog)
		}
	}
	for _, s := range []string{visitorIP, user, "privacy-probe"} {
		if strings.Contains(strings.ToLower(portalLog.String()), s) {
			t.Errorf("the portal's log (level %s) holds %q:\n%s", cfg.Log.Level, s, portalLog.String())
		}
	}
	if !strings.Contains(portalLog.String(), "account.deleted") {
		t.Errorf("the portal's log has no events at all?\n%s", portalLog.String())
	}
}
