package handlers

import (
	"context"
	"time"

	"github.com/xmpp-portal/portal/internal/account"
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
