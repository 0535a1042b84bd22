package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// conditionName matches the conditions FuzzClassify can put in XML as an
// element name (and that stanzaError keeps whole: at most 64 bytes).
var conditionName = regexp.MustCompile(`^[a-z][a-z-]{0,63}$`)

// FuzzClassify feeds arbitrary server refusals to the classifiers: stanza
// errors (as SendIQ parses them from the server's XML, and StanzaKind
// directly) and ad-hoc command results with a note (finishCommand,
// noteKind). They must never panic, always return a Kind the web layer
// knows, keep the condition of stanza errors, and agree with KindOf.
func FuzzClassify(f *testing.F) {
	f.Add("cancel", "conflict", "The requested username already exists.", "", "")
	f.Add("modify", "not-acceptable", "The password is too weak", "", "")
	f.Add("modify", "not-acceptable", "Username: Required value missing", "", "")
	f.Add("wait", "resource-constraint", "Users are not allowed to register accounts so quickly", "", "")
	f.Add("", "", "", "error", "Account already exists")
	f.Add("", "", "", "error", "Invalid data.\nPassword mismatch, or empty username")
	f.Add("", "", "", "info", "")
	f.Fuzz(func(t *testing.T, typ, cond, text, noteType, noteText string) {
		known := func(k Kind) bool { return k >= Unknown && k <= NotAvailable }
		stanza := &Error{Kind: StanzaKind(cond, text), Op: "iq", Condition: cond, Text: text}
		errs := []error{
			stanza,
			fmt.Errorf("wrapped: %w", stanza),
			&Error{Kind: noteKind(noteText), Op: "command", Text: noteText},
			errors.New(text),
		}
		for _, status := range []string{typ, "completed", "canceled"} {
			if _, err := finishCommand(CommandResult{Node: addUserNode, Status: status, Notes: []Note{{Type: noteType, Text: noteText}}}); err != nil {
				errs = append(errs, err)
			}
		}
		if conditionName.MatchString(cond) && cond != "text" {
			// The same refusal from the wire: the condition survives the
			// parsing and the kind is StanzaKind's of what was parsed.
			_, err := ReadIQ(xml.NewDecoder(strings.NewReader(iqError(escape(typ), cond, escape(text), ""))))
			var e *Error
			if !errors.As(err, &e) || e.Condition != cond || e.Kind != StanzaKind(e.Condition, e.Text) {
				t.Fatalf("IQ error with condition %q, text %q: %#v", cond, text, err)
			}
			errs = append(errs, err)
		}
		if e := AsError(errs[1]); e.Condition != cond || e.Kind != stanza.Kind {
			t.Fatalf("wrapped stanza error: condition %q, kind %s; want %q, %s", e.Condition, e.Kind, cond, stanza.Kind)
		}
		for _, err := range errs {
			e := AsError(err)
			if e == nil || !known(e.Kind) {
				t.Fatalf("AsError(%#v) = %#v", err, e)
			}
			if k := KindOf(err); k != e.Kind || (!errors.Is(err, k) && e.Kind != Unknown) {
				t.Fatalf("KindOf = %v, AsError = %v", k, e.Kind)
			}
			_ = e.Error()
			_ = e.Kind.String()
			_ = ErrorClass(err)
		}
	})
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
