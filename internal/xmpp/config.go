package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"mellium.im/xmpp/jid"
)

// Defaults used when the Config fields are zero.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxTokenBytes    = 1 << 20 // 1 MiB: largest single XML token (text run or tag)
	DefaultMaxResponseBytes = 4 << 20 // 4 MiB: largest IQ response SendIQ collects
)

// Config says how to reach the XMPP server.
type Config struct {
	// Domain is the XMPP domain (the virtual host), e.g. "example.org".
	Domain string
	// Addr is host:port of the client-to-server listener (STARTTLS, usually
	// port 5222). It is dialed as is: no SRV or other DNS tricks.
	Addr string
	// Dial, when set, opens the TCP connection to Addr instead of a
	// net.Dialer; it is how a caller restricts what may be dialed (package
	// migrate refuses addresses that are not public for other servers).
	// It gets network "tcp", Addr, and a context bounded by Timeout.
	// Its errors are returned as Unavailable *Error values.
	// nil: a net.Dialer dials Addr as is (the portal's own server).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS is the client TLS configuration (RootCAs, ServerName).
	// nil means the system roots and ServerName Domain.
	// An empty ServerName is set to Domain; MinVersion is at least TLS 1.2.
	TLS *tls.Config
	// Timeout bounds dialing plus stream negotiation (TLS, SASL, bind), and is
	// the default for single requests made by callers that have no deadline.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxTokenBytes bounds a single XML token read from the server.
	// Zero means DefaultMaxTokenBytes.
	MaxTokenBytes int
	// MaxResponseBytes bounds an IQ response collected by SendIQ.
	// Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int
}

// normalize validates c and fills defaults.
func (c Config) normalize() (Config, jid.JID, error) {
	if c.Domain == "" {
		return c, jid.JID{}, errors.New("xmppconn: Config.Domain is empty")
	}
	domain, err := jid.New("", c.Domain, "")
	if err != nil {
		return c, jid.JID{}, errors.New("xmppconn: Config.Domain is not a valid XMPP domain")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, jid.JID{}, errors.New("xmppconn: Config.Addr must be host:port")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxTokenBytes <= 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c, domain, nil
}

// tlsConfig returns the TLS configuration to use for c (never nil).
func (c Config) tlsConfig() *tls.Config {
	var t *tls.Config
	if c.TLS == nil {
		t = &tls.Config{}
	} else {
		t = c.TLS.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = c.Domain
	}
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	return t
}
