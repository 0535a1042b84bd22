package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ejabberdBuiltinMacros are @NAME@ macros ejabberd itself expands; the
// harness leaves them alone.
var ejabberdBuiltinMacros = map[string]bool{"@HOST@": true, "@HOME@": true}

var placeholderRE = regexp.MustCompile(`@[A-Z][A-Z0-9_]*@`)

// renderTemplate replaces the @NAME@ placeholders of a deploy/ template and
// fails if one is left that is not an ejabberd macro, or if a value is not
// used by the template.
func renderTemplate(src []byte, values map[string]string, optional ...string) ([]byte, error) {
	opt := map[string]bool{}
	for _, o := range optional {
		opt[o] = true
	}
	out := src
	for k, v := range values {
		ph := []byte("@" + k + "@")
		if !bytes.Contains(out, ph) && !opt[k] {
			return nil, fmt.Errorf("testenv: template has no placeholder %s", ph)
		}
		out = bytes.ReplaceAll(out, ph, []byte(v))
	}
	for _, m := range placeholderRE.FindAll(out, -1) {
		if !ejabberdBuiltinMacros[string(m)] {
			return nil, fmt.Errorf("testenv: template placeholder %s has no value", m)
		}
	}
	return out, nil
}

// StartEjabberd starts ejabberd for t from deploy/ejabberd/ejabberd.yml
// (Mode admin) or deploy/ejabberd/ejabberd-ibr.yml (Mode ibr) plus
// deploy/ejabberd/ejabberdctl.cfg, with the placeholders replaced by test
// values, and returns when its c2s port accepts connections. The portal admin
// account (Server.AdminJID) is then created with ejabberdctl register.
//
// Each instance has a unique Erlang node name, its own cookie and HOME, and
// its distribution port on 127.0.0.1 without epmd, so several can run at once.
// Federation is refused (s2s_access: none).
func StartEjabberd(t testing.TB, opt Options) *Server {
	t.Helper()
	skipShort(t, "ejabberd")
	opt, err := opt.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ctl := xmppNeedBinary(t, "ejabberdctl", "/usr/sbin/ejabberdctl", "ejabberdctl")
	xmppNeedBinary(t, "erl (ejabberd's Erlang runtime)", "/usr/bin/erl", "erl")
	u := xmppServerUser(t, "ejabberd")
	cfgName := "ejabberd.yml"
	if opt.Mode == ModeIBR {
		cfgName = "ejabberd-ibr.yml"
	}
	src, err := DeployFile("ejabberd", cfgName)
	if err != nil {
		t.Fatal(err)
	}
	ctlSrc, err := DeployFile("ejabberd", "ejabberdctl.cfg")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certsFor(opt.Domain)
	if err != nil {
		t.Fatal(err)
	}

	s := newServer(t, "ejabberd", opt, certs)
	s.ConfigSource = src
	s.tempRoot, s.Dir = xmppTempDir(t, "ejabberd")
	t.Cleanup(s.cleanup)
	s.logFile = filepath.Join(s.Dir, "logs", "ejabberd.log")
	s.pidFile = filepath.Join(s.Dir, "ejabberd.pid")
	// ejabberd starts in 2-5 s on an idle machine but took from 20 s to over
	// 40 s with both cores busy: the bound is for a hang only.
	s.readyTimeout = 90 * time.Second
	s.errorMarker = "[error]"

	ymlSrc, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ctlCfgSrc, err := os.ReadFile(ctlSrc)
	if err != nil {
		t.Fatal(err)
	}
	node := "portaltest" + strconv.Itoa(os.Getpid()) + "x" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(randomSecret(6))) + "@localhost"
	cookie := []byte(strings.ToUpper(strings.NewReplacer("-", "A", "_", "B").Replace(randomSecret(24))))
	if !u.drop && u.uid != 0 {
		// ejabberdctl only runs as root or ejabberd: use a copy without
		// that check when the tests run as another user.
		orig, err := os.ReadFile(ctl)
		if err != nil {
			t.Fatal(err)
		}
		patched := bytes.Replace(orig, []byte("\nINSTALLUSER=ejabberd\n"), []byte("\nINSTALLUSER=\n"), 1)
		ctl = filepath.Join(s.Dir, "ejabberdctl")
		if err := writeFile(ctl, patched, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := baseEnv(s.Dir)
	args := []string{
		"--config-dir", s.Dir,
		"--config", filepath.Join(s.Dir, "ejabberd.yml"),
		"--ctl-config", filepath.Join(s.Dir, "ejabberdctl.cfg"),
		"--logs", filepath.Join(s.Dir, "logs"),
		"--spool", filepath.Join(s.Dir, "db"),
	}

	// prepare writes the configuration for one set of ports.
	prepare := func(c2s, s2s, httpPort, dist int) error {
		values := map[string]string{
			"DOMAIN":            opt.Domain,
			"ADMIN_JID":         s.AdminJID.String(),
			"LOGLEVEL":          opt.LogLevel,
			"CERTFILE":          filepath.Join(s.Dir, "certs", "server.pem"),
			"LISTEN_IP":         "127.0.0.1",
			"C2S_PORT":          strconv.Itoa(c2s),
			"S2S_PORT":          strconv.Itoa(s2s),
			"S2S_ACCESS":        "none",
			"HTTP_IP":           "127.0.0.1",
			"HTTP_PORT":         strconv.Itoa(httpPort),
			"UPLOAD_URL":        "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/upload",
			"UPLOAD_DIR":        filepath.Join(s.Dir, "upload"),
			"PASSWORD_STRENGTH": strconv.Itoa(opt.PasswordStrength),
			"PORTAL_IP":         "127.0.0.1",
		}
		var optional []string
		if opt.Mode != ModeIBR {
			optional = append(optional, "PORTAL_IP")
		}
		yml, err := renderTemplate(ymlSrc, values, optional...)
		if err != nil {
			return fmt.Errorf("%w (in %s)", err, src)
		}
		ctlCfg, err := renderTemplate(ctlCfgSrc, map[string]string{
			"NODE":      node,
			"DIST_PORT": strconv.Itoa(dist),
			"PIDFILE":   s.pidFile,
		})
		if err != nil {
			return fmt.Errorf("%w (in %s)", err, ctlSrc)
		}
		// A failed attempt may have left a half-made Mnesia database.
		if err := os.RemoveAll(filepath.Join(s.Dir, "db")); err != nil {
			return err
		}
		files := []struct {
			path string
			data []byte
			mode os.FileMode
		}{
			{filepath.Join(s.Dir, "ejabberd.yml"), yml, 0o600},
			{filepath.Join(s.Dir, "ejabberdctl.cfg"), ctlCfg, 0o600},
			{filepath.Join(s.Dir, "certs", "server.pem"), append(append([]byte{}, certs.CertPEM...), certs.KeyPEM...), 0o600},
			// Resolve names from /etc/hosts only; never ask DNS.
			{filepath.Join(s.Dir, "inetrc"), []byte("{lookup,[file,native]}.\n{host,{127,0,0,1},[\"localhost\"]}.\n"), 0o644},
			// The Erlang cookie, read from $HOME (never on the command line).
			{filepath.Join(s.Dir, ".erlang.cookie"), cookie, 0o400},
		}
		for _, f := range files {
			_ = os.Remove(f.path) // the cookie is read-only
			if err := writeFile(f.path, f.data, f.mode); err != nil {
				return err
			}
		}
		for _, d := range []string{"db", "logs", "upload"} {
			if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o700); err != nil {
				return err
			}
		}
		return chownTree(s.Dir, u)
	}

	// A port picked as free can be taken before ejabberd binds it: retry
	// with other ports.
	for attempt := 1; ; attempt++ {
		c2s, s2s, httpPort, dist := xmppFreePort(t), xmppFreePort(t), xmppFreePort(t), xmppFreePort(t)
		s.Addr = "127.0.0.1:" + strconv.Itoa(c2s)
		s.HTTPAddr = "127.0.0.1:" + strconv.Itoa(httpPort)
		s.readyMarker = ""
		if opt.LogLevel == "info" || opt.LogLevel == "debug" {
			s.readyMarker = fmt.Sprintf("Start accepting TCP connections at 127.0.0.1:%d for ejabberd_c2s", c2s)
		}
		if err := prepare(c2s, s2s, httpPort, dist); err != nil {
			t.Fatal(err)
		}
		s.newCmd = func() *exec.Cmd {
			return u.command(nil, env, ctl, append(append([]string{}, args...), "foreground")...)
		}
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("testenv: starting ejabberd: %v\n%s", err, s.logTail())
		}
		t.Logf("testenv: starting ejabberd (attempt %d): %v; retrying with other ports", attempt, err)
	}
	s.tools = serverTools{user: u, run: func(timeout time.Duration, more ...string) (string, error) {
		return runCtl(u, env, timeout, ctl, append(append([]string{}, args...), more...)...)
	}}
	out, err := runCtl(u, env, 60*time.Second, ctl, append(append([]string{}, args...),
		"register", s.AdminJID.Localpart(), opt.Domain, s.AdminPassword)...)
	if err != nil {
		t.Fatalf("testenv: ejabberdctl register: %v\n%s\n%s", err, out, s.logTail())
	}
	return s
}
