package policy

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/xmpp-portal/portal/internal/i18n"
)

const domain = "example.org"

func mustNew(t testing.TB, r Rules) *Policy {
	t.Helper()
	p, err := New(r)
	if err != nil {
		t.Fatalf("New(%+v): %v", r, err)
	}
	return p
}

func keyOf(e *i18n.Error) i18n.Key {
	if e == nil {
		return ""
	}
	return e.Key
}

func TestNew(t *testing.T) {
	p := mustNew(t, Rules{Domain: "Example.ORG."})
	got := p.Rules()
	want := Rules{Domain: "example.org", MinUsername: 2, MaxUsername: 32, MinPassword: 10, MaxPassword: 1024}
	if got.Domain != want.Domain || got.MinUsername != want.MinUsername || got.MaxUsername != want.MaxUsername ||
		got.MinPassword != want.MinPassword || got.MaxPassword != want.MaxPassword || len(got.Reserved) != 0 {
		t.Errorf("Rules() = %+v, want %+v", got, want)
	}
	if p.Domain() != "example.org" {
		t.Errorf("Domain() = %q", p.Domain())
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		want  []string // substrings of the error; all must appear
	}{
		{"no domain", Rules{}, []string{"domain is required"}},
		{"bad domain", Rules{Domain: "exa mple.org"}, []string{`domain "exa mple.org"`}},
		{"min username below 1", Rules{Domain: domain, MinUsername: -1}, []string{"minimum username length -1"}},
		{"max username too big", Rules{Domain: domain, MaxUsername: 2000}, []string{"maximum username length 2000 is above 1023"}},
		{"username min above max", Rules{Domain: domain, MinUsername: 10, MaxUsername: 5}, []string{"minimum username length 10 is above the maximum 5"}},
		{"password min below 1", Rules{Domain: domain, MinPassword: -3}, []string{"minimum password length -3"}},
		{"password max too big", Rules{Domain: domain, MaxPassword: 1 << 20}, []string{"maximum password length"}},
		{"password min above max", Rules{Domain: domain, MinPassword: 20, MaxPassword: 12}, []string{"minimum password length 20 is above the maximum 12"}},
		{"bad reserved", Rules{Domain: domain, Reserved: []string{"ok", "not ok", "a@b"}}, []string{`reserved name "not ok"`, `reserved name "a@b"`}},
		{"every problem at once", Rules{MinUsername: 9, MaxUsername: 3, Reserved: []string{"x y"}}, []string{"domain is required", "minimum username length 9", `reserved name "x y"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.rules)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want an error", tc.rules, p)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewCopiesReserved(t *testing.T) {
	list := []string{"Carol"}
	p := mustNew(t, Rules{Domain: domain, Reserved: list})
	list[0] = "dave"
	if !p.IsReserved("carol") || p.IsReserved("dave") {
		t.Error("the policy shares the caller's Reserved slice")
	}
	r := p.Rules()
	r.Reserved[0] = "eve"
	if p.Rules().Reserved[0] != "Carol" {
		t.Error("Rules() shares the policy's Reserved slice")
	}
}

func TestUsername(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain, Reserved: []string{" Support-Team ", "ＢＯＳＳ", "", "Ωmega"}})
	long := strings.Repeat("a", 32)
	tests := []struct {
		name, in, want string
		key            i18n.Key // "" for accepted
	}{
		{"plain", "alice", "alice", ""},
		{"case mapped", "Alice", "alice", ""},
		{"upper", "BOB", "bob", ""},
		{"surrounding spaces trimmed", "  alice\t\n", "alice", ""},
		{"full-width folded", "ＡＬＩＣＥ", "alice", ""},
		{"digits only allowed", "1234", "1234", ""},
		{"punctuation inside", "a.b-c_d", "a.b-c_d", ""},
		{"leading hyphen", "--a", "--a", ""},
		// The server folds ß into ss and a final sigma into σ (Nodeprep):
		// refused, naming the name the server would make of it.
		{"german sharp s folded by the server", "straße", "", "policy.username.folded"},
		{"greek final sigma folded by the server", "Σίσυφος", "", "policy.username.folded"},
		{"greek lowercased", "ΣΊΣΥΦΟΣ", "σίσυφοσ", ""},
		{"ohm sign normalised", "Ωhm", "ωhm", ""},
		{"combining accent composed", "Jose\u0301", "josé", ""},
		{"hebrew rtl", "\u05d0\u05d1", "\u05d0\u05d1", ""},
		// Nodeprep's BiDi rule: a right-to-left name must end in a
		// right-to-left letter; the server refuses the name.
		{"arabic ending in arabic digit", "\u0627\u0661", "", "policy.username.invalid"},
		{"arabic with arabic digit inside", "\u0627\u0661\u0628", "\u0627\u0661\u0628", ""},
		{"devanagari digits", "१२३", "१२३", ""},
		{"exactly max", long, long, ""},
		{"exactly min", "ab", "ab", ""},
		{"own domain stripped", "alice@example.org", "alice", ""},
		{"own domain any case", "Alice@EXAMPLE.org", "alice", ""},
		{"own domain trailing dot", "alice@example.org.", "alice", ""},

		{"empty", "", "", "policy.username.empty"},
		{"spaces only", " \t ", "", "policy.username.empty"},
		{"empty local with own domain", "@example.org", "", "policy.username.empty"},

		{"one letter", "a", "", "policy.username.too_short"},
		{"one full-width letter", "ａ", "", "policy.username.too_short"},
		{"one composed letter", "e\u0301", "", "policy.username.too_short"},
		{"too long", long + "a", "", "policy.username.too_long"},
		{"too long in runes", strings.Repeat("ä", 33), "", "policy.username.too_long"},
		{"absurdly long", strings.Repeat("a", 10000), "", "policy.username.too_long"},

		{"inner space", "a b", "", "policy.username.invalid"},
		{"no-break space", "a\u00a0b", "", "policy.username.invalid"},
		{"ff ligature", "ﬀ", "", "policy.username.invalid"},
		{"ff ligature in word", "oﬀice", "", "policy.username.invalid"},
		{"titlecase digraph", "ǅemo", "", "policy.username.invalid"},
		{"circled letters", "ⓐⓑ", "", "policy.username.invalid"},
		{"superscript digits", "x⁴²", "", "policy.username.invalid"},
		{"emoji", "bob😀", "", "policy.username.invalid"},
		{"emoji only", "😀😀", "", "policy.username.invalid"},
		{"bell control char", "abc\a", "", "policy.username.invalid"},
		{"nul", "ab\x00", "", "policy.username.invalid"},
		{"zero width joiner", "a\u200db", "", "policy.username.invalid"},
		{"soft hyphen", "ab\u00ad", "", "policy.username.invalid"},
		{"bidi: ltr then rtl", "a\u05d0", "", "policy.username.invalid"},
		{"bidi: rtl then ltr", "\u05d0a", "", "policy.username.invalid"},
		{"bidi: arabic with latin", "\u0627b1", "", "policy.username.invalid"},
		{"bidi: leading combining mark", "\u0300a", "", "policy.username.invalid"},
		{"bidi: override char", "ab\u202ecd", "", "policy.username.invalid"},
		{"invalid utf-8", "ab\xff", "", "policy.username.invalid"},
		{"slash", "a/b", "", "policy.username.invalid"},
		{"colon", "a:b", "", "policy.username.invalid"},
		{"apostrophe", "o'neil", "", "policy.username.invalid"},
		{"ampersand", "a&b", "", "policy.username.invalid"},
		{"quote", `a"b`, "", "policy.username.invalid"},
		{"angle brackets", "<ab>", "", "policy.username.invalid"},
		{"full-width at sign", "ab＠cd", "", "policy.username.invalid"},
		{"two at signs on our domain", "a@b@example.org", "", "policy.username.other_domain"},

		{"dots only", "...", "", "policy.username.no_alnum"},
		{"punctuation only", "-_-", "", "policy.username.no_alnum"},

		{"other domain", "alice@example.net", "", "policy.username.other_domain"},
		{"subdomain is other", "alice@muc.example.org", "", "policy.username.other_domain"},
		{"empty domain", "alice@", "", "policy.username.other_domain"},
		{"address with resource", "alice@example.org/phone", "", "policy.username.other_domain"},

		{"reserved", "admin", "", "policy.username.reserved"},
		{"reserved upper", "ADMIN", "", "policy.username.reserved"},
		{"reserved full-width", "Ｒｏｏｔ", "", "policy.username.reserved"},
		{"reserved postmaster", "postmaster", "", "policy.username.reserved"},
		{"reserved with own domain", "abuse@example.org", "", "policy.username.reserved"},
		{"operator reserved normalised", "support-team", "", "policy.username.reserved"},
		{"operator full-width entry", "boss", "", "policy.username.reserved"},
		{"operator greek entry", "ΩMEGA", "", "policy.username.reserved"},
		{"not reserved: prefix", "admin2", "admin2", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Username(tc.in)
			if keyOf(err) != tc.key || got != tc.want {
				t.Fatalf("Username(%q) = %q, %v; want %q, key %q", tc.in, got, err, tc.want, tc.key)
			}
			if err != nil {
				if !strings.HasPrefix(string(err.Key), "policy.username.") {
					t.Errorf("key %q is not a username refusal", err.Key)
				}
				return
			}
			if again, err := p.Username(got); again != got || err != nil {
				t.Errorf("Username(%q) = %q, %v; not stable", got, again, err)
			}
		})
	}
}

func TestUsernameLimits(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain, MinUsername: 1, MaxUsername: 1023})
	if got, err := p.Username("x"); got != "x" || err != nil {
		t.Errorf("Username(x) with min 1 = %q, %v", got, err)
	}
	// 400 runes of 3 bytes each: within the rune limit, over 1023 bytes.
	wide := strings.Repeat("中", 400)
	if _, err := p.Username(wide); keyOf(err) != "policy.username.too_long" {
		t.Errorf("Username(400×中) err = %v, want too_long (1023 bytes)", err)
	}
	if got, err := p.Username(strings.Repeat("中", 341)); err != nil || len(got) != 1023 {
		t.Errorf("Username(341×中) = %d bytes, %v; want accepted", len(got), err)
	}
	e := mustNew(t, Rules{Domain: domain, MaxUsername: 5})
	_, err := e.Username("abcdef")
	if keyOf(err) != "policy.username.too_long" || len(err.Args) != 1 || err.Args[0] != 5 {
		t.Errorf("too_long args = %v, want [5]", err)
	}
	_, err = e.Username("a")
	if keyOf(err) != "policy.username.too_short" || len(err.Args) != 1 || err.Args[0] != 2 {
		t.Errorf("too_short args = %v, want [2]", err)
	}
	_, err = e.Username("x@example.com")
	if keyOf(err) != "policy.username.other_domain" || len(err.Args) != 1 || err.Args[0] != "example.org" {
		t.Errorf("other_domain args = %v, want [example.org] (our domain, never the typed one)", err)
	}
}

