package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// BuildPortal builds ./cmd/portal of the repository at root into dir and
// returns the binary's path.
func BuildPortal(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "portal")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/portal")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/portal: %v\n%s", err, out)
	}
	return bin, nil
}

// PortalProcess is the portal binary running as its own process.
type PortalProcess struct {
	URL string // http://127.0.0.1:port
	// Startup is the time from starting the process to the first page
	// served (a 200 answer to GET /).
	Startup time.Duration
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartPortal starts the portal binary with env (PORTAL_* settings; the
// listen address is chosen here) and its log in logPath, and returns once
// it has served its home page.
func StartPortal(ctx context.Context, bin string, env []string, logPath string) (*PortalProcess, error) {
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append([]string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Dir(logPath)}, env...), "PORTAL_LISTEN="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &PortalProcess{URL: "http://" + addr, cmd: cmd, exited: make(chan struct{}), log: logf}
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { cmd.Wait(); close(p.exited) }()
	deadline := start.Add(30 * time.Second)
	for {
		resp, err := client.Get(p.URL + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.Startup = time.Since(start)
				client.CloseIdleConnections()
				return p, nil
			}
		}
		select {
		case <-p.exited:
			logf.Close()
			return nil, fmt.Errorf("portal exited during start-up (log: %s)", logPath)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("portal did not serve its home page within 30 s")
		}
	}
}

// PID returns the portal's process id.
func (p *PortalProcess) PID() int { return p.cmd.Process.Pid }

// Stop ends the portal (SIGTERM, SIGKILL after 10 s) and waits for it.
func (p *PortalProcess) Stop() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	p.log.Close()
}
