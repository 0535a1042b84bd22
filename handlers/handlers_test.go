package handlers_test

import (
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// fakeProvisioner records creations; failWith makes Create fail.
type fakeProvisioner struct {
	mu       sync.Mutex
	created  map[string]string
	failWith error
	calls    int
}

func (f *fakeProvisioner) Create(ctx context.Context, local, pw string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failWith != nil {
		return f.failWith
	}
	if _, ok := f.created[local]; ok {
		return &xmpp.Error{Kind: xmpp.Conflict, Condition: "conflict"}
	}
	f.created[local] = pw
	return nil
}
func (f *fakeProvisioner) Close() error { return nil }

// attempts is the number of accounts the handler tried to create.
func (f *fakeProvisioner) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type env struct {
	srv  *httptest.Server
	st   store.Store
	caps *captchastore.Captchas
	prov *fakeProvisioner
	logs *testenv.LockedBuffer
}

// newEnv is the sign-up portal of example.test (handlers.UnitDeps) with
// captchas on a memory store and a fake provisioner.
func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open("memory", "", "test:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	caps := handlers.UnitCaptchas(st)
	prov := &fakeProvisioner{created: map[string]string{}}
	d, logs := handlers.UnitDeps(t)
	d.Captchas, d.Signup = caps, prov
	return &env{srv: serveDeps(t, d), st: st, caps: caps, prov: prov, logs: logs}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *env) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) post(t *testing.T, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var captchaIDRe = regexp.MustCompile(`name="captcha_id" value="([^"]+)"`)

// newCaptcha loads the form and returns its captcha id and the answer, read
// from the store the test owns.
func (e *env) newCaptcha(t *testing.T) (id, answer string) {
	t.Helper()
	_, body := e.get(t, "/register")
	m := captchaIDRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no captcha id in form:\n%s", body)
	}
	ans, err := testenv.CaptchaAnswer(e.st)(context.Background(), m[1])
	if err != nil {
		t.Fatalf("peek captcha: %v", err)
	}
	return m[1], ans
}

func signupForm(id, answer, user, pw string) url.Values {
	return url.Values{"captcha_id": {id}, "captcha": {answer}, "username": {user}, "password": {pw}, "password2": {pw}, "lang": {"en"}}
}

func TestSignupSuccess(t *testing.T) {
	e := newEnv(t)
	id, ans := e.newCaptcha(t)
	resp, body := e.post(t, "/register", signupForm(id, ans, "Alice", "correct horse battery"), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "alice@example.test") {
		t.Fatalf("status %d, body:\n%s", resp.StatusCode, body)
	}
	// Without result links the page answers the form itself, with its QR
	// code inline; it says how to sign in rather than linking the address
	// (in an app with an account, xmpp:<own address> opens a chat with
	// oneself).
	if !strings.Contains(body, "<svg") || !strings.Contains(body, "Messages are kept for 7 days.") || !strings.Contains(body, `href="https://conversations.im/"`) ||
		!strings.Contains(body, "I already have an account") {
		t.Errorf("success page lacks QR, storage note, apps or how to sign in")
	}
	if strings.Contains(body, `href="xmpp:`) {
		t.Errorf("the success page links the bare address")
	}
	if e.prov.created["alice"] != "correct horse battery" {
		t.Errorf("account not created: %v", e.prov.created)
	}
}

