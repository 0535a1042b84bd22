package provision

import (
	"bytes"
	"context"
	"log/slog"
	"net"
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

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	for name, addr := range map[string]string{"closed port": closedAddr(t), "black hole": blackHole(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log, buf := newLogger(slog.LevelInfo)
			cfg := xmppconn.Config{Domain: "localhost", Addr: addr, Timeout: 400 * time.Millisecond}
			for mode, p := range provisioners(cfg, log) {
				start := time.Now()
				err := p.Create(context.Background(), "alice", "secret-password-1")
				if KindOf(err) != KindUnavailable {
					t.Errorf("%s: Create = %v, want KindUnavailable", mode, err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: Create took %v with a 400 ms timeout", mode, d)
				}
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
	// Now a short deadline cannot wait for the backoff: fail fast.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := a.Create(ctx, "u", "p")
	if KindOf(err) != KindUnavailable || time.Since(start) > 40*time.Millisecond {
		t.Errorf("Create during backoff = %v after %v", err, time.Since(start))
	}
	if err := a.Check(ctx); KindOf(err) != KindUnavailable {
		t.Errorf("Check = %v", err)
	}
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
