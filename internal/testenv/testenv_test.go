package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoDeploy returns the repository root and its deploy directory with
// symbolic links resolved, as DeployFile resolves the files in it.
func repoDeploy(t *testing.T) (root, deploy string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	deploy, err = filepath.EvalSymlinks(filepath.Join(root, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	return root, deploy
}

func TestServerConfigsComeFromDeploy(t *testing.T) {
	root, deploy := repoDeploy(t)
	for _, f := range [][]string{
		{"prosody", "prosody.cfg.lua"},
		{"ejabberd", "ejabberd.yml"},
		{"ejabberd", "ejabberd-ibr.yml"},
		{"ejabberd", "ejabberdctl.cfg"},
	} {
		p, err := DeployFile(f...)
		if err != nil {
			t.Errorf("DeployFile(%v): %v", f, err)
			continue
		}
		if !strings.HasPrefix(p, deploy+string(filepath.Separator)) {
			t.Errorf("DeployFile(%v) = %s, not under %s", f, p, deploy)
		}
	}

	// Anything outside deploy/ is refused, also through a symbolic link.
	for _, rel := range []string{"/etc/hosts", "../go.mod", "prosody/../../go.mod", "nonexistent.cfg", "prosody"} {
		if p, err := deployFileIn(root, rel); err == nil {
			t.Errorf("deployFileIn(%q) = %s, want an error", rel, p)
		}
	}
	fake := t.TempDir()
	if err := os.MkdirAll(filepath.Join(fake, "deploy", "prosody"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(fake, "outside.cfg.lua")
	if err := os.WriteFile(outside, []byte("-- not shipped\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(fake, "deploy", "prosody", "prosody.cfg.lua")); err != nil {
		t.Fatal(err)
	}
	if p, err := deployFileIn(fake, filepath.Join("prosody", "prosody.cfg.lua")); err == nil {
		t.Errorf("symlink out of deploy/ accepted: %s", p)
	}
}

func TestRenderEjabberdTemplates(t *testing.T) {
	values := map[string]string{
		"DOMAIN": "localhost", "ADMIN_JID": "portal-admin@localhost", "LOGLEVEL": "info",
		"CERTFILE": "/x.pem", "LISTEN_IP": "127.0.0.1", "C2S_PORT": "1", "S2S_PORT": "2",
		"S2S_ACCESS": "none", "HTTP_IP": "127.0.0.1", "HTTP_PORT": "3", "UPLOAD_URL": "http://x/upload",
		"UPLOAD_DIR": "/u", "PASSWORD_STRENGTH": "0", "PORTAL_IP": "127.0.0.1",
	}
	for _, name := range []string{"ejabberd.yml", "ejabberd-ibr.yml"} {
		p, err := DeployFile("ejabberd", name)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		optional := []string{"PORTAL_IP"}
		out, err := renderTemplate(src, values, optional...)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, want := range []string{"hide_sensitive_log_data: true", "backlog: 1024", "registration_watchers: []", "max_days: 30", "starttls_required: true"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		ibr := name == "ejabberd-ibr.yml"
		if got := strings.Contains(string(out), "registration_timeout: infinity"); got != ibr {
			t.Errorf("%s: registration_timeout infinity present = %v", name, got)
		}
		if got := strings.Contains(string(out), "ip_access: register_from_portal"); got != ibr {
			t.Errorf("%s: ip_access rule present = %v", name, got)
		}
	}
	if _, err := renderTemplate([]byte("a: @X@ @HOST@"), map[string]string{}); err == nil {
		t.Error("leftover placeholder accepted")
	}
	if _, err := renderTemplate([]byte("a: @X@"), map[string]string{"X": "1", "Y": "2"}); err == nil {
		t.Error("unused value accepted")
	}
	if out, err := renderTemplate([]byte("a: @X@ @HOST@"), map[string]string{"X": "1"}); err != nil || string(out) != "a: 1 @HOST@" {
		t.Errorf("render = %q, %v", out, err)
	}
}

func TestProsodyConfigSettings(t *testing.T) {
	p, err := DeployFile("prosody", "prosody.cfg.lua")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"nagle = false",
		`allow_registration = (portal_mode == "ibr")`,
		`allowlist_registration_only = (portal_mode == "ibr")`,
		// Account invites (admin mode): a token for every registration,
		// none made by users.
		`table.insert(enabled, "invites_register")`,
		"registration_invite_only = true",
		"allow_user_invites = false",
		"registration_watchers = { }",
		"c2s_require_encryption = true",
		"http_file_share_expires_after = 30 * 86400",
		`authentication = "internal_hashed"`,
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("prosody.cfg.lua lacks %q", want)
		}
	}
}

func TestCerts(t *testing.T) {
	c, err := certsFor("example.test")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "upload.localhost", "127.0.0.1", "example.test", "upload.example.test"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: c.Pool}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.net", Roots: c.Pool}); err == nil {
		t.Error("certificate valid for example.net")
	}
	again, _ := certsFor("example.test")
	if again != c {
		t.Error("certificates not reused within the run")
	}
}
