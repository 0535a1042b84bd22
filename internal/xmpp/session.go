package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"time"

	"mellium.im/sasl"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

const nsStartTLS = "urn:ietf:params:xml:ns:xmpp-tls"

// startTLS is mellium's StartTLS client side with one change: the TLS
// connection is wrapped in a limitConn, so that decrypted XML is size checked,
// and the check on the raw (now encrypted) connection is switched off.
func startTLS(cfg *tls.Config, raw *limitConn, maxToken int) mellium.StreamFeature {
	return mellium.StreamFeature{
		Name:       xml.Name{Space: nsStartTLS, Local: "starttls"},
		Prohibited: mellium.Secure,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			// STARTTLS is always required by this client, whatever the server says.
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *mellium.Session, data interface{}) (mellium.SessionState, io.ReadWriter, error) {
			conn := s.Conn()
			if _, err := io.WriteString(conn, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
				return 0, nil, err
			}
			r := s.TokenReader()
			defer r.Close()
			d := xml.NewTokenDecoder(r)
			for {
				t, err := d.Token()
				if err != nil {
					return 0, nil, err
				}
				switch tok := t.(type) {
				case xml.CharData:
					continue // whitespace
				case xml.StartElement:
					if tok.Name.Space != nsStartTLS {
						return 0, nil, protocol("unexpected element during STARTTLS", nil)
					}
					if err := d.Skip(); err != nil {
						return 0, nil, err
					}
					switch tok.Name.Local {
					case "proceed":
						tc := tls.Client(conn, cfg)
						if err := tc.HandshakeContext(ctx); err != nil {
							return 0, nil, unavailable("tls handshake", err)
						}
						raw.active.Store(false)
						return mellium.Secure, newLimitConn(tc, maxToken), nil
					case "failure":
						return 0, nil, unavailable("starttls", errors.New("server refused STARTTLS"))
					default:
						return 0, nil, protocol("unexpected element during STARTTLS", nil)
					}
				default:
					return 0, nil, protocol("unexpected token during STARTTLS", nil)
				}
			}
		},
	}
}

// infoFeature is a stream feature that is recognised but never negotiated.
// Offering it lets mellium's negotiator finish (Ready) after STARTTLS on an
// unauthenticated stream, instead of failing with "features advertised out
// of order" because it knows nothing else on the list.
func infoFeature(space, local string) mellium.StreamFeature {
	return mellium.StreamFeature{
		Name:       xml.Name{Space: space, Local: local},
		Necessary:  mellium.Secure,
		Prohibited: mellium.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return false, nil, d.Skip()
		},
	}
}

// saslFeature is mellium's SASL feature (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN;
// never -PLUS) with its failures turned into an *Error of the SASL
// condition's kind.
func saslFeature(password string) mellium.StreamFeature {
	f := mellium.SASL("", password, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain)
	negotiate := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *mellium.Session, data interface{}) (mellium.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiate(ctx, s, data)
		if err != nil {
			err = saslError(err)
		}
		return mask, rw, err
	}
	return f
}

// saslError recognises mellium's SASL <failure/> error. mellium keeps its type
// in an internal package, so it is read by reflection: exported fields
// Condition (a fmt.Stringer) and Text.
func saslError(err error) error {
	v := reflect.ValueOf(err)
	t := v.Type()
	if t.Kind() != reflect.Struct || !strings.HasSuffix(t.PkgPath(), "internal/saslerr") {
		if strings.Contains(err.Error(), "no matching SASL mechanisms") {
			return &Error{Kind: Protocol, Op: "sasl", Condition: "no-common-mechanism", Text: err.Error()}
		}
		return err
	}
	ae := &Error{Op: "sasl", Condition: "not-authorized"}
	if f := v.FieldByName("Condition"); f.IsValid() && f.CanInterface() {
		if s, ok := f.Interface().(fmt.Stringer); ok {
			c := s.String()
			if c != "" && c != "none" && !strings.HasPrefix(c, "Condition(") {
				ae.Condition = c
			}
		}
	}
	if f := v.FieldByName("Text"); f.IsValid() && f.Kind() == reflect.String {
		ae.Text = truncate(f.String(), maxTextLen)
	}
	ae.Kind = saslKind(ae.Condition)
	return ae
}

