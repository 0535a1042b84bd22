package xmpp_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Config.Dial replaces the net.Dialer: it gets "tcp" and Addr as is, with a
// deadline, and its errors come back matching ErrUnavailable.
func TestConfigDialIsUsed(t *testing.T) {
	refused := errors.New("test: refused")
	var got []string
	var hadDeadline bool
	cfg := xmpp.Config{Domain: "example.org", Addr: "xmpp.example.org:5222", Timeout: time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			got = append(got, network+" "+addr)
			_, hadDeadline = ctx.Deadline()
			return nil, refused
		}}
	for _, name := range []string{"Dial", "Login", "Unauth"} {
		t.Run(name, func(t *testing.T) {
			got = nil
			var err error
			switch name {
			case "Dial":
				_, err = xmpp.Dial(context.Background(), cfg)
			case "Login":
				_, err = xmpp.Login(context.Background(), cfg, "alice", "secret", nil)
			case "Unauth":
				_, err = xmpp.Unauth(context.Background(), cfg)
			}
			if !errors.Is(err, xmpp.Unavailable) || !errors.Is(err, refused) {
				t.Errorf("err %v, want one matching ErrUnavailable and the dialer's error", err)
			}
			if len(got) != 1 || got[0] != "tcp xmpp.example.org:5222" || !hadDeadline {
				t.Errorf("dialed %q (deadline %v), want one dial of tcp xmpp.example.org:5222 with a deadline", got, hadDeadline)
			}
		})
	}
}

// Without Config.Dial the configured address is dialed as is: the portal's
// own server, usually on loopback.
func TestConfigWithoutDialDialsAddr(t *testing.T) {
	accepted := make(chan struct{}, 1)
	addr := testenv.TCPServer(t, func(net.Conn) {
		select {
		case accepted <- struct{}{}:
		default:
		}
	})
	c, err := xmpp.Dial(context.Background(), xmpp.Config{Domain: "localhost", Addr: addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	<-accepted
}
