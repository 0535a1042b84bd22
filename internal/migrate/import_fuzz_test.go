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
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// FuzzImport feeds arbitrary files through the parser into the import
// writer, with a fake server that refuses every other request. Every stanza
// the importer would send must be well-formed XML of bounded size, nothing
// may panic, and every roster item and blocked address in the file gets
// exactly one outcome.
func FuzzImport(f *testing.F) {
	var seed bytes.Buffer
	pie.NewWriter(&seed).WriteDocument(&pie.Document{Hosts: []*pie.Host{{JID: "old.example", Users: []*pie.User{fixtureUser("fuzz")}}}})
	f.Add(seed.Bytes(), uint8(0))
	f.Add(seed.Bytes(), uint8(3))
	f.Add([]byte(`<server-data xmlns="urn:xmpp:pie:0"><host jid="a"><user name="b"><query xmlns="jabber:iq:roster"><item jid="c@d" name="&lt;x"><group>g</group></item></query><pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="urn:xmpp:bookmarks:1"><item id="r@muc"><conference xmlns="urn:xmpp:bookmarks:1"/></item></items></pubsub></user></host></server-data>`), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, failEvery uint8) {
		doc, err := pie.Parse(bytes.NewReader(data), pie.Options{MaxBytes: 1 << 20, MaxElements: 20000, SkipArchive: true})
		if err != nil {
			return
		}
		_, u := doc.User()
		if u == nil {
			return
		}
		calls := 0
		check := func(e *pie.Element) {
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
			iq: func(ctx context.Context, typ stanza.IQType, payload *pie.Element) (*pie.Element, error) {
				calls++
				check(payload)
				if failEvery > 0 && calls%int(failEvery) == 0 {
					return nil, &xmppconn.StanzaError{Type: "cancel", Condition: "not-acceptable"}
				}
				return nil, nil
			},
			send: func(ctx context.Context, st *pie.Element) error {
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
