package pie

import (
	"bufio"
	"encoding/xml"
	"errors"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"io"
)

// Writer writes a XEP-0227 document element by element: nothing but the
// element being written is held in memory, so a message archive of any size
// streams through. The document is complete only after Close; a writer
// abandoned half way leaves an unclosed (visibly truncated) document.
//
// Sections of a user should be written in this order (the order Parse
// returns and WriteDocument uses): OfflineMessages (must be first: the
// schema wants it so), Roster, VCard, Private, Privacy, Subscriptions,
// PEPConfig, the PEP items (StartPEPItems, PEPItems…, EndPEPItems), the
// archive (StartArchive, ArchiveResult…, EndArchive), Extra.
type Writer struct {
	w     *bufio.Writer
	err   error
	state wstate
	inPEP bool
	inArc bool
}

type wstate int

const (
	wNew wstate = iota
	wDoc
	wHost
	wUser
	wUserBody // user has at least one child
	wClosed
)

// ErrState is returned when a Writer method is called out of order.
var ErrState = errors.New("pie: writer method called out of order")

// NewWriter returns a Writer on w. Call Flush to push buffered bytes out
// (for example after each archive page) and Close to end the document.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 32<<10)}
}

// Err returns the first error met by the writer.
func (w *Writer) Err() error { return w.err }

// Flush writes buffered bytes to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = err
	}
	return w.err
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// StartHost writes the document header (first time) and opens a host.
func (w *Writer) StartHost(jid string) error {
	if w.err != nil {
		return w.err
	}
	switch w.state {
	case wNew:
		w.w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		w.w.WriteString(`<server-data xmlns="` + NS + `">` + "\n")
	case wDoc:
	default:
		return w.fail(ErrState)
	}
	w.state = wHost
	w.w.WriteString(` <host jid="`)
	xmltree.EscapeAttr(w.w, jid)
	w.w.WriteString(`">` + "\n")
	return nil
}

// EndHost closes the host.
func (w *Writer) EndHost() error {
	if w.err != nil {
		return w.err
	}
	if w.state != wHost {
		return w.fail(ErrState)
	}
	w.w.WriteString(" </host>\n")
	w.state = wDoc
	return nil
}

// StartUser opens a user. Never pass a password: the portal exports none.
func (w *Writer) StartUser(name string) error {
	if w.err != nil {
		return w.err
	}
	if w.state != wHost {
		return w.fail(ErrState)
	}
	w.w.WriteString(`  <user name="`)
	xmltree.EscapeAttr(w.w, name)
	w.w.WriteString(`">` + "\n")
	w.state = wUser
	return nil
}

// EndUser closes the user.
func (w *Writer) EndUser() error {
	if w.err != nil {
		return w.err
	}
	if (w.state != wUser && w.state != wUserBody) || w.inPEP || w.inArc {
		return w.fail(ErrState)
	}
	w.w.WriteString("  </user>\n")
	w.state = wHost
	return nil
}

// Close ends the document and flushes. Call it only when everything was
// written: an export that failed must not look complete.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	switch w.state {
	case wNew:
		w.w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		w.w.WriteString(`<server-data xmlns="` + NS + `">` + "\n")
	case wDoc:
	default:
		return w.fail(ErrState)
	}
	w.w.WriteString("</server-data>\n")
	w.state = wClosed
	return w.Flush()
}

// section checks that a user child may be written now.
func (w *Writer) section() error {
	if w.err != nil {
		return w.err
	}
	if (w.state != wUser && w.state != wUserBody) || w.inPEP || w.inArc {
		return w.fail(ErrState)
	}
	w.state = wUserBody
	return nil
}

// element writes e as a child of the user at the given indentation.
func (w *Writer) element(e *xmltree.Element, indent, parentNS string) {
	w.w.WriteString(indent)
	xmltree.Write(w.w, e, parentNS)
	w.w.WriteByte('\n')
}

// OfflineMessages writes <offline-messages/>; it must be the user's first child.
func (w *Writer) OfflineMessages(msgs []*xmltree.Element) error {
	if w.err != nil {
		return w.err
	}
	if w.state != wUser {
		return w.fail(ErrState)
	}
	if err := w.section(); err != nil {
		return err
	}
	e := xmltree.NewElement(NS, "offline-messages")
	for _, m := range msgs {
		e.Add(m)
	}
	w.element(e, "   ", NS)
	return nil
}

