package provision_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/provision"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// TestProvision runs one suite against {Prosody, ejabberd} × {admin, ibr},
// each on its own freshly started server.
func TestProvision(t *testing.T) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB, testenv.Options) *testenv.Server
	}{
		{"prosody", testenv.StartProsody},
		{"ejabberd", testenv.StartEjabberd},
	} {
		for _, mode := range []string{testenv.ModeAdmin, testenv.ModeIBR} {
			t.Run(srv.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				opts := testenv.Options{Mode: mode}
				// Only ejabberd has a password policy, and XEP-0133 add-user
				// bypasses it: test it where it applies.
				policy := srv.name == "ejabberd" && mode == testenv.ModeIBR
				if policy {
					opts.PasswordStrength = 32
				}
				s := srv.start(t, opts)
				runSuite(t, s, policy)
			})
		}
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var userSeq atomic.Int64

func newUser(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e6, userSeq.Add(1))
}

func strongPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return "Pw-" + base64.RawURLEncoding.EncodeToString(b)
}

type checker interface{ Check(context.Context) error }

// The suite checks outcomes, not timeouts (TestUnreachableServer does): its
// XMPP timeout and the callers' contexts are hang limits, well above the
// seconds a busy machine can add to an ejabberd login, and the callers'
// above the provisioner's, so that the provisioner's own bound is what ends
// a call to a server that is gone.
const (
	xmppHangLimit   = time.Minute
	callerHangLimit = 2 * xmppHangLimit
)

func runSuite(t *testing.T, s *testenv.Server, policy bool) {
	logs := &lockedBuf{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := s.XMPP()
	cfg.Timeout = xmppHangLimit
	var p provision.Provisioner
	if s.Mode == testenv.ModeAdmin {
		p = provision.NewAdmin(cfg, s.AdminJID, s.AdminPassword, log)
	} else {
		p = provision.NewIBR(cfg, log)
	}
	t.Cleanup(func() { p.Close() })

	var passwords sync.Map // every password used, to check the logs
	create := func(ctx context.Context, user, pw string) error {
		passwords.Store(pw, true)
		return p.Create(ctx, user, pw)
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), callerHangLimit)
		t.Cleanup(cancel)
		return c
	}
	login := func(t *testing.T, user, pw string) error {
		t.Helper()
		sess, err := xmppconn.Login(ctx(t), cfg, user, pw, nil)
		if err == nil {
			xmppconn.Close(sess)
		}
		return err
	}

	if err := p.(checker).Check(ctx(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}

	t.Run("group", func(t *testing.T) {
		t.Run("CreateThenLogin", func(t *testing.T) {
			t.Parallel()
			user, pw := newUser("new"), strongPassword()
			if err := create(ctx(t), user, pw); err != nil {
				t.Fatalf("Create: %v", err)
			}
			if err := login(t, user, pw); err != nil {
				t.Fatalf("new user cannot log in: %v", err)
			}
			if err := login(t, user, pw+"x"); !errors.Is(err, xmppconn.ErrAuth) {
				t.Errorf("login with a wrong password: %v, want ErrAuth", err)
			}
		})
		t.Run("NameTaken", func(t *testing.T) {
			t.Parallel()
			user, pw := newUser("taken"), strongPassword()
			if err := create(ctx(t), user, pw); err != nil {
				t.Fatalf("Create: %v", err)
			}
			err := create(ctx(t), user, strongPassword())
			if provision.KindOf(err) != provision.KindConflict {
				t.Fatalf("second Create = %v, want KindConflict", err)
			}
			if err := login(t, user, pw); err != nil {
				t.Errorf("first password no longer works: %v", err)
			}
		})
		t.Run("InvalidName", func(t *testing.T) {
			t.Parallel()
			for _, user := range []string{"bad user", "bad@user", "bad/user"} {
				err := create(ctx(t), user, strongPassword())
				if provision.KindOf(err) != provision.KindInvalidName {
					t.Errorf("Create(%q) = %v, want KindInvalidName", user, err)
				}
			}
		})
		t.Run("WeakPassword", func(t *testing.T) {
			t.Parallel()
			if !policy {
				t.Skip("no server password policy in this configuration (Prosody 0.12 has none; ejabberd add-user bypasses it)")
			}
			user := newUser("weak")
			err := create(ctx(t), user, "abc")
			var pe *provision.Error
			if !errors.As(err, &pe) || pe.Kind != provision.KindPasswordPolicy || pe.Condition != "not-acceptable" {
				t.Fatalf("Create with weak password = %v, want KindPasswordPolicy", err)
			}
			if err := create(ctx(t), user, strongPassword()); err != nil {
				t.Errorf("refused weak password left the name taken: %v", err)
			}
		})
		t.Run("Concurrent", func(t *testing.T) {
			t.Parallel()
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			users := make([]string, n)
			pws := make([]string, n)
			for i := range n {
				users[i], pws[i] = newUser("conc"), strongPassword()
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = create(ctx(t), users[i], pws[i])
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Create %d: %v", i, err)
				}
			}
			if err := login(t, users[n-1], pws[n-1]); err != nil {
				t.Errorf("login: %v", err)
			}
		})
	})

	t.Run("SurvivesRestart", func(t *testing.T) {
		s.Restart()
		user, pw := newUser("afterrestart"), strongPassword()
		if err := create(ctx(t), user, pw); err != nil {
			t.Fatalf("Create after restart: %v", err)
		}
		if err := login(t, user, pw); err != nil {
			t.Errorf("login after restart: %v", err)
		}
	})

	// With the server stopped, Create gives up by itself: it returns while
	// the caller's context, which ends only at a hang limit beyond Create's
	// own timeout, is still running. Create's deadline being exactly the
	// configured timeout is pinned by TestUnreachableServer, which records
	// it; a bound on the elapsed time here would only measure how busy the
	// machine is.
	t.Run("ServerStopped", func(t *testing.T) {
		s.Stop()
		caller, cancel := context.WithTimeout(context.Background(), callerHangLimit)
		defer cancel()
		start := time.Now()
		err := create(caller, newUser("stopped"), strongPassword())
		if provision.KindOf(err) != provision.KindUnavailable {
			t.Errorf("Create with the server stopped = %v, want KindUnavailable", err)
		}
		if caller.Err() != nil {
			t.Errorf("Create with the server stopped returned only at the caller's hang limit of %v (timeout %v)", callerHangLimit, cfg.Timeout)
		}
		t.Logf("Create with the server stopped failed after %v (timeout %v)", time.Since(start).Round(time.Millisecond), cfg.Timeout)
	})

	// Privacy: no password in the log at any level, usernames only at
	// Debug, no IP address outside Debug lines.
	out := logs.String()
	passwords.Range(func(k, _ any) bool {
		if pw := k.(string); len(pw) > 3 && strings.Contains(out, pw) {
			t.Errorf("log contains a password")
		}
		return true
	})
	ip := regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.Contains(line, `"level":"DEBUG"`) {
			continue
		}
		if ip.MatchString(line) {
			t.Errorf("non-debug log line has an IP address: %s", line)
		}
		if strings.Contains(line, `"user"`) || strings.Contains(line, "taken") || strings.Contains(line, "conc") {
			t.Errorf("non-debug log line has a username: %s", line)
		}
	}
	if !strings.Contains(out, `"msg":"account.created"`) {
		t.Errorf("no account.created event in the log")
	}
	if t.Failed() {
		t.Logf("provisioner log:\n%s", out)
	}
}
