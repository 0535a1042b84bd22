package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/provision"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// benchMessages is the archive size of BenchmarkExport (env
// PORTAL_BENCH_MESSAGES overrides it for quick runs).
const benchMessages = 10000

// BenchmarkExport measures, in one run against one real Prosody holding an
// archive of 10,000 messages: the export through the portal (a separate
// portal process, over HTTP, the whole XEP-0227 document read) against
// paging the same archive raw with mellium (history.Fetch, RSM <after/>,
// 100 per page). It reports the portal process's peak resident memory
// (VmHWM) before and after the exports, so a growing archive showing up in
// memory would be visible. Runs only under -bench (filling the archive
// takes minutes).
func BenchmarkExport(b *testing.B) {
	n := benchMessages
	if v, err := strconv.Atoi(os.Getenv("PORTAL_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	srv := testenv.StartProsody(b, testenv.Options{Mode: testenv.ModeAdmin})
	const pw = "bench archive password 1"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	admin := provision.NewAdmin(srv.XMPP(), srv.AdminJID, srv.AdminPassword, slog.New(slog.DiscardHandler))
	if err := admin.Create(ctx, "archive", pw); err != nil {
		b.Fatal(err)
	}
	admin.Close()
	start := time.Now()
	fillArchive(b, ctx, srv, "archive", pw, n)
	b.Logf("filled an archive of %d messages in %s", n, time.Since(start).Round(time.Second))

	portal, base := startPortalProcess(b, srv)
	baseline := vmHWM(b, portal)

	b.Run("portal-http", func(b *testing.B) {
		var bytesOut int64
		for i := 0; i < b.N; i++ {
			form := url.Values{"address": {"archive"}, "password": {pw}, "lang": {"en"}}
			resp, err := http.PostForm(base+"/export", form)
			if err != nil {
				b.Fatal(err)
			}
			cw := &tailCounter{}
			_, err = io.Copy(cw, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("export: status %d, %v", resp.StatusCode, err)
			}
			if !strings.HasSuffix(string(cw.tail), "</server-data>\n") || cw.results < n {
				b.Fatalf("export incomplete: %d results, ends %q", cw.results, cw.tail)
			}
			bytesOut = cw.n
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64(bytesOut)/(1<<20), "MB/export")
		peak := vmHWM(b, portal)
		b.ReportMetric(peak, "portal-peak-RSS-MB")
		b.ReportMetric(peak-baseline, "portal-peak-growth-MB")
	})
	b.Run("raw-mam", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if got := rawPage(b, ctx, srv, "archive", pw); got < n {
				b.Fatalf("raw paging got %d messages, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Logf("portal process peak RSS (VmHWM): %.1f MB after start, %.1f MB after the exports of %d messages", baseline, vmHWM(b, portal), n)
}

// tailCounter counts bytes and archive results and keeps the last bytes.
type tailCounter struct {
	n       int64
	results int
	tail    []byte
}

func (t *tailCounter) Write(p []byte) (int, error) {
	t.n += int64(len(p))
	joined := append(t.tail, p...)
	t.results += bytes.Count(joined, []byte("<result ")) - bytes.Count(t.tail, []byte("<result "))
	if len(joined) > 64 {
		joined = joined[len(joined)-64:]
	}
	t.tail = append([]byte(nil), joined...)
	return len(p), nil
}

// fillArchive sends n messages from the admin account to local (online),
// pipelined on one session, and waits until they are delivered.
func fillArchive(b testing.TB, ctx context.Context, srv *testenv.Server, local, pw string, n int) {
	var received atomic.Int64
	h := mux.New(stanza.NSClient, mux.MessageFunc(stanza.ChatMessage, xml.Name{Space: stanza.NSClient, Local: "body"},
		func(stanza.Message, xmlstream.TokenReadEncoder) error { received.Add(1); return nil }))
	user, err := xmppconn.Login(ctx, srv.XMPP(), local, pw, h)
	if err != nil {
		b.Fatal(err)
	}
	defer xmppconn.Close(user)
	if err := user.Send(ctx, pie.NewElement(pie.NSClient, "presence").TokenReader()); err != nil {
		b.Fatal(err)
	}
	as, err := xmppconn.Login(ctx, srv.XMPP(), srv.AdminJID.Localpart(), srv.AdminPassword, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer xmppconn.Close(as)
	for i := 0; i < n; i++ {
		m := pie.NewElement(pie.NSClient, "message", "to", local+"@"+srv.Domain, "type", "chat").
			Add(pie.NewElement(pie.NSClient, "body").SetText(fmt.Sprintf("benchmark message %05d: the quick brown fox jumps over the lazy dog", i)))
		if err := as.Send(ctx, m.TokenReader()); err != nil {
			b.Fatal(err)
		}
	}
	for tries := 0; tries < 12000 && received.Load() < int64(n); tries++ {
		time.Sleep(100 * time.Millisecond)
	}
	if r := received.Load(); r < int64(n) {
		b.Fatalf("%d of %d messages delivered", r, n)
	}
}

// rawPage pages through the archive with mellium only, decoding each result
// synchronously, and returns the number of messages.
func rawPage(b testing.TB, ctx context.Context, srv *testenv.Server, local, pw string) int {
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
	s, err := xmppconn.Login(ctx, srv.XMPP(), local, pw, h)
	if err != nil {
		b.Fatal(err)
	}
	defer xmppconn.Close(s)
	last := ""
	for page := 0; page < 100000; page++ {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := history.Fetch(pctx, history.Query{Limit: 100, PageID: last}, s.LocalAddr().Bare(), s)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if res.Complete || res.Set.Last == "" || res.Set.Last == last {
			break
		}
		last = res.Set.Last
	}
	return int(count.Load())
}

// startPortalProcess builds cmd/portal and runs it as its own process
// against srv, so its memory can be measured apart from the benchmark's.
func startPortalProcess(b testing.TB, srv *testenv.Server) (*exec.Cmd, string) {
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "portal")
	build := exec.Command("go", "build", "-o", bin, "./cmd/portal")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build portal: %v\n%s", err, out)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"PORTAL_LISTEN="+addr, "PORTAL_XMPP_DOMAIN="+srv.Domain, "PORTAL_XMPP_ADDR="+srv.Addr,
		"PORTAL_XMPP_MODE="+srv.Mode, "PORTAL_XMPP_CA_FILE="+ca, "PORTAL_XMPP_ADMIN_JID="+srv.AdminJID.String(),
		"PORTAL_XMPP_ADMIN_PASSWORD="+srv.AdminPassword, "PORTAL_REGULATION_MIN_RESPONSE=0s",
		"PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE=100000", "PORTAL_LOG_LEVEL=warn")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	cmd.Stdout = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	base := "http://" + addr
	for tries := 0; tries < 100; tries++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, base
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("portal did not start:\n%s", logs.String())
	return nil, ""
}

// vmHWM returns the peak resident set size of the process in MB.
func vmHWM(b testing.TB, cmd *exec.Cmd) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
