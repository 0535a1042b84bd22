package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// visitorIP is the loopback address the privacy tests' visitors come from:
// no server of the test uses it, so any occurrence in a log is a visitor's.
const visitorIP = "127.0.0.7"

// runningNginx is the shipped snippet (deploy/nginx/portal.conf) run by
// startNginx.
type runningNginx struct {
	dir      string // nginx's directory: configuration, logs, temporary files
	http     string // base URL of the port-80 server
	https    string // base URL of the port-443 server
	httpsAdr string // host:port of the port-443 server
	bodyTemp string // client_body_temp_path
	out      *bytes.Buffer
}

// startNginx runs deploy/nginx/portal.conf unchanged but for its ports,
// paths and upstream, inside a main configuration that is Debian's
// nginx.conf in what concerns logs: an error log at the main level and an
// access log at the http level, both in n.dir. Every server block of the
// snippet must switch those off for itself, as it must on a Debian machine.
// The test is skipped under -short (testenv's rule for servers).
func startNginx(t *testing.T, root, upstream string) *runningNginx {
	t.Helper()
	nginx := testenv.ServerBinary(t, "nginx", "nginx", "/usr/sbin/nginx", "/sbin/nginx", "/usr/bin/nginx")
	src := readFile(t, root, "deploy", "nginx", "portal.conf")
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
		"/var/www/letsencrypt", dir+"/acme",
		"listen [::]:80;", "",
		"listen [::]:443 ssl http2;", "",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort),
		"listen 443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", httpsPort),
		"http://127.0.0.1:8080", upstream,
	).Replace(src)
	if err := os.WriteFile(filepath.Join(dir, "portal.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, "client_body")
	// Debian's /etc/nginx/nginx.conf: "error_log /var/log/nginx/error.log;"
	// at the main level, "access_log /var/log/nginx/access.log;" in http.
	main := fmt.Sprintf("pid %[1]s/nginx.pid;\nerror_log %[1]s/error.log;\ndaemon off;\nmaster_process off;\nevents {}\nhttp {\n"+
		"client_body_temp_path %[2]s;\nproxy_temp_path %[1]s/proxy;\nfastcgi_temp_path %[1]s/fastcgi;\nuwsgi_temp_path %[1]s/uwsgi;\nscgi_temp_path %[1]s/scgi;\n"+
		"access_log %[1]s/access.log;\ninclude %[1]s/portal.conf;\n}\n", dir, temp)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "e.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	n := &runningNginx{
		dir: dir, bodyTemp: temp, out: &out,
		http:     fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		https:    fmt.Sprintf("https://127.0.0.1:%d", httpsPort),
		httpsAdr: fmt.Sprintf("127.0.0.1:%d", httpsPort),
	}
	// Readiness: nginx answers (bounded: a hang limit, not a measurement).
	client := n.client(nil)
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get(n.https + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not answer: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// client returns an HTTP client that trusts any certificate and, with a
// non-nil local address, connects from it.
func (n *runningNginx) client(local net.IP) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext:     d.DialContext,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       5 * time.Minute,
	}
}

// logsMentioning returns the files under dir (nginx's logs among them)
// whose contents contain any of needles, with the first line that does.
func logsMentioning(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".conf", ".pem", ".crt", ".key":
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, s := range needles {
				if s != "" && strings.Contains(line, s) {
					hits = append(hits, fmt.Sprintf("%s: %s", path, line))
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestNginxSnippetLogsNothingAboutClients: the shipped snippet, inside a
// main configuration with Debian's logs, writes no visitor's address to any
// log, whatever the visitor does: the redirect on port 80 and a certificate
// challenge that is not there, pages, a body over the limit, plain HTTP to
// the TLS port, an old TLS version, and the portal down (502). nginx
// announces no version.
func TestNginxSnippetLogsNothingAboutClients(t *testing.T) {
	root := repoRoot(t)
	upstream := newStandIn(t)
	n := startNginx(t, root, upstream.URL)
	visitor := n.client(net.ParseIP(visitorIP))

	expect := func(method, url, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("User-Agent", "privacy-probe/1.0")
		resp, err := visitor.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s: status %d, want %d", method, url, resp.StatusCode, want)
		}
		if s := resp.Header.Get("Server"); s != "" && s != "nginx" {
			t.Errorf("%s %s: Server: %q (server_tokens off sends \"nginx\")", method, url, s)
		}
	}
	expect("HEAD", n.http+"/", "", http.StatusMovedPermanently)
	expect("GET", n.http+"/register?lang=de", "", http.StatusMovedPermanently)
	expect("GET", n.http+"/.well-known/acme-challenge/missing", "", http.StatusNotFound)
	expect("GET", n.https+"/", "", http.StatusOK)
	expect("POST", n.https+"/register", "filler="+strings.Repeat("x", 128<<10), http.StatusRequestEntityTooLarge)
	// Plain HTTP to the TLS port.
	expect("GET", "http://"+n.httpsAdr+"/", "", http.StatusBadRequest)
	// A TLS version the snippet does not offer.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(visitorIP)}, Timeout: 30 * time.Second}
	if c, err := tls.DialWithDialer(d, "tcp", n.httpsAdr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("nginx accepted TLS 1.1")
	}
	// The portal is down: 502, which nginx reports in its error log.
	upstream.Close()
	expect("GET", n.https+"/register", "", http.StatusBadGateway)
	// Let nginx finish writing (a request after the others, same worker).
	expect("GET", n.http+"/", "", http.StatusMovedPermanently)

	if hits := logsMentioning(t, n.dir, visitorIP, "privacy-probe"); len(hits) > 0 {
		t.Errorf("nginx wrote the visitor's address or user agent:\n%s", strings.Join(hits, "\n"))
	}
}

// standIn is a stand-in portal that answers every request with 200.
type standIn struct {
	URL string
	ln  net.Listener
	srv *http.Server
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &standIn{URL: "http://" + ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })}}
	go s.srv.Serve(ln)
	t.Cleanup(s.Close)
	return s
}

// Close stops the stand-in: its port refuses connections afterwards.
func (s *standIn) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}
