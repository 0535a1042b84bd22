package policy

import (
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/i18n"
)

func TestOwnAddress(t *testing.T) {
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
		{"xmpp:Alice@example.org.", "alice", ""},
		{"alice@Example.Org.", "alice", ""},
		{"Straße", "strasse", ""}, // the server folds ß: the name that logs in
		{"STRAßE@EXAMPLE.ORG", "strasse", ""},
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
		a, e := p.OwnAddress(tc.in)
		got := a.Local
		switch {
		case tc.key == "" && e != nil:
			t.Errorf("Address(%q): %v", tc.in, e)
		case tc.key == "" && got != tc.want:
			t.Errorf("Address(%q) = %q, want %q", tc.in, got, tc.want)
		case tc.key != "" && (e == nil || e.Key != tc.key):
			t.Errorf("Address(%q) = %q, %v; want %s", tc.in, got, e, tc.key)
		case e != nil && !strings.HasPrefix(string(e.Key), "policy.username."):
			t.Errorf("Address(%q): key %q is not a username refusal", tc.in, e.Key)
		}
		if e == nil {
			if again, e2 := p.OwnAddress(got); e2 != nil || again.Local != got {
				t.Errorf("Address not stable for %q: %q, %v", got, again, e2)
			}
		}
	}
}

// TestAddressSpellings: every spelling of an address parses to one Address
// with one counter key, on the portal's domain and elsewhere.
func TestAddressSpellings(t *testing.T) {
	p, err := New(Rules{Domain: "example.org", Reserved: []string{"press"}})
	if err != nil {
		t.Fatal(err)
	}
	groups := []struct {
		want, key string
		in        []string
	}{
		{"alice@example.org", "alice@example.org", []string{"alice", "ALICE", " xmpp:alice@example.org ", "alice@EXAMPLE.ORG", "alice@example.org.", "Alice@Example.Org", "ａｌｉｃｅ"}},
		{"strasse@example.org", "strasse@example.org", []string{"straße", "STRASSE", "Straße@example.org", "strasse", "STRAßE"}},
		{"bob@other.example", "bob@other.example", []string{"bob@other.example", "Bob@OTHER.example.", "xmpp:BOB@other.example"}},
		// On another domain the server's folding is not known: the login
		// keeps PRECIS, the counter key folds anyway.
		{"straße@other.example", "strasse@other.example", []string{"Straße@other.example", "STRAßE@Other.Example"}},
	}
	for _, g := range groups {
		for _, in := range g.in {
			a, e := p.ParseAddress(in)
			if e != nil {
				t.Errorf("ParseAddress(%q): %v", in, e)
				continue
			}
			if a.String() != g.want || a.Key() != g.key {
				t.Errorf("ParseAddress(%q) = %s (key %s), want %s (key %s)", in, a, a.Key(), g.want, g.key)
			}
		}
	}
	for _, bad := range []string{"", "@example.org", "alice@", "alice@exa mple.org", "alice@example.org/phone", "a@b@c", "bad user@example.org", strings.Repeat("a", 1024) + "@example.org", strings.Repeat("x", 20000)} {
		if a, e := p.ParseAddress(bad); e == nil {
			t.Errorf("ParseAddress(%q) = %s, want a refusal", bad, a)
		}
	}
}

// TestAccountRefusesReservedSpellings: the admin account and the operator's
// names cannot be managed under any spelling the server folds together.
func TestAccountRefusesReservedSpellings(t *testing.T) {
	p, err := New(Rules{Domain: "example.org", Reserved: []string{"portal-admin", "press"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"portal-admin", "PORTAL-ADMIN@EXAMPLE.ORG.", "preß", "PRESS@example.org", "admin", "Root"} {
		if a, e := p.Account(in); e == nil || e.Key != keyManageReserved {
			t.Errorf("Account(%q) = %s, %v; want refused as reserved", in, a, e)
		}
	}
	for _, in := range []string{"ᴀdmin", "pressure", "alice"} {
		if _, e := p.Account(in); e != nil {
			t.Errorf("Account(%q): %v (an existing account that only looks like a reserved one is still its owner's)", in, e)
		}
	}
}

// TestUsernameServerFolding: a new name must be the name that logs in, and
// reserved names hold for every spelling the server folds together and for
// look-alikes.
func TestUsernameServerFolding(t *testing.T) {
	p, err := New(Rules{Domain: "example.org", Reserved: []string{"press"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in  string
		key i18n.Key
	}{
		{"preß", keyUserReserved},
		{"PREß", keyUserReserved},
		{"ᴀdmin", keyUserReserved},      // LATIN LETTER SMALL CAPITAL A
		{"ʀoot", keyUserReserved},       // LATIN LETTER SMALL CAPITAL R
		{"\u0430dmin", keyUserReserved}, // Cyrillic а
		{"adrnin", keyUserReserved},     // rn looks like m
		{"àdmin", keyUserReserved},
		{"ssßx", keyUserFolded},
		{"straße", keyUserFolded},
		{"strasse", ""},
		{"jürgen", ""},
		{"zoë", ""},
	}
	for _, tc := range tests {
		in := strings.ReplaceAll(tc.in, "\\u0430", "\u0430")
		got, e := p.Username(in)
		switch {
		case tc.key == "" && e != nil:
			t.Errorf("Username(%q): %v", in, e)
		case tc.key != "" && (e == nil || e.Key != tc.key):
			t.Errorf("Username(%q) = %q, %v; want %s", in, got, e, tc.key)
		}
		if tc.key == keyUserFolded && (len(e.Args) != 1 || e.Args[0] == "") {
			t.Errorf("Username(%q): the refusal does not name the folded form: %v", in, e.Args)
		}
	}
}
