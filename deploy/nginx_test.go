package deploy

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/testenv"
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
	// A server run for real: skipped under -short (testenv's rule).
	nginx := testenv.ServerBinary(t, "nginx", "nginx", "/usr/sbin/nginx", "/sbin/nginx", "/usr/bin/nginx")
	root := repoRoot(t)
	src := readFile(t, root, "deploy", "nginx", "portal.conf")
	def := config.Defaults()

	var got atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		fmt.Fprintf(w, "%s %d", r.URL.Path, n)
	}))
	defer upstream.Close()

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t, dir, "portal.example.org")
	httpPort, httpsPort := freePort(t), freePort(t)
	conf := strings.NewReplacer(
		"/etc/letsencrypt/live/portal.example.org/fullchain.pem", cert,
		"/etc/letsencrypt/live/portal.example.org/privkey.pem", key,
		"/var/log/nginx/", dir+"/",
		"listen [::]:80;", "",
		"listen [::]:443 ssl http2;", "",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort),
		"listen 443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", httpsPort),
		"http://127.0.0.1:8080", upstream.URL,
	).Replace(src)
	if err := os.WriteFile(filepath.Join(dir, "portal.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, "client_body")
	main := fmt.Sprintf("pid %[1]s/nginx.pid;\nerror_log %[1]s/error.log;\ndaemon off;\nmaster_process off;\nevents {}\nhttp {\n"+
		"client_body_temp_path %[2]s;\nproxy_temp_path %[1]s/proxy;\nfastcgi_temp_path %[1]s/fastcgi;\nuwsgi_temp_path %[1]s/uwsgi;\nscgi_temp_path %[1]s/scgi;\n"+
		"access_log off;\ninclude %[1]s/portal.conf;\n}\n", dir, temp)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "e.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Minute}
	base := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	// Readiness: nginx answers (bounded: a hang limit, not a measurement).
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not answer: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

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
