package views

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
)

//go:embed layouts/*.html partials/*.html pages/*.html
var files embed.FS

// Site is what every page knows about the service.
type Site struct {
	Name        string
	Domain      string
	Contact     string
	StorageNote string
	Onion       string // onion address without scheme, "" when none
	// The operator's legal pages: a link to elsewhere (…URL) or a page of
	// the portal (…Page: /privacy, /imprint); neither: no link.
	PrivacyURL  string
	PrivacyPage bool
	ImprintURL  string
	ImprintPage bool
	// RetireDays is how long a deleted address stays retired (nobody else
	// may register it), in days; 0: not at all (delete.retire_names).
	RetireDays int
	// The operator's texts in other languages (operator.go): Texts[lang]
	// where the operator wrote them, else StorageNote and UploadExpiry,
	// which are in TextsLang.
	Texts     map[string]OperatorTexts
	TextsLang string
	// FirstContact is the address the sign-up form offers to add to a new
	// account's contacts (site.first_contact), "" for none.
	FirstContact string
}

// HasLegal reports whether the operator named a privacy policy or an
// imprint.
func (s Site) HasLegal() bool {
	return s.PrivacyURL != "" || s.PrivacyPage || s.ImprintURL != "" || s.ImprintPage
}

// Legal is the data of the legal page (pages/legal.html): the operator's
// own text, HTML they wrote or plain text made into paragraphs (TextHTML),
// in Lang (the page's language, or the default language's text when the
// operator wrote none for the page's).
type Legal struct {
	Title string
	Lang  string
	Body  template.HTML
}

// TextHTML turns plain text into HTML: escaped, paragraphs at blank lines,
// line breaks kept (an imprint's address lines).
func TextHTML(s string) template.HTML {
	var b strings.Builder
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		b.WriteString("<p>")
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				b.WriteString("<br>\n")
			}
			b.WriteString(template.HTMLEscapeString(strings.TrimSpace(line)))
		}
		b.WriteString("</p>\n")
	}
	return template.HTML(b.String())
}

// LangLink is one entry of the language switcher.
type LangLink struct {
	Code, Name, URL string
	Current         bool
}

// Page is the data every template gets; Data holds the page's own values.
type Page struct {
	Lang    string
	Langs   []LangLink
	Site    Site
	OnOnion bool
	Data    any
}

// Renderer holds every page parsed once per language with that language's
// functions bound, so rendering never mutates shared templates.
type Renderer struct {
	pages map[string]map[string]*template.Template // lang -> page -> template
}

