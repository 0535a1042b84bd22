package onion

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/process"
)

// torCreator is bine's process.Creator for a tor child whose output goes to
// the portal's log and whose Wait may be called more than once (bine's Close
// waits too).
type torCreator struct {
	path string
	out  io.Writer

	mu   sync.Mutex
	proc *torProcess
}

func (c *torCreator) New(ctx context.Context, args ...string) (process.Process, error) {
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Stdout, cmd.Stderr = c.out, c.out
	cmd.WaitDelay = 5 * time.Second
	p := &torProcess{cmd: cmd, done: make(chan struct{})}
	c.mu.Lock()
	c.proc = p
	c.mu.Unlock()
	return p, nil
}

func (c *torCreator) process() *torProcess {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

type torProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited (or never started)
	started bool
	err     error
}

func (p *torProcess) Start() error {
	if err := p.cmd.Start(); err != nil {
		p.err = err
		close(p.done)
		return err
	}
	p.started = true
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

func (p *torProcess) Wait() error {
	<-p.done
	return p.err
}

func (p *torProcess) pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill stops the process (if it was started) and waits for it.
func (p *torProcess) kill() {
	if p.started {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func (p *torProcess) EmbeddedControlConn() (net.Conn, error) {
	return nil, process.ErrControlConnUnsupported
}

// logWriter turns tor's console output (warnings and errors only: bine
// passes --hush) into log records. tor scrubs addresses from its logs
// unless SafeLogging is off.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 8192 {
		w.line(string(w.buf))
		w.buf = nil
	}
	return len(b), nil
}

// line logs one line such as "Nov 22 10:00:00.000 [warn] Something.".
func (w *logWriter) line(l string) {
	l = strings.TrimSpace(l)
	if l == "" {
		return
	}
	level := slog.LevelInfo
	if i := strings.Index(l, "["); i >= 0 {
		if j := strings.Index(l[i:], "] "); j > 0 {
			switch l[i+1 : i+j] {
			case "err":
				level = slog.LevelError
			case "warn":
				level = slog.LevelWarn
			}
			l = l[i+j+2:]
		}
	}
	w.log.Log(context.Background(), level, "onion.tor_log", "line", l)
}
