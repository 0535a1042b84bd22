package xmltree

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Element is a generic XML element: the form every piece of data that the
// portal does not interpret (vCards, PEP payloads, private XML, messages,
// IQ payloads) is kept, sent and written in.
type Element struct {
	Name     xml.Name   // Space is the namespace URI
	Attr     []xml.Attr // never namespace declarations; xml:lang has Space NSXML
	Children []Node
}

// Node is a child of an Element: exactly one of Elem and Text is set.
type Node struct {
	Elem *Element
	Text string
}

// NSXML is the namespace of the xml: prefix (xml:lang).
const NSXML = "http://www.w3.org/XML/1998/namespace"

// NewElement returns an element with the given namespace, name and
// attributes given as name/value pairs.
func NewElement(space, local string, attrs ...string) *Element {
	e := &Element{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return e
}

// Add appends child elements and returns e.
func (e *Element) Add(children ...*Element) *Element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, Node{Elem: c})
		}
	}
	return e
}

// SetText replaces the children of e by one text node and returns e.
func (e *Element) SetText(s string) *Element {
	e.Children = []Node{{Text: s}}
	return e
}

// AttrValue returns the value of the attribute local (no namespace).
func (e *Element) AttrValue(local string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// Child returns the first child element with that name; an empty space
// matches any namespace.
func (e *Element) Child(space, local string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Elem != nil && c.Elem.Name.Local == local && (space == "" || c.Elem.Name.Space == space) {
			return c.Elem
		}
	}
	return nil
}

// Elements returns the child elements.
func (e *Element) Elements() []*Element {
	if e == nil {
		return nil
	}
	var out []*Element
	for _, c := range e.Children {
		if c.Elem != nil {
			out = append(out, c.Elem)
		}
	}
	return out
}

// Text returns the concatenated text children of e (not of descendants).
func (e *Element) Text() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range e.Children {
		if c.Elem == nil {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// String returns the element serialised as the writer does.
func (e *Element) String() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	bw := bufio.NewWriter(&b)
	Write(bw, e, "")
	bw.Flush()
	return b.String()
}

// Clone returns a deep copy of e.
func (e *Element) Clone() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Name: e.Name, Attr: append([]xml.Attr(nil), e.Attr...)}
	for _, n := range e.Children {
		if n.Elem != nil {
			c.Children = append(c.Children, Node{Elem: n.Elem.Clone()})
		} else {
			c.Children = append(c.Children, Node{Text: n.Text})
		}
	}
	return c
}

// FromTokens builds an element from a token stream that starts with the
// element's start token (leading whitespace is skipped). Namespace
// declarations are dropped, whitespace-only text between child elements is
// dropped, and nesting deeper than maxDepth fails.
func FromTokens(r xml.TokenReader, maxDepth int) (*Element, error) {
	for {
		t, err := r.Token()
		if err != nil {
			if err == io.EOF {
				return nil, malformed("no element")
			}
			return nil, err
		}
		switch tt := t.(type) {
		case xml.StartElement:
			return Build(r, tt, maxDepth, nil)
		case xml.CharData:
			if IsSpace(tt) {
				continue
			}
			return nil, malformed("text before element")
		case xml.Directive:
			return nil, malformed("DTDs and directives are not allowed")
		}
	}
}

// buildElement reads the rest of the element opened by start from r.
// Charger is told of every element (name set) and text run (name nil)
// that Build keeps, with its depth (the built element is 1) and the bytes of
// its names, attribute values or text, and stops the build with its error;
// nil charges nothing. It is how a caller bounds what a build keeps while
// the tokens stream in.
type Charger func(depth int, name *xml.Name, bytes int) error

// Build builds the element that start opens from the tokens of r up to its
// end element: namespace declarations dropped, whitespace-only text between
// child elements dropped, names checked (CheckNames), nesting deeper than
// maxDepth (0: unbounded) refused with ErrTooDeep, and charge told of all
// it keeps.
func Build(r xml.TokenReader, start xml.StartElement, maxDepth int, charge Charger) (*Element, error) {
	return build(r, start, 1, maxDepth, charge)
}

func build(r xml.TokenReader, start xml.StartElement, depth, maxDepth int, charge Charger) (*Element, error) {
	if maxDepth > 0 && depth > maxDepth {
		return nil, fmt.Errorf("%w: elements nested more than %d deep", ErrTooDeep, maxDepth)
	}
	if err := CheckNames(start); err != nil {
		return nil, err
	}
	e := &Element{Name: start.Name, Attr: cleanAttrs(start.Attr)}
	if charge != nil {
		n := len(e.Name.Space) + len(e.Name.Local)
		for _, a := range e.Attr {
			n += len(a.Name.Space) + len(a.Name.Local) + len(a.Value)
		}
		if err := charge(depth, &e.Name, n); err != nil {
			return nil, err
		}
	}
	hasElem := false
	for {
		t, err := r.Token()
		if err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch tt := t.(type) {
		case xml.StartElement:
			c, err := build(r, tt, depth+1, maxDepth, charge)
			if err != nil {
				return nil, err
			}
			hasElem = true
			e.Children = append(e.Children, Node{Elem: c})
		case xml.EndElement:
			e.Children = normalizeChildren(e.Children, hasElem)
			return e, nil
		case xml.CharData:
			if charge != nil {
				// A text node costs its bytes and its place in Children:
				// charged as an element so that text split into many runs
				// (by comments) is bounded like many elements.
				if err := charge(depth+1, nil, len(tt)); err != nil {
					return nil, err
				}
			}
			e.Children = append(e.Children, Node{Text: string(tt)})
		case xml.Directive:
			return nil, malformed("DTDs and directives are not allowed")
		}
	}
}

