package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/qrsvg"
	"github.com/xmpp-portal/portal/internal/resultlink"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// The sign-up flow as it runs in the portal: passes for solved captchas,
// result pages behind redirects, the captcha's frame and the budgets.

// flowEnv is env with passes and result links, on a memory store and a
// handler that share one fake clock, and a limiter when budgets are given.
type flowEnv struct {
	*env
	clk *testenv.FakeClock
	mem *store.Memory
}

// newFlowEnv's options change the Deps; they get the env's store.
func newFlowEnv(t *testing.T, opts ...func(*handlers.Deps, *store.Memory)) *flowEnv {
	t.Helper()
	clk := testenv.NewFakeClock(time.Unix(1_900_000_000, 0))
	st := store.NewMemory(store.MemoryOptions{SweepInterval: -1, Now: clk.Now})
	t.Cleanup(func() { st.Close() })
	caps := handlers.UnitCaptchas(st)
	prov := &fakeProvisioner{created: map[string]string{}}
	d, logs := handlers.UnitDeps(t, withClock(clk))
	d.Captchas, d.Signup = caps, prov
	d.Passes = captchastore.NewPasses(st, captchastore.PassOptions{TTL: time.Minute, Now: clk.Now})
	d.Links = resultlink.New(st, resultlink.Options{Now: clk.Now})
	for _, o := range opts {
		o(&d, st)
	}
	return &flowEnv{env: &env{srv: serveDeps(t, d), st: st, caps: caps, prov: prov, logs: logs}, clk: clk, mem: st}
}

var passRe = regexp.MustCompile(`name="pass" value="([^"]+)"`)

