package migrate

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

func TestResolver(t *testing.T) {
	own := xmpp.Config{Domain: "own.example", Addr: "10.1.2.3:5999"}
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
			if (cfg.Domain == own.Domain) != (cfg.Dial == nil) {
				t.Fatalf("Dial set %v for %s: only other servers get the public-only dialer", cfg.Dial != nil, cfg.Domain)
			}
		})
	}
}

// loopbackListener listens on 127.0.0.1 and tells how many connections
// reached it. It is the witness that nothing private is dialled.
type loopbackListener struct {
	ln       net.Listener
	accepted chan string // remote address of every accepted connection
}

func newLoopbackListener(t *testing.T) *loopbackListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &loopbackListener{ln: ln, accepted: make(chan string, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(l.accepted)
				return
			}
			l.accepted <- c.RemoteAddr().String()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return l
}

func (l *loopbackListener) port() string {
	return strconv.Itoa(l.ln.Addr().(*net.TCPAddr).Port)
}

// count returns the number of connections accepted so far. It dials a
// marker connection itself and waits until the listener has accepted it:
// connections are accepted in the order they were made, so everything
// dialled before the call has been counted by then (no sleeping).
func (l *loopbackListener) count(t *testing.T) int {
	t.Helper()
	c, err := net.Dial("tcp", l.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marker := c.LocalAddr().String()
	n := 0
	for a := range l.accepted {
		if a == marker {
			return n
		}
		n++
	}
	t.Fatal("listener closed before the marker connection arrived")
	return 0
}

// An SRV record may name any target; one on loopback must not be dialled.
// (The target is an address literal, so no resolver is asked.)
func TestResolverSRVTargetOnLoopbackIsNotDialled(t *testing.T) {
	l := newLoopbackListener(t)
	port, _ := strconv.Atoi(l.port())
	r := Resolver{
		Own: xmpp.Config{Domain: "own.example", Addr: "127.0.0.1:5222", Timeout: 5 * time.Second},
		SRV: true,
		LookupSRV: func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
			return "", []*net.SRV{{Target: "127.0.0.1.", Port: uint16(port)}}, nil
		},
	}
	cfg, local, err := r.Config(context.Background(), "bob@evil.example")
	if err != nil {
		t.Fatal(err)
	}
	_, err = xmpp.Login(context.Background(), cfg, local, "secret", nil)
	if !errors.Is(err, xmpp.Unavailable) {
		t.Errorf("login: %v, want an error matching xmpp.Unavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error names the refused address: %v", err)
	}
	if n := l.count(t); n != 0 {
		t.Errorf("%d connection(s) reached the loopback listener, want 0", n)
	}
}
