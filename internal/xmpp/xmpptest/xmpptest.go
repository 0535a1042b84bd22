// Package xmpptest is for tests only: a scripted XMPP server that
// xmpp.Login and xmpp.Unauth talk to over one end of a net.Pipe, so that
// the flows built on package xmpp (account, migrate, signup) are tested
// fast and without a real server. Production code never imports it.
//
// A Server plays the server side of everything the client needs before its
// first stanza, as Prosody and ejabberd do it: the stream header and
// features, STARTTLS (mandatory in this client; a real TLS handshake with a
// certificate of testenv's CA for the domain the client asks for, which
// Config's TLS trusts), SASL PLAIN checked against the accounts the test
// added, and resource binding (the resource is always "xmpptest"). An
// unauthenticated stream (xmpp.Unauth) gets the register and mechanisms
// features and may send IQs at once.
//
// After that it answers IQs from a script: Expect appends Exchanges, each
// an expected request (sender, type, to, payload) and the canned answer
// (a result, a stanza error, stanzas pushed before it, a lost answer, the
// stream closed after it). Requests must come in script order; one that
// does not match the next exchange fails the test and is answered
// service-unavailable, and exchanges never asked for fail it at cleanup.
// Other stanzas (presence, messages) are recorded (Stanzas).
//
// Every Dial is one connection and so one login (or one in-band
// registration): Dials counts them, Logins counts the successful SASL
// logins of an account. One Server can host several domains: the stream
// header's to attribute chooses, and accounts are bare addresses.
package xmpptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Namespaces of the stream the server speaks.
const (
	NSClient  = "jabber:client"
	NSStream  = "http://etherx.jabber.org/streams"
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
)

// Resource is the resource every session is bound to.
const Resource = "xmpptest"

// Timeout is the Timeout of the configurations Config returns: a hang
// limit (a pipe answers at once), not a measurement.
const Timeout = 30 * time.Second

// Exchange is one IQ of the script: what the client must send and what the
// server answers.
type Exchange struct {
	// From is the bare address of the account whose stream sends the
	// request; "" accepts any (and is the only match on an
	// unauthenticated stream).
	From string
	// Type is the request's type, "get" or "set".
	Type string
	// To is the request's to attribute exactly; "" means none (the
	// account itself).
	To string
	// Payload, when set, is the request's payload exactly, as xmltree
	// writes it (double quotes, a namespace declared where it changes):
	// `<query xmlns="jabber:iq:register"><remove/></query>`.
	Payload string
	// Want are substrings the payload (as above) must contain.
	Want []string

	// Do runs when the request matched, before anything is answered: the
	// server's side effect (a password changed, an account removed).
	Do func()
	// Before are stanzas (raw XML in the client namespace) sent before the
	// answer, such as the MAM results of a query.
	Before []string
	// Result is the inner XML of the result ("" an empty result). Ignored
	// when Error is set.
	Result string
	// Error is the <error/> element of an error answer (see StanzaError).
	Error string
	// Lost cuts the connection instead of answering (after Do and Before):
	// the client never learns what the server did.
	Lost bool
	// Close ends the stream after the answer: StreamError (if any) is sent,
	// then the stream's end, and the connection is closed.
	Close       bool
	StreamError string
}

func (e *Exchange) String() string {
	from := e.From
	if from == "" {
		from = "anyone"
	}
	s := fmt.Sprintf("%s from %s to %q", e.Type, from, e.To)
	if e.Payload != "" {
		s += ": " + e.Payload
	}
	if len(e.Want) > 0 {
		s += fmt.Sprintf(" containing %q", e.Want)
	}
	return s
}

