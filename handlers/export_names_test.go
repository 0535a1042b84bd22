package handlers

import (
	"net/url"
	"testing"
)

// TestExportNames: the download is named user@host.xml (as Prosody's
// prosody-migrator reads it) or user@host.html, with the name itself in
// filename* and an ASCII form in filename; the form's button picks the
// format, the file for moving by default.
func TestExportNames(t *testing.T) {
	for name, want := range map[string]string{
		"alice@example.org.xml":  `attachment; filename="alice@example.org.xml"; filename*=UTF-8''alice@example.org.xml`,
		"jürgen@example.de.html": `attachment; filename="j_rgen@example.de.html"; filename*=UTF-8''j%C3%BCrgen@example.de.html`,
		`a"b;c@x.org.xml`:        `attachment; filename="a_b_c@x.org.xml"; filename*=UTF-8''a%22b%3Bc@x.org.xml`,
	} {
		if got := attachment(name); got != want {
			t.Errorf("attachment(%q) = %s, want %s", name, got, want)
		}
	}
	for v, want := range map[string]string{"": exportFile, "file": exportFile, "readable": exportReadable, "other": exportFile} {
		var f exportForm
		f.Parse(url.Values{"format": {v}})
		if f.Format != want {
			t.Errorf("format %q: %s, want %s", v, f.Format, want)
		}
	}
}
