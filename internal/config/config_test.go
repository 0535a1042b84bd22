package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "portal.conf")
	os.WriteFile(file, []byte("# comment\nxmpp.domain = file.example\nxmpp.timeout = 3s\nlisten = \"127.0.0.1:9000\"\nxmpp.mode = ibr\n"), 0o600)
	secret := filepath.Join(dir, "pw")
	os.WriteFile(secret, []byte("s3cret-from-file\n"), 0o600)

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"defaults", []string{"-xmpp.domain", "d.example", "-xmpp.mode", "ibr"}, nil, func(t *testing.T, c *Config) {
			if c.Listen != "127.0.0.1:8080" || c.XMPP.Timeout != 10*time.Second || c.Store.Driver != "memory" {
				t.Errorf("defaults not applied: %+v", c)
			}
			if c.XMPP.Addr != "d.example:5222" || c.Site.Name != "d.example" || c.XMPP.TLSServerName != "d.example" {
				t.Errorf("derived values wrong: addr=%q name=%q", c.XMPP.Addr, c.Site.Name)
			}
		}},
		{"file", []string{"-config", file}, nil, func(t *testing.T, c *Config) {
			if c.XMPP.Domain != "file.example" || c.XMPP.Timeout != 3*time.Second || c.Listen != "127.0.0.1:9000" {
				t.Errorf("file not applied: %+v", c.XMPP)
			}
		}},
		{"env over file", []string{"-config", file}, map[string]string{"PORTAL_XMPP_DOMAIN": "env.example"}, func(t *testing.T, c *Config) {
			if c.XMPP.Domain != "env.example" || c.XMPP.Timeout != 3*time.Second {
				t.Errorf("env should win over file: %+v", c.XMPP)
			}
		}},
		{"flag over env", []string{"-config", file, "-xmpp.domain", "flag.example"}, map[string]string{"PORTAL_XMPP_DOMAIN": "env.example"}, func(t *testing.T, c *Config) {
			if c.XMPP.Domain != "flag.example" {
				t.Errorf("flag should win: %q", c.XMPP.Domain)
			}
		}},
		{"config file from env", nil, map[string]string{"PORTAL_CONFIG": file}, func(t *testing.T, c *Config) {
			if c.XMPP.Domain != "file.example" {
				t.Errorf("PORTAL_CONFIG not read: %q", c.XMPP.Domain)
			}
		}},
		{"secret from _FILE", []string{"-xmpp.domain", "d.example", "-xmpp.admin_jid", "portal@d.example"}, map[string]string{"PORTAL_XMPP_ADMIN_PASSWORD_FILE": secret}, func(t *testing.T, c *Config) {
			if c.XMPP.AdminPassword != "s3cret-from-file" {
				t.Errorf("secret file not read: %q", c.XMPP.AdminPassword)
			}
		}},
		{"list", []string{"-xmpp.domain", "d.example", "-xmpp.mode", "ibr", "-site.reserved_names", " bob, ,eve "}, nil, func(t *testing.T, c *Config) {
			if strings.Join(c.Site.ReservedNames, "|") != "bob|eve" {
				t.Errorf("list: %q", c.Site.ReservedNames)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(tc.args, env(tc.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.conf")
	os.WriteFile(badFile, []byte("nonsense\nno.such.key = 1\nxmpp.timeout = soon\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // every substring must be in the error
	}{
		{"everything at once", nil, map[string]string{"PORTAL_XMPP_MODE": "weird", "PORTAL_STORE_DRIVER": "redis", "PORTAL_CAPTCHA_LENGTH": "2", "PORTAL_LOG_LEVEL": "loud"},
			[]string{"xmpp.domain", "xmpp.mode", "store.url", "captcha.length", "log.level"}},
		{"admin needs credentials", []string{"-xmpp.domain", "d.example"}, nil, []string{"xmpp.admin_jid (PORTAL_XMPP_ADMIN_JID): required", "xmpp.admin_password"}},
		{"admin jid on other domain", []string{"-xmpp.domain", "d.example", "-xmpp.admin_jid", "x@other.example"}, map[string]string{"PORTAL_XMPP_ADMIN_PASSWORD": "p"}, []string{"must be user@d.example"}},
		{"bad values", []string{"-xmpp.domain", "d.example", "-xmpp.mode", "ibr", "-listen", "nope", "-xmpp.addr", "h:99999", "-http.trusted_proxies", "1.2.3.4,banana", "-onion.address", "abc.onion"},
			nil, []string{"listen", "xmpp.addr", "banana", "onion.address"}},
		{"parse errors collected", []string{"-config", badFile}, map[string]string{"PORTAL_XMPP_TIMEOUT": "x", "PORTAL_CAPTCHA_LENGTH": "six"},
			[]string{"bad.conf:1", "unknown key \"no.such.key\"", "bad.conf:3", "PORTAL_XMPP_TIMEOUT", "PORTAL_CAPTCHA_LENGTH"}},
		{"both value and file", []string{"-xmpp.domain", "d.example"}, map[string]string{"PORTAL_XMPP_ADMIN_PASSWORD": "a", "PORTAL_XMPP_ADMIN_PASSWORD_FILE": "/x"}, []string{"both set"}},
		{"missing secret file", []string{"-xmpp.domain", "d.example"}, map[string]string{"PORTAL_XMPP_ADMIN_PASSWORD_FILE": filepath.Join(dir, "absent")}, []string{"PORTAL_XMPP_ADMIN_PASSWORD_FILE"}},
		{"secret is no flag", []string{"-xmpp.admin_password", "x"}, nil, []string{"flag provided but not defined"}},
		{"stray args", []string{"-xmpp.domain", "d.example", "-xmpp.mode", "ibr", "extra"}, nil, []string{"unexpected arguments"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(tc.args, env(tc.env))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDumpMasksSecrets(t *testing.T) {
	c, _, err := Load([]string{"-xmpp.domain", "d.example", "-xmpp.admin_jid", "p@d.example"},
		env(map[string]string{"PORTAL_XMPP_ADMIN_PASSWORD": "hunter2-secret", "PORTAL_STORE_DRIVER": "redis", "PORTAL_STORE_URL": "redis://:pw-in-url@127.0.0.1:6379/0"}))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Dump(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"hunter2-secret", "pw-in-url"} {
		if strings.Contains(out, secret) {
			t.Errorf("dump leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, `xmpp.admin_password = "********"`) || !strings.Contains(out, `xmpp.domain = "d.example"`) {
		t.Errorf("dump incomplete:\n%s", out)
	}
	// The dump is itself a valid config file.
	f := filepath.Join(t.TempDir(), "dump.conf")
	os.WriteFile(f, b.Bytes(), 0o600)
	c2, _, err := Load([]string{"-config", f}, env(map[string]string{"PORTAL_STORE_URL": "redis://127.0.0.1:1/0"}))
	if err != nil {
		t.Fatalf("dump does not load back: %v", err)
	}
	if c2.XMPP.Domain != "d.example" || c2.XMPP.Timeout != c.XMPP.Timeout {
		t.Errorf("round trip lost values")
	}
}

func TestReferenceListsEveryKey(t *testing.T) {
	var b bytes.Buffer
	Reference(&b)
	for _, o := range options {
		if !strings.Contains(b.String(), "`"+o.key+"`") {
			t.Errorf("reference lacks %s", o.key)
		}
	}
}

// TestReadmeLinksTheReference: the README does not repeat the table of keys
// (one place: docs/operators.md, generated and checked there); it links it.
func TestReadmeLinksTheReference(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "docs/operators.md#13-configuration-reference") {
		t.Error("README.md does not link the configuration reference in docs/operators.md")
	}
	if strings.Contains(string(b), "| key | environment | default | meaning |") {
		t.Error("README.md repeats the table of keys; link docs/operators.md instead")
	}
}
