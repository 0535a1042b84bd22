package account

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// rosterItem is one item of a roster as the server sends it.
type rosterItem struct {
	JID          string `xml:"jid,attr"`
	Subscription string `xml:"subscription,attr"`
	Ask          string `xml:"ask,attr"`
}

// roster logs in as local and returns its roster.
func roster(ctx context.Context, t *testing.T, cfg xmpp.Config, local, password string) []rosterItem {
	t.Helper()
	c, err := xmpp.Login(ctx, cfg, local, password, nil)
	if err != nil {
		t.Fatalf("login as %s: %v", local, err)
	}
	defer c.Close()
	r, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NSRoster, Local: "query"}}))
	if err != nil {
		t.Fatalf("roster of %s: %v", local, err)
	}
	var q struct {
		Items []rosterItem `xml:"item"`
	}
	if err := r.Decode(&q); err != nil {
		t.Fatalf("roster of %s: %v", local, err)
	}
	return q.Items
}

// TestFirstContact: the portal gives a new account its first contact on
// real Prosody and real ejabberd: with one login as the new account (one
// dial, counted), the contact is on the account's roster with the
// subscription request pending (subscription none, ask subscribe), and the
// contact, when it logs in, gets the request. A wrong password adds
// nothing (Auth); the log names no account.
func TestFirstContact(t *testing.T) {
	testenv.EachServer(t, testenv.Options{Mode: testenv.ModeAdmin}, func(t *testing.T, srv *testenv.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cfg := srv.XMPP()
		var dials atomic.Int64
		mcfg := cfg
		mcfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		logs := &testenv.LockedBuffer{}
		mgr := New(Config{XMPP: mcfg, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
		const pw = "first contact phrase 7"
		for _, u := range []string{"operator", "newcomer", "other"} {
			if err := srv.CreateUser(ctx, u, pw); err != nil {
				t.Fatal(err)
			}
		}
		operator, _ := jid.New("operator", srv.Domain, "")

		// The operator is online, and sees the request come in.
		got := make(chan string, 4)
		h := handlerFunc(func(t xml.TokenReader, start *xml.StartElement) error {
			if start.Name.Local == "presence" {
				for _, a := range start.Attr {
					if a.Name.Local == "type" && a.Value == "subscribe" {
						for _, f := range start.Attr {
							if f.Name.Local == "from" {
								got <- f.Value
							}
						}
					}
				}
			}
			return nil
		})
		op, err := xmpp.Login(ctx, cfg, "operator", pw, h)
		if err != nil {
			t.Fatal(err)
		}
		defer op.Close()
		if err := op.Send(ctx, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsClient, Local: "presence"}})); err != nil {
			t.Fatal(err)
		}
		// The initial presence is handled before this answer comes back.
		if _, err := op.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsPing, Local: "ping"}})); err != nil {
			t.Fatal(err)
		}

		if err := mgr.AddContact(ctx, "newcomer", pw, operator.String()); err != nil {
			t.Fatalf("AddContact: %v", err)
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("AddContact took %d logins, want 1", n)
		}
		items := roster(ctx, t, cfg, "newcomer", pw)
		if len(items) != 1 || items[0].JID != operator.String() || items[0].Ask != "subscribe" || (items[0].Subscription != "none" && items[0].Subscription != "") {
			t.Fatalf("the new account's roster: %+v, want %s with subscription none and the request pending (ask subscribe)", items, operator)
		}
		select {
		case from := <-got:
			if !strings.HasPrefix(from, "newcomer@"+srv.Domain) {
				t.Errorf("the operator got a request from %q", from)
			}
		case <-ctx.Done():
			t.Fatal("the operator never got the subscription request")
		}

		// A wrong password: nothing added.
		if err := mgr.AddContact(ctx, "other", "not the password", operator.String()); !errors.Is(err, xmpp.Auth) {
			t.Errorf("AddContact with a wrong password: %v, want Auth", err)
		}
		if items := roster(ctx, t, cfg, "other", pw); len(items) != 0 {
			t.Errorf("a refused login added %+v", items)
		}
		if s := logs.String(); strings.Contains(s, "newcomer") || strings.Contains(s, "operator") || !strings.Contains(s, "account.first_contact_added") {
			t.Errorf("the log names an account, or says nothing:\n%s", s)
		}
	})
}

// handlerFunc is a mellium handler from a function.
type handlerFunc func(t xml.TokenReader, start *xml.StartElement) error

func (f handlerFunc) HandleXMPP(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	return f(t, start)
}
