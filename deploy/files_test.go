package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
)

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	df := readFile(t, root, "Dockerfile")
	var stages [][]string // instructions per stage
	for _, line := range strings.Split(strings.ReplaceAll(df, "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("instruction before FROM: %q", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): want a multi-stage build", len(stages))
	}
	for _, st := range stages {
		img := strings.Fields(st[0])[1]
		if _, tag, ok := strings.Cut(img, ":"); !ok || tag == "latest" || tag == "" {
			t.Errorf("base image %q has no tag", img)
		}
	}
	final := strings.Join(stages[len(stages)-1], "\n")
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(final, -1)
	if len(user) == 0 {
		t.Error("the runtime stage has no USER: it would run as root")
	} else if u := user[len(user)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("the runtime stage runs as %s", u)
	}
	for _, want := range []string{
		"install -y --no-install-recommends tor ca-certificates", // tor for the onion service
		`HEALTHCHECK`, `"-healthcheck", "http://127.0.0.1:8080/healthz"`,
		`ENTRYPOINT ["/usr/local/bin/portal"]`,
		"COPY --from=build /out/portal /usr/local/bin/portal",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("runtime stage lacks %q", want)
		}
	}
	if strings.Contains(final, "golang") || strings.Contains(final, "COPY . .") {
		t.Error("the runtime stage carries the build tree or toolchain")
	}
	if !strings.Contains(strings.Join(stages[0], "\n"), "CGO_ENABLED=0") {
		t.Error("the binary is not static (CGO_ENABLED=0)")
	}
	ignore := readFile(t, root, ".dockerignore")
	for _, want := range []string{"secrets", ".git", ".env"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(ignore) {
			t.Errorf(".dockerignore does not keep %s out of the build context", want)
		}
	}
}

