package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// errBadCredentials is the one answer for an unknown account, a wrong
// password and a locked account, for any address a form checks: same text,
// same status, same time.
var errBadCredentials = errors.New("handlers: credentials refused")

// badCredentialsStatus is the status of that answer.
const badCredentialsStatus = http.StatusForbidden

// guard is the one rule every form that checks a password goes through,
// for every address it checks:
//
//  1. budget: one unit of the client's credential budget per password the
//     form will check, taken before any work and given back when the form
//     is refused before a password was tried (take, release);
//  2. lock: a locked address is refused without asking the server, with the
//     same answer as a wrong password (locked, login);
//  3. the flow's one login per address (login): a refusal by the server
//     counts a failure against the address, an empty password counts one
//     without a login;
//  4. the same answer (errBadCredentials) for every failed check, padded to
//     MinResponse from the start of the request; after the last successful
//     login the flow calls pad before it acts, so success takes that time
//     too.
//
// Addresses are policy.Address values, counted under Address.Key, so every
// spelling that logs into one account shares its counter.
type guard struct {
	h      *Handler
	c      echo.Context
	flow   string
	start  time.Time
	budget []abuse.Decision
}

// guard starts the rule for one request of flow, started at start.
func (h *Handler) guard(c echo.Context, flow string, start time.Time) *guard {
	return &guard{h: h, c: c, flow: flow, start: start}
}

// take reserves n units of the credential budget (one per password the
// form checks). Over the budget it returns the 429 page error.
func (g *guard) take(n int) error {
	for range n {
		d, err := g.h.checkBudget(g.c, abuse.Credential)
		if err != nil {
			g.release()
			return err
		}
		g.budget = append(g.budget, d)
	}
	return nil
}

// release gives the units back: the form was refused before any password
// was tried.
func (g *guard) release() {
	for _, d := range g.budget {
		d.Release(g.c.Request().Context())
	}
	g.budget = nil
}

// pad waits until MinResponse has passed since the start of the request.
func (g *guard) pad() { g.h.padFrom(g.c.Request().Context(), g.start) }

// locked checks every address before any login: when one is locked, no
// server is asked for any of them. It returns errBadCredentials (padded)
// for a locked address, a 503 page error when the store cannot be asked.
func (g *guard) locked(addrs ...policy.Address) error {
	if g.h.d.Regulator == nil {
		return nil
	}
	ctx := g.c.Request().Context()
	for _, a := range addrs {
		locked, _, err := g.h.d.Regulator.Locked(ctx, a.Key())
		if err != nil {
			g.h.d.Log.Warn("credentials.check", "flow", g.flow, "outcome", "store_unavailable", "err", err)
			g.h.d.Metrics.PasswordCheck(g.flow, "store_unavailable")
			return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
		}
		if locked {
			g.h.d.Log.Info("credentials.check", "flow", g.flow, "outcome", "locked")
			g.h.d.Metrics.PasswordCheck(g.flow, "locked")
			g.h.d.Log.Debug("credentials.check.user", "flow", g.flow, "outcome", "locked", "address", a.String())
			g.pad()
			return errBadCredentials
		}
	}
	return nil
}

// fail counts a failed check of a and returns errBadCredentials (padded), or
// a 503 page error when the store cannot be asked.
func (g *guard) fail(a policy.Address) error {
	defer g.pad()
	locked := false
	if g.h.d.Regulator != nil {
		var err error
		locked, err = g.h.d.Regulator.Fail(g.c.Request().Context(), a.Key())
		if err != nil {
			g.h.d.Log.Warn("credentials.check", "flow", g.flow, "outcome", "store_unavailable", "err", err)
			g.h.d.Metrics.PasswordCheck(g.flow, "store_unavailable")
			return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
		}
	}
	g.h.d.Log.Info("credentials.check", "flow", g.flow, "outcome", "refused", "now_locked", locked)
	g.h.d.Metrics.PasswordCheck(g.flow, "refused")
	if locked {
		g.h.d.Metrics.Lockout(g.flow)
	}
	g.h.d.Log.Debug("credentials.check.user", "flow", g.flow, "outcome", "refused", "address", a.String())
	return errBadCredentials
}

// guardLogin is step 2 to 4 for one address: lock, then the flow's login
// (a real SASL login as a, bounded by XMPPTimeout), then the answer. It
// returns login's value on success; errBadCredentials for a locked address,
// an empty or refused password; a 503 page error with the flow's
// unavailable message when the server or the store cannot be asked. Every
// outcome but success is padded to MinResponse. A success is not: a flow
// that checks two addresses logs in to both first, then calls pad once, so
// that a failure of the second takes the same time as one of the first.
func guardLogin[T any](g *guard, a policy.Address, password string, unavailable i18n.Key, login func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if err := g.locked(a); err != nil {
		return zero, err
	}
	if password == "" {
		return zero, g.fail(a) // never a login; still a failed attempt
	}
	ctx, cancel := context.WithTimeout(g.c.Request().Context(), g.h.d.XMPPTimeout)
	defer cancel()
	v, err := login(ctx)
	switch {
	case err == nil:
		g.h.d.Log.Info("credentials.check", "flow", g.flow, "outcome", "ok")
		g.h.d.Metrics.PasswordCheck(g.flow, "ok")
		return v, nil
	case errors.Is(err, xmpp.Auth):
		return zero, g.fail(a)
	default:
		g.h.d.Log.Warn("credentials.check", "flow", g.flow, "outcome", "server_unavailable", "kind", xmpp.KindOf(err).String(), "err", err)
		g.h.d.Metrics.PasswordCheck(g.flow, "server_unavailable")
		g.pad()
		return zero, wrapPage(err, http.StatusServiceUnavailable, unavailable)
	}
}

// withAccount is the account flows' part of the rule: the guarded login as
// a (the flow's one login, regulated and padded), then act on that session
// with a bounded context. err is the guard's answer (errBadCredentials for
// any refused check, a page error when the server or store cannot be
// asked); actErr is act's own error, for the flow's message table.
func (h *Handler) withAccount(g *guard, a policy.Address, password string, act func(ctx context.Context, acc Account) error) (actErr, err error) {
	acc, err := guardLogin(g, a, password, unavailableKey(g.flow), func(ctx context.Context) (Account, error) {
		return h.d.Accounts.Login(ctx, a.Local, password)
	})
	if err != nil {
		return nil, err
	}
	defer acc.Close()
	g.pad()
	ctx, cancel := context.WithTimeout(g.c.Request().Context(), 3*h.d.XMPPTimeout)
	defer cancel()
	return act(ctx, acc), nil
}

func (h *Handler) now() time.Time {
	if h.d.Now != nil {
		return h.d.Now()
	}
	return time.Now()
}

func (h *Handler) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	if h.d.Sleep != nil {
		h.d.Sleep(ctx, d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// padFrom waits until MinResponse has passed since start, so that every
// outcome of a password check takes the same time.
func (h *Handler) padFrom(ctx context.Context, start time.Time) {
	if h.d.MinResponse <= 0 {
		return
	}
	h.sleep(ctx, h.d.MinResponse-h.now().Sub(start))
}