func TestUsernameErrorForLog(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain})
	_, err := p.Username("a b")
	if err == nil || err.Err == nil {
		t.Fatalf("want a wrapped PRECIS error, got %v", err)
	}
	var e error = err
	var ie *i18n.Error
	if !errors.As(e, &ie) || !strings.Contains(e.Error(), "policy.username.invalid") {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestPassword(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain})
	good := "correct horse battery staple"
	tests := []struct {
		name, pw, confirm, local string
		key                      i18n.Key
	}{
		{"good passphrase", good, good, "alice", ""},
		{"long random", "vT7#qL9!mZ2@wR5$", "vT7#qL9!mZ2@wR5$", "alice", ""},
		{"unicode passphrase", "Grüße aus Köln 🌧️", "Grüße aus Köln 🌧️", "alice", ""},
		{"exactly min runes", "äöüäöüäöüä", "äöüäöüäöüä", "", ""},
		{"exactly max", strings.Repeat("xq", 512), strings.Repeat("xq", 512), "", ""},
		{"contains username is fine", "alice-likes-long-walks", "alice-likes-long-walks", "alice", ""},
		{"unknown user", "alice12345678", "alice12345678", "", ""},

		{"empty", "", "", "alice", "policy.password.empty"},
		{"empty with confirm", "", good, "alice", "policy.password.empty"},
		{"mismatch", good, good + "!", "alice", "policy.password.mismatch"},
		{"mismatch case", good, strings.ToUpper(good), "alice", "policy.password.mismatch"},
		{"confirm missing", good, "", "alice", "policy.password.mismatch"},
		{"spaces only", "            ", "            ", "alice", "policy.password.blank"},
		{"whitespace only", " \t\n \u00a0 \u3000   ", " \t\n \u00a0 \u3000   ", "alice", "policy.password.blank"},
		{"too short", "short1!", "short1!", "alice", "policy.password.too_short"},
		{"too short in runes", "äöüäöüäöü", "äöüäöüäöü", "", "policy.password.too_short"},
		{"too long", strings.Repeat("x", 1025), strings.Repeat("x", 1025), "", "policy.password.too_long"},
		{"too long in runes", strings.Repeat("ä", 1025), strings.Repeat("ä", 1025), "", "policy.password.too_long"},
		{"huge", strings.Repeat("x", 1<<20), "", "", "policy.password.too_long"},
		{"tab", "abcdefghij\tk", "abcdefghij\tk", "", "policy.password.invalid"},
		{"emoji with joiner and selector", "family 👨\u200d👩\u200d👧 ❤️ ok", "family 👨\u200d👩\u200d👧 ❤️ ok", "", ""},
		{"control char", "abcdefghij\x07", "abcdefghij\x07", "", "policy.password.invalid"},
		{"nul", "abcdefghij\x00k", "abcdefghij\x00k", "", "policy.password.invalid"},
		{"invalid utf-8", "abcdefghij\xff", "abcdefghij\xff", "", "policy.password.invalid"},
		{"equals username", "alicealice", "alicealice", "alicealice", "policy.password.username"},
		{"equals username other case", "AliceAlice", "AliceAlice", "alicealice", "policy.password.username"},
		{"username plus digits", "alice12345", "alice12345", "alice", "policy.password.username"},
		{"digits plus username", "2024bobbybob", "2024bobbybob", "bobbybob", "policy.password.username"},
		{"username with digits plus digits", "bob991234567", "bob991234567", "bob99", "policy.password.username"},
		{"common but short: length first", "password", "password", "", "policy.password.too_short"},
		{"common long", "qwertyuiop", "qwertyuiop", "alice", "policy.password.common"},
		{"common long upper", "QWERTYUIOP", "QWERTYUIOP", "alice", "policy.password.common"},
		{"common 1234567890", "1234567890", "1234567890", "alice", "policy.password.common"},
		{"common with trailing space", "qwertyuiop  ", "qwertyuiop  ", "alice", "policy.password.common"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Password(tc.pw, tc.confirm, tc.local)
			if keyOf(err) != tc.key {
				t.Fatalf("Password(%.40q, %.40q, %q) = %v, want key %q", tc.pw, tc.confirm, tc.local, err, tc.key)
			}
			if err != nil && !strings.HasPrefix(string(err.Key), "policy.password.") {
				t.Errorf("key %q is not a password refusal", err.Key)
			}
		})
	}
}