// TestToolchainPinned: go.mod's `go` line names the one Go release the
// project builds with, and every entry point runs exactly that release: a
// machine starts on its own Go and ignores go.mod's line unless GOTOOLCHAIN
// names the release (the go command then fetches it from the module proxy).
func TestToolchainPinned(t *testing.T) {
	root := repoRoot(t)
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`).FindStringSubmatch(readFile(t, root, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no `go X.Y.Z` line")
	}
	want := "GOTOOLCHAIN=go" + m[1]
	files := []string{".ci/run", "Makefile"}
	scripts, err := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	if err != nil {
		t.Fatal(err)
	}
	goCmd := regexp.MustCompile(`(?m)^[^#\n]*\bgo (build|test|run|vet|mod|install|env)\b`)
	for _, f := range scripts {
		if goCmd.MatchString(readFile(t, f)) {
			files = append(files, filepath.Join("scripts", filepath.Base(f)))
		}
	}
	if len(files) < 6 {
		t.Errorf("only %d entry points found: %v", len(files), files)
	}
	export := regexp.MustCompile(`(?m)^\s*export GOTOOLCHAIN\s*:?=\s*(\S+)`)
	for _, f := range files {
		got := export.FindStringSubmatch(readFile(t, root, f))
		switch {
		case got == nil:
			t.Errorf("%s does not export GOTOOLCHAIN (want %s)", f, want)
		case "GOTOOLCHAIN="+got[1] != want:
			t.Errorf("%s exports GOTOOLCHAIN=%s, want %s", f, got[1], want)
		}
	}
	df := readFile(t, root, "Dockerfile")
	if !regexp.MustCompile(`(?m)^FROM golang:` + regexp.QuoteMeta(m[1]) + `-\S+ AS build$`).MatchString(df) {
		t.Errorf("the Dockerfile's build stage is not on golang:%s", m[1])
	}
	if !regexp.MustCompile(`(?m)^ENV ` + regexp.QuoteMeta(want) + `$`).MatchString(df) {
		t.Errorf("the Dockerfile does not set ENV %s", want)
	}
}

// unit reads a systemd unit into key -> values.
func unit(src string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "deploy", "systemd", "portal.service")
	src := readFile(t, path)
	u := unit(src)
	one := func(k string) string {
		if len(u[k]) != 1 {
			t.Errorf("%s set %d times, want once", k, len(u[k]))
			return ""
		}
		return u[k][0]
	}
	hardening := map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
		"ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "CapabilityBoundingSet": "",
		"RestrictNamespaces": "yes", "SystemCallArchitectures": "native", "UMask": "0077", "StateDirectoryMode": "0700",
	}
	for k, want := range hardening {
		if got := one(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if one("StateDirectory") == "" {
		t.Error("no StateDirectory for the onion key")
	}
	if !strings.HasPrefix(one("ExecStart"), "/usr/local/bin/portal") || strings.Contains(one("ExecStart"), "password") {
		t.Errorf("ExecStart=%q", one("ExecStart"))
	}

	keys := configKeys(t)
	envs := map[string]string{}
	for _, e := range u["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		envs[k] = v
	}
	creds := map[string]bool{}
	for _, c := range u["LoadCredential"] {
		name, file, _ := strings.Cut(c, ":")
		creds[name] = true
		if !strings.HasPrefix(file, "/etc/xmpp-portal/") {
			t.Errorf("credential %s from %s, not /etc/xmpp-portal/", name, file)
		}
	}
	for _, k := range keys {
		if !k.Secret {
			continue
		}
		if _, ok := envs[k.Env]; ok {
			t.Errorf("the unit sets the secret %s directly", k.Env)
		}
		if v, ok := envs[k.Env+"_FILE"]; ok {
			if name, ok := strings.CutPrefix(v, "%d/"); !ok || !creds[name] {
				t.Errorf("%s_FILE=%s is not a LoadCredential file (%%d/<name>)", k.Env, v)
			}
		}
	}
	if envs["PORTAL_XMPP_ADMIN_PASSWORD_FILE"] == "" {
		t.Error("the admin password does not come through a credential")
	}
	if got := envs["PORTAL_ONION_STATE_DIR"]; !strings.HasPrefix(got+"/", "%S/"+one("StateDirectory")+"/") {
		t.Errorf("PORTAL_ONION_STATE_DIR=%q is not in the StateDirectory", got)
	}

	// The example environment file: known keys, no secrets.
	envFile := readFile(t, root, "deploy", "systemd", "portal.env.example")
	known := map[string]configKey{}
	for _, k := range keys {
		known[k.Env] = k
	}
	for _, m := range regexp.MustCompile(`(?m)^#?(PORTAL_[A-Z0-9_]+)=`).FindAllStringSubmatch(envFile, -1) {
		k, ok := known[m[1]]
		if !ok {
			t.Errorf("portal.env.example: %s is not a configuration key", m[1])
		} else if k.Secret && !strings.HasPrefix(k.Env, "PORTAL_STORE_URL") {
			t.Errorf("portal.env.example sets the secret %s: use a credential", m[1])
		}
	}

	// systemd's own check, with ExecStart pointing at a program that exists
	// here: any warning fails the test.
	analyze := needTool(t, "systemd-analyze")
	copyPath := filepath.Join(t.TempDir(), "xmpp-portal.service")
	if err := os.WriteFile(copyPath, []byte(strings.Replace(src, "ExecStart=/usr/local/bin/portal", "ExecStart=/bin/true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// selfSigned writes a certificate and key for name into dir.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestNginxSnippet(t *testing.T) {
	root := repoRoot(t)
	src := readFile(t, root, "deploy", "nginx", "portal.conf")
	envFile := readFile(t, root, "deploy", "systemd", "portal.env.example")
	listen := regexp.MustCompile(`(?m)^PORTAL_LISTEN=(\S+)`).FindStringSubmatch(envFile)
	if listen == nil || !strings.Contains(src, "proxy_pass http://"+listen[1]+";") {
		t.Errorf("nginx does not forward to the portal's listen address %v", listen)
	}
	for _, want := range []string{
		"proxy_set_header X-Forwarded-For $remote_addr;", // one address, client's own header dropped
		"access_log off;",
		"ssl_protocols TLSv1.2 TLSv1.3;",
		"Strict-Transport-Security",
		"PORTAL_HTTP_TRUSTED_PROXIES=127.0.0.1,::1",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("portal.conf lacks %q", want)
		}
	}
	if !strings.Contains(envFile, "PORTAL_HTTP_TRUSTED_PROXIES=127.0.0.1,::1") {
		t.Error("portal.env.example does not trust the local proxy")
	}

	// nginx's own check, with a throw-away certificate and paths in a
	// temporary directory (the server's program: not under -short).
	nginx := testenv.ServerBinary(t, "nginx", "nginx", "/usr/sbin/nginx", "/sbin/nginx", "/usr/bin/nginx")
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "portal.example.org")
	conf := strings.NewReplacer(
		"/etc/letsencrypt/live/portal.example.org/fullchain.pem", cert,
		"/etc/letsencrypt/live/portal.example.org/privkey.pem", key,
		"/var/log/nginx/", dir+"/",
	).Replace(src)
	if err := os.WriteFile(filepath.Join(dir, "portal.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log;\nevents {}\nhttp { include " + dir + "/portal.conf; }\n"
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-q", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "e.log")).CombinedOutput()
	if err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}
