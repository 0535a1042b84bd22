package migrate

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp/xmpptest"
)

// Export and import against a scripted server (package xmpptest): fast, no
// real server. The requests are exactly those Prosody 0.12 and ejabberd
// 23.01 get from this package (recorded through a proxy in front of the
// servers TestMigration starts) and the answers are theirs, trimmed. Each
// Dial of the scripted server is one login: an export costs 1, an import 1
// per account.

const (
	scriptedOwn      = "portal.example" // the portal's own server
	scriptedOther    = "old.example"    // another server, reached through the public dialer
	scriptedPassword = "scripted Secret phrase 9"
)

// scriptedService is a Service whose own domain and whose other server are
// both the scripted server: the other through the public dialer, which
// resolves old.example to a public address (1.1.1.1) and connects there
// with the server's Dial.
func scriptedService(srv *xmpptest.Server) *Service {
	return &Service{Resolver: Resolver{
		Own: srv.Config(scriptedOwn),
		LookupNetIP: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			if host != scriptedOther {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			return []netip.Addr{netip.MustParseAddr("1.1.1.1")}, nil
		},
		connect: srv.Dial,
	}}
}

// publishOptionsForm is the publish-options form of the importer (persist,
// access model), as xmltree writes it.
func publishOptionsForm(access string) string {
	return `<publish-options><x xmlns="jabber:x:data" type="submit">` +
		`<field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
		`<field var="pubsub#persist_items"><value>true</value></field>` +
		`<field var="pubsub#access_model"><value>` + access + `</value></field></x></publish-options>`
}

// TestImportScripted moves bob@old.example to newbie@portal.example as the
// import page does: both logins first, the moved statement published on the
// old account, then the upload restored into the new one.
func TestImportScripted(t *testing.T) {
	ctx := context.Background()
	srv := xmpptest.New(t)
	const newbie, bob = "newbie@" + scriptedOwn, "bob@" + scriptedOther
	srv.AddAccount(newbie, scriptedPassword)
	srv.AddAccount(bob, "old "+scriptedPassword)
	svc := scriptedService(srv)

	u := &pie.User{Name: "bob"}
	u.Roster = &pie.Roster{Items: []pie.RosterItem{
		{JID: "carol@example.net", Name: "Carol", Subscription: "none", Groups: []string{"Friends"}},
		{JID: "dave@example.net", Subscription: "both"},
		{JID: newbie, Subscription: "both"}, // the new account itself: left out
	}}
	u.VCard = xmltree.NewElement(pie.NSVCard, "vCard").Add(xmltree.NewElement(pie.NSVCard, "FN").SetText("Bob Person"))
	u.PEP = []*pie.PEPNode{
		{Node: NSNick, Config: pie.Form("submit", pie.NodeConfigFormType, "pubsub#access_model", "presence"),
			Items: []pie.PEPItem{{ID: "current", Payload: xmltree.NewElement(NSNick, "nick").SetText("Bobby")}}},
		{Node: NSMoved, Items: []pie.PEPItem{{ID: "current", Payload: xmltree.NewElement(NSMoved, "moved").Add(xmltree.NewElement(NSMoved, "new-jid").SetText("elsewhere@example.net"))}}},
	}
	u.Privacy = pie.BlocklistPrivacy([]string{"spammer@example.com"})
	u.Archive = []*pie.ArchiveResult{
		{ID: "a1", Stamp: "2026-01-01T00:00:00Z", Message: xmltree.NewElement(pie.NSClient, "message", "from", "carol@example.net", "to", bob).Add(xmltree.NewElement(pie.NSClient, "body").SetText("hi"))},
		{ID: "a2", Stamp: "2026-01-01T00:01:00Z", Message: xmltree.NewElement(pie.NSClient, "message", "from", bob, "to", "carol@example.net").Add(xmltree.NewElement(pie.NSClient, "body").SetText("hello"))},
	}
	var file bytes.Buffer
	w := pie.NewWriter(&file)
	w.StartHost(scriptedOther)
	w.WriteUser(u)
	w.EndHost()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	up, err := svc.ReadUpload(&file, func(name string) bool { return name == "newbie" })
	if err != nil {
		t.Fatal(err)
	}
	if up.Owner() != bob || up.ArchiveCount() != 2 {
		t.Fatalf("upload of %s with %d archived messages", up.Owner(), up.ArchiveCount())
	}

	nickItem := `<item id="current"><nick xmlns="http://jabber.org/protocol/nick">Bobby</nick></item>`
	srv.Expect(
		// The moved statement on the old account (XEP-0283): Prosody's answer.
		xmpptest.Exchange{From: bob, Type: "set",
			Payload: `<pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="urn:xmpp:moved:1"><item id="current">` +
				`<moved xmlns="urn:xmpp:moved:1"><new-jid>` + newbie + `</new-jid></moved></item></publish>` + publishOptionsForm("presence") + `</pubsub>`,
			Result: `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:moved:1'><item id='current'/></publish></pubsub>`},
		// Roster items one by one; ejabberd pushes each before its result
		// (the client refuses the push: the import never asked for the roster).
		xmpptest.Exchange{From: newbie, Type: "set",
			Payload: `<query xmlns="jabber:iq:roster"><item jid="carol@example.net" name="Carol"><group>Friends</group></item></query>`,
			Before: []string{`<iq to='` + newbie + `/` + xmpptest.Resource + `' from='` + newbie + `' type='set' id='push1'>` +
				`<query ver='1' xmlns='jabber:iq:roster'><item subscription='none' name='Carol' jid='carol@example.net'><group>Friends</group></item></query></iq>`}},
		xmpptest.Exchange{From: newbie, Type: "set", Payload: `<query xmlns="jabber:iq:roster"><item jid="dave@example.net"/></query>`},
		xmpptest.Exchange{From: newbie, Type: "set", Payload: `<vCard xmlns="vcard-temp"><FN>Bob Person</FN></vCard>`},
		// The nickname with its access model; this server refuses the
		// publish-options (Prosody's answer when a node's configuration
		// differs), so it is published again without them.
		xmpptest.Exchange{From: newbie, Type: "set",
			Payload: `<pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="http://jabber.org/protocol/nick">` + nickItem + `</publish>` + publishOptionsForm("presence") + `</pubsub>`,
			Error: `<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				`<precondition-not-met xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`},
		xmpptest.Exchange{From: newbie, Type: "set",
			Payload: `<pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="http://jabber.org/protocol/nick">` + nickItem + `</publish></pubsub>`,
			Result:  `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/nick'><item id='current'/></publish></pubsub>`},
		xmpptest.Exchange{From: newbie, Type: "set", Payload: `<block xmlns="urn:xmpp:blocking"><item jid="spammer@example.com"/></block>`},
	)

	// Both passwords are proven before anything is written.
	target, err := svc.Login(ctx, newbie, scriptedPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	source, err := svc.Login(ctx, bob, "old "+scriptedPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	if err := source.PublishMoved(ctx, target.Address()); err != nil {
		t.Fatalf("moved statement: %v", err)
	}
	res := target.Import(ctx, up, ImportOptions{Subscribe: true, MovedFrom: source.Address()})

	type outcome struct {
		kind, item string
		ok         bool
		reason     string
	}
	var got []outcome
	for _, o := range res.Summary.Items {
		got = append(got, outcome{o.Kind, o.Item, o.OK, o.Reason})
	}
	want := []outcome{
		{KindContact, "carol@example.net", true, ""},
		{KindContact, "dave@example.net", true, ""},
		{KindSubscription, "dave@example.net", true, ""},
		{KindContact, newbie, false, "the new account itself"},
		{KindVCard, "vcard-temp", true, ""},
		{KindNickname, NSNick, true, ""},
		{KindPEP, NSMoved, false, "belongs to the old account"},
		{KindBlocked, "spammer@example.com", true, ""},
		{KindArchive, "2", false, "no server accepts a message archive over XMPP"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("summary:\n%v\nwant\n%v", got, want)
	}

	// The subscription request carries the XEP-0283 notice and the nickname.
	var subs []string
	for _, st := range srv.Stanzas() {
		subs = append(subs, st.String())
	}
	wantSub := `<presence xmlns="jabber:client" to="dave@example.net" type="subscribe"`
	if len(subs) != 1 || !strings.HasPrefix(subs[0], wantSub) ||
		!strings.Contains(subs[0], `<moved xmlns="urn:xmpp:moved:1"><old-jid>`+bob+`</old-jid></moved><nick xmlns="http://jabber.org/protocol/nick">Bobby</nick>`) {
		t.Errorf("stanzas sent: %q", subs)
	}
	// One login per account.
	if srv.Dials() != 2 || srv.Logins(newbie) != 1 || srv.Logins(bob) != 1 {
		t.Errorf("%d logins (%d of %s, %d of %s), want one per account", srv.Dials(), srv.Logins(newbie), newbie, srv.Logins(bob), bob)
	}
}

// TestExportScripted exports a small account (two contacts, a vCard, one
// MAM page of two messages) with Prosody's answers, on one login.
func TestExportScripted(t *testing.T) {
	ctx := context.Background()
	srv := xmpptest.New(t)
	const alice = "alice@" + scriptedOwn
	full := alice + "/" + xmpptest.Resource
	srv.AddAccount(alice, scriptedPassword)

	var script []xmpptest.Exchange
	get := func(to, payload, result string) {
		script = append(script, xmpptest.Exchange{From: alice, Type: "get", To: to, Payload: payload, Result: result})
	}
	notFound := xmpptest.StanzaError("cancel", "item-not-found", "")
	// Offline messages: asked for where the server offers XEP-0013, which
	// Prosody does not (msgoffline only), on the account nor the server.
	get(alice, `<query xmlns="http://jabber.org/protocol/disco#info"/>`,
		`<query xmlns='http://jabber.org/protocol/disco#info'><identity type='registered' category='account'/><feature var='urn:xmpp:mam:2'/><identity type='pep' category='pubsub'/><feature var='http://jabber.org/protocol/pubsub#publish-options'/></query>`)
	get(scriptedOwn, `<query xmlns="http://jabber.org/protocol/disco#info"/>`,
		`<query xmlns='http://jabber.org/protocol/disco#info'><identity type='im' name='Prosody' category='server'/><feature var='vcard-temp'/><feature var='jabber:iq:private'/><feature var='urn:xmpp:blocking'/><feature var='msgoffline'/><feature var='jabber:iq:roster'/></query>`)
	get("", `<query xmlns="jabber:iq:roster"/>`,
		`<query xmlns='jabber:iq:roster' ver='2'><item name='Carol' subscription='both' jid='carol@example.net'><group>Friends</group></item><item subscription='none' ask='subscribe' jid='dave@example.net'/></query>`)
	get("", `<vCard xmlns="vcard-temp"/>`,
		`<vCard xmlns='vcard-temp'><FN>Alice Person</FN><N><FAMILY/><GIVEN/><MIDDLE/><PREFIX/><SUFFIX/></N></vCard>`)
	// Private XML: every known name is asked for; an empty one comes back.
	for _, n := range privateNames {
		el := `<` + n.Local + ` xmlns="` + n.Space + `"/>`
		get("", `<query xmlns="jabber:iq:private">`+el+`</query>`,
			`<query xmlns='jabber:iq:private'><`+n.Local+` xmlns='`+n.Space+`'/></query>`)
	}
	get("", `<blocklist xmlns="urn:xmpp:blocking"/>`, `<blocklist xmlns='urn:xmpp:blocking'/>`)
	// PEP: none listed; the well-known nodes are asked for and do not exist.
	get(alice, `<query xmlns="http://jabber.org/protocol/disco#items"/>`, `<query xmlns='http://jabber.org/protocol/disco#items'/>`)
	for _, n := range knownNodes {
		script = append(script, xmpptest.Exchange{From: alice, Type: "get",
			Payload: `<pubsub xmlns="http://jabber.org/protocol/pubsub#owner"><configure node="` + n + `"/></pubsub>`, Error: notFound})
	}
	// One MAM page: the results come as messages before the <fin/> (one as
	// Prosody sends it, one as ejabberd does), and a result from anyone
	// else is dropped.
	result := func(from, id, body string) string {
		f := ""
		if from != "" {
			f = ` from='` + from + `'`
		}
		return `<message to='` + full + `'` + f + `><result xmlns='urn:xmpp:mam:2' queryid='export-0' id='` + id + `'>` +
			`<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-12-07T02:52:40Z'/>` +
			`<message xml:lang='en' to='` + alice + `' id='m` + id + `' type='chat' xmlns='jabber:client' from='carol@example.net/phone'><body>` + body + `</body></message>` +
			`</forwarded></result></message>`
	}
	script = append(script, xmpptest.Exchange{From: alice, Type: "set", To: alice,
		Payload: `<query xmlns="urn:xmpp:mam:2" queryid="export-0"><x xmlns="jabber:x:data" type="submit"><field type="hidden" var="FORM_TYPE"><value>urn:xmpp:mam:2</value></field></x>` +
			`<set xmlns="http://jabber.org/protocol/rsm"><max>100</max></set></query>`,
		Before: []string{result("", "A1", "hello 0"), result("mallory@evil.example", "X1", "spoofed"), result(alice, "A2", "hello 1")},
		Result: `<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first>A1</first><last>A2</last><count>2</count></set></fin>`})
	srv.Expect(script...)

	ex, err := scriptedService(srv).OpenExport(ctx, "alice", scriptedPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var out bytes.Buffer
	st, err := ex.WriteTo(ctx, &out)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if st.Roster != 2 || !st.VCard || st.Archive != 2 || st.ArchiveReported != 2 || st.Pages != 1 ||
		st.Private != 0 || st.Blocked != 0 || st.PEPNodes != 0 || st.Offline != 0 || len(st.Skipped) != 0 {
		t.Errorf("stats %+v", st)
	}
	doc, err := pie.Parse(bytes.NewReader(out.Bytes()), pie.Options{})
	if err != nil {
		t.Fatalf("the export does not parse: %v\n%s", err, out.String())
	}
	h, u := doc.User()
	if h == nil || h.JID != scriptedOwn || u.Name != "alice" {
		t.Fatalf("host %+v, user %+v", h, u)
	}
	if got := u.Roster.Items; len(got) != 2 ||
		!(got[0].JID == "carol@example.net" && got[0].Name == "Carol" && got[0].Subscription == "both" && slices.Equal(got[0].Groups, []string{"Friends"})) ||
		!(got[1].JID == "dave@example.net" && got[1].Ask == "subscribe") {
		t.Errorf("roster %+v", got)
	}
	if fn := u.VCard.Child(pie.NSVCard, "FN").Text(); fn != "Alice Person" {
		t.Errorf("vCard FN %q", fn)
	}
	var bodies []string
	for _, r := range u.Archive {
		bodies = append(bodies, r.ID+":"+r.Message.Child(pie.NSClient, "body").Text())
	}
	if !slices.Equal(bodies, []string{"A1:hello 0", "A2:hello 1"}) {
		t.Errorf("archive %v", bodies)
	}
	if bytes.Contains(out.Bytes(), []byte(scriptedPassword)) {
		t.Error("the export contains the password")
	}
	if srv.Dials() != 1 {
		t.Errorf("the export cost %d logins, want 1", srv.Dials())
	}
}
