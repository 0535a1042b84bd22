package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
)

func readIQString(t testing.TB, s string) (*Response, error) {
	t.Helper()
	return ReadIQ(xml.NewDecoder(strings.NewReader(s)))
}

func TestReadIQStanzaErrors(t *testing.T) {
	tests := []struct {
		name, xml       string
		typ, cond, text string
		lang            string // the text's language (not kept)
		kind            Kind
	}{
		{
			name: "prosody conflict",
			xml: `<iq xmlns="jabber:client" type="error" id="a1"><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">The requested username already exists.</text></error></iq>`,
			typ: "cancel", cond: "conflict", text: "The requested username already exists.", kind: Conflict,
		},
		{
			name: "ejabberd text under xml:lang en",
			xml: `<iq xmlns="jabber:client" xml:lang="en" to="localhost" type="error" id="a2"><query xmlns="jabber:iq:register"><username>x</username></query>` +
				`<error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xml:lang="en" xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">The password is too weak</text></error></iq>`,
			typ: "modify", cond: "not-acceptable", text: "The password is too weak", lang: "en", kind: PasswordPolicy,
		},
		{
			name: "prefers text without language, then en",
			xml: `<iq type="error" id="a3"><error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xml:lang="de" xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">zu schnell</text>` +
				`<text xml:lang="en" xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">too fast</text></error></iq>`,
			typ: "wait", cond: "resource-constraint", text: "too fast", lang: "en", kind: Throttled,
		},
		{
			name: "no condition, no type",
			xml:  `<iq type="error" id="a4"><error/></iq>`,
			typ:  "cancel", cond: "undefined-condition", kind: Unknown,
		},
		{
			name: "no error element at all",
			xml:  `<iq type="error" id="a5"/>`,
			typ:  "cancel", cond: "undefined-condition", kind: Unknown,
		},
		{
			name: "application condition ignored",
			xml: `<iq type="error" id="a6"><error type="auth"><app xmlns="urn:example"/><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Access denied by service policy</text></error></iq>`,
			typ: "auth", cond: "forbidden", text: "Access denied by service policy", kind: NotAllowed,
		},
		{
			name: "control characters replaced",
			xml:  `<iq type="error" id="a7"><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">a&#x7F;b</text></error></iq>`,
			typ:  "cancel", cond: "conflict", text: "a?b", kind: Conflict,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readIQString(t, tc.xml)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want *Error", err)
			}
			if se.Condition != tc.cond || se.Text != tc.text || se.Kind != tc.kind {
				t.Errorf("got %+v, want cond=%q text=%q kind=%s", *se, tc.cond, tc.text, tc.kind)
			}
		})
	}
}

func TestReadIQResult(t *testing.T) {
	r, err := readIQString(t, `<iq xmlns="jabber:client" type="result" id="x" from="localhost"><query xmlns="jabber:iq:register"><username/></query></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	if r.IQ.ID != "x" || r.IQ.From.String() != "localhost" {
		t.Errorf("IQ = %+v", r.IQ)
	}
	name, ok := r.Child()
	if !ok || name.Space != "jabber:iq:register" || name.Local != "query" {
		t.Errorf("Child = %v %v", name, ok)
	}
	var q struct {
		XMLName  xml.Name `xml:"jabber:iq:register query"`
		Username *string  `xml:"username"`
	}
	if err := r.Decode(&q); err != nil || q.Username == nil {
		t.Errorf("Decode: %v %+v", err, q)
	}
	// A result with a bad "from" is still a result.
	if _, err := readIQString(t, `<iq type="result" id="y" from="@@@"/>`); err != nil {
		t.Errorf("bad from: %v", err)
	}
}

func TestReadIQOdd(t *testing.T) {
	for name, s := range map[string]string{
		"not an iq":    `<message type="chat"/>`,
		"empty":        ``,
		"get type":     `<iq type="get" id="1"/>`,
		"no type":      `<iq id="1"/>`,
		"truncated":    `<iq type="result" id="1"><query xmlns="q"><item>`,
		"bad xml":      `<iq type="result" id="1"><a></b></iq>`,
		"deep nesting": `<iq type="result" id="1">` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</iq>`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := readIQString(t, s); err == nil {
				t.Fatal("no error")
			}
		})
	}
	big := `<iq type="result" id="1"><q xmlns="x">` + strings.Repeat("<v>"+strings.Repeat("x", 1000)+"</v>", 5000) + `</q></iq>`
	if _, err := readIQString(t, big); !errors.Is(err, Protocol) {
		t.Errorf("5 MB response: %v, want ErrProtocol", err)
	}
}

func FuzzReadIQ(f *testing.F) {
	f.Add(`<iq type="error" id="a"><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`)
	f.Add(`<iq type="result" id="a"><command xmlns="http://jabber.org/protocol/commands" status="completed"><note type="error">x</note></command></iq>`)
	f.Add(prosodyAddUserForm)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := readIQString(t, s)
		if err == nil && r != nil {
			_, _, _ = parseCommand(r)
			_, _ = r.Child()
		}
	})
}

