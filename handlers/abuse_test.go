package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// limitedEnv is env with a Limiter on a memory store; the test server's
// peer (127.0.0.1) is a trusted proxy, so X-Forwarded-For picks the client.
// onion serves the same handler as the onion listener would.
type limitedEnv struct {
	*env
	onion *httptest.Server
	mem   *store.Memory
	clk   *testenv.FakeClock // of the store and the limiter: counter windows and captcha TTLs move only when a test moves it
}

func newLimitedEnv(t *testing.T, b abuse.Budgets, maxKeys int) *limitedEnv {
	t.Helper()
	clk := testenv.NewFakeClock(time.Unix(1_900_000_000, 0))
	st := store.NewMemory(store.MemoryOptions{MaxKeys: maxKeys, SweepInterval: -1, Now: clk.Now})
	t.Cleanup(func() { st.Close() })
	caps := handlers.UnitCaptchas(st)
	prov := &fakeProvisioner{created: map[string]string{}}
	d, logs := handlers.UnitDeps(t)
	d.Captchas, d.Signup = caps, prov
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: b, TrustedProxies: []string{"127.0.0.1"}, Log: d.Log, Now: clk.Now})
	h := handlers.New(d)
	srv := httptest.NewServer(h.HTTPHandler())
	t.Cleanup(srv.Close)
	onion := httptest.NewServer(handlers.MarkOnion(h.HTTPHandler()))
	t.Cleanup(onion.Close)
	return &limitedEnv{env: &env{srv: srv, st: st, caps: caps, prov: prov, logs: logs}, onion: onion, mem: st, clk: clk}
}

func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

// storeCaptcha is a captcha put in the store directly, with its answer:
// for a client whose form would answer 429.
func (e *env) storeCaptcha(t *testing.T) (id, answer string) {
	t.Helper()
	id, err := e.caps.New()
	if err != nil {
		t.Fatal(err)
	}
	answer, err = testenv.CaptchaAnswer(e.st)(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return id, answer
}

func (e *limitedEnv) created() int {
	e.prov.mu.Lock()
	defer e.prov.mu.Unlock()
	return len(e.prov.created)
}

// want429 checks a 429 page: Retry-After close to wantWait, the message.
func want429(t *testing.T, resp *http.Response, body string, wantWait time.Duration, text string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429:\n%s", resp.StatusCode, body)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || time.Duration(secs)*time.Second > wantWait || time.Duration(secs)*time.Second < wantWait-10*time.Second {
		t.Errorf("Retry-After %q, want about %s", resp.Header.Get("Retry-After"), wantWait)
	}
	if !strings.Contains(body, text) {
		t.Errorf("page lacks %q:\n%s", text, body)
	}
}

// TestSignupBudgetPerClient: the N+1st sign-up attempt of a client is refused
// with 429 and the wait, before its captcha is touched; another client goes on.
func TestSignupBudgetPerClient(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 2 }), 0)
	const pw = "correct horse battery"
	// A wrong captcha costs the client an attempt; a successful sign-up too.
	id, _ := e.newCaptcha(t)
	if r, _ := e.post(t, "/register", signupForm(id, "000000x", "alice", pw), from("198.51.100.1")); r.StatusCode != 400 {
		t.Fatalf("wrong captcha: %d", r.StatusCode)
	}
	id, ans := e.newCaptcha(t)
	if r, b := e.post(t, "/register", signupForm(id, ans, "alice", pw), from("198.51.100.1")); r.StatusCode != 200 {
		t.Fatalf("sign-up: %d\n%s", r.StatusCode, b)
	}
	id, ans = e.newCaptcha(t)
	r, body := e.post(t, "/register", signupForm(id, ans, "alice2", pw), from("198.51.100.1"))
	want429(t, r, body, time.Hour, "Too many sign-up attempts came from your network in the last hour: every account created and every form sent with wrong digits counts. Please come back in 60 minutes.")
	if _, err := testenv.CaptchaAnswer(e.st)(context.Background(), id); err != nil {
		t.Errorf("the refused request consumed its captcha: %v", err)
	}
	// German page.
	form := signupForm(id, ans, "alice2", pw)
	form.Set("lang", "de")
	r, body = e.post(t, "/register", form, from("198.51.100.1"))
	want429(t, r, body, time.Hour, "Bitte kommen Sie in 60 Minuten wieder.")
	// Another client.
	if r, b := e.post(t, "/register", signupForm(id, ans, "bob", pw), from("198.51.100.2")); r.StatusCode != 200 {
		t.Fatalf("another client: %d\n%s", r.StatusCode, b)
	}
	if n := e.created(); n != 2 {
		t.Errorf("%d accounts created, want 2", n)
	}
}