// TestPasswordCommonWithLowMinimum checks the list itself, with the length
// rule out of the way.
func TestPasswordCommonWithLowMinimum(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain, MinPassword: 1})
	for _, pw := range []string{"password", "123456", "qwertyuiop", "Password", "letmein", "iloveyou", "trustno1"} {
		if err := p.Password(pw, pw, "alice"); keyOf(err) != "policy.password.common" {
			t.Errorf("Password(%q) = %v, want common", pw, err)
		}
	}
	for _, pw := range []string{"zq8-Vx!pT4", "Tangerine-Orbit-Velvet-42"} {
		if err := p.Password(pw, pw, "alice"); err != nil {
			t.Errorf("Password(%q) = %v, want accepted", pw, err)
		}
	}
}

func TestPasswordArgs(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain, MinPassword: 12, MaxPassword: 20})
	if err := p.Password("abc", "abc", ""); keyOf(err) != "policy.password.too_short" || err.Args[0] != 12 {
		t.Errorf("too_short = %v, want arg 12", err)
	}
	long := strings.Repeat("y", 21)
	if err := p.Password(long, long, ""); keyOf(err) != "policy.password.too_long" || err.Args[0] != 20 {
		t.Errorf("too_long = %v, want arg 20", err)
	}
}

// TestMessagesExist produces every refusal and checks that each language has
// a text for it that takes exactly the arguments the policy passes.
func TestMessagesExist(t *testing.T) {
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := mustNew(t, Rules{Domain: domain})
	user := func(in string) *i18n.Error { _, e := p.Username(in); return e }
	errs := []*i18n.Error{
		user(""), user("a"), user(strings.Repeat("a", 40)), user("a b"), user("..."), user("admin"), user("a@example.net"),
		p.Password("", "", ""), p.Password("abcdefghijk", "x", ""), p.Password("           ", "           ", ""),
		p.Password("abcdefghij\x01", "abcdefghij\x01", ""), p.Password("short", "short", ""),
		p.Password(strings.Repeat("z", 2000), strings.Repeat("z", 2000), ""),
		p.Password("alice123456", "alice123456", "alice"), p.Password("qwertyuiop", "qwertyuiop", ""),
	}
	all := []i18n.Key{keyUserEmpty, keyUserTooShort, keyUserTooLong, keyUserInvalid, keyUserNoAlnum,
		keyUserReserved, keyUserOtherDomain, keyPassEmpty, keyPassMismatch, keyPassBlank, keyPassInvalid,
		keyPassTooShort, keyPassTooLong, keyPassUsername, keyPassCommon}
	seen := make(map[i18n.Key]bool)
	for _, e := range errs {
		if e == nil {
			t.Fatal("an input meant to be refused was accepted")
		}
		seen[e.Key] = true
		for _, lang := range b.Languages() {
			if got := e.Message(b, lang); got == string(e.Key) || strings.Contains(got, "%!") {
				t.Errorf("%s: %s with args %v = %q", lang, e.Key, e.Args, got)
			}
		}
	}
	for _, k := range all {
		if !seen[k] {
			t.Errorf("no test input produces %s", k)
		}
	}
}

