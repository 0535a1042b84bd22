package testenv

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// browserPixelGIF is a 1x1 transparent GIF.
var browserPixelGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

const browserFormPage = `<!doctype html>
<html lang="en"><head><title>Form</title></head><body>
<h1>Sign up</h1>
<form method="post" action="/echo">
<label>User <input id="user" name="user" type="text" value="prefilled" required></label>
<label>Password <input id="pass" name="pass" type="password"></label>
<label><input id="agree" name="agree" type="checkbox" value="yes"> I agree</label>
<button id="send" type="submit">Send</button>
</form>
</body></html>`

// browserJSPage changes the page in every way a script can, if scripts run.
const browserJSPage = `<!doctype html>
<html><head><title>JS</title><script src="/ext.js"></script></head>
<body onload="document.body.insertAdjacentHTML('beforeend', '<p>onload ran</p>')">
<p id="p">original text</p>
<script>document.getElementById("p").textContent = "changed by script";</script>
<noscript><p>noscript shown</p></noscript>
<form method="post" action="/echo" onsubmit="return false">
<input name="user" value="from js page"><button id="send" type="submit">Send</button>
</form>
</body></html>`

const browserDownloadPage = `<!doctype html>
<html><head><title>Export</title></head><body>
<form method="post" action="/export">
<input id="what" name="what" type="text">
<button id="export" type="submit">Export</button>
</form>
</body></html>`

// browserSite is the server of the browser tests, on 127.0.0.1.
type browserSite struct {
	*httptest.Server
	extJSHits atomic.Int32
	pixelHits atomic.Int32
}

