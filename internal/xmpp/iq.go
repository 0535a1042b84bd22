package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/stanza"
)

const (
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsXML     = "http://www.w3.org/XML/1998/namespace"

	maxTextLen  = 1024  // longest server text kept in errors and notes
	maxDepth    = 64    // deepest element nesting accepted in a response
	maxTokens   = 50000 // most tokens accepted in a response
	longTimeAgo = 1     // unix seconds; a deadline in the past
)

// Response is a collected IQ response of type "result".
type Response struct {
	// IQ holds the attributes of the response (To/From are zero if the server
	// sent addresses that do not parse).
	IQ stanza.IQ
	// Payload holds the tokens inside the <iq/> element (usually one child
	// element), copied and safe to keep.
	Payload []xml.Token
}

// TokenReader returns a reader over r.Payload.
func (r *Response) TokenReader() xml.TokenReader {
	if r == nil {
		return &sliceReader{}
	}
	return &sliceReader{toks: r.Payload}
}

// Decode decodes the first child element of the response into v.
// It returns io.EOF if the response has no child element.
func (r *Response) Decode(v any) error {
	d := xml.NewTokenDecoder(r.TokenReader())
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		if start, ok := t.(xml.StartElement); ok {
			if err := d.DecodeElement(v, &start); err != nil {
				return protocol("cannot decode response", err)
			}
			return nil
		}
	}
}

// Child returns the name of the first child element, if any.
func (r *Response) Child() (xml.Name, bool) {
	if r == nil {
		return xml.Name{}, false
	}
	for _, t := range r.Payload {
		if s, ok := t.(xml.StartElement); ok {
			return s.Name, true
		}
	}
	return xml.Name{}, false
}

type sliceReader struct {
	toks []xml.Token
	i    int
}

func (s *sliceReader) Token() (xml.Token, error) {
	if s.i >= len(s.toks) {
		return nil, io.EOF
	}
	t := s.toks[s.i]
	s.i++
	return t, nil
}

// SendIQ sends iq (type get or set) wrapping payload (may be nil) and
// waits for the response, bounded by ctx.
// The response is always read to its end (up to the size limits) and closed,
// so the connection keeps working whatever happens.
//
// A response of type "error" is returned as an *Error of the kind of its
// condition (StanzaKind), with Condition and Text set. A connection problem
// (timeout, closed stream) is Unavailable; a response that is malformed or
// too large is Protocol.
//
// If ctx's deadline passes before the response has been read, the
// connection is closed: a server that does not answer in time is treated as
// gone. If ctx is canceled, the connection stays usable (unless the response
// was already being read). Without a deadline in ctx, Config.Timeout
// applies.
func (c *Conn) SendIQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (*Response, error) {
	if c == nil {
		return nil, unavailable("send", errors.New("no connection"))
	}
	if iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ {
		return nil, fmt.Errorf("xmpp: SendIQ needs type get or set, not %q", iq.Type)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	// Give up at once when the connection dies instead of waiting for ctx.
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	stop := context.AfterFunc(c.ctx, func() { cancelCause(context.Cause(c.ctx)) })
	defer stop()
	switch {
	case c.ctx.Err() != nil:
		return nil, context.Cause(c.ctx)
	case c.s.State()&(mellium.InputStreamClosed|mellium.OutputStreamClosed) != 0:
		return nil, unavailable("send", errors.New("session closed"))
	}
	if payload == nil {
		payload = xmlEmpty{}
	}
	s := c.s
	// A server that lets the deadline pass is treated as gone: the socket
	// gets a past deadline, which also unblocks a write stuck on a full send
	// buffer (mellium's own write deadline handling is racy). Cancellation
	// alone leaves the connection usable.
	stopKill := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			if conn := s.Conn(); conn != nil {
				_ = conn.SetDeadline(time.Unix(longTimeAgo, 0))
			}
		}
	})
	defer stopKill()
	resp, err := s.SendIQ(ctx, iq.Wrap(payload))
	if err != nil {
		return nil, sendError(ctx, err)
	}
	if resp == nil {
		return nil, c.lostOr(protocol("no response reader", nil))
	}
	// While the response is being read, the serve loop waits for us; a
	// server that stalls mid-stanza must not block forever.
	stopDeadline := context.AfterFunc(ctx, func() {
		if conn := s.Conn(); conn != nil {
			_ = conn.SetReadDeadline(time.Unix(longTimeAgo, 0))
		}
	})
	r, err := readIQ(resp, c.cfg.MaxResponseBytes)
	stopDeadline()
	_ = resp.Close()
	if err != nil {
		var e *Error
		isErr := errors.As(err, &e)
		if ctx.Err() != nil && !(isErr && e.Kind == Protocol) {
			return nil, sendError(ctx, err)
		}
		var ne net.Error
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
			return nil, unavailable("receive", err)
		}
		if isErr && e.Kind == Protocol {
			return nil, c.lostOr(err)
		}
	}
	return r, err
}

// lostWait is how long an odd response waits for the session to end before
// it is believed to be the server's doing.
const lostWait = 100 * time.Millisecond

// lostOr returns err, unless the connection ended with it or ends within
// lostWait: a server killed mid-answer leaves a truncated or empty response,
// which is a lost connection (Unavailable), not an odd reply
// (TestResilienceXMPPServerKilled in internal/app).
func (c *Conn) lostOr(err error) error {
	t := time.NewTimer(lostWait)
	defer t.Stop()
	select {
	case <-c.ctx.Done():
		return unavailable("receive", err)
	case <-t.C:
		return err
	}
}

