package signup

import (
	"context"
	"errors"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// maxInFlight bounds the account creations one Admin or IBR has under way at
// the XMPP server. Prosody runs the commands of the admin session one after
// another on its single thread, so more in flight only lengthens the
// server's queue; ejabberd gains little beyond a few. Requests beyond the
// bound wait in the portal, where waiting is cheap and giving up is clean: a
// request never sent has certainly created nothing, while one that times out
// in the server's queue may still create the account after the user was told
// it was not (seen in the 60-s load of docs/benchmarks.md before this bound).
const maxInFlight = 8

// errBusy: the request gave up waiting for its turn and was not sent.
var errBusy = errors.New("signup: too many sign-ups under way; the request was not sent to the server")

// admission hands out the in-flight slots.
type admission struct{ slots chan struct{} }

func newAdmission(n int) *admission { return &admission{slots: make(chan struct{}, n)} }

// acquire waits for a slot, but only while at least keep of ctx's time would
// remain for the operation itself; otherwise it fails with xmpp.Unavailable
// (wrapping errBusy) without sending anything. Call the returned function
// when the operation is over.
func (ad *admission) acquire(ctx context.Context, keep time.Duration) (func(), error) {
	release := func() { <-ad.slots }
	select {
	case ad.slots <- struct{}{}:
		return release, nil
	default:
	}
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		if time.Until(dl) < keep {
			return nil, busy()
		}
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-keep))
		defer cancel()
	}
	select {
	case ad.slots <- struct{}{}:
		return release, nil
	case <-wctx.Done():
		return nil, busy()
	}
}

// busy is the refusal of a request that did not get a slot in time.
func busy() error { return &xmpp.Error{Kind: xmpp.Unavailable, Op: "admission", Err: errBusy} }
