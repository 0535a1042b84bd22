package xmppconn

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

	"mellium.im/xmpp"
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
				return protoErr("cannot decode response", err)
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

// SendIQ sends iq (type get or set) wrapping payload (may be nil) on s and
// waits for the response, bounded by ctx.
// The response is always read to its end (up to the size limits) and closed,
// so the session keeps working whatever happens.
//
// A response of type "error" is returned as a *StanzaError.
// A connection problem (timeout, closed stream) matches ErrUnavailable;
// a response that is malformed or too large matches ErrProtocol.
//
// If ctx's deadline passes before the response has been read, the session's
// connection is closed: a server that does not answer in time is treated as
// gone. If ctx is canceled, the session stays usable (unless the response
// was already being read). Without a deadline in ctx, Config.Timeout of the
// session applies.
func SendIQ(ctx context.Context, s *xmpp.Session, iq stanza.IQ, payload xml.TokenReader) (*Response, error) {
	if s == nil {
		return nil, &ConnError{Op: "send", Err: errors.New("no session")}
	}
	if iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ {
		return nil, fmt.Errorf("xmppconn: SendIQ needs type get or set, not %q", iq.Type)
	}
	maxResp := DefaultMaxResponseBytes
	info := lookup(s)
	if info != nil {
		maxResp = info.cfg.MaxResponseBytes
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, info.cfg.Timeout)
			defer cancel()
		}
		// Give up at once when the session dies instead of waiting for ctx.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(info.ctx, func() { cancel(context.Cause(info.ctx)) })
		defer stop()
	}
	switch {
	case info != nil && info.ctx.Err() != nil:
		return nil, context.Cause(info.ctx)
	case s.State()&(xmpp.InputStreamClosed|xmpp.OutputStreamClosed) != 0:
		return nil, &ConnError{Op: "send", Err: errors.New("session closed")}
	}
	if payload == nil {
		payload = xmlEmpty{}
	}
	// A server that lets the deadline pass is treated as gone: the socket
	// gets a past deadline, which also unblocks a write stuck on a full send
	// buffer (mellium's own write deadline handling is racy). Cancellation
	// alone leaves the session usable.
	stopKill := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			if c := s.Conn(); c != nil {
				_ = c.SetDeadline(time.Unix(longTimeAgo, 0))
			}
		}
	})
	defer stopKill()
	resp, err := s.SendIQ(ctx, iq.Wrap(payload))
	if err != nil {
		return nil, sendError(ctx, err)
	}
	if resp == nil {
		return nil, lostOr(info, protoErr("no response reader", nil))
	}
	// While the response is being read, the session's Serve loop waits for us;
	// a server that stalls mid-stanza must not block forever.
	stopDeadline := context.AfterFunc(ctx, func() {
		if c := s.Conn(); c != nil {
			_ = c.SetReadDeadline(time.Unix(longTimeAgo, 0))
		}
	})
	r, err := readIQ(resp, maxResp)
	stopDeadline()
	_ = resp.Close()
	if err != nil {
		var pe *ProtocolError
		if ctx.Err() != nil && !errors.As(err, &pe) {
			return nil, sendError(ctx, err)
		}
		var ne net.Error
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
			return nil, &ConnError{Op: "receive", Err: err}
		}
		if errors.As(err, &pe) {
			return nil, lostOr(info, err)
		}
	}
	return r, err
}

// lostWait is how long an odd response waits for the session to end before
// it is believed to be the server's doing.
const lostWait = 100 * time.Millisecond

// lostOr returns err, unless the session ended with it or ends within
// lostWait: a server killed mid-answer leaves a truncated or empty response,
// which is a lost connection (ErrUnavailable), not an odd reply
// (TestResilienceXMPPServerKilled in internal/app).
func lostOr(info *sessionInfo, err error) error {
	if info == nil {
		return err
	}
	t := time.NewTimer(lostWait)
	defer t.Stop()
	select {
	case <-info.ctx.Done():
		return &ConnError{Op: "receive", Err: err}
	case <-t.C:
		return err
	}
}

