package migrate

import (
	"context"
	"encoding/xml"
	"errors"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Namespaces this package speaks beyond those in package pie.
const (
	NSDiscoItems   = "http://jabber.org/protocol/disco#items"
	NSDiscoInfo    = "http://jabber.org/protocol/disco#info"
	NSMoved        = "urn:xmpp:moved:1"
	NSNick         = "http://jabber.org/protocol/nick"
	NSAvatarData   = "urn:xmpp:avatar:data"
	NSAvatarMeta   = "urn:xmpp:avatar:metadata"
	NSVCard4Node   = "urn:xmpp:vcard4"
	NSBookmarks2   = "urn:xmpp:bookmarks:1"
	NSLegacyBM     = "storage:bookmarks"
	NSOffline      = "http://jabber.org/protocol/offline"
	publishOptions = "http://jabber.org/protocol/pubsub#publish-options"
	maxDepth       = 48
)

// knownNodes are PEP nodes asked for even when disco#items does not list
// them (servers hide whitelist nodes from the listing).
var knownNodes = []string{NSVCard4Node, NSAvatarData, NSAvatarMeta, NSNick, NSBookmarks2, "storage:bookmarks", NSMoved}

// privateNames are the XEP-0049 private XML elements an exporter asks for:
// there is no way to list what a server holds, so the known ones are tried
// (ExportOptions.ExtraPrivate adds more).
var privateNames = []xml.Name{
	{Space: NSLegacyBM, Local: "storage"},
	{Space: "storage:rosternotes", Local: "storage"},
	{Space: "storage:metacontacts", Local: "storage"},
	{Space: "storage:imprefs", Local: "storage"},
	{Space: "exodus:prefs", Local: "exodus"},
	{Space: "gajim:prefs", Local: "storage"},
}

// iq sends an IQ of type typ to to (the zero JID: the account itself) with
// payload (may be nil) on c, and returns the first child of the response as
// an element (nil if there is none). Errors are those of Conn.SendIQ (a
// stanza error is an *xmpp.Error with its Condition); a response deeper
// than maxDepth is Protocol.
//
// Every request of this package goes through it, on the one Conn of the
// flow: mellium's protocol packages (disco, blocklist, pubsub, roster,
// history's Fetch) take a *mellium.Session and send with its own SendIQ,
// IterIQ or UnmarshalIQ, which bypass Conn.SendIQ's size limits, deadline
// handling and response draining; see the doc comments at each use for
// what they would lose besides.
func iq(ctx context.Context, c *xmpp.Conn, typ stanza.IQType, to jid.JID, payload *xmltree.Element) (*xmltree.Element, error) {
	var r xml.TokenReader
	if payload != nil {
		r = payload.TokenReader()
	}
	resp, err := c.SendIQ(ctx, stanza.IQ{Type: typ, To: to}, r)
	if err != nil {
		return nil, err
	}
	if _, ok := resp.Child(); !ok {
		return nil, nil
	}
	el, err := xmltree.FromTokens(resp.TokenReader(), maxDepth)
	if err != nil {
		return nil, protocolError("iq", "response cannot be read", err)
	}
	return el, nil
}

// stanzaCondition returns the defined condition of a stanza error from the
// server, or "" for any other error (a stanza error is the only
// *xmpp.Error of an IQ that has a Condition).
func stanzaCondition(err error) string {
	var e *xmpp.Error
	if errors.As(err, &e) {
		return e.Condition
	}
	return ""
}

// fatal reports whether err means the connection is gone or the caller's
// context ended (an export must stop). A stanza error never is, even one of
// kind Unavailable (remote-server-timeout and the like): the server
// answered, so the connection works.
func fatal(err error) bool {
	return err != nil && stanzaCondition(err) == "" && xmpp.KindOf(err) == xmpp.Unavailable
}

// protocolError is an answer of the server this package cannot use.
func protocolError(op, text string, err error) *xmpp.Error {
	return &xmpp.Error{Kind: xmpp.Protocol, Op: op, Text: text, Err: err}
}

// limitedTokens bounds one incoming stanza read by a handler.
type limitedTokens struct {
	r     xml.TokenReader
	n     int
	max   int
	count int
}

var errStanzaTooLarge = protocolError("receive", "stanza from server too large", nil)

func (l *limitedTokens) Token() (xml.Token, error) {
	t, err := l.r.Token()
	if err != nil {
		return t, err
	}
	l.count++
	switch tt := t.(type) {
	case xml.CharData:
		l.n += len(tt)
	case xml.StartElement:
		l.n += len(tt.Name.Local) + len(tt.Name.Space)
		for _, a := range tt.Attr {
			l.n += len(a.Value) + len(a.Name.Local)
		}
	}
	if l.n > l.max || l.count > 100000 {
		return nil, errStanzaTooLarge
	}
	return t, nil
}
