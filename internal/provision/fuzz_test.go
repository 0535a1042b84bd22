package provision

import (
	"errors"
	"fmt"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// FuzzClassify feeds arbitrary server refusals (as xmppconn parses them from
// the server's XML: stanza errors and ad-hoc command notes) to Classify. It
// must never panic, always return a Kind the web layer knows, keep the
// condition of stanza errors, and agree with KindOf.
func FuzzClassify(f *testing.F) {
	f.Add("cancel", "conflict", "The requested username already exists.", "", "")
	f.Add("modify", "not-acceptable", "The password is too weak", "", "")
	f.Add("modify", "not-acceptable", "Username: Required value missing", "", "")
	f.Add("wait", "resource-constraint", "Users are not allowed to register accounts so quickly", "", "")
	f.Add("", "", "", "error", "Account already exists")
	f.Add("", "", "", "error", "Invalid data.\nPassword mismatch, or empty username")
	f.Add("", "", "", "info", "")
	f.Fuzz(func(t *testing.T, typ, cond, text, noteType, noteText string) {
		errs := []error{
			&xmppconn.StanzaError{Type: typ, Condition: cond, Text: text},
			fmt.Errorf("wrapped: %w", &xmppconn.StanzaError{Type: typ, Condition: cond, Text: text}),
			&xmppconn.CommandError{Node: AddUserNode, Status: typ, Notes: []xmppconn.Note{{Type: noteType, Text: noteText}}},
			&xmppconn.CommandError{Node: AddUserNode, Status: "canceled"},
			errors.New(text),
		}
		for _, err := range errs {
			pe := Classify(err)
			if pe == nil || pe.Kind < KindUnknown || pe.Kind > KindUnavailable {
				t.Fatalf("Classify(%#v) = %#v", err, pe)
			}
			if k := KindOf(pe); k != pe.Kind {
				t.Fatalf("KindOf = %v, Classify = %v", k, pe.Kind)
			}
			if se := (*xmppconn.StanzaError)(nil); errors.As(err, &se) && pe.Condition != se.Condition {
				t.Fatalf("condition %q lost: %q", se.Condition, pe.Condition)
			}
			_ = pe.Error()
			_ = pe.Kind.String()
		}
	})
}
