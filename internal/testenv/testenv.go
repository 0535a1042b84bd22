package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Provisioning modes a server can be configured for.
const (
	ModeAdmin = "admin" // public IBR closed; accounts via XEP-0133 add-user
	ModeIBR   = "ibr"   // IBR open to the portal's address (127.0.0.1) only
)

// Options select the server configuration.
type Options struct {
	// Mode is ModeAdmin (default) or ModeIBR.
	Mode string
	// PasswordStrength is ejabberd's mod_register password_strength (entropy
	// bits; 0 = off). Prosody 0.12 has no password policy and ignores it.
	PasswordStrength int
	// Domain is the XMPP domain; default "localhost".
	Domain string
	// LogLevel is the server's log level; default "info".
	LogLevel string
	// ProsodyConfigTail is Lua appended to Prosody's copy of the shipped
	// configuration (Prosody only; e.g. a VirtualHost section with a storage
	// option). The copy is the shipped file byte for byte, then this text.
	ProsodyConfigTail string
}

func (o Options) withDefaults() (Options, error) {
	if o.Mode == "" {
		o.Mode = ModeAdmin
	}
	if o.Mode != ModeAdmin && o.Mode != ModeIBR {
		return o, fmt.Errorf("testenv: unknown mode %q", o.Mode)
	}
	if o.Domain == "" {
		o.Domain = "localhost"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.PasswordStrength < 0 {
		return o, errors.New("testenv: negative PasswordStrength")
	}
	return o, nil
}

// Server is a running XMPP server started for one test.
// It is stopped (by PID) when the test ends, whether it passed or not.
type Server struct {
	Name          string         // "prosody" or "ejabberd"
	Mode          string         // ModeAdmin or ModeIBR
	Domain        string         // XMPP domain
	Addr          string         // 127.0.0.1:port of the c2s (STARTTLS) listener
	HTTPAddr      string         // 127.0.0.1:port of the HTTP listener (uploads)
	CAPool        *x509.CertPool // trusts the server certificate
	TLS           *tls.Config    // RootCAs CAPool, ServerName Domain
	AdminJID      jid.JID        // the portal's admin account (exists in both modes)
	AdminPassword string
	Dir           string // the server's private directory
	ConfigSource  string // the file under deploy/ the configuration came from

	t            testing.TB
	logFile      string
	pidFile      string // server-written pid file (ejabberd: the Erlang VM)
	readyTimeout time.Duration
	newCmd       func() *exec.Cmd
	errorMarker  string // a log line containing it fails the start
	readyMarker  string // a log line containing it means the c2s port is ours

	tools serverTools // the server's own command-line tools (tools.go)

	mu       sync.Mutex
	admin    *xmpp.Admin // the session Admin keeps (servers.go)
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	cleaned  bool
	tempRoot string
}

// XMPPTimeout is the timeout of XMPP returns: a hang limit, not a
// measurement. With both cores of a test machine busy, an ejabberd login
// took over 5 s; a test that needs a short timeout (to see one expire) sets
// its own.
const XMPPTimeout = time.Minute

// XMPP returns the client configuration for this server.
func (s *Server) XMPP() xmpp.Config {
	return xmpp.Config{
		Domain:  s.Domain,
		Addr:    s.Addr,
		TLS:     s.TLS.Clone(),
		Timeout: XMPPTimeout,
	}
}

// PID returns the process id of the running server (the Erlang VM for
// ejabberd), or 0 if it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pidLocked()
}

func (s *Server) pidLocked() int {
	if s.cmd == nil {
		return 0
	}
	if s.pidFile != "" {
		if b, err := os.ReadFile(s.pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
	}
	return s.cmd.Process.Pid
}

// Stop stops the server gracefully (SIGTERM; SIGKILL after 10 s) and waits
// for all its processes to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.stop(syscall.SIGTERM, 10*time.Second)
}

// Kill stops the server at once (SIGKILL to its whole process group), for
// fault tests. Data on disk stays in Dir for Restart; writes the server had
// not flushed are lost (ejabberd's dets tables may lose recent accounts).
func (s *Server) Kill() {
	s.t.Helper()
	s.stop(syscall.SIGKILL, 0)
}

// Restart stops the server if it runs and starts it again on the same ports
// with the same data. It fails the test if the server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("testenv: restarting %s: %v\n%s", s.Name, err, s.logTail())
	}
}