// Login connects to cfg.Addr, secures the stream with STARTTLS, authenticates
// localpart@Domain with SASL, binds a resource and starts serving the session
// with h (nil: ignore incoming stanzas; IQ requests get service-unavailable).
//
// Errors are Auth when the server refused the credentials (or the
// localpart cannot form an address; nothing is sent then), Unavailable when
// the server could not be reached or the stream failed (including TLS errors
// and timeouts), Protocol otherwise.
func Login(ctx context.Context, cfg Config, localpart, password string, h mellium.Handler) (*Conn, error) {
	cfg, domain, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	origin, err := jid.New(localpart, domain.Domainpart(), "")
	if err != nil || localpart == "" {
		return nil, &Error{Kind: Auth, Op: "login", Condition: conditionBadUsername}
	}
	return open(ctx, cfg, domain, origin, h, func(raw *limitConn) []mellium.StreamFeature {
		return []mellium.StreamFeature{
			startTLS(cfg.tlsConfig(), raw, cfg.MaxTokenBytes),
			saslFeature(password),
			mellium.BindResource(),
		}
	})
}

// Unauth opens an unauthenticated stream secured with STARTTLS, as needed for
// XEP-0077 in-band registration, and starts serving it (incoming stanzas are
// ignored). The session is Secure and Ready but not Authn.
// Errors are Unavailable or Protocol.
func Unauth(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, domain, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, domain, jid.JID{}, nil, func(raw *limitConn) []mellium.StreamFeature {
		return []mellium.StreamFeature{
			startTLS(cfg.tlsConfig(), raw, cfg.MaxTokenBytes),
			// Parsed, never negotiated: they end negotiation after TLS.
			infoFeature("http://jabber.org/features/iq-register", "register"),
			infoFeature("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms"),
		}
	})
}

func open(ctx context.Context, cfg Config, domain, origin jid.JID, h mellium.Handler, features func(*limitConn) []mellium.StreamFeature) (c *Conn, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	raw, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	lc := newLimitConn(raw, cfg.MaxTokenBytes)
	defer func() {
		if r := recover(); r != nil {
			_ = raw.Close()
			c, err = nil, protocol(fmt.Sprintf("stream negotiation panicked: %v", r), nil)
		}
	}()
	feats := features(lc)
	neg := mellium.NewNegotiator(func(*mellium.Session, *mellium.StreamConfig) mellium.StreamConfig {
		return mellium.StreamConfig{Lang: "en", Features: feats}
	})
	// mellium's own deadline handling (on ctx done: set a past deadline,
	// then clear it at once) races with the blocked read and can leave it
	// blocked forever. So mellium gets a context that never ends, and ctx is
	// enforced here with a past deadline on the socket that stays.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	s, err := mellium.NewSession(context.WithoutCancel(ctx), domain, origin, lc, 0, neg)
	if !stop() {
		// ctx ended during negotiation: the socket is unusable now.
		_ = raw.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, negotiationError(ctx, err)
	}
	if err != nil {
		_ = raw.Close()
		return nil, negotiationError(ctx, err)
	}
	return serve(s, raw, cfg, h), nil
}

// negotiationError classifies an error from stream negotiation.
func negotiationError(ctx context.Context, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return err
	case ctx.Err() != nil:
		return unavailable("negotiate", fmt.Errorf("%w (%v)", ctx.Err(), err))
	}
	var ne net.Error
	var sep *xml.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return unavailable("negotiate", err)
	case errors.As(err, &sep) && sep.Msg == "unexpected EOF":
		// encoding/xml reports a stream cut mid-element as a syntax error.
		return unavailable("negotiate", err)
	case errors.As(err, &sep):
		return protocol("malformed XML during negotiation", err)
	}
	// Stream errors, unknown features, mismatched stream headers...: the server
	// could not give us a usable stream.
	return unavailable("negotiate", err)
}
