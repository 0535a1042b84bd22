package pie

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// hostile builds a document of one user whose single child is open + n
// times item + close.
func hostile(open, item, close string, n int) string {
	return `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u">` + open + strings.Repeat(item, n) + close + `</user></host></server-data>`
}

// TestKeepLimits: every per-kind limit and the kept data bound stop the
// parser as the items stream in, naming the kind.
func TestKeepLimits(t *testing.T) {
	keep := Limits{Elements: 2000, Bytes: 64 << 10, Contacts: 10, Blocked: 10, Nodes: 5, NodeItems: 7, Offline: 4, Subscriptions: 3}
	tests := []struct {
		name string
		doc  string
		kind string // "" = accepted
	}{
		{"contacts at the limit", hostile(`<query xmlns="jabber:iq:roster">`, `<item jid="a@b"/>`, `</query>`, 10), ""},
		{"contacts over", hostile(`<query xmlns="jabber:iq:roster">`, `<item jid="a@b"/>`, `</query>`, 11), LimitContacts},
		{"blocked over", hostile(`<query xmlns="jabber:iq:privacy"><list name="l">`, `<item type="jid" value="a@b" action="deny" order="1"/>`, `</list></query>`, 11), LimitBlocked},
		{"private over", hostile(`<query xmlns="jabber:iq:private">`, `<x xmlns="urn:x"/>`, `</query>`, 6), LimitNodes},
		{"node items over", hostile(`<pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="n">`, `<item id="i"><p xmlns="urn:p"/></item>`, `</items></pubsub>`, 8), LimitNodeItems},
		{"node items per node", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><pubsub xmlns="http://jabber.org/protocol/pubsub">` +
			strings.Repeat(`<items node="n"><item id="1"/><item id="2"/></items>`, 4) + `</pubsub></user></host></server-data>`, LimitNodeItems},
		{"node items across nodes", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><pubsub xmlns="http://jabber.org/protocol/pubsub">` +
			`<items node="a"><item id="1"/><item id="2"/><item id="3"/><item id="4"/><item id="5"/></items><items node="b"><item id="1"/><item id="2"/><item id="3"/><item id="4"/><item id="5"/></items>` + `</pubsub></user></host></server-data>`, ""},
		{"offline over", hostile(`<offline-messages>`, `<message xmlns="jabber:client"/>`, `</offline-messages>`, 5), LimitOffline},
		{"many small elements", hostile(`<vCard xmlns="vcard-temp">`, `<X/>`, `</vCard>`, 5000), LimitData},
		{"text split by comments", hostile(`<vCard xmlns="vcard-temp"><NOTE>`, `a<!---->`, `</NOTE></vCard>`, 5000), LimitData},
		{"many bytes", hostile(`<vCard xmlns="vcard-temp"><NOTE>`, strings.Repeat("x", 1000)+"<!---->", `</NOTE></vCard>`, 100), LimitData},
		{"archive only counted", hostile(`<archive xmlns="urn:xmpp:pie:0#mam">`, `<result xmlns="urn:xmpp:mam:2" id="1"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="2020-01-01T00:00:00Z"/><message xmlns="jabber:client"><body>hi</body></message></forwarded></result>`, `</archive>`, 3000), ""},
		{"one huge archive result", hostile(`<archive xmlns="urn:xmpp:pie:0#mam"><result xmlns="urn:xmpp:mam:2" id="1"><forwarded xmlns="urn:xmpp:forward:0">`, `<x/>`, `</forwarded></result></archive>`, 3000), LimitData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse(strings.NewReader(tc.doc), Options{Keep: keep, SkipArchive: true})
			var le *LimitError
			switch {
			case tc.kind == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.kind == "":
				if _, u := doc.User(); u == nil {
					t.Fatal("no user")
				}
			case !errors.As(err, &le) || le.Kind != tc.kind:
				t.Fatalf("err = %v, want a %s limit", err, tc.kind)
			case !errors.Is(err, ErrTooLarge):
				t.Fatalf("%v does not match ErrTooLarge", err)
			}
		})
	}
}

// TestMatchKeepsOneUser: of a host's export, the matching user is kept and
// the users read past cost nothing; without a match, the first.
func TestMatchKeepsOneUser(t *testing.T) {
	user := func(name string, contacts int) string {
		return `<user name="` + name + `"><query xmlns="jabber:iq:roster">` + strings.Repeat(`<item jid="`+name+`-friend@b"/>`, contacts) + `</query></user>`
	}
	doc := `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example">` + user("big", 900) + user("alice", 3) + user("carl", 900) + `</host></server-data>`
	keep := Limits{Elements: 1000}
	for _, tc := range []struct {
		want, first string
		n           int
	}{
		{"alice", "alice", 3},
		{"nobody", "big", 900},
	} {
		d, err := Parse(strings.NewReader(doc), Options{Keep: keep, Match: func(_, name string) bool { return name == tc.want }})
		if err != nil {
			t.Fatalf("want %s: %v", tc.want, err)
		}
		_, u := d.User()
		if u == nil || u.Name != tc.first || len(u.Roster.Items) != tc.n {
			t.Fatalf("want %s: kept %+v", tc.want, u)
		}
		if d.UserCount != 3 || fmt.Sprint(d.Users) != "[big@h.example alice@h.example carl@h.example]" {
			t.Fatalf("users %d %v", d.UserCount, d.Users)
		}
	}
}

// TestCommentSplitTextIsLinear: text cut into many runs by comments is
// joined once, not by repeated concatenation.
func TestCommentSplitTextIsLinear(t *testing.T) {
	const n = 200_000
	doc := hostile(`<vCard xmlns="vcard-temp"><NOTE>`, `ab<!---->`, `</NOTE></vCard>`, n)
	d, err := Parse(io.MultiReader(strings.NewReader(doc)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, u := d.User()
	if got := len(u.VCard.Child("", "NOTE").Text()); got != 2*n {
		t.Fatalf("text of %d bytes, want %d", got, 2*n)
	}
}
