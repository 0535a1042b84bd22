package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// NSCommands is the XEP-0050 namespace.
const NSCommands = "http://jabber.org/protocol/commands"

const nsDiscoItems = "http://jabber.org/protocol/disco#items"

// Field is one field of a data form as sent by the server.
type Field struct {
	Var    string
	Type   string
	Label  string
	Values []string
}

// CommandResult is the final response of an ad-hoc command.
type CommandResult struct {
	Node      string
	SessionID string
	Status    string // "completed" on success
	// Steps is the number of requests the command took (1 when the form
	// went with the first request and the server completed it at once).
	Steps int
	Notes []Note
	// Fields of the data form in the final response (usually type "result"),
	// nil if there is none.
	Fields []Field
	// Form is the same form parsed by mellium, nil if there is none or it
	// could not be parsed.
	Form *form.Data
}

// ErrorText returns the text of the first note of type "error".
func (r CommandResult) ErrorText() string {
	for _, n := range r.Notes {
		if n.Type == "error" {
			return n.Text
		}
	}
	return ""
}

// Value returns the first value of the result field named v.
func (r CommandResult) Value(v string) (string, bool) {
	for _, f := range r.Fields {
		if f.Var == v {
			if len(f.Values) == 0 {
				return "", true
			}
			return f.Values[0], true
		}
	}
	return "", false
}

// Command runs the ad-hoc command node at to (XEP-0050) on s:
// it sends action "execute"; if the server answers with a form (status
// "executing"), fill is called to set its fields (form.Data.Set: jid-single
// fields take a jid.JID, jid-multi a []jid.JID, text fields a string,
// boolean a bool), and the form is submitted with action "complete".
// Commands with more than one form step are canceled and reported as
// ErrProtocol.
//
// Errors are *Error values: an IQ error from the server (ejabberd's way of
// failing) is of its condition's kind; a response with a note of type
// "error", or status "canceled", (Prosody's way) is of the note's kind
// (noteKind) with the note as Text, returned together with the result;
// fill's error is returned as is (the command is canceled first);
// connection problems are Unavailable, odd replies Protocol.
//
// It is written by hand: commands.Command.Execute of mellium v0.22.0 never
// closes a response that is an IQ error, which hangs the session, and
// form.Data.Submit panics on some text-multi values (see submission).
func (c *Conn) Command(ctx context.Context, to jid.JID, node string, fill func(*form.Data) error) (CommandResult, error) {
	return c.CommandWith(ctx, to, node, nil, fill)
}

// CommandWith is Command in one round trip where the server allows it: the
// caller knows the command's form (known, as the server would send it),
// fill fills it, and it is submitted with the first request (action
// "execute" carrying the submitted form). Prosody's simple ad-hoc commands
// (util/adhoc's new_simple_form) and ejabberd's mod_configure both complete
// such a request at once, which halves the round trips of, say, add-user. A
// server that answers with its own form instead (status "executing") gets
// that form filled by fill and the usual second step, so the call works
// either way. known nil is Command.
func (c *Conn) CommandWith(ctx context.Context, to jid.JID, node string, known *form.Data, fill func(*form.Data) error) (CommandResult, error) {
	if node == "" {
		return CommandResult{}, errors.New("xmpp: Command needs a node")
	}
	var first xml.TokenReader
	if known != nil && fill != nil {
		if err := fill(known); err != nil {
			return CommandResult{}, err
		}
		sub, err := submission(known)
		if err != nil {
			return CommandResult{}, err
		}
		first = sub
	}
	iq := stanza.IQ{Type: stanza.SetIQ, To: to}
	r, err := c.SendIQ(ctx, iq, commandPayload(node, "", "execute", first))
	if err != nil {
		return CommandResult{}, err
	}
	step, formToks, err := parseCommand(r)
	if err != nil {
		return CommandResult{}, err
	}
	if step.Node == "" {
		step.Node = node
	}
	step.Steps = 1
	if step.Status != "executing" {
		return finishCommand(step)
	}
	cancel := func() { c.cancelCommand(ctx, to, node, step.SessionID) }
	if formToks == nil {
		cancel()
		return step, protocol("command "+node+" asks for input but sent no form", nil)
	}
	if fill == nil {
		cancel()
		return step, fmt.Errorf("xmpp: command %s needs input but no fill function was given", node)
	}
	d, err := decodeForm(formToks)
	if err != nil {
		cancel()
		return step, err
	}
	if err := fill(d); err != nil {
		cancel()
		return step, err
	}
	sub, err := submission(d)
	if err != nil {
		cancel()
		return step, err
	}
	r, err = c.SendIQ(ctx, iq, commandPayload(node, step.SessionID, "complete", sub))
	if err != nil {
		return CommandResult{}, err
	}
	final, _, err := parseCommand(r)
	if err != nil {
		return CommandResult{}, err
	}
	final.Steps = 2
	if final.Node == "" {
		final.Node = node
	}
	if final.Status == "executing" {
		c.cancelCommand(ctx, to, node, orDefault(final.SessionID, step.SessionID))
		return final, protocol("command "+node+" has more than one step", nil)
	}
	return finishCommand(final)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func finishCommand(res CommandResult) (CommandResult, error) {
	hasError := false
	for _, n := range res.Notes {
		if n.Type == "error" {
			hasError = true
		}
	}
	switch {
	case hasError || res.Status == "canceled":
		text := res.ErrorText()
		k := noteKind(text)
		if text == "" && res.Status == "canceled" {
			k = Unknown
		}
		return res, &Error{Kind: k, Op: "command " + res.Node, Text: text}
	case res.Status == "completed":
		return res, nil
	case res.Status == "":
		// XEP-0050 requires a status; be lenient only if there is nothing
		// suggesting the command is still open.
		if res.SessionID == "" {
			res.Status = "completed"
			return res, nil
		}
	}
	return res, protocol(fmt.Sprintf("command %s ended with status %q", res.Node, truncate(res.Status, 32)), nil)
}

// cancelCommand tells the server to drop a command session; best effort.
func (c *Conn) cancelCommand(ctx context.Context, to jid.JID, node, sid string) {
	if sid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ, To: to}, commandPayload(node, sid, "cancel", nil))
}

