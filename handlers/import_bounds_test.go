package handlers_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// importBoundsEnv serves /import with a migrator whose server does not
// answer, a regulator and a limiter on a memory store, and a fake clock.
type importBoundsEnv struct {
	h     http.Handler
	clock *testenv.FakeClock
	reg   *abuse.Regulator
}

func newImportBoundsEnv(t *testing.T, concurrency int) *importBoundsEnv {
	t.Helper()
	st := newMem(t, 10_000)
	clock := testenv.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	reg := abuse.NewRegulator(st, abuse.RegulatorOptions{Now: clock.Now})
	d, _ := handlers.UnitDeps(t, withClock(clock))
	d.Log = slog.New(slog.DiscardHandler)
	d.XMPPTimeout = 2 * time.Second
	d.Limiter = newLimiter(t, st, abuse.LimiterOptions{Budgets: budgets(func(b *abuse.Budgets) { b.CredentialChecksPerMinute = 4 }), Log: d.Log})
	d.Regulator = reg
	d.Migrator = &migrate.Service{Resolver: migrate.Resolver{Own: deadServer(t)}, MaxImportBytes: 1 << 20, Log: d.Log}
	d.ImportMaxBytes, d.ImportConcurrency, d.ImportMinRate = 1<<20, concurrency, 1000
	return &importBoundsEnv{h: handlers.New(d).HTTPHandler(), clock: clock, reg: reg}
}

// importBody is a multipart body with the fields first, then a file part of
// fileBytes; fileAt is where the file's content starts.
func importBody(t *testing.T, fields map[string]string, fileBytes int) (ct string, body []byte, fileAt int) {
	t.Helper()
	return importBodyWith(t, fields, bytes.Repeat([]byte(" "), fileBytes))
}

// importBodyWith is importBody with the file's content given.
func importBodyWith(t *testing.T, fields map[string]string, file []byte) (ct string, body []byte, fileAt int) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "export.xml")
	fileAt = buf.Len()
	fw.Write(file)
	w.Close()
	return w.FormDataContentType(), buf.Bytes(), fileAt
}

// fileReads counts what is read of a body past the start of its file part;
// past slowFrom (if > 0) every read returns one byte and moves the clock by
// perByte, an upload that crawls.
type fileReads struct {
	mu       sync.Mutex
	r        *bytes.Reader
	fileAt   int64
	pos      int64
	pastFile int64
	slowFrom int64
	perByte  time.Duration
	clock    *testenv.FakeClock
	block    chan struct{} // if set, a read past fileAt waits for it
}

func (f *fileReads) Read(p []byte) (int, error) {
	f.mu.Lock()
	pos := f.pos
	f.mu.Unlock()
	if f.block != nil && pos >= f.fileAt {
		<-f.block
	}
	if f.slowFrom > 0 && pos >= f.slowFrom && len(p) > 1 {
		p = p[:1]
		f.clock.Advance(f.perByte)
	}
	n, err := f.r.Read(p)
	f.mu.Lock()
	f.pos += int64(n)
	if f.pos > f.fileAt {
		f.pastFile = f.pos - f.fileAt
	}
	f.mu.Unlock()
	return n, err
}
func (f *fileReads) Close() error { return nil }

func (e *importBoundsEnv) post(body io.ReadCloser, ct string, size int) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/import", nil)
	req.Body = body
	req.ContentLength = int64(size)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

var importFields = map[string]string{"address": "newhome", "password": "long enough password", "lang": "en"}

