package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Run calls op from workers goroutines in a closed loop (each starts its next
// call when the previous one returned) until d has passed or ctx is done.
// Calls under way when d passes are finished, not cancelled, so every
// attempt has a known outcome. iter counts the calls of one worker. Run
// returns the time from the start until the last call returned.
func Run(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker, iter int)) time.Duration {
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && time.Now().Before(stop); i++ {
				op(ctx, w, i)
			}
		}(w)
	}
	wg.Wait()
	return time.Since(start)
}

// Recorder collects timed outcomes from many goroutines, by label.
type Recorder struct {
	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	status   map[int]int
	errors   int
	firstErr error
	lat      []time.Duration
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{series: map[string]*series{}} }

// Add records one call: its HTTP status (0 when it failed before an answer),
// its error and how long it took.
func (r *Recorder) Add(label string, status int, err error, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[label]
	if s == nil {
		s = &series{status: map[int]int{}}
		r.series[label] = s
	}
	if err != nil {
		s.errors++
		if s.firstErr == nil {
			s.firstErr = err
		}
	} else {
		s.status[status]++
	}
	s.lat = append(s.lat, d)
}

// Stats summarises one label's calls.
type Stats struct {
	Label    string
	Count    int         // calls, failed ones included
	Errors   int         // calls that got no HTTP answer
	FirstErr error       // the first of them
	Status   map[int]int // answers by status code
	P50, P90 time.Duration
	P99, Max time.Duration
}

// Count5xx is the number of answers with a 5xx status.
func (s Stats) Count5xx() int {
	n := 0
	for code, c := range s.Status {
		if code >= 500 {
			n += c
		}
	}
	return n
}

// StatusString lists the answers by status, e.g. "200×950 503×3".
func (s Stats) StatusString() string {
	codes := make([]int, 0, len(s.Status))
	for c := range s.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, s.Status[c]))
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("error×%d", s.Errors))
	}
	return strings.Join(parts, " ")
}

// Stats returns the summary of label (zero Stats if nothing was recorded).
func (r *Recorder) Stats(label string) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{Label: label, Status: map[int]int{}}
	s := r.series[label]
	if s == nil {
		return st
	}
	st.Count, st.Errors, st.FirstErr = len(s.lat), s.errors, s.firstErr
	for k, v := range s.status {
		st.Status[k] = v
	}
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	st.P50, st.P90, st.P99 = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99)
	if len(lat) > 0 {
		st.Max = lat[len(lat)-1]
	}
	return st
}

// Percentile returns the p-th percentile (nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// NewClient returns an HTTP client for load: keep-alive connections for
// conns concurrent callers on loopback, no redirects followed, no
// compression, and a whole-request timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
