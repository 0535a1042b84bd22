package app

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/views"
)

// maxLegalBytes bounds one legal page file.
const maxLegalBytes = 256 << 10

// legalPages reads the operator's legal pages named by site.privacy_file and
// site.imprint_file, once at start: for every language the file with
// "{lang}" replaced by the language's code, or the default language's file
// when there is none for a language. A file ending in .html is an HTML
// fragment written by the operator (the Content-Security-Policy still holds:
// no script, no style or picture from elsewhere); any other file is plain
// text, made into paragraphs.
func legalPages(cfg *config.Config, bundle *i18n.Bundle) (map[string]map[string]views.Legal, error) {
	out := map[string]map[string]views.Legal{}
	for _, p := range []struct {
		name, file string
		title      i18n.Key
	}{
		{"privacy", cfg.Site.PrivacyFile, i18n.K("legal.privacy")},
		{"imprint", cfg.Site.ImprintFile, i18n.K("legal.imprint")},
	} {
		if p.file == "" {
			continue
		}
		key := "site." + p.name + "_file"
		def, err := readLegal(strings.ReplaceAll(p.file, "{lang}", cfg.Site.DefaultLang))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		byLang := map[string]views.Legal{}
		for _, lang := range bundle.Languages() {
			l := views.Legal{Title: bundle.T(lang, p.title), Lang: cfg.Site.DefaultLang, Body: def}
			if strings.Contains(p.file, "{lang}") && lang != cfg.Site.DefaultLang {
				body, err := readLegal(strings.ReplaceAll(p.file, "{lang}", lang))
				switch {
				case err == nil:
					l.Lang, l.Body = lang, body
				case !errors.Is(err, fs.ErrNotExist):
					return nil, fmt.Errorf("%s: %w", key, err)
				}
			}
			byLang[lang] = l
		}
		out[p.name] = byLang
	}
	return out, nil
}

func readLegal(path string) (template.HTML, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLegalBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxLegalBytes {
		return "", fmt.Errorf("%s: larger than %d KiB", path, maxLegalBytes>>10)
	}
	if strings.HasSuffix(path, ".html") {
		return template.HTML(b), nil // the operator's own HTML
	}
	return views.TextHTML(string(b)), nil
}
