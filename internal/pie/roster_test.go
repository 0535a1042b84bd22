package pie

import (
	"github.com/xmpp-portal/portal/internal/xmltree"
	"strings"
	"testing"
)

// TestRosterFromQuery: a server's roster answer keeps every attribute the
// export needs (a pending request's ask among them) and leaves out contacts
// whose address is not one, reporting them.
func TestRosterFromQuery(t *testing.T) {
	q := xmltree.NewElement(NSRoster, "query", "ver", "v7").Add(
		xmltree.NewElement(NSRoster, "item", "jid", "romeo@example.net", "name", "Romeo", "subscription", "both").Add(
			xmltree.NewElement(NSRoster, "group").SetText("Friends"), xmltree.NewElement(NSRoster, "group").SetText("Verona")),
		xmltree.NewElement(NSRoster, "item", "jid", "nurse@example.net", "subscription", "none", "ask", "subscribe"),
		xmltree.NewElement(NSRoster, "item", "jid", "bad@@example.net"),
		xmltree.NewElement(NSRoster, "item"),
		xmltree.NewElement(NSRoster, "other", "jid", "x@example.net"),
	)
	r, problems := RosterFromQuery(q)
	if r.Ver != "v7" || len(r.Items) != 2 {
		t.Fatalf("roster %+v", r)
	}
	cases := []RosterItem{
		{JID: "romeo@example.net", Name: "Romeo", Subscription: "both", Groups: []string{"Friends", "Verona"}},
		{JID: "nurse@example.net", Subscription: "none", Ask: "subscribe"},
	}
	for i, want := range cases {
		got := r.Items[i]
		if got.JID != want.JID || got.Name != want.Name || got.Subscription != want.Subscription || got.Ask != want.Ask ||
			strings.Join(got.Groups, "|") != strings.Join(want.Groups, "|") {
			t.Errorf("item %d = %+v, want %+v", i, got, want)
		}
	}
	if len(problems) != 2 {
		t.Errorf("problems %+v, want the two contacts without a valid address", problems)
	}
	if empty, p := RosterFromQuery(xmltree.NewElement(NSRoster, "query")); empty == nil || len(empty.Items) != 0 || len(p) != 0 {
		t.Errorf("empty query: %+v %v", empty, p)
	}
}
