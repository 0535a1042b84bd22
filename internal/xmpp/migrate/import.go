package migrate

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"strconv"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Kinds of imported items, as shown in the summary.
const (
	KindContact      = "contact"
	KindSubscription = "subscription"
	KindVCard        = "vcard"
	KindLegacyBM     = "legacy-bookmarks"
	KindPrivate      = "private"
	KindPEP          = "pep"
	KindBookmark     = "bookmark"
	KindAvatar       = "avatar"
	KindNickname     = "nickname"
	KindBlocked      = "blocked"
	KindArchive      = "archive"
	KindMoved        = "moved"
	KindFile         = "file"
	KindOffline      = "offline"
)

// Outcome is what happened to one item.
type Outcome struct {
	Kind   string
	Item   string // address, node or namespace; never a message body
	OK     bool
	Reason string // why it failed or was skipped (server condition or rule)
	// Left is set for an item that was never meant to be restored (the new
	// account itself among the contacts, the old account's moved
	// statement, the archive no server accepts): it is neither restored
	// nor a failure, and Counts leaves it out.
	Left bool
	// Rooms are the group chats of a legacy bookmarks item (their
	// addresses), which GroupChats counts with the XEP-0402 ones.
	Rooms []string
}

// Summary lists the outcome of every item of an import.
type Summary struct {
	Items []Outcome
}

func (s *Summary) add(kind, item string, err error) {
	o := Outcome{Kind: kind, Item: item, OK: err == nil}
	if err != nil {
		o.Reason = reason(err)
	}
	s.Items = append(s.Items, o)
}

func (s *Summary) skip(kind, item, why string) {
	s.Items = append(s.Items, Outcome{Kind: kind, Item: item, Reason: why})
}

// leave records an item that is not meant to be restored (Outcome.Left).
func (s *Summary) leave(kind, item, why string) {
	s.Items = append(s.Items, Outcome{Kind: kind, Item: item, Reason: why, Left: true})
}

// Prepend puts the outcome of one item first (the moved statement, which is
// published before the rest).
func (s *Summary) Prepend(kind, item string, err error) {
	o := Outcome{Kind: kind, Item: item, OK: err == nil}
	if err != nil {
		o.Reason = reason(err)
	}
	s.Items = append([]Outcome{o}, s.Items...)
}

// GroupChats returns the number of distinct group chats whose bookmarks
// were restored, new style or old style (a server such as Prosody keeps
// both for the same rooms).
func (s *Summary) GroupChats() int {
	seen := map[string]bool{}
	for _, o := range s.Items {
		switch {
		case !o.OK:
		case o.Kind == KindBookmark:
			seen[o.Item] = true
		case o.Kind == KindLegacyBM:
			for _, r := range o.Rooms {
				seen[r] = true
			}
		}
	}
	return len(seen)
}

// Counts returns the number of restored and not restored items; items
// never meant to be restored (Outcome.Left) are neither.
func (s *Summary) Counts() (ok, failed int) {
	for _, o := range s.Items {
		switch {
		case o.Left:
		case o.OK:
			ok++
		default:
			failed++
		}
	}
	return
}

// reason names a failure in the summary: the condition of a stanza error,
// else what kind of failure it was.
func reason(err error) string {
	if c := stanzaCondition(err); c != "" {
		return c
	}
	switch {
	case errors.Is(err, xmpp.Unavailable):
		return ReasonConnection
	case errors.Is(err, xmpp.Protocol):
		return ReasonUnexpected
	}
	return "error"
}

// ImportOptions tune an import.
type ImportOptions struct {
	// Subscribe sends a subscription request to every contact the old
	// account shared presence with or had asked (AskAgain).
	Subscribe bool
	// MovedFrom, when set (the old bare address), adds the XEP-0283
	// <moved/> notice to the subscription requests.
	MovedFrom string
	Log       *slog.Logger
}

// nodes handled specially by the importer.
var skipNodes = map[string]string{
	NSMoved: ReasonOldAccount,
}

// Reasons of the summary the web layer says in words (other reasons are
// the server's condition or a rule's text).
const (
	ReasonSelf        = "the new account itself"
	ReasonOldAccount  = "belongs to the old account"
	ReasonOffline     = "offline messages are not imported"
	ReasonArchive     = "no server accepts a message archive over XMPP"
	ReasonInvalid     = "invalid address"
	ReasonPrivacyRule = "privacy rule with no blocklist equivalent"
	ReasonEmptyItem   = "empty item"
	ReasonConnection  = "connection lost"
	ReasonUnexpected  = "unexpected reply"
)

