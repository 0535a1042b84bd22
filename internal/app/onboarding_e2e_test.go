package app_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// zbarImg returns Debian's QR code reader (zbar-tools); like a server, a
// missing one skips the test, or fails it under CI.
func zbarImg(t *testing.T) string {
	t.Helper()
	return testenv.ServerBinary(t, "zbarimg (Debian zbar-tools)", "zbarimg", "/usr/bin/zbarimg")
}

// qrCodes returns what the QR codes in the picture at path say, read by
// zbarimg as a phone's scanner reads a screen.
func qrCodes(t *testing.T, zbar, path string) []string {
	t.Helper()
	out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v (no QR code read?)", path, err)
	}
	return strings.Fields(string(out))
}

// appRegister is what an app does with the portal's invite (XEP-0445, as
// Prosody's mod_invites_register takes it): the token on an
// unauthenticated stream, then XEP-0077 registration on that stream.
func appRegister(ctx context.Context, cfg xmpp.Config, token, local, password string) error {
	c, err := xmpp.Unauth(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if token != "" {
		preauth := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:pars:0", Local: "preauth"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "token"}, Value: token}}})
		if _, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, preauth); err != nil {
			return err
		}
	}
	el := func(n, v string) xml.TokenReader {
		return xmlstream.Wrap(xmlstream.Token(xml.CharData(v)), xml.StartElement{Name: xml.Name{Local: n}})
	}
	q := xmlstream.Wrap(xmlstream.MultiReader(el("username", local), el("password", password)),
		xml.StartElement{Name: xml.Name{Space: "jabber:iq:register", Local: "query"}})
	_, err = c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, q)
	return err
}

type rosterEntry struct {
	JID          string `xml:"jid,attr"`
	Subscription string `xml:"subscription,attr"`
	Ask          string `xml:"ask,attr"`
}

// rosterOf logs in as local and returns its roster.
func rosterOf(ctx context.Context, t *testing.T, cfg xmpp.Config, local, password string) []rosterEntry {
	t.Helper()
	c, err := xmpp.Login(ctx, cfg, local, password, nil)
	if err != nil {
		t.Fatalf("%s cannot log in: %v", local, err)
	}
	defer c.Close()
	r, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "jabber:iq:roster", Local: "query"}}))
	if err != nil {
		t.Fatalf("roster of %s: %v", local, err)
	}
	var q struct {
		Items []rosterEntry `xml:"item"`
	}
	if err := r.Decode(&q); err != nil {
		t.Fatal(err)
	}
	return q.Items
}

// pendingContact reports whether the roster holds exactly contact, with the
// account's subscription request pending.
func pendingContact(items []rosterEntry, contact string) bool {
	return len(items) == 1 && items[0].JID == contact && items[0].Ask == "subscribe" &&
		(items[0].Subscription == "none" || items[0].Subscription == "")
}

var inviteURIRe = regexp.MustCompile(`^xmpp:localhost\?register;preauth=([A-Za-z0-9_-]{8,})$`)

