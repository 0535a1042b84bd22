package handlers_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/qrsvg"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// fakeInvites is the server's invite command.
type fakeInvites struct {
	mu       sync.Mutex
	offered  bool
	failWith error
	made     []string
	expires  time.Time
}

func (f *fakeInvites) Offered(context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offered
}

func (f *fakeInvites) Create(context.Context) (signup.Invite, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return signup.Invite{}, f.failWith
	}
	tok := "Tok_" + strings.Repeat("x", len(f.made)) + "-secret0123"
	f.made = append(f.made, tok)
	return signup.Invite{Token: tok, Expires: f.expires}, nil
}

// fakeContacts records the first contacts added.
type fakeContacts struct {
	mu       sync.Mutex
	added    []string // local password address
	failWith error
}

func (f *fakeContacts) AddContact(_ context.Context, local, password, address string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return f.failWith
	}
	f.added = append(f.added, local+" "+password+" "+address)
	return nil
}

func inviteForm(id, answer string) url.Values {
	return url.Values{"captcha_id": {id}, "captcha": {answer}, "action": {"invite"}, "lang": {"en"}}
}

var (
	inviteButtonRe = regexp.MustCompile(`<button type="submit" name="action" value="invite"[^>]*formnovalidate`)
	qrImgRe        = regexp.MustCompile(`<img class="qr" src="(/welcome/app/qr\.png\?t=[A-Za-z0-9_-]+)" alt="[^"]+">`)
)

const firstContact = "op@example.test"

