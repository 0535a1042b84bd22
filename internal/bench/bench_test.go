package bench_test

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/app/apptest"
	"github.com/xmpp-portal/portal/internal/bench"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// findings is the hand-written part of docs/benchmarks.md (what was
// profiled and fixed, what is the server's); it is appended to every report.
//
//go:embed findings.md
var findings string

// settings of a run, from PORTAL_BENCH_* environment variables.
type settings struct {
	signupSeconds int // per run
	signupRounds  int // of raw, portal, portal, raw per cell
	pageSeconds   int // per page and round
	pageConns     int
	pageRounds    int
	loadSeconds   int
	loadConns     int
	startups      int
	// export: archive sizes (throughput, and the large one for peak
	// memory), rounds of raw/portal/portal/raw, and the smaller archive
	// size of the storage = "internal" figure.
	exportMessages, exportLarge, exportRounds, exportInternal int
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func settingsFromEnv() settings {
	return settings{
		signupSeconds:  envInt("PORTAL_BENCH_SIGNUP_SECONDS", 5),
		signupRounds:   envInt("PORTAL_BENCH_SIGNUP_ROUNDS", 2),
		pageSeconds:    envInt("PORTAL_BENCH_PAGE_SECONDS", 10),
		pageConns:      envInt("PORTAL_BENCH_PAGE_CONNS", 64),
		pageRounds:     envInt("PORTAL_BENCH_PAGE_ROUNDS", 2),
		loadSeconds:    envInt("PORTAL_BENCH_LOAD_SECONDS", 60),
		loadConns:      envInt("PORTAL_BENCH_LOAD_CONNS", 256),
		startups:       envInt("PORTAL_BENCH_STARTUPS", 5),
		exportMessages: envInt("PORTAL_BENCH_EXPORT_MESSAGES", 10000),
		exportLarge:    envInt("PORTAL_BENCH_EXPORT_LARGE", 100000),
		exportRounds:   envInt("PORTAL_BENCH_EXPORT_ROUNDS", 3),
		exportInternal: envInt("PORTAL_BENCH_EXPORT_INTERNAL", 1000),
	}
}

func (s settings) String() string {
	return fmt.Sprintf("sign-up runs of %d s, %d rounds; page loads of %d s × %d rounds at %d connections; mixed load %d s at %d connections; %d start-ups; export of %d and %d messages, %d rounds",
		s.signupSeconds, s.signupRounds, s.pageSeconds, s.pageRounds, s.pageConns, s.loadSeconds, s.loadConns, s.startups, s.exportMessages, s.exportLarge, s.exportRounds)
}

// generous is the abuse-control configuration of every benchmark portal:
// budgets far above what the load can reach, so the limiter is measured as
// the work it does but never refuses.
var generous = map[string]string{
	"PORTAL_ABUSE_SIGNUPS_PER_HOUR":                   "1000000",
	"PORTAL_ABUSE_GLOBAL_SIGNUPS_PER_HOUR":            "1000000",
	"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE":                "1000000",
	"PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE":       "1000000",
	"PORTAL_ABUSE_ONION_SIGNUPS_PER_HOUR":             "1000000",
	"PORTAL_ABUSE_ONION_CREDENTIAL_CHECKS_PER_MINUTE": "1000000",
	// What such budgets could hold, as the configuration checks the store's
	// shares; the memory store only grows with the keys really written.
	"PORTAL_STORE_MAX_KEYS":    "3000000000",
	"PORTAL_LOG_LEVEL":         "info",
	"PORTAL_SITE_STORAGE_NOTE": "Messages are archived for one week; uploads are deleted after 30 days.",
}

// portalEnv is the portal configuration for srv (apptest.ServerEnv) with
// budgets that refuse nothing (generous) and extra.
func portalEnv(t *testing.T, srv *testenv.Server, extra map[string]string) map[string]string {
	t.Helper()
	return apptest.ServerEnv(t, srv, generous, extra)
}

func envList(m map[string]string) []string {
	var l []string
	for k, v := range m {
		l = append(l, k+"="+v)
	}
	return l
}

// startInProcess runs the portal (app.New, real listener) in this process,
// so the benchmark can read captcha answers from its store. Its log goes to
// a file at info level, as in production.
func startInProcess(t *testing.T, env map[string]string, logPath string) (*app.App, string) {
	t.Helper()
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
		logf.Close()
	})
	<-a.Ready
	return a, "http://" + ln.Addr().String()
}

