package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StartProsody starts Prosody for t from deploy/prosody/prosody.cfg.lua and
// returns when its c2s port accepts connections. The portal admin account
// (Server.AdminJID) is created with prosodyctl before the start, in both
// modes. Federation is off; the file is copied unchanged into the server's
// directory (Prosody runs as user prosody and may not read the checkout) and
// configured through PROSODY_* environment variables.
func StartProsody(t testing.TB, opt Options) *Server {
	t.Helper()
	skipShort(t, "Prosody")
	opt, err := opt.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	bin := xmppNeedBinary(t, "prosody", "prosody", "/usr/bin/prosody")
	ctl := xmppNeedBinary(t, "prosodyctl", "prosodyctl", "/usr/bin/prosodyctl")
	u := xmppServerUser(t, "prosody")
	src, err := DeployFile("prosody", "prosody.cfg.lua")
	if err != nil {
		t.Fatal(err)
	}
	cfgData, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certsFor(opt.Domain)
	if err != nil {
		t.Fatal(err)
	}

	s := newServer(t, "prosody", opt, certs)
	s.ConfigSource = src
	s.tempRoot, s.Dir = xmppTempDir(t, "prosody")
	t.Cleanup(s.cleanup)
	s.logFile = filepath.Join(s.Dir, "prosody.log")
	// A bound for a hang only (Prosody starts in well under a second idle).
	s.readyTimeout = 45 * time.Second
	s.errorMarker = "\terror\t"

	cfgPath := filepath.Join(s.Dir, "prosody.cfg.lua")
	certFile := filepath.Join(s.Dir, "certs", "server.crt")
	keyFile := filepath.Join(s.Dir, "certs", "server.key")
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{cfgPath, append(append([]byte(nil), cfgData...), opt.ProsodyConfigTail...), 0o644},
		{certFile, certs.CertPEM, 0o644},
		{keyFile, certs.KeyPEM, 0o600},
	} {
		if err := writeFile(f.path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The portal's Prosody modules (deploy/prosody/modules), copied as the
	// configuration is: the file is loaded from PROSODY_PORTAL_MODULES.
	if err := copyProsodyModules(filepath.Join(s.Dir, "modules")); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(s.Dir, u); err != nil {
		t.Fatal(err)
	}
	// The copy must be the shipped file, byte for byte (then the tail).
	if got, err := os.ReadFile(cfgPath); err != nil || !bytes.Equal(got, append(cfgData, opt.ProsodyConfigTail...)) {
		t.Fatalf("testenv: copy of %s differs from the original", src)
	}

	// env sets everything prosody.cfg.lua reads; ports may change between
	// start attempts.
	env := func(c2s, httpPort int) []string {
		return append(baseEnv(s.Dir),
			"PROSODY_DOMAIN="+opt.Domain,
			"PROSODY_PORTAL_MODE="+opt.Mode,
			"PROSODY_PORTAL_ADMIN="+s.AdminJID.String(),
			"PROSODY_PORTAL_IP=127.0.0.1",
			"PROSODY_INTERFACE=127.0.0.1",
			"PROSODY_C2S_PORT="+strconv.Itoa(c2s),
			"PROSODY_S2S=0",
			"PROSODY_HTTP_INTERFACE=127.0.0.1",
			"PROSODY_HTTP_PORT="+strconv.Itoa(httpPort),
			"PROSODY_UPLOAD_URL=http://127.0.0.1:"+strconv.Itoa(httpPort)+"/",
			"PROSODY_DATA_DIR="+filepath.Join(s.Dir, "data"),
			"PROSODY_PIDFILE="+filepath.Join(s.Dir, "prosody.pid"),
			"PROSODY_LOG_FILE="+s.logFile,
			"PROSODY_LOG_LEVEL="+opt.LogLevel,
			"PROSODY_CERT="+certFile,
			"PROSODY_KEY="+keyFile,
			"PROSODY_PORTAL_MODULES="+filepath.Join(s.Dir, "modules"),
		)
	}

	s.tools = serverTools{user: u, env: env(0, 0), data: filepath.Join(s.Dir, "data"), run: func(timeout time.Duration, more ...string) (string, error) {
		return runCtl(u, env(0, 0), timeout, ctl, append([]string{"--config", cfgPath}, more...)...)
	}}

	// The admin account, created offline before the start.
	out, err := runCtl(u, env(0, 0), 30*time.Second, ctl, "--config", cfgPath,
		"register", s.AdminJID.Localpart(), opt.Domain, s.AdminPassword)
	if err != nil {
		t.Fatalf("testenv: prosodyctl register: %v\n%s\n%s", err, out, s.logTail())
	}

	// A port picked as free can be taken before Prosody binds it: retry with
	// other ports.
	for attempt := 1; ; attempt++ {
		c2s, httpPort := xmppFreePort(t), xmppFreePort(t)
		s.Addr = "127.0.0.1:" + strconv.Itoa(c2s)
		s.HTTPAddr = "127.0.0.1:" + strconv.Itoa(httpPort)
		s.readyMarker = ""
		if opt.LogLevel == "info" || opt.LogLevel == "debug" {
			s.readyMarker = fmt.Sprintf("Activated service 'c2s' on [127.0.0.1]:%d", c2s)
		}
		e := env(c2s, httpPort)
		s.newCmd = func() *exec.Cmd {
			// setpriv execs prosody: the launcher's pid is Prosody's.
			return u.command(nil, e, bin, "-F", "--config", cfgPath)
		}
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 3 {
			t.Fatalf("testenv: starting prosody: %v\n%s", err, s.logTail())
		}
		t.Logf("testenv: starting prosody (attempt %d): %v; retrying with other ports", attempt, err)
	}
}