func (s *Server) stop(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	pid := s.pidLocked()
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid // started with Setpgid: the group id is the launcher's pid
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	} else {
		// For ejabberd pid is the Erlang VM; its launcher script exits once
		// the VM is gone.
		_ = syscall.Kill(pid, sig)
	}
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			s.t.Errorf("testenv: %s (pid %d) did not exit after SIGKILL", s.Name, pid)
		}
	}
	// Whatever is left of the group (helpers such as erl_child_setup).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGone(pid, 5*time.Second)
	if s.pidFile != "" {
		_ = os.Remove(s.pidFile)
	}
}

// waitGone waits until no process has pid (it may not be our child).
func waitGone(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start launches the server and waits until it is ready: its log says the
// c2s listener on our port is active (when the log level shows it) and the
// port accepts connections. A connect alone is not enough: another process
// may hold the port. An error line in the log fails the start at once.
func (s *Server) start() error {
	var logOffset int64
	if st, err := os.Stat(s.logFile); err == nil {
		logOffset = st.Size()
	}
	if err := s.launch(logOffset); err != nil {
		return err
	}
	return s.checkLog(logOffset)
}

// newLog returns what the server logged since offset.
func (s *Server) newLog(offset int64) string {
	if s.logFile == "" {
		return ""
	}
	data, err := os.ReadFile(s.logFile)
	if err != nil || int64(len(data)) < offset {
		return ""
	}
	return string(data[offset:])
}

// checkLog fails if the log written since offset has an error line: a
// shipped config must start cleanly.
func (s *Server) checkLog(offset int64) error {
	if s.errorMarker == "" {
		return nil
	}
	for _, line := range strings.Split(s.newLog(offset), "\n") {
		if strings.Contains(line, s.errorMarker) {
			return fmt.Errorf("%s logged an error during startup: %s", s.Name, line)
		}
	}
	return nil
}

func (s *Server) launch(logOffset int64) error {
	cmd := s.newCmd()
	out, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	deadline := time.Now().Add(s.readyTimeout)
	for {
		if err := s.checkLog(logOffset); err != nil {
			s.stop(syscall.SIGKILL, 0)
			return err
		}
		if s.readyMarker == "" || strings.Contains(s.newLog(logOffset), s.readyMarker) {
			c, err := net.DialTimeout("tcp", s.Addr, time.Second)
			if err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-exited:
			s.mu.Lock()
			werr := s.waitErr
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("%s exited during startup: %v", s.Name, werr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(syscall.SIGKILL, 0)
			return fmt.Errorf("%s not ready on %s after %v", s.Name, s.Addr, s.readyTimeout)
		}
	}
}

// cleanup stops the server and removes its directory; registered with
// t.Cleanup, so it also runs when the test failed.
func (s *Server) cleanup() {
	s.mu.Lock()
	done := s.cleaned
	s.cleaned = true
	s.mu.Unlock()
	if done {
		return
	}
	failed := s.t.Failed()
	if failed && s.logFile != "" {
		s.t.Logf("testenv: last lines of the %s log (%s):\n%s", s.Name, s.logFile, s.logTail())
	}
	s.closeAdmin()
	s.stop(syscall.SIGTERM, 10*time.Second)
	if s.tempRoot != "" {
		if failed && os.Getenv("PORTAL_TESTENV_KEEP") != "" {
			s.t.Logf("testenv: keeping %s", s.tempRoot)
			return
		}
		_ = os.RemoveAll(s.tempRoot)
	}
}

func (s *Server) logTail() string {
	var b strings.Builder
	for _, f := range []string{s.logFile, filepath.Join(s.Dir, "stdout.log")} {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), strings.Join(lines, "\n"))
	}
	return b.String()
}

// ---- helpers shared by the Prosody and ejabberd harnesses ----

// xmppNeedBinary returns the path of the first candidate that exists, or
// skips the test (fails it when CI is set).
func xmppNeedBinary(t testing.TB, what string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if strings.ContainsRune(c, '/') {
			if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return c
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("testenv: %s not found (tried %s); install it with apt-get", what, strings.Join(candidates, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " [CI is set: failing instead of skipping]")
	}
	t.Skip(msg)
	return ""
}

// RepoRoot returns the repository root: the closest directory above the
// working directory that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// DeployFile returns the absolute path of deploy/<parts...> in the
// repository. It fails unless the file exists and, after resolving symbolic
// links, lies inside the repository's deploy directory: servers are only ever
// started from the shipped configuration.
func DeployFile(parts ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return deployFileIn(root, filepath.Join(parts...))
}

func deployFileIn(root, rel string) (string, error) {
	deploy, err := filepath.EvalSymlinks(filepath.Join(root, "deploy"))
	if err != nil {
		return "", fmt.Errorf("testenv: no deploy directory: %w", err)
	}
	p := rel
	if !filepath.IsAbs(p) {
		p = filepath.Join(deploy, rel)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("testenv: server config %s: %w", p, err)
	}
	if err := checkInside(deploy, real); err != nil {
		return "", err
	}
	if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("testenv: server config %s is not a regular file", real)
	}
	return real, nil
}

