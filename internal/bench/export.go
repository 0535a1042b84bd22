package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// SendMessages sends n chat messages from one account to another, pipelined
// on one session, with the recipient online (so they are delivered and
// archived, not stored offline), and returns once all were delivered. The
// i-th message has the id id(i) and the body body(i).
func SendMessages(ctx context.Context, cfg xmpp.Config, from, fromPassword, to, toPassword string, n int, id, body func(i int) string) error {
	var received atomic.Int64
	h := mux.New(stanza.NSClient, mux.MessageFunc(stanza.ChatMessage, xml.Name{Space: stanza.NSClient, Local: "body"},
		func(stanza.Message, xmlstream.TokenReadEncoder) error { received.Add(1); return nil }))
	user, err := xmpp.Login(ctx, cfg, to, toPassword, h)
	if err != nil {
		return fmt.Errorf("recipient login: %w", err)
	}
	defer user.Close()
	if err := user.Send(ctx, xmltree.NewElement(pie.NSClient, "presence").TokenReader()); err != nil {
		return err
	}
	sender, err := xmpp.Login(ctx, cfg, from, fromPassword, nil)
	if err != nil {
		return fmt.Errorf("sender login: %w", err)
	}
	defer sender.Close()
	for i := 0; i < n; i++ {
		m := xmltree.NewElement(pie.NSClient, "message", "to", to+"@"+cfg.Domain, "type", "chat", "id", id(i)).
			Add(xmltree.NewElement(pie.NSClient, "body").SetText(body(i)))
		if err := sender.Send(ctx, m.TokenReader()); err != nil {
			return err
		}
	}
	// Bounded: one minute plus 10 ms per message.
	deadline := time.Now().Add(time.Minute + time.Duration(n)*10*time.Millisecond)
	for received.Load() < int64(n) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if r := received.Load(); r < int64(n) {
		return fmt.Errorf("%d of %d messages delivered", r, n)
	}
	return nil
}

// BenchBody is the body of the i-th archived message of the export
// benchmark (76 bytes).
func BenchBody(i int) string {
	return fmt.Sprintf("benchmark message %07d: the quick brown fox jumps over the lazy dog", i)
}

// BenchID is the stanza id of the i-th message of the export benchmark.
func BenchID(i int) string { return fmt.Sprintf("bench-%07d", i) }

// templateMarker is the number the template message of CloneArchive
// carries in its id and body; the copies get their own number there.
const templateMarker = "9999999"

// SendTemplate sends the one real message CloneArchive copies: number
// 9999999, so that its serialized form (as Prosody stored it) holds the
// marker in its id and body.
func SendTemplate(ctx context.Context, cfg xmpp.Config, from, fromPassword, to, toPassword string) error {
	return SendMessages(ctx, cfg, from, fromPassword, to, toPassword, 1,
		func(int) string { return BenchID(9999999) }, func(int) string { return BenchBody(9999999) })
}

