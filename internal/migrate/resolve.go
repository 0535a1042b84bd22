package migrate

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// Resolver finds the client-to-server address of an XMPP domain, for
// imports into accounts on other servers.
type Resolver struct {
	// Own is the portal's own server: its domain always uses this config.
	Own xmppconn.Config
	// SRV enables DNS SRV lookups (_xmpp-client._tcp, RFC 6120 §3.2.1) for
	// other domains. Off: <domain>:5222 (the RFC 6120 fallback).
	SRV bool
	// LookupSRV replaces net.DefaultResolver.LookupSRV (tests).
	LookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// ErrBadDomain: the address has no usable domain.
var ErrBadDomain = errors.New("migrate: not a valid address")

// Config returns the connection settings for the domain of address
// (a bare JID). TLS is verified against the domain name, with the roots of
// the portal's own configuration.
func (r Resolver) Config(ctx context.Context, address string) (xmppconn.Config, string, error) {
	j, err := jid.Parse(strings.TrimSpace(address))
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return xmppconn.Config{}, "", ErrBadDomain
	}
	domain := j.Domainpart()
	if domain == r.Own.Domain {
		return r.Own, j.Localpart(), nil
	}
	// Other servers only by name: an address literal (or a bare host name
	// such as localhost) would let anyone point the portal at machines on
	// its own network.
	if net.ParseIP(strings.Trim(domain, "[]")) != nil || !strings.Contains(domain, ".") {
		return xmppconn.Config{}, "", ErrBadDomain
	}
	var base *tls.Config
	if r.Own.TLS != nil {
		base = r.Own.TLS.Clone()
	} else {
		base = &tls.Config{}
	}
	base.ServerName = domain
	cfg := xmppconn.Config{Domain: domain, Addr: net.JoinHostPort(domain, "5222"), TLS: base, Timeout: r.Own.Timeout,
		MaxTokenBytes: r.Own.MaxTokenBytes, MaxResponseBytes: r.Own.MaxResponseBytes}
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
