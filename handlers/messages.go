package handlers

import (
	"errors"
	"net/http"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Flows, as the message table and the logs name them.
const (
	flowRegister = "register"
	flowPassword = "password"
	flowDelete   = "delete"
	flowExport   = "export"
	flowImport   = "import"
	flowInvite   = "invite"
)

// message is how a page answers one kind of XMPP failure: a status and a
// translated message.
type message struct {
	status int
	key    i18n.Key
}

// messages is the one table from an XMPP failure (xmpp.Kind) to what the
// user sees, per flow. A kind a flow does not list gets the flow's entry
// for xmpp.Unknown (the server refused, for a reason the portal could not
// classify).
var messages = map[string]map[xmpp.Kind]message{
	flowRegister: {
		xmpp.Conflict:       {http.StatusConflict, i18n.K("register.err.username_taken")},
		xmpp.InvalidName:    {http.StatusUnprocessableEntity, i18n.K("register.err.username_refused")},
		xmpp.PasswordPolicy: {http.StatusUnprocessableEntity, i18n.K("register.err.password_policy")},
		xmpp.Throttled:      {http.StatusTooManyRequests, i18n.K("register.err.throttled")},
		xmpp.NotAllowed:     {http.StatusForbidden, i18n.K("register.err.not_allowed")},
		xmpp.Unavailable:    {http.StatusServiceUnavailable, i18n.K("register.err.unavailable")},
		xmpp.Unknown:        {http.StatusBadGateway, i18n.K("register.err.refused")},
	},
	flowInvite: {
		xmpp.NotAvailable: {http.StatusServiceUnavailable, i18n.K("onboarding.err.not_offered")},
		xmpp.NotAllowed:   {http.StatusServiceUnavailable, i18n.K("onboarding.err.not_offered")},
		xmpp.Throttled:    {http.StatusTooManyRequests, i18n.K("register.err.throttled")},
		xmpp.Unavailable:  {http.StatusServiceUnavailable, i18n.K("onboarding.err.unavailable")},
		xmpp.Unknown:      {http.StatusBadGateway, i18n.K("onboarding.err.refused")},
	},
	flowPassword: {
		xmpp.Auth:           {badCredentialsStatus, i18n.K("manage.err.credentials")},
		xmpp.PasswordPolicy: {http.StatusUnprocessableEntity, i18n.K("password.err.server_policy")},
		xmpp.NotVerified:    {http.StatusBadGateway, i18n.K("password.err.not_verified")},
		xmpp.Unavailable:    {http.StatusServiceUnavailable, i18n.K("password.err.unavailable")},
		xmpp.Protocol:       {http.StatusServiceUnavailable, i18n.K("password.err.unavailable")},
		xmpp.Throttled:      {http.StatusServiceUnavailable, i18n.K("password.err.unavailable")},
		xmpp.Unknown:        {http.StatusBadGateway, i18n.K("password.err.refused")},
	},
	flowDelete: {
		xmpp.Auth:        {badCredentialsStatus, i18n.K("manage.err.credentials")},
		xmpp.NotVerified: {http.StatusBadGateway, i18n.K("delete.err.not_verified")},
		xmpp.Unavailable: {http.StatusServiceUnavailable, i18n.K("delete.err.unavailable")},
		xmpp.Protocol:    {http.StatusServiceUnavailable, i18n.K("delete.err.unavailable")},
		xmpp.Throttled:   {http.StatusServiceUnavailable, i18n.K("delete.err.unavailable")},
		xmpp.Unknown:     {http.StatusBadGateway, i18n.K("delete.err.refused")},
	},
	flowExport: {
		xmpp.Unknown: {http.StatusServiceUnavailable, i18n.K("migrate.err.unavailable")},
	},
	flowImport: {
		xmpp.Unknown: {http.StatusServiceUnavailable, i18n.K("migrate.err.unavailable")},
	},
}

// loginUnavailable is the message of each flow when the server cannot be
// asked at its login (the guard's step 3): nothing was done yet, which the
// account flows say in other words than a failed action.
var loginUnavailable = map[string]i18n.Key{
	flowPassword: i18n.K("manage.err.unavailable"),
	flowDelete:   i18n.K("manage.err.unavailable"),
	flowExport:   i18n.K("migrate.err.unavailable"),
	flowImport:   i18n.K("migrate.err.unavailable"),
}

// unavailableKey is the message of flow when the server cannot be asked at
// the login of the guard.
func unavailableKey(flow string) i18n.Key { return loginUnavailable[flow] }

// xmppMessage returns the answer of flow to err (an *xmpp.Error, or a
// store or context failure).
func xmppMessage(flow string, err error) message {
	if errors.Is(err, store.ErrUnavailable) {
		return message{http.StatusServiceUnavailable, i18n.K("error.store_unavailable")}
	}
	e := xmpp.AsError(err)
	if e.Unanswered && flow == flowRegister {
		// Sent, then no answer: the account may exist. Never "nothing was
		// created".
		return message{http.StatusServiceUnavailable, i18n.K("register.err.unanswered")}
	}
	table := messages[flow]
	if m, ok := table[e.Kind]; ok {
		return m
	}
	return table[xmpp.Unknown]
}

// xmppError is err of flow as the page error the error handler renders.
// The server's condition is the one argument of a message that names it.
func (h *Handler) xmppError(flow string, err error) *pageError {
	h.d.Metrics.XMPPError(flow, xmpp.KindOf(err).String())
	m := xmppMessage(flow, err)
	var args []any
	if m.key == "register.err.refused" {
		cond := "unknown"
		if e := xmpp.AsError(err); e.Condition != "" {
			cond = e.Condition
		}
		args = []any{cond}
	}
	return wrapPage(err, m.status, m.key, args...)
}