// mismatch says why a request does not match e ("" when it does).
func (e *Exchange) mismatch(from, typ, to, payload string) string {
	var why []string
	if e.From != "" && e.From != from {
		why = append(why, fmt.Sprintf("sent by %q, want %q", from, e.From))
	}
	if e.Type != "" && e.Type != typ {
		why = append(why, fmt.Sprintf("type %q, want %q", typ, e.Type))
	}
	if e.To != to {
		why = append(why, fmt.Sprintf("to %q, want %q", to, e.To))
	}
	if e.Payload != "" && e.Payload != payload {
		why = append(why, "payload\n\t"+payload+"\nwant\n\t"+e.Payload)
	}
	for _, w := range e.Want {
		if !strings.Contains(payload, w) {
			why = append(why, fmt.Sprintf("payload lacks %q", w))
		}
	}
	return strings.Join(why, "; ")
}

// StanzaError returns an <error/> element of type typ (cancel, modify,
// auth, wait) with the defined condition and, when text is not empty, a
// text, as servers send them.
func StanzaError(typ, condition, text string) string {
	s := fmt.Sprintf(`<error type='%s'><%s xmlns='%s'/>`, typ, condition, NSStanzas)
	if text != "" {
		s += fmt.Sprintf(`<text xmlns='%s' xml:lang='en'>%s</text>`, NSStanzas, escape(text))
	}
	return s + `</error>`
}

// StreamError returns a <stream:error/> with the condition and a text (if
// not empty).
func StreamError(condition, text string) string {
	s := fmt.Sprintf(`<stream:error><%s xmlns='%s'/>`, condition, NSStreams)
	if text != "" {
		s += fmt.Sprintf(`<text xmlns='%s'>%s</text>`, NSStreams, escape(text))
	}
	return s + `</stream:error>`
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Server is a scripted XMPP server for one test. Its methods are safe for
// concurrent use.
type Server struct {
	t    testing.TB
	pool *x509.CertPool

	mu         sync.Mutex
	accounts   map[string]string // bare address -> password
	script     []*Exchange
	next       int // the exchange the next request must match
	dials      int
	logins     map[string]int
	stanzas    []*xmltree.Element
	transcript []string
	conns      map[*conn]struct{}
	stopped    bool
	wg         sync.WaitGroup
}

// New returns a Server for t. At t's cleanup it closes every connection,
// waits for them, and fails t if exchanges of the script were never asked
// for (and logs the transcript when t failed).
func New(t testing.TB) *Server {
	t.Helper()
	_, pool, err := testenv.TLSCertificate("localhost")
	if err != nil {
		t.Fatalf("xmpptest: %v", err)
	}
	s := &Server{t: t, pool: pool, accounts: map[string]string{}, logins: map[string]int{}, conns: map[*conn]struct{}{}}
	t.Cleanup(s.stop)
	return s
}

func (s *Server) stop() {
	s.mu.Lock()
	s.stopped = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.raw.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.script[s.next:] {
		s.t.Errorf("xmpptest: expected request never came: %s", e)
	}
	if s.t.Failed() {
		s.t.Logf("xmpptest: transcript:\n%s", strings.Join(s.transcript, "\n"))
	}
}

// Config returns the client configuration for domain on this server: its
// Dial opens a pipe to the server, its TLS trusts the server's
// certificates.
func (s *Server) Config(domain string) xmpp.Config {
	return xmpp.Config{
		Domain:  domain,
		Addr:    net.JoinHostPort(domain, "5222"),
		Dial:    s.Dial,
		TLS:     &tls.Config{RootCAs: s.pool},
		Timeout: Timeout,
	}
}

// RootCAs is the pool that verifies the server's certificates.
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// Dial opens a connection to the server (the client end of a net.Pipe),
// whatever network and addr say; it has the signature of xmpp.Config.Dial.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	c := &conn{s: s, raw: server}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, errors.New("xmpptest: server stopped")
	}
	s.dials++
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
	return client, nil
}

// AddAccount creates (or replaces) the account bare (local@domain).
func (s *Server) AddAccount(bare, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[bare] = password
}

// SetPassword changes the password of bare (creating the account).
func (s *Server) SetPassword(bare, password string) { s.AddAccount(bare, password) }

// RemoveAccount deletes bare: its logins fail from now on.
func (s *Server) RemoveAccount(bare string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accounts, bare)
}

