package migrate

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/readable"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// ExportOptions tune an export.
type ExportOptions struct {
	// PageSize is the number of archived messages asked for per MAM page
	// (servers may send fewer). Default 100.
	PageSize int
	// MaxMessageBytes bounds one archived message. Default 1 MiB.
	MaxMessageBytes int
	// Log gets events (never addresses or message contents).
	Log *slog.Logger
	// ExtraPrivate names XEP-0049 private XML elements to ask for besides
	// the known ones (XEP-0049 cannot list what an account stores, so an
	// exporter asks for each name it knows).
	ExtraPrivate []xml.Name
}

// privateNames is what e asks for: the known names, then the extra ones
// that are not among them.
func (o ExportOptions) privateNames() []xml.Name {
	names := append([]xml.Name(nil), privateNames...)
	for _, n := range o.ExtraPrivate {
		if n.Local != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// ExportStats count what an export wrote.
type ExportStats struct {
	Offline, Roster, Private, Blocked, PEPNodes, PEPItems int
	VCard                                                 bool
	Archive                                               int
	// ArchiveReported is the message count the server gave (RSM <count/>) on
	// the first MAM page, -1 when it gave none.
	ArchiveReported int
	Pages           int
	// Skipped lists sections the server refused (e.g. "offline: feature-not-implemented").
	Skipped []string
}

// Export is an account logged in for export: the one login of the export,
// on which WriteTo makes every request. Use WriteTo once, then Close.
type Export struct {
	c     *xmpp.Conn
	own   jid.JID
	cfg   xmpp.Config
	opt   ExportOptions
	log   *slog.Logger
	local string

	mu      sync.Mutex
	queryID string
	page    []*pie.ArchiveResult
	pageErr error
	offline []*xmltree.Element
	inOff   bool
}

// OpenExport logs in as local@cfg.Domain, with a handler that collects
// the archived messages (MAM results) and offline messages WriteTo asks
// for. Errors are *xmpp.Error values: errors.Is(err, xmpp.Auth) for
// refused credentials, xmpp.Unavailable when the server cannot be reached.
func OpenExport(ctx context.Context, cfg xmpp.Config, local, password string, opt ExportOptions) (*Export, error) {
	if opt.PageSize <= 0 {
		opt.PageSize = 100
	}
	if opt.MaxMessageBytes <= 0 {
		opt.MaxMessageBytes = 1 << 20
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	e := &Export{cfg: cfg, opt: opt, log: opt.Log, local: local}
	m := mux.New(stanza.NSClient,
		mux.MessageFunc("", xml.Name{Space: history.NS, Local: "result"}, e.handleResult),
		mux.MessageFunc(stanza.NormalMessage, xml.Name{Space: history.NS, Local: "result"}, e.handleResult),
		mux.MessageFunc("", xml.Name{Space: NSOffline, Local: "offline"}, e.handleOffline),
		mux.MessageFunc(stanza.ChatMessage, xml.Name{Space: NSOffline, Local: "offline"}, e.handleOffline),
		mux.MessageFunc(stanza.NormalMessage, xml.Name{Space: NSOffline, Local: "offline"}, e.handleOffline),
	)
	c, err := xmpp.Login(ctx, cfg, local, password, m)
	if err != nil {
		return nil, err
	}
	e.c = c
	e.own = c.LocalAddr().Bare()
	return e, nil
}

// Close ends the connection.
func (e *Export) Close() error { return e.c.Close() }

// Address is the exported account's bare address.
func (e *Export) Address() string { return e.own.String() }

// handleResult collects one MAM result of the running query. It decodes the
// stanza synchronously (mellium's history iterator loses payloads).
func (e *Export) handleResult(msg stanza.Message, r xmlstream.TokenReadEncoder) error {
	el, err := xmltree.FromTokens(&limitedTokens{r: r, max: e.opt.MaxMessageBytes}, maxDepth)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		if e.pageErr == nil {
			e.pageErr = protocolError("archive", "archived message cannot be read", err)
		}
		return nil
	}
	// Only our own server may answer our query (spoofed results are dropped).
	if !msg.From.Equal(jid.JID{}) && !msg.From.Equal(e.own) {
		return nil
	}
	res := el.Child(history.NS, "result")
	if res == nil || e.queryID == "" || res.AttrValue("queryid") != e.queryID {
		return nil
	}
	normalizeForwarded(res)
	ar, reason := pie.ParseResult(res)
	if ar == nil {
		e.log.Warn("export.archive_result_skipped", "reason", reason)
		return nil
	}
	if len(e.page) > 10*e.opt.PageSize+100 {
		if e.pageErr == nil {
			e.pageErr = protocolError("archive", "server sent more results than asked for", nil)
		}
		return nil
	}
	e.page = append(e.page, ar)
	return nil
}

// handleOffline collects XEP-0013 offline messages pushed after <fetch/>.
func (e *Export) handleOffline(msg stanza.Message, r xmlstream.TokenReadEncoder) error {
	el, err := xmltree.FromTokens(&limitedTokens{r: r, max: e.opt.MaxMessageBytes}, maxDepth)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil || !e.inOff || len(e.offline) > 10000 {
		return nil
	}
	setClientNS(el)
	// Drop the <offline/> marker: it belongs to the retrieval, not the message.
	kept := el.Children[:0]
	for _, c := range el.Children {
		if c.Elem != nil && c.Elem.Name.Space == NSOffline {
			continue
		}
		kept = append(kept, c)
	}
	el.Children = kept
	e.offline = append(e.offline, el)
	return nil
}

// normalizeForwarded puts a forwarded message that inherited no namespace
// into jabber:client, as XEP-0227 files need it.
func normalizeForwarded(res *xmltree.Element) {
	fwd := res.Child(pie.NSForward, "forwarded")
	for _, c := range fwd.Elements() {
		if c.Name.Local == "message" && (c.Name.Space == "" || c.Name.Space == pie.NSForward) {
			c.Name.Space = pie.NSClient
			setClientNS(c)
		}
	}
}

// setClientNS moves e and descendants without a namespace into jabber:client.
func setClientNS(e *xmltree.Element) {
	if e.Name.Space == "" {
		e.Name.Space = pie.NSClient
	}
	for _, c := range e.Elements() {
		if c.Name.Space == "" || c.Name.Space == pie.NSClient {
			setClientNS(c)
		}
	}
}

// WriteTo streams the whole account as a XEP-0227 document to out, with
// requests on the connection OpenExport opened (it never logs in again).
// If it returns an error the document is left unclosed on purpose: a
// partial export must never look complete. Only a fatal error (connection
// lost, ctx done, out failing, an archive the server sends wrong) stops it;
// a section the server refuses is left out and named in
// ExportStats.Skipped. XMPP errors are *xmpp.Error values (Unavailable
// when the connection broke, Protocol for answers that cannot be used).
func (e *Export) WriteTo(ctx context.Context, out io.Writer) (ExportStats, error) {
	return e.write(ctx, pie.NewWriter(out))
}

// WriteReadable streams the readable copy of the account (package
// readable: one HTML page with the profile, contacts, group chats and the
// messages by day and contact) to out, with the same requests, the same
// bounded memory and the same rule on failure as WriteTo: an error leaves
// the page unclosed.
func (e *Export) WriteReadable(ctx context.Context, out io.Writer, opt readable.Options) (ExportStats, error) {
	return e.write(ctx, readable.NewWriter(out, opt))
}

// Sink is what an export is written to, section by section in the order
// of pie.Writer's methods: the XEP-0227 file (*pie.Writer) or the readable
// copy (*readable.Writer).
type Sink interface {
	StartHost(jid string) error
	StartUser(name string) error
	OfflineMessages(msgs []*xmltree.Element) error
	Roster(r *pie.Roster) error
	VCard(v *xmltree.Element) error
	Private(elems []*xmltree.Element) error
	Privacy(p *pie.Privacy) error
	PEPConfig(nodes []*pie.PEPNode) error
	StartPEPItems() error
	PEPItems(node string, items []pie.PEPItem) error
	EndPEPItems() error
	StartArchive() error
	ArchiveResult(r *pie.ArchiveResult) error
	EndArchive() error
	EndUser() error
	EndHost() error
	Flush() error
	Close() error
}

var (
	_ Sink = (*pie.Writer)(nil)
	_ Sink = (*readable.Writer)(nil)
)

func (e *Export) write(ctx context.Context, w Sink) (ExportStats, error) {
	st := ExportStats{ArchiveReported: -1}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(doneCtx(e.c), func() {
		cancel(&xmpp.Error{Kind: xmpp.Unavailable, Op: "export", Err: errors.New("connection ended")})
	})
	defer stop()
	skip := func(section string, err error) error {
		if fatal(err) {
			return err
		}
		c := stanzaCondition(err)
		var xe *xmpp.Error
		if c == "" && errors.As(err, &xe) && xe.Text != "" {
			c = xe.Text
		}
		if c == "" {
			c = err.Error()
		}
		st.Skipped = append(st.Skipped, section+": "+c)
		e.log.Info("export.section_skipped", "section", section, "reason", c)
		return nil
	}

	w.StartHost(e.own.Domainpart())
	w.StartUser(e.own.Localpart())

	// Offline messages (XEP-0013) first: the schema wants them first.
	offline, err := e.fetchOffline(ctx)
	if err != nil {
		if err := skip("offline", err); err != nil {
			return st, err
		}
	}
	if len(offline) > 0 {
		st.Offline = len(offline)
		w.OfflineMessages(offline)
	}

	// Roster.
	r, invalid, err := e.fetchRoster(ctx)
	if err != nil {
		if err := skip("roster", err); err != nil {
			return st, err
		}
	} else {
		st.Roster = len(r.Items)
		w.Roster(r)
		if invalid > 0 {
			st.Skipped = append(st.Skipped, fmt.Sprintf("roster: %d contacts with an invalid address", invalid))
			e.log.Info("export.roster_items_skipped", "count", invalid)
		}
	}

	// vcard-temp.
	v, err := iq(ctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(pie.NSVCard, "vCard"))
	switch {
	case err != nil:
		if stanzaCondition(err) != "item-not-found" {
			if err := skip("vcard", err); err != nil {
				return st, err
			}
		}
	case v != nil && v.Name.Space == pie.NSVCard && len(v.Children) > 0:
		st.VCard = true
		w.VCard(v)
	}

	// Private XML storage.
	var private []*xmltree.Element
	for _, n := range e.opt.privateNames() {
		q := xmltree.NewElement(pie.NSPrivate, "query").Add(&xmltree.Element{Name: n})
		res, err := iq(ctx, e.c, stanza.GetIQ, jid.JID{}, q)
		if err != nil {
			if fatal(err) {
				return st, err
			}
			continue
		}
		if c := res.Child(n.Space, n.Local); c != nil && (len(c.Children) > 0 || len(c.Attr) > 0) {
			private = append(private, c)
		}
	}
	st.Private = len(private)
	w.Private(private)

	// Blocklist, written as the default privacy list (XEP-0191 §5).
	jids, err := e.fetchBlocklist(ctx)
	if err != nil {
		if err := skip("blocklist", err); err != nil {
			return st, err
		}
	} else if len(jids) > 0 {
		st.Blocked = len(jids)
		w.Privacy(pie.BlocklistPrivacy(jids))
	}

	// PEP: configurations first, then the items node by node.
	nodes, err := e.pepNodes(ctx)
	if err != nil {
		return st, err
	}
	st.PEPNodes = len(nodes)
	w.PEPConfig(nodes)
	if len(nodes) > 0 {
		w.StartPEPItems()
		for _, n := range nodes {
			items, err := e.pepItems(ctx, n.Node)
			if err != nil {
				if err := skip("pep "+n.Node, err); err != nil {
					return st, err
				}
			}
			st.PEPItems += len(items)
			w.PEPItems(n.Node, items)
		}
		w.EndPEPItems()
	}
	if err := w.Flush(); err != nil {
		return st, err
	}

	// The archive, page by page, flushed after each page.
	w.StartArchive()
	if err := e.archive(ctx, w, &st); err != nil {
		return st, err
	}
	w.EndArchive()
	w.EndUser()
	w.EndHost()
	if err := w.Close(); err != nil {
		return st, err
	}
	return st, nil
}

// doneCtx is a context canceled when the connection ends.
func doneCtx(c *xmpp.Conn) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-c.Done()
		cancel()
	}()
	return ctx
}

