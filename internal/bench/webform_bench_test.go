package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/bench"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// webFormSetup is one Prosody from the shipped configuration with
// register_web loaded as well, and on it both sides of the comparison: the
// portal in admin mode (in this process, its store readable for the
// captcha answers), Prosody's own form, and raw add-user over an admin
// session of its own.
type webFormSetup struct {
	srv    *testenv.Server
	portal *bench.Signup
	form   *bench.WebForm
	raw    signup.Creator
	close  func()
}

func startWebFormSetup(t *testing.T, work string) *webFormSetup {
	t.Helper()
	deployCfg, err := testenv.DeployFile("prosody", "prosody.cfg.lua")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(deployCfg)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := bench.RegisterWebTail(cfg)
	if err != nil {
		t.Fatalf("%s: %v", deployCfg, err)
	}
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn", ProsodyConfigTail: tail})
	dir := filepath.Join(work, "webform")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a, base := startInProcess(t, portalEnv(t, srv, nil), filepath.Join(dir, "portal.log"))
	xc, err := app.XMPPConfig(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	session := xmpp.NewAdmin(xc, srv.AdminJID, srv.AdminPassword, slog.New(slog.DiscardHandler))
	pc, fc := bench.NewClient(32, 60*time.Second), bench.NewClient(32, 60*time.Second)
	return &webFormSetup{
		srv:    srv,
		portal: &bench.Signup{Base: base, Client: pc, Domain: srv.Domain, Answer: testenv.CaptchaAnswer(a.Store)},
		form:   &bench.WebForm{URL: "http://" + srv.HTTPAddr + "/register_web", Host: srv.Domain, Client: fc},
		raw:    signup.NewAdmin(session, nil),
		close:  func() { pc.CloseIdleConnections(); fc.CloseIdleConnections(); session.Close() },
	}
}

// webFormSides are the sides of the comparison, in the order of one round:
// each round is form, portal, raw, raw, portal, form, so that drift and
// interference from other work on the shared machine fall on every side
// alike.
var webFormSides = []string{"form", "portal", "raw", "raw", "portal", "form"}

// webFormBench: accounts per second through the portal against Prosody's
// own form, at 1 and 4 clients, closed loop.
func webFormBench(t *testing.T, s settings, work string) ([]bench.WebFormRow, string) {
	ctx := context.Background()
	ws := startWebFormSetup(t, work)
	defer ws.close()
	op := func(side, user string) (bench.Outcome, error) {
		switch side {
		case "form":
			r := ws.form.Do(ctx, user, benchPassword)
			return r.Outcome, r.Err
		case "portal":
			r := ws.portal.Do(ctx, user, benchPassword, false)
			return r.Outcome, r.Err
		}
		if err := ws.raw.Create(ctx, user, benchPassword); err != nil {
			return bench.ServerError, err
		}
		return bench.Created, nil
	}
	// Warm-up: sessions, keep-alive connections, Prosody's first accounts.
	for i := 0; i < 20; i++ {
		for _, side := range []string{"form", "portal", "raw"} {
			if o, err := op(side, fmt.Sprintf("warmf%s%d", side, i)); o != bench.Created {
				t.Fatalf("web form warm-up, %s: %s %v", side, o, err)
			}
		}
	}
	pid := ws.srv.PID()
	var rows []bench.WebFormRow
	run := 0
	for _, clients := range []int{1, 4} {
		recs := map[string]*bench.Recorder{}
		elapsed := map[string]time.Duration{}
		serverCPU := map[string]time.Duration{}
		goCPU := map[string]time.Duration{}
		var mu sync.Mutex
		firstErr := map[string]error{}
		for range s.signupRounds {
			for _, side := range webFormSides {
				run++
				rec := recs[side]
				if rec == nil {
					rec = bench.NewRecorder()
					recs[side] = rec
				}
				prefix := fmt.Sprintf("f%s%d", side[:1], run)
				before, err1 := bench.ReadProc(pid)
				self0, err2 := bench.ReadProc(os.Getpid())
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				elapsed[side] += bench.Run(ctx, clients, time.Duration(s.signupSeconds)*time.Second, func(ctx context.Context, w, i int) {
					t0 := time.Now()
					o, err := op(side, fmt.Sprintf("%sw%di%d", prefix, w, i))
					status := 200
					if o != bench.Created {
						status = 500 + int(o)
						mu.Lock()
						if firstErr[side] == nil && err != nil {
							firstErr[side] = err
						}
						mu.Unlock()
					}
					rec.Add("op", status, nil, time.Since(t0))
				})
				after, err1 := bench.ReadProc(pid)
				self1, err2 := bench.ReadProc(os.Getpid())
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				serverCPU[side] += after.CPU - before.CPU
				goCPU[side] += self1.CPU - self0.CPU
			}
		}
		row := bench.WebFormRow{Clients: clients,
			Portal: throughput(recs["portal"].Stats("op"), elapsed["portal"]),
			Form:   throughput(recs["form"].Stats("op"), elapsed["form"]),
			Raw:    throughput(recs["raw"].Stats("op"), elapsed["raw"])}
		per := func(d time.Duration, n int) time.Duration {
			if n == 0 {
				return 0
			}
			return d / time.Duration(n)
		}
		row.ServerCPUPortal = per(serverCPU["portal"], row.Portal.Count)
		row.ServerCPUForm = per(serverCPU["form"], row.Form.Count)
		row.ServerCPURaw = per(serverCPU["raw"], row.Raw.Count)
		row.GoCPUPortal = per(goCPU["portal"], row.Portal.Count)
		row.GoCPUForm = per(goCPU["form"], row.Form.Count)
		var anomalies []string
		for _, side := range []string{"portal", "form", "raw"} {
			if st := recs[side].Stats("op"); st.Count != st.Status[200] {
				anomalies = append(anomalies, fmt.Sprintf("%s: %d of %d failed (%s; first: %v)", side, st.Count-st.Status[200], st.Count, st.StatusString(), firstErr[side]))
			}
		}
		row.Anomalies = strings.Join(anomalies, "; ")
		t.Logf("  web form c=%d: portal %.1f/s, Prosody form %.1f/s, ratio %.3f (raw add-user %.1f/s); Prosody CPU per account %s / %s / %s",
			clients, row.Portal.Rate, row.Form.Rate, row.Ratio(), row.Raw.Rate, row.ServerCPUPortal, row.ServerCPUForm, row.ServerCPURaw)
		rows = append(rows, row)
	}
	note := fmt.Sprintf("Accounts per second created through the portal in admin mode (its real HTTP flow, as above) against Prosody's own web registration page, "+
		"`mod_register_web` from prosody-modules (GET /register_web, its arithmetic question solved by the benchmark, POST of username, password, "+
		"confirm_password and the captcha fields, success page checked), on one and the same Prosody: the shipped configuration with `register_web` "+
		"added, in admin mode (in-band registration closed; the page creates accounts in-process with `usermanager.create_user`, the portal with "+
		"XEP-0133 add-user over its admin session). Raw add-user from Go over an admin session of its own on the same server is measured in the same "+
		"rounds. Closed loop, each cell the mean of %d runs of %d s per side in %d rounds of form, portal, raw, raw, portal, form. Prosody's CPU per "+
		"account is its user+system time (/proc/<pid>/stat) over each run divided by the accounts created; the benchmark process runs the portal "+
		"and the load generator of both sides.", 2*s.signupRounds, s.signupSeconds, s.signupRounds)
	return rows, note
}

// TestWebFormMachinery checks the comparison's set-up, not its speed: on
// the shipped Prosody with register_web, Prosody's form, the portal and raw
// add-user each create an account that logs in, and the form refuses a
// taken name and a wrong answer.
func TestWebFormMachinery(t *testing.T) {
	if err := bench.RegisterWebInstalled(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v [CI is set: failing instead of skipping; scripts/install-deps.sh installs it]", err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	work := t.TempDir()
	ws := startWebFormSetup(t, work)
	defer ws.close()
	if r := ws.form.Do(ctx, "formuser", benchPassword); r.Outcome != bench.Created {
		t.Fatalf("Prosody's form: %s %d %v\n%s", r.Outcome, r.Status, r.Err, r.Body)
	}
	if r := ws.portal.Do(ctx, "portaluser", benchPassword, false); r.Outcome != bench.Created {
		t.Fatalf("portal: %s %d %v\n%s", r.Outcome, r.Status, r.Err, r.Body)
	}
	if err := ws.raw.Create(ctx, "rawuser", benchPassword); err != nil {
		t.Fatalf("raw add-user: %v", err)
	}
	if r := ws.form.Do(ctx, "portaluser", benchPassword); r.Outcome != bench.Refused || r.Err == nil || !strings.Contains(r.Err.Error(), "already taken") {
		t.Errorf("Prosody's form, a name the portal took: %s %v", r.Outcome, r.Err)
	}
	c, _, err := ws.form.Form(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, body, err := ws.form.Post(ctx, c, fmt.Sprint(c.Answer()+10), "wronganswer", benchPassword); err != nil || bench.WebFormCreated(body, "wronganswer@"+ws.srv.Domain) ||
		!strings.Contains(bench.WebFormNotice(body), "Captcha") {
		t.Errorf("Prosody's form, a wrong answer: %d %v %q", st, err, bench.WebFormNotice(body))
	}
	var l bench.Ledger
	for _, u := range []string{"formuser", "portaluser", "rawuser"} {
		l.Add(bench.Entry{User: u, Password: benchPassword, Outcome: bench.Created, Status: 200})
	}
	l.Add(bench.Entry{User: "wronganswer", Password: benchPassword, Outcome: bench.Refused, Status: 200})
	if acc := l.Verify(ctx, ws.srv.XMPP(), 4); !acc.OK() {
		t.Errorf("accounts on the server: %s", acc)
	}
}
