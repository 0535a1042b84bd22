package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	// Signal 0 checks existence; a reaped child is gone.
	return syscall.Kill(pid, 0) == nil
}

func TestStartRedis(t *testing.T) {
	r := StartRedis(t)
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Errorf("URL() = %q", r.URL())
	}
	if got, err := redisCommand(r.Addr(), "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	for _, c := range []struct{ param, want string }{
		{"save", ""},
		{"appendonly", "no"},
		{"bind", "127.0.0.1"},
		{"protected-mode", "yes"},
	} {
		got, err := redisConfigGet(r.Addr(), c.param)
		if err != nil || got != c.want {
			t.Errorf("CONFIG GET %s = %q, %v; want %q", c.param, got, err, c.want)
		}
	}
	if _, err := os.Stat(r.dir); err != nil {
		t.Errorf("temp dir: %v", err)
	}
}

// redisConfigGet reads a CONFIG GET reply: *2 $n name $n value.
func redisConfigGet(addr, param string) (string, error) {
	return redisExchange(addr, "CONFIG GET "+param, func(br *bufio.Reader) (string, error) {
		var lines []string
		for range 5 {
			l, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		return lines[4], nil
	})
}

func TestStartRedisKillRestart(t *testing.T) {
	r := StartRedis(t)
	port, pid := r.Port(), r.PID()
	if got, err := redisCommand(r.Addr(), "SET k v"); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}

	r.Kill()
	if processAlive(pid) {
		t.Fatalf("pid %d still alive after Kill", pid)
	}
	if r.PID() != 0 {
		t.Errorf("PID() after Kill = %d, want 0", r.PID())
	}
	if _, err := redisCommand(r.Addr(), "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	r.Kill() // twice is fine

	r.Restart()
	if r.Port() != port {
		t.Fatalf("port changed on Restart: %d -> %d", port, r.Port())
	}
	if r.PID() == pid || r.PID() == 0 {
		t.Fatalf("PID after Restart = %d (old %d)", r.PID(), pid)
	}
	if got, err := redisCommand(r.Addr(), "GET k"); err != nil || got != "$-1" {
		t.Fatalf("GET after Restart = %q, %v; want nil (no persistence)", got, err)
	}
	// Restart while running replaces the process.
	pid2 := r.PID()
	r.Restart()
	if processAlive(pid2) {
		t.Fatalf("old pid %d alive after Restart", pid2)
	}
	if got, err := redisCommand(r.Addr(), "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING after second Restart = %q, %v", got, err)
	}
}

func TestStartRedisCleanupStopsServer(t *testing.T) {
	var pid int
	var addr string
	t.Run("inner", func(t *testing.T) {
		r := StartRedis(t)
		pid, addr = r.PID(), r.Addr()
	})
	if pid == 0 {
		t.Skip("inner test skipped")
	}
	if processAlive(pid) {
		t.Fatalf("redis-server pid %d still alive after the test's cleanup", pid)
	}
	if _, err := redisCommand(addr, "PING"); err == nil {
		t.Fatal("server still answering after cleanup")
	}
}

func TestStartRedisParallel(t *testing.T) {
	ports := make(chan int, 4)
	t.Run("group", func(t *testing.T) {
		for range 4 {
			t.Run("srv", func(t *testing.T) {
				t.Parallel()
				r := StartRedis(t)
				ports <- r.Port()
			})
		}
	})
	close(ports)
	seen := map[int]bool{}
	for p := range ports {
		if seen[p] {
			t.Fatalf("port %d used twice", p)
		}
		seen[p] = true
	}
}

// outcomeTB records Fatal and Skip instead of acting on the real test.
type outcomeTB struct {
	testing.TB
	fatal, skip string
}

func (o *outcomeTB) Fatal(args ...any) { o.fatal = fmt.Sprint(args...); runtime.Goexit() }
func (o *outcomeTB) Skip(args ...any)  { o.skip = fmt.Sprint(args...); runtime.Goexit() }

