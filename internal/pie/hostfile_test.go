package pie

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// ejabberdIndex and ejabberdHost are the two files ejabberd 23.01's
// export_piefxis_host writes (as its make_piefxis_* functions spell them):
// the index of xi:include lines, and the host file whose root is <host/>.
const ejabberdIndex = `<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='20261207-101010_localhost.xml'/></server-data>`

func ejabberdHost(users ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='localhost'>`)
	for _, u := range users {
		fmt.Fprintf(&b, `<user name='%s' password=''><query xmlns='jabber:iq:roster'><item jid='%s-friend@example.net' subscription='both'/></query></user>`, u, u)
	}
	b.WriteString(`</host>`)
	return b.String()
}

// TestHostRoot: a file whose root is <host/> is read like one wrapped in
// <server-data/>, with the same choice of one user among several.
func TestHostRoot(t *testing.T) {
	for _, tc := range []struct {
		want, kept string
	}{{"bob", "bob"}, {"carol", "carol"}, {"nobody", "alice"}} {
		d, err := Parse(strings.NewReader(ejabberdHost("alice", "bob", "carol")), Options{Match: func(host, name string) bool { return host == "localhost" && name == tc.want }})
		if err != nil {
			t.Fatal(err)
		}
		h, u := d.User()
		if h == nil || h.JID != "localhost" || u.Name != tc.kept || len(u.Roster.Items) != 1 || u.Roster.Items[0].JID != tc.kept+"-friend@example.net" {
			t.Fatalf("want %s: kept %+v %+v", tc.want, h, u)
		}
		if d.UserCount != 3 || strings.Join(d.Users, " ") != "alice@localhost bob@localhost carol@localhost" {
			t.Fatalf("users %d %v", d.UserCount, d.Users)
		}
	}
	// Content after the root element is refused, as after <server-data/>.
	if _, err := Parse(strings.NewReader(ejabberdHost("a")+"<host/>"), Options{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("content after <host/>: %v", err)
	}
}

// TestIndexFile: the index of a server export has no user; the files it
// names are listed by their base names (never a directory of the
// operator's).
func TestIndexFile(t *testing.T) {
	doc := strings.Replace(ejabberdIndex, `<xi:include`, `<xi:include href='/var/lib/ejabberd/x/other_host.xml'/><xi:include`, 1)
	d, err := Parse(strings.NewReader(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, u := d.User(); u != nil {
		t.Fatalf("user %+v in an index", u)
	}
	if got := strings.Join(d.Includes, " "); got != "other_host.xml 20261207-101010_localhost.xml" {
		t.Fatalf("includes %q", got)
	}
}

// TestFormatErrors: each refusal says what was found instead.
func TestFormatErrors(t *testing.T) {
	full := ejabberdHost("alice")
	for _, tc := range []struct {
		name, doc, kind, found string
		line                   int
	}{
		{"empty", "  \n", FormatEmpty, "", 0},
		{"other root", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`, FormatRoot, "<html xmlns='http://www.w3.org/1999/xhtml'>", 0},
		{"root without namespace", `<server-data><host jid="a"/></server-data>`, FormatRoot, "<server-data>", 0},
		{"truncated", full[:len(full)/2], FormatTruncated, "", 1},
		{"truncated after a line", "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='b'>", FormatTruncated, "", 3},
		{"syntax", "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'></user></server-data>", FormatSyntax, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc), Options{})
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, want a FormatError matching ErrMalformed", err)
			}
			if fe.Kind != tc.kind || fe.Found != tc.found || fe.Line != tc.line {
				t.Fatalf("got %+v, want kind %s found %q line %d", fe, tc.kind, tc.found, tc.line)
			}
		})
	}
}
