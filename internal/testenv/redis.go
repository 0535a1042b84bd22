package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisReadyTimeout bounds the wait for a started redis-server to answer PING.
const redisReadyTimeout = 10 * time.Second

// Redis is a redis-server started for one test: loopback only, a free port,
// its own temporary directory, no persistence. It is stopped (by PID) when the
// test ends, whether it passed or not.
type Redis struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	// set by the cluster and sentinel variants
	query     string                 // URL query, e.g. "cluster=true"
	confFile  func() (string, error) // writes a config file passed first (sentinel)
	extraArgs []string
	ready     func() error // extra readiness check after PING

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when proc has been reaped
	starts int
}

// StartRedis starts a redis-server for t and returns when it answers PING.
//
// The binary is "redis-server" from PATH, or the file named by the environment
// variable PORTAL_REDIS_SERVER. When it is missing the test is skipped, or
// fails when the environment variable CI is set (CI must not silently skip).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := newRedis(t)
	r.startFirst()
	return r
}

// StartRedisCluster starts a one-node Redis Cluster (cluster mode, all 16384
// slots on this node), enough to run the portal's Redis client in Cluster
// mode. Its URL has "?cluster=true".
func StartRedisCluster(t testing.TB) *Redis {
	t.Helper()
	r := newRedis(t)
	r.query = "cluster=true"
	r.extraArgs = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}
	r.ready = r.clusterReady
	r.startFirst()
	return r
}

// StartRedisSentinel starts a Sentinel watching master under masterName.
// Its URL (the sentinel's address with "?master_name=...") makes the portal's
// client ask the sentinel for the master. Kill the master and the sentinel
// will not promote anything (there is no replica): it is for configuration
// tests, not failover.
func StartRedisSentinel(t testing.TB, master *Redis, masterName string) *Redis {
	t.Helper()
	r := newRedis(t)
	r.query = "master_name=" + masterName
	r.confFile = func() (string, error) {
		path := filepath.Join(r.dir, "sentinel.conf")
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode yes\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
			r.port, r.dir, masterName, master.Port(), masterName)
		return path, os.WriteFile(path, []byte(conf), 0o600)
	}
	r.extraArgs = []string{"--sentinel"}
	r.ready = func() error {
		got, err := redisCommand(r.Addr(), "SENTINEL get-master-addr-by-name "+masterName)
		if err != nil || !strings.HasPrefix(got, "*2") {
			return fmt.Errorf("sentinel does not know master %q yet: %q %v", masterName, got, err)
		}
		return nil
	}
	r.startFirst()
	return r
}

func newRedis(t testing.TB) *Redis {
	t.Helper()
	skipShort(t, "redis-server")
	bin := os.Getenv("PORTAL_REDIS_SERVER")
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		msg := fmt.Sprintf("testenv: %s not found (install it with `apt-get install redis-server` or set PORTAL_REDIS_SERVER): %v", bin, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " [CI is set: failing instead of skipping]")
		}
		t.Skip(msg)
	}
	r := &Redis{t: t, bin: path, dir: t.TempDir()}
	t.Cleanup(r.Kill)
	return r
}

// startFirst picks a free port and starts the server, failing t if it cannot.
func (r *Redis) startFirst() {
	t := r.t
	t.Helper()
	// A free port can be taken between our probe and redis' bind: retry.
	var lastErr error
	for range 5 {
		// Below the ephemeral range and held against other test processes
		// (xmppFreePort): the outage tests restart redis on this port.
		r.port = xmppFreePort(t)
		if lastErr = r.start(); lastErr == nil {
			return
		}
	}
	t.Fatalf("testenv: starting redis-server: %v", lastErr)
}

// Addr returns "127.0.0.1:port".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Port returns the TCP port; it stays the same across Restart.
func (r *Redis) Port() int { return r.port }

// URL returns "redis://127.0.0.1:port/0" (with "?cluster=true" or
// "?master_name=..." for the cluster and sentinel variants), suitable for
// store.Open("redis", ...).
func (r *Redis) URL() string {
	if r.query != "" {
		return "redis://" + r.Addr() + "?" + r.query
	}
	return "redis://" + r.Addr() + "/0"
}