// notShort lets a test of the package see what happens without -short (it
// must not run in parallel with others).
func notShort(t *testing.T) {
	isShort = func() bool { return false }
	t.Cleanup(func() { isShort = testing.Short })
}

// Under -short every server helper skips first, whatever else holds (no
// binary, CI set): the same message for all.
func TestSkipShort(t *testing.T) {
	isShort = func() bool { return true }
	t.Cleanup(func() { isShort = testing.Short })
	t.Setenv("CI", "1")
	t.Setenv("PORTAL_REDIS_SERVER", "/nonexistent/redis-server")
	t.Setenv("PORTAL_TOR", "/nonexistent/tor")
	t.Setenv("PORTAL_TEST_CHROMIUM", "/nonexistent/chromium")
	for _, tc := range []struct {
		server string
		start  func(testing.TB)
	}{
		{"Prosody", func(t testing.TB) { StartProsody(t, Options{}) }},
		{"ejabberd", func(t testing.TB) { StartEjabberd(t, Options{}) }},
		{"redis-server", func(t testing.TB) { StartRedis(t) }},
		{"redis-server", func(t testing.TB) { StartRedisCluster(t) }},
		{"Chromium", func(t testing.TB) { StartBrowser(t) }},
		{"tor", func(t testing.TB) { TorBinary(t) }},
		{"tor", func(t testing.TB) { StartTor(t, TorOptions{}) }},
		{"tor", func(t testing.TB) { StartTorNet(t, TorNetOptions{}) }},
		{"tor", func(t testing.TB) { AttachTor(t, "x", t.TempDir(), "nothing-*") }},
		{"nginx", func(t testing.TB) { ServerBinary(t, "nginx", "/nonexistent/nginx") }},
	} {
		o := &outcomeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			tc.start(o)
		}()
		<-done
		if want := "needs " + tc.server + "; -short"; o.skip != want || o.fatal != "" {
			t.Errorf("%s: skip %q, fatal %q; want skip %q", tc.server, o.skip, o.fatal, want)
		}
	}
}

func TestStartRedisMissingBinary(t *testing.T) {
	notShort(t)
	t.Setenv("PORTAL_REDIS_SERVER", "/nonexistent/redis-server")
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{ci: "", wantFatal: false},
		{ci: "1", wantFatal: true},
		{ci: "true", wantFatal: true},
	} {
		t.Setenv("CI", tc.ci)
		o := &outcomeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			StartRedis(o)
		}()
		<-done
		switch {
		case tc.wantFatal && o.fatal == "":
			t.Errorf("CI=%q: want Fatal, got skip=%q", tc.ci, o.skip)
		case !tc.wantFatal && o.skip == "":
			t.Errorf("CI=%q: want Skip, got fatal=%q", tc.ci, o.fatal)
		}
		if msg := o.fatal + o.skip; !strings.Contains(msg, "apt-get install redis-server") {
			t.Errorf("CI=%q: message %q does not say how to install redis-server", tc.ci, msg)
		}
	}
}

func TestStartRedisCluster(t *testing.T) {
	r := StartRedisCluster(t)
	if !strings.HasSuffix(r.URL(), "?cluster=true") {
		t.Errorf("URL() = %q", r.URL())
	}
	info, err := redisCommandAll(r.Addr(), "CLUSTER INFO")
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("CLUSTER INFO = %q, %v", info, err)
	}
	r.Restart()
	if info, err := redisCommandAll(r.Addr(), "CLUSTER INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("CLUSTER INFO after Restart = %q, %v", info, err)
	}
}

func TestStartRedisSentinel(t *testing.T) {
	m := StartRedis(t)
	s := StartRedisSentinel(t, m, "portalmaster")
	if !strings.HasSuffix(s.URL(), "?master_name=portalmaster") {
		t.Errorf("URL() = %q", s.URL())
	}
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("SENTINEL get-master-addr-by-name portalmaster\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var lines []string
	for range 5 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if lines[2] != "127.0.0.1" || lines[4] != fmt.Sprint(m.Port()) {
		t.Fatalf("sentinel reports master %v, want 127.0.0.1:%d", lines, m.Port())
	}
}
