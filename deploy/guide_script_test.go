package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/config"
)

// guideSkip marks a block of the guide that the script test does not run
// (an alternative to the block before it).
const guideSkip = "<!-- guide-test: skip -->"

// guideBlocks returns the ```sh blocks of the guide's section that starts
// with heading, without their list indentation, leaving out those marked
// with guideSkip.
func guideBlocks(t *testing.T, guide, heading string) []string {
	t.Helper()
	start := strings.Index(guide, "\n"+heading)
	if start < 0 {
		t.Fatalf("docs/operators.md has no %q", heading)
	}
	sec := guide[start+1:]
	if end := strings.Index(sec[len(heading):], "\n## "); end >= 0 {
		sec = sec[:len(heading)+end]
	}
	var blocks []string
	lines := strings.Split(sec, "\n")
	prev := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		trimmed := strings.TrimLeft(l, " ")
		if trimmed != "```sh" {
			if strings.TrimSpace(l) != "" {
				prev = strings.TrimSpace(l)
			}
			continue
		}
		indent := l[:len(l)-len(trimmed)]
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.WriteString(strings.TrimPrefix(lines[i], indent))
			b.WriteByte('\n')
		}
		if prev != guideSkip {
			blocks = append(blocks, b.String())
		}
		prev = "```"
	}
	if len(blocks) == 0 {
		t.Fatalf("no sh blocks under %q", heading)
	}
	return blocks
}

// stubs are the programs the guide's script may not run for real: each
// records its arguments in $CALLS. go build writes a stand-in portal that
// records its arguments and environment; nginx -t keeps a copy of the site
// it would test; journalctl prints a preflight line.
var stubs = map[string]string{
	"apt-get":    `echo "apt-get $*" >> "$CALLS"`,
	"systemctl":  `echo "systemctl $*" >> "$CALLS"`,
	"certbot":    `echo "certbot $*" >> "$CALLS"`,
	"journalctl": `echo "journalctl $*" >> "$CALLS"; echo "level=INFO msg=preflight.ok"`,
	"prosodyctl": `echo "prosodyctl $*" >> "$CALLS"; [ "$1" != adduser ] || cat > "$ROOT/prosodyctl.stdin"`,
	"git":        `echo "git $*" >> "$CALLS"; echo v0-guide-test`,
	"nginx": `echo "nginx $*" >> "$CALLS"
n=$(ls "$ROOT"/nginx-t.* 2>/dev/null | wc -l)
cp "$ROOT/etc/nginx/sites-available/xmpp-portal" "$ROOT/nginx-t.$n"`,
	"go": `echo "go $*" >> "$CALLS"
out=portal
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
cat > "$out" <<'EOF'
#!/bin/sh
echo "portal $*" >> "$CALLS"
env > "$ROOT/portal.env.recorded"
EOF
chmod 0755 "$out"`,
}