// New parses every page, with the layouts and partials, for every language.
// printer returns the translation function of a language; static maps an
// asset name to its hashed URL.
func New(printer func(lang string) func(key string, args ...any) string, langs []string, static func(name string) string) (*Renderer, error) {
	names, err := fs.Glob(files, "pages/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]map[string]*template.Template{}}
	for _, lang := range langs {
		lang := lang
		funcs := template.FuncMap{
			"t": printer(lang),
			"static": func(name string) (string, error) {
				if u := static(name); u != "" {
					return u, nil
				}
				return "", fmt.Errorf("views: no asset %q", name)
			},
			"href":  func(p string) string { return Href(p, lang) },
			"field": NewField,
		}
		base, err := template.New("base").Funcs(funcs).ParseFS(files, "layouts/*.html", "partials/*.html")
		if err != nil {
			return nil, err
		}
		r.pages[lang] = map[string]*template.Template{}
		for _, n := range names {
			t, err := template.Must(base.Clone()).ParseFS(files, n)
			if err != nil {
				return nil, fmt.Errorf("views: %s: %w", n, err)
			}
			r.pages[lang][strings.TrimSuffix(path.Base(n), ".html")] = t
		}
	}
	return r, nil
}

// Field is one input as the field partials (partials/fields.html) show it:
// the label, the input, its refusal and its hint. Texts are translated.
type Field struct {
	ID           string // id and name of the input
	Label        string
	Value        string // re-filled value; never a password
	Error        string // the refusal; "" for none
	Hint         string // "" for none
	HintID       string // id of the hint paragraph; ID + "-hint" when empty
	Autocomplete string // "" for the partial's default
	MaxLength    int    // 0 for the partial's default
	MinLength    int    // 0 for none
	Pattern      string // the input's pattern (what the browser refuses before sending); "" for none
	Title        string // the input's title: says what the pattern wants
	Optional     bool   // not required
	Suffix       string // shown after the input ("@example.org")
}

// ErrorID is the id of the refusal's paragraph.
func (f Field) ErrorID() string { return f.ID + "-error" }

// DescribedBy is the input's aria-describedby: the refusal, then the hint.
func (f Field) DescribedBy() string {
	var ids []string
	if f.Error != "" {
		ids = append(ids, f.ErrorID())
	}
	if f.Hint != "" {
		ids = append(ids, f.HintID)
	}
	return strings.Join(ids, " ")
}

// NewField is the template function "field": a Field from name, value
// pairs, the names in lower case ("id", "label", "value", "error", "hint",
// "hintid", "autocomplete", "maxlength", "minlength", "pattern", "title",
// "optional", "suffix"). An unknown
// name, a value of the wrong type or a field without id or label is an
// error, so a typo fails the page's rendering (and the tests that render
// every page) instead of dropping an attribute.
func NewField(pairs ...any) (Field, error) {
	var f Field
	if len(pairs)%2 != 0 {
		return f, errors.New("views: field: odd number of arguments, want name, value pairs")
	}
	for i := 0; i < len(pairs); i += 2 {
		name, ok := pairs[i].(string)
		if !ok {
			return f, fmt.Errorf("views: field: name %v is not a string", pairs[i])
		}
		v := pairs[i+1]
		var err error
		switch name {
		case "id":
			err = setAs(&f.ID, v)
		case "label":
			err = setAs(&f.Label, v)
		case "value":
			err = setAs(&f.Value, v)
		case "error":
			err = setAs(&f.Error, v)
		case "hint":
			err = setAs(&f.Hint, v)
		case "hintid":
			err = setAs(&f.HintID, v)
		case "autocomplete":
			err = setAs(&f.Autocomplete, v)
		case "maxlength":
			err = setAs(&f.MaxLength, v)
		case "minlength":
			err = setAs(&f.MinLength, v)
		case "pattern":
			err = setAs(&f.Pattern, v)
		case "title":
			err = setAs(&f.Title, v)
		case "optional":
			err = setAs(&f.Optional, v)
		case "suffix":
			err = setAs(&f.Suffix, v)
		default:
			err = errors.New("unknown name")
		}
		if err != nil {
			return f, fmt.Errorf("views: field %q: %s: %w", f.ID, name, err)
		}
	}
	if f.ID == "" || f.Label == "" {
		return f, errors.New("views: field: id and label are required")
	}
	if f.HintID == "" {
		f.HintID = f.ID + "-hint"
	}
	return f, nil
}

func setAs[T any](dst *T, v any) error {
	x, ok := v.(T)
	if !ok {
		return fmt.Errorf("value %v is a %T, want a %T", v, v, *dst)
	}
	*dst = x
	return nil
}

// Href returns an internal link that keeps the chosen language.
func Href(p, lang string) string {
	u, err := url.Parse(p)
	if err != nil || u.IsAbs() || u.Host != "" {
		return "/"
	}
	q := u.Query()
	q.Set("lang", lang)
	u.RawQuery = q.Encode()
	return u.String()
}

// Has reports whether a page exists.
func (r *Renderer) Has(page string) bool {
	for _, m := range r.pages {
		_, ok := m[page]
		return ok
	}
	return false
}

// Render executes page into w. It renders into a buffer first so a template
// error never leaves half a page behind.
func (r *Renderer) Render(w io.Writer, page string, p Page) error {
	m, ok := r.pages[p.Lang]
	if !ok {
		return fmt.Errorf("views: no language %q", p.Lang)
	}
	t, ok := m[page]
	if !ok {
		return fmt.Errorf("views: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", p); err != nil {
		return fmt.Errorf("views: %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
