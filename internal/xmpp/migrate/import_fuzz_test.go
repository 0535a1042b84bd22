package migrate

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// FuzzImport feeds arbitrary files through the upload reader of /import
// (ReadUpload, with small limits) into the import writer, with a fake
// server that refuses every other request. What the reader keeps must stay
// within its memory bound (elements and bytes of Limits, counted on the
// kept user), every stanza the importer would send must be well-formed XML
// of bounded size, nothing may panic, and every roster item and blocked
// address in the file gets exactly one outcome.
func FuzzImport(f *testing.F) {
	var seed bytes.Buffer
	pie.NewWriter(&seed).WriteDocument(&pie.Document{Hosts: []*pie.Host{{JID: "old.example", Users: []*pie.User{fixtureUser("fuzz")}}}})
	f.Add(seed.Bytes(), uint8(0))
	f.Add(seed.Bytes(), uint8(3))
	f.Add([]byte(`<server-data xmlns="urn:xmpp:pie:0"><host jid="a"><user name="b"><query xmlns="jabber:iq:roster"><item jid="c@d" name="&lt;x"><group>g</group></item></query><pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="urn:xmpp:bookmarks:1"><item id="r@muc"><conference xmlns="urn:xmpp:bookmarks:1"/></item></items></pubsub></user></host></server-data>`), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, failEvery uint8) {
		svc := &Service{MaxImportBytes: 1 << 20, Limits: fuzzLimits}
		up, err := svc.ReadUpload(bytes.NewReader(data), func(name string) bool { return name == "fuzz" })
		if err != nil {
			return
		}
		u := up.user
		if elems, n := keptSize(u); elems > fuzzLimits.Elements || n > fuzzLimits.DataBytes {
			t.Fatalf("kept %d elements and %d bytes, limits %d and %d", elems, n, fuzzLimits.Elements, fuzzLimits.DataBytes)
		}
		calls := 0
		check := func(e *xmltree.Element) {
			s := e.String()
			if len(s) > 4<<20 {
				t.Fatalf("stanza of %d bytes", len(s))
			}
			d := xml.NewDecoder(strings.NewReader(s))
			for {
				_, err := d.Token()
				if err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("stanza is not well-formed: %v\n%s", err, s)
					}
					break
				}
			}
		}
		im := &importer{sum: &Summary{}, opt: ImportOptions{Subscribe: true, MovedFrom: "old@old.example"}, own: jid.MustParse("new@new.example"),
			iq: func(ctx context.Context, typ stanza.IQType, payload *xmltree.Element) (*xmltree.Element, error) {
				calls++
				check(payload)
				if failEvery > 0 && calls%int(failEvery) == 0 {
					return nil, &xmpp.Error{Kind: xmpp.StanzaKind("not-acceptable", ""), Op: "iq", Condition: "not-acceptable"}
				}
				return nil, nil
			},
			send: func(ctx context.Context, st *xmltree.Element) error {
				check(st)
				if failEvery == 7 {
					return errors.New("gone")
				}
				return nil
			},
		}
		im.run(context.Background(), u)
		contacts := 0
		for _, o := range im.sum.Items {
			if o.Kind == KindContact {
				contacts++
			}
		}
		if u.Roster != nil && contacts != len(u.Roster.Items) {
			t.Fatalf("%d roster items, %d contact outcomes", len(u.Roster.Items), contacts)
		}
	})
}

// fuzzLimits are small import limits, so that the fuzzer reaches them.
var fuzzLimits = Limits{Contacts: 40, Blocked: 40, Nodes: 20, NodeItems: 20, Elements: 3000, DataBytes: 64 << 10}

// keptSize counts the elements and the bytes of names, attribute values and
// text that u holds (the parser's own accounting, recomputed from the
// result).
func keptSize(u *pie.User) (elems int, bytes int64) {
	var walk func(e *xmltree.Element)
	walk = func(e *xmltree.Element) {
		if e == nil {
			return
		}
		elems++
		bytes += int64(len(e.Name.Space) + len(e.Name.Local))
		for _, a := range e.Attr {
			bytes += int64(len(a.Name.Space) + len(a.Name.Local) + len(a.Value))
		}
		for _, c := range e.Children {
			if c.Elem != nil {
				walk(c.Elem)
			} else {
				bytes += int64(len(c.Text))
			}
		}
	}
	walk(u.VCard)
	for _, e := range append(append(append([]*xmltree.Element{}, u.Private...), u.Offline...), append(u.Subscriptions, u.Extra...)...) {
		walk(e)
	}
	for _, n := range u.PEP {
		walk(n.Config)
		for _, it := range n.Items {
			walk(it.Payload)
		}
	}
	if u.Roster != nil {
		for _, it := range u.Roster.Items {
			elems++
			bytes += int64(len(it.JID) + len(it.Name))
		}
	}
	return elems, bytes
}
