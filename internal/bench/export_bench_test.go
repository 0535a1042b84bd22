package bench_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/bench"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// exportPageSize is what both sides ask for per MAM page: the portal's
// default (migrate.ExportOptions.PageSize).
const exportPageSize = 100

const exportPassword = "archive lantern violet 17"

// exportTail is appended to the shipped Prosody configuration for the
// export benchmark: the message archive in SQLite, and the accounts named
// in unlimited exempt from mod_limits.
func exportTail(domain string, unlimited ...string) string {
	var jids []string
	for _, u := range unlimited {
		jids = append(jids, fmt.Sprintf("%q", u+"@"+domain))
	}
	return fmt.Sprintf(`
-- Appended by the portal's export benchmark (internal/bench): the message
-- archive in SQLite (indexed) instead of storage = "internal", and the
-- benchmark's accounts exempt from mod_limits.
VirtualHost %q
storage = { archive = "sql" }
sql = { driver = "SQLite3", database = "archive.sqlite" }
unlimited_jids = { %s }
`, domain, strings.Join(jids, ", "))
}

// ---- 3. export ----

func exportBench(t *testing.T, s settings, bin, work string) *bench.ExportBench {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := bench.SQLiteStorageReady(); err != nil {
		t.Fatalf("export benchmark: %v (scripts/bench.sh installs it)", err)
	}
	dir := filepath.Join(work, "export")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const domain = "localhost"
	small, large := "archive-small", "archive-large"
	limited := "archive-limited"
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, Domain: domain, LogLevel: "warn",
		ProsodyConfigTail: exportTail(domain, small, large)})
	xc := srv.XMPP()
	xc.Timeout = 30 * time.Second
	db := filepath.Join(srv.Dir, "data", "archive.sqlite")
	session := xmpp.NewAdmin(xc, srv.AdminJID, srv.AdminPassword, slog.New(slog.DiscardHandler))
	admin := signup.NewAdmin(session, nil)
	fill := func(user string, n int) {
		if err := admin.Create(ctx, user, exportPassword); err != nil {
			t.Fatalf("create %s: %v", user, err)
		}
		if err := bench.SendTemplate(ctx, xc, srv.AdminJID.Localpart(), srv.AdminPassword, user, exportPassword); err != nil {
			t.Fatalf("template message to %s: %v", user, err)
		}
		t0 := time.Now()
		if err := bench.CloneArchive(ctx, db, domain, user, n); err != nil {
			t.Fatal(err)
		}
		t.Logf("  archive of %s: %d messages written in %s", user, n, time.Since(t0).Round(time.Millisecond))
	}
	n, nLarge := s.exportMessages, s.exportLarge
	fill(small, n)
	fill(large, nLarge)
	fill(limited, n)
	session.Close()

	e := &bench.ExportBench{Messages: n, PageSize: exportPageSize, Rounds: s.exportRounds,
		Raw: bench.ExportSide{Messages: n}, Portal: bench.ExportSide{Messages: n}}
	env := envList(portalEnv(t, srv, map[string]string{"PORTAL_REGULATION_MIN_RESPONSE": "0s", "PORTAL_LOG_LEVEL": "warn"}))
	client := &http.Client{}
	defer client.CloseIdleConnections()

	raw := func(user string, want int) bench.MAMPaging {
		p, err := bench.RawMAM(ctx, xc, user, exportPassword, exportPageSize)
		if err != nil {
			t.Fatalf("raw MAM paging of %s: %v", user, err)
		}
		if p.Messages != want {
			t.Fatalf("raw MAM paging of %s saw %d messages, want %d", user, p.Messages, want)
		}
		return p
	}
	export := func(p *bench.PortalProcess, user string, want int) bench.ExportDoc {
		d, err := bench.ExportHTTP(ctx, client, p.URL, user, exportPassword)
		if err == nil {
			err = bench.CheckExport(d, want)
		}
		if err != nil {
			t.Fatalf("export of %s through the portal: %v", user, err)
		}
		return d
	}
	cpu := func(pid int) time.Duration {
		pr, err := bench.ReadProc(pid)
		if err != nil {
			t.Fatal(err)
		}
		return pr.CPU
	}

	// Throughput: a warm-up pass (which also checks that MAM sees the
	// whole archive), then raw, portal, portal, raw per round.
	p, err := bench.StartPortal(ctx, bin, env, filepath.Join(dir, "portal-throughput.log"))
	if err != nil {
		t.Fatal(err)
	}
	w := raw(small, n)
	e.ServerPage = (w.Messages + w.Pages - 1) / max(1, w.Pages)
	export(p, small, n)
	for round := 0; round < s.exportRounds; round++ {
		for _, which := range []string{"raw", "portal", "portal", "raw"} {
			s0, p0 := cpu(srv.PID()), cpu(p.PID())
			if which == "raw" {
				r := raw(small, n)
				e.Raw.Passes++
				e.Raw.Time += r.Time
				e.Raw.ServerCPU += cpu(srv.PID()) - s0
				continue
			}
			d := export(p, small, n)
			e.Portal.Passes++
			e.Portal.Time += d.Time
			e.Portal.Bytes = d.Bytes
			e.Portal.ServerCPU += cpu(srv.PID()) - s0
			e.Portal.PortalCPU += cpu(p.PID()) - p0
		}
	}
	p.Stop()
	t.Logf("  %d messages: raw %.0f msgs/s, portal %.0f msgs/s, ratio %.3f", n, e.Raw.Rate(), e.Portal.Rate(), e.Ratio())

	// Peak memory: a fresh portal per archive size, one export each.
	for _, sz := range []struct {
		user string
		n    int
	}{{small, n}, {large, nLarge}} {
		p, err := bench.StartPortal(ctx, bin, env, filepath.Join(dir, fmt.Sprintf("portal-memory-%d.log", sz.n)))
		if err != nil {
			t.Fatal(err)
		}
		before, err := bench.ReadProc(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		d := export(p, sz.user, sz.n)
		after, err := bench.ReadProc(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		p.Stop()
		m := bench.ExportMemory{Messages: sz.n, StartHWM: before.HWM, HWM: after.HWM, Bytes: d.Bytes, Time: d.Time}
		if sz.n != n {
			m.RawTime = raw(sz.user, sz.n).Time
		}
		e.Memory = append(e.Memory, m)
		t.Logf("  fresh portal, %d messages: export %s, VmHWM %s → %s", sz.n, d.Time.Round(time.Millisecond), bench.MB(before.HWM), bench.MB(after.HWM))
	}

	// The readable copy of the same archives, a fresh portal each
	// (readable_bench_test.go).
	e.Readable = readableBench(t, ctx, bin, env, dir, []struct {
		user string
		n    int
	}{{small, n}, {large, nLarge}})

	// The server's: the shipped mod_limits on an account without the
	// exemption, one pass each.
	p, err = bench.StartPortal(ctx, bin, env, filepath.Join(dir, "portal-limited.log"))
	if err != nil {
		t.Fatal(err)
	}
	e.Limited = &bench.ExportLimited{Messages: n, Raw: raw(limited, n).Time, Portal: export(p, limited, n).Time}
	p.Stop()
	t.Logf("  under mod_limits: raw %s, portal %s", e.Limited.Raw.Round(time.Millisecond), e.Limited.Portal.Round(time.Millisecond))

	// The server's: the shipped storage = "internal" (exempt from
	// mod_limits so that only the storage shows), filled with real messages.
	e.Internal = internalPaging(t, ctx, []int{s.exportInternal, 4 * s.exportInternal})
	return e
}

// internalPaging pages raw through archives of the given sizes on a Prosody
// with the shipped storage = "internal".
func internalPaging(t *testing.T, ctx context.Context, sizes []int) []bench.PagingCost {
	const domain = "localhost"
	var users []string
	for _, n := range sizes {
		users = append(users, fmt.Sprintf("internal%d", n))
	}
	tail := fmt.Sprintf("\n-- Appended by the portal's export benchmark: its accounts exempt from mod_limits.\nVirtualHost %q\nunlimited_jids = { %s }\n",
		domain, `"`+strings.Join(users, `@`+domain+`", "`)+`@`+domain+`"`)
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, Domain: domain, LogLevel: "warn", ProsodyConfigTail: tail})
	xc := srv.XMPP()
	xc.Timeout = 30 * time.Second
	session := xmpp.NewAdmin(xc, srv.AdminJID, srv.AdminPassword, slog.New(slog.DiscardHandler))
	admin := signup.NewAdmin(session, nil)
	defer session.Close()
	var out []bench.PagingCost
	for i, n := range sizes {
		if err := admin.Create(ctx, users[i], exportPassword); err != nil {
			t.Fatal(err)
		}
		if err := bench.SendMessages(ctx, xc, srv.AdminJID.Localpart(), srv.AdminPassword, users[i], exportPassword, n, bench.BenchID, bench.BenchBody); err != nil {
			t.Fatal(err)
		}
		p, err := bench.RawMAM(ctx, xc, users[i], exportPassword, exportPageSize)
		if err != nil {
			t.Fatal(err)
		}
		if p.Messages != n {
			t.Fatalf("internal storage: raw paging saw %d of %d messages", p.Messages, n)
		}
		out = append(out, bench.PagingCost{Messages: n, Pages: p.Pages, Time: p.Time})
		t.Logf("  storage internal, %d messages: %s per page", n, (p.Time / time.Duration(p.Pages)).Round(time.Millisecond))
	}
	return out
}