// TestSignupBudgetCountsSignups: sign-ups refused after the captcha (rules,
// server) give their unit back; cross-site posts never reach the budget.
func TestSignupBudgetCountsSignups(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 1 }), 0)
	const pw = "correct horse battery"
	if r, _ := e.post(t, "/register", url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site", "X-Forwarded-For": "198.51.100.1"}); r.StatusCode != 403 {
		t.Fatalf("cross-site: %d", r.StatusCode)
	}
	id, ans := e.newCaptcha(t)
	if r, _ := e.post(t, "/register", signupForm(id, ans, "carol", "short"), from("198.51.100.1")); r.StatusCode != 422 {
		t.Fatalf("short password: %d", r.StatusCode)
	}
	id, ans = e.newCaptcha(t)
	if r, b := e.post(t, "/register", signupForm(id, ans, "carol", pw), from("198.51.100.1")); r.StatusCode != 200 {
		t.Fatalf("sign-up after a refused one: %d\n%s", r.StatusCode, b)
	}
	id, ans = e.newCaptcha(t)
	if r, b := e.post(t, "/register", signupForm(id, ans, "carol2", pw), from("198.51.100.1")); r.StatusCode != 429 {
		t.Fatalf("second sign-up: %d\n%s", r.StatusCode, b)
	}
}

// TestGlobalSignupBudgetRefusesEveryone: the global budget is shared by all
// clients; wrong captchas do not use it up.
func TestGlobalSignupBudgetRefusesEveryone(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.GlobalSignupsPerHour = 2 }), 0)
	const pw = "correct horse battery"
	for i := range 3 {
		id, _ := e.newCaptcha(t)
		if r, _ := e.post(t, "/register", signupForm(id, "0", "x", pw), from("203.0.113."+strconv.Itoa(i+1))); r.StatusCode != 400 {
			t.Fatalf("wrong captcha: %d", r.StatusCode)
		}
	}
	for i, ip := range []string{"203.0.113.10", "2001:db8::10"} {
		id, ans := e.newCaptcha(t)
		if r, b := e.post(t, "/register", signupForm(id, ans, "user"+strconv.Itoa(i), pw), from(ip)); r.StatusCode != 200 {
			t.Fatalf("sign-up %d: %d\n%s", i, r.StatusCode, b)
		}
	}
	for _, ip := range []string{"203.0.113.11", "2001:db8:9::1"} {
		id, ans := e.storeCaptcha(t) // the form itself now says that sign-ups pause
		r, body := e.post(t, "/register", signupForm(id, ans, "late", pw), from(ip))
		want429(t, r, body, time.Hour, "Too many new accounts were created on this server in the last hour")
		r, body = getFrom(t, e.srv, "/register?lang=en", ip)
		want429(t, r, body, time.Hour, "Too many new accounts were created on this server in the last hour")
	}
	if n := e.created(); n != 2 {
		t.Errorf("%d accounts created, want 2", n)
	}
}