func commandPayload(node, sid, action string, payload xml.TokenReader) xml.TokenReader {
	attrs := []xml.Attr{{Name: xml.Name{Local: "node"}, Value: node}}
	if sid != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "sessionid"}, Value: sid})
	}
	attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "action"}, Value: action})
	return xmlstream.Wrap(payload, xml.StartElement{Name: xml.Name{Space: NSCommands, Local: "command"}, Attr: attrs})
}

// parseCommand reads the <command/> element of a response.
// It returns the tokens of the first data form (nil if none).
func parseCommand(r *Response) (CommandResult, []xml.Token, error) {
	var res CommandResult
	var formToks []xml.Token
	depth := 0
	found := false
	var note *Note
	var noteText []byte
	formStart := -1
	for i, t := range r.Payload {
		switch tt := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && !found && tt.Name.Space == NSCommands && tt.Name.Local == "command":
				found = true
				res.Node = truncate(attrValue(tt, "", "node"), 256)
				res.SessionID = truncate(attrValue(tt, "", "sessionid"), 256)
				res.Status = truncate(attrValue(tt, "", "status"), 32)
			case depth == 2 && found && tt.Name.Local == "note" && (tt.Name.Space == NSCommands || tt.Name.Space == ""):
				typ := attrValue(tt, "", "type")
				if typ == "" {
					typ = "info"
				}
				note = &Note{Type: truncate(typ, 16)}
				noteText = noteText[:0]
			case depth == 2 && found && tt.Name.Space == form.NS && tt.Name.Local == "x" && formStart == -1 && formToks == nil:
				formStart = i
			}
		case xml.EndElement:
			switch {
			case depth == 2 && note != nil:
				note.Text = truncate(strings.TrimSpace(string(noteText)), maxTextLen)
				if len(res.Notes) < 32 {
					res.Notes = append(res.Notes, *note)
				}
				note = nil
			case depth == 2 && formStart >= 0:
				formToks = r.Payload[formStart : i+1]
				formStart = -1
			}
			depth--
			if depth == 0 && found {
				goto done
			}
		case xml.CharData:
			if note != nil && len(noteText) < 4*maxTextLen {
				noteText = append(noteText, tt...)
			}
		}
	}
done:
	if !found {
		return res, nil, protocol("response has no <command/> element", nil)
	}
	if formToks != nil {
		res.Fields = parseFields(formToks)
		if d, err := decodeForm(formToks); err == nil {
			res.Form = d
		}
	}
	return res, formToks, nil
}