// passOf returns the pass token of a form page, "" for none.
func passOf(body string) string {
	if m := passRe.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

func passForm(pass, user, pw, pw2 string) url.Values {
	return url.Values{"pass": {pass}, "username": {user}, "password": {pw}, "password2": {pw2}, "lang": {"en"}}
}

const flowPW = "correct horse battery"

// TestSignupAllErrorsAtOnce: one answer reports every problem of the form
// (name, password, repetition, captcha), each tied to its field and listed
// in a summary above the form that links to it; nothing is asked of the
// server before a captcha is solved.
func TestSignupAllErrorsAtOnce(t *testing.T) {
	e := newFlowEnv(t)
	id, _ := e.newCaptcha(t)
	form := signupForm(id, "000000x", "admin", "short")
	form.Set("password2", "shirt")
	resp, body := e.post(t, "/register", form, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "<title>Error: Sign up") {
		t.Error(`the title does not start with "Error:"`)
	}
	summary := body[strings.Index(body, `id="problems"`):strings.Index(body, "<form")]
	for field, msg := range map[string]string{
		"username": "This username is reserved", "password": "at least 10 characters",
		"password2": "do not match", "captcha": "The digits were wrong",
	} {
		if !regexp.MustCompile(`<a href="#` + field + `">[^<]*` + regexp.QuoteMeta(msg)).MatchString(summary) {
			t.Errorf("the summary lacks a link to #%s with %q:\n%s", field, msg, summary)
		}
		if !strings.Contains(body, `id="`+field+`-error"`) {
			t.Errorf("no refusal tied to #%s", field)
		}
	}
	if n := e.prov.attempts(); n != 0 {
		t.Errorf("%d creation attempts before a solved captcha", n)
	}
	if passOf(body) != "" || !captchaIDRe.MatchString(body) {
		t.Error("a wrong captcha must give a new captcha, not a pass")
	}
}

// TestNoNameOracleBeforeCaptcha: whether a name is taken is said only after
// an account creation made with a solved captcha or a valid pass: never
// with a wrong, missing or expired one.
func TestNoNameOracleBeforeCaptcha(t *testing.T) {
	e := newFlowEnv(t)
	e.prov.created["taken"] = "x"
	id, _ := e.newCaptcha(t)
	forms := map[string]url.Values{
		"wrong captcha":   signupForm(id, "000000x", "taken", flowPW),
		"missing captcha": signupForm("", "", "taken", flowPW),
		"unknown pass":    passForm("AAAAAAAAAAAAAAAAAAAAAA", "taken", flowPW, flowPW),
		"bad pass":        passForm("not a pass", "taken", flowPW, flowPW),
	}
	for name, form := range forms {
		resp, body := e.post(t, "/register", form, nil)
		if resp.StatusCode != 400 || strings.Contains(body, "already taken") {
			t.Errorf("%s: status %d, the page tells whether the name is taken:\n%s", name, resp.StatusCode, body)
		}
	}
	if n := e.prov.attempts(); n != 0 {
		t.Errorf("%d creation attempts without a solved captcha", n)
	}
}

// TestSignupPassCarriesSolvedCaptcha: a captcha solved on a form that failed
// on another field becomes a pass. Fixing the password, picking another
// name after "taken" and fixing a mismatch cost no new picture; the account
// is created with the one captcha solved; the pass then serves no other
// account. Every try that created nothing gives the client's sign-up unit
// back, as a refusal after a solved captcha always did.
func TestSignupPassCarriesSolvedCaptcha(t *testing.T) {
	e := newFlowEnv(t)
	e.prov.created["taken"] = "x"
	id, ans := e.newCaptcha(t) // the only captcha solved in this test
	resp, body := e.post(t, "/register", signupForm(id, ans, "newcomer", "short"), nil)
	pass := passOf(body)
	if resp.StatusCode != 422 || pass == "" || captchaIDRe.MatchString(body) || strings.Contains(body, "<iframe") {
		t.Fatalf("solved captcha, short password: status %d, pass %q; want 422 with a pass and no captcha:\n%s", resp.StatusCode, pass, body)
	}
	if !strings.Contains(body, "no new picture is needed") {
		t.Error("the form does not say that no new picture is needed")
	}
	steps := []struct {
		name     string
		form     url.Values
		status   int
		contains string
	}{
		{"taken name", passForm(pass, "taken", flowPW, flowPW), 409, "already taken"},
		{"mismatch", passForm(pass, "newcomer", flowPW, flowPW+"!"), 422, "do not match"},
	}
	for _, s := range steps {
		resp, body = e.post(t, "/register", s.form, nil)
		if resp.StatusCode != s.status || !strings.Contains(body, s.contains) || passOf(body) != pass {
			t.Fatalf("%s: status %d, pass %q; want %d with %q and the same pass:\n%s", s.name, resp.StatusCode, passOf(body), s.status, s.contains, body)
		}
		if strings.Contains(body, flowPW) {
			t.Fatalf("%s: a password was put back into the page", s.name)
		}
	}
	resp, body = e.post(t, "/register", passForm(pass, "Newcomer", flowPW, flowPW), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.HasPrefix(loc, "/welcome?") {
		t.Fatalf("valid form with the pass: status %d, Location %q:\n%s", resp.StatusCode, loc, body)
	}
	if e.prov.created["newcomer"] != flowPW {
		t.Fatalf("account not created: %v", e.prov.created)
	}
	// Single use for one account creation.
	resp, body = e.post(t, "/register", passForm(pass, "second", flowPW, flowPW), nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "needs a new picture") || !captchaIDRe.MatchString(body) {
		t.Fatalf("the pass after its account: status %d:\n%s", resp.StatusCode, body)
	}
	if _, ok := e.prov.created["second"]; ok {
		t.Fatal("a second account with one pass")
	}
}

// TestSignupPassBudget: a pass keeps the meaning of the sign-up budgets: a
// wrong captcha costs the client a unit, every try after a solved captcha
// that creates nothing gives its unit back, a created account keeps it.
func TestSignupPassBudget(t *testing.T) {
	clk := testenv.NewFakeClock(time.Unix(1_900_000_000, 0))
	st := store.NewMemory(store.MemoryOptions{SweepInterval: -1, Now: clk.Now})
	t.Cleanup(func() { st.Close() })
	prov := &fakeProvisioner{created: map[string]string{"taken": "x"}}
	d, logs := handlers.UnitDeps(t, withClock(clk))
	d.Captchas, d.Signup = handlers.UnitCaptchas(st), prov
	d.Passes = captchastore.NewPasses(st, captchastore.PassOptions{Now: clk.Now})
	d.Links = resultlink.New(st, resultlink.Options{Now: clk.Now})
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 2 }),
		TrustedProxies: []string{"127.0.0.1"}, Log: d.Log, Now: clk.Now})
	e := &env{srv: serveDeps(t, d), st: st, caps: d.Captchas.(*captchastore.Captchas), prov: prov, logs: logs}
	const ip = "198.51.100.7"
	post := func(form url.Values) (*http.Response, string) { return e.post(t, "/register", form, from(ip)) }

	id, _ := e.newCaptcha(t)
	if r, _ := post(signupForm(id, "000000x", "x", flowPW)); r.StatusCode != 400 { // one unit, kept
		t.Fatalf("wrong captcha: %d", r.StatusCode)
	}
	id, ans := e.newCaptcha(t)
	r, body := post(signupForm(id, ans, "newcomer", "short")) // given back
	pass := passOf(body)
	for i, f := range []url.Values{
		passForm(pass, "taken", flowPW, flowPW),          // given back
		passForm(pass, "newcomer", flowPW, "mismatch!!"), // given back
	} {
		if r, body = post(f); r.StatusCode >= 500 || r.StatusCode == 429 || passOf(body) != pass {
			t.Fatalf("try %d with the pass: %d\n%s", i, r.StatusCode, body)
		}
	}
	if r, body = post(passForm(pass, "newcomer", flowPW, flowPW)); r.StatusCode != 303 { // kept: the second unit
		t.Fatalf("sign-up: %d\n%s", r.StatusCode, body)
	}
	// The budget is spent: the form itself says so, naming what was counted.
	r, body = getFrom(t, e.srv, "/register?lang=en", ip)
	want429(t, r, body, time.Hour, "Too many sign-up attempts came from your network in the last hour")
	if strings.Contains(body, "captcha_id") {
		t.Error("the 429 page offers a captcha")
	}
	if r, _ := getFrom(t, e.srv, "/register", "198.51.100.8"); r.StatusCode != 200 {
		t.Errorf("another client: %d", r.StatusCode)
	}
}

