package deploy

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/xmpp-portal/portal/internal/testenv"
)

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// runScript runs a deploy/docker script with sh and the given environment.
func runScript(t *testing.T, script string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(needTool(t, "sh"), filepath.Join(repoRoot(t), "deploy", "docker", script))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestEjabberdConfigScript runs the compose stack's ejabberd-config job on the
// shipped templates and checks that it changes nothing but the placeholders.
func TestEjabberdConfigScript(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		mode     string
		template string
	}{
		{"admin", "ejabberd.yml"},
		{"ibr", "ejabberd-ibr.yml"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			dir := t.TempDir()
			certIn := filepath.Join(dir, "certs-in")
			crt, key := selfSigned(t, dir, "example.org")
			for src, dst := range map[string]string{crt: "xmpp.crt", key: "xmpp.key"} {
				b, _ := os.ReadFile(src)
				writeFile(t, filepath.Join(certIn, dst), string(b), 0o644)
			}
			conf, db := filepath.Join(dir, "conf"), filepath.Join(dir, "db")
			for _, d := range []string{conf, db} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env := []string{
				"INIT_CONF=" + conf, "INIT_TEMPLATES=" + filepath.Join(root, "deploy", "ejabberd"),
				"INIT_CERTS_IN=" + certIn, "INIT_DATABASE=" + db,
				"XMPP_DOMAIN=example.org", "EJABBERD_PORTAL_MODE=" + tc.mode,
			}
			out, err := runScript(t, "ejabberd-config.sh", env...)
			if err != nil {
				t.Fatalf("ejabberd-config.sh: %v\n%s", err, out)
			}
			shipped := readFile(t, root, "deploy", "ejabberd", tc.template)
			rendered := readFile(t, conf, "ejabberd.yml")
			if !templatePattern(shipped).MatchString(rendered) {
				t.Errorf("rendered ejabberd.yml is not %s with its placeholders filled in", tc.template)
			}
			for _, want := range []string{`  - "example.org"`, `      - "portal-admin@example.org"`, "port: 5222", `certfiles:
  - "` + conf + `/server.pem"`, "s2s_access: all"} {
				if !strings.Contains(rendered, want) {
					t.Errorf("rendered ejabberd.yml lacks %q", want)
				}
			}
			ctl := readFile(t, conf, "ejabberdctl.cfg")
			if !templatePattern(readFile(t, root, "deploy", "ejabberd", "ejabberdctl.cfg")).MatchString(ctl) || !strings.Contains(ctl, "ERLANG_NODE=ejabberd@localhost") {
				t.Errorf("rendered ejabberdctl.cfg:\n%s", ctl)
			}
			for _, f := range []string{"ejabberd.yml", "ejabberdctl.cfg", "server.pem"} {
				st, err := os.Stat(filepath.Join(conf, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
				}
			}
			pemData := readFile(t, conf, "server.pem")
			if !strings.Contains(pemData, "BEGIN CERTIFICATE") || !strings.Contains(pemData, "PRIVATE KEY") {
				t.Error("server.pem does not hold certificate and key")
			}
			if _, err := os.Stat(filepath.Join(conf, "ejabberd.yml.new")); err == nil {
				t.Error("temporary file left behind")
			}
		})
	}
	t.Run("refusals", func(t *testing.T) {
		dir := t.TempDir()
		base := []string{"INIT_CONF=" + dir, "INIT_TEMPLATES=" + filepath.Join(root, "deploy", "ejabberd"),
			"INIT_CERTS_IN=" + filepath.Join(dir, "none"), "INIT_DATABASE=" + dir}
		for name, env := range map[string][]string{
			"no domain":    base,
			"bad mode":     append(base, "XMPP_DOMAIN=example.org", "EJABBERD_PORTAL_MODE=open"),
			"no cert file": append(base, "XMPP_DOMAIN=example.org"),
		} {
			if out, err := runScript(t, "ejabberd-config.sh", env...); err == nil {
				t.Errorf("%s: accepted\n%s", name, out)
			}
		}
	})
}

// scramStoredKey is Prosody's stored_key for password (SCRAM-SHA-1).
func scramStoredKey(t *testing.T, password, salt string, iter int) string {
	t.Helper()
	salted, err := pbkdf2.Key(sha1.New, password, []byte(salt), iter, sha1.Size)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha1.New, salted)
	mac.Write([]byte("Client Key"))
	sum := sha1.Sum(mac.Sum(nil))
	return hex.EncodeToString(sum[:])
}

