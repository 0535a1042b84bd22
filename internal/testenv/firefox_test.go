package testenv

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A 2×1 PNG and a small SVG picture.
var (
	testPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAD0lEQVR4nGP4z8DAwMAAAA4AAf9uwNIAAAAASUVORK5CYII=")
	testSVG    = `<svg xmlns="http://www.w3.org/2000/svg" width="30" height="20"><rect width="30" height="20" fill="red"/></svg>`
)

// safestSite is a page with everything Tor Browser's Safest level turns
// off: a script, an SVG picture, a web font, audio that asks to play by
// itself; a PNG picture and a form that must still work.
func safestSite(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, `<!doctype html><html><head><title>plain</title><link rel="stylesheet" href="/s.css">
<script>document.title = "script ran"</script></head><body>
<h1>Safest page</h1><noscript><p>No script here.</p></noscript>
<img id="png" src="/p.png" alt="png"><img id="svg" src="/p.svg" alt="svg">
<iframe src="/frame" title="frame"></iframe>
<audio id="audio" autoplay src="/a.wav"></audio>
<form method="post" action="/sent"><input id="name" name="name" value="old"><button id="go">Send</button></form>
</body></html>`)
		case "/frame":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, `<!doctype html><img id="framed" src="/p.png?framed" alt="framed">`)
		case "/s.css":
			w.Header().Set("Content-Type", "text/css")
			io.WriteString(w, `@font-face { font-family: "Remote"; src: url(/font.woff2) format("woff2"); } body { font-family: "Remote", serif; }`)
		case "/p.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(testPNG)
		case "/p.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			io.WriteString(w, testSVG)
		case "/sent":
			r.ParseForm()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!doctype html><p>Got %s.</p>", r.PostForm.Get("name"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), paths...) }
}

// TestFirefoxSafest: the harness's Firefox behaves as Tor Browser on Safest
// does: the page's script does not run (the noscript text shows), the SVG
// picture is not drawn while the PNG is, the web font is never fetched, the
// audio does not play by itself; typing and a click still submit a form;
// nothing but loopback is asked for; and the cleanup leaves no process.
func TestFirefoxSafest(t *testing.T) {
	skipShort(t, "Firefox") // the checks after the subtest need it to have run
	srv, paths := safestSite(t)
	var pid int
	t.Run("browse", func(t *testing.T) {
		f := StartFirefox(t)
		pid = f.PID()
		f.Open(srv.URL + "/")
		if f.Status() != 200 {
			t.Errorf("status %d", f.Status())
		}
		if got := f.Title(); got != "plain" {
			t.Errorf("title %q: the page's script ran", got)
		}
		if txt := f.Text(); !strings.Contains(txt, "Safest page") || !strings.Contains(txt, "No script here.") {
			t.Errorf("text:\n%s", txt)
		}
		if w, h := f.ImageSize("#png"); w != 2 || h != 1 {
			t.Errorf("PNG decoded to %dx%d, want 2x1", w, h)
		}
		if w, h := f.ImageSize("#framed"); w != 2 || h != 1 {
			t.Errorf("PNG in a frame decoded to %dx%d, want 2x1", w, h)
		}
		if w, h := f.ImageSize("#svg"); w != 0 || h != 0 {
			t.Errorf("SVG picture drawn (%dx%d) with svg.disabled", w, h)
		}
		if paused := f.eval("String(document.querySelector('#audio').paused)"); paused != "true" {
			t.Errorf("the audio plays by itself: paused=%s", paused)
		}
		if fonts := f.Fonts(); !strings.Contains(fonts, "Remote") {
			t.Errorf("stylesheet not applied: %s", fonts)
		}
		f.Screenshot(filepath.Join(t.TempDir(), "safest.png"))
		f.Fill("#name", "Grüße 1")
		f.Click("#go")
		if txt := f.Text(); f.Status() != 200 || !strings.Contains(txt, "Got Grüße 1.") {
			t.Errorf("form: %d %q", f.Status(), txt)
		}
		if r := f.NonLocalRequests(); len(r) != 0 {
			t.Errorf("requests to other hosts: %v", r)
		}
		var kinds []string
		for _, r := range f.Responses() {
			kinds = append(kinds, fmt.Sprintf("%s %d %s", r.Kind, r.Status, r.URL))
		}
		t.Logf("responses: %s", strings.Join(kinds, "; "))
	})
	for _, p := range paths() {
		if strings.Contains(p, "font.woff2") {
			t.Errorf("the web font was fetched with gfx.downloadable_fonts.enabled false")
		}
	}
	if !strings.Contains(strings.Join(paths(), ","), "POST /sent") {
		t.Errorf("the form was not sent: %v", paths())
	}
	if left := firefoxProcesses(pid); len(left) != 0 {
		t.Errorf("firefox processes %v left after the cleanup", left)
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "portal-firefox-*")); len(m) != 0 {
		t.Logf("profile directories of other runs: %v", m)
	}
}
