package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

func TestStartProsody(t *testing.T) {
	t.Parallel()
	s := StartProsody(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := xmppconn.Login(ctx, s.XMPP(), s.AdminJID.Localpart(), s.AdminPassword, nil)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	xmppconn.Close(sess)
}