// TestProsodyInitScript runs the compose stack's prosody-init job with the
// real prosodyctl and the shipped prosody.cfg.lua: it creates the admin
// account with the secret's password, sets the password again on the next
// start, and installs the certificate for the prosody user only.
func TestProsodyInitScript(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (install -o prosody), as in the container")
	}
	testenv.ServerBinary(t, "Prosody", "prosodyctl", "/usr/bin/prosodyctl", "/usr/sbin/prosodyctl")
	pu, err := user.Lookup("prosody")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no prosody user: install prosody (scripts/install-deps.sh)")
		}
		t.Skip("no prosody user")
	}
	uid, _ := strconv.Atoi(pu.Uid)
	root := repoRoot(t)
	dir, err := os.MkdirTemp("", "prosody-init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	writeFile(t, cfg, readFile(t, root, "deploy", "prosody", "prosody.cfg.lua"), 0o644)
	certIn := filepath.Join(dir, "certs-in")
	crt, key := selfSigned(t, dir, "example.org")
	for src, dst := range map[string]string{crt: "xmpp.crt", key: "xmpp.key"} {
		b, _ := os.ReadFile(src)
		writeFile(t, filepath.Join(certIn, dst), string(b), 0o600)
	}
	data, certs, secret := filepath.Join(dir, "data"), filepath.Join(dir, "certs"), filepath.Join(dir, "secret")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"INIT_SECRET=" + secret, "INIT_CERTS_IN=" + certIn, "INIT_CERTS=" + certs, "INIT_PROSODY_CONFIG=" + cfg,
		"PROSODY_DOMAIN=example.org", "PROSODY_PORTAL_MODE=admin", "PROSODY_PORTAL_ADMIN=portal-admin@example.org",
		"PROSODY_DATA_DIR=" + data, "PROSODY_LOG_FILE=console", "PROSODY_PIDFILE=" + filepath.Join(dir, "prosody.pid"),
		"PROSODY_S2S=0", "PROSODY_CERT=" + filepath.Join(certs, "xmpp.crt"), "PROSODY_KEY=" + filepath.Join(certs, "xmpp.key"),
	}
	account := filepath.Join(data, "example%2eorg", "accounts", "portal%2dadmin.dat")
	datRE := regexp.MustCompile(`\["(iteration_count|salt|stored_key)"\] = "?([^";]+)"?;`)
	checkPassword := func(t *testing.T, password string) {
		t.Helper()
		b, err := os.ReadFile(account)
		if err != nil {
			t.Fatalf("account file: %v", err)
		}
		f := map[string]string{}
		for _, m := range datRE.FindAllStringSubmatch(string(b), -1) {
			f[m[1]] = m[2]
		}
		iter, _ := strconv.Atoi(f["iteration_count"])
		if iter == 0 || f["salt"] == "" || f["stored_key"] != scramStoredKey(t, password, f["salt"], iter) {
			t.Errorf("stored credentials do not match password %q: %v", password, f)
		}
	}

	tests := []struct {
		name, secret, password, says string
	}{
		{"first start creates the account", "first-admin-password-1", "first-admin-password-1", "created portal-admin@example.org"},
		{"next start sets the password from the secret", "second-admin-password-2\n", "second-admin-password-2", "password set from the secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, secret, tc.secret, 0o600)
			out, err := runScript(t, "prosody-init.sh", env...)
			if err != nil || !strings.Contains(out, tc.says) {
				t.Fatalf("prosody-init.sh: %v\n%s", err, out)
			}
			if strings.Contains(out, strings.TrimSpace(tc.secret)) {
				t.Error("the password is in the output")
			}
			checkPassword(t, tc.password)
			st, err := os.Stat(filepath.Join(certs, "xmpp.key"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 || int(st.Sys().(*syscall.Stat_t).Uid) != uid {
				t.Errorf("xmpp.key: mode %v uid %d, want 0600 owned by prosody", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Uid)
			}
		})
	}
	t.Run("empty secret is refused", func(t *testing.T) {
		writeFile(t, secret, "", 0o600)
		if out, err := runScript(t, "prosody-init.sh", env...); err == nil {
			t.Errorf("accepted an empty secret\n%s", out)
		}
	})
}