type xmlEmpty struct{}

func (xmlEmpty) Token() (xml.Token, error) { return nil, io.EOF }

func sendError(ctx context.Context, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Kind == Unavailable {
		return err
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.As(cause, &e) && e.Kind == Unavailable {
			return cause
		}
		return unavailable("request", cause)
	}
	return unavailable("send", err)
}

// ReadIQ collects one IQ stanza from r (the <iq> start element first) with
// the default limits. A type="error" IQ is returned as an *Error.
// It is what SendIQ does with a response, exported for tests and tools.
func ReadIQ(r xml.TokenReader) (*Response, error) {
	return readIQ(r, DefaultMaxResponseBytes)
}

func readIQ(r xml.TokenReader, maxBytes int) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, protocol(fmt.Sprintf("reading response panicked: %v", p), nil)
		}
	}()
	var first xml.Token
	for {
		first, err = r.Token()
		if err != nil {
			if err == io.EOF {
				return nil, protocol("empty response", nil)
			}
			return nil, err
		}
		if _, ok := first.(xml.CharData); !ok {
			break
		}
	}
	start, ok := first.(xml.StartElement)
	if !ok || start.Name.Local != "iq" {
		return nil, protocol("response is not an IQ", nil)
	}
	resp = &Response{IQ: parseIQStart(start)}
	toks, err := collect(r, maxBytes)
	if err != nil {
		return nil, err
	}
	resp.Payload = toks
	switch resp.IQ.Type {
	case stanza.ResultIQ:
		return resp, nil
	case stanza.ErrorIQ:
		return nil, stanzaError(toks)
	default:
		return nil, protocol(fmt.Sprintf("response has IQ type %q", truncate(string(resp.IQ.Type), 32)), nil)
	}
}

func parseIQStart(start xml.StartElement) stanza.IQ {
	iq, err := stanza.NewIQ(start)
	if err == nil {
		return iq
	}
	// An address did not parse: keep what we can.
	iq = stanza.IQ{XMLName: start.Name}
	for _, a := range start.Attr {
		switch {
		case a.Name.Local == "id" && a.Name.Space == "":
			iq.ID = a.Value
		case a.Name.Local == "type" && a.Name.Space == "":
			iq.Type = stanza.IQType(a.Value)
		}
	}
	return iq
}

// collect reads the tokens inside the IQ element (the IQ's own end element
// and anything after it are dropped), copying them, within the limits.
func collect(r xml.TokenReader, maxBytes int) ([]xml.Token, error) {
	var toks []xml.Token
	depth, size := 0, 0
	for {
		t, err := r.Token()
		if err == io.EOF {
			if depth > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return toks, nil
		}
		if err != nil {
			return nil, err
		}
		switch tt := t.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return nil, protocol("response nested too deeply", nil)
			}
			size += len(tt.Name.Space) + len(tt.Name.Local) + 2
			for _, a := range tt.Attr {
				size += len(a.Name.Space) + len(a.Name.Local) + len(a.Value) + 4
			}
		case xml.EndElement:
			if depth == 0 {
				// End of the IQ itself; the reader should give io.EOF next.
				continue
			}
			depth--
			size += len(tt.Name.Local) + 3
		case xml.CharData:
			size += len(tt)
		case xml.Comment, xml.ProcInst, xml.Directive:
			continue // not allowed in XMPP; ignore
		}
		if size > maxBytes {
			return nil, protocol("response exceeds the size limit", nil)
		}
		if len(toks) >= maxTokens {
			return nil, protocol("response has too many elements", nil)
		}
		toks = append(toks, xml.CopyToken(t))
	}
}

// stanzaError reads the <error/> among the IQ payload tokens with mellium's
// stanza.UnmarshalError and classifies it (StanzaKind). The text is the one
// without a language, else English, else any; condition and text are
// bounded (the response already is).
func stanzaError(toks []xml.Token) *Error {
	e := &Error{Op: "iq", Condition: "undefined-condition"}
	se, err := stanza.UnmarshalError(&sliceReader{toks: toks})
	if err == nil {
		if se.Condition != "" {
			e.Condition = truncate(string(se.Condition), 64)
		}
		best, bestRank := "", 0
		for lang, text := range se.Text {
			r := 1
			switch {
			case lang == "":
				r = 3
			case lang == "en" || strings.HasPrefix(lang, "en-"):
				r = 2
			}
			if r > bestRank || (r == bestRank && text < best) {
				best, bestRank = text, r
			}
		}
		e.Text = truncate(best, maxTextLen)
	}
	e.Kind = StanzaKind(e.Condition, e.Text)
	return e
}

func attrValue(start xml.StartElement, space, local string) string {
	for _, a := range start.Attr {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value
		}
	}
	return ""
}

// truncate cuts s to at most n bytes on a rune boundary and replaces
// invalid UTF-8 and control characters (except newline and tab).
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 && !utf8.RuneStart(s[len(s)-1]) {
			s = s[:len(s)-1]
		}
		if len(s) > 0 {
			if r, _ := utf8.DecodeLastRuneInString(s); r == utf8.RuneError {
				s = s[:len(s)-1]
			}
		}
	}
	ok := utf8.ValidString(s)
	if ok {
		for i := 0; i < len(s); i++ {
			if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				ok = false
				break
			}
		}
	}
	if ok {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
