package signup

import (
	"context"
	"errors"
	"testing"

	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

type recorder struct{ created []string }

func (r *recorder) Create(_ context.Context, local, _ string) error {
	r.created = append(r.created, local)
	return nil
}

// TestRefuseRetired: a retired name is refused as taken before the server
// is asked; a store failure is Unavailable and creates nothing; other
// names are created.
func TestRefuseRetired(t *testing.T) {
	rec := &recorder{}
	c := RefuseRetired(rec, func(_ context.Context, local string) (bool, error) {
		switch local {
		case "gone":
			return true, nil
		case "down":
			return false, store.ErrUnavailable
		}
		return false, nil
	})
	ctx := context.Background()
	if err := c.Create(ctx, "gone", "pw"); !errors.Is(err, xmpp.Conflict) {
		t.Fatalf("retired: %v", err)
	}
	if err := c.Create(ctx, "down", "pw"); !errors.Is(err, xmpp.Unavailable) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("store down: %v", err)
	}
	if err := c.Create(ctx, "new", "pw"); err != nil {
		t.Fatal(err)
	}
	if len(rec.created) != 1 || rec.created[0] != "new" {
		t.Fatalf("created %v", rec.created)
	}
	if RefuseRetired(rec, nil) != Creator(rec) {
		t.Fatal("nil check is not next itself")
	}
}
