package deploy

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestProsodySettingsFile: prosodyctl run from a shell with nothing in its
// environment but PROSODY_ENV_FILE (as a root shell has nothing of the
// daemon's systemd environment) acts on the host and the data directory the
// settings file names, with quotes and comments as systemd's
// EnvironmentFile= reads them; the environment wins over the file.
func TestProsodySettingsFile(t *testing.T) {
	ctl := testenv.ServerBinary(t, "prosodyctl", "prosodyctl", "/usr/bin/prosodyctl")
	root := repoRoot(t)
	dir, err := os.MkdirTemp("", "prosody-settings-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	writeFile(t, cfg, readFile(t, root, "deploy", "prosody", "prosody.cfg.lua"), 0o644)
	writeFile(t, filepath.Join(dir, "prosody.env"), "# the settings of prosody.cfg.lua\n"+
		"PROSODY_DOMAIN=settings.example\n"+
		"PROSODY_DATA_DIR=\""+data+"\"\n"+
		"  PROSODY_LOG_FILE = "+filepath.Join(dir, "prosody.log")+"\n"+
		"PROSODY_PIDFILE='"+filepath.Join(dir, "prosody.pid")+"'\n"+
		"PROSODY_S2S=1\n", 0o644)
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	// prosodyctl started as root runs as the prosody user.
	if os.Geteuid() == 0 {
		if u, err := user.Lookup("prosody"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error { return os.Lchown(p, uid, gid) })
		}
	}
	run := func(extra []string, args ...string) (string, error) {
		cmd := exec.Command(ctl, append([]string{"--config", cfg}, args...)...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PROSODY_ENV_FILE=" + filepath.Join(dir, "prosody.env")}, extra...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(nil, "register", "alice", "settings.example", "a long password here"); err != nil {
		t.Fatalf("prosodyctl register on the settings file's host: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "settings%2eexample", "accounts", "alice.dat")); err != nil {
		t.Errorf("the account is not in the settings file's data directory: %v", err)
	}
	if out, err := run(nil, "register", "bob", "example.org", "a long password here"); err == nil {
		t.Errorf("prosodyctl used the default host although the settings file names another:\n%s", out)
	}
	// The environment wins (containers and the tests set it).
	if out, err := run([]string{"PROSODY_DOMAIN=env.example"}, "register", "carol", "env.example", "a long password here"); err != nil {
		t.Errorf("PROSODY_DOMAIN in the environment: %v\n%s", err, out)
	}
}