const benchPassword = "violet mountain lantern 42"

// TestBenchmarks is `make bench`: it measures the portal against the raw
// server and Prosody's own page, writes the report to PORTAL_BENCH_OUT and
// prints the goals met or missed. It fails only when the measurement itself
// fails (a server does not start, the load sees errors it must not see);
// missed goals are reported, not failed.
func TestBenchmarks(t *testing.T) {
	out := os.Getenv("PORTAL_BENCH_OUT")
	if out == "" {
		t.Skip("the benchmarks run with `make bench` (PORTAL_BENCH_OUT names the report file)")
	}
	s := settingsFromEnv()
	start := time.Now()
	rep := &bench.Report{Date: start, Machine: bench.DescribeMachine(), LoadStart: bench.LoadAverage(), Settings: s.String()}
	ctx := context.Background()

	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Under /tmp, not t.TempDir(): the baseline Prosody runs as its own user
	// and must reach its directory.
	work, err := os.MkdirTemp("", "portal-bench-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := bench.BuildPortal(ctx, root, work)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(bin); err == nil {
		rep.Footprint.BinaryBytes = st.Size()
	}
	if bench.WrkPath() == "" {
		rep.Notes = append(rep.Notes, "Page loads used the Go load generator (wrk is not installed); it costs more CPU on the shared cores than wrk.")
	} else {
		rep.Notes = append(rep.Notes, "Page loads used wrk (2 threads) on the same machine.")
	}

	admin := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn"})
	ibr := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeIBR, LogLevel: "warn"})

	// PORTAL_BENCH_ONLY=signup,webform,pages,export,load,captcha runs some sections (for work on
	// one of them); the report is then partial.
	only := os.Getenv("PORTAL_BENCH_ONLY")
	run := func(section string) bool { return only == "" || strings.Contains(only, section) }
	if run("signup") {
		rep.SectionLoads = append(rep.SectionLoads, "sign-ups "+sectionLoad(t, "sign-up throughput"))
		rep.SignupRounds = s.signupRounds
		rep.Signup = signupBench(t, s, work, map[string]*testenv.Server{"admin": admin, "ibr": ibr})
	}
	if run("webform") {
		rep.SectionLoads = append(rep.SectionLoads, "web form "+sectionLoad(t, "sign-ups against Prosody's own web form"))
		rep.WebForm, rep.WebFormNote = webFormBench(t, s, work)
	}
	if run("pages") {
		rep.SectionLoads = append(rep.SectionLoads, "pages "+sectionLoad(t, "page throughput and footprint"))
		deployCfg, err := testenv.DeployFile("prosody", "prosody.cfg.lua")
		if err != nil {
			t.Fatal(err)
		}
		rep.Pages = pageBench(t, s, bin, deployCfg, admin, work, &rep.Footprint)
	}
	if run("export") {
		rep.SectionLoads = append(rep.SectionLoads, "export "+sectionLoad(t, "export"))
		rep.Export = exportBench(t, s, bin, work)
	}
	if run("load") {
		rep.SectionLoads = append(rep.SectionLoads, "mixed load "+sectionLoad(t, "mixed load"))
		rep.Load = loadBench(t, s, bin, admin, work, &rep.Footprint)
	}
	if run("captcha") {
		t.Logf("captcha read by tesseract and pocketsphinx (load average %s)", bench.LoadAverage())
		rep.CaptchaRead = captchaReadBench(t)
	}
	if only != "" {
		rep.Notes = append(rep.Notes, "Partial run: only "+only+" (PORTAL_BENCH_ONLY).")
	}

	rep.LoadEnd = bench.LoadAverage()
	rep.Duration = time.Since(start)
	rep.Goals = goals(rep)
	md := rep.Markdown(findings)
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Print("\n" + rep.Summary() + "report written to " + out + "\n")
}

// sectionLoad logs and returns the 1-minute load average as a section
// starts (the report lists them: other work on the machine shows there).
func sectionLoad(t *testing.T, section string) string {
	l := bench.LoadAverage()
	t.Logf("%s (load average %s)", section, l)
	return strings.Fields(l + " ?")[0]
}

