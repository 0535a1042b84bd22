package onion_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// hangLimit bounds every wait of these tests for tor or for Run (a state, a
// return after cancel, a process gone). Each wait ends as soon as what it
// waits for happens: an offline tor starts and is added in well under a
// second idle, so only a hang reaches the limit.
const hangLimit = 3 * time.Minute

// stateLog records every state change of a Service, in order.
type stateLog struct {
	mu     sync.Mutex
	states []string
	errs   []error
	ch     chan struct{}
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan struct{}, 1000)} }

func (l *stateLog) on(state string, err error) {
	l.mu.Lock()
	l.states = append(l.states, state)
	l.errs = append(l.errs, err)
	l.mu.Unlock()
	l.ch <- struct{}{}
}

// waitFor waits until state has been entered n times in total and returns
// the error recorded with its n-th entry.
func (l *stateLog) waitFor(t *testing.T, state string, n int) error {
	t.Helper()
	timeout := time.After(hangLimit)
	for {
		l.mu.Lock()
		seen := 0
		for i, s := range l.states {
			if s == state {
				seen++
				if seen == n {
					err := l.errs[i]
					l.mu.Unlock()
					return err
				}
			}
		}
		all := strings.Join(l.states, " → ")
		l.mu.Unlock()
		select {
		case <-l.ch:
		case <-timeout:
			t.Fatalf("state %q not entered %d times within %v; states: %s", state, n, hangLimit, all)
		}
	}
}

// running is a Service with Run going and HTTP served on its listener.
type running struct {
	svc    *onion.Service
	states *stateLog
	logs   *testenv.LockedBuffer
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, cfg onion.Config) *running {
	t.Helper()
	r := &running{states: newStateLog(), logs: &testenv.LockedBuffer{}, done: make(chan struct{})}
	cfg.OnState = r.states.on
	cfg.Log = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := onion.New(cfg)
	if err != nil {
		t.Fatalf("onion.New: %v", err)
	}
	r.svc = svc
	ln, err := svc.Listen()
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, "hello through "+svc.Address())
	})}
	go hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if err := svc.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		r.stop(t)
		hs.Close()
		svc.Close()
		if t.Failed() {
			t.Logf("service log:\n%s", r.logs.String())
		}
	})
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(hangLimit):
		t.Fatalf("Run did not return within %v after cancel", hangLimit)
	}
}

