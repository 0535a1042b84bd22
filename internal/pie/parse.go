package pie

import (
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// Errors returned by Parse (matched with errors.Is).
var (
	// ErrTooLarge: the document, one token, the element count or the nesting
	// exceeded a limit.
	ErrTooLarge = errors.New("pie: document exceeds a size limit")
	// ErrMalformed: not well-formed XML, a DTD, or not a XEP-0227 document.
	ErrMalformed = errors.New("pie: not a valid XEP-0227 document")
)

// Kinds of FormatError: what was found instead of a usable export.
const (
	FormatEmpty     = "empty"     // nothing but whitespace
	FormatRoot      = "root"      // a root element that is neither <server-data/> nor <host/> (Found names it)
	FormatTruncated = "truncated" // the document ends before its root element is closed
	FormatSyntax    = "syntax"    // not well-formed XML (Line)
)

// FormatError says what a file that is not a XEP-0227 document holds
// instead, for a refusal that tells the user what was found. It matches
// ErrMalformed.
type FormatError struct {
	Kind  string
	Found string // FormatRoot: the root element, shortened
	Line  int    // FormatSyntax, FormatTruncated: the line of the decoder's error (0: unknown)
	err   error
}

func (e *FormatError) Error() string {
	switch e.Kind {
	case FormatRoot:
		return "pie: not a XEP-0227 document: the root element is " + e.Found
	case FormatEmpty:
		return "pie: the document is empty"
	case FormatTruncated:
		return "pie: the document ends before it is complete"
	}
	return fmt.Sprintf("pie: not well-formed XML (line %d): %v", e.Line, e.err)
}

// Is matches ErrMalformed.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

// Unwrap is the decoder's error, if any.
func (e *FormatError) Unwrap() error { return e.err }

func syntaxLine(se *xml.SyntaxError) int {
	if se == nil {
		return 0
	}
	return se.Line
}

func errf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Defaults for Options fields left zero.
const (
	DefaultMaxBytes      = 64 << 20
	DefaultMaxDepth      = 48
	DefaultMaxTokenBytes = 8 << 20
	DefaultMaxElements   = 4_000_000
)

// Options limit what Parse accepts.
type Options struct {
	MaxBytes      int64 // whole document
	MaxDepth      int   // nesting below a user's child element
	MaxTokenBytes int   // one text run, tag or attribute list
	MaxElements   int   // elements in the document
	// SkipArchive counts archive results without keeping them (an import
	// does not need the archive, and it is most of the file).
	SkipArchive bool
	// Keep bounds what Parse keeps in memory, whatever the size of the
	// file: the parser reads the file as a stream and stops with a
	// *LimitError as soon as what it keeps would exceed a limit. Zero
	// fields are not limited (beyond MaxElements).
	Keep Limits
	// Match, when set, makes Parse keep one user of a file that holds
	// several (a host's export): the first user for which Match is true,
	// else the first user of the file. A user kept for being first is
	// dropped (and its memory given back) when a matching one follows.
	// Every user read past is streamed, nothing kept, and named in
	// Document.Users.
	Match func(host, name string) bool
}

// Limits bound what Parse keeps. xmltree.Element and byte counts cover everything
// kept (names, attribute values, text); an archive result that is only
// counted (SkipArchive) is bounded by them on its own and then dropped.
type Limits struct {
	Elements      int   // elements and text runs kept
	Bytes         int64 // bytes of names, attribute values and text kept
	Contacts      int   // roster items
	Blocked       int   // privacy list rules (the blocklist)
	Nodes         int   // PEP nodes and private XML elements
	NodeItems     int   // items of one PEP node
	Offline       int   // offline messages
	Subscriptions int   // pending subscription requests
}

// Kinds of LimitError.
const (
	LimitData          = "data" // Elements or Bytes
	LimitContacts      = "contacts"
	LimitBlocked       = "blocked"
	LimitNodes         = "nodes"
	LimitNodeItems     = "node_items"
	LimitOffline       = "offline"
	LimitSubscriptions = "subscriptions"
)

// LimitError says which limit of Options.Keep a file exceeded. It matches
// ErrTooLarge.
type LimitError struct {
	Kind string // LimitContacts, ...
	Max  int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("pie: the file holds more %s than the limit of %d", e.Kind, e.Max)
}

// Is matches ErrTooLarge.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxTokenBytes <= 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if o.MaxElements <= 0 {
		o.MaxElements = DefaultMaxElements
	}
	return o
}