// TestImportChecksBeforeTheFile: a request refused by the budget, by the
// lock of its account or for want of a free import slot is answered before
// one byte of its file is read (hardening hole 5: the file was parsed
// before any check).
func TestImportChecksBeforeTheFile(t *testing.T) {
	const fileBytes = 256 << 10
	t.Run("locked account", func(t *testing.T) {
		e := newImportBoundsEnv(t, 2)
		for range 5 {
			e.reg.Fail(context.Background(), "newhome@example.test")
		}
		ct, body, at := importBody(t, importFields, fileBytes)
		fr := &fileReads{r: bytes.NewReader(body), fileAt: int64(at)}
		rec := e.post(fr, ct, len(body))
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "is not right") {
			t.Fatalf("status %d\n%s", rec.Code, rec.Body.String())
		}
		if fr.pastFile > 4<<10 {
			t.Errorf("read %d bytes of the file of a locked account", fr.pastFile)
		}
	})
	t.Run("over the budget", func(t *testing.T) {
		e := newImportBoundsEnv(t, 2)
		// A valid file: the login to the (dead) server uses up a unit.
		ct, body := multipartBody(t, importFields, smallExport(t, 0))
		for range 4 { // the budget is 4 checks a minute; the server is down (503)
			if rec := e.post(io.NopCloser(bytes.NewReader(body)), ct, len(body)); rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("within the budget: %d\n%s", rec.Code, rec.Body.String())
			}
		}
		ct, body, at := importBody(t, importFields, fileBytes)
		fr := &fileReads{r: bytes.NewReader(body), fileAt: int64(at)}
		rec := e.post(fr, ct, len(body))
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("over the budget: %d\n%s", rec.Code, rec.Body.String())
		}
		if fr.pastFile > 4<<10 {
			t.Errorf("read %d bytes of the file over the budget", fr.pastFile)
		}
	})
	t.Run("no free slot", func(t *testing.T) {
		e := newImportBoundsEnv(t, 1)
		ct, body, at := importBody(t, importFields, fileBytes)
		first := &fileReads{r: bytes.NewReader(body), fileAt: int64(at), block: make(chan struct{})}
		done := make(chan int)
		go func() { done <- e.post(first, ct, len(body)).Code }()
		// The first import holds the only slot once it waits in its file.
		for {
			first.mu.Lock()
			pos := first.pos
			first.mu.Unlock()
			if pos >= first.fileAt {
				break
			}
			time.Sleep(time.Millisecond) // a readiness poll; no assertion on time
		}
		second := &fileReads{r: bytes.NewReader(body), fileAt: int64(at)}
		rec := e.post(second, ct, len(body))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Other imports are running") {
			t.Fatalf("second import while the slot is taken: %d %q\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
		if second.pastFile > 4<<10 {
			t.Errorf("read %d bytes of a file that had no slot", second.pastFile)
		}
		close(first.block)
		<-done
		// The slot is free again.
		third := &fileReads{r: bytes.NewReader(body), fileAt: int64(at)}
		if rec := e.post(third, ct, len(body)); rec.Code == http.StatusServiceUnavailable && strings.Contains(rec.Body.String(), "Other imports") {
			t.Fatal("the slot was not given back")
		}
	})
	t.Run("fields after the file", func(t *testing.T) {
		e := newImportBoundsEnv(t, 2)
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fw, _ := w.CreateFormFile("file", "export.xml")
		fw.Write(bytes.Repeat([]byte(" "), fileBytes))
		for k, v := range importFields {
			w.WriteField(k, v)
		}
		w.Close()
		fr := &fileReads{r: bytes.NewReader(buf.Bytes()), fileAt: 200}
		rec := e.post(fr, w.FormDataContentType(), buf.Len())
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d\n%s", rec.Code, rec.Body.String())
		}
		if fr.pastFile > 8<<10 {
			t.Errorf("read %d bytes of a file sent before the fields", fr.pastFile)
		}
	})
}

// TestImportSlowUploadIsCut: an upload that crawls (one byte every two
// seconds, by the fake clock) is cut after the grace period, far before its
// end.
func TestImportSlowUploadIsCut(t *testing.T) {
	// The crawl is whitespace, text in an element, or text where the
	// document should start: the XML reader hands on the text it buffered
	// before the read failed (at the top, where text is an error of its
	// own), and the refusal must still say that the upload was too slow,
	// not that the file is broken.
	note := `<server-data xmlns="urn:xmpp:pie:0"><host jid="example.test"><user name="newhome"><vCard xmlns="vcard-temp"><NOTE>`
	for name, file := range map[string][]byte{
		"whitespace":      bytes.Repeat([]byte(" "), 100_000),
		"text in an item": append([]byte(note), bytes.Repeat([]byte("a"), 100_000)...),
		"text at the top": bytes.Repeat([]byte("a"), 100_000),
	} {
		t.Run(name, func(t *testing.T) {
			e := newImportBoundsEnv(t, 2)
			ct, body, at := importBodyWith(t, importFields, file)
			slowFrom := int64(at)
			if name == "text in an item" {
				slowFrom += int64(len(note))
			}
			fr := &fileReads{r: bytes.NewReader(body), fileAt: int64(at), slowFrom: slowFrom, perByte: 2 * time.Second, clock: e.clock}
			start := e.clock.Now()
			rec := e.post(fr, ct, len(body))
			if rec.Code != http.StatusRequestTimeout || !strings.Contains(rec.Body.String(), "too slowly") {
				t.Fatalf("status %d\n%s", rec.Code, rec.Body.String())
			}
			if took := e.clock.Now().Sub(start); took > time.Minute {
				t.Errorf("cut after %s of (fake) time, want about the 20 s grace", took)
			}
			if fr.pastFile > 8<<10 { // the multipart reader's read-ahead came fast, the rest crawled
				t.Errorf("read %d bytes of the crawling upload", fr.pastFile)
			}
		})
	}
}