// get fetches / through the service's local listener, as tor would.
func (r *running) get(t *testing.T) string {
	t.Helper()
	ln, _ := r.svc.Listen()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("GET through the local listener: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// assertListed checks that the service's tor runs the service: in launch
// mode from its torrc (HiddenServiceDir is the key directory), in control
// mode as added over the connection (onions/current).
func assertListed(t *testing.T, svc *onion.Service, cfg onion.Config) {
	t.Helper()
	if cfg.Mode == onion.ModeLaunch {
		dirs, err := svc.GetConf("HiddenServiceDir")
		if err != nil || !strings.Contains(dirs, cfg.KeyDir()) {
			t.Fatalf("GETCONF HiddenServiceDir = %q, %v; want %s", dirs, err, cfg.KeyDir())
		}
		return
	}
	cur, err := svc.GetInfo("onions/current")
	if err != nil {
		t.Fatalf("GETINFO onions/current: %v", err)
	}
	if !strings.Contains(cur, svc.Key().ServiceID()) {
		t.Fatalf("onions/current = %q, want %s", cur, svc.Key().ServiceID())
	}
}

func processGone(pid int) bool {
	deadline := time.Now().Add(hangLimit)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// offlineTorrc keeps a launched tor off the network.
func offlineTorrc(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "offline.torrc")
	if err := os.WriteFile(p, []byte("DisableNetwork 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLaunchOffline: launch mode with the network disabled. The service is
// added with the persisted key, tor lists it, the address is the one
// computed from the key, connections arrive on the local listener; a tor
// that dies is replaced; a restart publishes the same address; shutdown
// stops tor.
func TestLaunchOffline(t *testing.T) {
	torPath := testenv.TorBinary(t)
	state := t.TempDir()
	cfg := onion.Config{Mode: onion.ModeLaunch, StateDir: state, TorPath: torPath, TorrcExtra: offlineTorrc(t),
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Defenses: onion.Defenses{PoW: true, PoWQueueRate: 25, PoWQueueBurst: 250, IntroDoS: true, IntroDoSRate: 25, IntroDoSBurst: 200, ExportCircuitID: true}}

	begin := time.Now()
	r := start(t, cfg)
	if err := r.states.waitFor(t, onion.StateAnnouncing, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("tor started and service added in %v", time.Since(begin).Round(time.Millisecond))
	key, err := onion.LoadKey(cfg.KeyDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := r.svc.Address()
	if addr != key.Address() {
		t.Fatalf("service address %s, key says %s", addr, key.Address())
	}
	assertListed(t, r.svc, cfg)
	// tor took the defences of the torrc.
	for key, want := range map[string]string{
		"HiddenServicePoWDefensesEnabled": "1", "HiddenServicePoWQueueRate": "25", "HiddenServicePoWQueueBurst": "250",
		"HiddenServiceEnableIntroDoSDefense": "1", "HiddenServiceEnableIntroDoSRatePerSec": "25",
		"HiddenServiceEnableIntroDoSBurstPerSec": "200", "HiddenServiceExportCircuitID": "haproxy",
	} {
		if got, err := r.svc.GetConf(key); err != nil || got != want {
			t.Errorf("GETCONF %s = %q, %v; want %q", key, got, err, want)
		}
	}
	if !r.svc.CircuitIDs() {
		t.Error("CircuitIDs false in launch mode with ExportCircuitID")
	}
	session := r.svc.Session()
	if len(session) != 16 {
		t.Errorf("tor session id %x", session)
	}
	if net, err := r.svc.GetInfo("network-liveness"); err != nil || net != "down" {
		t.Errorf("network-liveness = %q, %v (DisableNetwork from the extra torrc not applied?)", net, err)
	}
	if got := r.get(t); got != "hello through "+addr {
		t.Fatalf("through the local listener: %q", got)
	}
	if st := r.svc.State(); st != onion.StateAnnouncing {
		t.Errorf("state %s, want %s while offline", st, onion.StateAnnouncing)
	}

	// tor dies: the failure is reported, a new tor is started, the
	// listener stays the same.
	pid := r.svc.TorPID()
	if pid == 0 {
		t.Fatal("no tor pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := r.states.waitFor(t, onion.StateRetrying, 1); err == nil || !strings.Contains(err.Error(), "tor") {
		t.Errorf("retrying without a tor error: %v", err)
	}
	if err := r.states.waitFor(t, onion.StateAnnouncing, 2); err != nil {
		t.Fatal(err)
	}
	if p2 := r.svc.TorPID(); p2 == 0 || p2 == pid {
		t.Errorf("tor pid after restart %d (before %d)", p2, pid)
	}
	assertListed(t, r.svc, cfg)
	if s2 := r.svc.Session(); len(s2) != 16 || string(s2) == string(session) {
		t.Errorf("tor session id after the restart %x, before %x: circuit ids of two tors would mix", s2, session)
	}
	if got := r.get(t); got != "hello through "+addr {
		t.Fatalf("after the tor restart: %q", got)
	}
	if !strings.Contains(r.logs.String(), "onion.failed") {
		t.Error("the tor failure was not logged")
	}

	// Shutdown: Run returns, tor is gone.
	pid = r.svc.TorPID()
	r.stop(t)
	if st := r.svc.State(); st != onion.StateStopped {
		t.Errorf("state after stop: %s", st)
	}
	if !processGone(pid) {
		t.Errorf("tor (pid %d) still runs after shutdown", pid)
	}
	r.svc.Close()

	// Nothing piles up in tor's data directory over the starts.
	for _, pat := range []string{"torrc-*", "control-port-*"} {
		if m, _ := filepath.Glob(filepath.Join(cfg.DataDir(), pat)); len(m) > 1 {
			t.Errorf("%d files %s in the data directory", len(m), pat)
		}
	}
	torrc, _ := os.ReadFile(cfg.TorrcPath())
	ln, _ := r.svc.Listen()
	for _, want := range []string{"%include " + cfg.TorrcExtra + "\n", "SocksPort 0\n", "HiddenServiceDir " + cfg.KeyDir() + "\n",
		"HiddenServicePort 80 " + ln.Addr().String() + "\n", "HiddenServiceExportCircuitID haproxy\n", "HiddenServicePoWDefensesEnabled 1\n"} {
		if !strings.Contains(string(torrc), want) {
			t.Errorf("generated torrc lacks %q:\n%s", want, torrc)
		}
	}
	if strings.Index(string(torrc), "%include") > strings.Index(string(torrc), "HiddenServiceDir") {
		t.Errorf("the included torrc comes after the service: its HiddenService lines would attach to it\n%s", torrc)
	}

	// A restart publishes the same address.
	r2 := start(t, cfg)
	if err := r2.states.waitFor(t, onion.StateAnnouncing, 1); err != nil {
		t.Fatal(err)
	}
	if r2.svc.Address() != addr {
		t.Fatalf("address after restart %s, before %s", r2.svc.Address(), addr)
	}
	assertListed(t, r2.svc, cfg)
	t.Logf("whole test %v", time.Since(begin).Round(time.Millisecond))
}

// TestLaunchWithoutTor: a missing tor binary is a retried failure, not a
// crash, and Run still stops on cancel.
func TestLaunchWithoutTor(t *testing.T) {
	r := start(t, onion.Config{StateDir: t.TempDir(), TorPath: filepath.Join(t.TempDir(), "no-such-tor"),
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	err := r.states.waitFor(t, onion.StateRetrying, 2)
	if err == nil || !strings.Contains(err.Error(), "no-such-tor") {
		t.Errorf("retrying error %v, want one naming the tor path", err)
	}
	r.stop(t)
	if st := r.svc.State(); st != onion.StateStopped {
		t.Errorf("state %s", st)
	}
}

// TestControlMode attaches to a separately started tor (a stand-in for the
// system tor) through its ControlSocket with cookie authentication, and
// through its ControlPort with a password. The shared tor keeps running when
// the portal lets go, and the service goes with the connection.
func TestControlMode(t *testing.T) {
	const pw = "control password 1"
	x := testenv.StartTor(t, testenv.TorOptions{ControlPassword: pw})
	tests := []struct {
		name    string
		cfg     onion.Config
		wantErr string
	}{
		{"socket and cookie", onion.Config{ControlAddr: "unix:" + x.ControlSocket}, ""},
		{"socket path and cookie file", onion.Config{ControlAddr: x.ControlSocket, CookieFile: x.CookieFile}, ""},
		{"port and password", onion.Config{ControlAddr: x.ControlAddr, ControlPassword: pw}, ""},
		{"port and wrong password", onion.Config{ControlAddr: x.ControlAddr, ControlPassword: "wrong"}, "password refused"},
		{"wrong cookie file", onion.Config{ControlAddr: x.ControlSocket, CookieFile: filepath.Join(t.TempDir(), "nope")}, "cookie file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !x.Alive() {
				t.Fatal("the shared tor is gone")
			}
			cfg := tc.cfg
			cfg.Mode, cfg.StateDir = onion.ModeControl, t.TempDir()
			cfg.Defenses = onion.Defenses{PoW: true, PoWQueueRate: 5, PoWQueueBurst: 50, IntroDoS: true, IntroDoSRate: 1, IntroDoSBurst: 1, ExportCircuitID: true}
			cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 20*time.Millisecond
			r := start(t, cfg)
			if tc.wantErr != "" {
				if err := r.states.waitFor(t, onion.StateRetrying, 1); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err := r.states.waitFor(t, onion.StateAnnouncing, 1); err != nil {
				t.Fatal(err)
			}
			assertListed(t, r.svc, cfg)
			// ADD_ONION takes proof of work; intro rate limits and
			// circuit ids are launch mode's.
			if l := r.logs.String(); !strings.Contains(l, "onion.added") || !strings.Contains(l, "pow=true") ||
				!strings.Contains(l, "intro_dos=false") || !strings.Contains(l, "circuit_ids=false") {
				t.Errorf("log of the added service:\n%s", l)
			}
			if r.svc.CircuitIDs() {
				t.Error("CircuitIDs in control mode")
			}
			if got := r.get(t); got != "hello through "+r.svc.Address() {
				t.Fatalf("through the local listener: %q", got)
			}
			r.stop(t)
			if !x.Alive() {
				t.Fatal("the shared tor was stopped with the portal")
			}
			if r.svc.TorPID() != 0 {
				t.Error("control mode reports a tor pid")
			}
		})
	}
	if !x.Alive() {
		t.Fatal("the shared tor died")
	}
}

// TestKeyInteropWithTor: tor itself, given a copy of the key directory as
// HiddenServiceDir with the derived files removed, derives the same public
// key and hostname: the key really is in tor's format.
func TestKeyInteropWithTor(t *testing.T) {
	torPath := testenv.TorBinary(t)
	dir := t.TempDir()
	hs := filepath.Join(dir, "hs")
	key, _, err := onion.LoadOrCreateKey(filepath.Join(dir, "orig"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(hs, 0o700); err != nil {
		t.Fatal(err)
	}
	sec, _ := os.ReadFile(filepath.Join(dir, "orig", onion.SecretKeyFile))
	pub, _ := os.ReadFile(filepath.Join(dir, "orig", onion.PublicKeyFile))
	os.WriteFile(filepath.Join(hs, onion.SecretKeyFile), sec, 0o600)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, torPath, "--ignore-missing-torrc", "-f", "/dev/null", "--DataDirectory", data,
		"--DisableNetwork", "1", "--SocksPort", "0", "--HiddenServiceDir", hs, "--HiddenServicePort", "80 127.0.0.1:9",
		"--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for {
		host, err := os.ReadFile(filepath.Join(hs, onion.HostnameFile))
		if err == nil && len(host) > 0 {
			if string(host) != key.Address()+"\n" {
				t.Fatalf("tor's hostname %q, ours %q", host, key.Address())
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("tor wrote no hostname")
		}
		time.Sleep(20 * time.Millisecond)
	}
	torPub, _ := os.ReadFile(filepath.Join(hs, onion.PublicKeyFile))
	if !bytes.Equal(torPub, pub) {
		t.Errorf("tor's public key file differs from ours")
	}
}
