package policy

import (
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/i18n"
)

func TestAddress(t *testing.T) {
	p, err := New(Rules{Domain: "Example.ORG", MinUsername: 3, MaxUsername: 8})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want string
		key  i18n.Key // "" = accepted
	}{
		{"alice", "alice", ""},
		{"  Alice  ", "alice", ""},
		{"Alice@example.org", "alice", ""},
		{"alice@EXAMPLE.org", "alice", ""},
		{"ａｌｉｃｅ", "alice", ""},
		{"al", "al", ""},                               // shorter than the sign-up minimum: still an account
		{"averyverylongname", "averyverylongname", ""}, // longer than the sign-up maximum
		{"admin", "admin", ""},                         // reserved: the caller decides
		{"---", "---", ""},                             // no letter: the caller's account may still exist
		{"", "", keyUserEmpty},
		{"   ", "", keyUserEmpty},
		{"@example.org", "", keyUserEmpty},
		{"alice@other.org", "", keyUserOtherDomain},
		{"alice@example.org@example.org", "", keyUserOtherDomain},
		{"bad user", "", keyUserInvalid},
		{"a/b", "", keyUserInvalid},
		{strings.Repeat("a", 1024), "", keyUserInvalid},
		{strings.Repeat("a", 5000), "", keyUserInvalid},
	}
	for _, tc := range tests {
		got, e := p.Address(tc.in)
		switch {
		case tc.key == "" && e != nil:
			t.Errorf("Address(%q): %v", tc.in, e)
		case tc.key == "" && got != tc.want:
			t.Errorf("Address(%q) = %q, want %q", tc.in, got, tc.want)
		case tc.key != "" && (e == nil || e.Key != tc.key):
			t.Errorf("Address(%q) = %q, %v; want %s", tc.in, got, e, tc.key)
		case e != nil && e.Status != Status:
			t.Errorf("Address(%q): status %d", tc.in, e.Status)
		}
		if e == nil {
			if again, e2 := p.Address(got); e2 != nil || again != got {
				t.Errorf("Address not stable for %q: %q, %v", got, again, e2)
			}
		}
	}
}