// TestGuideBinaryScript runs section 4 of the operator guide (the binary
// with systemd) as one script in a temporary root: every absolute path of
// the guide under it, the programs that change a machine replaced by
// stand-ins. The script must run through (set -eu), and what it leaves must
// be what the files in deploy/ need: the directories before the secrets in
// them, every LoadCredential= source of the unit and its drop-ins, Prosody's
// settings file with the host that prosodyctl then uses, the nginx site
// (first the port-80 server alone, without certificate, then the snippet),
// no Debian default site, the renewal hook, and an environment for
// portal -check that is a valid configuration.
func TestGuideBinaryScript(t *testing.T) {
	root := repoRoot(t)
	sh := needTool(t, "sh")
	guide := readFile(t, root, "docs", "operators.md")
	blocks := guideBlocks(t, guide, "## 4. Install the binary with systemd")

	tmp := t.TempDir()
	fsroot := filepath.Join(tmp, "root")
	work := filepath.Join(tmp, "checkout")
	bin := filepath.Join(tmp, "bin")
	for _, d := range []string{fsroot, work, bin, filepath.Join(fsroot, "etc", "nginx", "sites-available"),
		filepath.Join(fsroot, "etc", "nginx", "sites-enabled"), filepath.Join(fsroot, "etc", "prosody"),
		filepath.Join(fsroot, "etc", "redis"), filepath.Join(fsroot, "etc", "logrotate.d"),
		filepath.Join(fsroot, "etc", "systemd", "system"), filepath.Join(fsroot, "usr", "local", "bin"),
		filepath.Join(fsroot, "var", "www")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh Debian machine: nginx's default site is enabled.
	writeFile(t, filepath.Join(fsroot, "etc", "nginx", "sites-enabled", "default"), "server { listen 80 default_server; }\n", 0o644)
	if err := os.Symlink(filepath.Join(root, "deploy"), filepath.Join(work, "deploy")); err != nil {
		t.Fatal(err)
	}
	for name, body := range stubs {
		writeFile(t, filepath.Join(bin, name), "#!/bin/sh\n"+body+"\n", 0o755)
	}

	script := "set -eu\n" + strings.Join(blocks, "")
	script = strings.NewReplacer("/etc/", fsroot+"/etc/", "/usr/local/", fsroot+"/usr/local/", "/var/", fsroot+"/var/").Replace(script)
	calls := filepath.Join(tmp, "calls.log")
	cmd := exec.Command(sh, "-c", script)
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + tmp, "CALLS=" + calls, "ROOT=" + fsroot}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the guide's commands fail: %v\n%s\nscript:\n%s", err, out, script)
	}
	callLog := readFile(t, calls)
	at := func(parts ...string) string { return filepath.Join(append([]string{fsroot}, parts...)...) }

	// Secrets: root-only, in a directory made before them.
	for _, f := range []string{"admin_password", "regulation_secret", "store_url"} {
		st, err := os.Stat(at("etc", "xmpp-portal", f))
		if err != nil {
			t.Errorf("no /etc/xmpp-portal/%s: %v", f, err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("/etc/xmpp-portal/%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	// Every credential the unit and its drop-ins load exists.
	units := []string{at("etc", "systemd", "system", "xmpp-portal.service")}
	dropins, _ := filepath.Glob(at("etc", "systemd", "system", "xmpp-portal.service.d", "*.conf"))
	units = append(units, dropins...)
	if len(dropins) == 0 {
		t.Error("no drop-in for Redis")
	}
	credRE := regexp.MustCompile(`(?m)^LoadCredential=[^:]+:(\S+)$`)
	for _, u := range units {
		for _, m := range credRE.FindAllStringSubmatch(readFile(t, u), -1) {
			src := m[1]
			if !strings.HasPrefix(src, fsroot) { // the shipped unit's own paths
				src = fsroot + src
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("%s loads %s, which the guide does not create", filepath.Base(u), m[1])
			}
		}
	}
	if readFile(t, units[0]) != readFile(t, root, "deploy", "systemd", "portal.service") {
		t.Error("the installed unit is not deploy/systemd/portal.service")
	}

	// Prosody: the shipped file, the settings file naming the host that
	// prosodyctl adduser got, the password twice on its standard input.
	if readFile(t, at("etc", "prosody", "prosody.cfg.lua")) != readFile(t, root, "deploy", "prosody", "prosody.cfg.lua") {
		t.Error("/etc/prosody/prosody.cfg.lua is not the shipped file")
	}
	settings := envFile(t, at("etc", "prosody", "prosody.env"))
	if settings["PROSODY_DOMAIN"] != "example.org" || settings["PROSODY_PORTAL_ADMIN"] != "portal-admin@example.org" {
		t.Errorf("/etc/prosody/prosody.env: %v", settings)
	}
	if !strings.Contains(callLog, "prosodyctl adduser portal-admin@example.org") {
		t.Errorf("no prosodyctl adduser for the admin account:\n%s", callLog)
	}
	pw := strings.TrimSpace(readFile(t, at("etc", "xmpp-portal", "admin_password")))
	if got := readFile(t, at("prosodyctl.stdin")); got != pw+"\n"+pw+"\n" {
		t.Errorf("prosodyctl adduser read %q on standard input, want the password twice", got)
	}
	if strings.Contains(callLog, pw) {
		t.Error("the admin password is on a command line")
	}
	if readFile(t, at("etc", "logrotate.d", "prosody")) != readFile(t, root, "deploy", "logrotate", "prosody") {
		t.Error("the logrotate file is not deploy/logrotate/prosody")
	}
	if st, err := os.Stat(at("etc", "letsencrypt", "renewal-hooks", "deploy", "prosody")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("no executable Prosody renewal hook: %v", err)
	}

	// nginx: the default site gone; the first test saw the port-80 server
	// alone (no certificate yet), the last one the whole snippet.
	if _, err := os.Lstat(at("etc", "nginx", "sites-enabled", "default")); err == nil {
		t.Error("Debian's default site (it logs every visitor's address) is still enabled")
	}
	first, last := readFile(t, at("nginx-t.0")), readFile(t, at("nginx-t.1"))
	if !strings.Contains(first, "listen 80;") || strings.Contains(first, "ssl_certificate") || strings.Count(first, "server {") != 1 {
		t.Errorf("the site for the first certificate is not the port-80 server alone:\n%s", first)
	}
	if last != readFile(t, root, "deploy", "nginx", "portal.conf") {
		t.Error("the final site is not the shipped snippet (with the example names)")
	}
	if !strings.Contains(callLog, "certbot certonly --webroot -w "+fsroot+"/var/www/letsencrypt") {
		t.Errorf("no certbot run on the snippet's webroot:\n%s", callLog)
	}

	// portal -check ran with an environment that is a valid configuration.
	if !strings.Contains(callLog, "portal -check") {
		t.Fatalf("portal -check did not run:\n%s", callLog)
	}
	env := map[string]string{}
	f, err := os.Open(at("portal.env.recorded"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	cfg, _, err := config.Load([]string{"-check"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the guide's environment for portal -check is no valid configuration: %v", err)
	}
	if cfg.Store.Driver != "redis" || cfg.XMPP.AdminPassword != pw || cfg.XMPP.Domain != "example.org" {
		t.Errorf("portal -check ran with store %q, domain %q, admin password from the file: %v", cfg.Store.Driver, cfg.XMPP.Domain, cfg.XMPP.AdminPassword == pw)
	}
}
