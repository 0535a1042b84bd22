package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/app/apptest"
	"github.com/xmpp-portal/portal/internal/bench"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Resilience tests: load, the XMPP server killed mid-load, slow clients. They
// run the real portal (app.New, real listener, memory store) against a real
// Prosody and stay well under a minute each on two shared cores.
// PORTAL_RESILIENCE_SECONDS lengthens the load (default 10).

// resGenerous are budgets far above what the tests reach: the limiter does
// its work on every request but never refuses. The memory store's bound must
// then admit what such budgets could hold (the configuration checks the
// shares of the onion listener and of one network against it); the store
// only grows with the keys really written.
var resGenerous = map[string]string{
	"PORTAL_STORE_MAX_KEYS":                           "3000000000",
	"PORTAL_ABUSE_SIGNUPS_PER_HOUR":                   "1000000",
	"PORTAL_ABUSE_GLOBAL_SIGNUPS_PER_HOUR":            "1000000",
	"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE":                "1000000",
	"PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE":       "1000000",
	"PORTAL_ABUSE_ONION_SIGNUPS_PER_HOUR":             "1000000",
	"PORTAL_ABUSE_ONION_CREDENTIAL_CHECKS_PER_MINUTE": "1000000",
	"PORTAL_LOG_LEVEL":                                "info",
}

// lineLog counts log lines and keeps the ones that must never appear.
type lineLog struct {
	mu    sync.Mutex
	lines int
	bad   []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		l.lines++
		line := sc.Text()
		if strings.Contains(line, "panic") || strings.Contains(line, "level=ERROR") {
			if len(l.bad) < 20 {
				l.bad = append(l.bad, line)
			}
		}
	}
	return len(p), nil
}

func (l *lineLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines == 0 {
		t.Error("the portal logged nothing: the log check proves nothing")
	}
	for _, b := range l.bad {
		t.Errorf("log: %s", b)
	}
}

// startResilientPortal runs the portal against srv with the generous budgets,
// extra settings and an info-level log that is scanned, not kept (a load
// would otherwise grow the test's memory with log lines).
func startResilientPortal(t *testing.T, srv *testenv.Server, extra map[string]string) (*app.App, string, *lineLog) {
	t.Helper()
	logs := &lineLog{}
	p := apptest.Start(t, apptest.ServerEnv(t, srv, resGenerous, extra), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	return p.App, p.URL, logs
}

func resilienceSeconds() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("PORTAL_RESILIENCE_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

const resPassword = "amber window seventy two"

// resHangLimit bounds waits that end as soon as what they wait for happens
// (enough sign-ups, a recovery, a cut): only a hang reaches it.
const resHangLimit = 2 * time.Minute

// stallMeter measures, all through a test, the time this process loses to a
// busy machine: a probe pauses stallPause, then makes a trivial HTTP request
// to a server of its own, and the time the round took beyond the pause and
// the usual cost of the request is time the machine (or the Go runtime) was
// busy elsewhere. The probes follow each other without gaps, so lost(a, b)
// is the time lost between a and b. Bounds on elapsed time in these tests
// are their quiet-machine value plus lost time measured in their window: a
// busy machine stretches the bound as much as what it bounds, and a quiet
// one leaves the bound as tight as before.
type stallMeter struct {
	mu     sync.Mutex
	rounds []stallRound
	stop   chan struct{}
	done   chan struct{}
}

type stallRound struct {
	start, end time.Time
	took       time.Duration // end - start - stallPause
}

const stallPause = 10 * time.Millisecond

func startStallMeter(t *testing.T) *stallMeter {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	client := srv.Client()
	m := &stallMeter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			start := time.Now()
			select {
			case <-m.stop:
				return
			case <-time.After(stallPause):
			}
			if resp, err := client.Get(srv.URL); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			end := time.Now()
			m.mu.Lock()
			m.rounds = append(m.rounds, stallRound{start: start, end: end, took: end.Sub(start) - stallPause})
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(m.stop)
		<-m.done
		srv.Close()
	})
	return m
}