// fetchBlocklist reads the XEP-0191 blocklist and returns the addresses
// that parse. It is written by hand rather than with mellium v0.22.0's
// blocklist.Fetch, which besides taking a *mellium.Session ends its
// iteration at the first item whose address does not parse (Iter.Next
// keeps the parse error and reports no further item): one odd entry would
// cost the whole list, where the export leaves out that entry only.
func (e *Export) fetchBlocklist(ctx context.Context) ([]string, error) {
	bl, err := iq(ctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(pie.NSBlocking, "blocklist"))
	if err != nil {
		return nil, err
	}
	var jids []string
	for _, it := range bl.Elements() {
		if j := it.AttrValue("jid"); it.Name.Local == "item" {
			if _, err := jid.Parse(j); err == nil {
				jids = append(jids, j)
			}
		}
	}
	return jids, nil
}

// fetchRoster reads the roster by hand rather than with mellium v0.22.0's
// roster.Fetch, whose roster.Item has no ask attribute: a contact with a
// pending subscription request would lose it (and the import could not
// send it again); roster.Fetch also takes a *mellium.Session and its
// iterator stops at the first item whose address does not parse. It
// returns the number of contacts left out for an invalid address.
func (e *Export) fetchRoster(ctx context.Context) (*pie.Roster, int, error) {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout+30*time.Second)
	defer cancel()
	q, err := iq(rctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(pie.NSRoster, "query"))
	if err != nil {
		return nil, 0, err
	}
	if q == nil { // an empty result: no contacts
		return &pie.Roster{}, 0, nil
	}
	if q.Name.Space != pie.NSRoster || q.Name.Local != "query" {
		return nil, 0, protocolError("roster", fmt.Sprintf("roster answer is <%s xmlns=%q>", xmltree.Shorten(q.Name.Local), xmltree.Shorten(q.Name.Space)), nil)
	}
	r, problems := pie.RosterFromQuery(q)
	if len(r.Items) > 100000 {
		return nil, 0, protocolError("roster", "roster too large", nil)
	}
	return r, len(problems), nil
}

