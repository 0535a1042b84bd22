package xmpptest_test

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/xmpptest"
)

func version() xml.TokenReader {
	return xmltree.NewElement("jabber:iq:version", "query").TokenReader()
}

// The server plays the client's whole negotiation (STARTTLS with a
// verified certificate, SASL PLAIN, bind) and answers from the script.
func TestLoginAndScript(t *testing.T) {
	ctx := context.Background()
	s := xmpptest.New(t)
	s.AddAccount("alice@example.org", "secret")
	cfg := s.Config("example.org")

	if _, err := xmpp.Login(ctx, cfg, "alice", "wrong", nil); !errors.Is(err, xmpp.Auth) {
		t.Fatalf("wrong password: %v, want Auth", err)
	}
	if _, err := xmpp.Login(ctx, cfg, "bob", "secret", nil); !errors.Is(err, xmpp.Auth) {
		t.Fatalf("unknown account: %v, want Auth", err)
	}
	s.Expect(
		xmpptest.Exchange{From: "alice@example.org", Type: "get", To: "example.org",
			Payload: `<query xmlns="jabber:iq:version"/>`,
			Result:  `<query xmlns='jabber:iq:version'><name>scripted</name></query>`},
		xmpptest.Exchange{From: "alice@example.org", Type: "get", Want: []string{"jabber:iq:version"},
			Error: xmpptest.StanzaError("cancel", "service-unavailable", "")},
		xmpptest.Exchange{Type: "set", Lost: true},
	)
	c, err := xmpp.Login(ctx, cfg, "alice", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Secure() || !c.Authenticated() || c.LocalAddr().String() != "alice@example.org/"+xmpptest.Resource {
		t.Fatalf("secure %v, authenticated %v, address %s", c.Secure(), c.Authenticated(), c.LocalAddr())
	}
	r, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: jid.MustParse("example.org")}, version())
	if err != nil {
		t.Fatal(err)
	}
	if r.IQ.From.String() != "example.org" {
		t.Errorf("answer from %q", r.IQ.From)
	}
	var v struct {
		Name string `xml:"name"`
	}
	if err := r.Decode(&v); err != nil || v.Name != "scripted" {
		t.Fatalf("decode: %v %+v", err, v)
	}
	_, err = c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, version())
	if e := xmpp.AsError(err); e == nil || e.Kind != xmpp.NotAllowed || e.Condition != "service-unavailable" {
		t.Fatalf("error answer: %v", err)
	}
	_, err = c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, version())
	if !errors.Is(err, xmpp.Unavailable) {
		t.Fatalf("lost answer: %v, want Unavailable", err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
	}
	if s.Dials() != 3 || s.Logins("alice@example.org") != 1 {
		t.Errorf("%d dials, %d logins of alice, want 3 and 1", s.Dials(), s.Logins("alice@example.org"))
	}
}

// A stream closed by the server after its answer (Prosody after a
// deletion) ends the connection; other stanzas are recorded; an
// unauthenticated stream may send IQs at once.
func TestCloseStanzasUnauth(t *testing.T) {
	ctx := context.Background()
	s := xmpptest.New(t)
	s.AddAccount("alice@localhost", "secret")
	s.Expect(
		xmpptest.Exchange{Type: "get", Payload: `<query xmlns="jabber:iq:register"/>`, Result: `<query xmlns='jabber:iq:register'><username/><password/></query>`},
		xmpptest.Exchange{From: "alice@localhost", Type: "set", Want: []string{"<remove/>"},
			Do:    func() { s.RemoveAccount("alice@localhost") },
			Close: true, StreamError: xmpptest.StreamError("not-authorized", "Account deleted")},
	)
	u, err := xmpp.Unauth(ctx, s.Config("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmltree.NewElement("jabber:iq:register", "query").TokenReader()); err != nil {
		t.Fatal(err)
	}
	u.Close()

	c, err := xmpp.Login(ctx, s.Config("localhost"), "alice", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(ctx, xmltree.NewElement(xmpptest.NSClient, "presence").TokenReader()); err != nil {
		t.Fatal(err)
	}
	remove := xmltree.NewElement("jabber:iq:register", "query").Add(xmltree.NewElement("jabber:iq:register", "remove"))
	if _, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, remove.TokenReader()); err != nil {
		t.Fatalf("remove: %v", err)
	}
	<-c.Done()
	if _, err := xmpp.Login(ctx, s.Config("localhost"), "alice", "secret", nil); !errors.Is(err, xmpp.Auth) {
		t.Fatalf("login after removal: %v", err)
	}
	st := s.Stanzas()
	if len(st) != 1 || st[0].Name.Local != "presence" || st[0].AttrValue("from") != "alice@localhost/"+xmpptest.Resource {
		t.Fatalf("stanzas %v", st)
	}
	if !strings.Contains(s.Transcript(), "unauthenticated stream to localhost") {
		t.Errorf("transcript:\n%s", s.Transcript())
	}
}