// normalizeChildren merges adjacent text nodes and, when there are child
// elements, drops text that is only whitespace (indentation). Runs of text
// are joined once each (never by repeated concatenation, which is quadratic
// for text split into many pieces by comments).
func normalizeChildren(ch []Node, hasElem bool) []Node {
	out := ch[:0]
	for i := 0; i < len(ch); {
		if ch[i].Elem != nil {
			out = append(out, ch[i])
			i++
			continue
		}
		j := i + 1
		for j < len(ch) && ch[j].Elem == nil {
			j++
		}
		text := ch[i].Text
		if j-i > 1 {
			var b strings.Builder
			for _, n := range ch[i:j] {
				b.WriteString(n.Text)
			}
			text = b.String()
		}
		i = j
		if text == "" || (hasElem && IsSpace([]byte(text))) {
			continue
		}
		out = append(out, Node{Text: text})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func cleanAttrs(attrs []xml.Attr) []xml.Attr {
	var out []xml.Attr
	for _, a := range attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// IsSpace reports whether b is only XML whitespace.
func IsSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// Write serialises e; parentNS is the default namespace in scope.
// Namespaces are declared only where they change, attribute namespaces get
// generated prefixes (xml: for NSXML).
func Write(w *bufio.Writer, e *Element, parentNS string) {
	w.WriteByte('<')
	w.WriteString(e.Name.Local)
	if e.Name.Space != parentNS {
		w.WriteString(` xmlns="`)
		EscapeAttr(w, e.Name.Space)
		w.WriteByte('"')
	}
	var prefixes []string // attribute namespaces declared here
	for _, a := range e.Attr {
		if a.Name.Space == "" || a.Name.Space == NSXML || a.Name.Space == "xml" {
			continue
		}
		found := false
		for _, p := range prefixes {
			if p == a.Name.Space {
				found = true
			}
		}
		if !found {
			prefixes = append(prefixes, a.Name.Space)
			w.WriteString(` xmlns:a`)
			w.WriteString(strconv.Itoa(len(prefixes) - 1))
			w.WriteString(`="`)
			EscapeAttr(w, a.Name.Space)
			w.WriteByte('"')
		}
	}
	for _, a := range e.Attr {
		w.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case NSXML, "xml":
			w.WriteString("xml:")
		default:
			for i, p := range prefixes {
				if p == a.Name.Space {
					w.WriteString("a" + strconv.Itoa(i) + ":")
					break
				}
			}
		}
		w.WriteString(a.Name.Local)
		w.WriteString(`="`)
		EscapeAttr(w, a.Value)
		w.WriteByte('"')
	}
	if len(e.Children) == 0 {
		w.WriteString("/>")
		return
	}
	w.WriteByte('>')
	for _, c := range e.Children {
		if c.Elem != nil {
			Write(w, c.Elem, e.Name.Space)
		} else {
			escapeText(w, c.Text)
		}
	}
	w.WriteString("</")
	w.WriteString(e.Name.Local)
	w.WriteByte('>')
}

func escapeText(w *bufio.Writer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			w.WriteString("&amp;")
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '\r':
			w.WriteString("&#xD;")
		default:
			writeRune(w, r)
		}
	}
}

// EscapeAttr writes s escaped for an attribute value in double quotes.
func EscapeAttr(w *bufio.Writer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			w.WriteString("&amp;")
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '"':
			w.WriteString("&quot;")
		case '\t':
			w.WriteString("&#x9;")
		case '\n':
			w.WriteString("&#xA;")
		case '\r':
			w.WriteString("&#xD;")
		default:
			writeRune(w, r)
		}
	}
}

// writeRune writes r, replacing characters XML 1.0 does not allow.
func writeRune(w *bufio.Writer, r rune) {
	if !isXMLChar(r) {
		r = utf8.RuneError
	}
	w.WriteRune(r)
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// TokenReader returns the element as a token stream (for sending it in a
// stanza). Namespaces are carried in the token names.
func (e *Element) TokenReader() xml.TokenReader {
	var toks []xml.Token
	var walk func(*Element)
	walk = func(el *Element) {
		toks = append(toks, xml.StartElement{Name: el.Name, Attr: el.Attr})
		for _, c := range el.Children {
			if c.Elem != nil {
				walk(c.Elem)
			} else {
				toks = append(toks, xml.CharData(c.Text))
			}
		}
		toks = append(toks, xml.EndElement{Name: el.Name})
	}
	if e != nil {
		walk(e)
	}
	return &tokenSlice{toks: toks}
}

type tokenSlice struct {
	toks []xml.Token
	i    int
}

func (s *tokenSlice) Token() (xml.Token, error) {
	if s.i >= len(s.toks) {
		return nil, io.EOF
	}
	t := s.toks[s.i]
	s.i++
	return t, nil
}