// goals evaluates the targets.
func goals(r *bench.Report) []bench.Goal {
	var g []bench.Goal
	for _, s := range r.Signup {
		plural := "s"
		if s.Clients == 1 {
			plural = ""
		}
		g = append(g, bench.Goal{Name: fmt.Sprintf("sign-up throughput, %s mode, %d client%s", s.Mode, s.Clients, plural),
			Figure: ratioText(s.Ratio(), 0.95) + " raw", Target: "≥ 0.95× raw", Met: s.Ratio() >= 0.95})
	}
	for _, f := range r.WebForm {
		plural := "s"
		if f.Clients == 1 {
			plural = ""
		}
		g = append(g, bench.Goal{Name: fmt.Sprintf("sign-up throughput against Prosody's own form, %d client%s", f.Clients, plural),
			Figure: ratioText(f.Ratio(), bench.WebFormGoal) + " Prosody", Target: fmt.Sprintf("≥ %.1f× Prosody", bench.WebFormGoal), Met: f.Ratio() >= bench.WebFormGoal})
	}
	for _, p := range r.Pages {
		if p.Target > 0 {
			g = append(g, bench.Goal{Name: "page throughput, " + p.Name, Figure: ratioText(p.Ratio(), p.Target) + " Prosody",
				Target: fmt.Sprintf("≥ %.0f× Prosody", p.Target), Met: p.Ratio() >= p.Target})
		}
	}
	if len(r.Footprint.IdleRSS) > 0 { // measured with the pages
		idle := bench.Median(r.Footprint.IdleRSS)
		g = append(g, bench.Goal{Name: "idle RSS", Figure: bench.MB(idle), Target: "≤ 25 MB", Met: idle > 0 && idle <= 25e6})
	}
	for _, p := range r.Footprint.Pages {
		g = append(g, bench.Goal{Name: "bytes per page, " + p.Name + " (with what it loads)", Figure: bench.KB(p.Total),
			Target: "≤ 20 KB", Met: p.Total > 0 && p.Total <= 20e3})
	}
	if r.Export != nil {
		g = append(g, exportGoals(r.Export)...)
	}
	if c := r.CaptchaRead; c != nil && len(c.ByFilter) > 0 {
		best, name := c.Best()
		g = append(g, bench.Goal{Name: "captcha read by tesseract (best clean-up: " + name + ")", Figure: fmt.Sprintf("%d / %d", best, c.Pictures),
			Target: fmt.Sprintf("≤ %d / 30", bench.CaptchaReadGoal), Met: best*30 <= bench.CaptchaReadGoal*c.Pictures})
	}
	if l := r.Load; l != nil {
		clean := l.Pages.Count5xx()+l.Signups.Count5xx() == 0 && l.Pages.Errors+l.Signups.Errors == 0 && l.Alive
		g = append(g, bench.Goal{Name: "load: no 5xx, no failed request, no crash", Figure: fmt.Sprintf("%d×5xx, %d failed",
			l.Pages.Count5xx()+l.Signups.Count5xx(), l.Pages.Errors+l.Signups.Errors), Target: "0", Met: clean})
		g = append(g, bench.Goal{Name: "load: accounting", Figure: fmt.Sprintf("%d missing, %d unexpected, %d unverifiable",
			len(l.Accounting.Missing), len(l.Accounting.Unexpected), len(l.Accounting.Unverifiable)), Target: "all 0", Met: l.Accounting.OK()})
	}
	return g
}

