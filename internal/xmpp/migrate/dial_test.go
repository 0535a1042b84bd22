package migrate

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

func TestIsPublic(t *testing.T) {
	cases := []struct {
		addr   string
		public bool
	}{
		// IPv4 public, including the neighbours of refused ranges.
		{"1.1.1.1", true},
		{"8.8.8.8", true},
		{"1.0.0.0", true},
		{"9.255.255.255", true},
		{"11.0.0.0", true},
		{"100.63.255.255", true},
		{"100.128.0.0", true},
		{"126.255.255.255", true},
		{"128.0.0.0", true},
		{"169.253.255.255", true},
		{"169.255.0.0", true},
		{"172.15.255.255", true},
		{"172.32.0.0", true},
		{"191.255.255.255", true},
		{"192.0.1.0", true},
		{"192.0.3.0", true},
		{"192.167.255.255", true},
		{"192.169.0.0", true},
		{"198.17.255.255", true},
		{"198.20.0.0", true},
		{"198.51.99.255", true},
		{"198.51.101.0", true},
		{"203.0.112.255", true},
		{"203.0.114.0", true},
		{"223.255.255.255", true},
		// IPv4 refused: both edges of each range.
		{"0.0.0.0", false},
		{"0.255.255.255", false},
		{"10.0.0.0", false},
		{"10.0.0.5", false},
		{"10.255.255.255", false},
		{"100.64.0.0", false},
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"127.0.0.0", false},
		{"127.255.255.255", false},
		{"169.254.0.0", false},
		{"169.254.169.254", false},
		{"169.254.255.255", false},
		{"172.16.0.0", false},
		{"172.31.255.255", false},
		{"192.0.0.0", false},
		{"192.0.0.255", false},
		{"192.0.2.0", false},
		{"192.0.2.255", false},
		{"192.88.99.1", false},
		{"192.168.0.0", false},
		{"192.168.255.255", false},
		{"198.18.0.0", false},
		{"198.19.255.255", false},
		{"198.51.100.0", false},
		{"198.51.100.255", false},
		{"203.0.113.0", false},
		{"203.0.113.255", false},
		{"224.0.0.0", false},
		{"239.255.255.255", false},
		{"240.0.0.0", false},
		{"255.255.255.255", false},
		// IPv4-mapped IPv6.
		{"::ffff:1.1.1.1", true},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.5", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:100.64.0.1", false},
		{"::ffff:0.0.0.0", false},
		// IPv6 public.
		{"2001:4860:4860::8888", true},
		{"2a00:1450:4001::1", true},
		{"2000::", true},
		{"2001:200::1", true}, // just past 2001::/23
		{"2001:db7:ffff:ffff::1", true},
		{"2001:db9::1", true},
		{"3ffe:ffff::1", true},
		{"3fff:1000::1", true}, // just past 3fff::/20
		// IPv6 refused.
		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false}, // IPv4-compatible, deprecated
		{"::8.8.8.8", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"febf:ffff::1", false},
		{"fec0::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fdff:ffff::1", false},
		{"ff02::1", false},
		{"ff0e::1", false},
		{"100::1", false},
		{"5f00::1", false},
		{"1fff:ffff::1", false},
		{"4000::1", false},
		{"2001::1", false},            // Teredo
		{"2001:0:4136:e378::", false}, // Teredo with a public server
		{"2001:2::1", false},          // benchmarking
		{"2001:1ff:ffff::1", false},
		{"2001:db8::1", false},
		{"2001:db8:ffff:ffff::1", false},
		{"3fff::1", false},
		{"3fff:fff:ffff::1", false},
		// IPv4 wrapped in IPv6 prefixes: the IPv4 address decides.
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b::a00:5", false},  // NAT64 of 10.0.0.5
		{"64:ff9b::a9fe:a9fe", false},
		{"64:ff9b:1::808:808", false}, // local-use NAT64 prefix
		{"2002:808:808::1", true},     // 6to4 of 8.8.8.8
		{"2002:7f00:1::1", false},     // 6to4 of 127.0.0.1
		{"2002:a00:5::1", false},      // 6to4 of 10.0.0.5
		{"2002:c0a8:101::1", false},   // 6to4 of 192.168.1.1
		{"2002:a9fe:a9fe::1", false},  // 6to4 of 169.254.169.254
	}
	for _, c := range cases {
		a, err := netip.ParseAddr(c.addr)
		if err != nil {
			t.Fatalf("%s: %v", c.addr, err)
		}
		if got := isPublic(a); got != c.public {
			t.Errorf("isPublic(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
	if isPublic(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

// The Control function checks the numeric address connect(2) is about to
// use: a private one never gets a connection, whatever resolved it.
func TestDialControlRefusesPrivate(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"1.1.1.1:5222", true},
		{"[2001:4860:4860::8888]:5222", true},
		{"127.0.0.1:5222", false},
		{"10.0.0.5:5222", false},
		{"[::1]:5222", false},
		{"[::ffff:127.0.0.1]:5222", false},
		{"[fe80::1%eth0]:5222", false},
		{"localhost:5222", false}, // not numeric: never passed by net, refused anyway
		{"", false},
	}
	for _, c := range cases {
		err := controlPublic("tcp4", c.addr, nil)
		if (err == nil) != c.ok || (err != nil && err != ErrNotPublic) {
			t.Errorf("controlPublic(%q) = %v, want ok %v", c.addr, err, c.ok)
		}
	}
	// The real dialer, pointed straight at a loopback listener.
	l := newLoopbackListener(t)
	_, err := publicNetDialer().DialContext(context.Background(), "tcp", l.ln.Addr().String())
	if !errors.Is(err, ErrNotPublic) {
		t.Errorf("dial loopback: %v, want ErrNotPublic", err)
	}
	if n := l.count(t); n != 0 {
		t.Errorf("%d connection(s) reached the loopback listener, want 0", n)
	}
}

// recorder stands in for the net.Dialer behind the public check: it notes
// every address it is asked to connect to and refuses, except that loopback
// addresses are really dialled (to the listener), so a bug that let one
// through would show up as an accepted connection as well.
type recorder struct {
	mu     sync.Mutex
	dialed []string
	answer string // this address gets a connection (one end of a pipe)
}

var errRecorder = errors.New("test: recorder does not connect")

func (r *recorder) connect(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.dialed = append(r.dialed, addr)
	r.mu.Unlock()
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Unmap().IsLoopback() {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	if addr == r.answer {
		c, s := net.Pipe()
		_ = s.Close()
		return c, nil
	}
	return nil, errRecorder
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dialed)
}

func TestResolverDialsOnlyPublic(t *testing.T) {
	l := newLoopbackListener(t)
	port := l.port()
	hosts := map[string][]string{
		"loopback.example": {"127.0.0.1"},
		"private.example":  {"10.0.0.5"},
		"v6loop.example":   {"::1"},
		"mapped.example":   {"::ffff:127.0.0.1"},
		"metadata.example": {"169.254.169.254"},
		"allpriv.example":  {"127.0.0.1", "10.0.0.5", "::1", "192.168.1.1", "fd00::1"},
		"mixed.example":    {"10.0.0.5", "127.0.0.1", "1.1.1.1", "::1", "2001:4860:4860::8888", "::ffff:127.0.0.1"},
		"answers.example":  {"127.0.0.1", "1.1.1.1", "8.8.8.8"},
		"public.example":   {"1.1.1.1"},
		// SRV: the domain itself is public, its SRV target is loopback.
		"srv.example":      {"1.1.1.1"},
		"xmpp.srv.example": {"127.0.0.1"},
	}
	lookup := func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if network != "ip" {
			return nil, errors.New("unexpected network " + network)
		}
		ips, ok := hosts[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, s := range ips {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
	lookupSRV := func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
		if name == "srv.example" {
			return "", []*net.SRV{{Target: "xmpp.srv.example.", Port: mustPort(t, port)}}, nil
		}
		return "", nil, errors.New("no such record")
	}
	pub := func(ip string) string { return net.JoinHostPort(ip, port) }
	cases := []struct {
		name, address string
		dialed        []string // what the public check passed on
		answer        string   // the address that accepts (recorder)
		err           error    // nil: connected
	}{
		{"loopback", "bob@loopback.example", nil, "", ErrNotPublic},
		{"private", "bob@private.example", nil, "", ErrNotPublic},
		{"ipv6 loopback", "bob@v6loop.example", nil, "", ErrNotPublic},
		{"ipv4-mapped loopback", "bob@mapped.example", nil, "", ErrNotPublic},
		{"cloud metadata", "bob@metadata.example", nil, "", ErrNotPublic},
		{"all private", "bob@allpriv.example", nil, "", ErrNotPublic},
		{"mix: public ones only, in order", "bob@mixed.example", []string{pub("1.1.1.1"), pub("2001:4860:4860::8888")}, "", errRecorder},
		{"mix: the first public one answers", "bob@answers.example", []string{pub("1.1.1.1")}, pub("1.1.1.1"), nil},
		{"public", "bob@public.example", []string{pub("1.1.1.1")}, "", errRecorder},
		{"srv target on loopback", "bob@srv.example", nil, "", ErrNotPublic},
		{"unknown name", "bob@nxdomain.example", nil, "", xmpp.Unavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{answer: c.answer}
			r := Resolver{Own: xmpp.Config{Domain: "own.example", Addr: "127.0.0.1:5222"}, SRV: true,
				LookupSRV: lookupSRV, LookupNetIP: lookup, connect: rec.connect}
			cfg, _, err := r.Config(context.Background(), c.address)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Dial == nil {
				t.Fatal("no Dial in the configuration of another server")
			}
			if !strings.HasPrefix(cfg.Addr, "xmpp.srv.example:") {
				// Port 5222 comes from the fallback; the listener has another.
				host, _, _ := net.SplitHostPort(cfg.Addr)
				cfg.Addr = net.JoinHostPort(host, port)
			}
			conn, err := xmpp.Dial(context.Background(), cfg)
			if conn != nil {
				_ = conn.Close()
			}
			switch {
			case c.err == nil && err != nil:
				t.Errorf("dial: %v, want a connection", err)
			case c.err != nil && !errors.Is(err, c.err):
				t.Errorf("dial: %v, want %v", err, c.err)
			case c.err != nil && !errors.Is(err, xmpp.Unavailable):
				t.Errorf("dial: %v does not match xmpp.Unavailable", err)
			}
			if errors.Is(err, ErrNotPublic) && err.Error() != "xmpp: dial: unavailable: "+ErrNotPublic.Error() {
				t.Errorf("error %q says more than that the address is not public", err)
			}
			if got := rec.got(); !slices.Equal(got, c.dialed) {
				t.Errorf("dialed %q, want %q", got, c.dialed)
			}
			if n := l.count(t); n != 0 {
				t.Errorf("%d connection(s) reached the loopback listener, want 0", n)
			}
		})
	}
}

// The production dialer (no test hook) refuses a name that resolves to
// loopback before any connection is made.
func TestResolverRealDialerRefusesLoopback(t *testing.T) {
	l := newLoopbackListener(t)
	r := Resolver{Own: xmpp.Config{Domain: "own.example", Addr: "127.0.0.1:5222"},
		LookupNetIP: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::ffff:127.0.0.1")}, nil
		}}
	cfg, local, err := r.Config(context.Background(), "bob@rebind.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = net.JoinHostPort("rebind.example", l.port())
	cfg.Timeout = 5 * time.Second
	_, err = xmpp.Login(context.Background(), cfg, local, "secret", nil)
	if !errors.Is(err, ErrNotPublic) || !errors.Is(err, xmpp.Unavailable) {
		t.Errorf("login: %v, want ErrNotPublic matching xmpp.Unavailable", err)
	}
	if n := l.count(t); n != 0 {
		t.Errorf("%d connection(s) reached the loopback listener, want 0", n)
	}
}

// The portal's own server keeps its configuration: its address (loopback
// here) is dialled as configured, without any lookup or public check.
func TestResolverOwnServerStillDialsLoopback(t *testing.T) {
	l := newLoopbackListener(t)
	own := xmpp.Config{Domain: "own.example", Addr: l.ln.Addr().String(), Timeout: 5 * time.Second}
	r := Resolver{Own: own, SRV: true,
		LookupSRV: func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
			t.Error("SRV lookup for the own domain")
			return "", nil, errors.New("no")
		},
		LookupNetIP: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			t.Error("address lookup for the own domain")
			return nil, errors.New("no")
		}}
	cfg, local, err := r.Config(context.Background(), "alice@own.example")
	if err != nil || local != "alice" {
		t.Fatalf("config: %q %v", local, err)
	}
	if cfg.Dial != nil || cfg.Addr != own.Addr {
		t.Fatalf("own configuration changed: Addr %s, Dial set %v", cfg.Addr, cfg.Dial != nil)
	}
	c, err := xmpp.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if n := l.count(t); n != 1 {
		t.Errorf("%d connection(s) reached the own server, want 1", n)
	}
}

func mustPort(t *testing.T, s string) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort("127.0.0.1:" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}
