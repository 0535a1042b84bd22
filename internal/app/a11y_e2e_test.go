package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/resultlink"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestAccessibleEveryPage runs axe-core (vendored, testenv.Browser.Axe) on
// every page of the portal in every state a visitor can meet, in English
// and in German, in headless Chromium with JavaScript off, against real
// Prosody: the home page; the sign-up form fresh, sent empty, with a wrong
// captcha and a short password, with a solved captcha and passwords that
// differ (the pass), with a common password, a reserved name, an invalid
// name and a taken name; the captcha's frame page; the success page and its
// language link, which stays on it; the page of an unknown outcome; result
// links forged and expired; every account page fresh and with its errors,
// the password changed, the import's result, the account deleted; the
// statistics, the privacy policy and the imprint; "no such page" (404), a
// form sent to a page that takes none (405) and both kinds of "too many"
// (429).
//
// Each page is checked on a desktop's window in the light and the dark
// colour scheme and on a phone's window; besides axe-core's rules the test
// asks what axe-core does not: exactly one <h1>, a skip link that the first
// Tab reaches and that leads to the main content, and on a refused form an
// error summary (GOV.UK's pattern) with a heading, focused when the page
// loads, whose links each lead to a field that is marked invalid and
// described by its refusal, and "Error:" at the start of the title.
//
// With PORTAL_SCREENSHOTS=dir every page is saved there, on the phone's
// window and the desktop's, for a person to look at.
func TestAccessibleEveryPage(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	legal := t.TempDir()
	for name, text := range map[string]string{
		"privacy.en.html": "<h2>Controller</h2><p>Erika Mustermann keeps no IP addresses.</p>",
		"imprint.txt":     "Erika Mustermann\nMusterstraße 1\n12345 Musterstadt",
	} {
		if err := os.WriteFile(filepath.Join(legal, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, base, _ := startPortal(t, srv, map[string]string{
		"PORTAL_SITE_PRIVACY_FILE":                  filepath.Join(legal, "privacy.{lang}.html"),
		"PORTAL_SITE_IMPRINT_FILE":                  filepath.Join(legal, "imprint.txt"),
		"PORTAL_SITE_STORAGE_NOTE_DE":               "Nachrichten werden eine Woche lang aufbewahrt.",
		"PORTAL_REGULATION_MIN_RESPONSE":            "0s",
		"PORTAL_ABUSE_SIGNUPS_PER_HOUR":             "300",
		"PORTAL_ABUSE_GLOBAL_SIGNUPS_PER_HOUR":      "300",
		"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE":          "300",
		"PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE": "300",
		"PORTAL_STORE_MAX_KEYS":                     "10000000",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const pw, pw2 = "violet harbour engine 42", "quiet meadow lantern 77"
	for _, u := range []string{"walker", "arrival-en", "arrival-de", "leaving-en", "leaving-de"} {
		if err := srv.CreateUser(ctx, u, pw); err != nil {
			t.Fatal(err)
		}
	}
	answer := testenv.CaptchaAnswer(a.Store)
	links := resultlink.New(a.Store, resultlink.Options{})
	past := resultlink.New(a.Store, resultlink.Options{Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})

	shots := os.Getenv("PORTAL_SCREENSHOTS")
	b := testenv.StartBrowser(t)
	dl := t.TempDir()
	b.DownloadTo(dl)
	t.Logf("axe-core %s", testenv.AxeVersion())

	type outcome struct {
		violations int
		rules      map[string]bool
	}
	results := map[string]map[string]*outcome{} // page → lang → outcome
	var order []string
	minContrast, minAt := 0.0, ""
	title := regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	errorWord := map[string]string{"en": "Error:", "de": "Fehler:"}
	idOf := regexp.MustCompile(`href="#([^"]+)"`)

	// check runs axe-core and the test's own checks on the page shown.
	// frame: the page is a frame's document (no heading or landmarks of
	// its own).
	check := func(name, lang string, frame bool) {
		t.Helper()
		if results[name] == nil {
			results[name] = map[string]*outcome{}
			order = append(order, name)
		}
		o := &outcome{rules: map[string]bool{}}
		results[name][lang] = o
		var disable []string
		if frame {
			disable = []string{"page-has-heading-one", "landmark-one-main", "region"}
		}
		for _, v := range []struct {
			view   string
			w, h   int
			mobile bool
			scheme string
		}{{"desktop", 1280, 900, false, "light"}, {"desktop", 1280, 900, false, "dark"}, {"phone", 390, 844, true, "light"}} {
			b.Viewport(v.w, v.h, v.mobile)
			b.ColorScheme(v.scheme)
			r := b.Axe(disable...)
			for _, rule := range r.Violations {
				o.violations += len(rule.Nodes)
				o.rules[rule.ID] = true
				t.Errorf("%s (%s, %s, %s): %s", name, lang, v.view, v.scheme, rule)
			}
			if r.MinContrast > 0 && (minContrast == 0 || r.MinContrast < minContrast) {
				minContrast, minAt = r.MinContrast, fmt.Sprintf("%s (%s, %s, %s): %s", name, lang, v.view, v.scheme, r.MinContrastAt)
			}
			if shots != "" && v.scheme == "light" {
				b.Screenshot(filepath.Join(shots, fmt.Sprintf("a11y-%s-%s-%s.png", name, lang, v.view)))
			}
		}
		b.ColorScheme("")
		b.Viewport(1280, 900, false)
		html := b.HTML()
		if frame {
			return
		}
		if n := b.Count("h1"); n != 1 {
			t.Errorf("%s (%s): %d <h1>, want exactly one", name, lang, n)
		}
		// The first Tab reaches the skip link, which leads to the main
		// content. A page that focuses its error summary on load starts
		// there instead: the skip link is still the page's first link.
		if b.Count(`body > a.skip-link:first-child[href="#main"]`) != 1 || b.Count(`main#main`) != 1 {
			t.Errorf("%s (%s): no skip link to main#main as the page's first element", name, lang)
		}
		if b.Count("#problems") == 0 {
			if f := b.PressTab(); !strings.Contains(f, `class="skip-link"`) {
				t.Errorf("%s (%s): the first Tab reaches %q, not the skip link", name, lang, f)
			}
		}
		if m := title.FindStringSubmatch(html); m == nil || strings.TrimSpace(m[1]) == "" {
			t.Errorf("%s (%s): no title", name, lang)
		}
		// The error summary.
		if b.Count("#problems") == 0 {
			return
		}
		if m := title.FindStringSubmatch(html); m == nil || !strings.HasPrefix(m[1], errorWord[lang]) {
			t.Errorf("%s (%s): the page shows an error summary, but its title %q does not start with %q", name, lang, m, errorWord[lang])
		}
		if b.Count("#problems h2#problems-title") != 1 {
			t.Errorf("%s (%s): the error summary has no heading", name, lang)
		}
		if f := b.Focused(); !strings.Contains(f, `id="problems"`) {
			t.Errorf("%s (%s): the error summary is not focused when the page loads; the focus is on %q", name, lang, f)
		}
		summary := b.HTML()
		if i := strings.Index(summary, `id="problems"`); i >= 0 {
			summary = summary[i:]
			if j := strings.Index(summary, "</div>"); j >= 0 {
				summary = summary[:j]
			}
		}
		for _, m := range idOf.FindAllStringSubmatch(summary, -1) {
			id := m[1]
			sel := "#" + id
			if b.Count(sel) != 1 {
				t.Errorf("%s (%s): the error summary links #%s, which is not on the page", name, lang, id)
				continue
			}
			if b.Count(sel+`[aria-invalid="true"]`) != 1 {
				t.Errorf("%s (%s): #%s is in the error summary but not aria-invalid", name, lang, id)
			}
			if b.Count(fmt.Sprintf(`%s[aria-describedby~="%s-error"]`, sel, id)) != 1 || b.Count("#"+id+"-error") != 1 {
				t.Errorf("%s (%s): #%s is not described by its refusal #%s-error", name, lang, id, id)
			}
		}
	}

	// Fill the sign-up form; solve: answer the captcha right, if the form
	// shows one.
	fillSignup := func(user, p1, p2 string, solve bool) {
		t.Helper()
		b.Fill("#username", user)
		b.Fill("#password", p1)
		b.Fill("#password2", p2)
		if b.Count(`input[name=captcha_id]`) == 1 {
			code := "0"
			if solve {
				var err error
				if code, err = answer(ctx, b.Value(`input[name=captcha_id]`)); err != nil {
					t.Fatal(err)
				}
			}
			b.Fill("#captcha", code)
		}
	}
	// submit sends the form that holds selector without the browser's
	// checks, as an old browser would: what the server says to what the
	// browser would have refused.
	submit := func(selector string) {
		t.Helper()
		b.SetAttribute("form:has("+selector+")", "novalidate", "")
		b.Click(selector)
	}
	wantStatus := func(name string, status int) {
		t.Helper()
		if b.Status() != status {
			t.Errorf("%s: status %d, want %d\n%s", name, b.Status(), status, b.Text())
		}
	}

	var exportFile string
	for _, lang := range []string{"en", "de"} {
		q := "?lang=" + lang
		b.Open(base + "/" + q)
		check("home", lang, false)

		// Sign-up: fresh, then every refusal.
		b.Open(base + "/register" + q)
		check("register", lang, false)
		id := b.Value(`input[name=captcha_id]`)
		b.Open(base + "/register/picture/" + id + q)
		check("captcha-frame", lang, true)

		b.Open(base + "/register" + q)
		submit(`button[value=register]`)
		wantStatus("register-empty", 400)
		check("register-empty", lang, false)

		fillSignup("newcomer-"+lang, "short", "short", false)
		submit(`button[value=register]`)
		wantStatus("register-wrong-captcha-short-password", 400)
		check("register-wrong-captcha-short-password", lang, false)

		fillSignup("newcomer-"+lang, pw, pw2, true)
		b.Click(`button[value=register]`)
		if b.Count(`input[name=pass]`) != 1 {
			t.Fatalf("%s: a solved captcha on a form with passwords that differ gave no pass:\n%s", lang, b.Text())
		}
		check("register-pass-mismatch", lang, false)

		for _, c := range []struct{ name, user, password string }{
			{"register-pass-common-password", "newcomer-" + lang, "password1234"},
			{"register-pass-reserved-name", "admin", pw},
			{"register-pass-invalid-name", "smile☺face", pw},
			{"register-pass-taken-name", "walker", pw},
		} {
			fillSignup(c.user, c.password, c.password, true)
			b.Click(`button[value=register]`)
			if b.Count("#problems") == 0 {
				t.Errorf("%s (%s): no error summary:\n%s", c.name, lang, b.Text())
			}
			check(c.name, lang, false)
		}

		fillSignup("newcomer-"+lang, pw, pw, true)
		b.Click(`button[value=register]`)
		if !strings.HasPrefix(b.URL(), base+"/welcome?") {
			t.Fatalf("%s: sign-up did not land on /welcome: %s\n%s", lang, b.URL(), b.Text())
		}
		check("welcome", lang, false)
		// The language link keeps the visitor on the page.
		other := map[string]string{"en": "de", "de": "en"}[lang]
		welcome := b.URL()
		b.Click(`footer a[hreflang="` + other + `"]`)
		if !strings.HasPrefix(b.URL(), base+"/welcome?") || b.Status() != 200 || !strings.Contains(b.Text(), "newcomer-"+lang+"@localhost") {
			t.Errorf("%s: the language link of /welcome leads to %s (status %d)", lang, b.URL(), b.Status())
		}
		b.Open(welcome)

		// Result pages from their links: unknown outcome, forged, expired.
		tok, err := links.Seal(ctx, "register_unknown", "maybe-"+lang+"@localhost", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		b.Open(base + "/register/unknown" + q + "&t=" + tok)
		wantStatus("register-unknown", 200)
		check("register-unknown", lang, false)
		b.Click(`footer a[hreflang="` + other + `"]`)
		if !strings.HasPrefix(b.URL(), base+"/register/unknown?") || b.Status() != 200 {
			t.Errorf("%s: the language link of /register/unknown leads to %s (status %d)", lang, b.URL(), b.Status())
		}
		b.Open(base + "/welcome" + q + "&t=forged")
		wantStatus("result-forged", 400)
		check("result-forged", lang, false)
		old, err := past.Seal(ctx, "password_done", "walker@localhost", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		b.Open(base + "/password/done" + q + "&t=" + old)
		wantStatus("result-expired", 410)
		check("result-expired", lang, false)

		// No such page; a form sent where none is taken.
		b.Open(base + "/no-such-page" + q)
		wantStatus("404", 404)
		if !strings.Contains(b.Text(), map[string]string{"en": "Page not found", "de": "Seite nicht gefunden"}[lang]) {
			t.Errorf("404 (%s) does not say that the page was not found:\n%s", lang, b.Text())
		}
		check("404", lang, false)
		b.Open(base + "/export" + q)
		b.SetAttribute("form[action='/export']", "action", "/stats")
		b.Click(`button[value=file]`)
		wantStatus("405", 405)
		check("405", lang, false)

		// The account pages, fresh and sent empty.
		b.Open(base + "/account" + q)
		check("account", lang, false)
		for _, p := range []string{"/password", "/export", "/import", "/delete"} {
			name := strings.Trim(p, "/")
			b.Open(base + p + q)
			check(name, lang, false)
			b.Click(`form button[type=submit]`)
			check(name+"-empty", lang, false)
		}
		b.Open(base + "/stats" + q)
		check("stats", lang, false)

		// Refusals of the server: a wrong password, a file that is not an
		// export.
		b.Open(base + "/password" + q)
		b.Fill("#address", "walker")
		b.Fill("#current", "not the password 1")
		b.Fill("#password", pw2)
		b.Fill("#password2", pw2)
		b.Click(`form button[type=submit]`)
		check("password-wrong", lang, false)
		notExport := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(notExport, []byte("shopping list\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b.Open(base + "/import" + q)
		b.Fill("#address", "arrival-"+lang)
		b.Fill("#password", pw)
		b.SetFile("#file", notExport)
		b.Click(`form button[type=submit]`)
		check("import-not-an-export", lang, false)

		// What is done: a password changed (and back), an export, an
		// import, a deletion.
		b.Open(base + "/password" + q)
		b.Fill("#address", "walker")
		b.Fill("#current", pw)
		b.Fill("#password", pw2)
		b.Fill("#password2", pw2)
		b.Click(`form button[type=submit]`)
		check("password-done", lang, false)
		b.Click(`footer a[hreflang="` + other + `"]`)
		if !strings.HasPrefix(b.URL(), base+"/password/done?") || b.Status() != 200 {
			t.Errorf("%s: the language link of /password/done leads to %s (status %d)", lang, b.URL(), b.Status())
		}
		b.Open(base + "/password" + q)
		b.Fill("#address", "walker")
		b.Fill("#current", pw2)
		b.Fill("#password", pw)
		b.Fill("#password2", pw)
		b.Click(`form button[type=submit]`)

		if exportFile == "" {
			b.Open(base + "/export" + q)
			b.Fill("#address", "walker")
			b.Fill("#password", pw)
			b.Click(`button[value=file]`)
			exportFile = b.WaitDownload("walker@localhost.xml")
		}
		b.Open(base + "/import" + q)
		b.Fill("#address", "arrival-"+lang)
		b.Fill("#password", pw)
		b.SetFile("#file", exportFile)
		b.Click(`form button[type=submit]`)
		wantStatus("import-done", 200)
		check("import-done", lang, false)

		b.Open(base + "/delete" + q)
		b.Fill("#address", "leaving-"+lang)
		b.Fill("#password", pw)
		b.Fill("#confirm", "leaving-"+lang+"@localhost")
		b.Check("#understand")
		b.Click(`button.danger`)
		if !strings.HasPrefix(b.URL(), base+"/delete/done?") {
			t.Errorf("%s: the deletion did not land on /delete/done: %s\n%s", lang, b.URL(), b.Text())
		}
		check("delete-done", lang, false)
		b.Click(`footer a[hreflang="` + other + `"]`)
		if !strings.HasPrefix(b.URL(), base+"/delete/done?") || b.Status() != 200 {
			t.Errorf("%s: the language link of /delete/done leads to %s (status %d)", lang, b.URL(), b.Status())
		}

		b.Open(base + "/privacy" + q)
		check("privacy", lang, false)
		b.Open(base + "/imprint" + q)
		check("imprint", lang, false)
	}

	// Too many: a portal of its own for each budget, so the rest of the
	// walk is not limited. The client spends the budget in English; the
	// German page is the same refusal asked for again.
	for _, c := range []struct {
		name string
		env  map[string]string
		walk func(base string)
	}{
		{"429-captchas", map[string]string{"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE": "1"}, func(base string) {
			b.Open(base + "/register?lang=en")
		}},
		{"429-signups", map[string]string{"PORTAL_ABUSE_SIGNUPS_PER_HOUR": "1"}, func(base string) {
			b.Open(base + "/register?lang=en")
			fillSignup("hopeful", pw, pw, false)
			b.Click(`button[value=register]`)
		}},
	} {
		_, limited, _ := startPortal(t, srv, c.env)
		c.walk(limited)
		for _, lang := range []string{"en", "de"} {
			b.Open(limited + "/register?lang=" + lang)
			wantStatus(c.name, 429)
			check(c.name, lang, false)
		}
	}

	// The table of what was checked.
	var s strings.Builder
	fmt.Fprintf(&s, "axe-core %s: violations (elements) per page and language, each on a desktop's window light and dark and a phone's:\n", testenv.AxeVersion())
	total := 0
	for _, name := range order {
		fmt.Fprintf(&s, "  %-40s", name)
		for _, lang := range []string{"en", "de"} {
			o := results[name][lang]
			if o == nil {
				fmt.Fprintf(&s, " %s -", lang)
				continue
			}
			total += o.violations
			var ids []string
			for id := range o.rules {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			fmt.Fprintf(&s, " %s %d %s", lang, o.violations, strings.Join(ids, ","))
		}
		s.WriteString("\n")
	}
	fmt.Fprintf(&s, "%d pages × 2 languages, %d violations; lowest contrast of text %.2f:1 at %s", len(order), total, minContrast, minAt)
	t.Log(s.String())
	if minContrast < 4.5 {
		t.Errorf("lowest contrast %.2f:1, want at least 4.5:1", minContrast)
	}
}
