package provision

import (
	"context"

	"mellium.im/xmpp/form"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// Run runs the ad-hoc command node at the server (XEP-0050, e.g. a XEP-0133
// admin command) on the persistent admin session, connecting it if needed.
// fill sets the fields of the command's form, as for xmppconn.Command.
//
// Errors are returned unclassified, as xmppconn.Command returns them
// (*xmppconn.StanzaError, *xmppconn.CommandError together with the result,
// errors matching xmppconn.ErrUnavailable or ErrProtocol), so that callers
// can read the server's answer; an admin session that cannot be opened is
// an *Error (use Classify). A request that fails on the connection drops the
// session (unless only ctx was canceled), and the next call reconnects.
func (a *Admin) Run(ctx context.Context, node string, fill func(*form.Data) error) (xmppconn.CommandResult, error) {
	ctx, cancel := a.withTimeout(ctx, a.timeout)
	defer cancel()
	s, err := a.session(ctx)
	if err != nil {
		return xmppconn.CommandResult{}, err
	}
	res, err := xmppconn.Command(ctx, s, a.domain, node, fill)
	if err != nil {
		a.maybeDrop(s, err)
	}
	return res, err
}
