package provision

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger(level slog.Level) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// blackHole accepts connections and never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

func provisioners(cfg xmppconn.Config, log *slog.Logger) map[string]Provisioner {
	return map[string]Provisioner{
		"admin": NewAdmin(cfg, jid.MustParse("portal-admin@localhost"), "adminpw", log),
		"ibr":   NewIBR(cfg, log),
	}
}

// deadlines makes p record the length of every deadline it sets.
func deadlines(p Provisioner) func() []time.Duration {
	var mu sync.Mutex
	var got []time.Duration
	record := func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
		return context.WithTimeout(ctx, d)
	}
	switch p := p.(type) {
	case *Admin:
		p.withTimeout = record
	case *IBR:
		p.withTimeout = record
	}
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// An unreachable server makes Create fail as unavailable, by itself, and
// no check needs a bound on elapsed time that a busy machine could break:
//
//   - every deadline Create sets is the configured timeout (recorded);
//   - closed port: the timeout is the hang limit, so a Create that waited
//     for it instead of reporting the refusal shows as a timeout error;
//   - black hole (accepts, never answers): the 400 ms timeout is all that
//     can end the call, so it takes at least that long, and it must return
//     before the caller's context, which ends at the hang limit.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		addr    string
		timeout time.Duration
	}{
		{"closed port", closedAddr(t), hangLimit},
		{"black hole", blackHole(t), 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, buf := newLogger(slog.LevelInfo)
			cfg := xmppconn.Config{Domain: "localhost", Addr: tc.addr, Timeout: tc.timeout}
			for mode, p := range provisioners(cfg, log) {
				set := deadlines(p)
				ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
				start := time.Now()
				err := p.Create(ctx, "alice", "secret-password-1")
				d := time.Since(start)
				if got := set(); len(got) == 0 || slices.ContainsFunc(got, func(d time.Duration) bool { return d != tc.timeout }) {
					t.Errorf("%s: Create set deadlines %v, want only the configured %v", mode, got, tc.timeout)
				}
				if KindOf(err) != KindUnavailable {
					t.Errorf("%s: Create = %v, want KindUnavailable", mode, err)
				}
				switch {
				case ctx.Err() != nil:
					t.Errorf("%s: Create returned only at the caller's hang limit (%v), timeout %v", mode, hangLimit, tc.timeout)
				case tc.timeout == hangLimit && timedOut(err):
					t.Errorf("%s: Create waited for a timeout on a refused connection: %v", mode, err)
				case tc.timeout < hangLimit && d < tc.timeout:
					t.Errorf("%s: Create gave up after %v, before its %v timeout, on a server that was only silent: %v", mode, d, tc.timeout, err)
				}
				cancel()
				p.Close()
			}
			logs := buf.String()
			for _, secret := range []string{"alice", "secret-password-1", "adminpw", "127.0.0.1"} {
				if strings.Contains(logs, secret) {
					t.Errorf("log contains %q:\n%s", secret, logs)
				}
			}
			if !strings.Contains(logs, `"msg":"account.create_failed"`) || !strings.Contains(logs, `"kind":"unavailable"`) {
				t.Errorf("log lacks the failure event:\n%s", logs)
			}
		})
	}
}

func TestAdminBackoff(t *testing.T) {
	t.Parallel()
	cfg := xmppconn.Config{Domain: "localhost", Addr: closedAddr(t), Timeout: time.Second}
	a := NewAdmin(cfg, jid.MustParse("portal-admin@localhost"), "pw", nil)
	defer a.Close()
	for i := 0; i < 6; i++ {
		a.Create(context.Background(), "u", "p") // builds up failures
		a.mu.Lock()
		a.nextTry = time.Time{} // skip the wait, keep the count
		a.mu.Unlock()
	}
	a.Create(context.Background(), "u", "p")
	// Hold the backoff for an hour, so that no stall of this machine can
	// end it before the calls below (backoff's lengths are TestBackoffBounds').
	a.mu.Lock()
	a.nextTry = time.Now().Add(time.Hour)
	a.mu.Unlock()
	// Now a short deadline cannot wait for the backoff: fail fast. Exact,
	// without a clock: the refusal that does not wait is errBackoff; a call
	// that waited would end with its context's error instead.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.Create(ctx, "u", "p"); KindOf(err) != KindUnavailable || !errors.Is(err, errBackoff) {
		t.Errorf("Create during backoff = %v, want the backoff refusal", err)
	}
	if err := a.Check(ctx); KindOf(err) != KindUnavailable || !errors.Is(err, errBackoff) {
		t.Errorf("Check during backoff = %v, want the backoff refusal", err)
	}
}

// timedOut reports whether err comes from a deadline: a context's or a
// socket's.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func TestBackoffBounds(t *testing.T) {
	for n := 0; n < 100; n++ {
		d := backoff(n, 200*time.Millisecond, 10*time.Second)
		exp := 200 * time.Millisecond
		for i := 1; i < n && exp < 10*time.Second; i++ {
			exp *= 2
		}
		if exp > 10*time.Second {
			exp = 10 * time.Second
		}
		if d < exp/2 || d > exp {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", n, d, exp/2, exp)
		}
	}
}

func TestInputRefusedLocally(t *testing.T) {
	t.Parallel()
	// Nothing listens: these must fail before any connection is tried.
	cfg := xmppconn.Config{Domain: "localhost", Addr: closedAddr(t), Timeout: time.Second}
	a := NewAdmin(cfg, jid.MustParse("portal-admin@localhost"), "pw", nil)
	for _, c := range []struct {
		user, pw string
		kind     Kind
	}{
		{"bad user", "pw", KindInvalidName},
		{"bad@user", "pw", KindInvalidName},
		{"", "pw", KindInvalidName},
		{strings.Repeat("a", 1100), "pw", KindInvalidName},
		{"good", "", KindPasswordPolicy},
	} {
		if err := a.Create(context.Background(), c.user, c.pw); KindOf(err) != c.kind {
			t.Errorf("admin Create(%.10q, %q) = %v, want %s", c.user, c.pw, err, c.kind)
		}
	}
	if err := NewIBR(cfg, nil).Create(context.Background(), "good", ""); KindOf(err) != KindPasswordPolicy {
		t.Errorf("ibr empty password = %v", err)
	}
	a.Close()
	if err := a.Create(context.Background(), "good", "pw"); KindOf(err) != KindUnavailable {
		t.Errorf("Create after Close = %v", err)
	}
}