// Import logs in as local@cfg.Domain (once; every request of the import
// goes over that connection) and restores u into that account:
// contacts (names, groups; subscription requests if asked), vCard, legacy
// bookmarks first and then the other private XML, PEP nodes (XEP-0402
// bookmarks item by item, avatar data before metadata, nickname, vCard4,
// others) with their access model, and the blocklist. The archive is not
// imported (no server accepts it over XMPP): it is listed as skipped.
// The only error returned is a failed login (an *xmpp.Error: xmpp.Auth,
// xmpp.Unavailable, ...); everything else is in the summary. The web
// layer's flow is Service.Login then Session.Import.
func Import(ctx context.Context, cfg xmpp.Config, local, password string, u *pie.User, opt ImportOptions) (*Summary, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	c, err := xmpp.Login(ctx, cfg, local, password, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sum := &Summary{}
	newImporter(c, sum, opt).run(ctx, u)
	return sum, nil
}

// importer writes one account over one connection. Its two ways out (iq,
// send) are functions so that the fuzz test can run it without a server.
type importer struct {
	sum  *Summary
	opt  ImportOptions
	own  jid.JID
	iq   func(ctx context.Context, typ stanza.IQType, payload *xmltree.Element) (*xmltree.Element, error)
	send func(ctx context.Context, st *xmltree.Element) error
}

func newImporter(c *xmpp.Conn, sum *Summary, opt ImportOptions) *importer {
	return &importer{sum: sum, opt: opt, own: c.LocalAddr().Bare(),
		iq: func(ctx context.Context, typ stanza.IQType, payload *xmltree.Element) (*xmltree.Element, error) {
			return iq(ctx, c, typ, jid.JID{}, payload)
		},
		send: func(ctx context.Context, st *xmltree.Element) error { return c.Send(ctx, st.TokenReader()) },
	}
}

func (im *importer) run(ctx context.Context, u *pie.User) {
	im.roster(ctx, u)
	if u.VCard != nil {
		_, err := im.iq(ctx, stanza.SetIQ, u.VCard)
		im.sum.add(KindVCard, "vcard-temp", err)
	}
	// Legacy bookmarks first: Prosody rewrites XEP-0402 items from them.
	if bm := u.PrivateElement(NSLegacyBM); bm != nil {
		_, err := im.iq(ctx, stanza.SetIQ, xmltree.NewElement(pie.NSPrivate, "query").Add(bm))
		im.sum.add(KindLegacyBM, NSLegacyBM, err)
		last := &im.sum.Items[len(im.sum.Items)-1]
		for _, c := range bm.Elements() {
			if j := c.AttrValue("jid"); c.Name.Local == "conference" && j != "" {
				last.Rooms = append(last.Rooms, j)
			}
		}
	}
	for _, p := range u.Private {
		if p.Name.Space == NSLegacyBM {
			continue
		}
		_, err := im.iq(ctx, stanza.SetIQ, xmltree.NewElement(pie.NSPrivate, "query").Add(p))
		im.sum.add(KindPrivate, p.Name.Space, err)
	}
	im.pep(ctx, u)
	im.blocklist(ctx, u)
	if len(u.Offline) > 0 {
		im.sum.leave(KindOffline, strconv.Itoa(len(u.Offline)), ReasonOffline)
	}
	if u.ArchiveCount > 0 || len(u.Archive) > 0 {
		n := u.ArchiveCount
		if n == 0 {
			n = len(u.Archive)
		}
		im.sum.leave(KindArchive, strconv.Itoa(n), ReasonArchive)
	}
}

func (im *importer) roster(ctx context.Context, u *pie.User) {
	if u.Roster == nil {
		return
	}
	nick := ""
	if n := u.Node(NSNick); n != nil && len(n.Items) > 0 {
		nick = n.Items[0].Payload.Text()
	}
	for _, it := range u.Roster.Items {
		j, err := jid.Parse(it.JID)
		if err != nil {
			im.sum.skip(KindContact, it.JID, ReasonInvalid)
			continue
		}
		if j.Bare().Equal(im.own) {
			im.sum.leave(KindContact, it.JID, ReasonSelf)
			continue
		}
		item := xmltree.NewElement(pie.NSRoster, "item", "jid", j.String())
		if it.Name != "" {
			item.Attr = append(item.Attr, xml.Attr{Name: xml.Name{Local: "name"}, Value: it.Name})
		}
		for _, g := range it.Groups {
			item.Add(xmltree.NewElement(pie.NSRoster, "group").SetText(g))
		}
		_, err = im.iq(ctx, stanza.SetIQ, xmltree.NewElement(pie.NSRoster, "query").Add(item))
		im.sum.add(KindContact, j.String(), err)
		if err != nil || !im.opt.Subscribe {
			continue
		}
		if AskAgain(it) {
			im.sum.add(KindSubscription, j.String(), im.subscribe(ctx, j, nick))
		}
	}
}

// AskAgain reports whether an import that asks contacts again sends a
// subscription request to this contact: one that shared presence with
// the old account either way (to, from, both) or had a request of it
// pending. A contact without any (none, nothing asked) is restored to the
// contact list only.
func AskAgain(it pie.RosterItem) bool {
	switch it.Subscription {
	case "to", "from", "both":
		return true
	}
	return it.Ask == "subscribe"
}

// subscribe sends a subscription request with the nickname (XEP-0172) and,
// when moving, the XEP-0283 notice.
func (im *importer) subscribe(ctx context.Context, to jid.JID, nick string) error {
	p := xmltree.NewElement(pie.NSClient, "presence", "to", to.String(), "type", "subscribe")
	if im.opt.MovedFrom != "" {
		p.Add(xmltree.NewElement(NSMoved, "moved").Add(xmltree.NewElement(NSMoved, "old-jid").SetText(im.opt.MovedFrom)))
	}
	if nick != "" {
		p.Add(xmltree.NewElement(NSNick, "nick").SetText(nick))
	}
	return im.send(ctx, p)
}

// blocklist blocks the file's addresses in one XEP-0191 <block/>. It is
// written by hand rather than with mellium v0.22.0's blocklist.Add, which
// besides taking a *mellium.Session never reads the answer (doIQ closes the
// response unread), so a server that refuses the block with an IQ error
// would be reported as having blocked every address.
func (im *importer) blocklist(ctx context.Context, u *pie.User) {
	if u.Privacy == nil {
		return
	}
	jids, skipped := u.Privacy.Blocklist()
	for _, s := range skipped {
		im.sum.skip(KindBlocked, s.Type+" "+s.Value, ReasonPrivacyRule)
	}
	if len(jids) == 0 {
		return
	}
	block := xmltree.NewElement(pie.NSBlocking, "block")
	var valid []string
	for _, j := range jids {
		if _, err := jid.Parse(j); err != nil {
			im.sum.skip(KindBlocked, j, ReasonInvalid)
			continue
		}
		valid = append(valid, j)
		block.Add(xmltree.NewElement(pie.NSBlocking, "item", "jid", j))
	}
	if len(valid) == 0 {
		return
	}
	_, err := im.iq(ctx, stanza.SetIQ, block)
	for _, j := range valid {
		im.sum.add(KindBlocked, j, err)
	}
}

// pep publishes the nodes: avatar data before metadata, the rest in file order.
func (im *importer) pep(ctx context.Context, u *pie.User) {
	var nodes []*pie.PEPNode
	if n := u.Node(NSAvatarData); n != nil {
		nodes = append(nodes, n)
	}
	for _, n := range u.PEP {
		if n.Node != NSAvatarData {
			nodes = append(nodes, n)
		}
	}
	for _, n := range nodes {
		if why, ok := skipNodes[n.Node]; ok {
			im.sum.leave(KindPEP, n.Node, why)
			continue
		}
		if len(n.Items) == 0 {
			continue
		}
		access := n.ConfigValue("pubsub#access_model")
		switch n.Node {
		case NSBookmarks2:
			access = "whitelist" // private data, whatever the file says
		case "":
			continue
		}
		if len(n.Items) > 1 || n.Node == NSBookmarks2 {
			// ejabberd keeps one item per node unless told otherwise, and
			// refuses some of XEP-0402's publish-options: configure first.
			im.ensureNode(ctx, n.Node, access, len(n.Items))
		}
		kind := KindPEP
		switch n.Node {
		case NSBookmarks2:
			kind = KindBookmark
		case NSAvatarData, NSAvatarMeta:
			kind = KindAvatar
		case NSNick:
			kind = KindNickname
		}
		for _, it := range n.Items {
			label := n.Node
			if kind == KindBookmark {
				label = it.ID
			} else if it.ID != "" && len(n.Items) > 1 {
				label = n.Node + " " + it.ID
			}
			if it.Payload == nil {
				im.sum.skip(kind, label, ReasonEmptyItem)
				continue
			}
			im.sum.add(kind, label, im.publish(ctx, n.Node, it, access))
		}
	}
}

// publish publishes one item, with publish-options that keep the access
// model when the server takes them, else without. It is written by hand
// because mellium v0.22.0's pubsub.Publish cannot send publish-options
// (XEP-0060 §7.1.5) and takes a *mellium.Session.
func (im *importer) publish(ctx context.Context, node string, it pie.PEPItem, access string) error {
	item := xmltree.NewElement(pie.NSPubSub, "item")
	if it.ID != "" {
		item.Attr = append(item.Attr, xml.Attr{Name: xml.Name{Local: "id"}, Value: it.ID})
	}
	item.Add(it.Payload)
	pub := xmltree.NewElement(pie.NSPubSub, "publish", "node", node).Add(item)
	if access != "" {
		opts := xmltree.NewElement(pie.NSPubSub, "publish-options").Add(pie.Form("submit", publishOptions, "pubsub#persist_items", "true", "pubsub#access_model", access))
		_, err := im.iq(ctx, stanza.SetIQ, xmltree.NewElement(pie.NSPubSub, "pubsub").Add(pub, opts))
		if err == nil || fatal(err) {
			return err
		}
		switch stanzaCondition(err) {
		case "conflict", "not-acceptable", "bad-request", "precondition-not-met", "feature-not-implemented", "policy-violation":
		default:
			return err
		}
	}
	_, err := im.iq(ctx, stanza.SetIQ, xmltree.NewElement(pie.NSPubSub, "pubsub").Add(pub.Clone()))
	return err
}

// ensureNode creates or reconfigures a node so it keeps n items with the
// given access model. Failures are left to the publish that follows. It is
// written by hand because mellium v0.22.0's pubsub.CreateNode and
// pubsub.SetConfig take a *mellium.Session and a *form.Data, which they
// send with form.Data.Submit (it panics on some text-multi values, see
// package xmpp): the import has the few fields it sets as strings and
// sends them as a plain submit form (pie.Form), without asking the server
// for its form first.
func (im *importer) ensureNode(ctx context.Context, node, access string, n int) {
	for _, max := range []string{"max", "1000", strconv.Itoa(n + 16)} {
		fields := []string{"pubsub#persist_items", "true", "pubsub#max_items", max}
		if access != "" {
			fields = append(fields, "pubsub#access_model", access)
		}
		form := pie.Form("submit", pie.NodeConfigFormType, fields...)
		create := xmltree.NewElement(pie.NSPubSub, "pubsub").Add(xmltree.NewElement(pie.NSPubSub, "create", "node", node), xmltree.NewElement(pie.NSPubSub, "configure").Add(form))
		_, err := im.iq(ctx, stanza.SetIQ, create)
		if err == nil || fatal(err) {
			return
		}
		if stanzaCondition(err) == "conflict" {
			conf := xmltree.NewElement(pie.NSPubSubOwner, "pubsub").Add(xmltree.NewElement(pie.NSPubSubOwner, "configure", "node", node).Add(form.Clone()))
			if _, err := im.iq(ctx, stanza.SetIQ, conf); err == nil || fatal(err) {
				return
			}
		}
	}
}

// PublishMoved logs in to the old account (once) and publishes the
// XEP-0283 statement that it moved to newJID. The web layer's flow is
// Service.Login then Session.PublishMoved.
func PublishMoved(ctx context.Context, cfg xmpp.Config, local, password, newJID string) error {
	c, err := xmpp.Login(ctx, cfg, local, password, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return publishMoved(ctx, c, newJID)
}

// publishMoved publishes the XEP-0283 statement (node urn:xmpp:moved:1,
// item current, presence access model, so only contacts can read it) on c.
func publishMoved(ctx context.Context, c *xmpp.Conn, newJID string) error {
	nj, err := jid.Parse(newJID)
	if err != nil {
		return err
	}
	im := newImporter(c, &Summary{}, ImportOptions{})
	payload := xmltree.NewElement(NSMoved, "moved").Add(xmltree.NewElement(NSMoved, "new-jid").SetText(nj.Bare().String()))
	return im.publish(ctx, NSMoved, pie.PEPItem{ID: "current", Payload: payload}, "presence")
}