func TestSignupRefusals(t *testing.T) {
	tests := []struct {
		name     string
		form     func(id, ans string) url.Values
		status   int
		contains string
	}{
		{"no captcha fields", func(id, ans string) url.Values {
			return url.Values{"username": {"bob"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}
		}, 400, "Please type the digits"},
		{"empty captcha answer", func(id, ans string) url.Values { return signupForm(id, "", "bob", "correct horse battery") }, 400, "Please type the digits"},
		{"captcha id missing", func(id, ans string) url.Values { return signupForm("", ans, "bob", "correct horse battery") }, 400, "Please type the digits"},
		{"wrong captcha", func(id, ans string) url.Values { return signupForm(id, "000000x", "bob", "correct horse battery") }, 400, "digits were wrong"},
		{"unknown captcha id", func(id, ans string) url.Values { return signupForm("nosuchid", ans, "bob", "correct horse battery") }, 400, "digits were wrong"},
		{"reserved name", func(id, ans string) url.Values { return signupForm(id, ans, "admin", "correct horse battery") }, 422, "field-error"},
		{"bad name", func(id, ans string) url.Values { return signupForm(id, ans, "bad user", "correct horse battery") }, 422, "field-error"},
		{"short password", func(id, ans string) url.Values { return signupForm(id, ans, "bob", "short") }, 422, "field-error"},
		{"common password", func(id, ans string) url.Values { return signupForm(id, ans, "bob", "password123") }, 422, "field-error"},
		{"mismatch", func(id, ans string) url.Values {
			f := signupForm(id, ans, "bob", "correct horse battery")
			f.Set("password2", "correct horse battery!")
			return f
		}, 422, "field-error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id, ans := e.newCaptcha(t)
			resp, body := e.post(t, "/register", tc.form(id, ans), nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("status %d (want %d), want %q in:\n%s", resp.StatusCode, tc.status, tc.contains, body)
			}
			if len(e.prov.created) != 0 {
				t.Errorf("account created despite refusal: %v", e.prov.created)
			}
			if strings.Contains(body, "correct horse battery") {
				t.Errorf("password re-filled into the page")
			}
		})
	}
}

func TestCaptchaSingleUse(t *testing.T) {
	e := newEnv(t)
	id, ans := e.newCaptcha(t)
	resp, _ := e.post(t, "/register", signupForm(id, ans, "carol", "correct horse battery"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	resp, body := e.post(t, "/register", signupForm(id, ans, "dave", "correct horse battery"), nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "digits were wrong") {
		t.Fatalf("replayed captcha accepted: %d", resp.StatusCode)
	}
	// A wrong answer consumes the captcha too: the right one afterwards fails.
	id, ans = e.newCaptcha(t)
	e.post(t, "/register", signupForm(id, "1", "erin", "correct horse battery"), nil)
	resp, _ = e.post(t, "/register", signupForm(id, ans, "erin", "correct horse battery"), nil)
	if resp.StatusCode != 400 {
		t.Fatalf("captcha usable after a wrong answer: %d", resp.StatusCode)
	}
	if _, ok := e.prov.created["dave"]; ok {
		t.Error("replay created an account")
	}
	if _, ok := e.prov.created["erin"]; ok {
		t.Error("second try created an account")
	}
}

func TestProvisionErrorsAreExplained(t *testing.T) {
	tests := []struct {
		kind     xmpp.Kind
		status   int
		contains string
	}{
		{xmpp.Conflict, 409, "already taken"},
		{xmpp.InvalidName, 422, "does not accept this name"},
		{xmpp.PasswordPolicy, 422, "too weak"},
		{xmpp.Throttled, 429, "too many sign-ups"},
		{xmpp.NotAllowed, 403, "does not allow new accounts"},
		{xmpp.Unavailable, 503, "cannot be reached"},
		{xmpp.Unknown, 502, "reason: undefined-condition"},
	}
	for _, tc := range tests {
		t.Run(tc.contains, func(t *testing.T) {
			e := newEnv(t)
			e.prov.failWith = &xmpp.Error{Kind: tc.kind, Condition: "undefined-condition"}
			id, ans := e.newCaptcha(t)
			resp, body := e.post(t, "/register", signupForm(id, ans, "frank", "correct horse battery"), nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("status %d (want %d), want %q in:\n%s", resp.StatusCode, tc.status, tc.contains, body)
			}
			if strings.Contains(strings.ToLower(body), "something went wrong") {
				t.Error("vague message")
			}
		})
	}
}

func TestCrossSitePostRefused(t *testing.T) {
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"sec-fetch-site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"sec-fetch-site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"no headers (non-browser)", nil, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id, ans := e.newCaptcha(t)
			resp, body := e.post(t, "/register", signupForm(id, ans, "gina", "correct horse battery"), tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 403 {
				if len(e.prov.created) != 0 {
					t.Error("cross-site POST created an account")
				}
				if !strings.Contains(body, "another web site") {
					t.Errorf("no clear message:\n%s", body)
				}
			}
		})
	}
}