// ratioText prints a ratio with two decimals, or three when two would round
// it onto the other side of its target.
func ratioText(r, target float64) string {
	if two := fmt.Sprintf("%.2f", r); (r >= target) != (mustFloat(two) >= target) {
		return fmt.Sprintf("%.3f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// ---- 1. sign-up throughput ----

func signupBench(t *testing.T, s settings, work string, servers map[string]*testenv.Server) []bench.SignupRow {
	var rows []bench.SignupRow
	ctx := context.Background()
	run := 0
	for _, mode := range []string{"admin", "ibr"} {
		srv := servers[mode]
		a, base := startInProcess(t, portalEnv(t, srv, nil), filepath.Join(work, "signup-"+mode+".log"))
		xc, err := app.XMPPConfig(a.Config)
		if err != nil {
			t.Fatal(err)
		}
		var raw signup.Creator
		rawOp := "XEP-0077 register on a fresh STARTTLS stream (signup.IBR)"
		if mode == "admin" {
			session := xmpp.NewAdmin(xc, srv.AdminJID, srv.AdminPassword, nil)
			defer session.Close()
			raw = signup.NewAdmin(session, nil)
			rawOp = "XEP-0133 add-user over one admin session (signup.Admin)"
		} else {
			raw = signup.NewIBR(xc, nil)
		}
		client := bench.NewClient(32, 60*time.Second)
		su := &bench.Signup{Base: base, Client: client, Domain: srv.Domain, Answer: testenv.CaptchaAnswer(a.Store)}

		// Warm-up: sessions, caches, Prosody's first accounts.
		for i := 0; i < 20; i++ {
			if err := raw.Create(ctx, fmt.Sprintf("warm%sraw%d", mode[:1], i), benchPassword); err != nil {
				t.Fatalf("%s warm-up raw: %v", mode, err)
			}
			if r := su.Do(ctx, fmt.Sprintf("warm%sportal%d", mode[:1], i), benchPassword, false); r.Outcome != bench.Created {
				t.Fatalf("%s warm-up portal: %s %d %v\n%s", mode, r.Outcome, r.Status, r.Err, r.Body)
			}
		}
		for _, clients := range []int{1, 4, 16} {
			rawRec, portalRec := bench.NewRecorder(), bench.NewRecorder()
			var rawTime, portalTime time.Duration
			var order []string
			for range s.signupRounds {
				order = append(order, "raw", "portal", "portal", "raw")
			}
			for _, which := range order {
				run++
				prefix := fmt.Sprintf("%s%d", mode[:1], run)
				d := time.Duration(s.signupSeconds) * time.Second
				if which == "raw" {
					rawTime += bench.Run(ctx, clients, d, func(ctx context.Context, w, i int) {
						t0 := time.Now()
						err := raw.Create(ctx, fmt.Sprintf("%sw%di%d", prefix, w, i), benchPassword)
						status := 200
						if err != nil {
							status = 500
						}
						rawRec.Add("op", status, nil, time.Since(t0))
					})
				} else {
					portalTime += bench.Run(ctx, clients, d, func(ctx context.Context, w, i int) {
						t0 := time.Now()
						r := su.Do(ctx, fmt.Sprintf("%sw%di%d", prefix, w, i), benchPassword, false)
						status := 200
						if r.Outcome != bench.Created {
							status = 500 + int(r.Outcome)
						}
						portalRec.Add("op", status, nil, time.Since(t0))
					})
				}
			}
			row := bench.SignupRow{Mode: mode, Clients: clients, RawOp: rawOp,
				Raw: throughput(rawRec.Stats("op"), rawTime), Portal: throughput(portalRec.Stats("op"), portalTime)}
			if row.Raw.Failed+row.Portal.Failed > 0 {
				row.Anomalies = fmt.Sprintf("failures: raw %d, portal %d (%s)", row.Raw.Failed, row.Portal.Failed, portalRec.Stats("op").StatusString())
			}
			t.Logf("  %s c=%d raw %.1f/s portal %.1f/s ratio %.2f", mode, clients, row.Raw.Rate, row.Portal.Rate, row.Ratio())
			rows = append(rows, row)
		}

		client.CloseIdleConnections()
	}
	return rows
}

func throughput(st bench.Stats, elapsed time.Duration) bench.Throughput {
	ok := st.Status[200]
	tp := bench.Throughput{Count: ok, Failed: st.Count - ok, P50: st.P50, P99: st.P99}
	if elapsed > 0 {
		tp.Rate = float64(ok) / elapsed.Seconds()
	}
	return tp
}

// ---- 2. page throughput, 4. footprint ----

func pageBench(t *testing.T, s settings, bin, deployCfg string, srv *testenv.Server, work string, fp *bench.Footprint) []bench.PageRow {
	ctx := context.Background()
	env := envList(portalEnv(t, srv, nil))

	base, err := bench.StartProsodyWeb(deployCfg, filepath.Join(work, "prosody-web"), srv.Domain)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Stop()
	time.Sleep(time.Second)
	if p, err := bench.ReadProc(base.PID()); err == nil {
		fp.ProsodyIdleRSS = p.RSS
	}
	baseHdr := http.Header{"Host": {base.Host}}
	if n, err := fetchSize(base.URL, baseHdr); err != nil {
		t.Fatal(err)
	} else {
		fp.BaselinePage = n
	}

	// Start-up and idle footprint: fresh processes, the last one stays.
	var p *bench.PortalProcess
	for i := 0; i < s.startups; i++ {
		if p != nil {
			p.Stop()
		}
		p, err = bench.StartPortal(ctx, bin, env, filepath.Join(work, fmt.Sprintf("portal-pages-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		fp.Startup = append(fp.Startup, p.Startup)
		time.Sleep(time.Second)
		pr, err := bench.ReadProc(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		fp.IdleRSS = append(fp.IdleRSS, pr.RSS)
		fp.IdleAnon = append(fp.IdleAnon, pr.Anon)
	}
	defer p.Stop()

	for _, page := range []struct{ name, path string }{{"home", "/?lang=en"}, {"sign-up form", "/register?lang=en"}} {
		ps, err := pageWeight(p.URL, page.path)
		if err != nil {
			t.Fatal(err)
		}
		ps.Name = page.name
		fp.Pages = append(fp.Pages, ps)
	}

	// A captcha picture to fetch again and again (fetching does not consume it).
	su := &bench.Signup{Base: p.URL, Client: bench.NewClient(1, 10*time.Second)}
	id, _, err := su.Form(ctx)
	if err != nil {
		t.Fatal(err)
	}

	type target struct {
		name, url string
		hdr       http.Header
		pid       int
		goal      float64
	}
	portalPages := []target{
		{"sign-up form (GET /register, fresh captcha)", p.URL + "/register", nil, p.PID(), 3},
		{"captcha picture (GET /captcha/<id>.png)", p.URL + "/captcha/" + id + ".png", nil, p.PID(), 3},
		{"home page (GET /)", p.URL + "/", nil, p.PID(), 0},
	}
	baseline := target{"Prosody register_web", base.URL, baseHdr, base.PID(), 0}
	d := time.Duration(s.pageSeconds) * time.Second
	type acc struct {
		load bench.PageLoad
		cpu  time.Duration
		n    int
	}
	measure := func(tg target) (bench.PageLoad, time.Duration) {
		before, err := bench.ReadProc(tg.pid)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := bench.LoadPage(ctx, tg.url, s.pageConns, d, tg.hdr)
		if err != nil {
			t.Fatal(err)
		}
		after, err := bench.ReadProc(tg.pid)
		if err != nil {
			t.Fatal(err)
		}
		if tg.pid == base.PID() {
			fp.ProsodyLoadRSS = max(fp.ProsodyLoadRSS, after.HWM)
		}
		var cpu time.Duration
		if pl.Requests > 0 {
			cpu = (after.CPU - before.CPU) / time.Duration(pl.Requests)
		}
		t.Logf("  %s: %.0f req/s, %d non-2xx, %d errors, %s CPU/req", tg.name, pl.Rate, pl.Non2xx, pl.Errors, cpu)
		return pl, cpu
	}
	sampler := bench.StartSampler(p.PID(), 100*time.Millisecond)
	results := map[string]*acc{}
	add := func(name string, pl bench.PageLoad, cpu time.Duration) {
		a := results[name]
		if a == nil {
			a = &acc{load: bench.PageLoad{Tool: pl.Tool}}
			results[name] = a
		}
		a.load.Requests += pl.Requests
		a.load.Duration += pl.Duration
		a.load.Non2xx += pl.Non2xx
		a.load.Errors += pl.Errors
		a.load.Rate += pl.Rate
		a.load.P50 += pl.P50
		a.load.P99 = max(a.load.P99, pl.P99)
		a.cpu += cpu
		a.n++
	}
	for round := 0; round < s.pageRounds; round++ {
		pl, cpu := measure(baseline)
		add(baseline.name, pl, cpu)
		for _, tg := range portalPages {
			pl, cpu := measure(tg)
			add(tg.name, pl, cpu)
		}
	}
	maxRSS, _, err := sampler.Stop()
	if err != nil {
		t.Fatal(err)
	}
	fp.LoadRSS = maxRSS
	forms := int64(0)
	if a := results[portalPages[0].name]; a != nil {
		forms = int64(a.load.Requests)
	}
	idle := bench.Median(fp.IdleRSS)
	fp.LoadRSSNote = "Every GET /register puts a captcha in the memory store for captcha.ttl (10 minutes), and the page loads above served " +
		strconv.FormatInt(forms, 10) + " forms: the resident size under load is mostly those captchas"
	if forms > 0 && fp.LoadRSS > idle {
		per := (fp.LoadRSS - idle) / forms
		fp.LoadRSSNote += fmt.Sprintf(", about %d bytes each. The benchmark lifts store.max_keys to 10,000,000 and the per-client budgets so that nothing is refused; "+
			"with the default store.max_keys (100,000) the store, and so this growth, stops at about %s, and the default captcha budget "+
			"(abuse.captchas_per_minute, 30 per client) keeps any one client far below that", per, bench.MB(per*100_000))
	}
	fp.LoadRSSNote += "."
	time.Sleep(5 * time.Second)
	if pr, err := bench.ReadProc(p.PID()); err == nil {
		fp.IdleAfterLoad = pr.RSS
	}

	mean := func(a *acc) (bench.PageLoad, time.Duration) {
		l := a.load
		n := time.Duration(a.n)
		l.Rate /= float64(a.n)
		l.P50 /= n
		return l, a.cpu / n
	}
	bl, bcpu := mean(results[baseline.name])
	var rows []bench.PageRow
	for _, tg := range portalPages {
		pl, cpu := mean(results[tg.name])
		rows = append(rows, bench.PageRow{Name: tg.name, Portal: pl, Baseline: bl, PortalCPU: cpu, BaselineCPU: bcpu, Target: tg.goal})
	}
	return rows
}

var subresourceRe = regexp.MustCompile(`(?:href|src)="(/assets/[^"]+|/captcha/[A-Za-z0-9]+\.png(?:\?[^"]*)?|/register/picture/[A-Za-z0-9]+(?:\?[^"]*)?|/welcome(?:/app)?/qr\.png\?[^"]*)"`)

// pageWeight fetches a page and what a browser loads with it on a first
// visit (stylesheet, icon, the captcha's frame and its picture; not the
// audio, which is preload="none").
func pageWeight(base, path string) (bench.PageSize, error) {
	body, err := fetch(base+path, nil)
	if err != nil {
		return bench.PageSize{}, err
	}
	return weigh(base, body)
}

func weigh(base string, body []byte) (bench.PageSize, error) {
	ps := bench.PageSize{Document: int64(len(body)), Total: int64(len(body))}
	parts := []string{"HTML " + bench.KB(int64(len(body)))}
	seen := map[string]bool{}
	var walk func(body []byte) error
	walk = func(body []byte) error {
		for _, m := range subresourceRe.FindAllSubmatch(body, -1) {
			u := string(m[1])
			if seen[u] {
				continue
			}
			seen[u] = true
			if strings.HasPrefix(u, "/register/picture/") {
				// The captcha's frame: a document with its own picture.
				frame, err := fetch(base+u, nil)
				if err != nil {
					return err
				}
				ps.Total += int64(len(frame))
				parts = append(parts, "captcha frame "+bench.KB(int64(len(frame))))
				if err := walk(frame); err != nil {
					return err
				}
				continue
			}
			n, err := fetchSize(base+u, nil)
			if err != nil {
				return err
			}
			ps.Total += n
			kind := "stylesheet"
			switch {
			case strings.Contains(u, "/qr.png"):
				kind = "QR code"
			case strings.Contains(u, ".png"):
				kind = "captcha"
			case strings.HasSuffix(u, ".svg"):
				kind = "icon"
			}
			parts = append(parts, kind+" "+bench.KB(n))
		}
		return nil
	}
	err := walk(body)
	ps.Parts = strings.Join(parts, ", ")
	return ps, err
}

func fetch(url string, hdr http.Header) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return b, err
}

func fetchSize(url string, hdr http.Header) (int64, error) {
	b, err := fetch(url, hdr)
	return int64(len(b)), err
}

// ---- 5. mixed load ----

func loadBench(t *testing.T, s settings, bin string, srv *testenv.Server, work string, fp *bench.Footprint) *bench.LoadRun {
	ctx := context.Background()
	redis := testenv.StartRedis(t)
	env := portalEnv(t, srv, map[string]string{
		"PORTAL_STORE_DRIVER": "redis", "PORTAL_STORE_URL": redis.URL(), "PORTAL_STORE_PREFIX": "portal:",
	})
	p, err := bench.StartPortal(ctx, bin, envList(env), filepath.Join(work, "portal-load.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	st, err := store.Open("redis", redis.URL(), "portal:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client := bench.NewClient(s.loadConns, 60*time.Second)
	defer client.CloseIdleConnections()
	unknown, err := bench.UnknownOutcomeText()
	if err != nil {
		t.Fatal(err)
	}
	su := &bench.Signup{Base: p.URL, Client: client, Domain: srv.Domain, Answer: testenv.CaptchaAnswer(st), UnknownText: unknown}

	// The success page's weight, from a real sign-up: the page its
	// redirect leads to (Post/Redirect/Get), with its QR code.
	r := su.Do(ctx, "weighed", benchPassword, false)
	if r.Outcome != bench.Created || r.Location == "" {
		t.Fatalf("sign-up for the success page: %s %d %q %v", r.Outcome, r.Status, r.Location, r.Err)
	}
	welcome, err := fetch(p.URL+r.Location, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := weigh(p.URL, welcome)
	if err != nil {
		t.Fatal(err)
	}
	ps.Name = "success page"
	fp.Pages = append(fp.Pages, ps)

	lr := &bench.LoadRun{Duration: time.Duration(s.loadSeconds) * time.Second, Connections: s.loadConns,
		Store: "Redis, as in a multi-instance set-up; the benchmark reads the captcha answers from it", Outcomes: map[string]int{}}
	rec := bench.NewRecorder()
	var ledger bench.Ledger
	sampler := bench.StartSampler(p.PID(), 100*time.Millisecond)
	bench.Run(ctx, s.loadConns, lr.Duration, func(ctx context.Context, w, i int) {
		if w%2 == 0 {
			t0 := time.Now()
			id, status, err := su.Form(ctx)
			rec.Add("page", status, errIfNoStatus(status, err), time.Since(t0))
			if err != nil {
				return
			}
			t1 := time.Now()
			resp, err := client.Get(p.URL + "/captcha/" + id + ".png")
			if err != nil {
				rec.Add("page", 0, err, time.Since(t1))
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec.Add("page", resp.StatusCode, nil, time.Since(t1))
			return
		}
		user := fmt.Sprintf("load%dx%d", w, i)
		wrongCaptcha := i%10 == 9
		r := su.Do(ctx, user, benchPassword, wrongCaptcha)
		rec.Add("page", r.FormStatus, errIfNoStatus(r.FormStatus, r.Err), r.Form)
		if r.FormStatus == http.StatusOK {
			rec.Add("signup", r.Status, errIfNoStatus(r.Status, r.Err), r.Post)
		}
		ledger.Add(bench.Entry{User: user, Password: benchPassword, Outcome: r.Outcome, Status: r.Status})
	})
	lr.MaxRSS, _, _ = sampler.Stop()
	if pr, err := bench.ReadProc(p.PID()); err == nil {
		lr.HWM = pr.HWM
	}
	if b, err := fetch(p.URL+"/healthz", nil); err == nil && len(b) > 0 {
		lr.Alive = true
	}
	lr.Pages, lr.Signups = rec.Stats("page"), rec.Stats("signup")
	for _, e := range ledger.Entries() {
		lr.Outcomes[e.Outcome.String()]++
	}
	t.Logf("  load done: pages %s, sign-ups %s; verifying %d accounts", lr.Pages.StatusString(), lr.Signups.StatusString(), len(ledger.Entries()))
	lr.Accounting = ledger.Verify(ctx, srv.XMPP(), 8)
	t.Logf("  accounting: %s", lr.Accounting)
	return lr
}

// errIfNoStatus keeps only errors of requests that got no answer (an
// answer with a bad status is counted by its status).
func errIfNoStatus(status int, err error) error {
	if status == 0 && err != nil {
		return err
	}
	return nil
}

func TestRatioText(t *testing.T) {
	for _, tc := range []struct {
		r, target float64
		want      string
	}{
		{0.9488, 0.95, "0.949×"}, {0.951, 0.95, "0.95×"}, {0.96, 0.95, "0.96×"}, {2.996, 3, "2.996×"}, {5.97, 3, "5.97×"},
	} {
		if got := ratioText(tc.r, tc.target); got != tc.want {
			t.Errorf("ratioText(%v, %v) = %q, want %q", tc.r, tc.target, got, tc.want)
		}
	}
}
