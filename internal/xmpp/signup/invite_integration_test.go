package signup_test

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// registerWithToken is what an app does with an invite (XEP-0445, as
// Prosody's mod_invites_register implements it): on an unauthenticated
// STARTTLS stream it hands the server the token (<preauth
// xmlns="urn:xmpp:pars:0" token="…"/> in an IQ set), then registers with
// XEP-0077 on the same stream. token "" skips the first step (a client
// without an invite). The error is the first refusal.
func registerWithToken(ctx context.Context, cfg xmpp.Config, token, local, password string) error {
	c, err := xmpp.Unauth(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if token != "" {
		preauth := xmlstream.Wrap(nil, xml.StartElement{
			Name: xml.Name{Space: "urn:xmpp:pars:0", Local: "preauth"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "token"}, Value: token}},
		})
		if _, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, preauth); err != nil {
			return err
		}
	}
	field := func(name, v string) xml.TokenReader {
		return xmlstream.Wrap(xmlstream.Token(xml.CharData(v)), xml.StartElement{Name: xml.Name{Local: name}})
	}
	q := xmlstream.Wrap(xmlstream.MultiReader(field("username", local), field("password", password)),
		xml.StartElement{Name: xml.Name{Space: signup.NSRegister, Local: "query"}})
	_, err = c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, q)
	return err
}

// TestInvites: on Prosody, started from the shipped configuration (which
// loads mod_invites, mod_invites_adhoc and mod_invites_register in admin
// mode), the portal's admin session is offered the invite command and gets
// a one-time invite with the configured lifetime (PROSODY_INVITE_EXPIRY, an
// hour by default); an app that hands the server the token registers and
// logs in; the same token a second time is refused, and so is in-band
// registration without a token (the captcha cannot be skipped). On
// ejabberd 23.01, which has no such command, and on Prosody in ibr mode
// (no invites there), Offered is false and Create answers NotAvailable.
func TestInvites(t *testing.T) {
	t.Run("prosody", func(t *testing.T) {
		t.Parallel()
		s := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
		ctx, cancel := context.WithTimeout(context.Background(), callerHangLimit)
		defer cancel()
		logs := &testenv.LockedBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg := s.XMPP()
		cfg.Timeout = xmppHangLimit
		inv := signup.NewInvites(s.Admin(), log)
		if !inv.Offered(ctx) {
			t.Fatalf("the shipped Prosody configuration does not offer %s to the admin", signup.InviteNode)
		}
		before := time.Now()
		i, err := inv.Create(ctx)
		if err != nil {
			t.Fatalf("create an invite: %v", err)
		}
		if !signup.ValidInviteToken(i.Token) {
			t.Fatalf("token %q", i.Token)
		}
		if want := before.Add(time.Hour); i.Expires.Before(want.Add(-time.Minute)) || i.Expires.After(time.Now().Add(time.Hour+time.Minute)) {
			t.Errorf("the invite expires at %s, want an hour from its creation (%s)", i.Expires, want)
		}
		if got, want := i.URI(s.Domain), "xmpp:"+s.Domain+"?register;preauth="+i.Token; got != want {
			t.Errorf("URI %q, want %q", got, want)
		}
		other, err := inv.Create(ctx)
		if err != nil || other.Token == i.Token {
			t.Fatalf("a second invite: %v, the same token: %v", err, other.Token == i.Token)
		}

		// No token: refused, whatever the name.
		if err := registerWithToken(ctx, cfg, "", "notoken", strongPassword()); err == nil {
			t.Fatal("in-band registration without a token succeeded")
		} else {
			t.Logf("without a token: %v", err)
		}
		if c, err := xmpp.Login(ctx, cfg, "notoken", "x", nil); err == nil {
			c.Close()
			t.Fatal("the account registered without a token exists")
		}
		// A made-up token: refused.
		if err := registerWithToken(ctx, cfg, "madeUpToken123456", "madeup", strongPassword()); err == nil {
			t.Fatal("a made-up token registered an account")
		}

		// The app with the token: registers, logs in.
		pw := strongPassword()
		if err := registerWithToken(ctx, cfg, i.Token, "invited", pw); err != nil {
			t.Fatalf("registration with the invite's token: %v", err)
		}
		c, err := xmpp.Login(ctx, cfg, "invited", pw, nil)
		if err != nil {
			t.Fatalf("the invited account does not log in: %v", err)
		}
		c.Close()
		// The same token again: refused at the token, nothing created.
		err = registerWithToken(ctx, cfg, i.Token, "invitedagain", pw)
		if err == nil {
			t.Fatal("the token registered a second account")
		}
		if e := xmpp.AsError(err); e.Condition != "forbidden" {
			t.Errorf("the used token: %v, want forbidden", err)
		}
		if c, err := xmpp.Login(ctx, cfg, "invitedagain", pw, nil); err == nil {
			c.Close()
			t.Fatal("the second account exists")
		}
		// The other invite still works once.
		if err := registerWithToken(ctx, cfg, other.Token, "invited2", pw); err != nil {
			t.Fatalf("the second invite: %v", err)
		}
		// The tokens never reach the portal's log.
		for _, tok := range []string{i.Token, other.Token} {
			if strings.Contains(logs.String(), tok) {
				t.Fatalf("the log holds a token:\n%s", logs)
			}
		}
		if !strings.Contains(logs.String(), `"msg":"invite.created"`) {
			t.Errorf("no invite.created in the log:\n%s", logs)
		}
	})
	for _, c := range []struct {
		name  string
		start func(testing.TB, testenv.Options) *testenv.Server
		mode  string
	}{
		{"ejabberd", testenv.StartEjabberd, testenv.ModeAdmin},
		{"prosody-ibr", testenv.StartProsody, testenv.ModeIBR},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := c.start(t, testenv.Options{Mode: c.mode})
			ctx, cancel := context.WithTimeout(context.Background(), callerHangLimit)
			defer cancel()
			inv := signup.NewInvites(s.Admin(), nil)
			if inv.Offered(ctx) {
				t.Fatal("Offered is true on a server without the invite command")
			}
			if err := inv.Check(ctx); !errors.Is(err, xmpp.NotAvailable) {
				t.Errorf("Check: %v, want NotAvailable", err)
			}
			if _, err := inv.Create(ctx); !errors.Is(err, xmpp.NotAvailable) {
				t.Errorf("Create: %v, want NotAvailable", err)
			}
		})
	}
}
