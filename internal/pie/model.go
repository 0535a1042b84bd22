package pie

import (
	"fmt"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"sort"
	"strconv"
)

// Namespaces used in XEP-0227 documents.
const (
	NS            = "urn:xmpp:pie:0"
	NSLegacy      = "http://www.xmpp.org/extensions/xep-0227.html#ns" // read only
	NSArchive     = "urn:xmpp:pie:0#mam"
	NSRoster      = "jabber:iq:roster"
	NSPrivate     = "jabber:iq:private"
	NSVCard       = "vcard-temp"
	NSPrivacy     = "jabber:iq:privacy"
	NSPubSub      = "http://jabber.org/protocol/pubsub"
	NSPubSubOwner = "http://jabber.org/protocol/pubsub#owner"
	NSClient      = "jabber:client"
	NSMAM         = "urn:xmpp:mam:2"
	NSForward     = "urn:xmpp:forward:0"
	NSDelay       = "urn:xmpp:delay"
	NSData        = "jabber:x:data"
	NSBlocking    = "urn:xmpp:blocking"
	NSXInclude    = "http://www.w3.org/2001/XInclude"
	NSSCRAM       = "urn:xmpp:pie:0#scram"

	// NodeConfigFormType is the FORM_TYPE of a PEP node configuration.
	NodeConfigFormType = "http://jabber.org/protocol/pubsub#node_config"
	// BlocklistName is the name of the privacy list the blocklist is written as.
	BlocklistName = "blocklist"
)

// Document is a parsed XEP-0227 file.
type Document struct {
	Hosts []*Host
	// Problems lists what the parser skipped or could not use, item by item.
	Problems []Problem
	// With Options.Match: the users of the file (name@host, the first
	// maxUsersListed of them) and how many there were.
	Users     []string
	UserCount int
	// Includes are the files the document's xi:include elements name
	// (their base names, at most maxIncludesListed): a document holding
	// nothing else is the index of a server's export, whose data is in
	// those files.
	Includes []string
}

// maxUsersListed bounds Document.Users; maxIncludesListed Document.Includes.
const (
	maxUsersListed    = 100
	maxIncludesListed = 20
)

// Host is a <host/> element: one XMPP domain.
type Host struct {
	JID   string
	Users []*User
}

// User is a <user/> element and everything this package knows of its
// children, in the order the writer writes them.
type User struct {
	Name          string             // localpart
	Offline       []*xmltree.Element // <message xmlns='jabber:client'/>, oldest first
	Roster        *Roster
	VCard         *xmltree.Element // <vCard xmlns='vcard-temp'/>
	Private       []*xmltree.Element
	Privacy       *Privacy
	Subscriptions []*xmltree.Element // pending inbound <presence type='subscribe'/>
	PEP           []*PEPNode
	HasArchive    bool
	Archive       []*ArchiveResult   // empty when the parser was told to skip it
	ArchiveCount  int                // results in the file (kept or not)
	Extra         []*xmltree.Element // other children (unknown namespaces), kept as they are
}

// Roster is the user's contact list (jabber:iq:roster).
type Roster struct {
	Ver   string
	Items []RosterItem
}

// RosterItem is one contact.
type RosterItem struct {
	JID          string
	Name         string
	Subscription string // none, to, from, both
	Ask          string // "subscribe" if an outbound request is pending
	Groups       []string
}

// Privacy holds XEP-0016 privacy lists. The XEP-0191 blocklist is the
// default list's jid/deny items (see Blocklist).
type Privacy struct {
	Default string
	Active  string
	Lists   []PrivacyList
}

// PrivacyList is one named list.
type PrivacyList struct {
	Name  string
	Items []PrivacyItem
}

// PrivacyItem is one rule. Stanzas names the stanza kinds it applies to
// (message, iq, presence-in, presence-out); empty means all.
type PrivacyItem struct {
	Type    string // jid, group, subscription or "" (fall-through)
	Value   string
	Action  string // allow or deny
	Order   int
	Stanzas []string
}

// PEPNode is one personal eventing node: its configuration (a jabber:x:data
// form) and its items.
type PEPNode struct {
	Node          string
	Config        *xmltree.Element // <x xmlns='jabber:x:data'/>; nil: written as an empty form
	Affiliations  *xmltree.Element // optional <affiliations/> as found
	Subscriptions *xmltree.Element // optional <subscriptions/> as found
	Items         []PEPItem
}

// PEPItem is one published item.
type PEPItem struct {
	ID      string
	Payload *xmltree.Element // may be nil
}