// Roster writes the contact list.
func (w *Writer) Roster(r *Roster) error {
	if err := w.section(); err != nil {
		return err
	}
	w.element(RosterElement(r), "   ", NS)
	return nil
}

// RosterElement returns the <query xmlns='jabber:iq:roster'/> for r.
func RosterElement(r *Roster) *xmltree.Element {
	q := xmltree.NewElement(NSRoster, "query")
	if r == nil {
		return q
	}
	if r.Ver != "" {
		q.Attr = append(q.Attr, attr("ver", r.Ver))
	}
	for _, it := range r.Items {
		e := xmltree.NewElement(NSRoster, "item", "jid", it.JID)
		if it.Name != "" {
			e.Attr = append(e.Attr, attr("name", it.Name))
		}
		if it.Subscription != "" {
			e.Attr = append(e.Attr, attr("subscription", it.Subscription))
		}
		if it.Ask != "" {
			e.Attr = append(e.Attr, attr("ask", it.Ask))
		}
		for _, g := range it.Groups {
			e.Add(xmltree.NewElement(NSRoster, "group").SetText(g))
		}
		q.Add(e)
	}
	return q
}

// VCard writes the vcard-temp element (nil: nothing).
func (w *Writer) VCard(v *xmltree.Element) error {
	if err := w.section(); err != nil || v == nil {
		return err
	}
	w.element(v, "   ", NS)
	return nil
}

// Private writes the private XML storage (XEP-0049), one child per namespace.
func (w *Writer) Private(elems []*xmltree.Element) error {
	if err := w.section(); err != nil || len(elems) == 0 {
		return err
	}
	q := xmltree.NewElement(NSPrivate, "query")
	for _, e := range elems {
		q.Add(e)
	}
	w.element(q, "   ", NS)
	return nil
}

// Privacy writes privacy lists (nil: nothing). The blocklist is written
// through this: see BlocklistPrivacy.
func (w *Writer) Privacy(p *Privacy) error {
	if err := w.section(); err != nil || p == nil {
		return err
	}
	w.element(PrivacyElement(p), "   ", NS)
	return nil
}

// PrivacyElement returns the <query xmlns='jabber:iq:privacy'/> for p.
func PrivacyElement(p *Privacy) *xmltree.Element {
	q := xmltree.NewElement(NSPrivacy, "query")
	if p.Active != "" {
		q.Add(xmltree.NewElement(NSPrivacy, "active", "name", p.Active))
	}
	if p.Default != "" {
		q.Add(xmltree.NewElement(NSPrivacy, "default", "name", p.Default))
	}
	for _, l := range p.Lists {
		le := xmltree.NewElement(NSPrivacy, "list", "name", l.Name)
		for _, it := range l.Items {
			ie := xmltree.NewElement(NSPrivacy, "item")
			if it.Type != "" {
				ie.Attr = append(ie.Attr, attr("type", it.Type), attr("value", it.Value))
			}
			ie.Attr = append(ie.Attr, attr("action", it.Action), attr("order", itoa(it.Order)))
			for _, s := range it.Stanzas {
				ie.Add(xmltree.NewElement(NSPrivacy, s))
			}
			le.Add(ie)
		}
		q.Add(le)
	}
	return q
}

// Subscriptions writes pending inbound subscription requests.
func (w *Writer) Subscriptions(presences []*xmltree.Element) error {
	if err := w.section(); err != nil {
		return err
	}
	for _, p := range presences {
		w.element(p, "   ", NS)
	}
	return nil
}

// PEPConfig writes the one <pubsub xmlns='…#owner'/> with a <configure/>
// (and affiliations and subscriptions, where known) for every node.
func (w *Writer) PEPConfig(nodes []*PEPNode) error {
	if err := w.section(); err != nil || len(nodes) == 0 {
		return err
	}
	ps := xmltree.NewElement(NSPubSubOwner, "pubsub")
	for _, n := range nodes {
		cfg := n.Config
		if cfg == nil {
			cfg = Form("submit", NodeConfigFormType)
		}
		ps.Add(xmltree.NewElement(NSPubSubOwner, "configure", "node", n.Node).Add(cfg))
		if n.Affiliations != nil {
			ps.Add(n.Affiliations)
		}
		if n.Subscriptions != nil {
			ps.Add(n.Subscriptions)
		}
	}
	w.element(ps, "   ", NS)
	return nil
}

