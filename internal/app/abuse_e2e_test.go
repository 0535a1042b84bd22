package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// webClient talks to one portal from a chosen loopback source address,
// optionally as if behind a proxy (X-Forwarded-For).
type webClient struct {
	t    *testing.T
	a    *app.App
	base string
	c    *http.Client
	xff  string
}

func newWebClient(t *testing.T, a *app.App, base, source string) *webClient {
	tr := &http.Transport{}
	if source != "" {
		tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}).DialContext
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &webClient{t: t, a: a, base: base, c: &http.Client{Timeout: 30 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webClient) do(method, path string, form url.Values) (*http.Response, string) {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if w.xff != "" {
		req.Header.Set("X-Forwarded-For", w.xff)
	}
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// captcha loads the sign-up form and returns its captcha id; the answer is
// read from app (which must share the store with the portal that made it).
func (w *webClient) captcha(answerFrom *app.App) (id, answer string) {
	w.t.Helper()
	resp, body := w.do("GET", "/register", nil)
	m := captchaIDRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		w.t.Fatalf("sign-up form: %d\n%s", resp.StatusCode, body)
	}
	ans, err := testenv.CaptchaAnswer(answerFrom.Store)(context.Background(), m[1])
	if err != nil {
		w.t.Fatalf("captcha answer: %v", err)
	}
	return m[1], ans
}

// signup sends the sign-up form and, when the portal answers with a
// redirect to a result page (a created account), loads that page, as a
// browser does.
func (w *webClient) signup(id, answer, user, pw string) (*http.Response, string) {
	w.t.Helper()
	r, body := w.do("POST", "/register", url.Values{"captcha_id": {id}, "captcha": {answer}, "username": {user}, "password": {pw}, "password2": {pw}})
	if loc := r.Header.Get("Location"); r.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/") {
		return w.do("GET", loc, nil)
	}
	return r, body
}

