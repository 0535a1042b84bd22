package handlers

import (
	"context"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp/account"
)

// Accounts is what the account-management flows need of the XMPP side
// (internal/xmpp/account, wired in internal/app). Errors are *xmpp.Error.
type Accounts interface {
	// Login is the flow's one login as local with password.
	Login(ctx context.Context, local, password string) (Account, error)
	Stats(ctx context.Context) account.Stats
}

// Account is an account logged in by Accounts.Login; the flow acts on it.
type Account interface {
	ChangePassword(ctx context.Context, new string) error
	Delete(ctx context.Context) error
	Close() error
}

// Signup creates accounts (internal/xmpp/signup). Errors are *xmpp.Error.
type Signup interface {
	Create(ctx context.Context, localpart, password string) error
}

// Regulator is the per-account brute-force regulation (*abuse.Regulator).
// account is the normalised bare JID.
type Regulator interface {
	Locked(ctx context.Context, account string) (bool, time.Time, error)
	Fail(ctx context.Context, account string) (bool, error)
}

// ManagerAccounts is an *account.Manager as Accounts: its Login returns the
// session as an Account.
func ManagerAccounts(m *account.Manager) Accounts { return managerAccounts{m} }

type managerAccounts struct{ *account.Manager }

func (m managerAccounts) Login(ctx context.Context, local, password string) (Account, error) {
	s, err := m.Manager.Login(ctx, local, password)
	if err != nil {
		return nil, err
	}
	return s, nil
}
