package handlers_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// bigMultipart is a multipart/form-data body of about size bytes: a lang
// field (which the language lookup of an error page would want) and a file.
func bigMultipart(t *testing.T, size int) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("file", "export.xml")
	fw.Write(bytes.Repeat([]byte("x"), size))
	w.WriteField("lang", "de")
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// TestRefusedBodiesAreNotRead: a request that is refused (too large by its
// declared length, cross-origin) is answered before its body is read, also
// on the error page's language lookup, and nothing reaches the disk (hole 4
// of the hardening issue: a refused multipart body was parsed into a
// /tmp/multipart-* file by the error page).
func TestRefusedBodiesAreNotRead(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := newEnv(t) // body limit 8 KiB; no import route limit
	h := e.srv.Config.Handler
	const size = 2 << 20
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		declared           bool
		status             []int // any of these
	}{
		{"oversized register, declared", "POST", "/register", nil, true, []int{413}},
		// Not URL-encoded: refused unread, or cut at the limit.
		{"oversized register, chunked", "POST", "/register", nil, false, []int{413, 415}},
		{"cross-site register", "POST", "/register", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, []int{403}},
		{"cross-site import", "POST", "/import", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, []int{403}},
		{"cross-origin password", "POST", "/password", map[string]string{"Origin": "https://evil.example"}, true, []int{403}},
		{"oversized delete", "POST", "/delete", nil, true, []int{413}},
		{"unknown route", "POST", "/nowhere", nil, true, []int{404, 405, 413}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, body := bigMultipart(t, size)
			cb := &testenv.CountingReader{R: bytes.NewReader(body)}
			req := httptest.NewRequest(c.method, c.path, nil)
			req.Body = io.NopCloser(cb)
			req.ContentLength = int64(len(body))
			if !c.declared {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", ct)
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !slices.Contains(c.status, rec.Code) {
				t.Fatalf("status %d, want one of %v\n%s", rec.Code, c.status, rec.Body.String())
			}
			// A chunked body over the limit is read up to the limit, no more.
			if max := int64(16 << 10); cb.N > max {
				t.Errorf("read %d bytes of a refused %d-byte body (at most %d)", cb.N, len(body), max)
			}
			if !strings.Contains(rec.Body.String(), "<h1") {
				t.Errorf("no error page:\n%s", rec.Body.String())
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(files) > 0 {
		t.Errorf("request bodies reached the disk: %v", files)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("temp dir not empty: %d entries", len(entries))
	}
}

// TestHeadAnswersLikeGet: every page answers HEAD with the status and
// headers of GET and no body (monitors use HEAD; it answered 405).
func TestHeadAnswersLikeGet(t *testing.T) {
	e := newEnv(t)
	h := e.srv.Config.Handler
	for _, path := range []string{"/", "/register", "/account", "/password", "/export", "/import", "/delete", "/stats", "/healthz", "/nowhere"} {
		get := httptest.NewRecorder()
		h.ServeHTTP(get, httptest.NewRequest("GET", path, nil))
		head := httptest.NewRecorder()
		h.ServeHTTP(head, httptest.NewRequest("HEAD", path, nil))
		if head.Code != get.Code || head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q, GET: %d %q", path, head.Code, head.Header().Get("Content-Type"), get.Code, get.Header().Get("Content-Type"))
		}
	}
	// Through a real server, HEAD carries no body.
	req, _ := http.NewRequest("HEAD", e.srv.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD / through a server: %d, %d bytes of body", resp.StatusCode, len(b))
	}
}