// parseFields reads the fields of a data form from its tokens.
func parseFields(toks []xml.Token) []Field {
	var fields []Field
	var cur *Field
	inValue := false
	var val []byte
	depth := 0
	for _, t := range toks {
		switch tt := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && tt.Name.Local == "field":
				cur = &Field{
					Var:   truncate(attrValue(tt, "", "var"), 256),
					Type:  truncate(attrValue(tt, "", "type"), 32),
					Label: truncate(attrValue(tt, "", "label"), 256),
				}
			case depth == 3 && cur != nil && tt.Name.Local == "value":
				inValue = true
				val = val[:0]
			}
		case xml.EndElement:
			switch {
			case depth == 3 && inValue:
				inValue = false
				if len(cur.Values) < 1000 {
					cur.Values = append(cur.Values, string(val))
				}
			case depth == 2 && cur != nil:
				fields = append(fields, *cur)
				cur = nil
			}
			depth--
		case xml.CharData:
			if inValue {
				val = append(val, tt...)
			}
		}
	}
	return fields
}

// decodeForm parses a data form with mellium's form package, turning any
// panic into an error.
func decodeForm(toks []xml.Token) (d *form.Data, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, protocol(fmt.Sprintf("parsing data form panicked: %v", p), nil)
		}
	}()
	d = &form.Data{}
	if err := xml.NewTokenDecoder(&sliceReader{toks: toks}).Decode(d); err != nil {
		return nil, protocol("malformed data form", err)
	}
	return d, nil
}

// submission builds the <x type="submit"/> for d. It replaces
// form.Data.Submit, which panics on text-multi values that are empty or end
// in a newline (mellium v0.22.0).
func submission(d *form.Data) (r xml.TokenReader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, protocol(fmt.Sprintf("building form submission panicked: %v", p), nil)
		}
	}()
	var fields []xml.TokenReader
	var missing []string
	d.ForFields(func(f form.FieldData) {
		if f.Var == "" || f.Type == form.TypeFixed {
			return
		}
		v, ok := d.Get(f.Var)
		vals, set := formValues(f.Type, v, ok)
		if !set {
			if f.Required {
				missing = append(missing, f.Var)
			}
			return
		}
		fields = append(fields, fieldReader(f.Var, string(f.Type), vals))
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("xmpp: required form fields not set: %s", strings.Join(missing, ", "))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(fields...), xml.StartElement{
		Name: xml.Name{Space: form.NS, Local: "x"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}},
	}), nil
}

func formValues(typ form.FieldType, v any, ok bool) ([]string, bool) {
	if !ok {
		return nil, false
	}
	switch vv := v.(type) {
	case string:
		if typ == form.TypeTextMulti {
			lines := strings.Split(strings.ReplaceAll(vv, "\r\n", "\n"), "\n")
			for len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			return lines, len(lines) > 0
		}
		return []string{vv}, true
	case []string:
		return vv, len(vv) > 0
	case jid.JID:
		if vv.Equal(jid.JID{}) {
			return nil, false
		}
		return []string{vv.String()}, true
	case []jid.JID:
		out := make([]string, 0, len(vv))
		for _, j := range vv {
			out = append(out, j.String())
		}
		return out, len(out) > 0
	case bool:
		if vv {
			return []string{"true"}, true
		}
		return []string{"false"}, true
	}
	return nil, false
}

func fieldReader(name, typ string, vals []string) xml.TokenReader {
	var values []xml.TokenReader
	for _, v := range vals {
		values = append(values, xmlstream.Wrap(
			xmlstream.Token(xml.CharData(v)),
			xml.StartElement{Name: xml.Name{Local: "value"}},
		))
	}
	attrs := []xml.Attr{{Name: xml.Name{Local: "var"}, Value: name}}
	if typ != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "type"}, Value: typ})
	}
	return xmlstream.Wrap(xmlstream.MultiReader(values...), xml.StartElement{Name: xml.Name{Local: "field"}, Attr: attrs})
}

// CommandItem is an ad-hoc command offered by an entity.
type CommandItem struct {
	Node string
	Name string
}

// ListCommands returns the ad-hoc commands that to offers to this session
// (XEP-0050 discovery via disco#items). It replaces commands.Fetch so that
// errors never leave an unclosed response behind.
func (c *Conn) ListCommands(ctx context.Context, to jid.JID) ([]CommandItem, error) {
	q := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: nsDiscoItems, Local: "query"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "node"}, Value: NSCommands}},
	})
	r, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: to}, q)
	if err != nil {
		return nil, err
	}
	var items []CommandItem
	depth := 0
	for _, t := range r.Payload {
		switch tt := t.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && tt.Name.Local == "item" && len(items) < 1000 {
				items = append(items, CommandItem{
					Node: truncate(attrValue(tt, "", "node"), 256),
					Name: truncate(attrValue(tt, "", "name"), 256),
				})
			}
		case xml.EndElement:
			depth--
		}
	}
	return items, nil
}