// fetchOffline retrieves offline messages with XEP-0013 where the server
// offers it (ejabberd); it leaves them stored on the server.
func (e *Export) fetchOffline(ctx context.Context) ([]*xmltree.Element, error) {
	info, err := iq(ctx, e.c, stanza.GetIQ, e.own, xmltree.NewElement(NSDiscoInfo, "query"))
	if err != nil {
		if fatal(err) {
			return nil, err
		}
		info = nil
	}
	has := false
	for _, f := range info.Elements() {
		if f.Name.Local == "feature" && f.AttrValue("var") == NSOffline {
			has = true
		}
	}
	if !has {
		info, err = iq(ctx, e.c, stanza.GetIQ, e.own.Domain(), xmltree.NewElement(NSDiscoInfo, "query"))
		if err != nil {
			if fatal(err) {
				return nil, err
			}
			return nil, nil
		}
		for _, f := range info.Elements() {
			if f.Name.Local == "feature" && f.AttrValue("var") == NSOffline {
				has = true
			}
		}
	}
	if !has {
		return nil, nil
	}
	// XEP-0013 §2.2: how many there are (servers route the messages apart
	// from the result of <fetch/>, which may come first).
	want := -1
	if ni, err := iq(ctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(NSDiscoInfo, "query", "node", NSOffline)); err == nil {
		if v, err := strconv.Atoi(pie.FormValue(ni.Child(pie.NSData, "x"), "number_of_messages")); err == nil {
			want = v
		}
	} else if fatal(err) {
		return nil, err
	}
	if want <= 0 {
		return nil, nil // none, or the server does not say: no presence for nothing
	}
	e.mu.Lock()
	e.inOff, e.offline = true, nil
	e.mu.Unlock()
	// ejabberd routes fetched messages only to an available session. The
	// disco#info request above stops it from flushing (and deleting) the
	// stored messages on presence; the session is available only while the
	// messages are fetched, so live messages are not swallowed.
	if err := e.c.Send(ctx, xmltree.NewElement(pie.NSClient, "presence").Add(xmltree.NewElement(pie.NSClient, "priority").SetText("0")).TokenReader()); err != nil {
		return nil, err
	}
	defer e.c.Send(ctx, xmltree.NewElement(pie.NSClient, "presence", "type", "unavailable").TokenReader())
	_, err = iq(ctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(NSOffline, "offline").Add(xmltree.NewElement(NSOffline, "fetch")))
	if err == nil && want > 0 {
		deadline := time.Now().Add(e.cfg.Timeout)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			e.mu.Lock()
			got := len(e.offline)
			e.mu.Unlock()
			if got >= want {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.mu.Lock()
	msgs := e.offline
	e.inOff, e.offline = false, nil
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return msgs, nil
}

// pepNodes lists the account's PEP nodes (disco#items plus the known ones
// that exist) with their configuration.
//
// The listing is read by hand rather than with mellium v0.22.0's
// disco.FetchItems, which besides taking a *mellium.Session has two bugs
// in its ItemIter: when the result is paged (XEP-0059), it fetches the
// "next page" as FetchItems(ctx, i.current, s), the disco#items of the last
// item listed (its address and node) instead of the next page of the same
// query; and an item whose jid does not parse ends the iteration. The
// configurations are read by hand too: pubsub.GetConfig also takes a
// *mellium.Session, and its *form.Data would have to be turned back into
// the submit form the file holds, which submitForm makes from the XML.
func (e *Export) pepNodes(ctx context.Context) ([]*pie.PEPNode, error) {
	seen := map[string]bool{}
	var names []string
	items, err := iq(ctx, e.c, stanza.GetIQ, e.own, xmltree.NewElement(NSDiscoItems, "query"))
	if err != nil && fatal(err) {
		return nil, err
	}
	for _, it := range items.Elements() {
		n := it.AttrValue("node")
		if it.Name.Local == "item" && n != "" && !seen[n] && len(names) < 1000 {
			seen[n] = true
			names = append(names, n)
		}
	}
	var nodes []*pie.PEPNode
	for _, n := range knownNodes {
		if !seen[n] {
			names = append(names, n)
		}
	}
	for _, n := range names {
		cfg, err := iq(ctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(pie.NSPubSubOwner, "pubsub").Add(xmltree.NewElement(pie.NSPubSubOwner, "configure", "node", n)))
		if err != nil {
			if fatal(err) {
				return nil, err
			}
			if !seen[n] {
				continue // a known node that does not exist
			}
		}
		var form *xmltree.Element
		if c := cfg.Child(pie.NSPubSubOwner, "configure"); c != nil {
			form = submitForm(c.Child(pie.NSData, "x"))
		}
		if form == nil && !seen[n] {
			continue
		}
		nodes = append(nodes, &pie.PEPNode{Node: n, Config: form})
	}
	return nodes, nil
}

// submitForm turns a node configuration form into a compact submit form:
// field names and values only.
func submitForm(x *xmltree.Element) *xmltree.Element {
	if x == nil {
		return nil
	}
	out := xmltree.NewElement(pie.NSData, "x", "type", "submit")
	for _, f := range x.Elements() {
		v := f.AttrValue("var")
		if f.Name.Local != "field" || v == "" {
			continue
		}
		nf := xmltree.NewElement(pie.NSData, "field", "var", v)
		if v == "FORM_TYPE" {
			nf.Attr = append(nf.Attr, xml.Attr{Name: xml.Name{Local: "type"}, Value: "hidden"})
		}
		for _, val := range f.Elements() {
			if val.Name.Local == "value" {
				nf.Add(xmltree.NewElement(pie.NSData, "value").SetText(val.Text()))
			}
		}
		out.Add(nf)
	}
	return out
}

// pepItems reads the items of a PEP node by hand rather than with mellium
// v0.22.0's pubsub.Fetch, which besides taking a *mellium.Session takes the
// two tokens after the IQ start for <pubsub> and <items> without looking at
// them, so whitespace between the elements (which XML allows) makes it
// misread the response.
func (e *Export) pepItems(ctx context.Context, node string) ([]pie.PEPItem, error) {
	res, err := iq(ctx, e.c, stanza.GetIQ, jid.JID{}, xmltree.NewElement(pie.NSPubSub, "pubsub").Add(xmltree.NewElement(pie.NSPubSub, "items", "node", node)))
	if err != nil {
		if stanzaCondition(err) == "item-not-found" {
			return nil, nil
		}
		return nil, err
	}
	var out []pie.PEPItem
	for _, it := range res.Child(pie.NSPubSub, "items").Elements() {
		if it.Name.Local != "item" {
			continue
		}
		var payload *xmltree.Element
		if els := it.Elements(); len(els) > 0 {
			payload = els[0]
		}
		out = append(out, pie.PEPItem{ID: it.AttrValue("id"), Payload: payload})
	}
	return out, nil
}

// archive pages through MAM with RSM <after/> and writes each page.
func (e *Export) archive(ctx context.Context, w Sink, st *ExportStats) error {
	last := ""
	for page := 0; ; page++ {
		if page > 10_000_000/e.opt.PageSize {
			return protocolError("archive", "too many archive pages", nil)
		}
		qid := "export-" + strconv.Itoa(page)
		e.mu.Lock()
		e.queryID, e.page, e.pageErr = qid, nil, nil
		e.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout+20*time.Second)
		res, err := mamPage(pctx, e.c, e.own, history.Query{ID: qid, Limit: uint64(e.opt.PageSize), PageID: last})
		cancel()
		e.mu.Lock()
		results, perr := e.page, e.pageErr
		e.queryID, e.page = "", nil
		e.mu.Unlock()
		if err != nil {
			if c := stanzaCondition(err); c != "" && page == 0 {
				st.Skipped = append(st.Skipped, "archive: "+c)
				return nil
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		if perr != nil {
			return perr
		}
		if page == 0 && res.Set.Count != nil {
			st.ArchiveReported = int(*res.Set.Count)
		}
		st.Pages++
		for _, r := range results {
			w.ArchiveResult(r)
		}
		st.Archive += len(results)
		if err := w.Flush(); err != nil {
			return err
		}
		if res.Complete || len(results) == 0 || res.Set.Last == "" || res.Set.Last == last {
			return nil
		}
		last = res.Set.Last
	}
}

// mamPage asks for one page of the archive of to (XEP-0313) on c and
// returns its <fin/> (RSM set, complete). The results arrive before it as
// messages, which the connection's handler collects (Export.handleResult,
// synchronously: mellium's history.Handler hands out readers of the live
// stream, and payloads are lost when they are not read at once). The query
// and the <fin/> are mellium's (history.Query, history.Result); the request
// goes through Conn.SendIQ rather than history.Fetch, which takes a
// *mellium.Session. A result without <fin/> is an empty one (no more
// pages), as history.Fetch has it. An empty q.ID gets a random one.
func mamPage(ctx context.Context, c *xmpp.Conn, to jid.JID, q history.Query) (history.Result, error) {
	if q.ID == "" {
		q.ID = rand.Text()
	}
	resp, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ, To: to}, q.TokenReader())
	if err != nil {
		return history.Result{}, err
	}
	var res history.Result
	if err := resp.Decode(&res); err != nil && err != io.EOF { // io.EOF: no child element
		return history.Result{}, err
	}
	return res, nil
}