func newBrowserSite(t *testing.T) *browserSite {
	t.Helper()
	s := new(browserSite)
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		}
	}
	mux.Handle("GET /form", page(browserFormPage))
	mux.Handle("GET /js", page(browserJSPage))
	mux.Handle("GET /download", page(browserDownloadPage))
	mux.Handle("GET /image", page(`<!doctype html><html><head><title>Image</title><link rel="icon" href="data:,"></head><body><img src="/pixel.gif" alt="pixel"></body></html>`))
	mux.Handle("GET /leak", page(`<!doctype html><html><head><title>Leak</title></head><body><img src="http://tracker.invalid/pixel.gif" alt="tracker"></body></html>`))
	mux.HandleFunc("GET /ext.js", func(w http.ResponseWriter, r *http.Request) {
		s.extJSHits.Add(1)
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `document.title = "external script ran";`)
	})
	mux.HandleFunc("GET /pixel.gif", func(w http.ResponseWriter, r *http.Request) {
		s.pixelHits.Add(1)
		w.Header().Set("Content-Type", "image/gif")
		w.Write(browserPixelGIF)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><body><pre>method=%s\n", r.Method)
		for _, k := range []string{"user", "pass", "agree"} {
			fmt.Fprintf(w, "%s=%s\n", k, html.EscapeString(fmt.Sprintf("%q", r.PostForm[k])))
		}
		fmt.Fprint(w, `</pre><a id="back" href="/form">Back</a></body></html>`)
	})
	mux.HandleFunc("POST /export", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="export.txt"`)
		fmt.Fprintf(w, "export of %s\n\x00\x01binary", r.FormValue("what"))
	})
	mux.HandleFunc("GET /setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "probe", Value: "1", Path: "/"})
		fmt.Fprint(w, "cookie set")
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestBrowserForm(t *testing.T) {
	site := newBrowserSite(t)
	b := StartBrowser(t)

	b.Open(site.URL + "/form")
	if got := b.Status(); got != http.StatusOK {
		t.Errorf("status = %d, want 200", got)
	}
	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("cookies after a plain page = %q, want none", c)
	}

	// The browser would refuse to send the form with an empty required
	// field, and Click says so instead of waiting for a navigation.
	b.Fill("#user", "")
	ctx, cancel := b.action()
	what, err := callOnNode[clickKind](ctx, b.find("#send"), clickKindJS)
	cancel()
	if err != nil || what.Kind != "submit" || !strings.HasPrefix(what.Invalid, "user: ") {
		t.Errorf("click kind of an invalid form = %+v, %v; want submit with an invalid user", what, err)
	}

	const user, pass = `Zoë <b>"&'`, "s3cret pass 名前"
	b.Fill("#user", user) // types over the value
	b.Fill("#pass", pass)
	b.Check("#agree")
	b.Check("#agree") // already checked: no click, stays checked
	if got := b.Value("#user"); got != user {
		t.Errorf("Value(#user) = %q, want %q", got, user)
	}
	b.Click("#send")

	if got, want := b.URL(), site.URL+"/echo"; got != want {
		t.Errorf("URL after submit = %q, want %q", got, want)
	}
	text := b.Text()
	for _, want := range []string{
		"method=POST",
		fmt.Sprintf("user=%q", []string{user}),
		fmt.Sprintf("pass=%q", []string{pass}),
		`agree=["yes"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("echo page misses %s; text:\n%s", want, text)
		}
	}
	if h := b.HTML(); !strings.HasPrefix(h, "<html") || !strings.Contains(h, "method=POST") {
		t.Errorf("HTML() = %q", h)
	}
	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("cookies after the form = %q, want none", c)
	}

	// A link navigates too.
	b.Click("#back")
	if got, want := b.URL(), site.URL+"/form"; got != want {
		t.Errorf("URL after the link = %q, want %q", got, want)
	}
	if got := b.Value("#user"); got != "prefilled" {
		t.Errorf("Value(#user) on a fresh form = %q", got)
	}

	// Cookies sees a cookie when there is one.
	b.Open(site.URL + "/setcookie")
	if c := b.Cookies(); len(c) != 1 || !strings.HasPrefix(c[0], "probe=1; Domain=127.0.0.1; Path=/") {
		t.Errorf("cookies after /setcookie = %q, want the probe", c)
	}
}

func TestBrowserJavaScriptDisabled(t *testing.T) {
	site := newBrowserSite(t)

	t.Run("off", func(t *testing.T) {
		b := StartBrowser(t)
		b.Open(site.URL + "/js")
		h := b.HTML()
		// The source of the scripts is in the page, so look for their
		// effects only.
		if !strings.Contains(h, `<p id="p">original text</p>`) || strings.Contains(h, `<p id="p">changed by script</p>`) {
			t.Errorf("the inline script changed the page:\n%s", h)
		}
		if strings.Contains(h, "<p>onload ran</p>") {
			t.Errorf("the onload handler ran:\n%s", h)
		}
		if n := site.extJSHits.Load(); n != 0 {
			t.Errorf("the browser fetched the external script %d times", n)
		}
		if text := b.Text(); !strings.Contains(text, "noscript shown") {
			t.Errorf("the noscript content is not shown; text:\n%s", text)
		}
		// onsubmit="return false" would stop the form if it ran.
		b.Click("#send")
		if got := b.URL(); got != site.URL+"/echo" {
			t.Errorf("URL after submit = %q: the onsubmit handler stopped the form", got)
		}
		if text := b.Text(); !strings.Contains(text, `user=["from js page"]`) {
			t.Errorf("echo page: %s", text)
		}
	})

	// The control: with scripts on, the same page changes, so the checks
	// above prove something.
	t.Run("control with JavaScript on", func(t *testing.T) {
		b := startBrowser(t, browserConfig{allowScripts: true})
		b.Open(site.URL + "/js")
		h := b.HTML()
		if !strings.Contains(h, `<p id="p">changed by script</p>`) || !strings.Contains(h, "<p>onload ran</p>") {
			t.Errorf("with JavaScript on, the scripts did not change the page:\n%s", h)
		}
	})
}

func TestBrowserDownload(t *testing.T) {
	site := newBrowserSite(t)
	b := StartBrowser(t)
	dir := filepath.Join(t.TempDir(), "downloads")
	b.DownloadTo(dir)

	b.Open(site.URL + "/download")
	b.Fill("#what", "accounts")
	b.Click("#export")
	path := b.WaitDownload("export.txt")

	if filepath.Dir(path) != dir {
		t.Errorf("download at %s, want it in %s", path, dir)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("export of accounts\n\x00\x01binary"); !bytes.Equal(got, want) {
		t.Errorf("downloaded %q, want %q", got, want)
	}
	// The page stays where it was.
	if u := b.URL(); u != site.URL+"/download" {
		t.Errorf("URL after the download = %q", u)
	}
}

func TestBrowserRequests(t *testing.T) {
	site := newBrowserSite(t)
	b := StartBrowser(t)

	b.Open(site.URL + "/image")
	reqs := b.Requests()
	if !slices.Contains(reqs, site.URL+"/pixel.gif") || site.pixelHits.Load() == 0 {
		t.Errorf("requests %q miss the image (server saw %d)", reqs, site.pixelHits.Load())
	}
	for _, r := range reqs {
		if !strings.HasPrefix(r, "http://127.0.0.1:") {
			t.Errorf("request to %q, want 127.0.0.1 only", r)
		}
	}
	if nl := b.NonLocalRequests(); len(nl) != 0 {
		t.Errorf("NonLocalRequests() = %q, want none", nl)
	}

	// The control: a request to another host shows up. The name does not
	// resolve, so nothing leaves the machine.
	b.Open(site.URL + "/leak")
	if nl := b.NonLocalRequests(); !slices.Equal(nl, []string{"http://tracker.invalid/pixel.gif"}) {
		t.Errorf("NonLocalRequests() = %q, want the tracker", nl)
	}
}

func TestBrowserScreenshot(t *testing.T) {
	site := newBrowserSite(t)
	b := StartBrowser(t)
	b.Open(site.URL + "/form")
	path := filepath.Join(t.TempDir(), "form.png")
	b.Screenshot(path)

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG: % x", path, data[:min(len(data), 8)])
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		t.Errorf("PNG config = %+v, %v", cfg, err)
	}
}

func TestBrowserCleanup(t *testing.T) {
	site := newBrowserSite(t)
	var dir string
	var pgid int
	t.Run("browser", func(t *testing.T) {
		b := StartBrowser(t)
		dir, pgid = b.dataDir, b.pgid
		b.Open(site.URL + "/form")
		if len(browserProcesses(pgid, dir)) == 0 {
			t.Error("no browser process found while the browser runs")
		}
	})
	if dir == "" {
		t.Skip("the browser did not start")
	}
	if left := browserProcesses(pgid, dir); len(left) != 0 {
		t.Errorf("processes %v still run after the cleanup", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("profile directory %s still there after the cleanup: %v", dir, err)
	}
}

// The failures that would otherwise cost a test the whole action timeout
// come at once, with a clear message.
//
// "At once" is shown by the message, not by the clock: every wait of the
// harness ends in a message of its own (the action's deadline in the
// context's error, a missing element in "no element matches"), so the
// specific message of each case proves that the failure was detected, not
// waited for. The elapsed time is only logged; a busy machine may stretch it
// without changing what is proven. The wait for the failure has a hang limit.
func TestBrowserFailsFast(t *testing.T) {
	const hangLimit = 2 * time.Minute // far above actionTimeout + lookupTimeout
	site := newBrowserSite(t)
	b := StartBrowser(t)
	fatal := func(f func()) string {
		t.Helper()
		ft := &browserFatalTB{TB: t}
		b.t = ft
		defer func() { b.t = t }()
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			f()
		}()
		select {
		case <-done:
		case <-time.After(hangLimit):
			t.Fatalf("no failure after %v", hangLimit)
		}
		t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), ft.msg)
		if strings.Contains(ft.msg, context.DeadlineExceeded.Error()) {
			t.Errorf("the failure came from a timeout: %q", ft.msg)
		}
		return ft.msg
	}

	b.Open(site.URL + "/download")
	if msg := fatal(func() { b.Click("#export") }); !strings.Contains(msg, `download of "export.txt", but downloads are refused`) {
		t.Errorf("click on a download without DownloadTo: fatal %q", msg)
	}
	if u := b.URL(); u != site.URL+"/download" {
		t.Errorf("URL after the refused download = %q", u)
	}

	b.Open(site.URL + "/form")
	b.Fill("#user", "")
	if msg := fatal(func() { b.Click("#send") }); !strings.Contains(msg, "a field is invalid: user: ") {
		t.Errorf("click on an invalid form: fatal %q", msg)
	}
}

// Only loopback URLs open.
func TestBrowserOpenRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{"http://example.com/", "http://localhost:1/", "file:///etc/passwd", "http://10.0.0.1/"} {
		ft := &browserFatalTB{TB: t}
		b := &Browser{t: ft, ctx: context.Background()}
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.Open(u)
		}()
		<-done
		if !strings.Contains(ft.msg, "only http(s) URLs of a loopback IP address") {
			t.Errorf("Open(%q): fatal %q", u, ft.msg)
		}
	}
}

// browserFatalTB records the message of Fatalf and ends the goroutine, as
// t.Fatalf does, without failing the test.
type browserFatalTB struct {
	testing.TB
	msg string
}

func (f *browserFatalTB) Helper() {}

func (f *browserFatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
