package deploy

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xmpp-portal/portal/internal/config"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestNginxSnippetLive runs the shipped nginx snippet for real in front of a
// stand-in portal: an export file of the default import.max_size reaches the
// portal through /import, streamed (nothing spooled to nginx's temporary
// files), while a form body over http.body_limit is refused by nginx.
func TestNginxSnippetLive(t *testing.T) {
	root := repoRoot(t)
	def := config.Defaults()

	var got atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		fmt.Fprintf(w, "%s %d", r.URL.Path, n)
	}))
	defer upstream.Close()

	n := startNginx(t, root, upstream.URL)
	client := n.client(nil)
	base, temp := n.https, n.bodyTemp

	// An export of the largest size the portal takes, with its fields.
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("address", "alice")
	w.WriteField("password", "secret words here")
	fw, _ := w.CreateFormFile("file", "export.xml")
	fw.Write(bytes.Repeat([]byte("x"), int(def.Import.MaxSize)))
	w.Close()
	size := int64(body.Len())
	resp, err := client.Post(base+"/import", w.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || got.Load() != size {
		t.Fatalf("/import of %d bytes: status %d, the portal got %d bytes: %s", size, resp.StatusCode, got.Load(), b)
	}
	if entries, _ := os.ReadDir(temp); len(entries) > 0 {
		t.Errorf("nginx spooled the upload to %s: %d files", temp, len(entries))
	}

	// A form body over http.body_limit is refused before the portal.
	got.Store(-1)
	form := "filler=" + strings.Repeat("x", int(def.HTTP.BodyLimit))
	resp, err = client.Post(base+"/register", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || got.Load() != -1 {
		t.Errorf("oversized form: status %d, the portal got %d bytes", resp.StatusCode, got.Load())
	}
	// A form within the limit passes, from memory.
	resp, err = client.Post(base+"/register", "application/x-www-form-urlencoded", strings.NewReader("filler="+strings.Repeat("x", int(def.HTTP.BodyLimit)-100)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("form within the limit: status %d", resp.StatusCode)
	}
	if entries, _ := os.ReadDir(temp); len(entries) > 0 {
		t.Errorf("nginx spooled a form body to %s", temp)
	}
}
