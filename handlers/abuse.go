package handlers

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/store"
)

// busyRetry is the wait announced when the memory store is full.
const busyRetry = time.Minute

// checkBudget checks the request against the budgets of action and reserves
// one unit of each (see abuse.Decision.Release). Over a budget it returns a
// translated 429 page error naming the wait, with a Retry-After header; when
// the store cannot be reached, a 503 "temporarily unavailable" error; when the
// memory store is full, a 503 "busy" error. The caller must stop on any error:
// nothing may be created without a budget (fail closed). Without a Limiter
// (unit tests only) everything is allowed.
func (h *Handler) checkBudget(c echo.Context, action abuse.Action) (abuse.Decision, error) {
	if h.d.Limiter == nil {
		return abuse.Decision{Allowed: true}, nil
	}
	d, err := h.d.Limiter.Allow(c.Request().Context(), c.Request(), action)
	switch {
	case errors.Is(err, store.ErrFull):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(busyRetry/time.Second)))
		return d, wrapPage(err, http.StatusServiceUnavailable, i18n.K("abuse.busy"))
	case err != nil:
		return d, wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	case d.Allowed:
		return d, nil
	}
	return d, h.refusal(c, action, d)
}

// checkRoom answers with the 429 page of checkBudget when a budget of
// action has no room left, without taking a unit (abuse.Limiter.Check):
// for a page that leads to the action, such as the sign-up form, which
// would otherwise offer a captcha that will be refused. Store errors are
// answered as by checkBudget. Without a Limiter it allows everything.
func (h *Handler) checkRoom(c echo.Context, action abuse.Action) error {
	if h.d.Limiter == nil {
		return nil
	}
	d, err := h.d.Limiter.Check(c.Request().Context(), c.Request(), action)
	switch {
	case errors.Is(err, store.ErrFull):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(busyRetry/time.Second)))
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("abuse.busy"))
	case err != nil:
		return wrapPage(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
	case d.Allowed:
		return nil
	}
	return h.refusal(c, action, d)
}

// refusal is the 429 page error of a refused Decision d: the message names
// the budget that ran out and the wait, with a Retry-After header.
func (h *Handler) refusal(c echo.Context, action abuse.Action, d abuse.Decision) error {
	h.d.Metrics.BudgetRefused(action.String(), d.Budget)
	// The budgets of an IPv6 client's /56 and /48 (d.Prefix) carry the name
	// of the client's budget they multiply, and the same page: its messages
	// already say "from your network".
	secs := int(math.Ceil(d.RetryAfter.Seconds()))
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	wait := h.waitText(h.lang(c), d.RetryAfter)
	var key i18n.Key
	switch {
	case d.Circuit: // the budget of the visitor's Tor circuit, not "your network"
		switch d.Budget {
		case abuse.BudgetSignup:
			key = i18n.K("abuse.limited.circuit_signup")
		case abuse.BudgetCaptcha:
			key = i18n.K("abuse.limited.circuit_captcha")
		default:
			key = i18n.K("abuse.limited.circuit_credential")
		}
	default:
		key = budgetMessage(d.Budget)
	}
	return newPageError(http.StatusTooManyRequests, key, wait)
}

// budgetMessage is the page of a refusal by a clearnet client's, network's
// or shared budget.
func budgetMessage(budget string) i18n.Key {
	var key i18n.Key
	switch budget {
	case abuse.BudgetSignup:
		key = i18n.K("abuse.limited.signup")
	case abuse.BudgetGlobalSignup:
		key = i18n.K("abuse.limited.global_signup")
	case abuse.BudgetOnionSignup:
		key = i18n.K("abuse.limited.onion_signup")
	case abuse.BudgetCaptcha:
		key = i18n.K("abuse.limited.captcha")
	case abuse.BudgetOnionCaptcha:
		key = i18n.K("abuse.limited.onion_captcha")
	case abuse.BudgetOnionCredential:
		key = i18n.K("abuse.limited.onion_credential")
	default:
		key = i18n.K("abuse.limited.credential")
	}
	return key
}

// waitText says how long to wait, in lang, rounded up to whole minutes.
func (h *Handler) waitText(lang string, d time.Duration) string {
	switch m := int(math.Ceil(d.Minutes())); {
	case d < time.Minute:
		return h.d.I18n.T(lang, i18n.K("abuse.wait.under_minute"))
	case m <= 1:
		return h.d.I18n.T(lang, i18n.K("abuse.wait.minute"))
	default:
		return h.d.I18n.T(lang, i18n.K("abuse.wait.minutes"), m)
	}
}