// TestSignupLastUnitSaysSo: when a wrong captcha used the client's last
// sign-up unit, the answer is the 429 page, not a new captcha that would be
// refused.
func TestSignupLastUnitSaysSo(t *testing.T) {
	e := newFlowEnv(t)
	st := store.NewMemory(store.MemoryOptions{SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	d, _ := handlers.UnitDeps(t)
	caps := handlers.UnitCaptchas(st)
	d.Captchas, d.Signup = caps, e.prov
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(b *abuse.Budgets) { b.SignupsPerHour = 2 }), TrustedProxies: []string{"127.0.0.1"}, Log: d.Log})
	e.env = &env{srv: serveDeps(t, d), st: st, caps: caps, prov: e.prov}
	for i, want := range []int{400, 429} {
		id, _ := e.storeCaptcha(t)
		r, body := e.post(t, "/register", signupForm(id, "000000x", "x", flowPW), from("198.51.100.9"))
		if r.StatusCode != want {
			t.Fatalf("wrong captcha %d: status %d, want %d:\n%s", i+1, r.StatusCode, want, body)
		}
	}
}

// TestSignupPassEnds: a pass serves a few tries for a few minutes; then the
// form asks for a new picture (with a captcha in it), and says why.
func TestSignupPassEnds(t *testing.T) {
	t.Run("tries", func(t *testing.T) {
		e := newFlowEnv(t)
		id, ans := e.newCaptcha(t)
		_, body := e.post(t, "/register", signupForm(id, ans, "newcomer", "short"), nil)
		pass := passOf(body)
		for i := 1; i <= captchastore.DefaultPassTries; i++ {
			r, body := e.post(t, "/register", passForm(pass, "newcomer", "short", "short"), nil)
			last := i == captchastore.DefaultPassTries
			if r.StatusCode != 422 || (passOf(body) != "") == last || captchaIDRe.MatchString(body) != last {
				t.Fatalf("try %d of %d: status %d, pass %q:\n%s", i, captchastore.DefaultPassTries, r.StatusCode, passOf(body), body)
			}
		}
		r, body := e.post(t, "/register", passForm(pass, "newcomer", flowPW, flowPW), nil)
		if r.StatusCode != 400 || !strings.Contains(body, "needs a new picture") || len(e.prov.created) != 0 {
			t.Fatalf("a used-up pass: status %d:\n%s", r.StatusCode, body)
		}
	})
	t.Run("time", func(t *testing.T) {
		e := newFlowEnv(t)
		id, ans := e.newCaptcha(t)
		_, body := e.post(t, "/register", signupForm(id, ans, "newcomer", "short"), nil)
		pass := passOf(body)
		e.clk.Advance(time.Minute) // the env's pass TTL
		r, body := e.post(t, "/register", passForm(pass, "newcomer", flowPW, flowPW), nil)
		if r.StatusCode != 400 || !strings.Contains(body, "needs a new picture") || !captchaIDRe.MatchString(body) || len(e.prov.created) != 0 {
			t.Fatalf("an expired pass: status %d:\n%s", r.StatusCode, body)
		}
	})
}

