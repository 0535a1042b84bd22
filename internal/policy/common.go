package policy

import (
	_ "embed"
	"strings"
	"sync"
)

// commonPasswordsText is the embedded list, one lowercase password a line.
//
//go:embed data/common-passwords.txt
var commonPasswordsText string

// commonPasswords is built on first use. Its keys are substrings of the
// embedded text, so the set costs only the map itself.
var commonPasswords = sync.OnceValue(buildCommonPasswords)

func buildCommonPasswords() map[string]struct{} {
	m := make(map[string]struct{}, strings.Count(commonPasswordsText, "\n")+1)
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			m[line] = struct{}{}
		}
	}
	return m
}

// IsCommonPassword reports whether pw, ignoring case and surrounding
// whitespace, is in the embedded list of common passwords.
func IsCommonPassword(pw string) bool {
	set := commonPasswords()
	lower := strings.ToLower(pw)
	if _, ok := set[lower]; ok {
		return true
	}
	_, ok := set[strings.TrimSpace(lower)]
	return ok
}
