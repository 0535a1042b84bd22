package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/metrics"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// countingSignup counts the outcome of every account creation: created, or
// failed with the XMPP error's kind.
type countingSignup struct {
	handlers.Signup
	m *metrics.Metrics
}

func (s countingSignup) Create(ctx context.Context, localpart, password string) error {
	err := s.Signup.Create(ctx, localpart, password)
	if err != nil {
		s.m.SignupFailed(xmpp.KindOf(err).String())
	} else {
		s.m.SignupCreated()
	}
	return err
}

// countingCaptchas counts every captcha answer checked, pass or fail.
type countingCaptchas struct {
	handlers.Captchas
	m *metrics.Metrics
}

func (c countingCaptchas) Verify(ctx context.Context, id, answer string) (bool, error) {
	ok, err := c.Captchas.Verify(ctx, id, answer)
	if err == nil {
		c.m.Captcha(ok)
	}
	return ok, err
}

// routes are the route patterns h registers: the only values the metrics'
// route label takes.
func routes(h *handlers.Handler) []string {
	e := echo.New()
	h.Register(e)
	seen := map[string]bool{}
	var out []string
	for _, r := range e.Routes() {
		if !seen[r.Path] {
			seen[r.Path] = true
			out = append(out, r.Path)
		}
	}
	sort.Strings(out)
	return out
}

// serveMetrics serves /metrics on metrics.listen until ctx is done; nothing
// when it is not set. The listener is the operator's, never the public one.
func (a *App) serveMetrics(ctx context.Context) (stop func(), err error) {
	if a.Metrics == nil || a.Config.Metrics.Listen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", a.Config.Metrics.Listen)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}
	a.MetricsAddr = ln.Addr()
	a.Log.Info("metrics.listening", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("metrics.serve_failed", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}