var locationTokenRe = regexp.MustCompile(`[?&]t=([A-Za-z0-9_-]+)`)

// TestResultPagesAfterRedirect: a sign-up lands (303) on its result page,
// which shows the account again on every load (a reload, the back button, a
// restored tab), in the other language too, without a cookie and without
// the password or the address readable in the link; an expired link and a
// forged one get an honest page.
func TestResultPagesAfterRedirect(t *testing.T) {
	e := newFlowEnv(t)
	id, ans := e.newCaptcha(t)
	resp, _ := e.post(t, "/register", signupForm(id, ans, "Alice", flowPW), nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/welcome?") {
		t.Fatalf("status %d, Location %q", resp.StatusCode, loc)
	}
	if strings.Contains(strings.ToLower(loc), "alice") || strings.Contains(loc, "horse") {
		t.Errorf("the link names the account or the password: %s", loc)
	}
	token := locationTokenRe.FindStringSubmatch(loc)[1]
	for i := range 3 {
		r, body := e.get(t, loc)
		// The QR code is a PNG from the page's own link (it shows with SVG
		// off, as in Tor Browser's "Safest").
		if r.StatusCode != 200 || !strings.Contains(body, "Your account is ready") || !strings.Contains(body, `<img class="qr" src="/welcome/qr.png?t=`+token+`"`) || strings.Contains(body, "<svg") {
			t.Fatalf("load %d of the result page: %d\n%s", i+1, r.StatusCode, body)
		}
		if c := r.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("the result page sets a cookie: %v", c)
		}
		if strings.Contains(body, flowPW) {
			t.Error("the password is in the result page")
		}
	}
	// The QR code's PNG, from the page's link: the address, as a picture
	// every browser shows; never kept by a cache.
	r, png := e.get(t, "/welcome/qr.png?t="+token)
	if want, _ := qrsvg.PNG("xmpp:alice@example.test", 8); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" ||
		r.Header.Get("Cache-Control") != "no-store" || png != string(want) {
		t.Errorf("the QR code's PNG: %d %q %q, %d bytes", r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"), len(png))
	}
	// The language link stays on the page.
	_, body := e.get(t, loc)
	if !strings.Contains(body, `href="/welcome?lang=de&amp;t=`+token+`"`) {
		t.Errorf("the language link leaves the result page:\n%s", body)
	}
	if r, body := e.get(t, "/welcome?lang=de&t="+token); r.StatusCode != 200 || !strings.Contains(body, "alice@example.test") || !strings.Contains(body, `lang="de"`) {
		t.Errorf("the result page in German: %d\n%s", r.StatusCode, body)
	}
	// Forged, changed, of another page, missing.
	flip := []byte(token)
	flip[len(flip)/2] ^= 1
	for name, path := range map[string]string{
		"changed":    "/welcome?t=" + string(flip),
		"other page": "/password/done?t=" + token,
		"garbage":    "/welcome?t=%3Cscript%3E",
		"missing":    "/welcome",
		"long":       "/welcome?t=" + strings.Repeat("A", 10000),
	} {
		r, body := e.get(t, path+"&lang=en")
		if name == "missing" {
			r, body = e.get(t, path+"?lang=en")
		}
		if r.StatusCode != 400 || !strings.Contains(body, "This link is not valid") || strings.Contains(body, "alice") {
			t.Errorf("%s link: %d\n%s", name, r.StatusCode, body)
		}
		if name != "missing" && name != "other page" {
			if r, _ := e.get(t, strings.Replace(path, "/welcome?", "/welcome/qr.png?", 1)); r.StatusCode != 400 {
				t.Errorf("%s link's QR code: %d", name, r.StatusCode)
			}
		}
	}
	// A day later.
	e.clk.Advance(24 * time.Hour)
	if r, body := e.get(t, loc); r.StatusCode != 410 || !strings.Contains(body, "This page has expired") || strings.Contains(body, "alice") {
		t.Errorf("the link after a day: %d\n%s", r.StatusCode, body)
	}
	if r, _ := e.get(t, "/welcome/qr.png?t="+token); r.StatusCode != 410 {
		t.Errorf("the QR code after a day: %d", r.StatusCode)
	}
}

