package signup

import (
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

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

func newLogger(level slog.Level) (*slog.Logger, *testenv.LockedBuffer) {
	buf := &testenv.LockedBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

// mode is one way of creating accounts, with what its test needs.
type mode struct {
	Creator
	// withTimeout is the hook through which the mode sets every deadline:
	// the admin session's (Create's own deadline included) or the IBR's.
	withTimeout *func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	close       func() // closes what the mode's owner would (the admin session)
}

// modes returns both modes for the server of cfg: admin (on an admin
// session of its own) and ibr.
func modes(cfg xmpp.Config, log *slog.Logger) map[string]mode {
	xa := xmpp.NewAdmin(cfg, jid.MustParse("portal-admin@localhost"), "adminpw", log)
	ibr := NewIBR(cfg, log)
	return map[string]mode{
		"admin": {NewAdmin(xa, log), &xa.WithTimeout, func() { xa.Close() }},
		"ibr":   {ibr, &ibr.WithTimeout, func() {}},
	}
}

// record replaces the WithTimeout hook at hook with one that records the
// length of every deadline set.
func record(hook *func(context.Context, time.Duration) (context.Context, context.CancelFunc)) func() []time.Duration {
	var mu sync.Mutex
	var got []time.Duration
	*hook = func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
		return context.WithTimeout(ctx, d)
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
		{"closed port", testenv.ClosedAddr(t), hangLimit},
		{"black hole", testenv.TCPServer(t, nil), 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, buf := newLogger(slog.LevelInfo)
			cfg := xmpp.Config{Domain: "localhost", Addr: tc.addr, Timeout: tc.timeout}
			for mode, p := range modes(cfg, log) {
				set := record(p.withTimeout)
				ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
				start := time.Now()
				err := p.Create(ctx, "alice", "secret-password-1")
				d := time.Since(start)
				if got := set(); len(got) == 0 || slices.ContainsFunc(got, func(d time.Duration) bool { return d != tc.timeout }) {
					t.Errorf("%s: Create set deadlines %v, want only the configured %v", mode, got, tc.timeout)
				}
				if xmpp.KindOf(err) != xmpp.Unavailable || !isXMPPError(err) {
					t.Errorf("%s: Create = %v, want an *xmpp.Error of kind Unavailable", mode, err)
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
				p.close()
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

// timedOut reports whether err comes from a deadline: a context's or a
// socket's.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// isXMPPError reports whether err is an *xmpp.Error, as every failure of
// Create must be.
func isXMPPError(err error) bool {
	var e *xmpp.Error
	return errors.As(err, &e)
}

func TestInputRefusedLocally(t *testing.T) {
	t.Parallel()
	// Nothing listens: these must fail before any connection is tried.
	cfg := xmpp.Config{Domain: "localhost", Addr: testenv.ClosedAddr(t), Timeout: time.Second}
	xa := xmpp.NewAdmin(cfg, jid.MustParse("portal-admin@localhost"), "pw", nil)
	a := NewAdmin(xa, nil)
	for _, c := range []struct {
		user, pw string
		kind     xmpp.Kind
	}{
		{"bad user", "pw", xmpp.InvalidName},
		{"bad@user", "pw", xmpp.InvalidName},
		{"", "pw", xmpp.InvalidName},
		{strings.Repeat("a", 1100), "pw", xmpp.InvalidName},
		{"good", "", xmpp.PasswordPolicy},
	} {
		if err := a.Create(context.Background(), c.user, c.pw); xmpp.KindOf(err) != c.kind || !isXMPPError(err) {
			t.Errorf("admin Create(%.10q, %q) = %v, want %s", c.user, c.pw, err, c.kind)
		}
	}
	if err := NewIBR(cfg, nil).Create(context.Background(), "good", ""); xmpp.KindOf(err) != xmpp.PasswordPolicy || !isXMPPError(err) {
		t.Errorf("ibr empty password = %v", err)
	}
	xa.Close()
	if err := a.Create(context.Background(), "good", "pw"); xmpp.KindOf(err) != xmpp.Unavailable || !isXMPPError(err) {
		t.Errorf("Create after the admin session was closed = %v", err)
	}
}
