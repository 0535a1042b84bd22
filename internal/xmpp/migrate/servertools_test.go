package migrate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// The portal's file and the servers' own tools, both ways, against the
// real tools of the installed Debian packages (ejabberd 23.01's
// ejabberdctl, Prosody 0.12's prosody-migrator with mod_storage_xep0227):
//
//   - the portal's export → ejabberdctl import_piefxis: contacts, vCard,
//     old-style bookmarks and the block list arrive (ejabberd 23.01 skips
//     PEP and the archive);
//   - the portal's export, as downloaded (user@host.xml) →
//     prosody-migrator: everything, the 100-message archive with its
//     times included, except the block list (Prosody's driver has none);
//   - ejabberd's export_piefxis_host (an index of xi:include lines, and a
//     host file whose root is <host> holding every user) → the portal's
//     import: the index is refused naming the file to upload instead; of
//     the host file the user with the target's name is imported, or the
//     names found are listed, never the first user;
//   - Prosody's export (prosody-migrator to xep0227) → the portal's import.
//
// In each case the account is registered separately: the file holds no
// password (the portal's) or one the portal never reads (the servers').
// Skipped under -short; a missing tool fails under CI=1 (testenv).
func TestServerTools(t *testing.T) {
	pro := testenv.StartProsody(t, testenv.Options{})
	ej := testenv.StartEjabberd(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a hang limit
	defer cancel()

	// The portal's export of a full account on Prosody, as downloaded.
	want := fixtureUser("tools")
	const messages = 100
	fillAccount(t, pro, "mover", want, messages)
	_, st, portalFile := readBack(t, pro.XMPP(), "mover")
	if st.Archive < messages {
		t.Fatalf("the export holds %d archived messages, want at least %d", st.Archive, messages)
	}
	original, err := pie.Parse(bytes.NewReader(portalFile), pie.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, origUser := original.User()

	t.Run("portal file into ejabberdctl import_piefxis", func(t *testing.T) {
		// The file holds no password: the operator registers the account
		// first (ejabberd's importer then adds the data to it).
		ej.Ctl(t, "register", "mover", "localhost", fixturePassword)
		path := ej.PutFile(t, "mover@localhost.xml", portalFile)
		t.Logf("import_piefxis: %s", ej.Ctl(t, "import_piefxis", path))
		doc, _, _ := readBack(t, ej.XMPP(), "mover")
		_, got := doc.User()
		checkContacts(t, want, got)
		if got.VCard == nil || !strings.Contains(got.VCard.String(), "Fixture Person tools") {
			t.Errorf("vCard did not arrive: %v", got.VCard)
		}
		if bm := got.PrivateElement(NSLegacyBM); bm == nil || !strings.Contains(bm.String(), "legacy1@conference.example.net") {
			t.Errorf("old-style bookmarks did not arrive: %v", bm)
		}
		if bl := sorted(got.Blocklist()); strings.Join(bl, " ") != "badhost.example spammer@example.com troll@example.org" {
			t.Errorf("block list %v", bl)
		}
		// What ejabberd 23.01's importer leaves out, as documented.
		if n := got.Node(NSNick); n != nil && len(n.Items) > 0 {
			t.Logf("ejabberd imported the nickname node too (newer than 23.01?)")
		}
		if got.ArchiveCount != 0 {
			t.Logf("ejabberd imported %d archived messages (newer than 23.01?)", got.ArchiveCount)
		}
	})

	t.Run("portal file into prosody-migrator", func(t *testing.T) {
		// The source is ejabberd's copy of the account? No: the portal's
		// own file of the Prosody account goes to a second name on the
		// same Prosody, as it would to a new server: the download's name
		// is user@host.xml, which the migrator reads as it is.
		xep := pro.TransferDir(t)
		renamed := bytes.Replace(portalFile, []byte(`<user name="mover">`), []byte(`<user name="moved">`), 1)
		pro.PutFile(t, "moved@localhost.xml", renamed)
		t.Logf("prosody-migrator: %s", pro.ProsodyMigrator(t, migratorConfig("xep0227", xep, "internal", pro.ProsodyDataDir()), xep, true))
		pro.Ctl(t, "register", "moved", "localhost", fixturePassword)
		doc, _, _ := readBack(t, pro.XMPP(), "moved")
		_, got := doc.User()
		checkContacts(t, want, got)
		for _, node := range []string{NSNick, NSAvatarData, NSAvatarMeta, NSBookmarks2} {
			if n := got.Node(node); n == nil || len(n.Items) == 0 {
				t.Errorf("PEP node %s did not arrive", node)
			}
		}
		if got.ArchiveCount != origUser.ArchiveCount {
			t.Fatalf("archive: %d messages, want %d", got.ArchiveCount, origUser.ArchiveCount)
		}
		stamps := map[string]bool{}
		for _, r := range origUser.Archive {
			stamps[r.Stamp[:19]+"|"+r.Message.Child(pie.NSClient, "body").Text()] = true
		}
		for _, r := range got.Archive {
			if !stamps[r.Stamp[:19]+"|"+r.Message.Child(pie.NSClient, "body").Text()] {
				t.Fatalf("archived message %s %q: not in the file with that time", r.Stamp, r.Message.Child(pie.NSClient, "body").Text())
			}
		}
		if bl := got.Blocklist(); len(bl) != 0 {
			t.Logf("Prosody's migrator kept the block list: %v", bl)
		}
	})

	t.Run("ejabberd export_piefxis_host into the portal", func(t *testing.T) {
		for _, u := range []string{"alice", "bob", "carol"} {
			createAccount(t, ej, u)
		}
		bobData := fixtureUser("bob")
		bobData.Name = "bob"
		if _, err := Import(ctx, ej.XMPP(), "bob", fixturePassword, bobData, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		dir := ej.TransferDir(t)
		ej.Ctl(t, "export_piefxis_host", dir, "localhost")
		index, host := ejabberdExportFiles(t, dir)
		svc := &Service{}

		_, err := svc.ReadUpload(bytes.NewReader(index), func(string) bool { return true })
		var fe *FileError
		if !errors.As(err, &fe) || fe.Kind != FileIndex || len(fe.Files) != 1 || !strings.HasSuffix(fe.Files[0], "_localhost.xml") {
			t.Fatalf("index: %v (%+v)", err, fe)
		}

		_, err = svc.ReadUpload(bytes.NewReader(host), func(name string) bool { return name == "dave" })
		var ue *UsersError
		if !errors.As(err, &ue) || ue.Count < 4 || !strings.Contains(strings.Join(ue.Users, " "), "bob@localhost") {
			t.Fatalf("no user of the target's name: %v (%+v)", err, ue)
		}

		up, err := svc.ReadUpload(bytes.NewReader(host), func(name string) bool { return name == "bob" })
		if err != nil {
			t.Fatal(err)
		}
		if up.Owner() != "bob@localhost" {
			t.Fatalf("kept %s, want bob@localhost", up.Owner())
		}
		createAccount(t, pro, "bob")
		se, err := (&Service{Resolver: Resolver{Own: pro.XMPP()}}).Login(ctx, "bob@localhost", fixturePassword)
		if err != nil {
			t.Fatal(err)
		}
		defer se.Close()
		res := se.Import(ctx, up, ImportOptions{})
		if ok, failed := res.Summary.Counts(); failed != 0 || ok < 22 {
			t.Fatalf("import: %d restored, %d not: %+v", ok, failed, res.Summary.Items)
		}
		doc, _, _ := readBack(t, pro.XMPP(), "bob")
		_, got := doc.User()
		checkContacts(t, bobData, got)
		if strings.Join(sorted(got.Blocklist()), " ") != "badhost.example spammer@example.com troll@example.org" {
			t.Errorf("block list %v", got.Blocklist())
		}
	})

	t.Run("prosody-migrator export into the portal", func(t *testing.T) {
		out := filepath.Join(pro.TransferDir(t), "out")
		if err := os.MkdirAll(out, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Logf("prosody-migrator: %s", pro.ProsodyMigrator(t, migratorConfig("internal", pro.ProsodyDataDir(), "xep0227", out), out, false))
		file, err := os.ReadFile(filepath.Join(out, "mover@localhost.xml"))
		if err != nil {
			var found []string
			filepath.Walk(pro.Dir, func(p string, _ os.FileInfo, _ error) error {
				if strings.HasSuffix(p, ".xml") {
					found = append(found, p)
				}
				return nil
			})
			t.Fatalf("%v; xml files: %v", err, found)
		}
		up, err := (&Service{}).ReadUpload(bytes.NewReader(file), func(name string) bool { return name == "mover" })
		if err != nil {
			t.Fatal(err)
		}
		if up.ArchiveCount() < messages {
			t.Errorf("the file holds %d archived messages, want at least %d", up.ArchiveCount(), messages)
		}
		createAccount(t, ej, "arrived")
		se, err := (&Service{Resolver: Resolver{Own: ej.XMPP()}}).Login(ctx, "arrived@localhost", fixturePassword)
		if err != nil {
			t.Fatal(err)
		}
		defer se.Close()
		res := se.Import(ctx, up, ImportOptions{})
		if _, failed := res.Summary.Counts(); failed != 0 {
			t.Fatalf("import: %+v", res.Summary.Items)
		}
		if res.Summary.GroupChats() < 3 {
			t.Errorf("group chats %d, want the fixture's", res.Summary.GroupChats())
		}
		doc, _, _ := readBack(t, ej.XMPP(), "arrived")
		_, got := doc.User()
		checkContacts(t, want, got)
		if n := got.Node(NSNick); n == nil || len(n.Items) == 0 {
			t.Error("nickname did not arrive")
		}
	})
}

// migratorConfig is a prosody-migrator configuration from one store to
// another, for the host localhost: the stores an operator moves. Into
// Prosody the account's credentials are left out (the file holds none,
// and migrating "accounts" from it would write an account without a
// password over the one registered separately); out of Prosody they must
// come first, as the XEP-0227 driver writes a user's other stores only
// into a file its "accounts" store created (the portal ignores the
// credentials). The block list is left out both ways: Prosody's XEP-0227
// driver has none.
func migratorConfig(fromType, fromPath, toType, toPath string) string {
	stores := `"roster", "vcard", "private", "pep-pubsub", "archive-archive"`
	if toType == "xep0227" {
		stores = `"accounts", ` + stores
	}
	return `local stores = { ` + stores + ` }
input { type = "` + fromType + `"; path = "` + fromPath + `"; hosts = { ["localhost"] = stores } }
output { type = "` + toType + `"; path = "` + toPath + `" }
`
}

// ejabberdExportFiles returns the two files export_piefxis_host wrote into
// dir: the index and the host file.
func ejabberdExportFiles(t *testing.T, dir string) (index, host []byte) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(n, "_localhost.xml"):
			host = b
		case bytes.Contains(b, []byte("include")):
			index = b
		}
	}
	if index == nil || host == nil {
		t.Fatalf("export_piefxis_host wrote %v", names)
	}
	return index, host
}

// checkContacts: every contact of want arrived, with its name.
func checkContacts(t *testing.T, want, got *pie.User) {
	t.Helper()
	if got == nil || got.Roster == nil {
		t.Fatal("no contacts arrived")
	}
	have := map[string]string{}
	for _, it := range got.Roster.Items {
		have[it.JID] = it.Name
	}
	for _, it := range want.Roster.Items {
		if strings.HasPrefix(it.JID, "portal-admin@") {
			continue // the source server's admin, asked by the fixture
		}
		if name, ok := have[it.JID]; !ok || name != it.Name {
			t.Errorf("contact %s: got %q (present %v), want %q", it.JID, name, ok, it.Name)
		}
	}
}
