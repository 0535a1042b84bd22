package xmltree

import (
	"encoding/xml"
	"unicode"
	"unicode/utf8"
)

// CheckNames refuses a start tag whose element or attribute names are not
// XML names. encoding/xml accepts any run of letters, digits, '.', '-', '_'
// and ':' (so <0/> or <a:0/>), and what it accepts would be written back
// as XML no other parser reads: a file or a server answer with such a name
// is not well-formed, and is refused as a whole.
func CheckNames(s xml.StartElement) error {
	if !NCName(s.Name.Local) {
		return malformed("invalid element name %q", Shorten(s.Name.Local))
	}
	for _, a := range s.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		if !NCName(a.Name.Local) {
			return malformed("invalid attribute name %q", Shorten(a.Name.Local))
		}
	}
	return nil
}

// NCName reports whether s is an XML name without a colon (Namespaces in
// XML's NCName): a letter or '_' first, then letters, digits, '.', '-',
// '_', combining marks and extenders.
func NCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == utf8.RuneError {
			return false
		}
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i == 0:
			return false
		case r == '.' || r == '-' || r == '\u00b7' || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc, unicode.Lm):
		default:
			return false
		}
	}
	return true
}