// storeCaptcha is a captcha put in a's store directly, with its answer: for
// a client whose sign-up form answers 429.
func storeCaptcha(t *testing.T, a *app.App) (id, answer string) {
	t.Helper()
	id, err := a.Captchas.New()
	if err != nil {
		t.Fatal(err)
	}
	answer, err = testenv.CaptchaAnswer(a.Store)(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return id, answer
}

// canLogin reports whether user logs in on srv: true, false (auth refused),
// or a test failure for any other error.
func canLogin(t *testing.T, srv *testenv.Server, user, pw string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang limit
	defer cancel()
	s, err := xmpp.Login(ctx, srv.XMPP(), user, pw, nil)
	if errors.Is(err, xmpp.Auth) {
		return false
	}
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	s.Close()
	return true
}

func redisEnv(rd *testenv.Redis, prefix string, extra map[string]string) map[string]string {
	env := map[string]string{"PORTAL_STORE_DRIVER": "redis", "PORTAL_STORE_URL": rd.URL(), "PORTAL_STORE_PREFIX": prefix}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// TestAbuseControlOverRedis runs real portals against one real Prosody and one
// real Redis: two instances share captchas and the global budget; the privacy
// proof (Redis and memory variants); a Redis outage fails closed and heals.
func TestAbuseControlOverRedis(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	rd := testenv.StartRedis(t)
	const pw = "amber orchard whistle 9"

	t.Run("two instances share captchas and the global budget", func(t *testing.T) {
		env := redisEnv(rd, "pair:", map[string]string{"PORTAL_ABUSE_GLOBAL_SIGNUPS_PER_HOUR": "3"})
		a, baseA, _ := startPortal(t, srv, env)
		b, baseB, _ := startPortal(t, srv, env)
		ca, cb := newWebClient(t, a, baseA, ""), newWebClient(t, b, baseB, "")

		// A captcha made and drawn by A is solved on B, once.
		id, ans := ca.captcha(a)
		if r, _ := ca.do("GET", "/captcha/"+id+".png", nil); r.StatusCode != 200 {
			t.Fatalf("picture from A: %d", r.StatusCode)
		}
		if r, body := cb.signup(id, ans, "pair1", pw); r.StatusCode != 200 || !strings.Contains(body, "pair1@localhost") {
			t.Fatalf("solving A's captcha on B: %d\n%s", r.StatusCode, body)
		}
		if r, body := cb.signup(id, ans, "pair2", pw); r.StatusCode != 400 || !strings.Contains(body, "The digits were wrong") {
			t.Fatalf("second use on B: %d\n%s", r.StatusCode, body)
		}
		if r, _ := ca.signup(id, ans, "pair2", pw); r.StatusCode != 400 {
			t.Fatalf("second use on A: %d", r.StatusCode)
		}
		if !canLogin(t, srv, "pair1", pw) || canLogin(t, srv, "pair2", pw) {
			t.Fatal("accounts on the server do not match")
		}

		// Global budget 3: one used on B; one more on each, then both refuse.
		for i, c := range []*webClient{ca, cb} {
			id, ans := c.captcha(a)
			if r, body := c.signup(id, ans, "pair"+strconv.Itoa(i+3), pw); r.StatusCode != 200 {
				t.Fatalf("sign-up %d: %d\n%s", i+3, r.StatusCode, body)
			}
		}
		for i, c := range []*webClient{ca, cb} {
			// The form itself says so now (no captcha that would be
			// refused); a captcha made directly shows the sign-up refused.
			if r, body := c.do("GET", "/register", nil); r.StatusCode != 429 || !strings.Contains(body, "many new accounts were created on this server in the last hour") {
				t.Fatalf("the form over the shared global budget on instance %d: %d\n%s", i, r.StatusCode, body)
			}
			id, ans := storeCaptcha(t, a)
			r, body := c.signup(id, ans, "pairx"+strconv.Itoa(i), pw)
			if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(body, "many new accounts were created on this server in the last hour") {
				t.Fatalf("over the shared global budget on instance %d: %d %q\n%s", i, r.StatusCode, r.Header.Get("Retry-After"), body)
			}
		}
		if canLogin(t, srv, "pairx0", pw) || canLogin(t, srv, "pairx1", pw) {
			t.Fatal("an account over the budget exists")
		}
	})

	t.Run("privacy proof on Redis", func(t *testing.T) {
		env := redisEnv(rd, "priv:", map[string]string{"PORTAL_HTTP_TRUSTED_PROXIES": "127.0.0.1", "PORTAL_ABUSE_SIGNUPS_PER_HOUR": "2"})
		a, base, logs := startPortal(t, srv, env)
		privacyFlow(t, srv, a, base, "privr")
		opt, err := store.ParseRedisURL(rd.URL())
		if err != nil {
			t.Fatal(err)
		}
		rc := redis.NewUniversalClient(opt)
		defer rc.Close()
		dump := dumpRedis(t, rc)
		if !bytes.Contains(dump, []byte("priv:rl:signup:")) || !bytes.Contains(dump, []byte("priv:rl:epoch")) || !bytes.Contains(dump, []byte("priv:rl:captcha:")) {
			t.Fatalf("Redis holds no rate-limit keys: the scan would prove nothing\n%q", dump)
		}
		assertNoAddress(t, "log", []byte(logs.String()))
		assertNoAddress(t, "Redis", dump)
	})

	t.Run("privacy proof on memory", func(t *testing.T) {
		a, base, logs := startPortal(t, srv, map[string]string{"PORTAL_HTTP_TRUSTED_PROXIES": "127.0.0.1", "PORTAL_ABUSE_SIGNUPS_PER_HOUR": "2"})
		privacyFlow(t, srv, a, base, "privm")
		mem, ok := a.Store.(*store.Memory)
		if !ok {
			t.Fatalf("store is %T", a.Store)
		}
		var dump bytes.Buffer
		n := 0
		mem.ForEach(func(k string, v []byte, _ time.Duration) {
			n++
			fmt.Fprintf(&dump, "%s\x00%s\x00", k, v)
		})
		if n < 4 || !bytes.Contains(dump.Bytes(), []byte("rl:signup:")) {
			t.Fatalf("memory store nearly empty (%d keys): the scan would prove nothing", n)
		}
		assertNoAddress(t, "log", []byte(logs.String()))
		assertNoAddress(t, "memory store", dump.Bytes())
	})

	// Last: it kills Redis (the restarted one is empty).
	t.Run("Redis outage fails closed and heals", func(t *testing.T) {
		a, base, logs := startPortal(t, srv, redisEnv(rd, "out:", nil))
		c := newWebClient(t, a, base, "")
		id, ans := c.captcha(a)
		if r, body := c.do("GET", "/healthz", nil); r.StatusCode != 200 || !strings.Contains(body, `"store":"ok"`) {
			t.Fatalf("healthz before: %d %s", r.StatusCode, body)
		}

		rd.Kill()
		start := time.Now()
		r, body := c.signup(id, ans, "outage1", pw)
		if r.StatusCode != 503 || !strings.Contains(body, "temporarily unavailable") || !strings.Contains(body, "Nothing was created") {
			t.Fatalf("sign-up with Redis down: %d\n%s", r.StatusCode, body)
		}
		t.Logf("503 after %s", time.Since(start).Round(time.Millisecond))
		if r, body := c.do("GET", "/healthz", nil); r.StatusCode != 503 || !strings.Contains(body, `"store":"unavailable"`) {
			t.Errorf("healthz with Redis down: %d %s", r.StatusCode, body)
		}
		if r, _ := c.do("GET", "/register", nil); r.StatusCode != 503 {
			t.Errorf("sign-up form with Redis down: %d", r.StatusCode)
		}
		home, homeBody := c.do("GET", "/", nil)
		if home.StatusCode != 200 {
			t.Errorf("home page with Redis down: %d", home.StatusCode)
		}
		css := cssRe.FindString(homeBody)
		if r, _ := c.do("GET", css, nil); css == "" || r.StatusCode != 200 {
			t.Errorf("stylesheet %q with Redis down: %d", css, r.StatusCode)
		}
		if canLogin(t, srv, "outage1", pw) {
			t.Fatal("an account was created while Redis was down")
		}

		rd.Restart()
		// The portal reconnects by itself: poll /healthz until it says so,
		// with a hang limit (not a number of tries, which a busy machine
		// would use up sooner).
		const hangLimit = 2 * time.Minute
		for deadline := time.Now().Add(hangLimit); ; time.Sleep(100 * time.Millisecond) {
			if r, _ := c.do("GET", "/healthz", nil); r.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("portal did not recover within %v after Redis came back", hangLimit)
			}
		}
		id, ans = c.captcha(a)
		if r, body := c.signup(id, ans, "outage1", pw); r.StatusCode != 200 {
			t.Fatalf("sign-up after Redis came back: %d\n%s", r.StatusCode, body)
		}
		if !canLogin(t, srv, "outage1", pw) {
			t.Fatal("account made after the outage cannot log in")
		}
		if !strings.Contains(logs.String(), "store_unavailable") && !strings.Contains(logs.String(), "unavailable") {
			t.Error("the outage left no trace in the log")
		}
	})
}

// privacyFlow drives a whole sign-up from 127.0.0.7 (wrong captcha, success,
// a refusal over the client budget of 2, pictures, sound, health, 404) and a
// second client behind the trusted proxy 127.0.0.1 as 198.51.100.77.
func privacyFlow(t *testing.T, srv *testenv.Server, a *app.App, base, user string) {
	t.Helper()
	c := newWebClient(t, a, base, "127.0.0.7")
	c.do("GET", "/", nil)
	id, ans := c.captcha(a)
	for _, ext := range []string{"png", "wav"} {
		if r, _ := c.do("GET", "/captcha/"+id+"."+ext, nil); r.StatusCode != 200 {
			t.Fatalf("captcha %s: %d", ext, r.StatusCode)
		}
	}
	if r, _ := c.signup(id, "1", user, "amber orchard whistle 9"); r.StatusCode != 400 {
		t.Fatalf("wrong captcha: %d", r.StatusCode)
	}
	id, ans = c.captcha(a)
	if r, body := c.signup(id, ans, user, "amber orchard whistle 9"); r.StatusCode != 200 {
		t.Fatalf("sign-up: %d\n%s", r.StatusCode, body)
	}
	if r, _ := c.do("GET", "/register", nil); r.StatusCode != 429 {
		t.Fatalf("the form with the budget of 2 spent: %d", r.StatusCode)
	}
	id, ans = storeCaptcha(t, a)
	if r, _ := c.signup(id, ans, user+"b", "amber orchard whistle 9"); r.StatusCode != 429 {
		t.Fatalf("third attempt with a budget of 2: %d", r.StatusCode)
	}
	c.do("GET", "/healthz", nil)
	c.do("GET", "/nope", nil)

	p := newWebClient(t, a, base, "127.0.0.1")
	p.xff = proxiedClient
	id, ans = p.captcha(a)
	p.do("GET", "/captcha/"+id+".png", nil)
	if r, body := p.signup(id, ans, user+"p", "amber orchard whistle 9"); r.StatusCode != 200 {
		t.Fatalf("sign-up behind the proxy: %d\n%s", r.StatusCode, body)
	}
	if !canLogin(t, srv, user, "amber orchard whistle 9") {
		t.Fatal("account from the privacy flow cannot log in")
	}
}

const proxiedClient = "198.51.100.77"

var (
	captchaIDRe = regexp.MustCompile(`name="captcha_id" value="([^"]+)"`)
	cssRe       = regexp.MustCompile(`/assets/[^"]+\.css`)
)

// addressForms are the ways an address could be written down.
func addressForms(ip string) map[string][]byte {
	a := net.ParseIP(ip).To4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	le := []byte{a[3], a[2], a[1], a[0]}
	return map[string][]byte{
		"dotted":        []byte(ip),
		"raw bytes":     []byte(a),
		"raw bytes LE":  le,
		"hex":           fmt.Appendf(nil, "%02x%02x%02x%02x", a[0], a[1], a[2], a[3]),
		"HEX":           fmt.Appendf(nil, "%02X%02X%02X%02X", a[0], a[1], a[2], a[3]),
		"hex LE":        fmt.Appendf(nil, "%02x%02x%02x%02x", a[3], a[2], a[1], a[0]),
		"mapped IPv6":   []byte("::ffff:" + ip),
		"mapped hex":    fmt.Appendf(nil, "::ffff:%x:%x", uint16(a[0])<<8|uint16(a[1]), uint16(a[2])<<8|uint16(a[3])),
		"decimal":       []byte(strconv.FormatUint(uint64(n), 10)),
		"base64":        []byte(base64.RawStdEncoding.EncodeToString(a)),
		"base64url":     []byte(base64.RawURLEncoding.EncodeToString(a)),
		"mapped 16 raw": append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, a...),
	}
}