// StartPEPItems opens the one <pubsub xmlns='…pubsub'/> of the user.
func (w *Writer) StartPEPItems() error {
	if err := w.section(); err != nil {
		return err
	}
	w.inPEP = true
	w.w.WriteString(`   <pubsub xmlns="` + NSPubSub + `">` + "\n")
	return nil
}

// PEPItems writes the items of one node (each node once).
func (w *Writer) PEPItems(node string, items []PEPItem) error {
	if w.err != nil {
		return w.err
	}
	if !w.inPEP {
		return w.fail(ErrState)
	}
	w.element(ItemsElement(node, items), "    ", NSPubSub)
	return nil
}

// ItemsElement returns <items node=…/> with the given items.
func ItemsElement(node string, items []PEPItem) *xmltree.Element {
	e := xmltree.NewElement(NSPubSub, "items", "node", node)
	for _, it := range items {
		ie := xmltree.NewElement(NSPubSub, "item")
		if it.ID != "" {
			ie.Attr = append(ie.Attr, attr("id", it.ID))
		}
		ie.Add(it.Payload)
		e.Add(ie)
	}
	return e
}

// EndPEPItems closes the pubsub element.
func (w *Writer) EndPEPItems() error {
	if w.err != nil {
		return w.err
	}
	if !w.inPEP {
		return w.fail(ErrState)
	}
	w.inPEP = false
	w.w.WriteString("   </pubsub>\n")
	return nil
}

// StartArchive opens <archive xmlns='urn:xmpp:pie:0#mam'/>.
func (w *Writer) StartArchive() error {
	if err := w.section(); err != nil {
		return err
	}
	w.inArc = true
	w.w.WriteString(`   <archive xmlns="` + NSArchive + `">` + "\n")
	return nil
}

// ArchiveResult writes one archived message. Results must come oldest first.
func (w *Writer) ArchiveResult(r *ArchiveResult) error {
	if w.err != nil {
		return w.err
	}
	if !w.inArc {
		return w.fail(ErrState)
	}
	w.element(ResultElement(r), "    ", NSArchive)
	return nil
}

// ResultElement returns the XEP-0313 <result/> for r (no queryid).
func ResultElement(r *ArchiveResult) *xmltree.Element {
	fwd := xmltree.NewElement(NSForward, "forwarded").Add(xmltree.NewElement(NSDelay, "delay", "stamp", r.Stamp), r.Message)
	return xmltree.NewElement(NSMAM, "result", "id", r.ID).Add(fwd)
}

// EndArchive closes the archive.
func (w *Writer) EndArchive() error {
	if w.err != nil {
		return w.err
	}
	if !w.inArc {
		return w.fail(ErrState)
	}
	w.inArc = false
	w.w.WriteString("   </archive>\n")
	return nil
}

// Extra writes any other child of the user as it is.
func (w *Writer) Extra(e *xmltree.Element) error {
	if err := w.section(); err != nil {
		return err
	}
	w.element(e, "   ", NS)
	return nil
}

// WriteUser writes all of u in the canonical order.
func (w *Writer) WriteUser(u *User) error {
	if err := w.StartUser(u.Name); err != nil {
		return err
	}
	if len(u.Offline) > 0 {
		w.OfflineMessages(u.Offline)
	}
	if u.Roster != nil {
		w.Roster(u.Roster)
	}
	w.VCard(u.VCard)
	w.Private(u.Private)
	w.Privacy(u.Privacy)
	w.Subscriptions(u.Subscriptions)
	w.PEPConfig(u.PEP)
	if len(u.PEP) > 0 {
		w.StartPEPItems()
		for _, n := range u.PEP {
			w.PEPItems(n.Node, n.Items)
		}
		w.EndPEPItems()
	}
	if u.HasArchive || len(u.Archive) > 0 {
		w.StartArchive()
		for _, r := range u.Archive {
			w.ArchiveResult(r)
		}
		w.EndArchive()
	}
	for _, e := range u.Extra {
		w.Extra(e)
	}
	return w.EndUser()
}

// WriteDocument writes d completely and closes the writer.
func (w *Writer) WriteDocument(d *Document) error {
	for _, h := range d.Hosts {
		if err := w.StartHost(h.JID); err != nil {
			return err
		}
		for _, u := range h.Users {
			if err := w.WriteUser(u); err != nil {
				return err
			}
		}
		if err := w.EndHost(); err != nil {
			return err
		}
	}
	return w.Close()
}

func attr(name, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: value} }
