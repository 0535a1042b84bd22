// Package proxyhdr is the one place where the portal's listeners meet the
// PROXY protocol (haproxy's proxy-protocol.txt): tor's circuit ids are read
// on the onion listener, and a PROXY header is refused everywhere else.
//
// With HiddenServiceExportCircuitID haproxy, tor writes one line before the
// visitor's bytes on every stream it opens to the service's local port:
//
//	PROXY TCP6 fc00:dead:beef:4dad::AABB:CCDD ::1 <AABB:CCDD & 0xffff> 80\r\n
//
// a PROXY protocol version 1 header whose source address carries tor's
// global circuit identifier (0xAABBCCDD) in its last 32 bits. Circuits
// requires exactly that header on every connection of the listener it wraps
// and hands the circuit, never an address, to the rate limiter (Circuit).
// Since tor writes its header before anything the visitor sends, a visitor
// cannot choose its circuit id: a second PROXY line would be the start of its
// HTTP request (and malformed). Refuse wraps every other listener: a PROXY
// header there (the clearnet listener, or the onion listener when tor does
// not export circuit ids, where the visitor's own bytes come first) is
// answered with 400, logged and the connection closed.
//
// The header is read with github.com/pires/go-proxyproto, a maintained
// implementation of both versions that many proxies use; its reads are
// bounded: a version 1 line is at most 107 bytes and must arrive in one read
// (no slow loris), a version 2 header at most 16 + 65,535 bytes, and every
// header within HeaderTimeout, after which the connection fails (Circuits)
// or is served without one (Refuse). Version 2, TCP4, other source prefixes
// and the LOCAL command are refused on the onion listener: tor sends none of
// them.
package proxyhdr

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// HeaderTimeout bounds the wait for a PROXY header at the start of a
// connection. tor writes its header as soon as the stream is open; a client
// that sends nothing is given up on here (Circuits) or served without a
// header (Refuse; http.Server's own timeouts apply on).
const HeaderTimeout = 10 * time.Second

// torSource is the prefix tor puts in front of the circuit id in the source
// address (fc00:dead:beef:4dad::/96, RFC 4193 unique local).
var torSource = [12]byte{0xfc, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x4d, 0xad}

var (
	errNotTor = errors.New("not tor's circuit header (PROXY v1 TCP6 from fc00:dead:beef:4dad::/96 to ::1)")
	refusal   = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 32\r\n\r\nPROXY protocol header refused.\r\n")
)

// Circuits wraps the onion listener when tor exports circuit ids: every
// connection must start with tor's header (see the package documentation),
// or it is closed and logged (onion.circuit_header_refused). session, when
// not nil, is called once per connection as it is accepted: an id of the tor
// process that is connected (circuit ids start again with every tor), which
// Circuit puts in front of the circuit id.
func Circuits(ln net.Listener, session func() []byte, log *slog.Logger) net.Listener {
	return &circuitListener{
		pl: &proxyproto.Listener{
			Listener:          ln,
			ConnPolicy:        func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil },
			ValidateHeader:    validateTor,
			ReadHeaderTimeout: HeaderTimeout,
		},
		session: session,
		log:     orDiscard(log),
	}
}

type circuitListener struct {
	pl      *proxyproto.Listener
	session func() []byte
	log     *slog.Logger
}

func (l *circuitListener) Accept() (net.Conn, error) {
	c, err := l.pl.Accept()
	if err != nil {
		return nil, err
	}
	pc, ok := c.(*proxyproto.Conn)
	if !ok { // not with a REQUIRE policy; never closes a connection unread
		c.Close()
		return nil, fmt.Errorf("proxyhdr: unexpected connection type %T", c)
	}
	cc := &circuitConn{Conn: pc, log: l.log}
	if l.session != nil {
		cc.session = append([]byte(nil), l.session()...)
	}
	return cc, nil
}

func (l *circuitListener) Close() error   { return l.pl.Close() }
func (l *circuitListener) Addr() net.Addr { return l.pl.Addr() }

// circuitConn is a connection of the onion listener with tor's header.
type circuitConn struct {
	*proxyproto.Conn
	session []byte
	log     *slog.Logger

	once sync.Once
	id   []byte // session + circuit id; nil when the header was refused
}

// Read logs a refused header once; the error ends the connection.
func (c *circuitConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.circuit() // decides, and logs a refusal, once
	}
	return n, err
}

// circuit reads the header (once) and returns the connection's circuit
// identity, or nil after logging why there is none.
func (c *circuitConn) circuit() []byte {
	c.once.Do(func() {
		h := c.Conn.ProxyHeader()
		if h == nil {
			_, err := c.Conn.Read(nil) // the header error, kept by the connection
			c.log.Warn("onion.circuit_header_refused", "listener", "onion", "reason", reason(err),
				"effect", "connection closed; tor must send HiddenServiceExportCircuitID haproxy headers to this listener")
			return
		}
		ip := h.SourceAddr.(*net.TCPAddr).IP.To16() // checked by validateTor
		c.id = binary.BigEndian.AppendUint32(append([]byte(nil), c.session...), binary.BigEndian.Uint32(ip[12:]))
	})
	return c.id
}

