package migrate

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Resolver finds the client-to-server address of an XMPP domain, for
// imports into accounts on other servers.
type Resolver struct {
	// Own is the portal's own server: its domain always uses this config.
	Own xmpp.Config
	// SRV enables DNS SRV lookups (_xmpp-client._tcp, RFC 6120 §3.2.1) for
	// other domains. Off: <domain>:5222 (the RFC 6120 fallback).
	SRV bool
	// LookupSRV replaces net.DefaultResolver.LookupSRV (tests).
	LookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	// LookupNetIP replaces net.DefaultResolver.LookupNetIP, which resolves
	// the host names of other servers (and SRV targets) at dial time (tests).
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)

	// connect replaces the net.Dialer that connects to one checked public
	// address of another server (tests: to see what would be dialled).
	connect func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrBadDomain: the address has no usable domain.
var ErrBadDomain = errors.New("migrate: not a valid address")

// Config returns the connection settings for the domain of address
// (a bare JID). TLS is verified against the domain name, with the roots of
// the portal's own configuration.
//
// The portal's own domain gets r.Own unchanged: its address is dialled as
// configured, usually on loopback or a private network. Every other domain
// gets a configuration whose Dial resolves the host name (the domain or the
// SRV target) when connecting and dials only public addresses (isPublic),
// checked again on the very address being connected to; when none is
// public, the dial fails with ErrNotPublic (matching xmpp.Unavailable). A
// name in someone's DNS zone, or an SRV record, can point anywhere –
// 127.0.0.1, 10.0.0.5, the cloud metadata service at 169.254.169.254 – and
// a check at lookup time alone would be undone by a second answer at
// connect time (DNS rebinding), so the check sits in the dialer itself.
func (r Resolver) Config(ctx context.Context, address string) (xmpp.Config, string, error) {
	j, err := jid.Parse(strings.TrimSpace(address))
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return xmpp.Config{}, "", ErrBadDomain
	}
	domain := j.Domainpart()
	if domain == r.Own.Domain {
		return r.Own, j.Localpart(), nil
	}
	// Other servers only by name: an address literal (or a bare host name
	// such as localhost) would let anyone point the portal at machines on
	// its own network.
	if net.ParseIP(strings.Trim(domain, "[]")) != nil || !strings.Contains(domain, ".") {
		return xmpp.Config{}, "", ErrBadDomain
	}
	var base *tls.Config
	if r.Own.TLS != nil {
		base = r.Own.TLS.Clone()
	} else {
		base = &tls.Config{}
	}
	base.ServerName = domain
	cfg := xmpp.Config{Domain: domain, Addr: net.JoinHostPort(domain, "5222"), TLS: base, Timeout: r.Own.Timeout,
		MaxTokenBytes: r.Own.MaxTokenBytes, MaxResponseBytes: r.Own.MaxResponseBytes,
		Dial: publicDialer{lookup: r.LookupNetIP, connect: r.connect}.DialContext}
	if r.SRV {
		lookup := r.LookupSRV
		if lookup == nil {
			lookup = net.DefaultResolver.LookupSRV
		}
		if _, srvs, err := lookup(ctx, "xmpp-client", "tcp", domain); err == nil && len(srvs) > 0 && srvs[0].Target != "." {
			cfg.Addr = net.JoinHostPort(strings.TrimSuffix(srvs[0].Target, "."), strconv.Itoa(int(srvs[0].Port)))
		}
	}
	return cfg, j.Localpart(), nil
}
