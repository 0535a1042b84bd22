package bench

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const wrkOutput = `Running 5s test @ http://127.0.0.1:18080/register
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    42.70ms   63.82ms 552.12ms   89.55%
    Req/Sec     1.46k     1.00k    4.36k    65.22%
  Latency Distribution
     50%    1.23ms
     75%    5.00ms
     90%   80.10ms
     99%  552.12us
  13831 requests in 5.03s, 48.74MB read
  Socket errors: connect 1, read 2, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:   2747.45
Transfer/sec:      9.68MB
`

func TestParseWrk(t *testing.T) {
	pl, err := ParseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := PageLoad{Tool: "wrk", Requests: 13831, Duration: 5030 * time.Millisecond, Rate: 2747.45, Non2xx: 5, Errors: 15,
		P50: 1230 * time.Microsecond, P99: 552120 * time.Nanosecond, Bytes: int64(51107594)}
	if pl != want {
		t.Fatalf("got  %+v\nwant %+v", pl, want)
	}
	for name, out := range map[string]string{
		"empty":     "",
		"no rate":   strings.ReplaceAll(wrkOutput, "Requests/sec:", "Something:"),
		"bad count": strings.ReplaceAll(wrkOutput, "13831 requests", "many requests"),
	} {
		if _, err := ParseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"1.23ms": 1230 * time.Microsecond, "552.12us": 552120 * time.Nanosecond,
		"1.02s": 1020 * time.Millisecond, "2.00m": 2 * time.Minute} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkDuration("soon"); err == nil {
		t.Error("no error for garbage")
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tportal\nVmPeak:\t  1 kB\nVmHWM:\t   30028 kB\nVmRSS:\t   29084 kB\nRssAnon:\t    4012 kB\nRssFile:\t 25072 kB\n"
	rss, anon, hwm, err := parseStatus([]byte(status))
	if err != nil || rss != 29084*1024 || anon != 4012*1024 || hwm != 30028*1024 {
		t.Fatalf("got %d %d %d %v", rss, anon, hwm, err)
	}
	for name, s := range map[string]string{
		"kernel thread": "Name:\tkthreadd\nState:\tS\n",
		"odd unit":      "VmHWM:\t1 MB\nVmRSS:\t1 kB\nRssAnon:\t1 kB\n",
		"not a number":  "VmHWM:\tx kB\nVmRSS:\t1 kB\nRssAnon:\t1 kB\n",
	} {
		if _, _, _, err := parseStatus([]byte(s)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command may contain spaces and parentheses.
	stat := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 500 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat), 100)
	if err != nil || got != 3*time.Second {
		t.Fatalf("got %v %v, want 3s", got, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2"), 100); err == nil {
		t.Error("short line: no error")
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(1)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	_ = p
	rss, err := SelfRSS()
	if err != nil || rss <= 0 {
		t.Fatalf("SelfRSS = %d, %v", rss, err)
	}
	s := StartSampler(1, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if max, n, err := s.Stop(); err != nil || n < 2 || max <= 0 {
		t.Fatalf("sampler: max %d, %d samples, %v", max, n, err)
	}
}

func TestPercentileAndRecorder(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 90: 90 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := Percentile(lat, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty percentile")
	}
	r := NewRecorder()
	for i := 0; i < 10; i++ {
		r.Add("x", 200, nil, time.Duration(i)*time.Millisecond)
	}
	r.Add("x", 503, nil, time.Second)
	r.Add("x", 0, errors.New("reset"), time.Second)
	st := r.Stats("x")
	if st.Count != 12 || st.Errors != 1 || st.Count5xx() != 1 || st.Status[200] != 10 || st.Max != time.Second || st.FirstErr == nil {
		t.Fatalf("stats %+v", st)
	}
	if got := st.StatusString(); got != "200×10 503×1 error×1" {
		t.Errorf("StatusString = %q", got)
	}
	if r.Stats("none").Count != 0 {
		t.Error("unknown label has calls")
	}
}

func TestRunIsBoundedAndFinishesCalls(t *testing.T) {
	var started, finished atomic.Int64
	elapsed := Run(context.Background(), 4, 30*time.Millisecond, func(ctx context.Context, w, i int) {
		started.Add(1)
		time.Sleep(10 * time.Millisecond)
		finished.Add(1)
	})
	if started.Load() == 0 || started.Load() != finished.Load() {
		t.Fatalf("started %d, finished %d", started.Load(), finished.Load())
	}
	if elapsed < 30*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("elapsed %v", elapsed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	Run(ctx, 2, time.Hour, func(context.Context, int, int) { n++ })
	if n != 0 {
		t.Fatalf("cancelled run made %d calls", n)
	}
}

func TestClassify(t *testing.T) {
	const addr = "bob@example.test"
	ok := []byte(`<p>You are <a href="xmpp:bob@example.test">bob</a></p>`)
	tests := []struct {
		status int
		body   []byte
		want   Outcome
	}{
		{200, ok, Created},
		{200, []byte("the form again"), Refused},
		{409, nil, Refused},
		{400, ok, Refused},
		{429, nil, Refused},
		{503, nil, Unavailable},
		{502, nil, ServerError},
		{500, ok, ServerError},
		{0, nil, Failed},
	}
	for _, tc := range tests {
		if got := classify(tc.status, tc.body, addr); got != tc.want {
			t.Errorf("classify(%d, %q) = %s, want %s", tc.status, tc.body, got, tc.want)
		}
	}
	if wrong("123890") != "234901" || wrong("") != "0" {
		t.Errorf("wrong: %q %q", wrong("123890"), wrong(""))
	}
}

func TestMedianAndUnits(t *testing.T) {
	if Median([]int64{5, 1, 3}) != 3 || Median([]time.Duration{4, 1, 3, 2}) != 3 || Median([]int64(nil)) != 0 {
		t.Error("median")
	}
	if MB(25e6) != "25.0 MB" || KB(20e3) != "20.0 KB" {
		t.Error(MB(25e6), KB(20e3))
	}
	if parseSize("48.74MB") != 51107594 || parseSize("12B") != 12 || parseSize("x") != 0 {
		t.Error("parseSize")
	}
}

func TestReportMarkdown(t *testing.T) {
	r := &Report{Date: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), Machine: Machine{CPUs: 2, CPUModel: "Test CPU", MemTotal: 4e9},
		LoadStart: "0.10 0.20 0.30", LoadEnd: "1.00 1.00 1.00",
		Signup: []SignupRow{{Mode: "admin", Clients: 4, Raw: Throughput{Rate: 100}, Portal: Throughput{Rate: 97}}},
		Pages:  []PageRow{{Name: "form", Portal: PageLoad{Rate: 9000}, Baseline: PageLoad{Rate: 3000}, Target: 3}},
		Goals:  []Goal{{Name: "g1", Figure: "0.97×", Target: "≥ 0.95×", Met: true}, {Name: "g2", Figure: "1×", Target: "≥ 3×"}},
	}
	md := r.Markdown("## Findings\n")
	for _, want := range []string{"2026-11-22 12:00 UTC", "0.10 0.20 0.30", "| admin | 4 | 100.0 | 97.0 | **0.970×**", "**3.00×**",
		"| g1 | 0.97× | ≥ 0.95× | **met** |", "| g2 | 1× | ≥ 3× | **missed** |", "## 3. Export", "## Findings"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if s := r.Summary(); !strings.Contains(s, "1 of 2 goals met") || !strings.Contains(s, "MISSED") {
		t.Errorf("summary:\n%s", s)
	}
}
