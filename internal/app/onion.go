package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/proxyhdr"
)

// setupOnion loads (or creates) the onion key when onion.enabled and sets
// a.Onion; it starts nothing. It returns the address to advertise: the
// key's, or onion.address when the service runs elsewhere.
func (a *App) setupOnion() (string, error) {
	c := a.Config.Onion
	if !c.Enabled {
		return c.Address, nil
	}
	svc, err := onion.New(onion.Config{
		Mode: c.Mode, StateDir: c.StateDir, TorPath: c.TorPath, TorrcExtra: c.TorrcExtra,
		ControlAddr: c.ControlAddr, ControlPassword: c.ControlPassword, CookieFile: c.CookieFile,
		Defenses: OnionDefenses(a.Config),
		Log:      a.Log,
	})
	if err != nil {
		return "", err
	}
	if c.Address != "" && c.Address != svc.Address() {
		return "", fmt.Errorf("onion.address is %s but the key in %s is for %s: remove onion.address (the key's address is used) or restore the matching key",
			c.Address, onion.Config{StateDir: c.StateDir}.KeyDir(), svc.Address())
	}
	a.Onion = svc
	return svc.Address(), nil
}

// OnionDefenses are the onion.* settings of tor's own defences.
func OnionDefenses(cfg *config.Config) onion.Defenses {
	c := cfg.Onion
	return onion.Defenses{
		PoW: c.PoW, PoWQueueRate: c.PoWQueueRate, PoWQueueBurst: c.PoWQueueBurst,
		IntroDoS: c.IntroDoS, IntroDoSRate: c.IntroDoSRate, IntroDoSBurst: c.IntroDoSBurst,
		ExportCircuitID: c.ExportCircuitID,
	}
}

// OnionHandler is what the onion listener serves: the same handler as the
// clearnet listener, with requests marked as onion (onion budget, "you are
// here" footer, no Onion-Location) and no Strict-Transport-Security header.
func (a *App) OnionHandler() http.Handler {
	return handlers.MarkOnion(withoutHSTS(a.Handler))
}

// serveOnion serves OnionHandler on the onion service's local listener and
// runs the service (tor) in the background: neither blocks the clearnet
// listener, and tor failures are retried by the service. stop ends both and
// waits; it may be called more than once.
func (a *App) serveOnion(ctx context.Context) (stop func()) {
	if a.Onion == nil {
		return func() {}
	}
	ln, err := a.Onion.Listen()
	if err != nil {
		a.Log.Error("onion.listen_failed", "err", err)
		return func() {}
	}
	srv := a.Server()
	srv.Handler = a.OnionHandler()
	// tor's circuit ids are read here and only here (the limiter counts
	// each circuit, internal/abuse); without them a PROXY header can only
	// be a visitor's, and is refused.
	if a.Onion.CircuitIDs() {
		ln = proxyhdr.Circuits(ln, a.Onion.Session, a.Log)
		srv.ConnContext = proxyhdr.ConnContext
	} else {
		ln = proxyhdr.Refuse(ln, "onion", "tor sends no circuit ids here (control mode, or onion.export_circuit_id off)", a.Log)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("onion.serve_failed", "err", err)
		}
	})
	wg.Go(func() {
		if err := a.Onion.Run(ctx); err != nil {
			a.Log.Error("onion.run_failed", "err", err)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			wg.Wait()
		})
	}
}

// onionHealth adds the onion service's state to /healthz. It never makes the
// portal unhealthy: clearnet keeps serving while tor is down.
func (a *App) onionHealth(states map[string]string) {
	if a.Onion != nil {
		states["onion"] = a.Onion.State()
	}
}

// printOnionAddress implements -onion-address: the address computed from the
// key in onion.state_dir (created there if missing), without starting tor.
func printOnionAddress(cfg *config.Config, stdout, stderr io.Writer) int {
	if cfg.Onion.StateDir == "" {
		fmt.Fprintln(stderr, "portal: -onion-address needs onion.state_dir (PORTAL_ONION_STATE_DIR)")
		return 2
	}
	dir := onion.Config{StateDir: cfg.Onion.StateDir}.KeyDir()
	k, created, err := onion.LoadOrCreateKey(dir)
	if err != nil {
		fmt.Fprintf(stderr, "portal: %v\n", err)
		return 1
	}
	if created {
		fmt.Fprintf(stderr, "portal: created a new onion key in %s; back it up: the key is the address\n", dir)
	}
	fmt.Fprintln(stdout, k.Address())
	return 0
}

// withoutHSTS removes Strict-Transport-Security from responses. The onion
// service is plain http:// (tor encrypts and authenticates the connection)
// and must not carry a header meant for the clearnet name.
func withoutHSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&hstsStripper{ResponseWriter: w}, r)
	})
}

type hstsStripper struct {
	http.ResponseWriter
}

func (s *hstsStripper) WriteHeader(code int) {
	s.Header().Del("Strict-Transport-Security")
	s.ResponseWriter.WriteHeader(code)
}

func (s *hstsStripper) Write(b []byte) (int, error) {
	s.Header().Del("Strict-Transport-Security")
	return s.ResponseWriter.Write(b)
}

func (s *hstsStripper) Flush() {
	s.Header().Del("Strict-Transport-Security")
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *hstsStripper) Unwrap() http.ResponseWriter { return s.ResponseWriter }
