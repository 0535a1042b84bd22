package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// TestBrowserAccountPages walks every account page in headless Chromium
// with JavaScript off, in English and in German, on a phone's window and a
// desktop's, against real Prosody:
//
//   - the home page and the account hub link the four actions and the
//     statistics, each with its line; every account page has the section's
//     navigation with the current page marked;
//   - an empty form on /password, /delete and /export shows the error
//     summary at the top, linking to each refused field, which is
//     aria-invalid and described by its refusal; the title starts with
//     "Error:" ("Fehler:");
//   - the export downloads user@host.xml, and the readable copy
//     user@host.html (no script, the messages by day);
//   - an import says in words what came back and whom it asked;
//   - the statistics show two numbers;
//   - a deleted name is refused at sign-up.
//
// With PORTAL_SCREENSHOTS=dir the pages are also saved there, for a person
// to look at.
func TestBrowserAccountPages(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	a, base, logs := startPortal(t, srv, map[string]string{
		"PORTAL_REGULATION_MIN_RESPONSE": "0s",
		"PORTAL_STATS_CACHE":             "1s",
		"PORTAL_SITE_STORAGE_NOTE_DE":    "Nachrichten werden eine Woche lang aufbewahrt.",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const pw = "violet harbour engine 42"
	for _, u := range []string{"walker", "arrival", "leaving"} {
		if err := srv.CreateUser(ctx, u, pw); err != nil {
			t.Fatal(err)
		}
	}
	u := &pie.User{Name: "walker", Roster: &pie.Roster{}}
	for i := 1; i <= 3; i++ {
		u.Roster.Items = append(u.Roster.Items, pie.RosterItem{JID: fmt.Sprintf("pal%d@example.net", i), Name: fmt.Sprintf("Pal %d", i), Subscription: "both"})
	}
	u.PEP = []*pie.PEPNode{{Node: migrate.NSNick, Items: []pie.PEPItem{{ID: "current", Payload: xmltree.NewElement(migrate.NSNick, "nick").SetText("Walker")}}}}
	if _, err := migrate.Import(ctx, srv.XMPP(), "walker", pw, u, migrate.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	as, err := xmpp.Login(ctx, srv.XMPP(), srv.AdminJID.Localpart(), srv.AdminPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m := xmltree.NewElement(pie.NSClient, "message", "to", "walker@"+srv.Domain, "type", "chat").Add(xmltree.NewElement(pie.NSClient, "body").SetText(fmt.Sprint("greeting ", i)))
		if err := as.Send(ctx, m.TokenReader()); err != nil {
			t.Fatal(err)
		}
	}
	as.Close()

	shots := os.Getenv("PORTAL_SCREENSHOTS")
	b := testenv.StartBrowser(t)
	dl := t.TempDir()
	b.DownloadTo(dl)
	shot := func(name string) {
		if shots == "" {
			return
		}
		b.Screenshot(filepath.Join(shots, name+".png"))
	}
	title := regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	words := map[string]map[string]string{
		"en": {"error": "Error:", "hub": "Manage your account", "password": "Change password", "export": "Take your data with you",
			"import": "Bring your data into a new account", "delete": "Delete account", "stats": "Server statistics", "summary": "Please correct:"},
		"de": {"error": "Fehler:", "hub": "Ihr Konto verwalten", "password": "Passwort ändern", "export": "Ihre Daten mitnehmen",
			"import": "Ihre Daten in ein neues Konto bringen", "delete": "Konto löschen", "stats": "Statistik des Servers", "summary": "Bitte korrigieren Sie:"},
	}
	for _, size := range []struct {
		name          string
		width, height int
		mobile        bool
	}{{"phone", 390, 844, true}, {"desktop", 1280, 900, false}} {
		b.Viewport(size.width, size.height, size.mobile)
		for _, lang := range []string{"en", "de"} {
			w := words[lang]
			tag := size.name + "-" + lang + "-"

			// Findable: the home page and the hub list every action.
			for _, p := range []string{"/", "/account"} {
				b.Open(base + p + "?lang=" + lang)
				html := b.HTML()
				for _, link := range []string{"/password", "/export", "/import", "/delete", "/stats"} {
					if !strings.Contains(html, `href="`+link+`?lang=`+lang+`"`) {
						t.Errorf("%s %s: no link to %s", lang, p, link)
					}
				}
				for _, k := range []string{"password", "export", "import", "delete", "stats"} {
					if !strings.Contains(b.Text(), w[k]) {
						t.Errorf("%s %s lacks %q", lang, p, w[k])
					}
				}
				shot(tag + map[string]string{"/": "home", "/account": "account"}[p])
			}
			if lang == "de" {
				b.Open(base + "/?lang=de")
				if !strings.Contains(b.Text(), "Nachrichten werden eine Woche lang aufbewahrt.") {
					t.Error("the German storage note is not on the German home page")
				}
			}

			// Each account page: the section's navigation, the current page
			// marked; an empty form: the error summary.
			for _, p := range []struct{ path, fields string }{
				{"/password", "address current password"}, {"/delete", "address password understand"},
				{"/export", "address"}, {"/import", ""}, {"/stats", ""},
			} {
				b.Open(base + p.path + "?lang=" + lang)
				if !strings.Contains(b.HTML(), `href="`+p.path+`?lang=`+lang+`" aria-current="page"`) {
					t.Errorf("%s %s: the navigation does not mark the page", lang, p.path)
				}
				shot(tag + strings.Trim(p.path, "/"))
				if p.fields == "" {
					continue
				}
				b.Click(`form button[type=submit]`)
				html := b.HTML()
				if m := title.FindStringSubmatch(html); m == nil || !strings.HasPrefix(m[1], w["error"]) {
					t.Errorf("%s %s: title %q does not start with %q", lang, p.path, m, w["error"])
				}
				if !strings.Contains(html, `id="problems"`) || !strings.Contains(b.Text(), w["summary"]) {
					t.Errorf("%s %s: no error summary:\n%s", lang, p.path, b.Text())
				}
				if p.path != "/export" { // the export's empty password is the guard's, not a field's
					for _, f := range strings.Fields(p.fields) {
						if !strings.Contains(html, `<a href="#`+f+`">`) {
							t.Errorf("%s %s: the summary does not link #%s", lang, p.path, f)
						}
						if !regexp.MustCompile(`id="`+f+`"[^>]*aria-invalid="true"`).MatchString(html) &&
							!regexp.MustCompile(`id="`+f+`"[^>]*aria-describedby="`+f+`-error`).MatchString(html) {
							t.Errorf("%s %s: #%s is not marked invalid", lang, p.path, f)
						}
					}
				}
				shot(tag + strings.Trim(p.path, "/") + "-errors")
			}
		}
	}

	// Statistics: two numbers on Prosody (mod_portal_stats).
	b.Open(base + "/stats?lang=en")
	stats := b.HTML()
	for _, id := range []string{"registered", "online"} {
		if !regexp.MustCompile(`id="` + id + `">\d+<`).MatchString(stats) {
			t.Errorf("statistics: no number for %s:\n%s", id, b.Text())
		}
	}

	// The export: the file for moving and the readable copy.
	b.Viewport(1280, 900, false)
	b.Open(base + "/export?lang=en")
	b.Fill("#address", "walker")
	b.Fill("#password", pw)
	b.Click(`button[value=readable]`)
	copyPath := b.WaitDownload("walker@localhost.html")
	readable, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Pal 1", "pal3@example.net", "Walker", "greeting 4", `<h3 id="day-`} {
		if !strings.Contains(string(readable), want) {
			t.Errorf("readable copy lacks %q", want)
		}
	}
	if strings.Contains(string(readable), "<script") {
		t.Error("readable copy has a script")
	}
	if shots != "" {
		// The browser opens loopback http only: serve the copy as a file.
		fs := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(copyPath))))
		defer fs.Close()
		b.Open(fs.URL + "/" + url.PathEscape(filepath.Base(copyPath)))
		shot("readable-copy")
	}
	b.Open(base + "/export?lang=en")
	b.Fill("#address", "walker")
	b.Fill("#password", pw)
	b.Click(`button[value=file]`)
	file := b.WaitDownload("walker@localhost.xml")
	// On a real server the old contacts shared presence both ways, which a
	// client cannot set up on a roster by itself: the file says so, as a
	// real export does.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), `subscription="none"`, `subscription="both"`))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// The import: in words, and whom it asked.
	b.Open(base + "/import?lang=en")
	b.Fill("#address", "arrival@localhost")
	b.Fill("#password", pw)
	b.SetFile("#file", file)
	b.Click(`form button[type=submit]`)
	text := b.Text()
	for _, want := range []string{"3 contacts restored", "your nickname", "Whom the new address asked", "pal2@example.net", "archived messages"} {
		if !strings.Contains(text, want) {
			t.Errorf("import result lacks %q:\n%s", want, text)
		}
	}
	shot("import-done")

	// Deletion, then the name is retired at sign-up.
	b.Open(base + "/delete?lang=en")
	b.Fill("#address", "leaving")
	b.Fill("#password", pw)
	b.Fill("#confirm", "leaving@localhost")
	b.Check("#understand")
	b.Click(`button.danger`)
	if !strings.Contains(b.Text(), "nobody else can register this address") {
		t.Fatalf("deleted page:\n%s", b.Text())
	}
	shot("deleted")
	b.Open(base + "/register?lang=en")
	b.Fill("#username", "leaving")
	b.Fill("#password", pw)
	b.Fill("#password2", pw)
	answer, err := testenv.CaptchaAnswer(a.Store)(ctx, b.Value(`input[name=captcha_id]`))
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#captcha", answer)
	b.Click(`button[value=register]`)
	if b.Status() != 409 || !strings.Contains(b.Text(), "already taken") {
		t.Fatalf("a deleted name at sign-up: status %d\n%s", b.Status(), b.Text())
	}
	if err := srv.CreateUser(ctx, "leaving2", pw); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "leaving") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("a name logged above debug: %s", line)
		}
	}
}