func TestCommonPasswordList(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(commonPasswordsText, "\n"), "\n")
	if len(lines) < 10000 {
		t.Fatalf("common-passwords.txt has %d lines, want at least 10000", len(lines))
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		switch {
		case l == "" || l != strings.TrimSpace(l):
			t.Errorf("line %d: %q is empty or has surrounding space", i+1, l)
		case l != strings.ToLower(l):
			t.Errorf("line %d: %q is not lowercase", i+1, l)
		case !utf8.ValidString(l):
			t.Errorf("line %d: invalid UTF-8", i+1)
		case seen[l]:
			t.Errorf("line %d: %q is a duplicate", i+1, l)
		}
		seen[l] = true
	}
	if n := len(commonPasswords()); n != len(lines) {
		t.Errorf("set has %d entries, file %d lines", n, len(lines))
	}
	for _, pw := range []string{"password", "123456", "qwertyuiop", "PASSWORD", " dragon "} {
		if !IsCommonPassword(pw) {
			t.Errorf("IsCommonPassword(%q) = false", pw)
		}
	}
	if IsCommonPassword("Xylophone-Quasar-Mittens-77") {
		t.Error("a random passphrase is reported as common")
	}
}

// TestConcurrent runs every method from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	p := mustNew(t, Rules{Domain: domain, Reserved: []string{"boss"}})
	inputs := []string{"alice", "Admin", "boss", "a b", "ＡＬＩＣＥ", "x@example.net", ""}
	var wg sync.WaitGroup
	for g := range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range 200 {
				in := inputs[(g+i)%len(inputs)]
				local, _ := p.Username(in)
				_ = p.Password("correct horse battery", "correct horse battery", local)
				_ = p.Password("qwertyuiop", "qwertyuiop", local)
				_ = p.Rules()
				_ = p.IsReserved(local)
			}
		})
	}
	wg.Wait()
}