// validateTor accepts exactly the header tor writes.
func validateTor(h *proxyproto.Header) error {
	if h.Version != 1 || h.Command != proxyproto.PROXY || h.TransportProtocol != proxyproto.TCPv6 {
		return errNotTor
	}
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok || len(src.IP) != net.IPv6len || [12]byte(src.IP[:12]) != torSource {
		return errNotTor
	}
	if dst, ok := h.DestinationAddr.(*net.TCPAddr); !ok || !dst.IP.Equal(net.IPv6loopback) {
		return errNotTor
	}
	return nil
}

// CircuitID returns tor's circuit id in the header of a connection of
// Circuits, and whether there is one (the header was read and accepted).
func CircuitID(c net.Conn) (uint32, bool) {
	cc, ok := c.(*circuitConn)
	if !ok {
		return 0, false
	}
	id := cc.circuit()
	if id == nil {
		return 0, false
	}
	return binary.BigEndian.Uint32(id[len(id)-4:]), true
}

type connKey struct{}

// ConnContext is http.Server.ConnContext for a server on a listener of
// Circuits: it keeps the connection in its requests' contexts for Circuit.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*circuitConn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// Circuit returns what identifies the Tor circuit r came over (the tor
// session's id, then the circuit id, 4 bytes, big-endian), for
// abuse.LimiterOptions.Circuit; ok is false for requests of any other
// listener or server. It holds no address.
func Circuit(r *http.Request) (id []byte, ok bool) {
	cc, _ := r.Context().Value(connKey{}).(*circuitConn)
	if cc == nil {
		return nil, false
	}
	id = cc.circuit()
	return id, id != nil
}

// Refuse wraps a listener on which no PROXY header may arrive: the clearnet
// listener, or the onion listener when tor does not export circuit ids.
// A connection that starts with a PROXY header (version 1 or 2) is answered
// with 400, closed and logged (http.proxy_header_refused, with listener and
// why: never the header's addresses); any other connection is served as it
// is.
func Refuse(ln net.Listener, listener, why string, log *slog.Logger) net.Listener {
	return &refuseListener{Listener: ln, name: listener, why: why, log: orDiscard(log)}
}

type refuseListener struct {
	net.Listener
	name, why string
	log       *slog.Logger
}

func (l *refuseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(proxyproto.REJECT), proxyproto.SetReadHeaderTimeout(HeaderTimeout))
	return &refuseConn{Conn: pc, l: l}, nil
}

type refuseConn struct {
	*proxyproto.Conn
	l    *refuseListener
	once sync.Once
}

// headerErrors are the errors of a connection that started with a PROXY
// header: a well-formed one (refused by the policy) or a malformed one.
var headerErrors = []error{
	proxyproto.ErrSuperfluousProxyHeader, proxyproto.ErrCantReadVersion1Header, proxyproto.ErrVersion1HeaderTooLong,
	proxyproto.ErrLineMustEndWithCrlf, proxyproto.ErrCantReadProtocolVersionAndCommand,
	proxyproto.ErrCantReadAddressFamilyAndProtocol, proxyproto.ErrCantReadLength,
	proxyproto.ErrCantResolveSourceUnixAddress, proxyproto.ErrCantResolveDestinationUnixAddress,
	proxyproto.ErrUnknownProxyProtocolVersion, proxyproto.ErrUnsupportedProtocolVersionAndCommand,
	proxyproto.ErrUnsupportedAddressFamilyAndProtocol, proxyproto.ErrInvalidLength, proxyproto.ErrInvalidAddress,
	proxyproto.ErrInvalidPortNumber,
}

func isHeaderError(err error) bool {
	for _, e := range headerErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (c *refuseConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && isHeaderError(err) {
		c.once.Do(func() {
			c.l.log.Warn("http.proxy_header_refused", "listener", c.l.name, "reason", c.l.why, "effect", "answered 400, connection closed")
			raw := c.Conn.Raw()
			_ = raw.SetWriteDeadline(time.Now().Add(HeaderTimeout))
			_, _ = raw.Write(refusal)
		})
	}
	return n, err
}

// reason names a header error for the log without any of its content.
func reason(err error) string {
	switch {
	case err == nil:
		return "no header"
	case errors.Is(err, errNotTor):
		return "not tor's header"
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return "no PROXY header (or none within the time limit)"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no header within the time limit"
	}
	return "malformed PROXY header"
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