// limitReader fails (never silently truncates) once more than max bytes
// were read, or more than maxTok bytes arrived without a '<' (which bounds
// every text run; tags are bounded the same way by the next '<').
type limitReader struct {
	r      io.Reader
	n, max int64
	since  int
	maxTok int
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.max)
	}
	for _, b := range p[:n] {
		if b == '<' {
			l.since = 0
			continue
		}
		l.since++
		if l.since > l.maxTok {
			return 0, fmt.Errorf("%w: a token is longer than %d bytes", ErrTooLarge, l.maxTok)
		}
	}
	return n, err
}

// guard is the token source of the parser: namespace-resolved tokens,
// comments dropped, DTDs and processing instructions refused, elements
// counted.
type guard struct {
	d        *xml.Decoder
	elements int
	max      int
	started  bool
}

func (g *guard) Token() (xml.Token, error) {
	for {
		t, err := g.d.Token()
		if err != nil {
			return nil, err
		}
		switch tt := t.(type) {
		case xml.Comment:
			continue
		case xml.Directive:
			return nil, errf("DTDs and other directives are not allowed")
		case xml.ProcInst:
			if tt.Target == "xml" && !g.started {
				if enc := procInstEncoding(tt.Inst); enc != "" && !strings.EqualFold(enc, "utf-8") {
					return nil, errf("only UTF-8 is accepted")
				}
				continue
			}
			return nil, errf("processing instructions are not allowed")
		case xml.StartElement:
			if err := xmltree.CheckNames(tt); err != nil {
				return nil, err
			}
			g.started = true
			g.elements++
			if g.elements > g.max {
				return nil, fmt.Errorf("%w: more than %d elements", ErrTooLarge, g.max)
			}
		}
		return t, nil
	}
}

func procInstEncoding(inst []byte) string {
	s := string(inst)
	i := strings.Index(s, "encoding=")
	if i < 0 || i+10 > len(s) {
		return ""
	}
	q := s[i+9]
	rest := s[i+10:]
	if j := strings.IndexByte(rest, q); j >= 0 {
		return rest[:j]
	}
	return ""
}

// Parse reads a XEP-0227 document from r. It accepts only well-formed UTF-8
// XML without DTD or entities, within the limits of opt. Data it cannot use
// (invalid addresses, credentials, XInclude, malformed items) is skipped and
// listed in Document.Problems; unknown user data is kept in User.Extra.
func Parse(r io.Reader, opt Options) (doc *Document, err error) {
	opt = opt.withDefaults()
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, errf("parser panicked: %v", p)
		}
	}()
	lr := &limitReader{r: r, max: opt.MaxBytes, maxTok: opt.MaxTokenBytes}
	d := xml.NewDecoder(lr)
	d.Strict = true
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		return nil, errf("only UTF-8 is accepted, not %q", shorten(label))
	}
	p := &parser{g: &guard{d: d, max: opt.MaxElements}, opt: opt, doc: &Document{}}
	if err := p.document(); err != nil {
		var se *xml.SyntaxError
		var fe *FormatError
		switch {
		case errors.As(err, &fe):
			return nil, err
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || (errors.As(err, &se) && se.Msg == "unexpected EOF"):
			// The file ends inside the document: an interrupted download
			// or export.
			return nil, &FormatError{Kind: FormatTruncated, Line: syntaxLine(se), err: err}
		case errors.As(err, &se):
			return nil, &FormatError{Kind: FormatSyntax, Line: se.Line, err: err}
		case errors.Is(err, xmltree.ErrMalformed):
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		case errors.Is(err, xmltree.ErrTooDeep):
			return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, err
	}
	return p.doc, nil
}

type parser struct {
	g   *guard
	opt Options
	doc *Document

	keptElems int
	keptBytes int64

	// With Options.Match: the user kept so far, the charges before it was
	// read (to give them back if it is dropped) and whether it matched.
	kept      *keptUser
	keptMatch bool
}

type keptUser struct {
	h     *Host
	elems int
	bytes int64
}

// keep charges what the parser keeps against Options.Keep.
func (p *parser) keep(_ int, _ *xml.Name, bytes int) error {
	p.keptElems++
	p.keptBytes += int64(bytes)
	if k := p.opt.Keep; (k.Elements > 0 && p.keptElems > k.Elements) || (k.Bytes > 0 && p.keptBytes > k.Bytes) {
		max := int64(k.Elements)
		if k.Bytes > 0 && p.keptBytes > k.Bytes {
			max = k.Bytes
		}
		return &LimitError{Kind: LimitData, Max: max}
	}
	return nil
}

