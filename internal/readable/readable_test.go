package readable

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
)

func msg(from, to, typ, body string) *xmltree.Element {
	m := xmltree.NewElement(pie.NSClient, "message", "from", from, "to", to)
	if typ != "" {
		m.Attr = append(m.Attr, xmltree.NewElement("", "x", "type", typ).Attr...)
	}
	if body != "" {
		m.Add(xmltree.NewElement(pie.NSClient, "body").SetText(body))
	}
	return m
}

// writeCopy writes one account with the given archive through the Writer
// in the export's order.
func writeCopy(t *testing.T, out io.Writer, archive func(w *Writer)) {
	t.Helper()
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(out, Options{Lang: "en", CSS: "body{color:red}", Now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		T: func(k i18n.Key, args ...any) string { return b.T("en", k, args...) }})
	w.StartHost("example.org")
	w.StartUser("alice")
	w.Roster(&pie.Roster{Items: []pie.RosterItem{{JID: "bob@example.net", Name: "Bob <the builder>", Subscription: "both", Groups: []string{"Work"}}, {JID: "carol@example.com", Ask: "subscribe"}}})
	w.VCard(xmltree.NewElement("vcard-temp", "vCard").Add(xmltree.NewElement("vcard-temp", "FN").SetText("Alice A.")))
	w.Private([]*xmltree.Element{xmltree.NewElement("storage:bookmarks", "storage").Add(xmltree.NewElement("storage:bookmarks", "conference", "jid", "room@muc.example.org", "name", "The Room").Add(xmltree.NewElement("storage:bookmarks", "password").SetText("s3cret")))})
	w.Privacy(pie.BlocklistPrivacy([]string{"spam@example.com"}))
	w.PEPConfig(nil)
	w.StartPEPItems()
	w.PEPItems(nsAvatarData, []pie.PEPItem{{ID: "x", Payload: xmltree.NewElement(nsAvatarData, "data").SetText("iVBORw0KGgo=")}})
	w.PEPItems(nsNick, []pie.PEPItem{{ID: "current", Payload: xmltree.NewElement(nsNick, "nick").SetText("Ali")}})
	w.EndPEPItems()
	w.Flush()
	w.StartArchive()
	archive(w)
	w.EndArchive()
	w.EndUser()
	w.EndHost()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadableCopy: the copy shows the profile, contacts, group chats (not
// their passwords), blocked addresses and the messages by day and by
// contact, escaped, with no script and nothing loaded from elsewhere.
func TestReadableCopy(t *testing.T) {
	var buf bytes.Buffer
	writeCopy(t, &buf, func(w *Writer) {
		add := func(stamp, from, to, typ, body string) {
			w.ArchiveResult(&pie.ArchiveResult{ID: stamp, Stamp: stamp, Message: msg(from, to, typ, body)})
		}
		add("2026-12-01T09:00:00Z", "bob@example.net/phone", "alice@example.org", "chat", "Hi <script>alert(1)</script>")
		add("2026-12-01T09:01:00Z", "carol@example.com/x", "alice@example.org", "chat", "from carol")
		add("2026-12-01T09:02:00Z", "alice@example.org/laptop", "bob@example.net", "chat", "hello bob")
		add("2026-12-01T09:03:00Z", "room@muc.example.org/Dave", "alice@example.org/laptop", "groupchat", "in the room")
		add("2026-12-01T09:04:00Z", "bob@example.net/phone", "alice@example.org", "chat", "") // a receipt: no body
		add("2026-12-02T23:59:00+01:00", "bob@example.net", "alice@example.org", "chat", "next day")
	})
	out := buf.String()
	if regexp.MustCompile(`(?i)<script|javascript:|src="http|href="http`).MatchString(out) {
		t.Fatalf("script or a resource from elsewhere:\n%s", out)
	}
	for _, want := range []string{
		`<html lang="en">`, "body{color:red}", "alice@example.org", "Alice A.", "Ali",
		`src="data:image/png;base64,iVBORw0KGgo="`,
		"Bob &lt;the builder&gt;", "bob@example.net", "Work", "both ways", "you asked",
		"The Room", "room@muc.example.org", "spam@example.com",
		`<h3 id="day-2026-12-01">Tuesday, 2026-12-01</h3>`,
		"With Bob &lt;the builder&gt; (bob@example.net)", "Hi &lt;script&gt;alert(1)&lt;/script&gt;", "hello bob",
		"With carol@example.com", "<strong>Dave</strong> <span class=\"body\">in the room</span>",
		`<h3 id="day-2026-12-02">Wednesday, 2026-12-02</h3>`, "next day",
		"Messages: 5, on days: 2.", "</html>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("a group chat's password is on the page")
	}
	// Bob's two messages of the first day are one conversation, before
	// Carol's, though Carol wrote in between.
	day1 := out[strings.Index(out, `id="day-2026-12-01"`):strings.Index(out, `id="day-2026-12-02"`)]
	if strings.Count(day1, "With Bob") != 1 || strings.Index(day1, "hello bob") > strings.Index(day1, "from carol") {
		t.Errorf("first day not grouped by contact:\n%s", day1)
	}
}

// TestReadableHoldsOneDayAtMost: of an archive of many messages on one
// day, the writer never holds more than its bound, and writes them all.
func TestReadableHoldsOneDayAtMost(t *testing.T) {
	const n = 3*maxDayMessages + 17
	most := 0
	var cw countingWriter
	writeCopy(t, &cw, func(w *Writer) {
		base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			stamp := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
			w.ArchiveResult(&pie.ArchiveResult{ID: fmt.Sprint(i), Stamp: stamp, Message: msg("bob@example.net", "alice@example.org", "chat", "message "+fmt.Sprint(i))})
			most = max(most, len(w.held))
		}
	})
	if most > maxDayMessages {
		t.Fatalf("held %d messages, bound %d", most, maxDayMessages)
	}
	if cw.lines["message "+fmt.Sprint(n-1)] == 0 || cw.days != 1 {
		t.Fatalf("last message or the one day heading missing: %+v", cw.days)
	}
}

type countingWriter struct {
	lines map[string]int
	days  int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.lines == nil {
		c.lines = map[string]int{}
	}
	for _, l := range strings.Split(string(p), "\n") {
		if strings.Contains(l, "<h3 id=\"day-") {
			c.days++
		}
		if i := strings.Index(l, `<span class="body">`); i >= 0 {
			c.lines[strings.TrimSuffix(l[i+len(`<span class="body">`):], "</span></li>")]++
		}
	}
	return len(p), nil
}
