package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLegalPages: the operator's privacy policy (an HTML file per
// language) and imprint (one plain-text file) are pages of the portal,
// linked from the footer of every page and, the privacy policy, next to
// the sign-up button; a language the operator wrote nothing in shows the
// default language's text, marked with its language. Links to pages
// elsewhere work the same way without routes of their own.
func TestLegalPages(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"privacy.de.html": "<h2>Verantwortlicher</h2><p>Erika Mustermann speichert keine IP-Adressen.</p>",
		"privacy.en.html": "<h2>Controller</h2><p>Erika Mustermann keeps no IP addresses.</p>",
		"imprint.txt":     "Erika Mustermann\nMusterstraße 1\n12345 Musterstadt\n\nE-Mail: <impressum@example.org>",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startOnionPortal(t, map[string]string{
		"PORTAL_SITE_PRIVACY_FILE": filepath.Join(dir, "privacy.{lang}.html"),
		"PORTAL_SITE_IMPRINT_FILE": filepath.Join(dir, "imprint.txt"),
		"PORTAL_SITE_DEFAULT_LANG": "de",
	})
	for _, path := range []string{"/", "/register", "/account", "/stats", "/no-such-page"} {
		for lang, want := range map[string][]string{
			"en": {`<a href="/privacy?lang=en">Privacy policy</a>`, `<a href="/imprint?lang=en">Imprint</a>`},
			"de": {`<a href="/privacy?lang=de">Datenschutzerklärung</a>`, `<a href="/imprint?lang=de">Impressum</a>`},
		} {
			got := fetch(t, p.base+path+"?lang="+lang, "")
			footer := got.body[strings.LastIndex(got.body, "<footer"):]
			for _, w := range want {
				if !strings.Contains(footer, w) {
					t.Errorf("%s?lang=%s: footer lacks %s", path, lang, w)
				}
			}
		}
	}
	reg := fetch(t, p.base+"/register?lang=de", "")
	note := `<p class="legal-note">Was dieser Server über Sie speichert und wie lange: <a href="/privacy?lang=de">Datenschutzerklärung</a></p>`
	if i, j := strings.Index(reg.body, note), strings.Index(reg.body, `value="register"`); i < 0 || j < i {
		t.Errorf("the sign-up form has no privacy link before its button:\n%s", reg.body)
	}
	if got := fetch(t, p.base+"/privacy?lang=en", ""); got.status != 200 || !strings.Contains(got.body, "<h1>Privacy policy</h1>") ||
		!strings.Contains(got.body, "keeps no IP addresses") || !strings.Contains(got.body, `<div class="legal-text">`) {
		t.Errorf("/privacy?lang=en: %d\n%s", got.status, got.body)
	}
	if got := fetch(t, p.base+"/privacy?lang=de", ""); !strings.Contains(got.body, "speichert keine IP-Adressen") {
		t.Errorf("/privacy?lang=de:\n%s", got.body)
	}
	// One plain-text file: paragraphs and line breaks, in the default
	// language (de) on the English page too (fetch unescapes the page, so
	// the escaped address reads as typed).
	im := fetch(t, p.base+"/imprint?lang=en", "")
	if !strings.Contains(im.body, "<p>Erika Mustermann<br>\nMusterstraße 1<br>\n12345 Musterstadt</p>") ||
		!strings.Contains(im.body, "E-Mail: <impressum@example.org>") || !strings.Contains(im.body, `<div class="legal-text" lang="de">`) {
		t.Errorf("/imprint?lang=en:\n%s", im.body)
	}

	// Links elsewhere: in the footer, no route of the portal's own.
	q := startOnionPortal(t, map[string]string{
		"PORTAL_SITE_PRIVACY_URL": "https://example.org/datenschutz",
		"PORTAL_SITE_IMPRINT_URL": "https://example.org/impressum",
	})
	home := fetch(t, q.base+"/?lang=de", "")
	for _, w := range []string{`<a href="https://example.org/datenschutz">Datenschutzerklärung</a>`, `<a href="https://example.org/impressum">Impressum</a>`} {
		if !strings.Contains(home.body, w) {
			t.Errorf("footer lacks %s", w)
		}
	}
	if !strings.Contains(fetch(t, q.base+"/register?lang=en", "").body, `<a href="https://example.org/datenschutz">Privacy policy</a>`) {
		t.Error("the sign-up form does not link the privacy policy elsewhere")
	}
	if got := fetch(t, q.base+"/privacy", ""); got.status != 404 {
		t.Errorf("/privacy with a link elsewhere: %d", got.status)
	}
	// Nothing configured: no links at all.
	r := startOnionPortal(t, nil)
	if b := fetch(t, r.base+"/register?lang=en", "").body; strings.Contains(b, "Privacy policy") || strings.Contains(b, `class="legal`) {
		t.Error("legal links without legal pages")
	}
}