// exportGoals evaluates section 3's targets.
func exportGoals(e *bench.ExportBench) []bench.Goal {
	g := []bench.Goal{{Name: fmt.Sprintf("export throughput, %d messages", e.Messages), Figure: ratioText(e.Ratio(), 0.9) + " raw",
		Target: "≥ 0.9× raw", Met: e.Ratio() >= 0.9}}
	if len(e.Memory) >= 2 {
		a, z := e.Memory[0], e.Memory[len(e.Memory)-1]
		g = append(g, bench.Goal{Name: fmt.Sprintf("export peak RSS, %d vs %d messages", z.Messages, a.Messages),
			Figure: fmt.Sprintf("%s vs %s", bench.MB(z.HWM), bench.MB(a.HWM)),
			Target: fmt.Sprintf("≤ %s (+max(10 %%, 3 MB))", bench.MB(a.HWM+bench.RSSSlack(a.HWM))), Met: e.RSSIndependent()})
	}
	return append(g, readableGoals(e.Readable)...)
}

// TestExportMachinery checks the export benchmark's tools on a real Prosody
// with the SQL archive store: a cloned archive is whole and in order for raw
// MAM paging, and the portal's export of it is read and counted whole. It
// needs lua-dbi-sqlite3 and sqlite3 (scripts/bench.sh installs them) and
// skips without them.
func TestExportMachinery(t *testing.T) {
	if err := bench.SQLiteStorageReady(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v [CI is set: failing instead of skipping; scripts/install-deps.sh installs it]", err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const domain, user, n = "localhost", "cloned", 120
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, Domain: domain, LogLevel: "warn",
		ProsodyConfigTail: exportTail(domain, user)})
	session := xmpp.NewAdmin(srv.XMPP(), srv.AdminJID, srv.AdminPassword, slog.New(slog.DiscardHandler))
	admin := signup.NewAdmin(session, nil)
	defer session.Close()
	if err := admin.Create(ctx, user, exportPassword); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(srv.Dir, "data", "archive.sqlite")
	if err := bench.CloneArchive(ctx, db, domain, user, n); err == nil {
		t.Fatal("CloneArchive without the template message succeeded")
	}
	if err := bench.SendTemplate(ctx, srv.XMPP(), srv.AdminJID.Localpart(), srv.AdminPassword, user, exportPassword); err != nil {
		t.Fatal(err)
	}
	if err := bench.CloneArchive(ctx, db, domain, user, n); err != nil {
		t.Fatal(err)
	}
	// Again: the archive no longer holds just the template, so nothing is
	// written.
	if err := bench.CloneArchive(ctx, db, domain, user, 7); err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
		t.Fatalf("a second CloneArchive: %v, want the guard's refusal", err)
	}
	p, err := bench.RawMAM(ctx, srv.XMPP(), user, exportPassword, exportPageSize)
	if err != nil {
		t.Fatal(err)
	}
	if p.Messages != n || p.Pages != 3 {
		t.Errorf("raw MAM paging: %d messages in %d pages, want %d in 3 (Prosody sends 50 per page)", p.Messages, p.Pages, n)
	}

	_, base := startInProcess(t, portalEnv(t, srv, map[string]string{"PORTAL_REGULATION_MIN_RESPONSE": "0s"}), filepath.Join(t.TempDir(), "portal.log"))
	d, err := bench.ExportHTTP(ctx, &http.Client{}, base, user, exportPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := bench.CheckExport(d, n); err != nil {
		t.Fatal(err)
	}
	// The copies are numbered 0 … n-1 in archive order, with their own ids.
	body, err := exportBody(ctx, base, user)
	if err != nil {
		t.Fatal(err)
	}
	last := -1
	for i := 0; i < n; i++ {
		at := strings.Index(body, bench.BenchBody(i))
		id := bench.BenchID(i)
		if at < 0 || at < last || !strings.Contains(body, `"`+id+`"`) && !strings.Contains(body, `'`+id+`'`) {
			t.Fatalf("message %d missing or out of order in the export", i)
		}
		last = at
	}
	if strings.Contains(body, "9999999") {
		t.Error("the template message is still in the archive")
	}
}

func exportBody(ctx context.Context, base, user string) (string, error) {
	form := url.Values{"address": {user}, "password": {exportPassword}, "lang": {"en"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/export", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