// TestInvitePath: "Create it in my app". The button is on the form only
// where the server offers invites; it needs the captcha and nothing else
// (the browser is told not to check the name and password fields); a
// solved captcha gets one invite, shown by a redirect to a page of its own
// whose link holds the token sealed: the page links the app to
// xmpp:<domain>?register;preauth=<token> and shows the QR code as a PNG of
// exactly that URI; the token is in no URL and no log line. A wrong
// captcha gets no invite; an invite the server refuses gives the units
// back and keeps the captcha's pass, which then serves the web form.
func TestInvitePath(t *testing.T) {
	inv := &fakeInvites{offered: true}
	e := newFlowEnv(t, func(d *handlers.Deps, _ *store.Memory) { d.Invites = inv })
	inv.expires = e.clk.Now().Add(time.Hour)

	_, body := e.get(t, "/register?lang=en")
	if !inviteButtonRe.MatchString(body) || !strings.Contains(body, "Create it in my app") {
		t.Fatalf("the form does not offer the invite:\n%s", body)
	}
	// The wrong digits: no invite.
	id, _ := e.newCaptcha(t)
	r, body := e.post(t, "/register", inviteForm(id, "000000"), nil)
	if r.StatusCode != 400 || len(inv.made) != 0 || !strings.Contains(body, "The digits were wrong") {
		t.Fatalf("wrong captcha: %d, %d invites", r.StatusCode, len(inv.made))
	}
	// The digits alone (no name, no password): an invite.
	id, ans := e.newCaptcha(t)
	r, _ = e.post(t, "/register", inviteForm(id, ans), nil)
	loc := r.Header.Get("Location")
	if r.StatusCode != 303 || !strings.HasPrefix(loc, "/welcome/app?") || len(inv.made) != 1 {
		t.Fatalf("invite: %d %q, %d invites", r.StatusCode, loc, len(inv.made))
	}
	tok := inv.made[0]
	if strings.Contains(loc, tok) || strings.Contains(e.logs.String(), tok) {
		t.Fatalf("the token is readable in the link or the log: %s", loc)
	}
	if len(e.prov.created) != 0 {
		t.Errorf("the invite path created an account on the web: %v", e.prov.created)
	}
	for range 2 { // a reload shows it again
		r, body = e.get(t, loc)
		uri := "xmpp:example.test?register;preauth=" + tok
		if r.StatusCode != 200 || !strings.Contains(body, `href="`+uri+`"`) || !strings.Contains(body, "within the next 60 minutes (until ") {
			t.Fatalf("the invite page: %d\n%s", r.StatusCode, body)
		}
		m := qrImgRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no QR code picture on the invite page:\n%s", body)
		}
		r, png := e.get(t, m[1])
		want, _ := qrsvg.PNG(uri, 8)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" || r.Header.Get("Cache-Control") != "no-store" || png != string(want) {
			t.Fatalf("the invite's QR code: %d %s, %d bytes", r.StatusCode, r.Header.Get("Content-Type"), len(png))
		}
		if strings.Contains(body, "<svg") || strings.Contains(body, "Add "+firstContact) {
			t.Errorf("the invite page inlines SVG or offers a first contact nobody configured")
		}
	}
	// The link lives as long as the invite.
	e.clk.Advance(61 * time.Minute)
	if r, body := e.get(t, loc); r.StatusCode != 410 || strings.Contains(body, tok) {
		t.Errorf("the invite page after the invite expired: %d", r.StatusCode)
	}

	// The server refuses: the form again, with the pass, which then
	// serves the web path.
	inv.failWith = &xmpp.Error{Kind: xmpp.NotAvailable, Op: "invite"}
	id, ans = e.newCaptcha(t)
	r, body = e.post(t, "/register", inviteForm(id, ans), nil)
	pass := passOf(body)
	if r.StatusCode != 503 || !strings.Contains(body, "Creating the account in your app is not available right now") || pass == "" {
		t.Fatalf("refused invite: %d, pass %q\n%s", r.StatusCode, pass, body)
	}
	r, _ = e.post(t, "/register", passForm(pass, "viaform", flowPW, flowPW), nil)
	if r.StatusCode != 303 || e.prov.created["viaform"] != flowPW {
		t.Fatalf("the pass after a refused invite: %d, %v", r.StatusCode, e.prov.created)
	}
	// A pass from a web try that failed serves the invite path.
	inv.failWith = nil
	id, ans = e.newCaptcha(t)
	_, body = e.post(t, "/register", signupForm(id, ans, "x", "short"), nil)
	form := url.Values{"pass": {passOf(body)}, "action": {"invite"}, "lang": {"en"}}
	if r, _ := e.post(t, "/register", form, nil); r.StatusCode != 303 || len(inv.made) != 2 {
		t.Fatalf("invite with a pass: %d, %d invites", r.StatusCode, len(inv.made))
	}

	// Not offered: no button, and a form sent with it anyway gets no invite.
	inv.offered = false
	e2 := newFlowEnv(t, func(d *handlers.Deps, _ *store.Memory) { d.Invites = inv })
	_, body = e2.get(t, "/register?lang=en")
	if inviteButtonRe.MatchString(body) {
		t.Error("the form offers invites the server does not offer")
	}
	e3 := newFlowEnv(t)
	id, ans = e3.newCaptcha(t)
	if r, body := e3.post(t, "/register", inviteForm(id, ans), nil); r.StatusCode != 503 || !strings.Contains(body, "not available right now") || passOf(body) == "" {
		t.Errorf("an invite from a portal without invites: %d", r.StatusCode)
	}
}

// TestInviteCountsAsSignup: an invite spends the client's sign-up budget
// like a sign-up; the next form of that client is refused.
func TestInviteCountsAsSignup(t *testing.T) {
	b := abuse.Budgets{SignupsPerHour: 1, GlobalSignupsPerHour: 100, CaptchasPerMinute: 100, CredentialChecksPerMinute: 100,
		OnionSignupsPerHour: 100, OnionCaptchasPerMinute: 100, OnionCredentialChecksPerMinute: 100, OnionCircuitsPerMinute: 100,
		IPv6Factor56: 2, IPv6Factor48: 4}
	inv := &fakeInvites{offered: true}
	e := newFlowEnv(t, func(d *handlers.Deps, st *store.Memory) {
		d.Invites = inv
		d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: b, TrustedProxies: []string{"127.0.0.1"}, Log: d.Log, Now: d.Now})
	})
	id, ans := e.storeCaptcha(t)
	if r, _ := e.post(t, "/register", inviteForm(id, ans), from("198.51.100.7")); r.StatusCode != 303 || len(inv.made) != 1 {
		t.Fatalf("first invite: %d", r.StatusCode)
	}
	id, ans = e.storeCaptcha(t)
	if r, _ := e.post(t, "/register", inviteForm(id, ans), from("198.51.100.7")); r.StatusCode != 429 || len(inv.made) != 1 {
		t.Fatalf("second invite of the client: %d, %d invites", r.StatusCode, len(inv.made))
	}
	id, ans = e.storeCaptcha(t)
	if r, _ := e.post(t, "/register", signupForm(id, ans, "after", flowPW), from("198.51.100.7")); r.StatusCode != 429 {
		t.Fatalf("a sign-up after the invite: %d", r.StatusCode)
	}
}

