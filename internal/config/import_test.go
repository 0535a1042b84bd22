package config

import (
	"strings"
	"testing"
)

func TestImportOptions(t *testing.T) {
	base := map[string]string{"PORTAL_XMPP_DOMAIN": "example.org", "PORTAL_XMPP_MODE": "ibr"}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		size    int64
		srv     bool
	}{
		{"defaults", nil, "", 50 << 20, false},
		{"set", map[string]string{"PORTAL_IMPORT_MAX_SIZE": "2097152", "PORTAL_IMPORT_SRV": "true"}, "", 2 << 20, true},
		{"too small", map[string]string{"PORTAL_IMPORT_MAX_SIZE": "1000"}, "import.max_size", 0, false},
		{"too large", map[string]string{"PORTAL_IMPORT_MAX_SIZE": "2000000000"}, "import.max_size", 0, false},
		{"not a bool", map[string]string{"PORTAL_IMPORT_SRV": "maybe"}, "PORTAL_IMPORT_SRV", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, _, err := Load(nil, func(k string) string { return env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Import.MaxSize != c.size || cfg.Import.SRV != c.srv {
				t.Fatalf("got %d %v", cfg.Import.MaxSize, cfg.Import.SRV)
			}
		})
	}
}
