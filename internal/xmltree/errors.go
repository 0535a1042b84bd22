package xmltree

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Errors of Build and FromTokens (matched with errors.Is).
var (
	// ErrMalformed: not an element, a DTD, or a name that is not an XML name.
	ErrMalformed = errors.New("xmltree: not well-formed or not allowed")
	// ErrTooDeep: elements nested deeper than the limit.
	ErrTooDeep = errors.New("xmltree: elements nested too deeply")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Shorten cuts s to 80 bytes on a rune boundary, marking the cut, for
// error texts that quote input.
func Shorten(s string) string {
	if len(s) > 80 {
		s = s[:80]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