// checkInside fails unless path lies inside dir.
func checkInside(dir, path string) error {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("testenv: refusing to start a server from %s: server configs must come from %s", path, dir)
	}
	return nil
}

// serverUser is the account a server runs as.
type serverUser struct {
	name     string
	uid, gid int
	drop     bool // the tests run as root: drop privileges with setpriv
	setpriv  string
}

func xmppServerUser(t testing.TB, name string) serverUser {
	t.Helper()
	if os.Geteuid() != 0 {
		return serverUser{name: "", uid: os.Geteuid(), gid: os.Getegid()}
	}
	u, err := user.Lookup(name)
	if err != nil {
		xmppNeedBinary(t, "system user "+name+" (created by the Debian package)", "/nonexistent/"+name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	sp := xmppNeedBinary(t, "setpriv (util-linux)", "setpriv", "/usr/bin/setpriv")
	return serverUser{name: name, uid: uid, gid: gid, drop: true, setpriv: sp}
}

// command builds a command run as u.
func (u serverUser) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if u.drop {
		all := append([]string{"--reuid=" + strconv.Itoa(u.uid), "--regid=" + strconv.Itoa(u.gid), "--init-groups", "--", name}, args...)
		if ctx != nil {
			cmd = exec.CommandContext(ctx, u.setpriv, all...)
		} else {
			cmd = exec.Command(u.setpriv, all...)
		}
	} else if ctx != nil {
		cmd = exec.CommandContext(ctx, name, args...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Env = env
	return cmd
}

// xmppTempDir makes a private directory for a server, owned by its user.
// (t.TempDir is root-only when the tests run as root.)
func xmppTempDir(t testing.TB, prefix string) (root, dir string) {
	t.Helper()
	root, err := os.MkdirTemp("", "portal-"+prefix+"-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// The root stays owned by us (0711: the server user may traverse it);
	// the server's own directory below it is chowned to the server user.
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dir = filepath.Join(root, "srv")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root, dir
}

// chownTree gives everything under dir to u.
func chownTree(dir string, u serverUser) error {
	if !u.drop {
		return nil
	}
	return filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	})
}

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// Ports are picked at random below Linux's ephemeral range (32768-60999),
// so that they do not collide with ports other processes get from bind(0).
const (
	portMin = 20000
	portMax = 32700
)

// xmppFreePort returns a TCP port that is free on 127.0.0.1 now, was not
// handed out before in this process, and is not held by another test
// process: `go test ./...` runs packages as separate processes at once, and
// a server restarted on its port (a kill-and-restart test) must not find it
// taken by another package's server. Each port handed out is held with an
// flock on a file of its own under the system's temporary directory until
// this process ends (the kernel drops the lock of a process that dies, so a
// crashed run leaves nothing behind that blocks a port).
func xmppFreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := portMin + mrand.IntN(portMax-portMin)
		portMu.Lock()
		used := portUsed[port]
		portUsed[port] = true
		portMu.Unlock()
		if used || !holdPort(port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("testenv: no free port")
	return 0
}

// portLocks keeps the files whose flock holds the ports of this process.
var portLocks []*os.File

// holdPort takes the inter-process hold on port, or reports that another
// test process has it.
func holdPort(port int) bool {
	dir := filepath.Join(os.TempDir(), "portal-testenv-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no coordination possible: fall back to the probe
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return false
	}
	portMu.Lock()
	portLocks = append(portLocks, f)
	portMu.Unlock()
	return true
}

func randomSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}

// baseEnv is the environment servers run with: nothing from the test's own
// environment leaks in.
func baseEnv(home string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
	}
}

// runCtl runs a control command with a timeout and returns its output.
func runCtl(u serverUser, env []string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := u.command(ctx, env, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func newServer(t testing.TB, name string, opt Options, certs *certSet) *Server {
	return &Server{
		Name:          name,
		Mode:          opt.Mode,
		Domain:        opt.Domain,
		CAPool:        certs.Pool,
		TLS:           &tls.Config{RootCAs: certs.Pool, ServerName: opt.Domain, MinVersion: tls.VersionTLS12},
		AdminJID:      jid.MustParse("portal-admin@" + opt.Domain),
		AdminPassword: randomSecret(18),
		t:             t,
	}
}
