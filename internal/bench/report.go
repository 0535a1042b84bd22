package bench

import (
	"fmt"
	"strings"
	"time"
)

// Report is everything one benchmark run measured; Markdown renders it as
// docs/benchmarks.md.
type Report struct {
	Date      time.Time
	Machine   Machine
	LoadStart string // load averages when the run started
	LoadEnd   string
	// SectionLoads is the 1-minute load average as each section started
	// ("pages 1.20").
	SectionLoads []string
	Duration     time.Duration // of the whole run
	Settings     string        // durations and connection counts used

	Signup       []SignupRow
	SignupRounds int          // rounds of raw, portal, portal, raw per sign-up cell
	WebForm      []WebFormRow // sign-ups against Prosody's own web form
	WebFormNote  string       // how the comparison was set up (server, rounds)
	Pages        []PageRow
	Footprint    Footprint
	Load         *LoadRun
	Export       *ExportBench // nil when not measured
	CaptchaRead  *CaptchaRead // the captcha read by OCR and speech recognition; nil when not measured
	Goals        []Goal
	Notes        []string // remarks of this run (tools used, anomalies)
}

// SignupRow compares accounts per second through the portal with the raw
// XMPP operation at one concurrency.
type SignupRow struct {
	Mode      string // admin or ibr
	Clients   int
	Raw       Throughput
	Portal    Throughput
	RawOp     string // what the baseline did
	Anomalies string // failures seen, if any
}

// WebFormRow compares sign-ups through the portal (admin mode, its real
// HTTP flow) with sign-ups through Prosody's own web form
// (mod_register_web) on the same Prosody at one concurrency; raw add-user
// from Go on the same server is measured alongside, as the server's
// ceiling for anything that creates accounts with the admin command.
type WebFormRow struct {
	Clients int
	Portal  Throughput
	Form    Throughput
	Raw     Throughput
	// Prosody's CPU time (user+system) per account created, on each side.
	ServerCPUPortal, ServerCPUForm, ServerCPURaw time.Duration
	// The benchmark process's CPU per account: the in-process portal plus
	// the load generator on the portal side, the load generator alone on
	// the form side.
	GoCPUPortal, GoCPUForm time.Duration
	Anomalies              string
}

// Ratio returns portal/form.
func (r WebFormRow) Ratio() float64 { return ratio(r.Portal.Rate, r.Form.Rate) }

// WebFormGoal is the target of the portal against Prosody's own form.
const WebFormGoal = 1.0

// Throughput is a rate with its latencies.
type Throughput struct {
	Rate     float64 // per second
	Count    int     // operations that succeeded
	Failed   int
	P50, P99 time.Duration
}

// Ratio returns portal/raw.
func (r SignupRow) Ratio() float64 { return ratio(r.Portal.Rate, r.Raw.Rate) }

// PageRow is one page under load against the baseline page.
type PageRow struct {
	Name     string
	Portal   PageLoad
	Baseline PageLoad // Prosody's register_web
	// CPU per request of the serving process (portal, Prosody).
	PortalCPU, BaselineCPU time.Duration
	Target                 float64 // goal ratio, 0 for figures without a goal
}

// Ratio returns portal/baseline requests per second.
func (p PageRow) Ratio() float64 { return ratio(p.Portal.Rate, p.Baseline.Rate) }

// Footprint is the portal binary's size on the machine.
type Footprint struct {
	Startup         []time.Duration // start to first page served, per trial
	IdleRSS         []int64         // resident size 1 s after start, per trial
	IdleAnon        []int64         // of which anonymous memory (heap, stacks)
	LoadRSS         int64           // largest resident size during the page load
	LoadRSSNote     string
	IdleAfterLoad   int64
	Pages           []PageSize
	BaselinePage    int64 // bytes of Prosody's register_web page
	BinaryBytes     int64
	ProsodyIdleRSS  int64 // the register_web Prosody, for comparison
	ProsodyLoadRSS  int64
	StoreKeysAtPeak string
}

// PageSize is one page's weight on a first visit.
type PageSize struct {
	Name     string
	Document int64 // HTML bytes
	Total    int64 // HTML plus stylesheet, icon and captcha picture it loads
	Parts    string
}

// LoadRun is the long mixed load against the portal binary.
type LoadRun struct {
	Duration    time.Duration
	Connections int
	Pages       Stats // GET /register + GET captcha picture
	Signups     Stats // the POSTs
	Outcomes    map[string]int
	Accounting  Accounting
	MaxRSS      int64
	HWM         int64
	Alive       bool // the portal still answered /healthz afterwards
	Store       string
}

