package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/account"
	"github.com/xmpp-portal/portal/internal/i18n"
)

// Accounts is what the account-management flows need of the XMPP side
// (*account.Manager). Errors match the account package's sentinels.
type Accounts interface {
	Verify(ctx context.Context, local, password string) error
	ChangePassword(ctx context.Context, local, old, new string) error
	Delete(ctx context.Context, local, password string) error
	Stats(ctx context.Context) account.Stats
}

// Regulator is the per-account brute-force regulation (*abuse.Regulator).
// account is the normalised bare JID.
type Regulator interface {
	Locked(ctx context.Context, account string) (bool, time.Time, error)
	Fail(ctx context.Context, account string) (bool, error)
}

// errBadCredentials is the one answer for an unknown account, a wrong
// password and a locked account: same text, same status, same time.
var errBadCredentials = errors.New("handlers: credentials refused")

// badCredentialsStatus is the status of that answer.
const badCredentialsStatus = http.StatusForbidden

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

// manageAddress normalises the address typed into a management form: "name"
// or "name@<domain>", only on the configured domain. Reserved names (the
// operator's and the portal's admin account) cannot be managed here.
func (h *Handler) manageAddress(raw string) (string, *i18n.Error) {
	if len(raw) > 3071 {
		raw = raw[:3071]
	}
	local, e := h.d.Policy.Address(raw)
	if e != nil {
		return "", e
	}
	if h.d.Policy.IsReserved(local) {
		return "", i18n.NewError(http.StatusUnprocessableEntity, i18n.K("manage.err.reserved"))
	}
	return local, nil
}

// checkCredentials verifies local's password with a real login, under the
// account's brute-force regulation, and pads the answer to MinResponse from
// start whatever the outcome. It returns nil when the password is right,
// errBadCredentials for an unknown account, a wrong password or a locked
// account (the server is not asked while the account is locked), and an
// *i18n.Error (503) when the store or the XMPP server cannot be asked.
func (h *Handler) checkCredentials(c echo.Context, start time.Time, flow, local, password string) error {
	ctx := c.Request().Context()
	defer h.padFrom(ctx, start)
	bare := local + "@" + h.d.Policy.Domain()
	if h.d.Regulator != nil {
		locked, _, err := h.d.Regulator.Locked(ctx, bare)
		if err != nil {
			h.d.Log.Warn("credentials.check", "flow", flow, "outcome", "store_unavailable", "err", err)
			return i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
		}
		if locked {
			h.d.Log.Info("credentials.check", "flow", flow, "outcome", "locked")
			h.d.Log.Debug("credentials.check.user", "flow", flow, "outcome", "locked", "username", local)
			return errBadCredentials
		}
	}
	if password == "" {
		// Never a login; still a failed attempt, and still padded.
		return h.credentialFailed(ctx, flow, local, bare)
	}
	vctx, cancel := context.WithTimeout(ctx, h.d.XMPPTimeout)
	defer cancel()
	err := h.d.Accounts.Verify(vctx, local, password)
	switch {
	case err == nil:
		h.d.Log.Info("credentials.check", "flow", flow, "outcome", "ok")
		return nil
	case errors.Is(err, account.ErrAuth):
		return h.credentialFailed(ctx, flow, local, bare)
	default:
		h.d.Log.Warn("credentials.check", "flow", flow, "outcome", "server_unavailable", "kind", account.KindName(err), "err", err)
		return i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("manage.err.unavailable"))
	}
}

func (h *Handler) credentialFailed(ctx context.Context, flow, local, bare string) error {
	locked := false
	if h.d.Regulator != nil {
		var err error
		locked, err = h.d.Regulator.Fail(ctx, bare)
		if err != nil {
			h.d.Log.Warn("credentials.check", "flow", flow, "outcome", "store_unavailable", "err", err)
			return i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
		}
	}
	h.d.Log.Info("credentials.check", "flow", flow, "outcome", "refused", "now_locked", locked)
	h.d.Log.Debug("credentials.check.user", "flow", flow, "outcome", "refused", "username", local)
	return errBadCredentials
}
