package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// serverTools run a started server's own command-line tools as its user:
// ejabberdctl (against the running node) or prosodyctl, and Prosody's
// prosody-migrator.
type serverTools struct {
	user serverUser
	env  []string
	data string // Prosody: the data directory
	run  func(timeout time.Duration, args ...string) (string, error)
}

// Ctl runs the server's control tool with args, as the server's user:
// ejabberdctl against the running node, or prosodyctl with the server's
// configuration. It fails t when the tool fails, and returns its output.
func (s *Server) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.tools.run(2*time.Minute, args...)
	if err != nil {
		t.Fatalf("testenv: %s %s: %v\n%s", s.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// TransferDir is a directory of the server's own, readable and writable by
// its user, for files its tools read or write (an import file, an
// export's output).
func (s *Server) TransferDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(s.Dir, "transfer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(dir, s.tools.user); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PutFile writes data as name into the transfer directory, owned by the
// server's user, and returns its path.
func (s *Server) PutFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(s.TransferDir(t), name)
	if err := writeFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(s.TransferDir(t), s.tools.user); err != nil {
		t.Fatal(err)
	}
	return p
}

var migratorDataDir = regexp.MustCompile(`(?m)^CFG_DATADIR=.*$`)

// ProsodyMigrator runs Prosody's prosody-migrator (Debian's
// /usr/bin/prosody-migrator) as the server's user with config, a
// migrator configuration in Lua (input and output stores), from the
// store "input" to "output". xepDir is where its XEP-0227 driver reads and
// writes user@host.xml files: Prosody 0.12's driver ignores the store's
// path and uses the data directory, which the script hard-codes
// (CFG_DATADIR), so a copy with that line changed is run, as an operator
// would. The server's own data directory is the internal store's path
// the configuration names (ProsodyDataDir).
//
// keepGoing passes --keep-going: 0.12's migrator asserts on the host-level
// pass of an archive store read from XEP-0227 files (there is no host
// user), then migrates every user's archive.
func (s *Server) ProsodyMigrator(t testing.TB, config, xepDir string, keepGoing bool) string {
	t.Helper()
	bin := ServerBinary(t, "prosody-migrator (Debian's prosody package)", "/usr/bin/prosody-migrator")
	lua := ServerBinary(t, "lua5.4 (for prosody-migrator)", "lua5.4", "/usr/bin/lua5.4")
	src, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := s.TransferDir(t)
	script := filepath.Join(dir, "prosody-migrator.lua")
	patched := migratorDataDir.ReplaceAll(src, []byte("CFG_DATADIR='"+xepDir+"';"))
	if err := writeFile(script, patched, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "migrator.cfg.lua")
	if err := writeFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(dir, s.tools.user); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(s.tools.data, s.tools.user); err != nil {
		t.Fatal(err)
	}
	args := []string{script, "--config=" + cfg, "input", "output"}
	if keepGoing {
		args = append(args[:2:2], "--keep-going", "input", "output")
	}
	out, err := runCtl(s.tools.user, s.tools.env, 2*time.Minute, lua, args...)
	if err != nil {
		t.Fatalf("testenv: prosody-migrator: %v\n%s", err, out)
	}
	return out
}

// ProsodyDataDir is the data directory of a started Prosody (its internal
// storage).
func (s *Server) ProsodyDataDir() string { return s.tools.data }