// findAddress names the forms of either client address found in data
// (text forms case-insensitively).
func findAddress(data []byte) []string {
	var found []string
	lower := bytes.ToLower(data)
	for _, ip := range []string{"127.0.0.7", proxiedClient} {
		for name, form := range addressForms(ip) {
			if bytes.Contains(data, form) || bytes.Contains(lower, bytes.ToLower(form)) {
				found = append(found, ip+" as "+name)
			}
		}
	}
	return found
}

// assertNoAddress fails when data holds either client address in any form.
func assertNoAddress(t *testing.T, where string, data []byte) {
	t.Helper()
	if len(data) == 0 {
		t.Fatalf("%s is empty: the scan would prove nothing", where)
	}
	for _, f := range findAddress(data) {
		t.Errorf("%s holds %s", where, f)
	}
}

// TestAddressScanFindsAddresses: the scan finds every form, inside text and
// inside binary data.
func TestAddressScanFindsAddresses(t *testing.T) {
	for _, ip := range []string{"127.0.0.7", proxiedClient} {
		for name, form := range addressForms(ip) {
			data := append(append([]byte("key:\x00\xff"), form...), "Tail"...)
			if len(findAddress(data)) == 0 {
				t.Errorf("%s as %s not found", ip, name)
			}
		}
	}
	if f := findAddress([]byte("portal:rl:signup:AbCdEf 127.0.0.1 12345")); len(f) != 0 {
		t.Errorf("false positive: %v", f)
	}
}

