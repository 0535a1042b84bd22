package signup_test

import (
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

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// TestSignup runs one suite against {admin, ibr} × {Prosody, ejabberd},
// each on its own freshly started server, all four at once.
func TestSignup(t *testing.T) {
	for _, mode := range []string{testenv.ModeAdmin, testenv.ModeIBR} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			opts := testenv.Options{Mode: mode}
			// Only ejabberd has a password policy (Prosody 0.12 ignores the
			// option), and XEP-0133 add-user bypasses it: test it where it
			// applies.
			if mode == testenv.ModeIBR {
				opts.PasswordStrength = 32
			}
			testenv.EachServer(t, opts, func(t *testing.T, s *testenv.Server) {
				runSuite(t, s, s.Name == "ejabberd" && mode == testenv.ModeIBR)
			})
		})
	}
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
// above the Creator's, so that the Creator's own bound is what ends a call
// to a server that is gone.
const (
	xmppHangLimit   = time.Minute
	callerHangLimit = 2 * xmppHangLimit
)

func runSuite(t *testing.T, s *testenv.Server, policy bool) {
	logs := &testenv.LockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := s.XMPP()
	cfg.Timeout = xmppHangLimit
	var p signup.Creator
	if s.Mode == testenv.ModeAdmin {
		xa := xmpp.NewAdmin(cfg, s.AdminJID, s.AdminPassword, log)
		t.Cleanup(func() { xa.Close() })
		p = signup.NewAdmin(xa, log)
	} else {
		p = signup.NewIBR(cfg, log)
	}

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
		c, err := xmpp.Login(ctx(t), cfg, user, pw, nil)
		if err == nil {
			c.Close()
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
			if err := login(t, user, pw+"x"); !errors.Is(err, xmpp.Auth) {
				t.Errorf("login with a wrong password: %v, want xmpp.Auth", err)
			}
		})
		t.Run("NameTaken", func(t *testing.T) {
			t.Parallel()
			user, pw := newUser("taken"), strongPassword()
			if err := create(ctx(t), user, pw); err != nil {
				t.Fatalf("Create: %v", err)
			}
			err := create(ctx(t), user, strongPassword())
			if xmpp.KindOf(err) != xmpp.Conflict {
				t.Fatalf("second Create = %v, want Conflict", err)
			}
			if err := login(t, user, pw); err != nil {
				t.Errorf("first password no longer works: %v", err)
			}
		})
		t.Run("InvalidName", func(t *testing.T) {
			t.Parallel()
			for _, user := range []string{"bad user", "bad@user", "bad/user"} {
				err := create(ctx(t), user, strongPassword())
				if xmpp.KindOf(err) != xmpp.InvalidName {
					t.Errorf("Create(%q) = %v, want InvalidName", user, err)
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
			var e *xmpp.Error
			if !errors.As(err, &e) || e.Kind != xmpp.PasswordPolicy || e.Condition != "not-acceptable" {
				t.Fatalf("Create with weak password = %v, want PasswordPolicy", err)
			}
			if err := create(ctx(t), user, strongPassword()); err != nil {
				t.Errorf("refused weak password left the name taken: %v", err)
			}
		})
		// A wrong admin password is the deployment's fault: NotAllowed,
		// never Auth (which the web layer reads as the user's).
		t.Run("AdminRefused", func(t *testing.T) {
			t.Parallel()
			if s.Mode != testenv.ModeAdmin {
				t.Skip("admin mode only")
			}
			wrong := strongPassword()
			passwords.Store(wrong, true)
			xa := xmpp.NewAdmin(cfg, s.AdminJID, wrong, log)
			defer xa.Close()
			a := signup.NewAdmin(xa, log)
			if err := a.Check(ctx(t)); !errors.Is(err, xmpp.NotAllowed) || errors.Is(err, xmpp.Auth) {
				t.Errorf("Check with a wrong admin password = %v, want NotAllowed", err)
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
		if xmpp.KindOf(err) != xmpp.Unavailable {
			t.Errorf("Create with the server stopped = %v, want Unavailable", err)
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
		t.Logf("signup log:\n%s", out)
	}
}
