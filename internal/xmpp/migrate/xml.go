package migrate

import (
	"context"
	"encoding/xml"
	"errors"

	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmppconn"
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
// there is no way to list what a server holds, so the known ones are tried.
var privateNames = []xml.Name{
	{Space: NSLegacyBM, Local: "storage"},
	{Space: "storage:rosternotes", Local: "storage"},
	{Space: "storage:metacontacts", Local: "storage"},
	{Space: "storage:imprefs", Local: "storage"},
	{Space: "exodus:prefs", Local: "exodus"},
	{Space: "gajim:prefs", Local: "storage"},
	{Space: "urn:xmpp:pie:0:private-test", Local: "data"},
}

// iq sends an IQ with payload (may be nil) and returns the first child of
// the response as an element (nil if there is none).
func iq(ctx context.Context, s *xmpp.Session, typ stanza.IQType, to string, payload *xmltree.Element) (*xmltree.Element, error) {
	q := stanza.IQ{Type: typ}
	if to != "" {
		j, err := parseJID(to)
		if err != nil {
			return nil, err
		}
		q.To = j
	}
	var r xml.TokenReader
	if payload != nil {
		r = payload.TokenReader()
	}
	resp, err := xmppconn.SendIQ(ctx, s, q, r)
	if err != nil {
		return nil, err
	}
	if _, ok := resp.Child(); !ok {
		return nil, nil
	}
	return xmltree.FromTokens(resp.TokenReader(), maxDepth)
}

// stanzaCondition returns the condition of a stanza error, or "".
func stanzaCondition(err error) string {
	var se *xmppconn.StanzaError
	if errors.As(err, &se) {
		return se.Condition
	}
	return ""
}

// fatal reports whether err means the session is gone (export must stop).
func fatal(err error) bool {
	return err != nil && (errors.Is(err, xmppconn.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// limitedTokens bounds one incoming stanza read by a handler.
type limitedTokens struct {
	r     xml.TokenReader
	n     int
	max   int
	count int
}

var errStanzaTooLarge = errors.New("migrate: stanza from server too large")

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