// Password returns the password of bare, if the account exists.
func (s *Server) Password(bare string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.accounts[bare]
	return p, ok
}

// Expect appends exchanges to the script.
func (s *Server) Expect(ex ...Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ex {
		e := ex[i]
		s.script = append(s.script, &e)
	}
}

// Pending returns the number of exchanges not asked for yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script) - s.next
}

// Dials returns the number of connections opened so far: each is one
// login (or one unauthenticated stream).
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// Logins returns the number of successful SASL logins of bare.
func (s *Server) Logins(bare string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins[bare]
}

// Stanzas returns the stanzas other than IQs that clients sent, in order,
// each with the from attribute the server stamps (the sender's full
// address).
func (s *Server) Stanzas() []*xmltree.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*xmltree.Element(nil), s.stanzas...)
}

// Transcript returns what happened so far, one line per event.
func (s *Server) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.transcript, "\n")
}

func (s *Server) logf(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transcript = append(s.transcript, fmt.Sprintf(format, a...))
}

// conn is the server side of one connection.
type conn struct {
	s      *Server
	raw    net.Conn
	rw     io.ReadWriter // raw, then the TLS connection
	domain string
	user   string // bare address once authenticated
	full   string

	out     chan string // the writer's queue in the stanza phase
	written chan struct{}
}

var errStreamEnd = errors.New("xmpptest: the client closed its stream")

func (c *conn) serve() {
	s := c.s
	defer s.wg.Done()
	defer func() {
		if c.out != nil {
			// Whatever is queued is written first (a pipe: the client
			// reads it, or has gone and the write fails).
			close(c.out)
			<-c.written
		}
		_ = c.raw.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	d, first, err := c.negotiate()
	if err != nil {
		if !errors.Is(err, errStreamEnd) && !isClosed(err) {
			s.logf("negotiation failed: %v", err)
		}
		return
	}
	c.startWriter()
	if first != nil && !c.stanza(first) {
		return
	}
	for {
		el, err := element(d)
		switch {
		case errors.Is(err, errStreamEnd):
			c.send("</stream:stream>")
			return
		case err != nil:
			return
		}
		if !c.stanza(el) {
			return
		}
	}
}

// isClosed reports an error of a connection the client closed (a refused
// login closes it mid-stream).
func isClosed(err error) bool {
	var se *xml.SyntaxError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &se) && se.Msg == "unexpected EOF"
}

// write sends s at once (negotiation: the client is reading).
func (c *conn) write(s string) error {
	_, err := io.WriteString(c.rw, s)
	return err
}

// header reads the client's stream header and answers with the server's
// and features.
func (c *conn) header(d *xml.Decoder, features string) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // the XML declaration, whitespace
		}
		if start.Name.Space != NSStream || start.Name.Local != "stream" {
			return fmt.Errorf("stream header is <%s xmlns=%q>", start.Name.Local, start.Name.Space)
		}
		for _, a := range start.Attr {
			if a.Name.Local == "to" && a.Name.Space == "" {
				c.domain = a.Value
			}
		}
		break
	}
	if c.domain == "" {
		return errors.New("stream header without to")
	}
	return c.write(fmt.Sprintf(`<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' id='%s' from='%s' version='1.0' xml:lang='en'><stream:features>%s</stream:features>`,
		NSClient, NSStream, randomID(), c.domain, features))
}

var idSeq struct {
	sync.Mutex
	n int
}

func randomID() string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("xmpptest-%d", idSeq.n)
}

// element reads the next top-level element of the stream.
func element(d *xml.Decoder) (*xmltree.Element, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return xmltree.Build(d, t, 0, nil)
		case xml.EndElement:
			return nil, errStreamEnd
		}
	}
}

