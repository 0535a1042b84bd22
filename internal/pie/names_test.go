package pie

import (
	"errors"
	"strings"
	"testing"
)

// TestInvalidNamesRefused: encoding/xml reads <A:0/> and <x 1="v"/>; a file
// or a server answer with them is not XML, and is refused rather than
// written back into a stanza no server parses (found by FuzzImport).
func TestInvalidNamesRefused(t *testing.T) {
	docs := map[string]string{
		"element":   `<server-data xmlns="urn:xmpp:pie:0"><host jid="a"><user name="b"><pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="n"><item><A:0/></item></items></pubsub></user></host></server-data>`,
		"attribute": `<server-data xmlns="urn:xmpp:pie:0"><host jid="a"><user name="b"><query xmlns="jabber:iq:roster"><item jid="c@d" 1x="v"/></query></user></host></server-data>`,
		"top level": `<server-data xmlns="urn:xmpp:pie:0"><0host/></server-data>`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(doc), Options{}); !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse = %v, want ErrMalformed", err)
			}
		})
	}
	// Valid names, xml:lang and namespace declarations still pass.
	ok := `<server-data xmlns="urn:xmpp:pie:0"><host jid="a"><user name="b"><vCard xmlns="vcard-temp"><FN xml:lang="fr">Élodie</FN><X-CUSTOM.v2 xmlns:p="urn:p" p:attr="1"/></vCard></user></host></server-data>`
	if _, err := Parse(strings.NewReader(ok), Options{}); err != nil {
		t.Errorf("valid document refused: %v", err)
	}
}