// scratch returns a charger for an element that is read and dropped (an
// archive result that is only counted): bounded by Options.Keep on its own.
func (p *parser) scratch() xmltree.Charger {
	k := p.opt.Keep
	if k.Elements <= 0 && k.Bytes <= 0 {
		return nil
	}
	var elems int
	var bytes int64
	return func(_ int, _ *xml.Name, b int) error {
		elems++
		bytes += int64(b)
		if (k.Elements > 0 && elems > k.Elements) || (k.Bytes > 0 && bytes > k.Bytes) {
			return &LimitError{Kind: LimitData, Max: int64(k.Elements)}
		}
		return nil
	}
}

// counting returns the charger for a user's child element named top: what
// is kept is charged (keep), and the items of each kind are counted while
// they stream in, so that a file with too many of them is refused as soon
// as the limit is passed, naming the kind, before more is read.
func (p *parser) counting(top xml.Name) xmltree.Charger {
	k := p.opt.Keep
	kind, at, max := "", 0, 0
	switch {
	case top.Space == NSRoster && top.Local == "query":
		kind, at, max = LimitContacts, 2, k.Contacts // query/item
	case top.Space == NSPrivacy && top.Local == "query":
		kind, at, max = LimitBlocked, 3, k.Blocked // query/list/item
	case top.Space == NSPrivate && top.Local == "query":
		kind, at, max = LimitNodes, 2, k.Nodes
	case top.Space == NSPubSub && top.Local == "pubsub":
		kind, at, max = LimitNodeItems, 3, k.NodeItems // pubsub/items/item, per node
	case isPIE(top, "offline-messages"):
		kind, at, max = LimitOffline, 2, k.Offline
	}
	n := 0
	return func(depth int, name *xml.Name, bytes int) error {
		if err := p.keep(depth, name, bytes); err != nil {
			return err
		}
		if name == nil || max <= 0 {
			return nil
		}
		switch {
		case kind == LimitNodeItems && depth == 2:
			n = 0 // a new node's items
		case depth == at:
			n++
			return capped(kind, n, max)
		}
		return nil
	}
}

// capped reports a LimitError when n exceeds a per-kind limit (0: none).
func capped(kind string, n, max int) error {
	if max > 0 && n > max {
		return &LimitError{Kind: kind, Max: int64(max)}
	}
	return nil
}

func (p *parser) problem(where, value, reason string) {
	if len(p.doc.Problems) >= 1000 {
		return
	}
	p.doc.Problems = append(p.doc.Problems, Problem{Where: where, Value: shorten(value), Reason: reason})
}

