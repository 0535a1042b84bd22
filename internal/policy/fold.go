package policy

import (
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"github.com/xdg-go/stringprep"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// nodeprep is the stringprep Nodeprep profile of RFC 3920, appendix A, in
// query mode (unassigned code points allowed, as Prosody's default
// non-strict nodeprep does). Prosody and ejabberd fold the localpart of
// every address with it: "Straße" logs in as "strasse". PRECIS
// (UsernameCaseMapped), which the portal checks names with, maps case but
// not ß, so the two can disagree; fold is what makes the portal see the
// name the server sees.
//
// The profile is built from github.com/xdg-go/stringprep's RFC 3454 tables
// (the library behind the MongoDB driver's SASLprep) rather than copied by
// hand.
var nodeprep = stringprep.Profile{
	Mappings:  []stringprep.Mapping{stringprep.TableB1, stringprep.TableB2},
	Normalize: true,
	Prohibits: []stringprep.Set{
		stringprep.TableC1_1, stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
		stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
		stringprep.TableC7, stringprep.TableC8, stringprep.TableC9, nodeprepExtra,
	},
	CheckBiDi: true,
}

// nodeprepExtra are the eight characters Nodeprep prohibits on top of
// stringprep's tables (RFC 3920, A.5).
var nodeprepExtra = stringprep.Set{
	{0x22, 0x22}, {0x26, 0x27}, {0x2F, 0x2F}, {0x3A, 0x3A}, {0x3C, 0x3C}, {0x3E, 0x3E}, {0x40, 0x40},
}

// serverFold returns the localpart the XMPP server will use for a
// PRECIS-normalised localpart, or ok false when the server would refuse it.
func serverFold(precised string) (string, bool) {
	s, err := nodeprep.Prepare(precised)
	if err != nil || s == "" {
		return "", false
	}
	return s, true
}

// lookalike returns the key under which names that look the same are
// equal: the server's fold, then Unicode's confusable skeleton (TR39, via
// github.com/mtibben/confusables: "аdmin" with a Cyrillic а, "adrnin"),
// then without accents, with Latin letter variants reduced to their base
// letter by their Unicode name ("ᴀ", LATIN LETTER SMALL CAPITAL A, is "a";
// "ʀ" is "r"), lowercased. The skeleton table does not cover the small
// capitals and other Latin variants, hence the last step.
func lookalike(local string) string {
	s, ok := serverFold(local)
	if !ok {
		s = local
	}
	s = confusables.Skeleton(strings.ToLower(s))
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if r >= 0x80 {
			if base, ok := latinBase(r); ok {
				r = base
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// latinBase reads the base letter of a Latin letter variant from its Unicode
// name: "LATIN LETTER SMALL CAPITAL R" and "LATIN SMALL LETTER TURNED R" are
// both "r". Names without a single-letter word after LETTER (æ: "LATIN SMALL
// LETTER AE") are left alone.
func latinBase(r rune) (rune, bool) {
	name := runenames.Name(r)
	if !strings.HasPrefix(name, "LATIN ") {
		return 0, false
	}
	words := strings.Fields(name)
	for i, w := range words {
		if w != "LETTER" {
			continue
		}
		for _, x := range words[i+1:] {
			if len(x) == 1 && x[0] >= 'A' && x[0] <= 'Z' {
				return rune(x[0] + 'a' - 'A'), true
			}
			if x == "WITH" {
				break
			}
		}
		break
	}
	return 0, false
}
