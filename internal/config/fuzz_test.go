package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/xmpp-portal/portal/internal/config"
)

// FuzzConfigFile loads arbitrary configuration files (the operator's file,
// but also whatever a mounted secret or a broken deployment puts there).
// Load must never panic; a file it accepts must validate, and its dump must
// load again to the same dump (the dump is documented as a valid file).
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"xmpp.domain = example.org\nxmpp.mode = ibr\n",
		"# comment\n\nxmpp.domain = \"example.org\"\nxmpp.admin_jid = portal@example.org\nxmpp.admin_password = \"s3cret \\\"q\\\"\"\n",
		"xmpp.domain = example.org\nxmpp.mode = ibr\nhttp.read_timeout = 1h30m\nsite.reserved_names = a, b,,c\nstore.max_keys = 1000\n",
		"xmpp.domain = example.org\nxmpp.mode = ibr\nhttp.trusted_proxies = 10.0.0.0/8,::1\nonion.address = " +
			"abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion\n",
		"unknown.key = 1\n=\nno equals sign\nxmpp.timeout = soon\n",
		"xmpp.domain = \"\\xff\\x00\"\n",
		"xmpp.domain\t=\t\"unterminated\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(dir, "portal.conf")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		getenv := func(string) string { return "" }
		cfg, _, err := config.Load([]string{"-config", path}, getenv)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration that does not validate: %v", err)
		}
		var dump bytes.Buffer
		if err := cfg.Dump(&dump); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, dump.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		again, _, err := config.Load([]string{"-config", path}, getenv)
		if err != nil {
			t.Fatalf("the dump of an accepted file does not load: %v\n--- file\n%s\n--- dump\n%s", err, data, dump.String())
		}
		var dump2 bytes.Buffer
		if err := again.Dump(&dump2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dump.Bytes(), dump2.Bytes()) {
			t.Fatalf("dump changes when loaded again\n--- first\n%s\n--- second\n%s", dump.String(), dump2.String())
		}
	})
}