type xmlEmpty struct{}

func (xmlEmpty) Token() (xml.Token, error) { return nil, io.EOF }

func sendError(ctx context.Context, err error) error {
	var ce *ConnError
	if errors.As(err, &ce) {
		return err
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.As(cause, &ce) {
			return cause
		}
		return &ConnError{Op: "request", Err: cause}
	}
	return &ConnError{Op: "send", Err: err}
}

// ReadIQ collects one IQ stanza from r (the <iq> start element first) with
// the default limits. A type="error" IQ is returned as *StanzaError.
// It is what SendIQ does with a response, exported for tests and tools.
func ReadIQ(r xml.TokenReader) (*Response, error) {
	return readIQ(r, DefaultMaxResponseBytes)
}

func readIQ(r xml.TokenReader, maxBytes int) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, protoErr(fmt.Sprintf("reading response panicked: %v", p), nil)
		}
	}()
	var first xml.Token
	for {
		first, err = r.Token()
		if err != nil {
			if err == io.EOF {
				return nil, protoErr("empty response", nil)
			}
			return nil, err
		}
		if _, ok := first.(xml.CharData); !ok {
			break
		}
	}
	start, ok := first.(xml.StartElement)
	if !ok || start.Name.Local != "iq" {
		return nil, protoErr("response is not an IQ", nil)
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
		return nil, parseStanzaError(toks)
	default:
		return nil, protoErr(fmt.Sprintf("response has IQ type %q", truncate(string(resp.IQ.Type), 32)), nil)
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
				return nil, protoErr("response nested too deeply", nil)
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
			return nil, protoErr("response exceeds the size limit", nil)
		}
		if len(toks) >= maxTokens {
			return nil, protoErr("response has too many elements", nil)
		}
		toks = append(toks, xml.CopyToken(t))
	}
}

// parseStanzaError finds the <error/> child among the IQ payload tokens.
func parseStanzaError(toks []xml.Token) *StanzaError {
	type text struct{ lang, s string }
	se := &StanzaError{}
	var texts []text
	var cur *text
	var buf []byte
	depth := 0
	state := 0 // 0: before <error>, 1: inside, 2: done
	for _, t := range toks {
		if state == 2 {
			break
		}
		switch tt := t.(type) {
		case xml.StartElement:
			depth++
			if state == 0 {
				if depth == 1 && tt.Name.Local == "error" {
					state = 1
					se.Type = truncate(attrValue(tt, "", "type"), 32)
				}
				continue
			}
			if depth != 2 || tt.Name.Space != nsStanzas {
				continue
			}
			if tt.Name.Local == "text" {
				lang := attrValue(tt, nsXML, "lang")
				if lang == "" {
					lang = attrValue(tt, "xml", "lang")
				}
				cur = &text{lang: truncate(lang, 32)}
				buf = buf[:0]
			} else if se.Condition == "" {
				se.Condition = truncate(tt.Name.Local, 64)
			}
		case xml.EndElement:
			if state == 1 && depth == 2 && cur != nil {
				cur.s = truncate(string(buf), maxTextLen)
				texts = append(texts, *cur)
				cur = nil
			}
			if state == 1 && depth == 1 {
				state = 2
			}
			depth--
		case xml.CharData:
			if cur != nil && len(buf) < 4*maxTextLen {
				buf = append(buf, tt...)
			}
		}
	}
	if se.Type == "" {
		se.Type = "cancel"
	}
	if se.Condition == "" {
		se.Condition = "undefined-condition"
	}
	// Prefer text without a language, then English, then the first one.
	rank := func(lang string) int {
		switch {
		case lang == "":
			return 3
		case lang == "en" || strings.HasPrefix(lang, "en-"):
			return 2
		}
		return 1
	}
	best := -1
	for i := range texts {
		if best == -1 || rank(texts[i].lang) > rank(texts[best].lang) {
			best = i
		}
	}
	if best >= 0 {
		se.Text, se.Lang = texts[best].s, texts[best].lang
	}
	return se
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