// Raw first-step answer of Prosody 0.12 to add-user (shape from the
// reference probe).
const prosodyAddUserForm = `<iq xmlns="jabber:client" type="result" id="c1" from="localhost">` +
	`<command xmlns="http://jabber.org/protocol/commands" node="http://jabber.org/protocol/admin#add-user" sessionid="5f1c" status="executing">` +
	`<actions execute="complete"><next/><complete/></actions>` +
	`<x xmlns="jabber:x:data" type="form"><title>Adding a User</title><instructions>Fill out this form to add a user.</instructions>` +
	`<field type="hidden" var="FORM_TYPE"><value>http://jabber.org/protocol/admin</value></field>` +
	`<field type="jid-single" var="accountjid" label="The Jabber ID for the account to be added"><required/></field>` +
	`<field type="text-private" var="password" label="The password for this account"/>` +
	`<field type="text-private" var="password-verify" label="Retype password"/>` +
	`<field type="text-multi" var="notes" label="Notes"><value></value></field>` +
	`<field type="jid-multi" var="others"/>` +
	`</x></command></iq>`

func TestParseCommandAndSubmit(t *testing.T) {
	r, err := readIQString(t, prosodyAddUserForm)
	if err != nil {
		t.Fatal(err)
	}
	res, toks, err := parseCommand(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "executing" || res.SessionID != "5f1c" || toks == nil || len(res.Fields) != 6 {
		t.Fatalf("parsed %+v, %d form tokens", res, len(toks))
	}
	d, err := decodeForm(toks)
	if err != nil {
		t.Fatal(err)
	}
	// mellium's own Submit would panic on the empty text-multi "notes".
	if _, err := submission(d); err == nil {
		t.Fatal("submission without the required accountjid: no error")
	}
	if _, err := d.Set("accountjid", jid.MustParse("bob@localhost")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Set("password", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Set("notes", "line1\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Set("others", []jid.JID{jid.MustParse("a@localhost"), jid.MustParse("b@localhost")}); err != nil {
		t.Fatal(err)
	}
	sub, err := submission(d)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	e := xml.NewEncoder(&b)
	for {
		tok, err := sub.Token()
		if err != nil {
			break
		}
		if err := e.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	e.Flush()
	got := b.String()
	for _, want := range []string{
		`type="submit"`,
		`<field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/admin</value></field>`,
		`<field var="accountjid" type="jid-single"><value>bob@localhost</value></field>`,
		`<field var="password" type="text-private"><value>s3cret</value></field>`,
		`<field var="notes" type="text-multi"><value>line1</value></field>`,
		`<value>a@localhost</value><value>b@localhost</value>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("submission lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "password-verify") {
		t.Errorf("unset optional field submitted:\n%s", got)
	}
}

func TestFinishCommand(t *testing.T) {
	// Prosody reports failures as completed commands with an error note.
	r, err := readIQString(t, `<iq type="result" id="c2"><command xmlns="http://jabber.org/protocol/commands" node="n" sessionid="s" status="completed">`+
		`<note type="error">Account already exists</note></command></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := parseCommand(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = finishCommand(res)
	var ce *Error
	if !errors.As(err, &ce) || ce.Text != "Account already exists" || ce.Kind != Conflict || res.ErrorText() != "Account already exists" {
		t.Fatalf("err = %v", err)
	}
	r, _ = readIQString(t, `<iq type="result" id="c3"><command xmlns="http://jabber.org/protocol/commands" node="n" status="completed">`+
		`<note type="info">Account successfully created</note><x xmlns="jabber:x:data" type="result"><field var="n" type="text-single"><value>7</value></field></x></command></iq>`)
	res, _, err = parseCommand(r)
	if err != nil {
		t.Fatal(err)
	}
	res, err = finishCommand(res)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := res.Value("n"); !ok || v != "7" || res.Form == nil {
		t.Errorf("Value = %q %v, form %v", v, ok, res.Form)
	}
	if _, _, err := parseCommand(&Response{}); !errors.Is(err, Protocol) {
		t.Errorf("no command element: %v", err)
	}
}

func TestFormValues(t *testing.T) {
	for _, tc := range []struct {
		typ  form.FieldType
		v    any
		want []string
		ok   bool
	}{
		{form.TypeTextMulti, "", nil, false},
		{form.TypeTextMulti, "a\r\nb\n\n", []string{"a", "b"}, true},
		{form.TypeText, "", []string{""}, true},
		{form.TypeJID, jid.JID{}, nil, false},
		{form.TypeBoolean, true, []string{"true"}, true},
		{form.TypeListMulti, []string{}, []string{}, false},
	} {
		got, ok := formValues(tc.typ, tc.v, true)
		if ok != tc.ok || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("formValues(%s, %#v) = %q %v", tc.typ, tc.v, got, ok)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("a\x00b\xffc", 10); got != "a?b?c" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("line\n\ttab", 20); got != "line\n\ttab" {
		t.Errorf("truncate = %q", got)
	}
}

func TestErrorsMatch(t *testing.T) {
	for cond, want := range map[string]Kind{"not-authorized": Auth, "temporary-auth-failure": Unavailable, "malformed-request": Protocol} {
		e := &Error{Kind: saslKind(cond), Condition: cond}
		if !errors.Is(e, want) || KindOf(e) != want {
			t.Errorf("SASL %s: kind %s, want %s", cond, e.Kind, want)
		}
	}
	if errors.Is(&Error{Kind: saslKind("malformed-request")}, Auth) {
		t.Error("malformed-request is Auth")
	}
	if !errors.Is(unavailable("dial", nil), Unavailable) || !errors.Is(protocol("x", nil), Protocol) {
		t.Error("unavailable/protocol do not match their kinds")
	}
	if KindOf(context.DeadlineExceeded) != Unavailable || KindOf(errors.New("x")) != Unknown {
		t.Error("KindOf of plain errors")
	}
}