// PID returns the process id of the running server, or 0 after Kill.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid
}

// Kill stops the server at once (SIGKILL) and waits for it to exit, for
// fault tests. All data is lost. Killing a stopped server does nothing.
func (r *Redis) Kill() {
	r.mu.Lock()
	p, exited := r.proc, r.exited
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		r.t.Errorf("testenv: redis-server pid %d did not exit after SIGKILL", p.Pid)
	}
}

// Restart kills the server if it runs and starts a new, empty one on the same
// port. It fails the test if the server does not come back. Call it from the
// test's goroutine.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	var err error
	// The port was just freed; give a slow kernel a few tries.
	for range 20 {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("testenv: restarting redis-server on port %d: %v", r.port, err)
}

// start runs redis-server on r.port and waits until it answers PING.
func (r *Redis) start() error {
	r.mu.Lock()
	r.starts++
	logPath := filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.starts))
	r.mu.Unlock()
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	var args []string
	if r.confFile != nil {
		conf, err := r.confFile()
		if err != nil {
			return err
		}
		args = append(args, conf)
	}
	args = append(args,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	)
	args = append(args, r.extraArgs...)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = redisSysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.mu.Lock()
	r.proc, r.exited = cmd.Process, exited
	r.mu.Unlock()

	deadline := time.Now().Add(redisReadyTimeout)
	for {
		select {
		case <-exited:
			r.mu.Lock()
			r.proc = nil
			r.mu.Unlock()
			return fmt.Errorf("redis-server exited at start: %s", redisLogTail(logPath))
		default:
		}
		if err = r.ping(); err == nil && r.ready != nil {
			err = r.ready()
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			r.Kill()
			return fmt.Errorf("redis-server not answering PING after %v (%v): %s", redisReadyTimeout, err, redisLogTail(logPath))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends PING over a fresh connection and expects +PONG.
func (r *Redis) ping() error {
	line, err := redisCommand(r.Addr(), "PING")
	if err != nil {
		return err
	}
	if line != "+PONG" {
		return errors.New("unexpected PING reply " + strconv.Quote(line))
	}
	return nil
}

// clusterReady assigns every slot to this node (once) and waits for
// cluster_state:ok (about 2s after each start).
func (r *Redis) clusterReady() error {
	got, err := redisCommand(r.Addr(), "CLUSTER ADDSLOTSRANGE 0 16383")
	if err != nil {
		return err
	}
	if got != "+OK" && !strings.Contains(got, "already busy") {
		return errors.New("CLUSTER ADDSLOTSRANGE: " + got)
	}
	// A freshly started master waits 2s (CLUSTER_WRITABLE_DELAY) before it
	// reports cluster_state:ok.
	deadline := time.Now().Add(redisReadyTimeout)
	for time.Now().Before(deadline) {
		info, err := redisCommandAll(r.Addr(), "CLUSTER INFO")
		if err != nil {
			return err
		}
		if strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("cluster_state not ok")
}

// redisCommand sends one inline command over a fresh connection and returns
// the first reply line without its CRLF.
func redisCommand(addr, cmd string) (string, error) {
	return redisExchange(addr, cmd, func(br *bufio.Reader) (string, error) {
		line, err := br.ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err
	})
}

// redisCommandAll is redisCommand for a bulk-string reply, returning its body.
func redisCommandAll(addr, cmd string) (string, error) {
	return redisExchange(addr, cmd, func(br *bufio.Reader) (string, error) {
		head, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
		if err != nil || n < 0 {
			return "", errors.New("unexpected reply " + strconv.Quote(head))
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(br, body); err != nil {
			return "", err
		}
		return string(body[:n]), nil
	})
}

// redisExchange sends cmd inline over a fresh connection (a second for the
// whole exchange) and reads the reply with read.
func redisExchange(addr, cmd string, read func(*bufio.Reader) (string, error)) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	return read(bufio.NewReader(c))
}

func redisLogTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(empty log)"
	}
	return s
}