// negotiate runs STARTTLS, SASL PLAIN and resource binding (or stops
// after STARTTLS when the client sends a stanza at once: an
// unauthenticated stream, whose first stanza it returns). It returns the
// decoder of the stream the stanzas come on.
func (c *conn) negotiate() (*xml.Decoder, *xmltree.Element, error) {
	s := c.s
	c.rw = c.raw
	d := xml.NewDecoder(c.raw)
	if err := c.header(d, fmt.Sprintf(`<starttls xmlns='%s'><required/></starttls>`, nsTLS)); err != nil {
		return nil, nil, err
	}
	el, err := element(d)
	if err != nil {
		return nil, nil, err
	}
	if el.Name.Space != nsTLS || el.Name.Local != "starttls" {
		return nil, nil, fmt.Errorf("expected <starttls/>, got %s", el)
	}
	if err := c.write(fmt.Sprintf(`<proceed xmlns='%s'/>`, nsTLS)); err != nil {
		return nil, nil, err
	}
	tc := tls.Server(c.raw, &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := hello.ServerName
		if name == "" {
			name = c.domain
		}
		cert, _, err := testenv.TLSCertificate(name)
		return &cert, err
	}})
	hctx, cancel := context.WithTimeout(context.Background(), Timeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("TLS handshake: %w", err)
	}
	c.rw = tc
	d = xml.NewDecoder(tc)
	if err := c.header(d, fmt.Sprintf(`<mechanisms xmlns='%s'><mechanism>PLAIN</mechanism></mechanisms><register xmlns='http://jabber.org/features/iq-register'/>`, nsSASL)); err != nil {
		return nil, nil, err
	}
	for {
		el, err := element(d)
		if err != nil {
			return nil, nil, err
		}
		if el.Name.Space == NSClient {
			// An unauthenticated stream (in-band registration).
			s.logf("unauthenticated stream to %s", c.domain)
			return d, el, nil
		}
		if el.Name.Space != nsSASL || el.Name.Local != "auth" {
			return nil, nil, fmt.Errorf("expected <auth/>, got %s", el)
		}
		resp := strings.TrimSpace(el.Text())
		if el.AttrValue("mechanism") != "PLAIN" {
			if err := c.write(fmt.Sprintf(`<failure xmlns='%s'><invalid-mechanism/></failure>`, nsSASL)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if resp == "" || resp == "=" {
			if err := c.write(fmt.Sprintf(`<challenge xmlns='%s'/>`, nsSASL)); err != nil {
				return nil, nil, err
			}
			r, err := element(d)
			if err != nil {
				return nil, nil, err
			}
			resp = strings.TrimSpace(r.Text())
		}
		user, ok := c.checkPlain(resp)
		if !ok {
			s.logf("login refused: %s", user)
			if err := c.write(fmt.Sprintf(`<failure xmlns='%s'><not-authorized/></failure>`, nsSASL)); err != nil {
				return nil, nil, err
			}
			continue
		}
		s.mu.Lock()
		s.logins[user]++
		s.mu.Unlock()
		s.logf("login: %s", user)
		c.user = user
		if err := c.write(fmt.Sprintf(`<success xmlns='%s'/>`, nsSASL)); err != nil {
			return nil, nil, err
		}
		break
	}
	d = xml.NewDecoder(c.rw)
	if err := c.header(d, fmt.Sprintf(`<bind xmlns='%s'/>`, nsBind)); err != nil {
		return nil, nil, err
	}
	bind, err := element(d)
	if err != nil {
		return nil, nil, err
	}
	if bind.Name.Local != "iq" || bind.Child(nsBind, "bind") == nil {
		return nil, nil, fmt.Errorf("expected the bind IQ, got %s", bind)
	}
	c.full = c.user + "/" + Resource
	if err := c.write(fmt.Sprintf(`<iq type='result' id='%s'><bind xmlns='%s'><jid>%s</jid></bind></iq>`, escape(bind.AttrValue("id")), nsBind, escape(c.full))); err != nil {
		return nil, nil, err
	}
	return d, nil, nil
}

// checkPlain checks a SASL PLAIN response against the accounts.
func (c *conn) checkPlain(resp string) (string, bool) {
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", false
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return "", false
	}
	local := parts[1]
	if i := strings.IndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	user := local + "@" + c.domain
	c.s.mu.Lock()
	pw, ok := c.s.accounts[user]
	c.s.mu.Unlock()
	return user, ok && pw == parts[2]
}

