package i18n

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

// Fallback is the language every other catalogue falls back to.
const Fallback = "en"

// Limits on untrusted language input: anything longer is ignored.
const (
	maxExplicitLen      = 35 // longest sensible BCP 47 tag for a ?lang= value
	maxAcceptLanguage   = 4096
	maxAcceptLangRanges = 32
)

//go:embed catalogs/*/*.json
var catalogFS embed.FS

// Key names a message in the catalogues.
type Key string

// K marks a literal message key in Go code.
// It returns s unchanged; the package's usage test finds every i18n.K("...")
// and checks that the key exists in the English catalogue.
func K(s string) Key { return Key(s) }

// Bundle holds the messages of every language.
// It is immutable after Load and safe for concurrent use.
type Bundle struct {
	langs    []string                     // Fallback first, then sorted
	messages map[string]map[string]string // lang -> key -> message
	matcher  language.Matcher
}

// Load reads the embedded catalogues.
func Load() (*Bundle, error) {
	return load(catalogFS, "catalogs")
}

// load reads root/<lang>/*.json from fsys.
func load(fsys fs.FS, root string) (*Bundle, error) {
	dirs, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("i18n: reading catalogues: %w", err)
	}
	b := &Bundle{messages: make(map[string]map[string]string)}
	var errs []error
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		lang := d.Name()
		tag, err := language.Parse(lang)
		if err != nil || tag.String() != lang {
			errs = append(errs, fmt.Errorf("i18n: catalogue directory %q is not a canonical language tag", lang))
			continue
		}
		msgs, err := loadLang(fsys, path.Join(root, lang))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.messages[lang] = msgs
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if _, ok := b.messages[Fallback]; !ok {
		return nil, fmt.Errorf("i18n: no catalogue for the fallback language %q", Fallback)
	}
	for lang := range b.messages {
		if lang != Fallback {
			b.langs = append(b.langs, lang)
		}
	}
	sort.Strings(b.langs)
	b.langs = append([]string{Fallback}, b.langs...)
	tags := make([]language.Tag, len(b.langs))
	for i, l := range b.langs {
		tags[i] = language.MustParse(l)
	}
	b.matcher = language.NewMatcher(tags)
	return b, nil
}

// loadLang merges every *.json file in dir.
func loadLang(fsys fs.FS, dir string) (map[string]string, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("i18n: %s has no *.json files", dir)
	}
	msgs := make(map[string]string)
	origin := make(map[string]string) // key -> file, for error messages
	var errs []error
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = decodeFlat(data, func(k, v string) error {
			if k == "" {
				return errors.New("empty key")
			}
			if prev, dup := origin[k]; dup {
				return fmt.Errorf("key %q already defined in %s", k, prev)
			}
			origin[k] = f
			msgs[k] = v
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("i18n: %s: %w", f, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return msgs, nil
}

// decodeFlat decodes one JSON object of string values, calling fn for every
// member in order. Unlike json.Unmarshal into a map, it sees duplicate keys.
func decodeFlat(data []byte, fn func(k, v string) error) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("want one JSON object of \"key\": \"message\" members")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k := tok.(string) // object keys are always strings
		tok, err = dec.Token()
		if err != nil {
			return err
		}
		v, ok := tok.(string)
		if !ok {
			return fmt.Errorf("value of %q is not a string", k)
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// Languages returns the supported language tags, the fallback first.
// The caller may modify the returned slice.
func (b *Bundle) Languages() []string {
	return slices.Clone(b.langs)
}

// Supported reports whether lang has a catalogue.
func (b *Bundle) Supported(lang string) bool {
	_, ok := b.messages[lang]
	return ok
}

// Match picks the language of a response.
// explicit (a ?lang= value) wins if it names a supported language, either
// exactly ("de") or by a tag whose best match is one ("de-AT");
// otherwise the best match for the Accept-Language header is returned;
// otherwise Fallback. Malformed or oversized input is ignored.
func (b *Bundle) Match(explicit, acceptLanguage string) string {
	if explicit != "" && len(explicit) <= maxExplicitLen {
		if b.Supported(explicit) {
			return explicit
		}
		if t, err := language.Parse(explicit); err == nil {
			if _, i, conf := b.matcher.Match(t); conf >= language.High {
				return b.langs[i]
			}
		}
	}
	tags := parseAcceptLanguage(acceptLanguage)
	if len(tags) == 0 {
		return Fallback
	}
	_, i, conf := b.matcher.Match(tags...)
	if conf == language.No {
		return Fallback
	}
	return b.langs[i]
}

// parseAcceptLanguage parses the header leniently: a malformed range is
// skipped instead of discarding the whole header (as
// language.ParseAcceptLanguage does), and ranges with q=0 are dropped.
// The result is sorted by descending q, stable.
func parseAcceptLanguage(h string) []language.Tag {
	if h == "" || len(h) > maxAcceptLanguage {
		return nil
	}
	type weighted struct {
		t language.Tag
		q float32
	}
	var ws []weighted
	for part := range strings.SplitSeq(h, ",") {
		if len(ws) == maxAcceptLangRanges {
			break
		}
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ts, qs, err := language.ParseAcceptLanguage(part)
		if err != nil {
			continue
		}
		for i, t := range ts {
			if qs[i] > 0 {
				ws = append(ws, weighted{t, qs[i]})
			}
		}
	}
	slices.SortStableFunc(ws, func(a, b weighted) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	tags := make([]language.Tag, len(ws))
	for i, w := range ws {
		tags[i] = w.t
	}
	return tags
}

// lookup returns the message for key in lang, falling back to Fallback.
func (b *Bundle) lookup(lang string, key Key) (string, bool) {
	if m, ok := b.messages[lang]; ok {
		if s, ok := m[string(key)]; ok {
			return s, true
		}
	}
	s, ok := b.messages[Fallback][string(key)]
	return s, ok
}

// T translates key into lang.
// With args, the message is a fmt format string; without, it is returned as
// it is. A key missing in lang falls back to Fallback; a key missing
// everywhere is returned itself, so the gap is visible but not fatal.
func (b *Bundle) T(lang string, key Key, args ...any) string {
	s, ok := b.lookup(lang, key)
	if !ok {
		return string(key)
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Printer returns T bound to lang, for use as the template function "t".
func (b *Bundle) Printer(lang string) func(key string, args ...any) string {
	return func(key string, args ...any) string {
		return b.T(lang, Key(key), args...)
	}
}

// Keys returns the sorted keys of lang's own catalogue (without fallbacks),
// or nil if lang is not supported.
func (b *Bundle) Keys(lang string) []string {
	m, ok := b.messages[lang]
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