// TestManageResultPagesAfterRedirect: a password change and a deletion land
// on their result pages too, which a reload shows again.
func TestManageResultPagesAfterRedirect(t *testing.T) {
	st := newMem(t, 10_000)
	clock := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	accts := &fakeAccounts{clock: clock, users: map[string]string{"bob": goodPW}}
	d, logs := handlers.UnitDeps(t, withClock(clock))
	d.Captchas, d.Signup = handlers.UnitCaptchas(st), &fakeProvisioner{created: map[string]string{}}
	d.Accounts, d.Regulator = accts, abuse.NewRegulator(st, abuse.RegulatorOptions{Now: clock.Now})
	d.Links = resultlink.New(st, resultlink.Options{Now: clock.Now})
	e := &env{srv: serveDeps(t, d), st: st, logs: logs}
	for _, step := range []struct {
		path, done, text string
		form             url.Values
	}{
		{"/password", "/password/done?", "Your password has been changed", passwordForm("bob", goodPW, newPW)},
		{"/delete", "/delete/done?", "Your chat account has been deleted", deleteForm("bob", newPW)},
	} {
		r, body := e.post(t, step.path, step.form, nil)
		loc := r.Header.Get("Location")
		if r.StatusCode != 303 || !strings.HasPrefix(loc, step.done) {
			t.Fatalf("%s: status %d, Location %q\n%s", step.path, r.StatusCode, loc, body)
		}
		for range 2 {
			if r, body = e.get(t, loc); r.StatusCode != 200 || !strings.Contains(body, step.text) || !strings.Contains(body, "bob@example.test") {
				t.Fatalf("%s: the result page: %d\n%s", step.path, r.StatusCode, body)
			}
		}
	}
	if accts.has("bob") {
		t.Error("bob not deleted")
	}
}

