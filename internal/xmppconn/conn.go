package xmppconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp"
)

// Dial opens a TCP connection to cfg.Addr (with cfg.Dial when set), bounded
// by ctx and cfg.Timeout. It never looks up SRV records. Errors match
// ErrUnavailable.
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
		return nil, &ConnError{Op: "dial", Err: err}
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

var errTokenTooLarge = protoErr("XML token from server exceeds the size limit", nil)

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

// sessionInfo is what this package remembers about a session it serves.
type sessionInfo struct {
	raw    net.Conn // the TCP connection
	cfg    Config
	ctx    context.Context // canceled (with cause) when Serve returned
	cancel context.CancelCauseFunc
}

var sessions sync.Map // *xmpp.Session -> *sessionInfo

func lookup(s *xmpp.Session) *sessionInfo {
	v, ok := sessions.Load(s)
	if !ok {
		return nil
	}
	return v.(*sessionInfo)
}

// serve starts s.Serve(h) in a goroutine and closes raw when it returns.
func serve(s *xmpp.Session, raw net.Conn, cfg Config, h xmpp.Handler) {
	ctx, cancel := context.WithCancelCause(context.Background())
	info := &sessionInfo{raw: raw, cfg: cfg, ctx: ctx, cancel: cancel}
	sessions.Store(s, info)
	go func() {
		err := s.Serve(h)
		_ = raw.Close()
		if err == nil {
			err = errors.New("stream closed")
		}
		sessions.Delete(s)
		cancel(&ConnError{Op: "session ended", Err: err})
	}()
}

// Done returns a channel that is closed when the session's Serve loop has
// returned (the stream or the connection is gone).
// For a session not served by this package the channel is already closed.
func Done(s *xmpp.Session) <-chan struct{} {
	if info := lookup(s); info != nil {
		return info.ctx.Done()
	}
	c := make(chan struct{})
	close(c)
	return c
}

// Alive reports whether s is still usable: served by this package, Serve
// still running, and neither stream direction closed.
func Alive(s *xmpp.Session) bool {
	if s == nil {
		return false
	}
	info := lookup(s)
	if info == nil || info.ctx.Err() != nil {
		return false
	}
	return s.State()&(xmpp.InputStreamClosed|xmpp.OutputStreamClosed) == 0
}

// closeWait bounds how long Close waits for the server to close its side.
const closeWait = 2 * time.Second

// Close ends a session returned by Login or Unauth: it sends the closing
// stream tag, waits briefly for the server to close its stream, and closes
// the TCP connection. It is safe to call on a session that already died and
// more than once.
func Close(s *xmpp.Session) error {
	if s == nil {
		return nil
	}
	info := lookup(s)
	sent := make(chan struct{})
	go func() {
		_ = s.Close()
		close(sent)
	}()
	if info == nil {
		// Not served by us, or Serve already returned (and closed the
		// connection): close what there is and ignore errors.
		select {
		case <-sent:
		case <-time.After(closeWait):
		}
		if c := s.Conn(); c != nil {
			_ = c.Close()
		}
		return nil
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-sent:
		select {
		case <-info.ctx.Done():
		case <-t.C:
		}
	case <-info.ctx.Done():
	case <-t.C:
	}
	_ = info.raw.Close()
	// Serve returns promptly once the connection is closed, unless a handler
	// blocks; do not wait for that forever.
	select {
	case <-info.ctx.Done():
	case <-time.After(closeWait):
	}
	return nil
}