func shorten(s string) string {
	if len(s) > 80 {
		s = s[:80]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// next returns the next start or end element, skipping text.
func (p *parser) next() (xml.Token, error) {
	for {
		t, err := p.g.Token()
		if err != nil {
			return nil, err
		}
		switch tt := t.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if !xmltree.IsSpace(tt) {
				return nil, errf("unexpected text in document structure")
			}
		}
	}
}

// skip consumes the rest of the current element.
func (p *parser) skip() error {
	depth := 1
	for depth > 0 {
		t, err := p.g.Token()
		if err != nil {
			return err
		}
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func isPIE(n xml.Name, local string) bool {
	return n.Local == local && (n.Space == NS || n.Space == NSLegacy)
}

func attrOf(s xml.StartElement, local string) (string, bool) {
	for _, a := range s.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func (p *parser) document() error {
	t, err := p.next()
	if err != nil {
		if err == io.EOF {
			return &FormatError{Kind: FormatEmpty}
		}
		return err
	}
	root, ok := t.(xml.StartElement)
	switch {
	case ok && isPIE(root.Name, "server-data"):
	case ok && isPIE(root.Name, "host"):
		// A host file of a server's export (ejabberd's export_piefxis_host
		// writes the <server-data/> index and one such file per host).
		if err := p.host(root); err != nil {
			return err
		}
		return p.end()
	case ok:
		return &FormatError{Kind: FormatRoot, Found: elementName(root.Name)}
	default:
		return errf("no root element")
	}
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch tt := t.(type) {
		case xml.EndElement:
			return p.end()
		case xml.StartElement:
			switch {
			case isPIE(tt.Name, "host"):
				if err := p.host(tt); err != nil {
					return err
				}
			case tt.Name.Space == NSXInclude:
				p.include(tt)
				if err := p.skip(); err != nil {
					return err
				}
			default:
				p.problem("document", tt.Name.Space+" "+tt.Name.Local, "unknown element ignored")
				if err := p.skip(); err != nil {
					return err
				}
			}
		}
	}
}

// end reads what follows the root element: anything but whitespace after
// it is a syntax error the decoder reports; reading to the end makes sure
// the file is whole.
func (p *parser) end() error {
	for {
		t, err := p.g.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if cd, ok := t.(xml.CharData); !ok || !xmltree.IsSpace(cd) {
			return errf("content after the document element")
		}
	}
}

// include notes an xi:include of the document or a host: a file made of
// them only is the index of a server's export (IndexFiles).
func (p *parser) include(start xml.StartElement) {
	href, _ := attrOf(start, "href")
	p.problem("document", href, "xi:include is not supported: upload one file holding all data")
	if href != "" && len(p.doc.Includes) < maxIncludesListed {
		// The name of the file only: never a path of the operator's.
		if i := strings.LastIndexAny(href, "/\\"); i >= 0 {
			href = href[i+1:]
		}
		p.doc.Includes = append(p.doc.Includes, shorten(href))
	}
}

// elementName is a name as a refusal shows it: <local xmlns='space'>,
// shortened.
func elementName(n xml.Name) string {
	if n.Space == "" {
		return "<" + shorten(n.Local) + ">"
	}
	return "<" + shorten(n.Local) + " xmlns='" + shorten(n.Space) + "'>"
}

func (p *parser) host(start xml.StartElement) error {
	name, _ := attrOf(start, "jid")
	j, err := jid.Parse(name)
	valid := err == nil && j.Localpart() == "" && j.Resourcepart() == ""
	if !valid {
		p.problem("host", name, "not a valid domain: host skipped")
		return p.skip()
	}
	h := &Host{JID: name}
	p.doc.Hosts = append(p.doc.Hosts, h)
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch tt := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			switch {
			case isPIE(tt.Name, "user"):
				if err := p.user(h, tt); err != nil {
					return err
				}
			case tt.Name.Space == NSXInclude:
				p.include(tt)
				if err := p.skip(); err != nil {
					return err
				}
			default:
				p.problem("host", tt.Name.Space+" "+tt.Name.Local, "unknown element ignored")
				if err := p.skip(); err != nil {
					return err
				}
			}
		}
	}
}

func (p *parser) user(h *Host, start xml.StartElement) error {
	name, _ := attrOf(start, "name")
	if _, err := jid.New(name, h.JID, ""); err != nil || name == "" {
		p.problem("user", name, "not a valid user name: user skipped")
		return p.skip()
	}
	if p.opt.Match != nil {
		p.doc.UserCount++
		if len(p.doc.Users) < maxUsersListed {
			p.doc.Users = append(p.doc.Users, name+"@"+h.JID)
		}
		match := p.opt.Match(h.JID, name)
		switch {
		case p.kept == nil:
			p.keptMatch = match
		case match && !p.keptMatch:
			// Drop the user kept for being first.
			p.kept.h.Users = nil
			p.keptElems, p.keptBytes = p.kept.elems, p.kept.bytes
			p.keptMatch = true
		default:
			return p.skip()
		}
		p.kept = &keptUser{h: h, elems: p.keptElems, bytes: p.keptBytes}
	}
	if _, ok := attrOf(start, "password"); ok {
		p.problem("user", name, "password ignored: the portal never imports credentials")
	}
	u := &User{Name: name}
	h.Users = append(h.Users, u)
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch tt := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if tt.Name.Space == NSArchive && tt.Name.Local == "archive" {
				if err := p.archive(u); err != nil {
					return err
				}
				continue
			}
			e, err := xmltree.Build(p.g, tt, p.opt.MaxDepth, p.counting(tt.Name))
			if err != nil {
				return err
			}
			p.userChild(u, e)
			if err := p.caps(u); err != nil {
				return err
			}
		}
	}
}