func FuzzUsername(f *testing.F) {
	for _, s := range []string{"alice", "Alice", "ＡＬＩＣＥ", "a b", "ﬀ", "admin", "alice@example.org", "a@b@c",
		"\u05d0\u05d1", "a\u05d0", "Σίσυφος", "e\u0301", "😀", "...", "", " x ", "\xff", "a\u200db", "İstanbul"} {
		f.Add(s)
	}
	p := mustNew(f, Rules{Domain: domain, Reserved: []string{"boss"}})
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := p.Username(raw)
		if err != nil {
			if out != "" {
				t.Fatalf("Username(%q) = %q with error %v", raw, out, err)
			}
			if !strings.HasPrefix(string(err.Key), "policy.username.") {
				t.Fatalf("Username(%q): malformed error %#v", raw, err)
			}
			return
		}
		n := utf8.RuneCountInString(out)
		if out == "" || n < 2 || n > 32 || len(out) > MaxLocalpartBytes || strings.ContainsAny(out, "@/ \"&':<>") || p.IsReserved(out) {
			t.Fatalf("Username(%q) accepted %q", raw, out)
		}
		again, err := p.Username(out)
		if err != nil || again != out {
			t.Fatalf("Username(%q) = %q, but Username(%q) = %q, %v", raw, out, out, again, err)
		}
	})
}

// BenchmarkCommonPasswordsLoad measures building the common-password set
// (done once per process by sync.OnceValue).
func BenchmarkCommonPasswordsLoad(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := buildCommonPasswords()
	runtime.GC()
	runtime.ReadMemStats(&after)
	retained := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	entries := float64(len(m))
	runtime.KeepAlive(m)
	b.ReportAllocs()
	for b.Loop() {
		m = buildCommonPasswords()
	}
	runtime.KeepAlive(m)
	// Reported after the loop: b.Loop resets the timer, which drops metrics.
	b.ReportMetric(retained, "heap-B-retained")
	b.ReportMetric(entries, "entries")
}

func BenchmarkUsername(b *testing.B) {
	p := mustNew(b, Rules{Domain: domain})
	for b.Loop() {
		_, _ = p.Username("Alice.Example")
	}
}

func BenchmarkPassword(b *testing.B) {
	p := mustNew(b, Rules{Domain: domain})
	commonPasswords()
	for b.Loop() {
		_ = p.Password("correct horse battery staple", "correct horse battery staple", "alice")
	}
}
