package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// axeCleanPage has nothing for axe-core to find; it has a Content Security
// Policy that allows no script at all, as the portal's pages have.
const axeCleanPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clean</title>
<style>body { color: #222; background: #fff } a { color: %s }</style></head>
<body><a href="#main" class="skip">Skip to content</a>
<main id="main"><h1>A clean page</h1>
<p>Some text and <a href="/other">a link</a>.</p>
<form method="post" action="/"><label for="name">Name</label><input id="name" name="name" type="text">
<button type="submit">Send</button></form></main></body></html>`

// axeBrokenPage breaks three rules: an input without a label, an image
// without alt text and no main landmark or heading.
const axeBrokenPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><div><input type="text" name="nolabel"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color: #999; background: #fff">Faint text</p></div></body></html>`

// TestAxe: the vendored axe-core runs in the browser with page scripts off
// and under a CSP that allows none: it finds the broken page's faults and
// nothing on the clean page, whose links have the contrast the test gave
// them, in light and dark colour schemes alike.
func TestAxe(t *testing.T) {
	mux := http.NewServeMux()
	serve := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'")
			fmt.Fprint(w, body)
		}
	}
	mux.Handle("GET /clean", serve(fmt.Sprintf(axeCleanPage, "#0b57d0")))
	mux.Handle("GET /broken", serve(axeBrokenPage))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := StartBrowser(t)
	b.Open(srv.URL + "/broken")
	r := b.Axe()
	var ids []string
	for _, v := range r.Violations {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"label", "image-alt", "color-contrast", "landmark-one-main", "page-has-heading-one"} {
		if !slices.Contains(ids, want) {
			t.Errorf("broken page: axe-core did not report %s; it reported %v", want, ids)
		}
	}
	if r.MinContrast < 2.5 || r.MinContrast > 3 || !strings.Contains(r.MinContrastAt, "#999999") {
		t.Errorf("broken page: lowest contrast %.2f at %q, want #999 on white, 2.85", r.MinContrast, r.MinContrastAt)
	}

	for _, scheme := range []string{"light", "dark"} {
		b.ColorScheme(scheme)
		b.Open(srv.URL + "/clean")
		r = b.Axe()
		if len(r.Violations) != 0 {
			for _, v := range r.Violations {
				t.Errorf("clean page, %s: %s", scheme, v)
			}
		}
		if r.MinContrast < 4.5 {
			t.Errorf("clean page, %s: lowest contrast %.2f at %s", scheme, r.MinContrast, r.MinContrastAt)
		}
		if b.HTML() != "" && strings.Contains(b.HTML(), "axe") {
			t.Errorf("clean page, %s: axe-core left a trace in the page", scheme)
		}
	}
}

// TestAxeVersion: the vendored file is the release testdata/axe/README.md
// names.
func TestAxeVersion(t *testing.T) {
	if v := AxeVersion(); v != "4.14.1" {
		t.Errorf("vendored axe-core is %q, want 4.14.1 (testdata/axe/README.md)", v)
	}
}
