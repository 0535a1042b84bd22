package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/app"
	"github.com/xmpp-portal/portal/internal/bench"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// Resilience tests: load, the XMPP server killed mid-load, slow clients. They
// run the real portal (app.New, real listener, memory store) against a real
// Prosody and stay well under a minute each on two shared cores.
// PORTAL_RESILIENCE_SECONDS lengthens the load (default 10).

// resGenerous are budgets far above what the tests reach: the limiter does
// its work on every request but never refuses.
var resGenerous = map[string]string{
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
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PORTAL_XMPP_DOMAIN":         srv.Domain,
		"PORTAL_XMPP_ADDR":           srv.Addr,
		"PORTAL_XMPP_MODE":           srv.Mode,
		"PORTAL_XMPP_CA_FILE":        ca,
		"PORTAL_XMPP_ADMIN_JID":      srv.AdminJID.String(),
		"PORTAL_XMPP_ADMIN_PASSWORD": srv.AdminPassword,
	}
	for k, v := range resGenerous {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &lineLog{}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
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
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("portal did not shut down")
		}
		a.Close()
	})
	<-a.Ready
	return a, "http://" + ln.Addr().String(), logs
}

func resilienceSeconds() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("PORTAL_RESILIENCE_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

const resPassword = "amber window seventy two"

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
	su := &bench.Signup{Base: base, Client: client, Domain: srv.Domain, Peek: a.Captchas.Peek, UnknownText: unknown}

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
	bench.Run(ctx, pageWorkers+signupWorkers, resilienceSeconds(), func(ctx context.Context, w, i int) {
		if w < pageWorkers {
			t0 := time.Now()
			id, status, err := su.Form(ctx)
			rec.Add("page", status, noAnswer(status, err), time.Since(t0))
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
	if ledger.Count(bench.Created) < 20 || pages.Count < 200 {
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
func TestResilienceXMPPServerKilled(t *testing.T) {
	for _, mode := range []string{testenv.ModeAdmin, testenv.ModeIBR} {
		t.Run(mode, func(t *testing.T) { killDuringSignups(t, mode) })
	}
}

func killDuringSignups(t *testing.T, mode string) {
	const (
		xmppTimeout = 2 * time.Second
		margin      = 1500 * time.Millisecond // HTTP, scheduling on shared cores
		outage      = 3 * time.Second
		recovery    = 5 * time.Second
		workers     = 4
	)
	srv := testenv.StartProsody(t, testenv.Options{Mode: mode, LogLevel: "warn"})
	a, base, logs := startResilientPortal(t, srv, map[string]string{"PORTAL_XMPP_TIMEOUT": xmppTimeout.String()})
	ctx := context.Background()
	client := bench.NewClient(workers, 30*time.Second)
	defer client.CloseIdleConnections()
	unknown, err := bench.UnknownOutcomeText()
	if err != nil {
		t.Fatal(err)
	}
	su := &bench.Signup{Base: base, Client: client, Domain: srv.Domain, Peek: a.Captchas.Peek, UnknownText: unknown}
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
					time.Sleep(50 * time.Millisecond) // a user reading the error page
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	killStart := time.Now()
	srv.Kill() // returns once the process is gone
	killed := time.Now()
	time.Sleep(outage)
	restartBegin := time.Now()
	srv.Restart()
	restarted := time.Now()
	t.Logf("killed, down %v, restart took %v", restartBegin.Sub(killed).Round(time.Millisecond), restarted.Sub(restartBegin).Round(time.Millisecond))
	// Run on until the portal has recovered (or clearly has not).
	deadline := restarted.Add(recovery + 3*time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		ok := 0
		for _, at := range attempts {
			if at.start.After(restarted) && at.r.Outcome == bench.Created {
				ok++
			}
		}
		mu.Unlock()
		if ok >= 2*workers {
			break
		}
	}
	stop.Store(true)
	wg.Wait()

	var firstOK time.Time
	var outageAnswers []time.Duration
	counts := map[string]int{}
	for _, at := range attempts {
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
		if phase == "before" && r.Outcome != bench.Created {
			t.Errorf("%s failed before the server was killed: %s %d %v", at.user, r.Outcome, r.Status, r.Err)
		}
		switch r.Outcome {
		case bench.Created:
			if phase == "during" {
				t.Errorf("%s created while the server was down", at.user)
			}
			if phase == "after" && (firstOK.IsZero() || at.end.Before(firstOK)) {
				firstOK = at.end
			}
		case bench.Unavailable:
			if !strings.Contains(string(r.Body), unavailable) {
				t.Errorf("%s (%s): 503 without the server-unavailable message:\n%s", at.user, phase, r.Body)
			}
		case bench.Unknown:
			// Sent just before the kill, never answered: the portal says it
			// cannot tell. Only a request in flight at the kill may get this.
			if phase != "around" {
				t.Errorf("%s (%s): outcome reported as unknown although the server was not lost during it", at.user, phase)
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
		if r.Post > xmppTimeout+margin {
			t.Errorf("%s (%s): the answer took %v, longer than xmpp.timeout %v", at.user, phase, r.Post.Round(time.Millisecond), xmppTimeout)
		}
	}
	slices.Sort(outageAnswers)
	t.Logf("outcomes by phase: %v; answers during the outage: p50 %v, max %v", counts,
		bench.Percentile(outageAnswers, 50).Round(time.Millisecond), bench.Percentile(outageAnswers, 100).Round(time.Millisecond))
	if counts["during unavailable"] < workers {
		t.Errorf("only %d sign-ups ran entirely during the outage: the test proves little", counts["during unavailable"])
	}
	if firstOK.IsZero() {
		t.Fatalf("no account created within %v after the restart", deadline.Sub(restarted))
	}
	if rec := firstOK.Sub(restarted); rec > recovery {
		t.Errorf("first account after the restart took %v, want ≤ %v", rec.Round(time.Millisecond), recovery)
	} else {
		t.Logf("recovered %v after the restart", rec.Round(time.Millisecond))
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
// meanwhile.
func TestResilienceSlowClients(t *testing.T) {
	const (
		headerTimeout = time.Second
		readTimeout   = 2 * time.Second
		margin        = 2 * time.Second
		slow          = 25 // connections of each kind
	)
	srv := testenv.StartProsody(t, testenv.Options{Mode: testenv.ModeAdmin, LogLevel: "warn"})
	_, base, logs := startResilientPortal(t, srv, map[string]string{
		"PORTAL_HTTP_READ_HEADER_TIMEOUT": headerTimeout.String(),
		"PORTAL_HTTP_READ_TIMEOUT":        readTimeout.String(),
	})
	addr := strings.TrimPrefix(base, "http://")

	type cut struct {
		kind    string
		after   time.Duration
		answer  string
		stalled bool
	}
	cuts := make(chan cut, 2*slow)
	// trickle opens a connection, sends head at once and then one byte of
	// drip every 200 ms, and reports when the server ended the exchange.
	trickle := func(kind, head, drip string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			cuts <- cut{kind: kind, answer: "dial: " + err.Error(), stalled: true}
			return
		}
		defer c.Close()
		start := time.Now()
		c.SetDeadline(start.Add(readTimeout + 3*margin))
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
				cuts <- cut{kind: kind, after: time.Since(start), answer: first}
				return
			case <-time.After(200 * time.Millisecond):
				if time.Since(start) > readTimeout+3*margin {
					cuts <- cut{kind: kind, after: time.Since(start), stalled: true}
					return
				}
				c.Write([]byte{drip[i]}) // errors once the server closed: fine
			}
		}
	}
	body := "username=slow&password=aaaaaaaaaaaa&password2=aaaaaaaaaaaa&captcha_id=x&captcha=1&" + strings.Repeat("a", 4000)
	for i := 0; i < slow; i++ {
		go trickle("slow headers", "GET /register HTTP/1.1\r\nHost: "+addr+"\r\n", "X-Slow: abcdefghijklmnopqrstuvwxyz\r\n")
		go trickle("slow body", "POST /register HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n", body)
	}

	// Meanwhile, ordinary visitors.
	client := bench.NewClient(4, 10*time.Second)
	defer client.CloseIdleConnections()
	rec := bench.NewRecorder()
	bench.Run(context.Background(), 4, readTimeout+margin, func(ctx context.Context, w, i int) {
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
	})
	st := rec.Stats("visitor")
	t.Logf("visitors during the attack: %d requests (%s), p50 %v, p99 %v, max %v", st.Count, st.StatusString(), st.P50, st.P99, st.Max)
	if st.Count < 20 || st.Status[200] != st.Count {
		t.Errorf("visitors were not served: %s (first error %v)", st.StatusString(), st.FirstErr)
	}
	if st.P99 > time.Second {
		t.Errorf("visitors waited: p99 %v", st.P99)
	}

	limits := map[string]time.Duration{"slow headers": headerTimeout + margin, "slow body": readTimeout + margin}
	worst := map[string]time.Duration{}
	for i := 0; i < 2*slow; i++ {
		c := <-cuts
		if c.stalled {
			t.Errorf("%s: never cut (%s)", c.kind, c.answer)
			continue
		}
		if c.after > limits[c.kind] {
			t.Errorf("%s: cut after %v, want ≤ %v", c.kind, c.after.Round(time.Millisecond), limits[c.kind])
		}
		if c.answer != "" && !strings.HasPrefix(c.answer, "HTTP/1.1 4") {
			t.Errorf("%s: answered %q", c.kind, c.answer)
		}
		worst[c.kind] = max(worst[c.kind], c.after)
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
	// Default abuse budgets; the smallest memory store the configuration allows.
	a, base, _ := startResilientPortal(t, srv, map[string]string{
		"PORTAL_ABUSE_SIGNUPS_PER_HOUR":        "10",
		"PORTAL_ABUSE_CAPTCHAS_PER_MINUTE":     "30",
		"PORTAL_ABUSE_GLOBAL_SIGNUPS_PER_HOUR": "100",
		"PORTAL_STORE_MAX_KEYS":                "1000",
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
	su := &bench.Signup{Base: base, Client: from("127.0.0.3"), Domain: srv.Domain, Peek: a.Captchas.Peek}
	if r := su.Do(context.Background(), "afterflood", resPassword, false); r.Outcome != bench.Created {
		t.Fatalf("another client cannot sign up after the flood: %s %d %v\n%s", r.Outcome, r.Status, r.Err, r.Body)
	}
}