// TestOnionSignupBudget: onion requests share the onion budget whatever
// X-Forwarded-For says, and leave the clearnet budgets alone.
func TestOnionSignupBudget(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.OnionSignupsPerHour = 1; b.GlobalSignupsPerHour = 1 }), 0)
	const pw = "correct horse battery"
	post := func(srv *httptest.Server, user, ip string) (*http.Response, string) {
		id, ans := e.newCaptcha(t)
		old := e.srv
		e.srv = srv
		defer func() { e.srv = old }()
		return e.post(t, "/register", signupForm(id, ans, user, pw), from(ip))
	}
	if r, b := post(e.onion, "onion1", "192.0.2.1"); r.StatusCode != 200 {
		t.Fatalf("onion sign-up: %d\n%s", r.StatusCode, b)
	}
	r, body := post(e.onion, "onion2", "192.0.2.2")
	want429(t, r, body, time.Hour, "Too many sign-up attempts came over the onion service in the last hour")
	if r, b := post(e.srv, "clear1", "192.0.2.2"); r.StatusCode != 200 {
		t.Fatalf("clearnet sign-up after the onion budget ran out: %d\n%s", r.StatusCode, b)
	}
}

// TestCaptchaBudget: pictures and sounds count per client per minute.
func TestCaptchaBudget(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.CaptchasPerMinute = 2 }), 0)
	id, _ := e.newCaptcha(t)
	get := func(path, ip string) (*http.Response, string) { return getFrom(t, e.srv, path, ip) }
	for _, p := range []string{"/captcha/" + id + ".png", "/captcha/" + id + ".wav"} {
		if r, _ := get(p, "198.51.100.1"); r.StatusCode != 200 {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}
	r, body := get("/captcha/"+id+".png", "198.51.100.1")
	want429(t, r, body, time.Minute, "Too many captcha pictures or sounds (new forms, new pictures) were requested from your network in the last minute. Please come back in one minute.")
	if r, _ := get("/captcha/"+id+".png", "198.51.100.2"); r.StatusCode != 200 {
		t.Errorf("another client: %d", r.StatusCode)
	}
}

// TestStoreTroubleFailsClosed: an unreachable store gives the clear 503 page
// and creates nothing; a full memory store gives the "busy" 503 page.
func TestStoreTroubleFailsClosed(t *testing.T) {
	const pw = "correct horse battery"
	t.Run("unavailable", func(t *testing.T) {
		e := newLimitedEnv(t, budgets(func(*abuse.Budgets) {}), 0)
		id, ans := e.newCaptcha(t)
		e.st.Close()
		r, body := e.post(t, "/register", signupForm(id, ans, "dave", pw), nil)
		if r.StatusCode != 503 || !strings.Contains(body, "temporarily unavailable") {
			t.Fatalf("status %d:\n%s", r.StatusCode, body)
		}
		if r, _ := e.get(t, "/captcha/"+id+".png"); r.StatusCode != 503 {
			t.Errorf("captcha picture with the store down: %d", r.StatusCode)
		}
		if r, _ := e.get(t, "/"); r.StatusCode != 200 {
			t.Errorf("home page with the store down: %d", r.StatusCode)
		}
		if n := e.created(); n != 0 {
			t.Errorf("%d accounts created", n)
		}
	})
	t.Run("full", func(t *testing.T) {
		e := newLimitedEnv(t, budgets(func(*abuse.Budgets) {}), 5)
		id, ans := e.newCaptcha(t) // the captcha and the form load's budget keys
		// Fill the rest.
		for i := 0; ; i++ {
			err := e.st.Set(context.Background(), fmt.Sprintf("f%d", i), []byte("x"), time.Hour)
			if errors.Is(err, store.ErrFull) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r, body := e.post(t, "/register", signupForm(id, ans, "erin", pw), nil)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") != "60" || !strings.Contains(body, "The portal is very busy") {
			t.Fatalf("status %d, Retry-After %q:\n%s", r.StatusCode, r.Header.Get("Retry-After"), body)
		}
		if n := e.created(); n != 0 {
			t.Errorf("%d accounts created", n)
		}
	})
}

