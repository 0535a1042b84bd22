package migrate

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotPublic: every address the server's name resolved to is outside the
// public address space, so nothing was dialled. It reaches the caller
// wrapped in an *xmpp.Error of kind Unavailable (the dial's error), so
// errors.Is(err, xmpp.Unavailable) holds and the user reads "the server cannot be reached" – never which private host
// exists. The text names no address: it may be logged as it is.
var ErrNotPublic = errors.New("refused: not a public address")

// publicDialer is the Config.Dial of every other server's configuration.
// It resolves the host name of addr itself, drops every address that is not
// public (isPublic), and dials the public ones in turn. Its net.Dialer checks
// the address once more right before the connect system call (Control), so
// nothing but a checked, public address is ever connected to, whatever a
// resolver answers between the lookup and the connect (DNS rebinding).
type publicDialer struct {
	// lookup resolves a host name (net.DefaultResolver.LookupNetIP).
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// connect dials one checked ip:port (tests; nil: publicNetDialer).
	connect func(ctx context.Context, network, addr string) (net.Conn, error)
}

// minAttempt is the least time one address gets when several are tried
// (net.Dialer splits its deadline the same way).
const minAttempt = 2 * time.Second

func (p publicDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	lookupNet := "ip"
	switch network {
	case "tcp4":
		lookupNet = "ip4"
	case "tcp6":
		lookupNet = "ip6"
	}
	lookup := p.lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	ips, err := lookup(ctx, lookupNet, host)
	if err != nil {
		return nil, err
	}
	var public []netip.Addr
	for _, ip := range ips {
		if isPublic(ip) {
			public = append(public, ip.Unmap())
		}
	}
	if len(public) == 0 {
		return nil, ErrNotPublic
	}
	connect := p.connect
	if connect == nil {
		connect = publicNetDialer().DialContext
	}
	var first error
	for i, ip := range public {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok && i < len(public)-1 {
			share := time.Until(dl) / time.Duration(len(public)-i)
			if share < minAttempt {
				share = min(minAttempt, time.Until(dl))
			}
			actx, cancel = context.WithTimeout(ctx, share)
		}
		c, err := connect(actx, network, net.JoinHostPort(ip.String(), port))
		cancel()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrNotPublic) {
			err = ErrNotPublic // the net.OpError around it names the address
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// publicNetDialer is the dialer behind publicDialer: its Control refuses
// a connect to anything but a public address.
func publicNetDialer() *net.Dialer {
	return &net.Dialer{KeepAlive: 30 * time.Second, Control: controlPublic}
}

// controlPublic runs right before connect(2) with the numeric address
// being connected to.
func controlPublic(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !isPublic(ap.Addr()) {
		return ErrNotPublic
	}
	return nil
}

// Address ranges that are not public, beyond what net/netip's predicates
// (IsLoopback, IsPrivate, IsLinkLocalUnicast, IsMulticast, IsUnspecified,
// ...) recognise. IPv4 ones are also matched in their IPv4-mapped form
// (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), which isPublic unmaps first.
var notPublic = []netip.Prefix{
	// IPv4 (IANA special-purpose registry, RFC 6890).
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", RFC 1122 §3.2.1.3
	netip.MustParsePrefix("10.0.0.0/8"),      // private, RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback, RFC 1122 §3.2.1.3
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, RFC 3927
	netip.MustParsePrefix("172.16.0.0/12"),   // private, RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments, RFC 6890 (DS-Lite RFC 7335, NAT64 discovery RFC 7050, ...)
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1 documentation, RFC 5737
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast, RFC 3068, deprecated by RFC 7526
	netip.MustParsePrefix("192.168.0.0/16"),  // private, RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, RFC 2544
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2 documentation, RFC 5737
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3 documentation, RFC 5737
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast, RFC 5771
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, RFC 1112 §4; includes limited broadcast 255.255.255.255, RFC 919
	// IPv6 inside global unicast 2000::/3 (everything outside it is refused
	// anyway, see isPublic).
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments, RFC 2928: Teredo 2001::/32 (RFC 4380), benchmarking 2001:2::/48 (RFC 5180), ORCHIDv2 2001:20::/28 (RFC 7343), anycast services
	netip.MustParsePrefix("2001:db8::/32"), // documentation, RFC 3849
	netip.MustParsePrefix("3fff::/20"),     // documentation, RFC 9637
}

// Prefixes of IPv6 addresses that carry an IPv4 address: such an address is
// public only if the IPv4 address it reaches is.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // NAT64 well-known prefix, RFC 6052 §2.1: IPv4 in the last 32 bits
	sixToFour   = netip.MustParsePrefix("2002::/16")    // 6to4, RFC 3056 §2: IPv4 in bits 16-47
	globalUni   = netip.MustParsePrefix("2000::/3")     // global unicast, RFC 4291 §2.4, IANA IPv6 address space
)

// isPublic reports whether a is a public unicast address the portal may
// connect to for another server. It refuses
//
//   - loopback, unspecified, link-local, multicast (both families), and the
//     IPv4 ranges in notPublic: private (RFC 1918), CGNAT (RFC 6598),
//     0.0.0.0/8, 192.0.0.0/24, documentation (RFC 5737), benchmarking
//     (RFC 2544), 6to4 relays, reserved 240/4 and the limited broadcast;
//   - every IPv4 form of these in IPv6 clothing: IPv4-mapped
//     (::ffff:0:0/96, RFC 4291 §2.5.5.2), NAT64 with the well-known prefix
//     (64:ff9b::/96, RFC 6052) and 6to4 (2002::/16, RFC 3056) whose IPv4
//     address is not public; Teredo (2001::/32, RFC 4380) altogether;
//   - IPv6 outside global unicast 2000::/3 (RFC 4291 §2.4): unique local
//     fc00::/7 (RFC 4193), link-local fe80::/10, site-local fec0::/10
//     (RFC 3879), the deprecated IPv4-compatible ::/96 (RFC 4291 §2.5.5.1),
//     discard-only 100::/64 (RFC 6666), local-use NAT64 64:ff9b:1::/48
//     (RFC 8215, its IPv4 position is network-specific), SRv6 5f00::/16
//     (RFC 9602), multicast ff00::/8;
//   - inside 2000::/3: IETF protocol assignments 2001::/23 (RFC 2928) and
//     documentation (2001:db8::/32, RFC 3849; 3fff::/20, RFC 9637).
//
// Not covered: a subnet's directed broadcast address (it depends on a
// netmask only the network knows) and IPv4 addresses embedded in an
// interface identifier (ISATAP, RFC 5214), which the IPv6 prefix routes.
func isPublic(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		if !a.IsGlobalUnicast() {
			return false // loopback, link-local, multicast, unspecified, broadcast
		}
		for _, p := range notPublic {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return isPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return isPublic(netip.AddrFrom4([4]byte(b[2:6])))
	case !globalUni.Contains(a):
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
