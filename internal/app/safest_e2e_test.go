package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestSafestEveryPage: every page of the portal in Firefox ESR with the
// preferences of Tor Browser's "Safest" security level (JavaScript off, SVG
// off, no fonts from the page, audio and video only after a click), over the
// onion listener as Tor Browser reaches it (tor offline; tor exports no
// circuit ids here, so the browser can speak to the listener directly) and
// the home and sign-up pages over clearnet. Each page is loaded, answers
// with its status, shows its heading and text and the onion footer; the
// captcha picture (a PNG) is decoded; the captcha's sound is reachable as a
// link; a whole sign-up, a password change, an export (downloaded), an
// import of that file, a deletion, the statistics, the legal pages, the
// "no such page" page and a 429 page go through with the mouse and the
// keyboard; nothing is fetched from elsewhere and no web font at all.
//
// PORTAL_TEST_SCREENSHOTS names a directory for a screenshot of every page
// (default: the test's temporary directory).
func TestSafestEveryPage(t *testing.T) {
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
	a, clearnet, logs := startPortal(t, srv, map[string]string{
		"PORTAL_ONION_ENABLED": "true", "PORTAL_ONION_STATE_DIR": t.TempDir(), "PORTAL_ONION_TOR_PATH": testenv.TorBinary(t),
		"PORTAL_ONION_TORRC_EXTRA": offlineTorrc(t), "PORTAL_ONION_EXPORT_CIRCUIT_ID": "false",
		"PORTAL_SITE_PRIVACY_FILE": filepath.Join(legal, "privacy.{lang}.html"), "PORTAL_SITE_IMPRINT_FILE": filepath.Join(legal, "imprint.txt"),
		"PORTAL_REGULATION_MIN_RESPONSE": "0s", "PORTAL_ABUSE_ONION_CAPTCHAS_PER_MINUTE": "40",
	})
	ctx, cancel := context.WithTimeout(context.Background(), onionHangLimit)
	defer cancel()
	if _, err := a.Onion.WaitState(ctx, onion.StateAnnouncing); err != nil {
		t.Fatal(err)
	}
	ln, _ := a.Onion.Listen()
	ob := "http://" + ln.Addr().String()
	shots := os.Getenv("PORTAL_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	const pw1, pw2 = "violet mountain lantern 42", "quiet harbour pebble 77"
	if err := srv.CreateUser(ctx, "newhome", pw1); err != nil {
		t.Fatal(err)
	}

	f := testenv.StartFirefox(t)
	n := 0
	// page checks what every page needs: its status, its title, its text
	// and, over the onion listener, the onion footer; then a screenshot.
	page := func(name string, status int, onOnion bool, want ...string) string {
		t.Helper()
		n++
		text := f.Text()
		if f.Status() != status {
			t.Errorf("%s: status %d, want %d\n%s", name, f.Status(), status, text)
		}
		if title := f.Title(); !strings.HasSuffix(title, "localhost") || len(title) <= len("localhost") {
			t.Errorf("%s: title %q", name, title)
		}
		if onOnion && !strings.Contains(text, onOnionText) {
			t.Errorf("%s: no onion footer\n%s", name, text)
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: text lacks %q\n%s", name, w, text)
			}
		}
		f.Screenshot(filepath.Join(shots, fmt.Sprintf("%02d-%s.png", n, name)))
		return text
	}

	// Home, over both listeners.
	f.Open(ob + "/?lang=en")
	page("home", 200, true, "Chat with your own address on localhost", "Create an account")
	f.Open(clearnet + "/?lang=en")
	page("home-clearnet", 200, false, "Chat with your own address on localhost")

	// Sign-up: the form, its picture and its sound.
	f.Open(ob + "/?lang=en")
	f.Click(`a.button[href^="/register"]`)
	page("register", 200, true, "Create your account on localhost")
	// The picture, in the page or in a frame of its own.
	if w, h := f.ImageSize(`img[src*="/captcha/"]`); w != captchastore.ImageWidth || h != captchastore.ImageHeight {
		t.Errorf("captcha picture decoded to %dx%d, want the %dx%d PNG", w, h, captchastore.ImageWidth, captchastore.ImageHeight)
	}
	if !f.Has(`a[href*=".wav"]`) {
		t.Fatal("no link to the captcha's sound")
	}
	// The wrong answer first.
	f.Fill("#username", "Safest.User")
	f.Fill("#password", pw1)
	f.Fill("#password2", pw1)
	f.Fill("#captcha", "0")
	f.Click(`button[value=register]`)
	page("register-wrong-captcha", 400, true, "The digits were wrong")
	if got := f.Value("#username"); got != "Safest.User" {
		t.Errorf("username not kept: %q", got)
	}
	answer, err := testenv.CaptchaAnswer(a.Store)(ctx, f.Value(`input[name=captcha_id]`))
	if err != nil {
		t.Fatal(err)
	}
	f.Fill("#password", pw1)
	f.Fill("#password2", pw1)
	f.Fill("#captcha", answer)
	f.Click(`button[value=register]`)
	text := page("registered", 200, true, "Your account is ready", "safest.user@localhost")
	// The QR code is a PNG, which Safest draws (SVG is off there; the
	// code's content is read in TestOnboardingSafest).
	if w, h := f.ImageSize("img.qr"); w == 0 || w != h {
		t.Errorf("the success page's QR code was drawn %d×%d\n%s", w, h, text)
	}
	if s, err := xmpp.Login(ctx, srv.XMPP(), "safest.user", pw1, nil); err != nil {
		t.Fatalf("the account made in Firefox cannot log in: %v", err)
	} else {
		s.Close()
	}
	// The captcha's sound through its link (a fresh form: the sign-up used
	// the last captcha up): a click saves the WAV file.
	f.Open(ob + "/register?lang=en")
	f.ClickStay(`a[href*=".wav"]`)
	sound := f.WaitDownload()
	if b, err := os.ReadFile(sound); err != nil || len(b) < 1000 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Errorf("the captcha's sound through its link: %s, %d bytes, %v", sound, len(b), err)
	}
	var audio *testenv.FirefoxResponse
	for _, r := range f.Responses() {
		if strings.Contains(r.URL, ".wav") {
			audio = &r
		}
	}
	// Firefox does not always report the response of a download (the
	// file above is the proof it came); when it does, it is audio.
	if audio != nil && (audio.Status != 200 || !strings.HasPrefix(audio.MIME, "audio/")) {
		t.Errorf("the captcha's sound: %+v", audio)
	}

	// Managing the account: the hub, a password change.
	f.Open(ob + "/?lang=en")
	f.Click(`a[href^="/account"]`)
	page("account", 200, true)
	f.Click(`a[href^="/password"]`)
	page("password", 200, true, "Change the password of your chat account")
	f.Fill("#address", "safest.user@localhost")
	f.Fill("#current", pw1)
	f.Fill("#password", pw2)
	f.Fill("#password2", pw2)
	f.Click(`button[type=submit]`)
	page("password-done", 200, true, "Your password has been changed")

	// Export: the browser saves the file.
	f.Open(ob + "/export?lang=en")
	page("export", 200, true)
	f.Fill("#address", "safest.user")
	f.Fill("#password", pw2)
	f.ClickStay(`button[type=submit]`)
	file := f.WaitDownload()
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "safest.user") {
		t.Errorf("downloaded export %s: %v", file, err)
	}

	// Import of that file into another account.
	f.Open(ob + "/import?lang=en")
	page("import", 200, true, "Your message archive stays in the file")
	f.Fill("#address", "newhome@localhost")
	f.Fill("#password", pw1)
	f.SetFile("#file", file)
	f.Click(`button[type=submit]`)
	page("import-done", 200, true, "Your data was brought into newhome@localhost")

	// Deletion.
	f.Open(ob + "/delete?lang=en")
	page("delete", 200, true, "This deletes your XMPP chat account itself.")
	f.Fill("#address", "safest.user")
	f.Fill("#password", pw2)
	f.Fill("#confirm", "safest.user@localhost")
	f.ClickStay("#understand")
	f.Click(`button[type=submit]`)
	page("deleted", 200, true, "Your chat account has been deleted")
	if _, err := xmpp.Login(ctx, srv.XMPP(), "safest.user", pw2, nil); !errors.Is(err, xmpp.Auth) {
		t.Errorf("login after the deletion in Firefox: %v", err)
	}

	// The other pages.
	f.Open(ob + "/stats?lang=en")
	page("stats", 200, true)
	f.Open(ob + "/privacy?lang=en")
	page("privacy", 200, true, "Erika Mustermann keeps no IP addresses.")
	f.Open(ob + "/imprint?lang=en")
	page("imprint", 200, true, "Musterstraße 1")
	f.Open(ob + "/no-such-page?lang=en")
	page("not-found", 404, true, "There is no page at this address.")
	// Over the onion captcha budget: the 429 page.
	for i := 0; i < 60; i++ {
		f.Open(ob + "/register?lang=en")
		if f.Status() == 429 {
			break
		}
	}
	page("too-many", 429, true, "Too many captcha pictures or sounds were requested over the onion service")

	// Nothing from elsewhere, no font from the page, pictures only PNG.
	if r := f.NonLocalRequests(); len(r) != 0 {
		t.Errorf("requests to other hosts: %v", r)
	}
	for _, r := range f.Responses() {
		if r.Kind == "font" {
			t.Errorf("a font was fetched: %s", r.URL)
		}
		if r.Kind == "image" && strings.Contains(r.URL, "/captcha/") && r.MIME != "image/png" {
			t.Errorf("captcha picture as %s", r.MIME)
		}
	}
	t.Logf("%d pages in Firefox %s with Safest's preferences; fonts: %s; screenshots in %s", n, "ESR", f.Fonts(), shots)
	if !strings.Contains(logs.String(), "account.created") {
		t.Error("no account.created in the log")
	}
}