// TestFirstContactWebPath: with site.first_contact the form has a ticked
// box; a sign-up with it ticked logs in once as the new account (Contacts)
// to add the contact, and the success page says so (and keeps saying so
// on a reload); unticked, nothing is added or said; a failure is said, the
// account stays; on the invite path the page offers the contact as the
// app's next step. Without the setting nothing is shown.
func TestFirstContactWebPath(t *testing.T) {
	ct := &fakeContacts{}
	inv := &fakeInvites{offered: true}
	e := newFlowEnv(t, func(d *handlers.Deps, _ *store.Memory) {
		d.Contacts, d.Invites = ct, inv
		d.Site.FirstContact = firstContact
	})
	_, body := e.get(t, "/register?lang=en")
	if !strings.Contains(body, `<input type="checkbox" id="first_contact" name="first_contact" value="yes" checked`) ||
		!strings.Contains(body, "Add "+firstContact+" to my contacts") {
		t.Fatalf("no ticked box for the first contact:\n%s", body)
	}
	id, ans := e.newCaptcha(t)
	form := signupForm(id, ans, "Carol", flowPW)
	form.Set("first_contact", "yes")
	r, _ := e.post(t, "/register", form, nil)
	if r.StatusCode != 303 || len(ct.added) != 1 || ct.added[0] != "carol "+flowPW+" "+firstContact {
		t.Fatalf("ticked: %d, %v", r.StatusCode, ct.added)
	}
	for range 2 {
		_, body = e.get(t, r.Header.Get("Location"))
		if !strings.Contains(body, firstContact+" is in your contacts") {
			t.Fatalf("the success page does not say the contact was added:\n%s", body)
		}
	}
	// A form that failed keeps the box as it was.
	id, ans = e.newCaptcha(t)
	_, body = e.post(t, "/register", signupForm(id, ans, "dave", "short"), nil)
	if strings.Contains(body, `value="yes" checked`) {
		t.Error("an unticked box came back ticked")
	}
	r, _ = e.post(t, "/register", passForm(passOf(body), "dave", flowPW, flowPW), nil)
	_, body = e.get(t, r.Header.Get("Location"))
	if r.StatusCode != 303 || len(ct.added) != 1 || strings.Contains(body, firstContact) {
		t.Fatalf("unticked: %d, %v", r.StatusCode, ct.added)
	}
	ct.failWith = &xmpp.Error{Kind: xmpp.Unavailable}
	id, ans = e.newCaptcha(t)
	form = signupForm(id, ans, "erin", flowPW)
	form.Set("first_contact", "yes")
	r, _ = e.post(t, "/register", form, nil)
	_, body = e.get(t, r.Header.Get("Location"))
	if r.StatusCode != 303 || e.prov.created["erin"] != flowPW || !strings.Contains(body, firstContact+" could not be added") {
		t.Fatalf("failed contact: %d\n%s", r.StatusCode, body)
	}
	// The invite path: the contact as the app's next step, if ticked.
	for _, tick := range []bool{true, false} {
		id, ans = e.newCaptcha(t)
		form = inviteForm(id, ans)
		if tick {
			form.Set("first_contact", "yes")
		}
		r, _ = e.post(t, "/register", form, nil)
		_, body = e.get(t, r.Header.Get("Location"))
		if got := strings.Contains(body, `href="xmpp:`+firstContact+`?roster"`); got != tick {
			t.Errorf("invite page, box ticked %v: offers the contact %v\n%s", tick, got, body)
		}
	}

	// Not configured: no box, nobody added.
	plain := newFlowEnv(t, func(d *handlers.Deps, _ *store.Memory) { d.Contacts = ct })
	_, body = plain.get(t, "/register?lang=en")
	if strings.Contains(body, "first_contact") {
		t.Error("a box without site.first_contact")
	}
}
