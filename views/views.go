package views

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
)

//go:embed layouts/*.html pages/*.html
var files embed.FS

// Site is what every page knows about the service.
type Site struct {
	Name        string
	Domain      string
	Contact     string
	StorageNote string
	Onion       string // onion address without scheme, "" when none
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

// New parses every page for every language. printer returns the translation
// function of a language; static maps an asset name to its hashed URL.
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
			"href": func(p string) string { return Href(p, lang) },
		}
		base, err := template.New("base").Funcs(funcs).ParseFS(files, "layouts/*.html")
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
