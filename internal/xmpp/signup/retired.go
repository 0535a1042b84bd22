package signup

import (
	"context"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// RefuseRetired is the sign-up path's check of retired names
// (delete.retire_names, internal/retire): the Creator it returns refuses a
// name that retired returns true for, as a taken name (xmpp.Conflict, so
// the page says the name is not available, and never that it was
// deleted), before anything is sent to the server; a failure of retired
// (the store cannot be read) is Unavailable and creates nothing. Every
// other name goes on to next. retired nil: next itself.
func RefuseRetired(next Creator, retired func(ctx context.Context, local string) (bool, error)) Creator {
	if retired == nil {
		return next
	}
	return refuseRetired{next: next, retired: retired}
}

type refuseRetired struct {
	next    Creator
	retired func(ctx context.Context, local string) (bool, error)
}

func (r refuseRetired) Create(ctx context.Context, localpart, password string) error {
	gone, err := r.retired(ctx, localpart)
	if err != nil {
		return &xmpp.Error{Kind: xmpp.Unavailable, Op: "retired names", Err: err}
	}
	if gone {
		return &xmpp.Error{Kind: xmpp.Conflict, Op: "retired names", Condition: "conflict", Text: "the name is retired"}
	}
	return r.next.Create(ctx, localpart, password)
}