// ArchiveResult is one archived message (XEP-0313 <result/>).
type ArchiveResult struct {
	ID      string           // archive id
	Stamp   string           // delay stamp (XEP-0082 date-time)
	Message *xmltree.Element // <message xmlns='jabber:client'/>
}

// Problem is something the parser skipped or could not use.
type Problem struct {
	Where  string // e.g. "roster", "privacy", "pep"
	Value  string // the offending value, shortened
	Reason string
}

func (p Problem) String() string {
	if p.Value == "" {
		return p.Where + ": " + p.Reason
	}
	return fmt.Sprintf("%s: %q: %s", p.Where, p.Value, p.Reason)
}

// ConfigValue returns the first value of the field var in the node's
// configuration form.
func (n *PEPNode) ConfigValue(field string) string {
	return FormValue(n.Config, field)
}

// FormValue returns the first value of a field of a jabber:x:data form.
func FormValue(x *xmltree.Element, field string) string {
	if x == nil {
		return ""
	}
	for _, f := range x.Elements() {
		if f.Name.Local == "field" && f.AttrValue("var") == field {
			if v := f.Child("", "value"); v != nil {
				return v.Text()
			}
			return ""
		}
	}
	return ""
}

// Form builds a jabber:x:data form of the given type with the fields given
// as var/value pairs; FORM_TYPE first if formType is not empty.
func Form(typ, formType string, fields ...string) *xmltree.Element {
	x := xmltree.NewElement(NSData, "x", "type", typ)
	if formType != "" {
		x.Add(xmltree.NewElement(NSData, "field", "var", "FORM_TYPE", "type", "hidden").Add(xmltree.NewElement(NSData, "value").SetText(formType)))
	}
	for i := 0; i+1 < len(fields); i += 2 {
		x.Add(xmltree.NewElement(NSData, "field", "var", fields[i]).Add(xmltree.NewElement(NSData, "value").SetText(fields[i+1])))
	}
	return x
}

// BlocklistPrivacy returns the privacy lists that carry a XEP-0191
// blocklist the standard way (XEP-0191 §5): a default list named
// "blocklist" with one jid/deny item per blocked address, orders 1, 2, ….
func BlocklistPrivacy(jids []string) *Privacy {
	l := PrivacyList{Name: BlocklistName}
	for i, j := range jids {
		l.Items = append(l.Items, PrivacyItem{Type: "jid", Value: j, Action: "deny", Order: i + 1})
	}
	return &Privacy{Default: BlocklistName, Lists: []PrivacyList{l}}
}

// Blocklist returns the blocked addresses: the jid/deny items without
// stanza restrictions of the default list (or of the only list when there is
// no default), in order. Other items have no XEP-0191 form and are returned
// as skipped.
func (p *Privacy) Blocklist() (jids []string, skipped []PrivacyItem) {
	if p == nil {
		return nil, nil
	}
	var list *PrivacyList
	for i := range p.Lists {
		if p.Lists[i].Name == p.Default || (p.Default == "" && len(p.Lists) == 1) {
			list = &p.Lists[i]
		}
	}
	if list == nil {
		return nil, nil
	}
	items := append([]PrivacyItem(nil), list.Items...)
	sort.SliceStable(items, func(i, j int) bool { return items[i].Order < items[j].Order })
	seen := map[string]bool{}
	for _, it := range items {
		if it.Type == "jid" && it.Action == "deny" && len(it.Stanzas) == 0 {
			if !seen[it.Value] {
				seen[it.Value] = true
				jids = append(jids, it.Value)
			}
			continue
		}
		skipped = append(skipped, it)
	}
	return jids, skipped
}

// Blocklist returns the user's blocked addresses (see Privacy.Blocklist).
func (u *User) Blocklist() []string {
	j, _ := u.Privacy.Blocklist()
	return j
}

// Node returns the PEP node with that name, or nil.
func (u *User) Node(name string) *PEPNode {
	for _, n := range u.PEP {
		if n.Node == name {
			return n
		}
	}
	return nil
}

// PrivateElement returns the private XML element of that namespace, or nil.
func (u *User) PrivateElement(space string) *xmltree.Element {
	for _, e := range u.Private {
		if e.Name.Space == space {
			return e
		}
	}
	return nil
}

// User returns the first user of the document, or nil.
func (d *Document) User() (*Host, *User) {
	for _, h := range d.Hosts {
		if len(h.Users) > 0 {
			return h, h.Users[0]
		}
	}
	return nil, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
