package migrate

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmlstream"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// fixtureMessages is the archive size of the shared fixture (≥ 2,000).
const fixtureMessages = 2000

// TestMigration fills one account on real Prosody and one on real ejabberd
// (once each, shared by the subtests), exports both and checks every item,
// then moves each to a new account on the other server and compares the
// result item by item.
func TestMigration(t *testing.T) {
	servers := map[string]*testenv.Server{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, srv := range testenv.Servers {
		wg.Go(func() {
			s := srv.Start(t, testenv.Options{})
			mu.Lock()
			servers[srv.Name] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	// The servers start in goroutines: a skip there (-short, a server not
	// installed) ends only that goroutine, and is passed on here.
	switch {
	case t.Failed():
		t.FailNow()
	case t.Skipped() || len(servers) < 2:
		t.SkipNow()
	}
	want := map[string]*pie.User{}
	reported := map[string]int{}
	for _, name := range []string{"prosody", "ejabberd"} {
		want[name] = fixtureUser(name)
		reported[name] = fillAccount(t, servers[name], "fixture", want[name], fixtureMessages)
	}
	exports := map[string][]byte{}
	for _, name := range []string{"prosody", "ejabberd"} {
		t.Run("export/"+name, func(t *testing.T) {
			start := time.Now()
			doc, st, raw := readBack(t, servers[name].XMPP(), "fixture")
			t.Logf("%s: exported %d bytes in %s: %+v", name, len(raw), time.Since(start).Round(time.Millisecond), st)
			exports[name] = raw
			h, u := doc.User()
			if h == nil || h.JID != servers[name].Domain || u.Name != "fixture" {
				t.Fatalf("host/user: %+v", h)
			}
			checkUser(t, want[name], u)
			if u.ArchiveCount != reported[name] || st.Archive != reported[name] {
				t.Errorf("archive: file has %d, exporter wrote %d, MAM reports %d", u.ArchiveCount, st.Archive, reported[name])
			}
			if st.ArchiveReported != reported[name] {
				t.Errorf("archive count on first page %d, want %d", st.ArchiveReported, reported[name])
			}
			// Every archived message, oldest first, with its body.
			seen := 0
			prev := ""
			for _, r := range u.Archive {
				b := r.Message.Child(pie.NSClient, "body").Text()
				if strings.HasPrefix(b, "fixture message ") {
					if b <= prev {
						t.Fatalf("archive out of order: %q after %q", b, prev)
					}
					prev = b
					seen++
				}
				if r.Stamp == "" || r.ID == "" {
					t.Fatalf("archive result without stamp or id: %+v", r)
				}
			}
			// Offline messages: readable (XEP-0013) on ejabberd only.
			wantOffline := 0
			if name == "ejabberd" {
				wantOffline = fixtureOffline
			}
			if st.Offline != wantOffline || len(u.Offline) != wantOffline {
				t.Errorf("offline messages: exporter %d, file %d, want %d", st.Offline, len(u.Offline), wantOffline)
			}
			for i, m := range u.Offline {
				if b := m.Child(pie.NSClient, "body").Text(); b != fmt.Sprintf("offline message %d", i) {
					t.Errorf("offline message %d: body %q", i, b)
				}
				if m.Child(NSOffline, "offline") != nil {
					t.Errorf("offline message %d keeps the XEP-0013 marker", i)
				}
			}
			if wantOffline > 0 {
				// Reading them left them stored: a second export has them too.
				if _, st2, _ := readBack(t, servers[name].XMPP(), "fixture"); st2.Offline != wantOffline {
					t.Errorf("second export: %d offline messages, want %d", st2.Offline, wantOffline)
				}
			}
			if seen != fixtureMessages {
				t.Errorf("archive: %d fixture messages with bodies, want %d", seen, fixtureMessages)
			}
			for _, s := range []string{"password", "scram", "SCRAM", fixturePassword} {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("export contains %q", s)
				}
			}
			validate(t, raw)
		})
	}
	for _, pair := range [][2]string{{"prosody", "ejabberd"}, {"ejabberd", "prosody"}} {
		from, to := pair[0], pair[1]
		t.Run("roundtrip/"+from+"-to-"+to, func(t *testing.T) {
			if exports[from] == nil {
				t.Skip("export failed")
			}
			doc, err := pie.Parse(bytes.NewReader(exports[from]), pie.Options{SkipArchive: true})
			if err != nil {
				t.Fatal(err)
			}
			_, u := doc.User()
			local := "moved-from-" + from
			createAccount(t, servers[to], local)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// A contact the old account was subscribed to, online on the
			// target server: it must get a subscription request carrying
			// the XEP-0283 notice and the nickname.
			watcher := "watcher-" + from
			createAccount(t, servers[to], watcher)
			requests := make(chan *xmltree.Element, 4)
			ws, err := xmpp.Login(ctx, servers[to].XMPP(), watcher, fixturePassword, mellium.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
				if start.Name.Local != "presence" {
					return nil
				}
				e, err := xmltree.FromTokens(xmlstream.MultiReader(xmlstream.Token(*start), r), 20)
				if err == nil && e.AttrValue("type") == "subscribe" {
					requests <- e
				}
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if err := ws.Send(ctx, xmltree.NewElement(pie.NSClient, "presence").TokenReader()); err != nil {
				t.Fatal(err)
			}
			u.Roster.Items = append(u.Roster.Items, pie.RosterItem{JID: watcher + "@" + servers[to].Domain, Name: "Watcher", Subscription: "both"})
			sum, err := Import(ctx, servers[to].XMPP(), local, fixturePassword, u, ImportOptions{Subscribe: true, MovedFrom: "fixture@" + servers[from].Domain})
			if err != nil {
				t.Fatal(err)
			}
			u.Roster.Items = u.Roster.Items[:len(u.Roster.Items)-1]
			select {
			case p := <-requests:
				old := p.Child(NSMoved, "moved").Child(NSMoved, "old-jid").Text()
				nick := p.Child(NSNick, "nick").Text()
				if old != "fixture@"+servers[from].Domain || nick != "Fixie "+from || !strings.HasPrefix(p.AttrValue("from"), local+"@") {
					t.Errorf("subscription request: %s", p)
				}
			case <-time.After(2 * time.Minute): // a hang limit
				t.Error("the contact got no subscription request")
			}
			ok, failed := sum.Counts()
			t.Logf("import into %s: %d restored, %d not", to, ok, failed)
			for _, o := range sum.Items {
				if !o.OK && !o.Left && o.Kind != KindPEP {
					t.Errorf("not restored: %+v", o)
				}
			}
			got, _, _ := readBack(t, servers[to].XMPP(), local)
			_, gu := got.User()
			if gu != nil && gu.Roster != nil {
				// The watcher was added for this test only.
				kept := gu.Roster.Items[:0]
				for _, it := range gu.Roster.Items {
					if !strings.HasPrefix(it.JID, watcher+"@") {
						kept = append(kept, it)
					}
				}
				gu.Roster.Items = kept
			}
			checkUser(t, want[from], gu)
		})
	}
	t.Run("moved", func(t *testing.T) {
		srv := servers["prosody"]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := PublishMoved(ctx, srv.XMPP(), "fixture", fixturePassword, "moved-from-prosody@"+servers["ejabberd"].Domain); err != nil {
			t.Fatal(err)
		}
		s, err := xmpp.Login(ctx, srv.XMPP(), "fixture", fixturePassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		res, err := iq(ctx, s, "get", jid.JID{}, xmltree.NewElement(pie.NSPubSub, "pubsub").Add(xmltree.NewElement(pie.NSPubSub, "items", "node", NSMoved)))
		if err != nil {
			t.Fatal(err)
		}
		nj := res.Child(pie.NSPubSub, "items").Child(pie.NSPubSub, "item").Child(NSMoved, "moved").Child(NSMoved, "new-jid").Text()
		if nj != "moved-from-prosody@"+servers["ejabberd"].Domain {
			t.Fatalf("moved statement: %q", nj)
		}
	})
	// Last: it kills the Prosody server.
	t.Run("broken-stream", func(t *testing.T) {
		srv := servers["prosody"]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ex, err := OpenExport(ctx, srv.XMPP(), "fixture", fixturePassword, ExportOptions{PageSize: 20})
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := ex.WriteTo(ctx, pw)
			pw.CloseWithError(io.EOF)
			done <- err
		}()
		var got bytes.Buffer
		buf := make([]byte, 4096)
		killed := false
		for {
			n, err := pr.Read(buf)
			got.Write(buf[:n])
			if !killed && bytes.Count(got.Bytes(), []byte("<result ")) > 100 {
				srv.Kill()
				killed = true
			}
			if err != nil {
				break
			}
		}
		err = <-done
		if !killed || err == nil {
			t.Fatalf("killed=%v, export error %v", killed, err)
		}
		if !errors.Is(err, xmpp.Unavailable) {
			t.Errorf("error does not match xmpp.Unavailable: %v", err)
		}
		if bytes.Contains(got.Bytes(), []byte("</server-data>")) {
			t.Fatal("a broken export was closed like a complete one")
		}
		if _, err := pie.Parse(bytes.NewReader(got.Bytes()), pie.Options{}); !errors.Is(err, pie.ErrMalformed) {
			t.Fatalf("broken export parses: %v", err)
		}
	})
}

// validate checks the document against XEP-0227's schema (lax copy).
func validate(t *testing.T, raw []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint missing")
		}
		t.Skip("xmllint missing")
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "pie", "testdata", "xep-0227.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	xsd := filepath.Join(dir, "lax.xsd")
	os.WriteFile(xsd, []byte(strings.ReplaceAll(string(src), "namespace='##other'", "namespace='##other' processContents='lax'")), 0o600)
	file := filepath.Join(dir, "export.xml")
	os.WriteFile(file, raw, 0o600)
	if out, err := exec.Command("xmllint", "--noout", "--schema", xsd, file).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}
