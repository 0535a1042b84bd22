package migrate

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

const fixturePassword = "fixture-password-123"

// testPrivate is a private XML (XEP-0049) element that no client uses: the
// fixture stores one, and the tests' exports ask for it with
// ExportOptions.ExtraPrivate (the exporter's own list holds only
// namespaces that clients use).
var testPrivate = xml.Name{Space: "urn:xmpp:pie:0:private-test", Local: "data"}

// testExport are the export options of the tests.
var testExport = ExportOptions{ExtraPrivate: []xml.Name{testPrivate}}

// fixtureUser describes the data the fixture builder puts into an account.
// It doubles as the expectation the exports are checked against.
func fixtureUser(tag string) *pie.User {
	u := &pie.User{Name: "fixture"}
	u.Roster = &pie.Roster{}
	for i := 1; i <= 22; i++ {
		it := pie.RosterItem{JID: fmt.Sprintf("contact%02d@example.net", i), Name: fmt.Sprintf("Contact %02d (%s) & <co>", i, tag)}
		switch i % 3 {
		case 0:
			it.Groups = []string{"Friends"}
		case 1:
			it.Groups = []string{"Work", "Chess club"}
		}
		u.Roster.Items = append(u.Roster.Items, it)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for x := 0; x < 8; x++ {
		img.Set(x, x, color.RGBA{R: 200, A: 255})
	}
	var pngBuf bytes.Buffer
	png.Encode(&pngBuf, img)
	b64 := base64.StdEncoding.EncodeToString(pngBuf.Bytes())
	sum := sha1.Sum(pngBuf.Bytes())
	id := hex.EncodeToString(sum[:])
	u.VCard = xmltree.NewElement(pie.NSVCard, "vCard").Add(
		xmltree.NewElement(pie.NSVCard, "FN").SetText("Fixture Person "+tag),
		xmltree.NewElement(pie.NSVCard, "NICKNAME").SetText("fixie"),
		xmltree.NewElement(pie.NSVCard, "PHOTO").Add(xmltree.NewElement(pie.NSVCard, "TYPE").SetText("image/png"), xmltree.NewElement(pie.NSVCard, "BINVAL").SetText(b64)))
	u.Private = []*xmltree.Element{
		xmltree.NewElement(NSLegacyBM, "storage").Add(
			xmltree.NewElement(NSLegacyBM, "conference", "jid", "legacy1@conference.example.net", "name", "Legacy one", "autojoin", "true").Add(xmltree.NewElement(NSLegacyBM, "nick").SetText("fixie")),
			xmltree.NewElement(NSLegacyBM, "conference", "jid", "legacy2@conference.example.net", "name", "Legacy two", "autojoin", "false")),
		xmltree.NewElement("storage:rosternotes", "storage").Add(xmltree.NewElement("storage:rosternotes", "note", "jid", "contact01@example.net").SetText("met at the chess club")),
		xmltree.NewElement(testPrivate.Space, testPrivate.Local, "tag", tag).SetText("asked for by ExportOptions.ExtraPrivate"),
	}
	u.Privacy = pie.BlocklistPrivacy([]string{"spammer@example.com", "troll@example.org", "badhost.example"})
	pep := func(node, access string, items ...pie.PEPItem) *pie.PEPNode {
		return &pie.PEPNode{Node: node, Config: pie.Form("submit", pie.NodeConfigFormType, "pubsub#access_model", access), Items: items}
	}
	u.PEP = []*pie.PEPNode{
		pep(NSAvatarData, "presence", pie.PEPItem{ID: id, Payload: xmltree.NewElement(NSAvatarData, "data").SetText(b64)}),
		pep(NSAvatarMeta, "presence", pie.PEPItem{ID: id, Payload: xmltree.NewElement(NSAvatarMeta, "metadata").Add(
			xmltree.NewElement(NSAvatarMeta, "info", "bytes", fmt.Sprint(pngBuf.Len()), "id", id, "height", "8", "width", "8", "type", "image/png"))}),
		pep(NSNick, "presence", pie.PEPItem{ID: "current", Payload: xmltree.NewElement(NSNick, "nick").SetText("Fixie " + tag)}),
		pep(NSBookmarks2, "whitelist",
			pie.PEPItem{ID: "room1@conference.example.net", Payload: xmltree.NewElement(NSBookmarks2, "conference", "name", "Room one", "autojoin", "true").Add(xmltree.NewElement(NSBookmarks2, "nick").SetText("fixie"))},
			pie.PEPItem{ID: "room2@conference.example.net", Payload: xmltree.NewElement(NSBookmarks2, "conference", "name", "Room two", "autojoin", "false")},
			pie.PEPItem{ID: "room3@conference.example.net", Payload: xmltree.NewElement(NSBookmarks2, "conference", "name", "Room three")}),
	}
	return u
}

// createAccount creates local on srv with the fixture password (XEP-0133
// add-user on the admin session, testenv's Server.CreateUser).
func createAccount(t testing.TB, srv *testenv.Server, local string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.XMPPTimeout)
	defer cancel()
	if err := srv.CreateUser(ctx, local, fixturePassword); err != nil {
		t.Fatal(err)
	}
}