// CloneArchive fills user's message archive in Prosody's SQLite database
// (mod_storage_sql, table prosodyarchive) with n messages, in one
// transaction with the sqlite3 command-line tool. The archive must hold
// exactly the one message SendTemplate sent (stored by Prosody itself):
// each copy is that row with its own archive id (a random UUID like the
// ones Prosody makes), its own number in the stanza id and body, and a time
// one second after the previous one, ending at the template's time; the
// template row is then deleted. So the archive is n messages exactly as
// Prosody stores them, in order, and MAM paging (RSM by archive id) works
// on them as on any other.
func CloneArchive(ctx context.Context, db, host, user string, n int) error {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		return fmt.Errorf("the sqlite3 command-line tool is not installed (apt-get install sqlite3): %w", err)
	}
	// The database must be Prosody's own (created on its first archive
	// write): a file created here would belong to this user, not Prosody's.
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("prosody's archive database: %w (send the template message first)", err)
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	where := fmt.Sprintf(`"host"=%s AND "user"=%s AND "store"='archive'`, q(host), q(user))
	sql := fmt.Sprintf(`.bail on
.timeout 30000
BEGIN IMMEDIATE;
CREATE TEMP TABLE tmpl AS SELECT * FROM "prosodyarchive" WHERE %[1]s;
CREATE TEMP TABLE guard (single_template INTEGER CHECK (single_template = 1));
INSERT INTO guard SELECT (SELECT COUNT(*) FROM tmpl) = 1 AND (SELECT instr("value", '%[3]s') FROM tmpl) > 0;
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM seq WHERE i < %[2]d - 1)
INSERT INTO "prosodyarchive" ("host", "user", "store", "when", "with", "key", "type", "value")
SELECT t."host", t."user", t."store", t."when" - %[2]d + 1 + seq.i, t."with",
  lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
    substr('89ab', 1 + (abs(random()) %% 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
  t."type", replace(t."value", '%[3]s', printf('%%07d', seq.i))
FROM seq, tmpl t;
DELETE FROM "prosodyarchive" WHERE "sort_id" IN (SELECT "sort_id" FROM tmpl);
SELECT COUNT(*) FROM "prosodyarchive" WHERE %[1]s;
COMMIT;
`, where, n, templateMarker)
	cmd := exec.CommandContext(ctx, bin, db)
	cmd.Stdin = strings.NewReader(sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Nothing was written: .bail ends sqlite3 inside the transaction
		// (the guard fails unless the archive holds just the template).
		return fmt.Errorf("sqlite3 %s: %v\n%s", db, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != fmt.Sprint(n) {
		return fmt.Errorf("sqlite3 %s: %s messages in the archive afterwards, want %d", db, got, n)
	}
	return nil
}

// SQLiteStorageReady returns an error unless what the export benchmark
// needs for Prosody's SQL archive store is installed: the Lua SQLite driver
// (Debian package lua-dbi-sqlite3) and the sqlite3 command-line tool.
func SQLiteStorageReady() error {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return errors.New("the sqlite3 command-line tool is not installed (apt-get install sqlite3)")
	}
	if m, _ := filepath.Glob("/usr/lib/*/lua/*/dbd/sqlite3.so"); len(m) == 0 {
		if m, _ := filepath.Glob("/usr/lib/lua/*/dbd/sqlite3.so"); len(m) == 0 {
			return errors.New("lua-dbi-sqlite3, the SQLite driver of Prosody, is not installed (apt-get install lua-dbi-sqlite3)")
		}
	}
	return nil
}

// MAMPaging is one pass through an archive with raw MAM queries.
type MAMPaging struct {
	Messages int // results with a body
	Pages    int
	Time     time.Duration // log-in to the last page
}

// RawMAM logs in as local and pages through its whole archive with the XMPP
// library alone (history.Fetch, RSM <after/>, pageSize asked per page),
// decoding every result synchronously as a client would; the baseline of the
// export benchmark. The time includes the log-in, as the portal's export
// does.
func RawMAM(ctx context.Context, cfg xmpp.Config, local, password string, pageSize int) (MAMPaging, error) {
	var count atomic.Int64
	handle := func(_ stanza.Message, r xmlstream.TokenReadEncoder) error {
		var m struct {
			Result struct {
				Forwarded struct {
					Message struct {
						Body string `xml:"body"`
					} `xml:"message"`
				} `xml:"forwarded"`
			} `xml:"result"`
		}
		if err := xml.NewTokenDecoder(r).Decode(&m); err == nil && m.Result.Forwarded.Message.Body != "" {
			count.Add(1)
		}
		return nil
	}
	name := xml.Name{Space: history.NS, Local: "result"}
	h := mux.New(stanza.NSClient, mux.MessageFunc("", name, handle), mux.MessageFunc(stanza.NormalMessage, name, handle))
	start := time.Now()
	var p MAMPaging
	s, err := xmpp.Login(ctx, cfg, local, password, h)
	if err != nil {
		return p, err
	}
	defer s.Close()
	last := ""
	for ; p.Pages < 10_000_000/pageSize; p.Pages++ {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := mamPage(pctx, s, history.Query{Limit: uint64(pageSize), PageID: last})
		cancel()
		if err != nil {
			return p, fmt.Errorf("MAM page %d: %w", p.Pages+1, err)
		}
		if res.Complete || res.Set.Last == "" || res.Set.Last == last {
			p.Pages++
			break
		}
		last = res.Set.Last
	}
	p.Time = time.Since(start)
	p.Messages = int(count.Load())
	return p, nil
}