// getFrom sends GET path to srv as the client ip (X-Forwarded-For; ignored
// over the onion listener).
func getFrom(t *testing.T, srv *httptest.Server, path, ip string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

// TestOnionCaptchaFloodLeavesClearnet (hardening hole 6): a flood of GET
// /register over the onion listener, three times the store's size, on a
// memory store of 200 keys. The onion flood is stopped at the onion captcha
// budget (429, never 503), so it never fills the store: clearnet visitors
// still get the form and can sign up.
func TestOnionCaptchaFloodLeavesClearnet(t *testing.T) {
	const maxKeys, onionBudget = 200, 20
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) { b.OnionCaptchasPerMinute = onionBudget }), maxKeys)
	status := map[int]int{}
	var refusal string
	for i := range 3 * maxKeys {
		r, body := getFrom(t, e.onion, "/register", "192.0.2."+strconv.Itoa(i%250+1))
		status[r.StatusCode]++
		if r.StatusCode == http.StatusTooManyRequests && refusal == "" {
			refusal = body
		}
	}
	t.Logf("onion flood: %v; store holds %d keys", status, e.mem.Len())

	// Clearnet is not affected: the form, and a whole sign-up.
	if r, body := getFrom(t, e.srv, "/register", "198.51.100.1"); r.StatusCode != 200 {
		t.Errorf("clearnet GET /register after the onion flood: %d\n%.300s", r.StatusCode, body)
	} else {
		id, ans := e.newCaptcha(t)
		if r, body := e.post(t, "/register", signupForm(id, ans, "afterflood", "correct horse battery"), from("198.51.100.2")); r.StatusCode != 200 {
			t.Errorf("clearnet sign-up after the onion flood: %d\n%.300s", r.StatusCode, body)
		}
	}

	// The flood got exactly the onion budget, and 429 pages for the rest.
	if status[200] != onionBudget || status[429] != 3*maxKeys-onionBudget {
		t.Errorf("onion flood answered %v, want %d x 200 and the rest 429", status, onionBudget)
	}
	if refusal != "" && !strings.Contains(refusal, "over the onion service") {
		t.Errorf("onion refusal does not name the onion service:\n%.500s", refusal)
	}
	if n := e.mem.Len(); n > maxKeys/4 {
		t.Errorf("the store holds %d keys after the onion flood, more than a quarter of %d", n, maxKeys)
	}
	// The German page, and the budget back after its window.
	r, body := getFrom(t, e.onion, "/register?lang=de", "")
	want429(t, r, body, time.Minute, "Über den Onion-Dienst wurden zu viele Captcha-Bilder oder -Töne angefordert.")
	e.clk.Advance(time.Minute)
	if r, _ := getFrom(t, e.onion, "/register", ""); r.StatusCode != 200 {
		t.Errorf("onion GET /register after the window: %d", r.StatusCode)
	}
}

