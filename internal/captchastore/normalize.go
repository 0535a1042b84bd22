package captchastore

import (
	"unicode"
	"unicode/utf8"
)

// normalize turns an answer as typed into the ASCII digits compared with
// the stored ones: any Unicode decimal digit (general category Nd: ASCII,
// fullwidth ０–９ from Japanese and Chinese keyboards, Arabic-Indic ٠–٩,
// Persian ۰–۹, Devanagari ०–९, …) becomes its ASCII digit, and spaces of
// any kind (unicode.IsSpace: tabs, no-break and ideographic spaces) are
// dropped. Anything else, invalid UTF-8, or an answer longer than
// maxAnswer bytes makes it invalid.
func normalize(answer string) ([]byte, bool) {
	if len(answer) > maxAnswer {
		return nil, false
	}
	out := make([]byte, 0, len(answer))
	for i := 0; i < len(answer); {
		if ch := answer[i]; ch < utf8.RuneSelf { // ASCII: the usual case
			switch {
			case '0' <= ch && ch <= '9':
				out = append(out, ch)
			case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f':
			default:
				return nil, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(answer[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			return nil, false
		}
		if unicode.IsSpace(r) {
			continue
		}
		v, ok := digitValue(r)
		if !ok {
			return nil, false
		}
		out = append(out, '0'+v)
	}
	return out, true
}

// digitValue returns the value 0–9 of a decimal digit (category Nd). Unicode
// encodes every Nd digit in a run of ten consecutive code points from 0 to
// 9 (a stability policy), and unicode.Nd's ranges of stride 1 are unions of
// such runs, so a digit's value is its distance from its range's start,
// modulo 10.
func digitValue(r rune) (byte, bool) {
	for _, rg := range unicode.Nd.R16 {
		if r < rune(rg.Lo) {
			return 0, false
		}
		if r <= rune(rg.Hi) {
			return valueIn(r, rune(rg.Lo), rune(rg.Stride))
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r < rune(rg.Lo) {
			return 0, false
		}
		if r <= rune(rg.Hi) {
			return valueIn(r, rune(rg.Lo), rune(rg.Stride))
		}
	}
	return 0, false
}

func valueIn(r, lo, stride rune) (byte, bool) {
	if stride != 1 { // not in Unicode's tables today; refuse rather than guess
		return 0, false
	}
	return byte((r - lo) % 10), true
}