// Goal is one target of the issue and whether this run met it.
type Goal struct {
	Name, Figure, Target string
	Met                  bool
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func us(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func metStr(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

// Median returns the median of ds (0 for none).
func Median[T int64 | time.Duration](ds []T) T {
	if len(ds) == 0 {
		return 0
	}
	s := append([]T(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// Summary is the plain-text table of goals make bench prints.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "portal benchmarks, %s, %s, load average %s at start, %s at end\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine, r.LoadStart, r.LoadEnd)
	met := 0
	for _, g := range r.Goals {
		res := "MISSED"
		if g.Met {
			res, met = "met", met+1
		}
		fmt.Fprintf(&b, "  %-6s  %-48s %-14s (goal %s)\n", res, g.Name, g.Figure, g.Target)
	}
	fmt.Fprintf(&b, "%d of %d goals met\n", met, len(r.Goals))
	return b.String()
}

// Markdown renders the report; extra is appended verbatim (the findings and
// fixes, kept with the code that writes the file).
func (r *Report) Markdown(extra string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (`scripts/bench.sh`, which runs `TestBenchmarks` in `internal/bench`); do not edit by hand, rerun it.\n\n")
	w("* Date: %s; the run took %s.\n", r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Duration.Round(time.Second))
	w("* Machine: %s.\n", r.Machine)
	w("* Load average (1, 5, 15 min): %s at the start, %s at the end. The machine is shared: a load above about 1 at the start means other work competed for the cores and every figure is lower than on a quiet machine (the ratios less so, as both sides are measured in turn under the same conditions).\n", r.LoadStart, r.LoadEnd)
	if len(r.SectionLoads) > 0 {
		w("* 1-minute load average as each section started: %s.\n", strings.Join(r.SectionLoads, ", "))
	}
	w("* Settings: %s.\n", r.Settings)
	w("* Every figure is a ratio against a baseline measured in the same run on the same machine; the XMPP server is a real Prosody started from `deploy/prosody/prosody.cfg.lua` (`internal/testenv`).\n")
	for _, n := range r.Notes {
		w("* %s\n", n)
	}

	w("\n## Goals\n\n| goal | figure | target | result |\n|---|---|---|---|\n")
	for _, g := range r.Goals {
		w("| %s | %s | %s | %s |\n", g.Name, g.Figure, g.Target, metStr(g.Met))
	}

	w("\n## 1. Sign-up throughput\n\n")
	w("Accounts per second created through the portal's real HTTP flow (GET /register for a fresh form, the captcha answer read from the store the benchmark owns, POST /register, success page) against the same operation done raw from Go with the portal's own XMPP code on the same Prosody: XEP-0133 add-user over one persistent admin session (`signup.Admin`) in admin mode, XEP-0077 in-band registration on a fresh STARTTLS stream per account (`signup.IBR`) in ibr mode. Closed loop: each client starts its next sign-up when the previous one returned. Each cell is the mean of %d runs of each side, in %d rounds of raw, portal, portal, raw (interference from other work on the machine is spread over both sides). Goal: ≥ 0.95× raw.\n\n", 2*max(r.SignupRounds, 1), max(r.SignupRounds, 1))
	if len(r.Signup) == 0 {
		w("Not measured in this run.\n")
	} else {
		w("| mode | clients | raw accounts/s | portal accounts/s | ratio | raw p50 / p99 | portal p50 / p99 (GET+POST) |\n|---|---|---|---|---|---|---|\n")
	}
	for _, s := range r.Signup {
		w("| %s | %d | %.1f | %.1f | **%.3f×** | %s / %s | %s / %s |\n", s.Mode, s.Clients, s.Raw.Rate, s.Portal.Rate, s.Ratio(),
			ms(s.Raw.P50), ms(s.Raw.P99), ms(s.Portal.P50), ms(s.Portal.P99))
	}
	for _, s := range r.Signup {
		if s.Anomalies != "" {
			w("\n* %s, %d clients: %s", s.Mode, s.Clients, s.Anomalies)
		}
	}

	if len(r.WebForm) > 0 {
		w("\n\n### Against Prosody's own web form\n\n")
		w("%s Goal: ≥ %.1f× Prosody's form.\n\n", r.WebFormNote, WebFormGoal)
		w("| clients | portal accounts/s | Prosody form accounts/s | ratio | raw add-user accounts/s | portal p50 / p99 | form p50 / p99 | Prosody CPU per account: portal / form / raw | benchmark process CPU per account: portal side / form side |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.WebForm {
			w("| %d | %.1f | %.1f | **%.3f×** | %.1f | %s / %s | %s / %s | %s / %s / %s | %s / %s |\n", f.Clients, f.Portal.Rate, f.Form.Rate, f.Ratio(), f.Raw.Rate,
				ms(f.Portal.P50), ms(f.Portal.P99), ms(f.Form.P50), ms(f.Form.P99),
				us(f.ServerCPUPortal), us(f.ServerCPUForm), us(f.ServerCPURaw), us(f.GoCPUPortal), us(f.GoCPUForm))
		}
		for _, f := range r.WebForm {
			if f.Anomalies != "" {
				w("\n* %d clients: %s", f.Clients, f.Anomalies)
			}
		}
	}

	w("\n\n## 2. Page throughput\n\n")
	w("Requests per second for one page under a closed-loop load (keep-alive connections), against Prosody's own web registration page (`mod_register_web` from prosody-modules, its built-in arithmetic question as captcha) served by a Prosody started from the same shipped configuration with `register_web` added. The portal runs as its own process (the real `portal` binary, memory store, info-level request log to a file). GET /register creates and stores a fresh captcha on every request. CPU per request is the serving process's user+system time divided by the requests it answered. Goal: ≥ 3× Prosody's page rate.\n\n")
	w("| page | portal req/s | Prosody register_web req/s | ratio | portal p50 / p99 | Prosody p50 / p99 | CPU per request portal / Prosody | non-2xx |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Pages {
		w("| %s | %.0f | %.0f | **%.2f×** | %s / %s | %s / %s | %s / %s | %d / %d |\n", p.Name, p.Portal.Rate, p.Baseline.Rate, p.Ratio(),
			ms(p.Portal.P50), ms(p.Portal.P99), ms(p.Baseline.P50), ms(p.Baseline.P99), us(p.PortalCPU), us(p.BaselineCPU), p.Portal.Non2xx+p.Portal.Errors, p.Baseline.Non2xx+p.Baseline.Errors)
	}

	w("\n## 3. Export\n\n")
	if r.Export == nil {
		w("Not measured in this run.\n")
	} else {
		w("%s", r.Export.Markdown())
		w("%s", ReadableMarkdown(r.Export.Readable))
	}

	f := r.Footprint
	w("\n## 4. Footprint\n\n")
	w("The `portal` binary (%s) as its own process, without tor, memory store. Resident sizes are VmRSS/VmHWM from `/proc/<pid>/status`.\n\n", MB(f.BinaryBytes))
	w("| figure | portal | baseline (Prosody with register_web) | goal |\n|---|---|---|---|\n")
	w("| start-up to first page served (median of %d) | %s | – | – |\n", len(f.Startup), ms(Median(f.Startup)))
	w("| idle RSS 1 s after start (median of %d) | %s (anonymous %s, the rest is the binary's code mapped from the file) | %s | ≤ 25 MB |\n", len(f.IdleRSS), MB(Median(f.IdleRSS)), MB(Median(f.IdleAnon)), MB(f.ProsodyIdleRSS))
	w("| largest RSS during the page loads | %s | %s | – |\n", MB(f.LoadRSS), MB(f.ProsodyLoadRSS))
	w("| RSS 5 s after the page loads | %s | – | – |\n", MB(f.IdleAfterLoad))
	if f.LoadRSSNote != "" {
		w("\n%s\n", f.LoadRSSNote)
	}
	w("\nBytes per page on a first visit (the HTML document; total = document plus the stylesheet, icon and captcha picture it loads; no compression). Goal: ≤ 20 KB. Prosody's register_web page is %s (no stylesheet, no picture).\n\n", KB(f.BaselinePage))
	w("| page | document | total | parts |\n|---|---|---|---|\n")
	for _, p := range f.Pages {
		w("| %s | %s | %s | %s |\n", p.Name, KB(p.Document), KB(p.Total), p.Parts)
	}

	if l := r.Load; l != nil {
		w("\n## 5. Load: %.0f s at %d connections\n\n", l.Duration.Seconds(), l.Connections)
		w("The portal binary (store: %s) against the admin-mode Prosody. Half the connections load the sign-up page and its captcha picture in a loop; the other half sign up (one attempt in ten with a wrong captcha, which must be refused). Afterwards every attempt is checked on the server by logging in with its password.\n\n", l.Store)
		w("| figure | value |\n|---|---|\n")
		w("| page requests | %d (%s), p50 %s, p99 %s |\n", l.Pages.Count, l.Pages.StatusString(), ms(l.Pages.P50), ms(l.Pages.P99))
		w("| sign-up POSTs | %d (%s), p50 %s, p99 %s |\n", l.Signups.Count, l.Signups.StatusString(), ms(l.Signups.P50), ms(l.Signups.P99))
		var outs []string
		for _, k := range []string{"created", "refused", "unavailable", "server_error", "failed"} {
			if n := l.Outcomes[k]; n > 0 {
				outs = append(outs, fmt.Sprintf("%s %d", k, n))
			}
		}
		w("| outcomes | %s |\n", strings.Join(outs, ", "))
		w("| accounting | %s |\n", l.Accounting)
		w("| portal RSS | largest sampled %s, VmHWM %s |\n", MB(l.MaxRSS), MB(l.HWM))
		w("| portal alive afterwards | %v |\n", l.Alive)
	}
	w("%s", r.CaptchaRead.Markdown())
	if extra != "" {
		w("\n%s", extra)
	}
	return b.String()
}
