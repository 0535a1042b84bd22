package handlers_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// newMigrateEnv serves the portal with a Migrator whose XMPP server does not
// answer (a closed loopback port): every path up to the login is real.
func newMigrateEnv(t *testing.T, importMax int64) (*httptest.Server, *testenv.LockedBuffer) {
	t.Helper()
	d, logs := handlers.UnitDeps(t)
	d.XMPPTimeout = 2 * time.Second
	d.Migrator = &migrate.Service{Resolver: migrate.Resolver{Own: deadServer(t)}, MaxImportBytes: importMax, Log: d.Log}
	d.ImportMaxBytes = importMax
	return serveDeps(t, d), logs
}

func smallExport(t *testing.T, padding int) []byte {
	t.Helper()
	u := &pie.User{Name: "old", Roster: &pie.Roster{Items: []pie.RosterItem{{JID: "friend@example.net", Name: strings.Repeat("x", padding)}}}}
	var buf bytes.Buffer
	if err := pie.NewWriter(&buf).WriteDocument(&pie.Document{Hosts: []*pie.Host{{JID: "old.example", Users: []*pie.User{u}}}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func multipartBody(t *testing.T, fields map[string]string, file []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("file", "export.xml")
		fw.Write(file)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func TestMigratePages(t *testing.T) {
	srv, _ := newMigrateEnv(t, 1<<20)
	for _, c := range []struct{ path, want string }{
		{"/export?lang=en", "Download the file for moving"},
		{"/export?lang=de", "Datei für den Umzug herunterladen"},
		{"/export?lang=en", "Download a readable copy"},
		{"/import?lang=en", `enctype="multipart/form-data"`},
		{"/import?lang=en", "Your message archive stays in the file"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: status %d, lacks %q", c.path, resp.StatusCode, c.want)
		}
	}
}

func TestImportRefusals(t *testing.T) {
	const max = 64 << 10 // larger than the 8 KiB body limit of the other forms
	srv, logs := newMigrateEnv(t, max)
	good := map[string]string{"address": "new@example.test", "password": "long enough password", "lang": "en"}
	truncated := smallExport(t, 0)
	truncated = truncated[:len(truncated)-20]
	cases := []struct {
		name   string
		fields map[string]string
		file   []byte
		status int
		want   string
	}{
		{"no file", good, nil, 422, "Please choose the export file"},
		{"not xml", good, []byte("hello"), 422, "not a complete export"},
		{"unclosed export", good, truncated, 422, "The file ends too early"},
		{"doctype", good, []byte(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><server-data xmlns="urn:xmpp:pie:0"/>`), 422, "not a complete export"},
		{"bad address", map[string]string{"address": "a@b@c", "password": "x", "lang": "en"}, smallExport(t, 0), 422, "not a valid chat address"},
		// Each refusal says what it found.
		{"index file", good, []byte(`<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='20261207-101010_localhost.xml'/></server-data>`), 422, "Upload the file it names instead: 20261207-101010_localhost.xml"},
		{"other root", good, []byte(`<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`), 422, "it starts with &lt;html xmlns=&#39;http://www.w3.org/1999/xhtml&#39;&gt;"},
		{"host file of others", good, []byte(`<host xmlns='urn:xmpp:pie:0' jid='example.test'><user name='ann'/><user name='ben'/></host>`), 422, "Accounts in the file: ann@example.test, ben@example.test"},
		{"empty", good, []byte("\n"), 422, "The file is empty"},
		{"too large", good, smallExport(t, 2*max), 413, "larger than"},
		// Over the 8 KiB form limit but within import.max_size: the file is
		// read and the import goes on to the (unreachable) server.
		{"larger than a form", good, smallExport(t, 20<<10), 503, "cannot be reached"},
		{"old password missing", map[string]string{"address": "new@example.test", "password": "x", "moved": "1", "lang": "en"}, smallExport(t, 0), 422, "password of the old account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, body := multipartBody(t, c.fields, c.file)
			resp, err := http.Post(srv.URL+"/import", ct, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
				t.Fatalf("status %d (want %d), want %q in:\n%s", resp.StatusCode, c.status, c.want, b)
			}
		})
	}
	if strings.Contains(logs.String(), "long enough password") {
		t.Error("a password reached the log")
	}
}

func TestExportServerDown(t *testing.T) {
	srv, _ := newMigrateEnv(t, 1<<20)
	resp, err := http.PostForm(srv.URL+"/export", url.Values{"address": {"someone"}, "password": {"secret password"}, "lang": {"en"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "cannot be reached") || resp.Header.Get("Content-Disposition") != "" {
		t.Fatalf("status %d, disposition %q:\n%s", resp.StatusCode, resp.Header.Get("Content-Disposition"), b)
	}
}
