package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOperatingKeys: metrics.listen is off by default, a host:port of its
// own when set; the legal pages are a link (http or https) or a file of the
// default language, never both.
func TestOperatingKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "privacy.en.html"), []byte("<p>x</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"PORTAL_XMPP_DOMAIN": "example.org", "PORTAL_XMPP_MODE": "ibr"}
	load := func(extra map[string]string) error {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		_, _, err := Load(nil, func(k string) string { return env[k] })
		return err
	}
	if Defaults().Metrics.Listen != "" {
		t.Error("metrics on by default")
	}
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for valid
	}{
		{map[string]string{"PORTAL_METRICS_LISTEN": "127.0.0.1:9464"}, ""},
		{map[string]string{"PORTAL_METRICS_LISTEN": "9464"}, "metrics.listen"},
		{map[string]string{"PORTAL_METRICS_LISTEN": "127.0.0.1:8080"}, "public listener"},
		{map[string]string{"PORTAL_SITE_PRIVACY_URL": "https://example.org/privacy", "PORTAL_SITE_IMPRINT_URL": "http://example.org/imprint"}, ""},
		{map[string]string{"PORTAL_SITE_PRIVACY_URL": "javascript:alert(1)"}, "site.privacy_url"},
		{map[string]string{"PORTAL_SITE_IMPRINT_URL": "/imprint"}, "site.imprint_url"},
		{map[string]string{"PORTAL_SITE_PRIVACY_FILE": filepath.Join(dir, "privacy.{lang}.html")}, ""},
		{map[string]string{"PORTAL_SITE_PRIVACY_FILE": filepath.Join(dir, "privacy.{lang}.html"), "PORTAL_SITE_DEFAULT_LANG": "de"}, "site.privacy_file"},
		{map[string]string{"PORTAL_SITE_PRIVACY_FILE": filepath.Join(dir, "privacy.{lang}.html"), "PORTAL_SITE_PRIVACY_URL": "https://example.org/"}, "not both"},
		{map[string]string{"PORTAL_SITE_IMPRINT_FILE": dir}, "not a file"},
	} {
		err := load(tc.env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error naming %q", tc.env, err, tc.want)
		}
	}
}