// startWriter starts the goroutine that writes what send queues: in the
// stanza phase the server never blocks on a write (a net.Pipe has no
// buffer), so it keeps reading whatever the client sends meanwhile.
func (c *conn) startWriter() {
	c.out = make(chan string, 64)
	c.written = make(chan struct{})
	go func() {
		defer close(c.written)
		failed := false
		for s := range c.out {
			if s == "" {
				// The close mark: everything before it is written.
				_ = c.raw.Close()
				failed = true
				continue
			}
			if failed {
				continue
			}
			if _, err := io.WriteString(c.rw, s); err != nil {
				failed = true
			}
		}
	}()
}

// send queues s.
func (c *conn) send(s string) { c.out <- s }

// closeAfter closes the connection once everything queued is written.
func (c *conn) closeAfter() { c.out <- "" }

// stanza handles one stanza from the client; false ends the connection.
func (c *conn) stanza(el *xmltree.Element) bool {
	s := c.s
	if el.Name.Space != NSClient {
		s.logf("%s sent %s", c.who(), el)
		return true
	}
	if el.Name.Local != "iq" {
		if c.full != "" && el.AttrValue("from") == "" {
			el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Local: "from"}, Value: c.full})
		}
		s.mu.Lock()
		s.stanzas = append(s.stanzas, el)
		s.transcript = append(s.transcript, c.who()+" sent "+el.String())
		s.mu.Unlock()
		return true
	}
	typ := el.AttrValue("type")
	if typ != "get" && typ != "set" {
		s.logf("%s answered %s", c.who(), el)
		return true
	}
	return c.answer(el, typ)
}

func (c *conn) who() string {
	if c.user == "" {
		return "(unauthenticated)"
	}
	return c.user
}

// answer answers an IQ request from the script.
func (c *conn) answer(iq *xmltree.Element, typ string) bool {
	s := c.s
	to := iq.AttrValue("to")
	payload := ""
	if els := iq.Elements(); len(els) > 0 {
		payload = els[0].String()
	}
	s.mu.Lock()
	var ex *Exchange
	why := "the script has no more exchanges"
	if s.next < len(s.script) {
		cand := s.script[s.next]
		if why = cand.mismatch(c.user, typ, to, payload); why == "" {
			ex = cand
			s.next++
		} else {
			why = fmt.Sprintf("%s\n(expected: %s)", why, cand)
		}
	}
	s.transcript = append(s.transcript, fmt.Sprintf("%s sent %s", c.who(), iq))
	s.mu.Unlock()

	head := fmt.Sprintf(`<iq id='%s'`, escape(iq.AttrValue("id")))
	if to != "" {
		head += fmt.Sprintf(` from='%s'`, escape(to))
	}
	if c.full != "" {
		head += fmt.Sprintf(` to='%s'`, escape(c.full))
	}
	if ex == nil {
		s.t.Errorf("xmpptest: unexpected request from %s: %s: %s", c.who(), iq, why)
		c.send(head + ` type='error'>` + StanzaError("cancel", "service-unavailable", "") + `</iq>`)
		return true
	}
	if ex.Do != nil {
		ex.Do()
	}
	for _, b := range ex.Before {
		c.send(b)
	}
	if ex.Lost {
		s.logf("server: the answer is lost (connection cut)")
		c.closeAfter()
		return false
	}
	var answer string
	if ex.Error != "" {
		answer = head + ` type='error'>` + ex.Error + `</iq>`
	} else {
		answer = head + ` type='result'>` + ex.Result + `</iq>`
	}
	c.send(answer)
	s.logf("server answered %s", answer)
	if ex.Close {
		c.send(ex.StreamError + "</stream:stream>")
		c.closeAfter()
		s.logf("server closed the stream %s", ex.StreamError)
		return false
	}
	return true
}