// dumpRedis returns every key and value of every database of the server,
// whatever the type, as key\0value\0 records.
func dumpRedis(t *testing.T, rc redis.UniversalClient) []byte {
	t.Helper()
	ctx := context.Background()
	info, err := rc.Info(ctx, "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "db") && !strings.HasPrefix(line, "db0:") {
			t.Errorf("keys in another database: %s", strings.TrimSpace(line))
		}
	}
	var out bytes.Buffer
	var cursor uint64
	for range 100_000 {
		keys, next, err := rc.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			typ, err := rc.Type(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			var val any
			switch typ {
			case "string":
				val, err = rc.Get(ctx, k).Bytes()
			case "hash":
				val, err = rc.HGetAll(ctx, k).Result()
			case "list":
				val, err = rc.LRange(ctx, k, 0, -1).Result()
			case "set":
				val, err = rc.SMembers(ctx, k).Result()
			case "zset":
				val, err = rc.ZRangeWithScores(ctx, k, 0, -1).Result()
			case "stream":
				val, err = rc.XRange(ctx, k, "-", "+").Result()
			case "none":
				continue // expired meanwhile
			default:
				t.Fatalf("key of unexpected type %s", typ)
			}
			if err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
			if b, ok := val.([]byte); ok {
				fmt.Fprintf(&out, "%s\x00%s\x00", k, b)
			} else {
				fmt.Fprintf(&out, "%s\x00%v\x00", k, val)
			}
		}
		cursor = next
		if cursor == 0 {
			return out.Bytes()
		}
	}
	t.Fatal("SCAN did not finish")
	return nil
}