// lost returns the time lost between a and b: the sum, over the rounds that
// overlap [a, b], of what each took beyond the median round (a quiet
// round's cost of timer and request).
func (m *stallMeter) lost(a, b time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rounds) == 0 {
		return 0
	}
	all := make([]time.Duration, len(m.rounds))
	for i, r := range m.rounds {
		all[i] = r.took
	}
	slices.Sort(all)
	usual := all[len(all)/2]
	var lost time.Duration
	for _, r := range m.rounds {
		if r.start.Before(b) && r.end.After(a) && r.took > usual {
			lost += r.took - usual
		}
	}
	return lost
}

// TestResilienceLoad: a short load on the sign-up page (with its captcha
// picture) and on sign-up POSTs against the real portal and a real Prosody.
// No answer may be a 5xx or missing, memory must stay bounded, and the
// accounting must hold: every sign-up reported as created logs in, none
// reported as refused exists (one attempt in ten has a wrong captcha, one in
// twenty takes a name already created).
func TestResilienceLoad(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn"})
	a, base, logs := startResilientPortal(t, srv, nil)
	ctx := context.Background()
	const pageWorkers, signupWorkers = 8, 8
	client := bench.NewClient(pageWorkers+signupWorkers, 30*time.Second)
	defer client.CloseIdleConnections()
	unknown, err := bench.UnknownOutcomeText()
	if err != nil {
		t.Fatal(err)
	}
	su := &bench.Signup{Base: base, Client: client, Domain: srv.Domain, Answer: testenv.CaptchaAnswer(a.Store), UnknownText: unknown}

	// Warm up (admin session, caches), then take the memory baseline.
	if r := su.Do(ctx, "warmup", resPassword, false); r.Outcome != bench.Created {
		t.Fatalf("warm-up sign-up: %s %d %v", r.Outcome, r.Status, r.Err)
	}
	heapBefore := bench.HeapInUse()

	rec := bench.NewRecorder()
	var ledger bench.Ledger
	var created sync.Map // worker -> last created name, for deliberate conflicts
	var maxHeap atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(250 * time.Millisecond):
				if h := bench.HeapInUse(); h > maxHeap.Load() {
					maxHeap.Store(h)
				}
			}
		}
	}()
	// The load runs resilienceSeconds and on until it has made enough to
	// prove anything (a busy machine makes fewer requests a second), up to
	// the hang limit. Stopping it only ends the loops between requests: the
	// requests themselves use ctx, never cut.
	const minCreated, minPages = 20, 200
	var nCreated, nPages atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadStart := time.Now()
	go func() {
		for loadCtx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			if time.Since(loadStart) >= resilienceSeconds() && nCreated.Load() >= minCreated && nPages.Load() >= minPages {
				stopLoad()
			}
		}
	}()
	bench.Run(loadCtx, pageWorkers+signupWorkers, resHangLimit, func(_ context.Context, w, i int) {
		if w < pageWorkers {
			t0 := time.Now()
			id, status, err := su.Form(ctx)
			rec.Add("page", status, noAnswer(status, err), time.Since(t0))
			nPages.Add(1)
			if err != nil {
				return
			}
			t1 := time.Now()
			resp, err := client.Get(base + "/captcha/" + id + ".png")
			if err != nil {
				rec.Add("page", 0, err, time.Since(t1))
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec.Add("page", resp.StatusCode, nil, time.Since(t1))
			return
		}
		user := fmt.Sprintf("load%dn%d", w, i)
		e := bench.Entry{User: user, Password: resPassword}
		wrongCaptcha := i%10 == 9
		if prev, ok := created.Load(w); ok && i%20 == 7 {
			e.User, e.MayExist = prev.(string), true // taken: must be refused with 409
		}
		r := su.Do(ctx, e.User, resPassword, wrongCaptcha)
		rec.Add("page", r.FormStatus, noAnswer(r.FormStatus, r.Err), r.Form)
		nPages.Add(1)
		if r.Outcome == bench.Created {
			nCreated.Add(1)
		}
		if r.FormStatus == http.StatusOK {
			rec.Add("signup", r.Status, noAnswer(r.Status, r.Err), r.Post)
		}
		e.Outcome, e.Status = r.Outcome, r.Status
		ledger.Add(e)
		switch {
		case r.Outcome == bench.Created && (wrongCaptcha || e.MayExist):
			t.Errorf("%s: created although the captcha was wrong (%v) or the name taken (%v)", e.User, wrongCaptcha, e.MayExist)
		case e.MayExist && !wrongCaptcha && r.Status != http.StatusConflict:
			t.Errorf("%s taken again: status %d, want 409", e.User, r.Status)
		case r.Outcome == bench.Created:
			created.Store(w, user)
		}
	})
	close(stopSampling)
	<-sampled
	heapAfter := bench.HeapInUse()

	pages, signups := rec.Stats("page"), rec.Stats("signup")
	t.Logf("pages: %d (%s) p50 %v p99 %v", pages.Count, pages.StatusString(), pages.P50, pages.P99)
	t.Logf("sign-ups: %d (%s) p50 %v p99 %v", signups.Count, signups.StatusString(), signups.P50, signups.P99)
	t.Logf("heap in use: %.1f MB before, %.1f MB largest during, %.1f MB after", float64(heapBefore)/1e6, float64(maxHeap.Load())/1e6, float64(heapAfter)/1e6)
	for _, st := range []bench.Stats{pages, signups} {
		if st.Errors > 0 || st.Count5xx() > 0 {
			t.Errorf("%s: %d without an answer (first: %v), %d 5xx", st.Label, st.Errors, st.FirstErr, st.Count5xx())
		}
	}
	if ledger.Count(bench.Created) < minCreated || pages.Count < minPages {
		t.Errorf("too little load to prove anything: %d accounts, %d page requests", ledger.Count(bench.Created), pages.Count)
	}
	// The store holds a captcha per form served (about 100 bytes each) and
	// the heap the connections' buffers: tens of megabytes would be a leak.
	if grew := int64(max(heapAfter, maxHeap.Load())) - int64(heapBefore); grew > 64<<20 {
		t.Errorf("heap grew by %.1f MB under load", float64(grew)/1e6)
	}
	// Two canaries prove the check can fail: an account reported created that
	// was never made, and an existing one reported refused.
	ledger.Add(bench.Entry{User: "nevermade", Password: resPassword, Outcome: bench.Created, Status: 200})
	ledger.Add(bench.Entry{User: "warmup", Password: resPassword, Outcome: bench.Refused, Status: 409})
	acc := ledger.Verify(ctx, srv.XMPP(), 4)
	t.Logf("accounting (with the two canaries): %s", acc)
	if len(acc.Missing) != 1 || acc.Missing[0] != "nevermade" || len(acc.Unexpected) != 1 ||
		!strings.HasPrefix(acc.Unexpected[0], "warmup ") || len(acc.Unverifiable) != 0 {
		t.Error("accounting failed (only the two canaries may show): " + acc.String())
	}
	if resp, err := client.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("portal unhealthy after the load: %v", err)
	} else {
		resp.Body.Close()
	}
	logs.check(t)
}