// TestNetworkBudgetPage (hardening hole 7): the /64s of one IPv6 /48 share
// the /48's budget (here 2 clients' worth); over it, every /64 of the /48
// gets the 429 page of its budget ("from your network") and the wait, while
// another /48 goes on.
func TestNetworkBudgetPage(t *testing.T) {
	e := newLimitedEnv(t, budgets(func(b *abuse.Budgets) {
		b.CaptchasPerMinute, b.SignupsPerHour = 2, 1
		b.IPv6Factor56, b.IPv6Factor48 = 1, 2
	}), 0)
	for i := range 4 { // four /64s, each in a /56 of its own
		if r, body := getFrom(t, e.srv, "/register", fmt.Sprintf("2001:db8:48:%x::1", i<<8)); r.StatusCode != 200 {
			t.Fatalf("/64 number %d: %d\n%.300s", i, r.StatusCode, body)
		}
	}
	e.clk.Advance(15 * time.Second)
	r, body := getFrom(t, e.srv, "/register", "2001:db8:48:ff00::1")
	want429(t, r, body, 45*time.Second, "Too many captcha pictures or sounds (new forms, new pictures) were requested from your network in the last minute. Please come back in less than a minute.")
	if r, _ := getFrom(t, e.srv, "/register", "2001:db8:49::1"); r.StatusCode != 200 {
		t.Errorf("another /48: %d", r.StatusCode)
	}
	// Sign-ups: two /64s of the /48, then the /48 is out for the hour.
	const pw = "correct horse battery"
	for i, ip := range []string{"2001:db8:50:100::1", "2001:db8:50:200::1", "2001:db8:50:300::1"} {
		_, form := getFrom(t, e.srv, "/register", "192.0.2."+strconv.Itoa(i+1)) // the form from elsewhere
		m := captchaIDRe.FindStringSubmatch(form)
		if m == nil {
			t.Fatalf("no captcha in the form:\n%.300s", form)
		}
		id := m[1]
		ans, err := testenv.CaptchaAnswer(e.st)(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		r, body := e.post(t, "/register", signupForm(id, ans, "net"+strconv.Itoa(i), pw), from(ip))
		if i < 2 && r.StatusCode != 200 {
			t.Fatalf("sign-up %d: %d\n%.300s", i, r.StatusCode, body)
		}
		if i == 2 {
			want429(t, r, body, time.Hour, "Too many sign-up attempts came from your network in the last hour: every account created and every form sent with wrong digits counts. Please come back in 60 minutes.")
		}
	}
	// Neither the store nor the log holds the addresses or their networks.
	var dump bytes.Buffer
	e.mem.ForEach(func(k string, v []byte, _ time.Duration) { fmt.Fprintf(&dump, "%s\x00%s\x00", k, v) })
	if !strings.Contains(dump.String(), "rl:captcha/48:") || !strings.Contains(dump.String(), "rl:signup/56:") {
		t.Fatalf("no network counters in the store: the scan would prove nothing\n%q", dump.String())
	}
	for _, probe := range []string{"x 2001:DB8:48:FF00::1 y", "k:20010DB80048\x00", "2001:db8:48::/48", "\x38\x20\x01\x0d\xb8\x00\x48\xff"} {
		if len(findV6([]byte(probe), "2001:db8:48:ff00::1")) == 0 {
			t.Fatalf("the scan misses %q", probe)
		}
	}
	for where, data := range map[string][]byte{"store": dump.Bytes(), "log": []byte(e.logs.String())} {
		for _, f := range findV6(data, "2001:db8:48:ff00::1", "2001:db8:50:300::1") {
			t.Errorf("%s holds %s", where, f)
		}
	}
}

// findV6 names the forms of the IPv6 addresses ips, or of their /64, /56 and
// /48 networks, found in data: text, raw bytes (bare and after the key's tag
// byte), hex, base64.
func findV6(data []byte, ips ...string) []string {
	var found []string
	lower := bytes.ToLower(data)
	for _, ip := range ips {
		a := netip.MustParseAddr(ip)
		b := a.As16()
		forms := map[string][]byte{"text": []byte(a.String()), "expanded": []byte(a.StringExpanded())}
		for _, n := range []int{16, 8, 7, 6} {
			for _, raw := range [][]byte{b[:n], append([]byte{6}, b[:n]...), append([]byte{byte(n * 8)}, b[:n]...)} {
				forms[fmt.Sprintf("/%d raw %x", n*8, raw)] = raw
				forms[fmt.Sprintf("/%d hex %x", n*8, raw)] = fmt.Appendf(nil, "%x", raw)
				forms[fmt.Sprintf("/%d base64 %x", n*8, raw)] = []byte(base64.RawStdEncoding.EncodeToString(raw))
				forms[fmt.Sprintf("/%d base64url %x", n*8, raw)] = []byte(base64.RawURLEncoding.EncodeToString(raw))
			}
			if n < 16 {
				forms[fmt.Sprintf("/%d text", n*8)] = []byte(netip.PrefixFrom(a, n*8).Masked().String())
				forms[fmt.Sprintf("/%d hextets", n*8)] = []byte(a.StringExpanded()[:n/2*5-1])
			}
		}
		for name, form := range forms {
			if bytes.Contains(data, form) || bytes.Contains(lower, bytes.ToLower(form)) {
				found = append(found, ip+" as "+name)
			}
		}
	}
	return found
}