// caps checks the per-kind limits of Options.Keep on what u holds so far.
func (p *parser) caps(u *User) error {
	k := p.opt.Keep
	contacts, blocked := 0, 0
	if u.Roster != nil {
		contacts = len(u.Roster.Items)
	}
	if u.Privacy != nil {
		for _, l := range u.Privacy.Lists {
			blocked += len(l.Items)
		}
	}
	items := 0
	for _, n := range u.PEP {
		items = max(items, len(n.Items))
	}
	for _, c := range []struct {
		kind   string
		n, max int
	}{
		{LimitContacts, contacts, k.Contacts},
		{LimitBlocked, blocked, k.Blocked},
		{LimitNodes, len(u.PEP) + len(u.Private), k.Nodes},
		{LimitNodeItems, items, k.NodeItems},
		{LimitOffline, len(u.Offline), k.Offline},
		{LimitSubscriptions, len(u.Subscriptions), k.Subscriptions},
	} {
		if err := capped(c.kind, c.n, c.max); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) userChild(u *User, e *xmltree.Element) {
	n := e.Name
	switch {
	case isPIE(n, "offline-messages"):
		for _, m := range e.Elements() {
			if m.Name.Local != "message" {
				p.problem("offline", m.Name.Local, "not a message: skipped")
				continue
			}
			u.Offline = append(u.Offline, m)
		}
	case n.Space == NSRoster && n.Local == "query":
		p.roster(u, e)
	case n.Space == NSVCard && n.Local == "vCard":
		u.VCard = e
	case n.Space == NSPrivate && n.Local == "query":
		for _, c := range e.Elements() {
			if c.Name.Space == "" {
				p.problem("private", c.Name.Local, "element without namespace: skipped")
				continue
			}
			u.Private = append(u.Private, c)
		}
	case n.Space == NSPrivacy && n.Local == "query":
		p.privacy(u, e)
	case n.Local == "presence" && (n.Space == NSClient || n.Space == ""):
		from := e.AttrValue("from")
		if e.AttrValue("type") != "subscribe" {
			p.problem("subscription", from, "presence that is not a subscription request: skipped")
			return
		}
		if _, err := jid.Parse(from); err != nil {
			p.problem("subscription", from, "invalid address: skipped")
			return
		}
		u.Subscriptions = append(u.Subscriptions, e)
	case n.Space == NSPubSubOwner && n.Local == "pubsub":
		p.pepOwner(u, e)
	case n.Space == NSPubSub && n.Local == "pubsub":
		p.pepItems(u, e)
	case n.Space == NSSCRAM:
		p.problem("credentials", "", "credentials ignored: the portal never imports them")
	case n.Space == NSXInclude:
		p.problem("user", "", "xi:include is not supported: upload one file holding all data")
	default:
		p.problem("user", n.Space+" "+n.Local, "unknown data: kept in the file, not imported")
		u.Extra = append(u.Extra, e)
	}
}

// RosterFromQuery reads a jabber:iq:roster <query/> (a server's roster
// result, or one from a file) as Parse does: contacts with an invalid
// address are left out and reported in problems.
func RosterFromQuery(e *xmltree.Element) (*Roster, []Problem) {
	p := &parser{doc: &Document{}}
	u := &User{Roster: &Roster{}}
	p.roster(u, e)
	return u.Roster, p.doc.Problems
}

func (p *parser) roster(u *User, e *xmltree.Element) {
	if u.Roster == nil {
		u.Roster = &Roster{}
	}
	if v := e.AttrValue("ver"); v != "" {
		u.Roster.Ver = v
	}
	for _, it := range e.Elements() {
		if it.Name.Local != "item" {
			continue
		}
		j := it.AttrValue("jid")
		if _, err := jid.Parse(j); err != nil || j == "" {
			p.problem("roster", j, "invalid address: contact skipped")
			continue
		}
		ri := RosterItem{JID: j, Name: it.AttrValue("name"), Subscription: it.AttrValue("subscription"), Ask: it.AttrValue("ask")}
		for _, g := range it.Elements() {
			if g.Name.Local == "group" {
				ri.Groups = append(ri.Groups, g.Text())
			}
		}
		u.Roster.Items = append(u.Roster.Items, ri)
	}
}

var privacyStanzas = map[string]bool{"message": true, "iq": true, "presence-in": true, "presence-out": true}

func (p *parser) privacy(u *User, e *xmltree.Element) {
	if u.Privacy == nil {
		u.Privacy = &Privacy{}
	}
	pr := u.Privacy
	for _, c := range e.Elements() {
		switch c.Name.Local {
		case "default":
			pr.Default = c.AttrValue("name")
		case "active":
			pr.Active = c.AttrValue("name")
		case "list":
			l := PrivacyList{Name: c.AttrValue("name")}
			for _, it := range c.Elements() {
				if it.Name.Local != "item" {
					continue
				}
				pi := PrivacyItem{Type: it.AttrValue("type"), Value: it.AttrValue("value"), Action: it.AttrValue("action")}
				o, err := strconv.Atoi(it.AttrValue("order"))
				if err != nil || o < 0 {
					p.problem("privacy", it.AttrValue("order"), "invalid order: rule skipped")
					continue
				}
				pi.Order = o
				if pi.Action != "allow" && pi.Action != "deny" {
					p.problem("privacy", pi.Action, "invalid action: rule skipped")
					continue
				}
				switch pi.Type {
				case "jid":
					if _, err := jid.Parse(pi.Value); err != nil || pi.Value == "" {
						p.problem("privacy", pi.Value, "invalid address: rule skipped")
						continue
					}
				case "group", "subscription":
				case "":
					pi.Value = ""
				default:
					p.problem("privacy", pi.Type, "unknown rule type: rule skipped")
					continue
				}
				for _, s := range it.Elements() {
					if privacyStanzas[s.Name.Local] {
						pi.Stanzas = append(pi.Stanzas, s.Name.Local)
					}
				}
				l.Items = append(l.Items, pi)
			}
			pr.Lists = append(pr.Lists, l)
		}
	}
}

func (u *User) nodeFor(name string) *PEPNode {
	if n := u.Node(name); n != nil {
		return n
	}
	n := &PEPNode{Node: name}
	u.PEP = append(u.PEP, n)
	return n
}

func (p *parser) pepOwner(u *User, e *xmltree.Element) {
	for _, c := range e.Elements() {
		node := c.AttrValue("node")
		if node == "" {
			p.problem("pep", c.Name.Local, "element without node: skipped")
			continue
		}
		switch c.Name.Local {
		case "configure":
			n := u.nodeFor(node)
			if x := c.Child(NSData, "x"); x != nil {
				n.Config = x
			}
		case "affiliations":
			u.nodeFor(node).Affiliations = c
		case "subscriptions":
			u.nodeFor(node).Subscriptions = c
		}
	}
}

func (p *parser) pepItems(u *User, e *xmltree.Element) {
	for _, c := range e.Elements() {
		node := c.AttrValue("node")
		if c.Name.Local != "items" || node == "" {
			p.problem("pep", node, "not a node's items: skipped")
			continue
		}
		if u.Node(node) == nil {
			p.problem("pep", node, "items without configuration (kept)")
		}
		n := u.nodeFor(node)
		for _, it := range c.Elements() {
			if it.Name.Local != "item" {
				continue
			}
			var payload *xmltree.Element
			if els := it.Elements(); len(els) > 0 {
				payload = els[0]
			}
			n.Items = append(n.Items, PEPItem{ID: it.AttrValue("id"), Payload: payload})
		}
	}
}

// archive reads the <archive/> element result by result.
func (p *parser) archive(u *User) error {
	u.HasArchive = true
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch tt := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			charge := p.keep
			if p.opt.SkipArchive {
				charge = p.scratch()
			}
			e, err := xmltree.Build(p.g, tt, p.opt.MaxDepth, charge)
			if err != nil {
				return err
			}
			r, reason := ParseResult(e)
			if r == nil {
				p.problem("archive", e.AttrValue("id"), reason)
				continue
			}
			u.ArchiveCount++
			if !p.opt.SkipArchive {
				u.Archive = append(u.Archive, r)
			}
		}
	}
}

// ParseResult turns a XEP-0313 <result/> into an ArchiveResult; a result
// without id, delay stamp or message is refused with a reason.
func ParseResult(e *xmltree.Element) (*ArchiveResult, string) {
	if e.Name.Space != NSMAM || e.Name.Local != "result" {
		return nil, "not a urn:xmpp:mam:2 result: skipped"
	}
	fwd := e.Child(NSForward, "forwarded")
	delay := fwd.Child(NSDelay, "delay")
	var msg *xmltree.Element
	for _, c := range fwd.Elements() {
		if c.Name.Local == "message" && (c.Name.Space == NSClient || c.Name.Space == "") {
			msg = c
		}
	}
	switch {
	case e.AttrValue("id") == "":
		return nil, "result without id: skipped"
	case delay == nil || delay.AttrValue("stamp") == "":
		return nil, "result without delay stamp: skipped"
	case msg == nil:
		return nil, "result without message: skipped"
	}
	return &ArchiveResult{ID: e.AttrValue("id"), Stamp: delay.AttrValue("stamp"), Message: msg}, ""
}