// ExportDoc is one export downloaded through the portal.
type ExportDoc struct {
	Bytes   int64
	Results int // <result> elements (archived messages)
	// Complete: status 200 and the document ends with </server-data>.
	Complete bool
	Time     time.Duration // from sending the POST to the last byte
	// FirstByte is the time to the first byte of the answer (the log-in).
	FirstByte time.Duration
}

// ExportHTTP posts the export form of the portal at base for local and
// reads the whole document, counting its archived messages.
func ExportHTTP(ctx context.Context, client *http.Client, base, local, password string) (ExportDoc, error) {
	var d ExportDoc
	form := url.Values{"address": {local}, "password": {password}, "lang": {"en"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/export", strings.NewReader(form.Encode()))
	if err != nil {
		return d, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	d.FirstByte = time.Since(start)
	cw := &resultCounter{}
	_, err = io.Copy(cw, resp.Body)
	d.Time = time.Since(start)
	d.Bytes, d.Results = cw.n, cw.results
	if err != nil {
		return d, fmt.Errorf("export: reading the document: %w (after %d bytes)", err, d.Bytes)
	}
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("export: status %d", resp.StatusCode)
	}
	d.Complete = bytes.HasSuffix(bytes.TrimRight(cw.tail, "\n"), []byte("</server-data>"))
	return d, nil
}

// resultCounter counts bytes and "<result " tags across writes and keeps
// the last bytes.
type resultCounter struct {
	n       int64
	results int
	tail    []byte
}

var resultTag = []byte("<result ")

func (c *resultCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	// A tag split across writes is found in the tail plus the start of p.
	head := p[:min(len(p), len(resultTag)-1)]
	joined := append(append([]byte(nil), c.tail...), head...)
	c.results += bytes.Count(joined, resultTag) - bytes.Count(c.tail, resultTag)
	c.results += bytes.Count(p, resultTag)
	if len(p) >= 64 {
		c.tail = append(c.tail[:0], p[len(p)-64:]...)
	} else {
		c.tail = append(c.tail, p...)
		if len(c.tail) > 64 {
			c.tail = append([]byte(nil), c.tail[len(c.tail)-64:]...)
		}
	}
	return len(p), nil
}

// errIncomplete is returned by CheckExport for a document that is not whole.
var errIncomplete = errors.New("export incomplete")

// CheckExport returns an error unless d is a complete document with want
// archived messages.
func CheckExport(d ExportDoc, want int) error {
	if !d.Complete || d.Results != want {
		return fmt.Errorf("%w: %d of %d messages, complete=%v, %d bytes", errIncomplete, d.Results, want, d.Complete, d.Bytes)
	}
	return nil
}

// mamPage asks for one page of the archive (mellium's history query, sent
// through the Conn, which does what history.Fetch does on a bare session).
func mamPage(ctx context.Context, c *xmpp.Conn, q history.Query) (history.Result, error) {
	q.ID = rand.Text()
	resp, err := c.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ, To: c.LocalAddr().Bare()}, q.TokenReader())
	if err != nil {
		return history.Result{}, err
	}
	var res history.Result
	if err := resp.Decode(&res); err != nil && err != io.EOF {
		return history.Result{}, err
	}
	return res, nil
}
