package i18n

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

func mustLoad(t testing.TB) *Bundle {
	t.Helper()
	b, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

func TestLanguages(t *testing.T) {
	b := mustLoad(t)
	got := b.Languages()
	if len(got) < 2 || got[0] != Fallback || !slices.Contains(got, "de") {
		t.Fatalf("Languages() = %v, want en first and de present", got)
	}
	got[0] = "xx" // callers get a copy
	if b.Languages()[0] != Fallback {
		t.Fatal("Languages() returned the bundle's own slice")
	}
}

// fmtVerbs returns the sorted fmt verbs of a message, without "%%".
var verbRE = regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*(?:\*|\d+)?(?:\.(?:\*|\d+)?)?(?:\[\d+\])?[a-zA-Z%]`)

func fmtVerbs(s string) []string {
	var vs []string
	for _, m := range verbRE.FindAllString(s, -1) {
		if m == "%%" {
			continue
		}
		vs = append(vs, m[len(m)-1:]) // the verb letter; flags and width may differ
	}
	slices.Sort(vs)
	return vs
}

// TestCatalogsComplete is check (a): every language has exactly the keys of
// the fallback, no empty message, and the same fmt verbs.
func TestCatalogsComplete(t *testing.T) {
	b := mustLoad(t)
	en := b.messages[Fallback]
	for _, lang := range b.Languages() {
		t.Run(lang, func(t *testing.T) {
			m := b.messages[lang]
			for _, k := range b.Keys(Fallback) {
				v, ok := m[k]
				switch {
				case !ok:
					t.Errorf("%s: key %q missing (present in %s)", lang, k, Fallback)
				case strings.TrimSpace(v) == "":
					t.Errorf("%s: key %q has an empty message", lang, k)
				case !slices.Equal(fmtVerbs(v), fmtVerbs(en[k])):
					t.Errorf("%s: key %q uses verbs %v, %s uses %v", lang, k, fmtVerbs(v), Fallback, fmtVerbs(en[k]))
				}
			}
			for _, k := range b.Keys(lang) {
				if _, ok := en[k]; !ok {
					t.Errorf("%s: key %q is not in %s", lang, k, Fallback)
				}
			}
		})
	}
}

// TestCatalogFilesSame checks that every language splits its keys into the
// same files, so a translator finds a key where the English one is.
func TestCatalogFilesSame(t *testing.T) {
	files := func(lang string) []string {
		ents, err := catalogFS.ReadDir("catalogs/" + lang)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	b := mustLoad(t)
	want := files(Fallback)
	for _, lang := range b.Languages()[1:] {
		if got := files(lang); !slices.Equal(got, want) {
			t.Errorf("catalogs/%s has files %v, catalogs/%s has %v", lang, got, Fallback, want)
		}
	}
}

func TestLanguageNames(t *testing.T) {
	b := mustLoad(t)
	for _, lang := range b.Languages() {
		k := "lang." + lang
		if _, ok := b.messages[Fallback][k]; !ok {
			t.Errorf("no name %q for language %s", k, lang)
		}
	}
}

func TestMatch(t *testing.T) {
	b := mustLoad(t)
	tests := []struct {
		name, explicit, accept, want string
	}{
		{"empty", "", "", "en"},
		{"german browser", "", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"english browser", "", "en-US,en;q=0.9", "en"},
		{"unsupported only", "", "fr", "en"},
		{"unsupported first", "", "fr-FR,fr;q=0.9,de;q=0.5", "de"},
		{"q order wins over list order", "", "en;q=0.3,de;q=0.8", "de"},
		{"q zero refused", "", "de;q=0,en;q=0.1", "en"},
		{"swiss german", "", "de-CH", "de"},
		{"wildcard", "", "*", "en"},
		{"garbage header", "", "!!!,;;;", "en"},
		{"one bad range skipped", "", "x_bad-!!,de", "de"},
		{"explicit wins", "de", "en-US,en;q=0.9", "de"},
		{"explicit en wins", "en", "de-DE", "en"},
		{"explicit region", "de-AT", "", "de"},
		{"explicit garbage ignored", "<script>", "de", "de"},
		{"explicit unsupported ignored", "fr", "de", "de"},
		{"explicit garbage, no header", "zz-!!", "", "en"},
		{"explicit too long ignored", strings.Repeat("de-", 20) + "de", "de", "de"},
		{"header too long ignored", "", "de," + strings.Repeat("x", maxAcceptLanguage), "en"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.Match(tc.explicit, tc.accept); got != tc.want {
				t.Errorf("Match(%q, %q) = %q, want %q", tc.explicit, tc.accept, got, tc.want)
			}
		})
	}
}

// testFS is a small catalogue set where de lacks a key.
var testFS = fstest.MapFS{
	"c/en/a.json": {Data: []byte(`{"greet": "Hello, %s!", "only.en": "English only", "pct": "100%"}`)},
	"c/en/b.json": {Data: []byte(`{"count": "%d items"}`)},
	"c/de/a.json": {Data: []byte(`{"greet": "Hallo, %s!", "pct": "100 %"}`)},
	"c/de/b.json": {Data: []byte(`{"count": "%d Einträge"}`)},
}

func TestT(t *testing.T) {
	b, err := load(testFS, "c")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, lang string
		key        Key
		args       []any
		want       string
	}{
		{"english with arg", "en", "greet", []any{"Ada"}, "Hello, Ada!"},
		{"german with arg", "de", "greet", []any{"Ada"}, "Hallo, Ada!"},
		{"german number", "de", "count", []any{3}, "3 Einträge"},
		{"missing in de falls back", "de", "only.en", nil, "English only"},
		{"unknown language falls back", "fr", "greet", []any{"Ada"}, "Hello, Ada!"},
		{"missing everywhere returns key", "de", "no.such.key", nil, "no.such.key"},
		{"no args verbatim", "en", "pct", nil, "100%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.T(tc.lang, tc.key, tc.args...); got != tc.want {
				t.Errorf("T(%q, %q, %v) = %q, want %q", tc.lang, tc.key, tc.args, got, tc.want)
			}
		})
	}
	if got := b.Printer("de")("greet", "Ada"); got != "Hallo, Ada!" {
		t.Errorf("Printer(de)(greet) = %q", got)
	}
	if got, want := b.Keys("de"), []string{"count", "greet", "pct"}; !slices.Equal(got, want) {
		t.Errorf("Keys(de) = %v, want %v", got, want)
	}
	if got := b.Keys("fr"); got != nil {
		t.Errorf("Keys(fr) = %v, want nil", got)
	}
}

func TestLoadErrors(t *testing.T) {
	en := &fstest.MapFile{Data: []byte(`{"a": "A"}`)}
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string // substring of the error
	}{
		{"duplicate across files", fstest.MapFS{"c/en/a.json": en, "c/en/b.json": {Data: []byte(`{"a": "again"}`)}}, `key "a" already defined in c/en/a.json`},
		{"duplicate in one file", fstest.MapFS{"c/en/a.json": {Data: []byte(`{"a": "A", "a": "B"}`)}}, `key "a" already defined`},
		{"nested object", fstest.MapFS{"c/en/a.json": {Data: []byte(`{"a": {"b": "c"}}`)}}, `value of "a" is not a string`},
		{"number value", fstest.MapFS{"c/en/a.json": {Data: []byte(`{"a": 1}`)}}, `value of "a" is not a string`},
		{"array", fstest.MapFS{"c/en/a.json": {Data: []byte(`["a"]`)}}, "want one JSON object"},
		{"trailing data", fstest.MapFS{"c/en/a.json": {Data: []byte(`{"a": "A"} {}`)}}, "trailing data"},
		{"syntax error", fstest.MapFS{"c/en/a.json": {Data: []byte(`{"a": "A",}`)}}, "c/en/a.json"},
		{"empty key", fstest.MapFS{"c/en/a.json": {Data: []byte(`{"": "A"}`)}}, "empty key"},
		{"bad directory", fstest.MapFS{"c/en/a.json": en, "c/German/a.json": en}, `"German" is not a canonical language tag`},
		{"non-canonical directory", fstest.MapFS{"c/en/a.json": en, "c/de-de/a.json": en}, `"de-de" is not a canonical`},
		{"no fallback", fstest.MapFS{"c/de/a.json": en}, "no catalogue for the fallback"},
		{"empty language", fstest.MapFS{"c/en/a.json": en, "c/de/README": {}}, "c/de has no *.json files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.fs, "c")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestConcurrentT(t *testing.T) {
	b := mustLoad(t)
	langs := b.Languages()
	keys := b.Keys(Fallback)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 500 {
				lang := langs[(g+i)%len(langs)]
				key := Key(keys[i%len(keys)])
				if got := b.T(lang, key, 7); got == "" {
					t.Errorf("T(%s, %s) is empty", lang, key)
					return
				}
				_ = b.Printer(lang)("lang.en")
				_ = b.Match("", "de-DE,de;q=0.9")
			}
		})
	}
	wg.Wait()
}

func TestError(t *testing.T) {
	b := mustLoad(t)
	cause := io.ErrUnexpectedEOF
	e := Wrap(cause, K("policy.username.too_short"), 2)
	var err error = e
	if !errors.Is(err, cause) {
		t.Error("errors.Is(e, cause) = false")
	}
	var target *Error
	if !errors.As(fmt.Errorf("outer: %w", err), &target) || target != e {
		t.Error("errors.As through a wrapper failed")
	}
	msg := e.Error()
	for _, want := range []string{"policy.username.too_short", cause.Error()} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
	// The log line must not carry user-facing text or the arguments.
	if en := e.Message(b, "en"); strings.Contains(msg, en) || !strings.Contains(en, "2") {
		t.Errorf("Error() = %q, Message(en) = %q", msg, en)
	}
	if de := e.Message(b, "de"); !strings.Contains(de, "mindestens 2 Zeichen") {
		t.Errorf("Message(de) = %q", de)
	}

	secret := NewError(K("policy.username.other_domain"), "user-typed-secret")
	if strings.Contains(secret.Error(), "user-typed-secret") || secret.Unwrap() != nil {
		t.Errorf("NewError: Error() = %q, Unwrap() = %v", secret.Error(), secret.Unwrap())
	}
	var nilErr *Error
	if nilErr.Error() != "<nil>" || nilErr.Unwrap() != nil {
		t.Error("nil *Error misbehaves")
	}
}

func BenchmarkT(b *testing.B) {
	bu := mustLoad(b)
	for b.Loop() {
		_ = bu.T("de", K("policy.password.too_short"), 10)
	}
}

func BenchmarkMatch(b *testing.B) {
	bu := mustLoad(b)
	for b.Loop() {
		_ = bu.Match("", "fr-FR,fr;q=0.9,de-DE;q=0.8,en;q=0.5")
	}
}
