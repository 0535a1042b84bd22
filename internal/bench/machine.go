package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a benchmark ran.
type Machine struct {
	CPUs     int    // logical CPUs usable by this process
	CPUModel string // from /proc/cpuinfo
	MemTotal int64  // bytes, from /proc/meminfo
	Load     string // 1, 5 and 15 minute load averages, from /proc/loadavg
	Kernel   string
	Go       string
}

// DescribeMachine reads the machine's description from /proc.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), CPUModel: "unknown", Load: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = memTotal(b)
	}
	m.Load = LoadAverage()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// LoadAverage returns the 1, 5 and 15 minute load averages ("0.52 0.61 0.70").
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Load1 returns the 1-minute load average, or -1.
func Load1() float64 {
	f := strings.Fields(LoadAverage())
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %s RAM, Linux %s, %s", m.CPUs, m.CPUModel, MB(m.MemTotal), m.Kernel, m.Go)
}

func cpuModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n * 1024
		}
	}
	return 0
}

// MB formats bytes as decimal megabytes (10⁶ bytes, the unit of the goals)
// with one decimal.
func MB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// KB formats bytes as decimal kilobytes (10³ bytes) with one decimal.
func KB(b int64) string { return fmt.Sprintf("%.1f KB", float64(b)/1e3) }