// TestCaptchaFrame: the picture, its sound and "new picture" live in a page
// of their own that only the portal may frame; the sign-up form frames it
// and allows no other frame; "new picture" gives the same captcha id new
// digits (the form's hidden id stays right) and costs a captcha unit.
func TestCaptchaFrame(t *testing.T) {
	e := newFlowEnv(t)
	resp, body := e.get(t, "/register?lang=en")
	id := captchaIDRe.FindStringSubmatch(body)[1]
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("the form's CSP: %q", csp)
	}
	if !strings.Contains(body, `<iframe src="/register/picture/`+id+`?lang=en"`) || !strings.Contains(body, `href="/captcha/`+id+`.wav?lang=en" download`) {
		t.Fatalf("the form lacks the frame or the sound's link:\n%s", body)
	}
	resp, frame := e.get(t, "/register/picture/"+id+"?lang=en")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("X-Frame-Options") != "SAMEORIGIN" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'self'") ||
		strings.Contains(h.Get("Content-Security-Policy"), "frame-src") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("frame: status %d, headers %v", resp.StatusCode, h)
	}
	for _, want := range []string{`<img src="/captcha/` + id + `.png?v=`, `<audio controls preload="none" src="/captcha/` + id + `.wav?lang=en`,
		`<form method="post" action="/register/picture/` + id + `">`, "New picture"} {
		if !strings.Contains(frame, want) {
			t.Errorf("the frame lacks %q:\n%s", want, frame)
		}
	}
	if strings.Contains(frame, "<header") || strings.Contains(frame, "<footer") || scriptRe.MatchString(frame) {
		t.Errorf("the frame has the site's header or footer, or a script:\n%s", frame)
	}
	before, _ := testenv.CaptchaAnswer(e.st)(context.Background(), id)
	changed := false
	for range 5 { // new digits can be the old ones by chance (1 in 10^6 each)
		resp, body = e.post(t, "/register/picture/"+id, url.Values{"lang": {"en"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/register/picture/"+id+"?lang=en" {
			t.Fatalf("new picture: %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		after, err := testenv.CaptchaAnswer(e.st)(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			changed = true
			break
		}
	}
	if !changed {
		t.Fatal("new picture kept the digits")
	}
	// The form's hidden id is still the captcha: the new digits solve it.
	ans, _ := testenv.CaptchaAnswer(e.st)(context.Background(), id)
	if r, body := e.post(t, "/register", signupForm(id, ans, "framed", flowPW), nil); r.StatusCode != 303 {
		t.Fatalf("sign-up with the renewed captcha: %d\n%s", r.StatusCode, body)
	}
	// Refused: a cross-site post, an id that cannot be one.
	if r, _ := e.post(t, "/register/picture/"+id, url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.StatusCode != 403 {
		t.Errorf("cross-site new picture: %d", r.StatusCode)
	}
	for _, bad := range []string{"short", strings.Repeat("A", 21), "AAAAAAAAAAAAAAAAAAA-", strings.Repeat("A", 5000)} {
		if r, _ := e.get(t, "/register/picture/"+bad); r.StatusCode != 404 {
			t.Errorf("frame of %.30q: %d", bad, r.StatusCode)
		}
		if r, _ := e.post(t, "/register/picture/"+bad, url.Values{}, nil); r.StatusCode != 404 {
			t.Errorf("new picture of %.30q: %d", bad, r.StatusCode)
		}
	}
	// Every other page keeps refusing frames.
	for _, p := range []string{"/", "/welcome", "/captcha/" + id + ".png", "/password"} {
		r, _ := e.get(t, p)
		if r.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-src") {
			t.Errorf("%s: X-Frame-Options %q, CSP %q", p, r.Header.Get("X-Frame-Options"), r.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestCaptchaFrameBudget: a new picture costs a unit of the client's
// captcha budget; over it the frame itself says so (with the framing
// headers, so the browser shows it in the form).
func TestCaptchaFrameBudget(t *testing.T) {
	st := store.NewMemory(store.MemoryOptions{SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	d, _ := handlers.UnitDeps(t)
	caps := handlers.UnitCaptchas(st)
	d.Captchas, d.Signup = caps, &fakeProvisioner{created: map[string]string{}}
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(b *abuse.Budgets) { b.CaptchasPerMinute = 2 }), TrustedProxies: []string{"127.0.0.1"}, Log: d.Log})
	srv := serveDeps(t, d)
	id, err := caps.New()
	if err != nil {
		t.Fatal(err)
	}
	renew := func() (*http.Response, string) {
		t.Helper()
		return postFrom(t, srv, "/register/picture/"+id, url.Values{"lang": {"en"}}, "198.51.100.4")
	}
	for range 2 {
		if r, body := renew(); r.StatusCode != 303 {
			t.Fatalf("new picture: %d\n%s", r.StatusCode, body)
		}
	}
	r, body := renew()
	want429(t, r, body, time.Minute, "Too many captcha pictures or sounds")
	if r.Header.Get("X-Frame-Options") != "SAMEORIGIN" || !strings.Contains(body, `<img src="/captcha/`+id) || strings.Contains(body, "<header") {
		t.Errorf("the refusal is not the frame:\n%s", body)
	}
}

func postFrom(t *testing.T, srv *httptest.Server, path string, form url.Values, ip string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

// TestRegisterFormLetsBrowserHelp: the browser checks what it can before
// the form is sent (no novalidate; required fields; the password's minimum
// length; the username's pattern), so an empty form never reaches the
// server; with a pass the captcha is not asked for.
func TestRegisterFormLetsBrowserHelp(t *testing.T) {
	e := newFlowEnv(t)
	_, body := e.get(t, "/register?lang=en")
	if strings.Contains(body, "novalidate") {
		t.Error("the form still has novalidate")
	}
	inputs := map[string]*regexp.Regexp{
		"username":  regexp.MustCompile(`<input type="text" id="username"[^>]* pattern="[^"]+"[^>]* required`),
		"password":  regexp.MustCompile(`<input type="password" id="password"[^>]* maxlength="2048" minlength="10"[^>]* required`),
		"password2": regexp.MustCompile(`<input type="password" id="password2"[^>]* maxlength="2048" minlength="10"[^>]* required`),
		"captcha":   regexp.MustCompile(`<input type="text" id="captcha"[^>]* required`),
	}
	for name, re := range inputs {
		if !re.MatchString(body) {
			t.Errorf("%s: no match for %s in\n%s", name, re, body)
		}
	}
	id, ans := e.newCaptcha(t)
	_, body = e.post(t, "/register", signupForm(id, ans, "x", flowPW), nil)
	if passOf(body) == "" || strings.Contains(body, `id="captcha"`) {
		t.Errorf("with a pass the form still asks for the captcha:\n%s", body)
	}
}

// TestUsernamePatternNeverRefusesAccepted: the username field's pattern
// refuses only what the server refuses in every case: white space inside a
// name (JavaScript's \s: the browser's meaning), the characters " & ' / :
// < > and an @ without a domain after it (or a second one). Each of those,
// at the start, inside and at the end of a name, is refused by the policy.
func TestUsernamePatternNeverRefusesAccepted(t *testing.T) {
	d, _ := handlers.UnitDeps(t)
	p := d.Policy
	// JavaScript's \s: WhiteSpace and LineTerminator of ECMAScript.
	js := []rune{'\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004',
		'\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff'}
	for _, r := range append(js, '"', '&', '\'', '/', ':', '<', '>') {
		for _, name := range []string{"ab" + string(r) + "cd", "ab" + string(r) + "cd@example.test"} {
			if local, err := p.Username(name); err == nil {
				t.Errorf("the pattern refuses %q (U+%04X), which the server accepts as %q", name, r, local)
			}
		}
	}
	for _, r := range []rune{'"', '&', '\'', '/', ':', '<', '>'} {
		for _, name := range []string{string(r) + "abc", "abc" + string(r)} {
			if local, err := p.Username(name); err == nil {
				t.Errorf("the pattern refuses %q, which the server accepts as %q", name, local)
			}
		}
	}
	for _, name := range []string{"@example.test", "abc@", "a@b@example.test", "abc@@example.test", "@"} {
		if local, err := p.Username(name); err == nil {
			t.Errorf("the pattern refuses %q, which the server accepts as %q", name, local)
		}
	}
	// And what the pattern lets through, the server may take.
	for _, name := range []string{" Alice ", "alice@example.test", "zoë", "a.b-c_d"} {
		if _, err := p.Username(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// TestSignupPagesArePrivate: the pages of the sign-up flow, in both
// languages (the form with a pass, the captcha's frame, the result pages,
// an expired and a forged link, the unknown outcome, the 429 page): no
// script, nothing loaded from another host (the apps' pages are plain
// links), no cookie, and a policy that allows no script and nothing from
// elsewhere.
func TestSignupPagesArePrivate(t *testing.T) {
	for _, lang := range []string{"en", "de"} {
		e := newFlowEnv(t)
		type page struct {
			name string
			resp *http.Response
			body string
		}
		var pages []page
		add := func(name string, r *http.Response, body string) { pages = append(pages, page{name, r, body}) }
		r, body := e.get(t, "/register?lang="+lang)
		add("form", r, body)
		id := captchaIDRe.FindStringSubmatch(body)[1]
		r, body = e.get(t, "/register/picture/"+id+"?lang="+lang)
		add("frame", r, body)
		id, ans := e.newCaptcha(t)
		form := signupForm(id, ans, "privacy", "short")
		form.Set("lang", lang)
		r, body = e.post(t, "/register", form, nil)
		add("form with a pass", r, body)
		form = passForm(passOf(body), "privacy", flowPW, flowPW)
		form.Set("lang", lang)
		r, _ = e.post(t, "/register", form, nil)
		loc := r.Header.Get("Location")
		r, body = e.get(t, loc)
		add("welcome", r, body)
		r, body = e.get(t, "/welcome?lang="+lang+"&t=forged")
		add("forged link", r, body)
		e.prov.failWith = &xmpp.Error{Kind: xmpp.Unavailable, Unanswered: true}
		id, ans = e.newCaptcha(t)
		form = signupForm(id, ans, "unknown", flowPW)
		form.Set("lang", lang)
		r, _ = e.post(t, "/register", form, nil)
		r, body = e.get(t, r.Header.Get("Location"))
		add("unknown outcome", r, body)
		e.clk.Advance(25 * time.Hour)
		r, body = e.get(t, loc)
		add("expired link", r, body)
		for _, p := range pages {
			if p.resp.StatusCode >= 500 || p.resp.StatusCode == 404 {
				t.Errorf("%s %s: status %d", lang, p.name, p.resp.StatusCode)
			}
			if scriptRe.MatchString(p.body) {
				t.Errorf("%s %s: contains script: %s", lang, p.name, scriptRe.FindString(p.body))
			}
			for _, u := range loadedURLs(p.body) {
				if absoluteRe.MatchString(u) {
					t.Errorf("%s %s: loads from another host: %q", lang, p.name, u)
				}
			}
			if c := p.resp.Header.Values("Set-Cookie"); len(c) > 0 {
				t.Errorf("%s %s: sets a cookie: %v", lang, p.name, c)
			}
			csp := p.resp.Header.Get("Content-Security-Policy")
			if !strings.HasPrefix(csp, "default-src 'none';") || strings.Contains(csp, "script-src") || !strings.Contains(csp, "form-action 'self'") {
				t.Errorf("%s %s: CSP %q", lang, p.name, csp)
			}
			if !strings.Contains(p.body, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: not in its language", lang, p.name)
			}
		}
	}
}