// fillAccount creates local on srv and fills it with u's data over XMPP,
// then with messages archived messages sent from the admin account
// (pipelined on one session). It waits until MAM reports them and returns
// the archive count MAM reports.
func fillAccount(t testing.TB, srv *testenv.Server, local string, u *pie.User, messages int) int {
	t.Helper()
	createAccount(t, srv, local)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sum, err := Import(ctx, srv.XMPP(), local, fixturePassword, u, ImportOptions{})
	if err != nil {
		t.Fatalf("fill %s: %v", srv.Name, err)
	}
	for _, o := range sum.Items {
		if !o.OK {
			t.Fatalf("fill %s: %s %s: %s", srv.Name, o.Kind, o.Item, o.Reason)
		}
	}
	if messages == 0 {
		return 0
	}
	// The recipient is online (available), so messages are delivered and
	// archived rather than stored offline (ejabberd caps offline storage).
	var received atomic.Int64
	h := mux.New(stanza.NSClient, mux.MessageFunc(stanza.ChatMessage, xml.Name{Space: stanza.NSClient, Local: "body"},
		func(stanza.Message, xmlstream.TokenReadEncoder) error { received.Add(1); return nil }))
	user, err := xmpp.Login(ctx, srv.XMPP(), local, fixturePassword, h)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	if err := user.Send(ctx, xmltree.NewElement(pie.NSClient, "presence").TokenReader()); err != nil {
		t.Fatal(err)
	}
	// A subscription request to the admin, who never answers: the roster
	// keeps the admin as a contact with ask="subscribe" (PendingContact).
	if err := user.Send(ctx, xmltree.NewElement(pie.NSClient, "presence", "to", srv.AdminJID.Bare().String(), "type", "subscribe").TokenReader()); err != nil {
		t.Fatal(err)
	}
	u.Roster.Items = append(u.Roster.Items, pie.RosterItem{JID: srv.AdminJID.Bare().String(), Subscription: "none", Ask: "subscribe"})
	before := mamCount(t, user)
	admin, err := xmpp.Login(ctx, srv.XMPP(), srv.AdminJID.Localpart(), srv.AdminPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	to := local + "@" + srv.Domain
	start := time.Now()
	for i := 0; i < messages; i++ {
		m := xmltree.NewElement(pie.NSClient, "message", "to", to, "type", "chat", "id", fmt.Sprintf("fx%05d", i)).
			Add(xmltree.NewElement(pie.NSClient, "body").SetText(fmt.Sprintf("fixture message %05d <&> ünï", i)))
		if err := admin.Send(ctx, m.TokenReader()); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// Servers archive at 50–200 messages a second here (ejabberd's mnesia
	// archive gets slower as it grows); wait for delivery before asking MAM,
	// whose queries queue behind the writes.
	for tries := 0; tries < 3000 && received.Load() < int64(messages); tries++ {
		time.Sleep(100 * time.Millisecond)
	}
	if r := received.Load(); r < int64(messages) {
		t.Fatalf("%s: %d of %d messages delivered", srv.Name, r, messages)
	}
	want := before + messages
	n := 0
	for tries := 0; tries < 600; tries++ {
		if n = mamCount(t, user); n >= want {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n < want {
		t.Fatalf("%s: MAM reports %d messages, want %d", srv.Name, n, want)
	}
	t.Logf("%s: %d messages sent and archived in %s", srv.Name, messages, time.Since(start).Round(time.Millisecond))

	// Offline messages: the recipient goes away, the admin sends a few more.
	// They are stored offline (and archived); the final archive count is
	// read on a session that never sends presence (which would flush them).
	// Close waits until the server closed the stream: the session is gone.
	user.Close()
	for i := 0; i < fixtureOffline; i++ {
		m := xmltree.NewElement(pie.NSClient, "message", "to", to, "type", "chat", "id", fmt.Sprintf("off%d", i)).
			Add(xmltree.NewElement(pie.NSClient, "body").SetText(fmt.Sprintf("offline message %d", i)))
		if err := admin.Send(ctx, m.TokenReader()); err != nil {
			t.Fatal(err)
		}
	}
	quiet, err := xmpp.Login(ctx, srv.XMPP(), local, fixturePassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	// Wait until the count is stable (whether a server archives offline
	// messages is its business).
	last := -1
	for tries := 0; tries < 50; tries++ {
		c := mamCount(t, quiet)
		if c == last && c >= n {
			break
		}
		last = c
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

// fixtureOffline is the number of offline messages of the fixture.
const fixtureOffline = 3

// mamCount asks MAM for the size of the account's archive (RSM count).
func mamCount(t testing.TB, c *xmpp.Conn) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang limit
	defer cancel()
	res, err := mamPage(ctx, c, c.LocalAddr().Bare(), history.Query{Limit: 1, Last: true})
	if err != nil {
		t.Fatalf("mam count: %v", err)
	}
	if res.Set.Count == nil {
		t.Fatal("server reports no archive count")
	}
	return int(*res.Set.Count)
}

// checkUser compares an account read back (got) with the fixture (want).
// Servers may add data (Prosody mirrors vCard and bookmarks into PEP), so
// every wanted item must be there with its contents; extras are allowed.
func checkUser(t *testing.T, want, got *pie.User) {
	t.Helper()
	if got == nil {
		t.Fatal("no user in the document")
	}
	// Roster: every contact, with name and groups.
	have := map[string]pie.RosterItem{}
	if got.Roster != nil {
		for _, it := range got.Roster.Items {
			have[it.JID] = it
		}
	}
	if got.Roster == nil || len(got.Roster.Items) != len(want.Roster.Items) {
		t.Errorf("roster: got %d items, want %d", len(have), len(want.Roster.Items))
	}
	for _, w := range want.Roster.Items {
		g, ok := have[w.JID]
		if !ok {
			t.Errorf("roster: %s missing", w.JID)
			continue
		}
		if g.Name != w.Name || strings.Join(sorted(g.Groups), "|") != strings.Join(sorted(w.Groups), "|") {
			t.Errorf("roster %s: got %q %v, want %q %v", w.JID, g.Name, g.Groups, w.Name, w.Groups)
		}
		if w.Ask != "" && g.Ask != w.Ask {
			t.Errorf("roster %s: ask %q, want %q (a pending subscription request)", w.JID, g.Ask, w.Ask)
		}
	}
	// vCard.
	if fn := got.VCard.Child(pie.NSVCard, "FN").Text(); fn != want.VCard.Child(pie.NSVCard, "FN").Text() {
		t.Errorf("vcard FN: got %q", fn)
	}
	// PEP nodes: every wanted item, payload equal.
	for _, wn := range want.PEP {
		gn := got.Node(wn.Node)
		if gn == nil {
			t.Errorf("pep node %s missing", wn.Node)
			continue
		}
		if gn.Config == nil {
			t.Errorf("pep node %s: no configuration", wn.Node)
		}
		for _, wi := range wn.Items {
			found := false
			for _, gi := range gn.Items {
				if (wi.ID == "current" || gi.ID == wi.ID) && samePayload(wi.Payload, gi.Payload) {
					found = true
				}
			}
			if !found {
				t.Errorf("pep %s item %s missing or different: have %d items", wn.Node, wi.ID, len(gn.Items))
			}
		}
	}
	// Private XML: legacy bookmarks and roster notes.
	lb := got.PrivateElement(NSLegacyBM)
	for _, c := range want.PrivateElement(NSLegacyBM).Elements() {
		found := false
		for _, g := range lb.Elements() {
			if g.AttrValue("jid") == c.AttrValue("jid") && g.AttrValue("name") == c.AttrValue("name") {
				found = true
			}
		}
		if !found {
			t.Errorf("legacy bookmark %s missing", c.AttrValue("jid"))
		}
	}
	if n := got.PrivateElement("storage:rosternotes").Child("", "note").Text(); n != "met at the chess club" {
		t.Errorf("roster note: got %q", n)
	}
	// Private XML that only ExportOptions.ExtraPrivate asks for.
	if g, w := got.PrivateElement(testPrivate.Space), want.PrivateElement(testPrivate.Space); g == nil || g.Text() != w.Text() || g.AttrValue("tag") != w.AttrValue("tag") {
		t.Errorf("private %s: got %v, want %s", testPrivate.Space, g, w)
	}
	// Blocklist.
	if g, w := strings.Join(sorted(got.Blocklist()), " "), strings.Join(sorted(want.Blocklist()), " "); g != w {
		t.Errorf("blocklist: got %q, want %q", g, w)
	}
}

// samePayload compares two payloads by name, attributes and text, ignoring
// attribute order and extra attributes the server added.
func samePayload(a, b *xmltree.Element) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Name != b.Name || strings.TrimSpace(a.Text()) != strings.TrimSpace(b.Text()) {
		return false
	}
	for _, at := range a.Attr {
		if b.AttrValue(at.Name.Local) != at.Value {
			// XEP-0402 autojoin is a boolean: 1 and true are the same.
			if !(at.Name.Local == "autojoin" && (at.Value == "true") == (b.AttrValue("autojoin") == "1" || b.AttrValue("autojoin") == "true")) {
				return false
			}
		}
	}
	ae, be := a.Elements(), b.Elements()
	for _, c := range ae {
		ok := false
		for _, d := range be {
			if samePayload(c, d) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// readBack logs in to an account and reads it with the exporter (archive
// included) into a parsed document.
func readBack(t *testing.T, cfg xmpp.Config, local string) (*pie.Document, ExportStats, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ex, err := OpenExport(ctx, cfg, local, fixturePassword, testExport)
	if err != nil {
		t.Fatalf("open export: %v", err)
	}
	defer ex.Close()
	var buf bytes.Buffer
	st, err := ex.WriteTo(ctx, &buf)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	doc, err := pie.Parse(bytes.NewReader(buf.Bytes()), pie.Options{})
	if err != nil {
		t.Fatalf("parse export: %v", err)
	}
	return doc, st, buf.Bytes()
}
