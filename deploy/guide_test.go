package deploy

import (
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/preflight"
)

// TestOperatorGuide: the README links the guide, and the guide covers every
// shipped deployment file and every startup check. (That it lists every
// configuration key with its default is checked in internal/config.)
func TestOperatorGuide(t *testing.T) {
	root := repoRoot(t)
	guide := readFile(t, root, "docs", "operators.md")
	if !strings.Contains(readFile(t, root, "README.md"), "(docs/operators.md)") {
		t.Error("README.md does not link docs/operators.md")
	}
	for _, want := range []string{
		"docker-compose.yml", "Dockerfile", "deploy/docker/env.example", "deploy/docker/publish-xmpp.yml",
		"deploy/systemd/portal.service", "deploy/systemd/portal.env.example", "deploy/nginx/portal.conf",
		"deploy/prosody/prosody.cfg.lua", "deploy/ejabberd/ejabberd.yml", "deploy/ejabberd/ejabberd-ibr.yml",
		"secrets/portal_admin_password", "secrets/regulation_secret", "secrets/xmpp.crt", "secrets/xmpp.key",
		preflight.CheckStore, preflight.CheckConnect, preflight.CheckAdminLogin, preflight.CheckAdminCommands,
		preflight.CheckRegistration, preflight.LoudOpenRegistration,
		"http.trusted_proxies", "onion.state_dir", "hidden_service", "LoadCredential", "DynamicUser",
		"## 3. Install with Docker Compose", "## 4. Install the binary with systemd", "## 8. Several portal instances with Redis",
		"## 9. The onion service", "## 10. Privacy", "## 11. Backups", "## 12. Upgrading",
		"deploy/logrotate/prosody", "/etc/prosody/prosody.env", "sites-enabled/default", "/readyz", "metrics.listen",
		"PORTAL_STORE_URL_FILE", "site.privacy_file", "site.imprint_url", "portal.previous", "OnCalendar=", "MaxRetentionSec",
	} {
		if !strings.Contains(guide, want) {
			t.Errorf("docs/operators.md does not mention %q", want)
		}
	}
}
