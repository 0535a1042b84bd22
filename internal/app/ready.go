package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// /healthz says the portal is up: it answers, and its store answers (without
// the store every form fails closed). /readyz says whether it can create
// accounts now: the store answers, and the XMPP server does too, with the
// admin session logged in and offered add-user (admin mode) or a stream
// opened (ibr mode). A monitor that pages someone watches /readyz: a Prosody
// outage turns it 503 while /healthz stays 200 (a container's health check
// keeps /healthz, so that the portal is not restarted for its server's
// outage).

// readyCache is how long one readiness result is answered: however often
// /readyz is asked (it is public), the XMPP server sees at most one check
// per readyCache.
const readyCache = 5 * time.Second

// readiness runs the readiness checks, at most one at a time and one per
// readyCache, and logs when the outcome changes.
type readiness struct {
	check func(ctx context.Context) (map[string]string, error)
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	have    bool      // a result is cached
	at      time.Time // when it was made
	states  map[string]string
	err     error
	running chan struct{} // closed when the check in flight ends (nil: none)
	ready   *bool         // the outcome logged last
}

// get returns the cached result, or runs the check (or waits for the one in
// flight) when it is older than readyCache.
func (r *readiness) get(ctx context.Context) (map[string]string, error) {
	r.mu.Lock()
	for {
		if r.have && r.now().Sub(r.at) < readyCache {
			states, err := copyStates(r.states), r.err
			r.mu.Unlock()
			return states, err
		}
		if r.running == nil {
			break
		}
		wait := r.running
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return map[string]string{"store": "unknown", "xmpp": "unknown"}, ctx.Err()
		}
		r.mu.Lock()
	}
	done := make(chan struct{})
	r.running = done
	r.mu.Unlock()

	// The check runs to its own end (bounded by its timeouts) even if
	// this caller goes away: others wait for it.
	states, err := r.check(context.WithoutCancel(ctx))

	r.mu.Lock()
	r.have, r.at, r.states, r.err, r.running = true, r.now(), states, err, nil
	ready := err == nil
	changed := r.ready == nil || *r.ready != ready
	r.ready = &ready
	r.mu.Unlock()
	close(done)
	if changed {
		if ready {
			r.log.Info("health.ready", "store", states["store"], "xmpp", states["xmpp"])
		} else {
			r.log.Warn("health.not_ready", "store", states["store"], "xmpp", states["xmpp"], "err", err)
		}
	}
	return copyStates(states), err
}

func copyStates(m map[string]string) map[string]string {
	c := make(map[string]string, len(m)+2)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// readyCheck is what /readyz asks: the store (as /healthz does) and the
// XMPP server, as account creation needs it. Nothing is logged here (the
// readiness logs changes only): a monitor asking every few seconds must not
// fill the log.
func (a *App) readyCheck(ctx context.Context) (map[string]string, error) {
	states := map[string]string{"store": "ok", "xmpp": "ok"}
	a.onionHealth(states)
	var errs []error
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := a.Store.Ping(sctx); err != nil {
		states["store"] = "unavailable"
		errs = append(errs, err)
	}
	cancel()
	xctx, cancel := context.WithTimeout(ctx, a.Config.XMPP.Timeout)
	defer cancel()
	if err := a.xmppReady(xctx); err != nil {
		states["xmpp"] = "unavailable"
		if xmpp.KindOf(err) == xmpp.NotAllowed {
			states["xmpp"] = "refused" // the admin login or add-user refused: see portal -check
		}
		errs = append(errs, err)
	}
	return states, errors.Join(errs...)
}

// xmppReady checks the XMPP server the way sign-ups use it: in admin mode
// the admin session (reused when it is up, logged in again when not) and
// add-user offered to it; in ibr mode a stream opened to the server.
func (a *App) xmppReady(ctx context.Context) error {
	if a.Config.XMPP.Mode == "admin" && a.Admin != nil {
		return a.Admin.Check(ctx, signup.AddUserNode)
	}
	xc, err := XMPPConfig(a.Config)
	if err != nil {
		return err
	}
	c, err := xmpp.Unauth(ctx, xc)
	if err != nil {
		return err
	}
	return c.Close()
}