// TestOnboardingSafest: both ways from the form into an app, in Firefox ESR
// with Tor Browser's "Safest" preferences (no JavaScript, no SVG), against
// Prosody started from the shipped configuration, with site.first_contact.
//
//   - The web path: name, password, digits; the success page says the
//     first contact was added, and the new account's roster holds it with
//     the request pending; the page tells how to sign in (no bare xmpp:
//     link of the own address); its QR code is a picture Firefox draws
//     with SVG off, and zbarimg reads xmpp:<address> from the screenshot.
//   - The invite path: only the digits and "Create it in my app"; the page
//     links the app to the invite and shows it as a QR code that zbarimg
//     reads from the screenshot, the same URI as the link; an app with that
//     token registers (XEP-0445 + XEP-0077) and logs in, without typing
//     anything the portal showed but the token; the token does not work a
//     second time, and registration without a token is refused; the page
//     offers the first contact as the app's next step.
//
// Nothing is fetched from another host; the token is in no log line.
// PORTAL_SCREENSHOTS names a directory for the screenshots.
func TestOnboardingSafest(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	zbar := zbarImg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang limit
	defer cancel()
	const pw = "violet mountain lantern 42"
	if err := srv.CreateUser(ctx, "operator", pw); err != nil {
		t.Fatal(err)
	}
	a, base, logs := startPortal(t, srv, map[string]string{"PORTAL_SITE_FIRST_CONTACT": "xmpp:Operator@localhost"})
	shots := os.Getenv("PORTAL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	f := testenv.StartFirefox(t)
	answer := func() string {
		t.Helper()
		ans, err := testenv.CaptchaAnswer(a.Store)(ctx, f.Value(`input[name=captcha_id]`))
		if err != nil {
			t.Fatal(err)
		}
		return ans
	}

	// The web path.
	f.Open(base + "/register?lang=en")
	if !f.Has(`button[value=invite][formnovalidate]`) || !f.Has(`#first_contact:checked`) || !strings.Contains(f.Text(), "Add operator@localhost to my contacts") {
		t.Fatalf("the form lacks the invite button or the ticked first contact:\n%s", f.Text())
	}
	f.Screenshot(filepath.Join(shots, "safest-register.png"))
	f.Fill("#username", "Web.Path")
	f.Fill("#password", pw)
	f.Fill("#password2", pw)
	f.Fill("#captcha", answer())
	f.Click(`button[value=register]`)
	text := f.Text()
	if f.Status() != 200 || !strings.Contains(text, "Your account is ready") || !strings.Contains(text, "operator@localhost is in your contacts") ||
		!strings.Contains(text, "I already have an account") {
		t.Fatalf("the success page: %d\n%s", f.Status(), text)
	}
	if f.Has(`a[href^="xmpp:web.path@"]`) {
		t.Error("the success page links the own address (a chat with oneself)")
	}
	if w, h := f.ImageSize("img.qr"); w < 200 || w != h {
		t.Errorf("the QR code was drawn %d×%d with SVG off", w, h)
	}
	shot := filepath.Join(shots, "safest-welcome.png")
	f.Screenshot(shot)
	if got := qrCodes(t, zbar, shot); len(got) != 1 || got[0] != "xmpp:web.path@localhost" {
		t.Errorf("the success page's QR code reads %q, want xmpp:web.path@localhost", got)
	}
	if items := rosterOf(ctx, t, srv.XMPP(), "web.path", pw); !pendingContact(items, "operator@localhost") {
		t.Errorf("the new account's roster: %+v, want operator@localhost with the request pending", items)
	}

	// The invite path: only the digits.
	f.Open(base + "/register?lang=en")
	f.Fill("#captcha", answer())
	f.Click(`button[value=invite]`)
	text = f.Text()
	if f.Status() != 200 || !strings.Contains(f.URL(), "/welcome/app?") || !strings.Contains(text, "Now create the account in your app") ||
		!strings.Contains(text, "within the next 60 minutes") {
		t.Fatalf("the invite page: %d %s\n%s", f.Status(), f.URL(), text)
	}
	if w, h := f.ImageSize("img.qr"); w < 200 || w != h {
		t.Errorf("the invite's QR code was drawn %d×%d with SVG off", w, h)
	}
	shot = filepath.Join(shots, "safest-invite.png")
	f.Screenshot(shot)
	got := qrCodes(t, zbar, shot)
	if len(got) != 1 || !inviteURIRe.MatchString(got[0]) {
		t.Fatalf("the invite page's QR code reads %q", got)
	}
	uri := got[0]
	if href := f.Attr("#open-app", "href"); href != uri {
		t.Errorf("the button opens %q, the QR code holds %q", href, uri)
	}
	if !f.Has(`a[href="xmpp:operator@localhost?roster"]`) {
		t.Error("the invite page does not offer the first contact")
	}
	if r := f.NonLocalRequests(); len(r) != 0 {
		t.Errorf("requests to other hosts: %v", r)
	}
	token := inviteURIRe.FindStringSubmatch(uri)[1]
	if strings.Contains(f.URL(), token) || strings.Contains(logs.String(), token) {
		t.Error("the token is in the page's URL or the log")
	}
	// The app: the token and a name, then a login.
	cfg := srv.XMPP()
	if err := appRegister(ctx, cfg, token, "in.app", pw); err != nil {
		t.Fatalf("the app cannot register with the invite: %v", err)
	}
	if c, err := xmpp.Login(ctx, cfg, "in.app", pw, nil); err != nil {
		t.Fatalf("the account made in the app does not log in: %v", err)
	} else {
		c.Close()
	}
	if err := appRegister(ctx, cfg, token, "in.app2", pw); err == nil {
		t.Error("the invite worked a second time")
	}
	if err := appRegister(ctx, cfg, "", "no.token", pw); err == nil {
		t.Error("in-band registration without a token worked")
	}
	if c, err := xmpp.Login(ctx, cfg, "in.app2", pw, nil); err == nil {
		c.Close()
		t.Error("the second account exists")
	}
}

// TestFirstContactEjabberd: the web path's first contact through the
// portal on ejabberd 23.01, which offers no invites (the form offers none,
// and -check says so: TestCheckCommand): the new account's roster holds
// the contact with the request pending, and the success page says so.
func TestFirstContactEjabberd(t *testing.T) {
	srv := testenv.StartEjabberd(t, testenv.Options{Mode: testenv.ModeAdmin})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang limit
	defer cancel()
	const pw = "violet mountain lantern 42"
	if err := srv.CreateUser(ctx, "operator", pw); err != nil {
		t.Fatal(err)
	}
	a, base, _ := startPortal(t, srv, map[string]string{"PORTAL_SITE_FIRST_CONTACT": "operator@localhost"})
	client := &http.Client{Timeout: time.Minute}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		r, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		return r, b.String()
	}
	_, form := get("/register?lang=en")
	if strings.Contains(form, `value="invite"`) || !strings.Contains(form, `name="first_contact" value="yes" checked`) {
		t.Fatalf("the form on ejabberd:\n%s", form)
	}
	id := regexp.MustCompile(`name="captcha_id" value="([^"]+)"`).FindStringSubmatch(form)[1]
	ans, err := testenv.CaptchaAnswer(a.Store)(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.PostForm(base+"/register", url.Values{"captcha_id": {id}, "captcha": {ans}, "username": {"newcomer"},
		"password": {pw}, "password2": {pw}, "first_contact": {"yes"}, "lang": {"en"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(b.String(), "operator@localhost is in your contacts") {
		t.Fatalf("the success page: %d\n%s", r.StatusCode, b.String())
	}
	if items := rosterOf(ctx, t, srv.XMPP(), "newcomer", pw); !pendingContact(items, "operator@localhost") {
		t.Errorf("the new account's roster: %+v", items)
	}
}

// TestOnboardingPages: the pages of both ways in Chromium with JavaScript
// off, on a phone's window (390×844) and a desktop's, in English and
// German: on the form the first contact's box is ticked and both buttons
// are there; on a phone the invite page's "Open in my app" button is in
// the first screen (no scrolling to the one thing to do), and its QR code
// loads; the success page's QR code loads; axe-core finds nothing on any
// of them. PORTAL_SCREENSHOTS saves the pages (the whole page, and a
// phone's first screen).
func TestOnboardingPages(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang limit
	defer cancel()
	const pw = "violet mountain lantern 42"
	if err := srv.CreateUser(ctx, "operator", pw); err != nil {
		t.Fatal(err)
	}
	a, base, _ := startPortal(t, srv, map[string]string{"PORTAL_SITE_FIRST_CONTACT": "operator@localhost"})
	shots := os.Getenv("PORTAL_SCREENSHOTS")
	b := testenv.StartBrowser(t)
	// shot checks the page with axe-core (TestAccessibleEveryPage's check,
	// for the pages only the onboarding shows: the first contact's box,
	// the success page with its outcome, the invite page) and saves it.
	shot := func(name string, phone bool) {
		t.Helper()
		for _, rule := range b.Axe().Violations {
			t.Errorf("%s: %s", name, rule)
		}
		if shots == "" {
			return
		}
		b.Screenshot(filepath.Join(shots, name+".png"))
		if phone {
			b.ScreenshotScreen(filepath.Join(shots, name+"-screen.png"))
		}
	}
	answer := func() string {
		t.Helper()
		ans, err := testenv.CaptchaAnswer(a.Store)(ctx, b.Value(`input[name=captcha_id]`))
		if err != nil {
			t.Fatal(err)
		}
		return ans
	}
	n := 0
	for _, window := range []struct {
		name          string
		width, height int
		phone         bool
	}{{"phone", 390, 844, true}, {"desktop", 1280, 900, false}} {
		b.Viewport(window.width, window.height, window.phone)
		for _, lang := range []string{"en", "de"} {
			name := window.name + "-" + lang
			b.Open(base + "/register?lang=" + lang)
			if b.Value("#first_contact") != "yes" || !strings.Contains(b.HTML(), `value="invite"`) {
				t.Fatalf("%s: the form lacks the first contact or the invite button", name)
			}
			shot("onboarding-register-"+name, window.phone)
			// The web path.
			n++
			user := "page" + strings.Repeat("x", n)
			b.Fill("#username", user)
			b.Fill("#password", pw)
			b.Fill("#password2", pw)
			b.Fill("#captcha", answer())
			b.Click(`button[value=register]`)
			if b.Status() != 200 || !strings.Contains(b.Text(), "operator@localhost") {
				t.Fatalf("%s: the success page: %d\n%s", name, b.Status(), b.Text())
			}
			shot("onboarding-welcome-"+name, window.phone)
			// The invite path.
			b.Open(base + "/register?lang=" + lang)
			b.Fill("#captcha", answer())
			b.Click(`button[value=invite]`)
			if b.Status() != 200 || !strings.Contains(b.URL(), "/welcome/app?") {
				t.Fatalf("%s: the invite page: %d %s", name, b.Status(), b.URL())
			}
			if window.phone && !b.InFirstScreen("#open-app") {
				t.Errorf("%s: the invite page's button is not in the first screen", name)
			}
			shot("onboarding-invite-"+name, window.phone)
		}
	}
	var qrs int
	for _, r := range b.Requests() {
		if strings.Contains(r, "/qr.png?t=") {
			qrs++
		}
	}
	if qrs < 8 {
		t.Errorf("%d QR code pictures were loaded, want one per result page (8)", qrs)
	}
	if r := b.NonLocalRequests(); len(r) != 0 {
		t.Errorf("requests to other hosts: %v", r)
	}
}
