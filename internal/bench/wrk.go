package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PageLoad is the outcome of hammering one URL.
type PageLoad struct {
	Tool     string // "wrk" or "go"
	Requests int
	Duration time.Duration
	Rate     float64 // requests per second
	Non2xx   int     // answers other than 2xx/3xx
	Errors   int     // socket errors (connect, read, write, timeout)
	P50, P99 time.Duration
	Bytes    int64 // bytes read, headers included (wrk) or bodies only (go)
}

// WrkPath returns the wrk binary's path, or "" when it is not installed.
func WrkPath() string {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return ""
	}
	return p
}

// LoadPage sends GET url from conns keep-alive connections for d, with wrk
// when it is installed (it costs far less CPU than a Go client, which shares
// the cores with the server measured) and with a Go client otherwise.
func LoadPage(ctx context.Context, url string, conns int, d time.Duration, header http.Header) (PageLoad, error) {
	if w := WrkPath(); w != "" {
		return runWrk(ctx, w, url, conns, d, header)
	}
	return goLoad(ctx, url, conns, d, header)
}

func runWrk(ctx context.Context, bin, url string, conns int, d time.Duration, header http.Header) (PageLoad, error) {
	threads := min(2, conns)
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--latency", "--timeout", "10s"}
	for k, vs := range header {
		for _, v := range vs {
			args = append(args, "-H", k+": "+v)
		}
	}
	args = append(args, url)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return PageLoad{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	pl, err := ParseWrk(string(out))
	if err != nil {
		return pl, fmt.Errorf("%w\n%s", err, out)
	}
	return pl, nil
}

// ParseWrk reads the summary wrk prints with --latency.
func ParseWrk(out string) (PageLoad, error) {
	pl := PageLoad{Tool: "wrk"}
	var haveReq, haveRate bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "13831 requests in 5.03s, 48.74MB read"
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return pl, fmt.Errorf("wrk: requests %q", f[0])
			}
			pl.Requests, haveReq = n, true
			if d, err := time.ParseDuration(strings.TrimSuffix(f[3], ",")); err == nil {
				pl.Duration = d
			}
			if len(f) >= 5 {
				pl.Bytes = parseSize(f[4])
			}
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return pl, fmt.Errorf("wrk: rate %q", f[1])
			}
			pl.Rate, haveRate = v, true
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			pl.Non2xx, _ = strconv.Atoi(f[4])
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 0, write 0, timeout 12"
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				pl.Errors += n
			}
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return pl, err
			}
			if f[0] == "50%" {
				pl.P50 = d
			} else {
				pl.P99 = d
			}
		}
	}
	if !haveReq || !haveRate {
		return pl, fmt.Errorf("wrk: no summary in the output")
	}
	return pl, nil
}

// parseWrkDuration reads wrk's "1.23ms", "552.12us", "1.02s", "2.00m".
func parseWrkDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "m") && !strings.HasSuffix(s, "ms") {
		s += "0s" // minutes: "2.00m" -> "2.00m0s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("wrk: duration %q", s)
	}
	return d, nil
}

// parseSize reads wrk's "48.74MB" (binary units); 0 if it cannot.
func parseSize(s string) int64 {
	s = strings.TrimSuffix(s, ",")
	mult := float64(1)
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return int64(v * mult)
}

// goLoad is LoadPage's fallback without wrk.
func goLoad(ctx context.Context, url string, conns int, d time.Duration, header http.Header) (PageLoad, error) {
	client := NewClient(conns, 10*time.Second)
	defer client.CloseIdleConnections()
	rec := NewRecorder()
	var read atomic.Int64
	elapsed := Run(ctx, conns, d, func(ctx context.Context, _, _ int) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			rec.Add("get", 0, err, 0)
			return
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		if h := header.Get("Host"); h != "" {
			req.Host = h
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			rec.Add("get", 0, err, time.Since(t0))
			return
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rec.Add("get", resp.StatusCode, err, time.Since(t0))
		read.Add(n)
	})
	st := rec.Stats("get")
	pl := PageLoad{Tool: "go", Requests: st.Count, Duration: elapsed, Errors: st.Errors, P50: st.P50, P99: st.P99, Bytes: read.Load()}
	for code, n := range st.Status {
		if code < 200 || code >= 400 {
			pl.Non2xx += n
		}
	}
	if elapsed > 0 {
		pl.Rate = float64(st.Count) / elapsed.Seconds()
	}
	return pl, nil
}
