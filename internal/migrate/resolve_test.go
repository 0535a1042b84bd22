package migrate

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

func TestResolver(t *testing.T) {
	own := xmppconn.Config{Domain: "own.example", Addr: "10.1.2.3:5999"}
	srv := func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
		if name == "srv.example" {
			return "", []*net.SRV{{Target: "xmpp.srv.example.", Port: 5333}}, nil
		}
		return "", nil, errors.New("no such record")
	}
	cases := []struct {
		name, address string
		srv           bool
		addr, local   string
		err           error
	}{
		{"own domain uses the configuration", "alice@own.example", false, "10.1.2.3:5999", "alice", nil},
		{"other domain: port 5222", "bob@other.example", false, "other.example:5222", "bob", nil},
		{"srv off: no lookup", "bob@srv.example", false, "srv.example:5222", "bob", nil},
		{"srv on", "bob@srv.example", true, "xmpp.srv.example:5333", "bob", nil},
		{"srv on, no record: fallback", "bob@other.example", true, "other.example:5222", "bob", nil},
		{"no localpart", "other.example", false, "", "", ErrBadDomain},
		{"resource", "bob@other.example/phone", false, "", "", ErrBadDomain},
		{"ip literal", "bob@127.0.0.1", false, "", "", ErrBadDomain},
		{"ipv6 literal", "bob@[::1]", false, "", "", ErrBadDomain},
		{"single label", "bob@localhost", false, "", "", ErrBadDomain},
		{"garbage", "a@b@c", false, "", "", ErrBadDomain},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Resolver{Own: own, SRV: c.srv, LookupSRV: srv}
			cfg, local, err := r.Config(context.Background(), c.address)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if cfg.Addr != c.addr || local != c.local {
				t.Fatalf("got %s %s, want %s %s", cfg.Addr, local, c.addr, c.local)
			}
			if cfg.Domain != own.Domain && (cfg.TLS == nil || cfg.TLS.ServerName != cfg.Domain) {
				t.Fatalf("TLS not verified against the domain: %+v", cfg.TLS)
			}
		})
	}
}
