package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"net"
	"sync/atomic"
	"time"

	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Conn is one client connection to an XMPP server: a TCP connection, a
// stream negotiated over it (STARTTLS, then SASL and a bound resource, or
// nothing more for in-band registration) and the loop that serves the
// stream. It is what Login and Unauth return; everything this package knows
// about the connection lives in it (no package-level state).
//
// A Conn is safe for concurrent use: IQs are multiplexed by id.
type Conn struct {
	s      *mellium.Session
	raw    net.Conn // the TCP connection
	cfg    Config
	ctx    context.Context // canceled (with cause) when the serve loop returned
	cancel context.CancelCauseFunc
}

// Dial opens a TCP connection to cfg.Addr (with cfg.Dial when set), bounded
// by ctx and cfg.Timeout. It never looks up SRV records. Errors are
// Unavailable.
func Dial(ctx context.Context, cfg Config) (net.Conn, error) {
	cfg, _, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	return dial(ctx, cfg)
}

func dial(ctx context.Context, cfg Config) (net.Conn, error) {
	var c net.Conn
	var err error
	if cfg.Dial != nil {
		dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		c, err = cfg.Dial(dctx, "tcp", cfg.Addr)
		cancel()
	} else {
		d := net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
		c, err = d.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err == nil && c == nil {
		err = errors.New("Config.Dial returned no connection")
	}
	if err != nil && c != nil {
		_ = c.Close()
	}
	if err != nil {
		return nil, unavailable("dial", err)
	}
	return c, nil
}

// limitConn fails a Read once more than max bytes arrived without a '<'.
// Because '<' cannot appear inside XML text or attribute values, this bounds
// the size of every XML token the decoder above has to buffer.
type limitConn struct {
	net.Conn
	max    int
	since  int         // bytes since the last '<'; only touched by the reader
	active atomic.Bool // false once a layer above (TLS) took over the check
}

var errTokenTooLarge = protocol("XML token from server exceeds the size limit", nil)

func newLimitConn(c net.Conn, max int) *limitConn {
	l := &limitConn{Conn: c, max: max}
	l.active.Store(true)
	return l
}

func (l *limitConn) Read(p []byte) (int, error) {
	n, err := l.Conn.Read(p)
	if !l.active.Load() {
		return n, err
	}
	for _, b := range p[:n] {
		if b == '<' {
			l.since = 0
			continue
		}
		l.since++
		if l.since > l.max {
			return 0, errTokenTooLarge
		}
	}
	return n, err
}

// ConnectionState lets mellium see the TLS state through the wrapper (used
// for SASL channel binding data and Session.ConnectionState).
func (l *limitConn) ConnectionState() tls.ConnectionState {
	if tc, ok := l.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// serve starts s.Serve(h) in a goroutine and closes raw when it returns.
func serve(s *mellium.Session, raw net.Conn, cfg Config, h mellium.Handler) *Conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &Conn{s: s, raw: raw, cfg: cfg, ctx: ctx, cancel: cancel}
	go func() {
		err := s.Serve(h)
		_ = raw.Close()
		if err == nil {
			err = errors.New("stream closed")
		}
		cancel(unavailable("session ended", err))
	}()
	return c
}

// Done returns a channel that is closed when the connection's serve loop
// has returned (the stream or the connection is gone).
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Alive reports whether c is still usable: served, and neither stream
// direction closed.
func (c *Conn) Alive() bool {
	if c == nil || c.ctx.Err() != nil {
		return false
	}
	return c.s.State()&(mellium.InputStreamClosed|mellium.OutputStreamClosed) == 0
}

// LocalAddr is the address the connection is bound to (the account's full
// address after Login; the domain after Unauth).
func (c *Conn) LocalAddr() jid.JID { return c.s.LocalAddr() }

// Secure reports whether the stream is encrypted; Authenticated whether
// it is logged in (SASL).
func (c *Conn) Secure() bool        { return c.s.State()&mellium.Secure != 0 }
func (c *Conn) Authenticated() bool { return c.s.State()&mellium.Authn != 0 }

// TLS is the state of the connection's TLS session.
func (c *Conn) TLS() tls.ConnectionState { return c.s.ConnectionState() }

// Send sends a stanza (a message or presence) on the connection.
func (c *Conn) Send(ctx context.Context, r xml.TokenReader) error {
	if err := c.s.Send(ctx, r); err != nil {
		return unavailable("send", err)
	}
	return nil
}

// closeWait bounds how long Close waits for the server to close its side.
const closeWait = 2 * time.Second

// Close ends the connection: it sends the closing stream tag, waits briefly
// for the server to close its stream, and closes the TCP connection. It is
// safe to call on a connection that already died and more than once.
func (c *Conn) Close() error {
	if c == nil {
		return nil
	}
	sent := make(chan struct{})
	go func() {
		_ = c.s.Close()
		close(sent)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-sent:
		select {
		case <-c.ctx.Done():
		case <-t.C:
		}
	case <-c.ctx.Done():
	case <-t.C:
	}
	_ = c.raw.Close()
	// The serve loop returns promptly once the connection is closed, unless
	// a handler blocks; do not wait for that forever.
	select {
	case <-c.ctx.Done():
	case <-time.After(closeWait):
	}
	return nil
}
