package account

import (
	"context"
	"encoding/xml"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Namespaces of the first contact's stanzas.
const (
	NSRoster = "jabber:iq:roster"
	nsPing   = "urn:xmpp:ping"
	nsClient = "jabber:client"
)

// AddContact gives a new account its first contact, address (a bare
// address, as policy.ParseAddress makes it): it logs in once as
// local with password (the account's own session: the one thing the portal
// may do as the account, with the password the newcomer just chose), puts
// contact on the account's roster (RFC 6121 roster set) and sends it a
// subscription request (presence type subscribe), so that the contact
// finds the newcomer's request waiting and the newcomer sees the contact
// in the app with the request pending. A ping afterwards makes sure the
// server has handled both before the session ends. No initial presence is
// sent (the server holds nothing back for this session), and nothing else
// is touched.
//
// Errors are *xmpp.Error: Auth (the login was refused), Unavailable, or the
// kind of the server's refusal of the roster item. A failure after the
// roster item was set leaves the item (the request may not have gone out).
func (m *Manager) AddContact(ctx context.Context, local, password, address string) error {
	contact, err := jid.Parse(address)
	if err != nil || contact.Domainpart() == "" || contact.Localpart() == "" || contact.Resourcepart() != "" {
		return &xmpp.Error{Kind: xmpp.InvalidName, Op: "first_contact", Text: "not an account's address", Err: err}
	}
	s, err := m.Login(ctx, local, password)
	if err != nil {
		m.log.WarnContext(ctx, "account.first_contact_failed", "step", "login", "kind", xmpp.KindOf(err).String())
		return err
	}
	defer s.Close()
	err = s.addContact(ctx, contact)
	if err != nil {
		e := xmpp.AsError(err)
		m.log.WarnContext(ctx, "account.first_contact_failed", "kind", e.Kind.String(), "condition", e.Condition)
		return e
	}
	m.log.InfoContext(ctx, "account.first_contact_added")
	m.log.DebugContext(ctx, "account.first_contact_added", "user", local)
	return nil
}

func (s *Session) addContact(ctx context.Context, contact jid.JID) error {
	item := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: NSRoster, Local: "item"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "jid"}, Value: contact.String()}},
	})
	q := xmlstream.Wrap(item, xml.StartElement{Name: xml.Name{Space: NSRoster, Local: "query"}})
	if _, err := s.c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, q); err != nil {
		return err
	}
	p := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: nsClient, Local: "presence"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "to"}, Value: contact.String()}, {Name: xml.Name{Local: "type"}, Value: "subscribe"}},
	})
	if err := s.c.Send(ctx, p); err != nil {
		return err
	}
	// The server handles a session's stanzas in order: its answer to the
	// ping comes after it handled the subscription request.
	ping := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsPing, Local: "ping"}})
	_, err := s.c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: s.m.domain}, ping)
	return err
}
