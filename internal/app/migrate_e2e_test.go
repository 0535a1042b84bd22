package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// TestBrowserExportImport: in headless Chromium with JavaScript disabled, a
// person exports an account through /export (the browser downloads the
// file), then uploads that file on /import into a new account and sees the
// item-by-item summary; the new account is then read over XMPP.
func TestBrowserExportImport(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin})
	_, base, logs := startPortal(t, srv, map[string]string{"PORTAL_REGULATION_MIN_RESPONSE": "0s"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const pw = "violet harbour engine 42"
	for _, u := range []string{"mover", "newhome"} {
		if err := srv.CreateUser(ctx, u, pw); err != nil {
			t.Fatal(err)
		}
	}
	// Some data to move, and a few archived messages.
	u := &pie.User{Name: "mover", Roster: &pie.Roster{}, Privacy: pie.BlocklistPrivacy([]string{"spam@example.com"})}
	for i := 1; i <= 5; i++ {
		u.Roster.Items = append(u.Roster.Items, pie.RosterItem{JID: fmt.Sprintf("friend%d@example.net", i), Name: fmt.Sprintf("Friend %d", i), Groups: []string{"Friends"}})
	}
	u.PEP = []*pie.PEPNode{{Node: migrate.NSNick, Items: []pie.PEPItem{{ID: "current", Payload: xmltree.NewElement(migrate.NSNick, "nick").SetText("Mover")}}}}
	if _, err := migrate.Import(ctx, srv.XMPP(), "mover", pw, u, migrate.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	as, err := xmpp.Login(ctx, srv.XMPP(), srv.AdminJID.Localpart(), srv.AdminPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		m := xmltree.NewElement(pie.NSClient, "message", "to", "mover@"+srv.Domain, "type", "chat").Add(xmltree.NewElement(pie.NSClient, "body").SetText(fmt.Sprint("hello ", i)))
		if err := as.Send(ctx, m.TokenReader()); err != nil {
			t.Fatal(err)
		}
	}
	as.Close()

	b := testenv.StartBrowser(t)
	dir := t.TempDir()
	b.DownloadTo(dir)

	// A wrong password shows the form again, with no download.
	b.Open(base + "/export?lang=en")
	b.Fill("#address", "mover")
	b.Fill("#password", "not the password")
	b.Click(`button[value=file]`)
	if b.Status() != 403 || !strings.Contains(b.Text(), "is not right") {
		t.Fatalf("wrong password: status %d\n%s", b.Status(), b.Text())
	}

	// Export: the browser downloads the file.
	b.Fill("#address", "mover")
	b.Fill("#password", pw)
	b.Click(`button[value=file]`)
	path := b.WaitDownload("")
	// Named as Prosody's prosody-migrator reads it.
	if name := filepath.Base(path); name != "mover@localhost.xml" {
		t.Errorf("file name %q", name)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := pie.Parse(f, pie.Options{})
	f.Close()
	if err != nil {
		t.Fatalf("downloaded file: %v", err)
	}
	_, got := doc.User()
	if got == nil || len(got.Roster.Items) != 5 || got.ArchiveCount < 10 || len(got.Blocklist()) != 1 {
		t.Fatalf("downloaded export incomplete: %+v", got)
	}

	// Import into the new account: the summary lists every item.
	b.Open(base + "/import?lang=en")
	if !strings.Contains(b.Text(), "Your message archive stays in the file") {
		t.Errorf("import page does not say the archive is not imported:\n%s", b.Text())
	}
	b.Fill("#address", "newhome@localhost")
	b.Fill("#password", pw)
	b.Check(`input[name=moved]`)
	b.Fill("#old_password", pw)
	b.SetFile("#file", path)
	b.Click(`button[type=submit]`)
	text := b.Text()
	if b.Status() != 200 || !strings.Contains(text, "Your data was brought into newhome@localhost") {
		t.Fatalf("summary not shown: status %d\n%s\n%s", b.Status(), text, logs.String())
	}
	// In words, kind by kind; the archive is left in the file (and the
	// page says why), never counted as a failure.
	for _, want := range []string{"5 contacts restored", "your nickname", "1 blocked address",
		"Your old account mover@localhost now says that you moved to newhome@localhost.", "The file holds 1", "archived messages. They stay in the file"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "What could not be restored") {
		t.Errorf("summary shows failures:\n%s", text)
	}
	// The old account says where it went (XEP-0283).
	ms, err := xmpp.Login(ctx, srv.XMPP(), "mover", pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ms.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmltree.NewElement(pie.NSPubSub, "pubsub").Add(xmltree.NewElement(pie.NSPubSub, "items", "node", migrate.NSMoved)).TokenReader())
	ms.Close()
	if err != nil {
		t.Fatal(err)
	}
	moved, _ := xmltree.FromTokens(resp.TokenReader(), 20)
	if nj := moved.Child("", "items").Child("", "item").Child("", "moved").Child("", "new-jid").Text(); nj != "newhome@localhost" {
		t.Errorf("moved statement on the old account: %q", nj)
	}
	// Read the new account back over XMPP.
	ex, err := migrate.OpenExport(ctx, srv.XMPP(), "newhome", pw, migrate.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var sb strings.Builder
	if _, err := ex.WriteTo(ctx, &sb); err != nil {
		t.Fatal(err)
	}
	nd, err := pie.Parse(strings.NewReader(sb.String()), pie.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, nu := nd.User()
	if len(nu.Roster.Items) != 5 || len(nu.Blocklist()) != 1 || nu.Node(migrate.NSNick) == nil {
		t.Errorf("new account: roster %d, blocked %v", len(nu.Roster.Items), nu.Blocklist())
	}
	// Usernames appear in the log only at debug level.
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "mover@") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("address logged above debug: %s", line)
		}
	}
}