// noAnswer keeps only the errors of requests that got no HTTP answer.
func noAnswer(status int, err error) error {
	if status == 0 && err != nil {
		return err
	}
	return nil
}

// attempt is one sign-up of the kill test, with when it ran.
type attempt struct {
	start, end time.Time
	r          bench.Result
	user       string
}

// TestResilienceXMPPServerKilled: sign-ups run continuously while Prosody is
// killed with SIGKILL, stays down, and is restarted on the same data. During
// the outage every user gets the clear "server unavailable" page within the
// configured xmpp.timeout (2 s here); after the restart the portal creates
// accounts again within 5 s without being restarted itself; and nothing is
// half-created or reported wrongly. Both provisioning modes.
//
// The timing claims hold on a busy machine too: each bound is its
// quiet-machine value plus the time a stallMeter saw lost in the window it
// bounds, and the recovery bound also grows with the measured cost of the
// sign-up that recovered. Phases last until enough sign-ups ran in them
// (with a hang limit), not a fixed time.
func TestResilienceXMPPServerKilled(t *testing.T) {
	for _, mode := range []string{testenv.ModeAdmin, testenv.ModeIBR} {
		t.Run(mode, func(t *testing.T) { killDuringSignups(t, mode) })
	}
}

func killDuringSignups(t *testing.T, mode string) {
	const (
		xmppTimeout = 2 * time.Second
		margin      = 1500 * time.Millisecond // HTTP around the XMPP call, on a quiet machine
		outage      = 3 * time.Second         // at least; on until enough sign-ups ran in it
		recovery    = 5 * time.Second         // on a quiet machine
		workers     = 4
		pause       = 50 * time.Millisecond // a user reading the error page
	)
	meter := startStallMeter(t)
	srv := testenv.StartProsody(t, testenv.Options{Mode: mode, LogLevel: "warn"})
	a, base, logs := startResilientPortal(t, srv, map[string]string{"PORTAL_XMPP_TIMEOUT": xmppTimeout.String()})
	ctx := context.Background()
	client := bench.NewClient(workers, 30*time.Second)
	defer client.CloseIdleConnections()
	unknown, err := bench.UnknownOutcomeText()
	if err != nil {
		t.Fatal(err)
	}
	su := &bench.Signup{Base: base, Client: client, Domain: srv.Domain, Answer: testenv.CaptchaAnswer(a.Store), UnknownText: unknown}
	unavailable := mustBundle(t).T("en", i18n.K("register.err.unavailable"))
	if r := su.Do(ctx, "before", resPassword, false); r.Outcome != bench.Created {
		t.Fatalf("sign-up before the kill: %s %d %v", r.Outcome, r.Status, r.Err)
	}

	var (
		mu       sync.Mutex
		attempts []attempt
		ledger   bench.Ledger
		stop     atomic.Bool
		n        atomic.Int64
	)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				user := fmt.Sprintf("k%sn%d", mode, n.Add(1))
				start := time.Now()
				r := su.Do(ctx, user, resPassword, false)
				mu.Lock()
				attempts = append(attempts, attempt{start: start, end: time.Now(), r: r, user: user})
				mu.Unlock()
				ledger.Add(bench.Entry{User: user, Password: resPassword, Outcome: r.Outcome, Status: r.Status})
				if r.Outcome != bench.Created {
					time.Sleep(pause)
				}
			}
		}()
	}
	// waitFor polls until ok holds for the attempts so far, or fails the
	// test at the hang limit.
	waitFor := func(what string, ok func([]attempt) bool) {
		t.Helper()
		for deadline := time.Now().Add(resHangLimit); ; time.Sleep(100 * time.Millisecond) {
			mu.Lock()
			done := ok(attempts)
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("%s: not within %v", what, resHangLimit)
			}
		}
	}
	count := func(as []attempt, f func(attempt) bool) int {
		k := 0
		for _, at := range as {
			if f(at) {
				k++
			}
		}
		return k
	}
	warm := time.Now()
	waitFor("sign-ups before the kill", func(as []attempt) bool {
		return time.Since(warm) >= 2*time.Second && count(as, func(at attempt) bool { return at.r.Outcome == bench.Created }) >= workers
	})
	killStart := time.Now()
	srv.Kill() // returns once the process is gone
	killed := time.Now()
	waitFor("sign-ups during the outage", func(as []attempt) bool {
		return time.Since(killed) >= outage && count(as, func(at attempt) bool { return at.start.After(killed) }) >= workers
	})
	restartBegin := time.Now()
	srv.Restart()
	restarted := time.Now()
	t.Logf("killed, down %v, restart took %v", restartBegin.Sub(killed).Round(time.Millisecond), restarted.Sub(restartBegin).Round(time.Millisecond))
	// Run on until the portal has recovered.
	waitFor("accounts created after the restart", func(as []attempt) bool {
		return count(as, func(at attempt) bool { return at.start.After(restarted) && at.r.Outcome == bench.Created }) >= 2*workers
	})
	stop.Store(true)
	wg.Wait()

	var first *attempt // the first account created after the restart
	var outageAnswers []time.Duration
	counts := map[string]int{}
	for i, at := range attempts {
		r := at.r
		phase := "around" // in flight when the server died or came back
		switch {
		case at.end.Before(killStart):
			phase = "before"
		case at.start.After(restarted):
			phase = "after"
		case at.start.After(killed) && at.end.Before(restartBegin):
			phase = "during"
		}
		counts[phase+" "+r.Outcome.String()]++
		// A sign-up that ran into xmpp.timeout failed for lack of time, which a
		// busy machine may cause while the server is up; one that failed
		// sooner failed for another reason.
		timedOut := r.Post >= xmppTimeout
		if phase == "before" && r.Outcome != bench.Created && !timedOut {
			t.Errorf("%s failed before the server was killed: %s %d %v", at.user, r.Outcome, r.Status, r.Err)
		}
		switch r.Outcome {
		case bench.Created:
			if phase == "during" {
				t.Errorf("%s created while the server was down", at.user)
			}
			if phase == "after" && (first == nil || at.end.Before(first.end)) {
				first = &attempts[i]
			}
		case bench.Unavailable:
			if !strings.Contains(string(r.Body), unavailable) {
				t.Errorf("%s (%s): 503 without the server-unavailable message:\n%s", at.user, phase, r.Body)
			}
		case bench.Unknown:
			// Sent, never answered: the portal says it cannot tell. Only a
			// request in flight at the kill, or one that ran out of time
			// while the server was slow, may get this.
			if phase != "around" && !timedOut {
				t.Errorf("%s (%s): outcome reported as unknown although the server was not lost during it and it did not run out of time", at.user, phase)
			}
		default:
			t.Errorf("%s (%s): %s, status %d, err %v: only created, server unavailable or (in flight) unknown are right answers; the page says: %s",
				at.user, phase, r.Outcome, r.Status, r.Err, alertText(r.Body))
		}
		if phase == "during" {
			outageAnswers = append(outageAnswers, r.Post)
		}
		if phase == "during" && r.Outcome != bench.Unavailable {
			t.Errorf("%s during the outage: %s (%d), want the server-unavailable page", at.user, r.Outcome, r.Status)
		}
		if limit := xmppTimeout + margin + meter.lost(at.end.Add(-r.Post), at.end); r.Post > limit {
			t.Errorf("%s (%s): the answer took %v, longer than xmpp.timeout %v (limit %v with the time lost to load)",
				at.user, phase, r.Post.Round(time.Millisecond), xmppTimeout, limit.Round(time.Millisecond))
		}
	}
	slices.Sort(outageAnswers)
	t.Logf("outcomes by phase: %v; answers during the outage: p50 %v, max %v", counts,
		bench.Percentile(outageAnswers, 50).Round(time.Millisecond), bench.Percentile(outageAnswers, 100).Round(time.Millisecond))
	if counts["during unavailable"] < workers {
		t.Errorf("only %d sign-ups ran entirely during the outage: the test proves little", counts["during unavailable"])
	}
	if first == nil {
		t.Fatal("no account created after the restart")
	}
	// Recovery: within 5 s on a quiet machine. On a busy one, the portal may
	// wait its reconnect backoff (admin mode), then one sign-up cycle (the
	// pause and a failed attempt) and the sign-up that recovered, each as
	// long as it was measured, and the time lost meanwhile.
	rec := first.end.Sub(restarted)
	var backoff, cycle time.Duration
	if mode == testenv.ModeAdmin {
		backoff = xmpp.AdminBackoffMax
	}
	for _, at := range attempts {
		if at.start.After(restarted) && at.r.Outcome != bench.Created {
			cycle = max(cycle, at.end.Sub(at.start))
		}
	}
	cycle += pause
	limit := max(recovery, backoff+cycle+first.end.Sub(first.start)+meter.lost(restarted, first.end))
	if rec > limit {
		t.Errorf("first account after the restart took %v, want ≤ %v", rec.Round(time.Millisecond), limit.Round(time.Millisecond))
	} else {
		t.Logf("recovered %v after the restart (limit %v)", rec.Round(time.Millisecond), limit.Round(time.Millisecond))
	}
	acc := ledger.Verify(ctx, srv.XMPP(), 4)
	t.Logf("accounting: %s", acc)
	if !acc.OK() {
		t.Error("accounting failed: " + acc.String())
	}
	logs.mu.Lock()
	logs.bad = nil // error lines about the lost server are expected here
	logs.mu.Unlock()
	logs.check(t)
}

