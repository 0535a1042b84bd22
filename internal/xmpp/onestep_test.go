package xmpp_test

import (
	"context"
	"testing"

	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestAddUserInOneStep: with the form sent in the first request, Prosody
// and ejabberd create the account in one round trip (the sign-up path of
// admin mode), and the account logs in.
func TestAddUserInOneStep(t *testing.T) {
	testenv.EachServer(t, testenv.Options{Mode: testenv.ModeAdmin}, func(t *testing.T, s *testenv.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		defer cancel()
		admin := s.Admin()
		known := form.New(
			form.Hidden("FORM_TYPE", form.Value("http://jabber.org/protocol/admin")),
			form.JID("accountjid"), form.TextPrivate("password"), form.TextPrivate("password-verify"),
		)
		const pw = "one step Secret 42"
		user := jid.MustParse("onestep@" + s.Domain)
		res, err := admin.RunWith(ctx, testenv.AddUserNode, known, testenv.FillAddUser(user, pw))
		if err != nil {
			t.Fatalf("add-user: %v", err)
		}
		if res.Steps != 1 {
			t.Errorf("add-user took %d requests, want 1", res.Steps)
		}
		c, err := xmpp.Login(ctx, s.XMPP(), "onestep", pw, nil)
		if err != nil {
			t.Fatalf("the new account does not log in: %v", err)
		}
		c.Close()
	})
}
