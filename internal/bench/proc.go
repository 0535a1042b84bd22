package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc is a process's memory and CPU figures from /proc.
type Proc struct {
	RSS  int64         // resident set size now (VmRSS), bytes
	Anon int64         // of which anonymous memory (RssAnon: heap, stacks), bytes
	HWM  int64         // peak resident set size (VmHWM), bytes
	CPU  time.Duration // user + system CPU time used so far
}

// ReadProc reads pid's figures from /proc/<pid>/status and /proc/<pid>/stat.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	if p.RSS, p.Anon, p.HWM, err = parseStatus(status); err != nil {
		return p, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	p.CPU, err = parseStatCPU(stat, clockTicks)
	return p, err
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseStatus returns VmRSS, RssAnon and VmHWM in bytes from a
// /proc/<pid>/status file.
func parseStatus(b []byte) (rss, anon, hwm int64, err error) {
	vals := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM" && k != "RssAnon") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, 0, fmt.Errorf("proc status: odd %s line %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("proc status: %s: %w", k, err)
		}
		vals[k] = n * 1024
	}
	if len(vals) != 3 {
		return 0, 0, 0, fmt.Errorf("proc status: no VmRSS/RssAnon/VmHWM (a kernel thread or a zombie?)")
	}
	return vals["VmRSS"], vals["RssAnon"], vals["VmHWM"], nil
}

// parseStatCPU returns utime+stime from a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted
// after the last ')'.
func parseStatCPU(b []byte, hz int64) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ppid(4) … utime(14) stime(15): indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / time.Duration(hz), nil
}

// Sampler polls a process's resident size at an interval and keeps the
// largest value seen (VmHWM covers the whole life of the process; the
// sampler covers one phase of it).
type Sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  int64
	n    int
	err  error
}

// StartSampler starts polling pid every interval.
func StartSampler(pid int, interval time.Duration) *Sampler {
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *Sampler) sample() {
	p, err := ReadProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.n++
	s.max = max(s.max, p.RSS)
}

// Stop ends the polling and returns the largest resident size seen.
func (s *Sampler) Stop() (maxRSS int64, samples int, err error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.n, s.err
}

// SelfRSS returns this process's current resident size, for tests that run
// the portal in-process (it includes the test's own load generator).
func SelfRSS() (int64, error) {
	p, err := ReadProc(os.Getpid())
	return p.RSS, err
}

// HeapInUse returns the Go heap in use after a garbage collection.
func HeapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