// alertText returns the text of a page's error alert, for messages.
func alertText(body []byte) string {
	_, after, ok := strings.Cut(string(body), `class="alert error"`)
	if !ok {
		return "(no alert)"
	}
	after, _, _ = strings.Cut(after, "</div>")
	return after
}

func mustBundle(t *testing.T) *i18n.Bundle {
	t.Helper()
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResilienceSlowClients: connections that send their headers or their
// body slowly are cut by the server's timeouts (http.read_header_timeout,
// http.read_timeout), and the portal keeps serving everybody else quickly
// meanwhile. Each bound on elapsed time is its quiet-machine value plus the
// time a stallMeter saw lost in its window; visitors are served until every
// slow connection was cut.
func TestResilienceSlowClients(t *testing.T) {
	const (
		headerTimeout = time.Second
		readTimeout   = 2 * time.Second
		margin        = 2 * time.Second // cut after the timeout, on a quiet machine
		visitorWait   = time.Second     // p99 of the visitors, on a quiet machine
		minVisitors   = 20
		slow          = 25 // connections of each kind
	)
	meter := startStallMeter(t)
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn"})
	_, base, logs := startResilientPortal(t, srv, map[string]string{
		"PORTAL_HTTP_READ_HEADER_TIMEOUT": headerTimeout.String(),
		"PORTAL_HTTP_READ_TIMEOUT":        readTimeout.String(),
	})
	addr := strings.TrimPrefix(base, "http://")

	type cut struct {
		kind       string
		start, end time.Time
		answer     string
		stalled    bool
	}
	cuts := make(chan cut, 2*slow)
	// trickle opens a connection, sends head at once and then one byte of
	// drip every 200 ms, and reports when the server ended the exchange (or
	// that it did not within the hang limit).
	trickle := func(kind, head, drip string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			cuts <- cut{kind: kind, answer: "dial: " + err.Error(), stalled: true}
			return
		}
		defer c.Close()
		start := time.Now()
		c.SetDeadline(start.Add(resHangLimit))
		if _, err := io.WriteString(c, head); err != nil {
			cuts <- cut{kind: kind, answer: "write: " + err.Error(), stalled: true}
			return
		}
		got := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(c) // until the server closes
			first, _, _ := strings.Cut(string(b), "\r\n")
			got <- first
		}()
		for i := 0; ; i = (i + 1) % len(drip) {
			select {
			case first := <-got:
				cuts <- cut{kind: kind, start: start, end: time.Now(), answer: first}
				return
			case <-time.After(200 * time.Millisecond):
				if time.Since(start) > resHangLimit {
					cuts <- cut{kind: kind, start: start, end: time.Now(), stalled: true}
					return
				}
				c.Write([]byte{drip[i]}) // errors once the server closed: fine
			}
		}
	}
	body := "username=slow&password=aaaaaaaaaaaa&password2=aaaaaaaaaaaa&captcha_id=x&captcha=1&" + strings.Repeat("a", 4000)
	attackStart := time.Now()
	for i := 0; i < slow; i++ {
		go trickle("slow headers", "GET /register HTTP/1.1\r\nHost: "+addr+"\r\n", "X-Slow: abcdefghijklmnopqrstuvwxyz\r\n")
		go trickle("slow body", "POST /register HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n", body)
	}
	var all []cut
	allCut := make(chan struct{})
	go func() {
		defer close(allCut)
		for range 2 * slow {
			all = append(all, <-cuts)
		}
	}()

	// Meanwhile, ordinary visitors, until every slow connection is cut (and
	// at least minVisitors were served).
	client := bench.NewClient(4, 10*time.Second)
	defer client.CloseIdleConnections()
	rec := bench.NewRecorder()
	var served atomic.Int64
	visitCtx, stopVisits := context.WithCancel(context.Background())
	defer stopVisits()
	go func() {
		<-allCut
		for served.Load() < minVisitors && visitCtx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		stopVisits()
	}()
	bench.Run(visitCtx, 4, resHangLimit, func(_ context.Context, w, i int) {
		path := []string{"/", "/register"}[i%2]
		t0 := time.Now()
		resp, err := client.Get(base + path)
		if err != nil {
			rec.Add("visitor", 0, err, time.Since(t0))
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rec.Add("visitor", resp.StatusCode, nil, time.Since(t0))
		served.Add(1)
	})
	attackEnd := time.Now()
	<-allCut
	st := rec.Stats("visitor")
	t.Logf("visitors during the attack: %d requests (%s), p50 %v, p99 %v, max %v", st.Count, st.StatusString(), st.P50, st.P99, st.Max)
	if st.Count < minVisitors || st.Status[200] != st.Count {
		t.Errorf("visitors were not served: %s (first error %v)", st.StatusString(), st.FirstErr)
	}
	if limit := visitorWait + meter.lost(attackStart, attackEnd); st.P99 > limit {
		t.Errorf("visitors waited: p99 %v, limit %v with the time lost to load", st.P99, limit.Round(time.Millisecond))
	}

	limits := map[string]time.Duration{"slow headers": headerTimeout + margin, "slow body": readTimeout + margin}
	worst := map[string]time.Duration{}
	for _, c := range all {
		if c.stalled {
			t.Errorf("%s: never cut (%s)", c.kind, c.answer)
			continue
		}
		after := c.end.Sub(c.start)
		if limit := limits[c.kind] + meter.lost(c.start, c.end); after > limit {
			t.Errorf("%s: cut after %v, want ≤ %v (with the time lost to load)", c.kind, after.Round(time.Millisecond), limit.Round(time.Millisecond))
		}
		if c.answer != "" && !strings.HasPrefix(c.answer, "HTTP/1.1 4") {
			t.Errorf("%s: answered %q", c.kind, c.answer)
		}
		worst[c.kind] = max(worst[c.kind], after)
	}
	t.Logf("slowest cut: headers %v, body %v", worst["slow headers"].Round(time.Millisecond), worst["slow body"].Round(time.Millisecond))
	logs.check(t)
}

