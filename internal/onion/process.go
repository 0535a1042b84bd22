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
//
// While tor cannot reach the network it repeats its warnings ("Problem
// bootstrapping. Stuck at 5% …", "N connections have failed") several times
// a minute, with changing counts. A line is logged the first time; the same
// line (its digits and hexadecimal words aside) is then held back for
// repeatWindow and counted, and the next one after that window carries the
// count ("repeated"). One logWriter lives as long as the Service, so a tor
// restarted after a failure does not start the count again.
type logWriter struct {
	log *slog.Logger
	now func() time.Time // nil: time.Now

	mu   sync.Mutex
	buf  []byte
	seen map[string]*repeat
}

// repeat is what logWriter remembers of one kind of line.
type repeat struct {
	logged     time.Time // when it was last written
	suppressed int       // held back since then
}

// repeatWindow is how long a repeated tor line is held back; maxRepeatKeys
// bounds what is remembered (tor's warnings come in a few kinds).
const (
	repeatWindow  = 10 * time.Minute
	maxRepeatKeys = 64
)

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
	now := time.Now
	if w.now != nil {
		now = w.now
	}
	t := now()
	key := repeatKey(level, l)
	if w.seen == nil {
		w.seen = map[string]*repeat{}
	}
	r := w.seen[key]
	switch {
	case r == nil:
		if len(w.seen) >= maxRepeatKeys {
			clear(w.seen)
		}
		w.seen[key] = &repeat{logged: t}
		w.log.Log(context.Background(), level, "onion.tor_log", "line", l)
	case t.Sub(r.logged) < repeatWindow:
		r.suppressed++
	default:
		attrs := []any{"line", l}
		if r.suppressed > 0 {
			attrs = append(attrs, "repeated", r.suppressed, "within", t.Sub(r.logged).Round(time.Second).String())
		}
		r.logged, r.suppressed = t, 0
		w.log.Log(context.Background(), level, "onion.tor_log", attrs...)
	}
}

// repeatKey is a line without what changes from one repetition to the
// next: numbers (counts, percentages, ports) and hexadecimal words (relay
// fingerprints).
func repeatKey(level slog.Level, l string) string {
	var b strings.Builder
	b.WriteString(level.String())
	b.WriteByte(' ')
	for _, f := range strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == ':' || r == ',' || r == '(' || r == ')' || r == ';' }) {
		if strings.Trim(f, "0123456789.%$") == "" || (len(f) >= 8 && strings.Trim(f, "0123456789abcdefABCDEF$~=") == "") {
			f = "#"
		}
		b.WriteString(f)
		b.WriteByte(' ')
	}
	return b.String()
}