func TestOversizedBodyRefused(t *testing.T) {
	e := newEnv(t)
	id, ans := e.newCaptcha(t)
	f := signupForm(id, ans, "hank", "correct horse battery")
	f.Set("filler", strings.Repeat("x", 20<<10))
	resp, body := e.post(t, "/register", f, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "more data than") {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	// Chunked body without a Content-Length is cut as well.
	req, _ := http.NewRequest("POST", e.srv.URL+"/register", io.MultiReader(strings.NewReader(f.Encode())))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: %d", r2.StatusCode)
	}
	if len(e.prov.created) != 0 {
		t.Error("account created")
	}
}

var (
	scriptRe = regexp.MustCompile(`(?i)<script|javascript:|\son[a-z]+\s*=`)
	// loadAttrRe finds the URLs a page makes the browser load or send to
	// (with linkHrefRe, a <link>'s href); an <a href> is a link the
	// visitor may follow, which loads nothing (the recommended apps'
	// pages).
	loadAttrRe = regexp.MustCompile(`(?i)\s(?:src|action|formaction|srcset|poster|data)\s*=\s*"([^"]*)"`)
	linkHrefRe = regexp.MustCompile(`(?i)<link\b[^>]*\shref\s*=\s*"([^"]*)"`)
	absoluteRe = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+`)
)

// loadedURLs are the URLs body makes a browser load or send to.
func loadedURLs(body string) []string {
	var out []string
	for _, re := range []*regexp.Regexp{loadAttrRe, linkHrefRe} {
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestPagesArePrivate visits every page in both languages and after a
// failed and a successful sign-up: no script, nothing loaded from another
// host (plain links the visitor may follow are allowed), no cookie, and the
// security headers.
func TestPagesArePrivate(t *testing.T) {
	e := newEnv(t)
	type page struct {
		name string
		resp *http.Response
		body string
	}
	var pages []page
	for _, p := range []string{"/", "/register", "/account", "/password", "/export", "/delete", "/nope", "/?lang=de", "/register?lang=de", "/account?lang=de"} {
		r, b := e.get(t, p)
		pages = append(pages, page{p, r, b})
	}
	id, ans := e.newCaptcha(t)
	r, b := e.post(t, "/register", signupForm(id, "999", "ivy", "correct horse battery"), nil)
	pages = append(pages, page{"POST bad captcha", r, b})
	id, ans = e.newCaptcha(t)
	r, b = e.post(t, "/register", signupForm(id, ans, "ivy", "correct horse battery"), nil)
	pages = append(pages, page{"POST success", r, b})
	r, b = e.post(t, "/register", url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	pages = append(pages, page{"POST cross-site", r, b})

	for _, p := range pages {
		if scriptRe.MatchString(p.body) {
			t.Errorf("%s: contains script: %s", p.name, scriptRe.FindString(p.body))
		}
		for _, u := range loadedURLs(p.body) {
			if absoluteRe.MatchString(u) {
				t.Errorf("%s: loads from another host: %q", p.name, u)
			}
		}
		if c := p.resp.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("%s: sets a cookie: %v", p.name, c)
		}
		csp := p.resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p.name, csp, want)
			}
		}
		if strings.Contains(csp, "script-src") && !strings.Contains(csp, "script-src 'none'") {
			t.Errorf("%s: CSP allows scripts", p.name)
		}
		if p.resp.Header.Get("Referrer-Policy") != "no-referrer" || p.resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: missing security headers", p.name)
		}
	}
	if pages[6].resp.StatusCode != 404 {
		t.Errorf("/nope: %d", pages[6].resp.StatusCode)
	}
	if !strings.Contains(pages[7].body, `lang="de"`) || !strings.Contains(pages[7].body, "Konto anlegen") {
		t.Error("German page not rendered in German")
	}
	// The logs name no address and no username at info level.
	logs := e.logs.String()
	if strings.Contains(logs, "127.0.0.1") {
		t.Errorf("logs contain the client address:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=INFO") && strings.Contains(line, "ivy") {
			t.Errorf("username at info level: %s", line)
		}
		if strings.Contains(line, "correct horse battery") {
			t.Errorf("password in logs: %s", line)
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		accept, query, want string
	}{
		{"de-DE,de;q=0.9", "", "de"},
		{"fr-FR", "", "en"},
		{"", "", "en"},
		{"de", "en", "en"},
		{"en", "de", "de"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", e.srv.URL+"/?lang="+tc.query, nil)
		if tc.query == "" {
			req, _ = http.NewRequest("GET", e.srv.URL+"/", nil)
		}
		if tc.accept != "" {
			req.Header.Set("Accept-Language", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Language"); got != tc.want {
			t.Errorf("Accept-Language %q, ?lang=%q: got %q, want %q", tc.accept, tc.query, got, tc.want)
		}
	}
}

// TestCaptchaLabelSaysDigits: the answer field's label says how many digits
// to type, in both languages, on a fresh form and on a refused one.
func TestCaptchaLabelSaysDigits(t *testing.T) {
	e := newEnv(t)
	for lang, want := range map[string]string{"en": "The 6 digits in the picture", "de": "Die 6 Ziffern im Bild"} {
		_, body := e.get(t, "/register?lang="+lang)
		if !strings.Contains(body, `<label for="captcha">`+want+`</label>`) {
			t.Errorf("%s: the fresh form's label does not say %q", lang, want)
		}
	}
	id, _ := e.newCaptcha(t)
	_, body := e.post(t, "/register", signupForm(id, "000000", "Alice", "correct horse battery"), nil)
	if !strings.Contains(body, `<label for="captcha">The 6 digits in the picture</label>`) {
		t.Errorf("the refused form's label does not say how many digits")
	}
}

func TestCaptchaMedia(t *testing.T) {
	e := newEnv(t)
	id, _ := e.newCaptcha(t)
	for ext, sig := range map[string]string{"png": "\x89PNG", "wav": "RIFF"} {
		resp, body := e.get(t, "/captcha/"+id+"."+ext)
		if resp.StatusCode != 200 || !strings.HasPrefix(body, sig) {
			t.Errorf("%s: status %d", ext, resp.StatusCode)
		}
		if ext == "png" {
			// The picture the frame's <img width="300" height="100"> shows.
			img, err := png.Decode(strings.NewReader(body))
			if err != nil || img.Bounds().Dx() != captchastore.ImageWidth || img.Bounds().Dy() != captchastore.ImageHeight {
				t.Errorf("png: %v, %v", err, img)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
				t.Errorf("png: Content-Type %q", ct)
			}
		}
	}
	// The pooled response buffers: every answer is whole, none mixes another's bytes.
	first, _ := e.get(t, "/captcha/"+id+".png")
	_, a := e.get(t, "/captcha/"+id+".png")
	wav, _ := e.get(t, "/captcha/"+id+".wav")
	_, b := e.get(t, "/captcha/"+id+".png")
	if a != b || first.StatusCode != 200 || wav.StatusCode != 200 {
		t.Error("the same captcha's picture changed between requests")
	}
	if resp, _ := e.get(t, "/captcha/unknown.png"); resp.StatusCode != 404 {
		t.Errorf("unknown captcha: %d", resp.StatusCode)
	}
	// Fetching the media does not consume the captcha.
	if _, err := testenv.CaptchaAnswer(e.st)(context.Background(), id); err != nil {
		t.Errorf("captcha gone after fetching its image: %v", err)
	}
}