// TestResilienceFormFloodCannotLockOut: every sign-up form holds a new
// captcha in the store, so a client loading the form in a loop would fill
// the memory store (store.max_keys) and lock everybody out of signing up for
// captcha.ttl. With the default budgets the flood is cut per client (429)
// and another client still signs up.
func TestResilienceFormFloodCannotLockOut(t *testing.T) {
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn"})
	// Default abuse budgets; about the smallest memory store the
	// configuration allows with them (it refuses a store in which the onion
	// listener or one network could hold more than its share: 79,960 keys).
	a, base, _ := startResilientPortal(t, srv, map[string]string{
		"PORTAL_ABUSE_SIGNUPS_PER_HOUR":                   "10",
		"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE":                "30",
		"PORTAL_ABUSE_GLOBAL_SIGNUPS_PER_HOUR":            "100",
		"PORTAL_ABUSE_CREDENTIAL_CHECKS_PER_MINUTE":       "10",
		"PORTAL_ABUSE_ONION_SIGNUPS_PER_HOUR":             "20",
		"PORTAL_ABUSE_ONION_CREDENTIAL_CHECKS_PER_MINUTE": "30",
		"PORTAL_STORE_MAX_KEYS":                           "80000",
	})
	from := func(ip string) *http.Client {
		c := bench.NewClient(4, 10*time.Second)
		c.Transport.(*http.Transport).DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext
		return c
	}
	flooder := from("127.0.0.2")
	rec := bench.NewRecorder()
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bench.Run(ctx, 4, time.Minute, func(ctx context.Context, w, i int) {
		if n.Add(1) > 1500 {
			cancel()
			return
		}
		t0 := time.Now()
		resp, err := flooder.Get(base + "/register")
		if err != nil {
			rec.Add("flood", 0, err, time.Since(t0))
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rec.Add("flood", resp.StatusCode, nil, time.Since(t0))
	})
	st := rec.Stats("flood")
	t.Logf("flood of 1500 form loads from one client: %s", st.StatusString())
	if st.Status[http.StatusTooManyRequests] == 0 || st.Status[http.StatusOK] > 100 {
		t.Errorf("the flood was not cut: %s", st.StatusString())
	}
	su := &bench.Signup{Base: base, Client: from("127.0.0.3"), Domain: srv.Domain, Answer: testenv.CaptchaAnswer(a.Store)}
	if r := su.Do(context.Background(), "afterflood", resPassword, false); r.Outcome != bench.Created {
		t.Fatalf("another client cannot sign up after the flood: %s %d %v\n%s", r.Outcome, r.Status, r.Err, r.Body)
	}
}
