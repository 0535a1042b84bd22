package bench

import (
	"strings"
	"testing"
	"time"
)

func TestResultCounter(t *testing.T) {
	doc := []byte(`<server-data><result xmlns='urn:xmpp:mam:2' id='a'/><result id='b'/>` +
		`<resultx/><result id='c'>` + strings.Repeat("x", 100) + `</result><result id='d'/></server-data>` + "\n")
	for _, tc := range []struct {
		name   string
		chunks func([]byte) [][]byte
	}{
		{"whole", func(b []byte) [][]byte { return [][]byte{b} }},
		{"bytewise", func(b []byte) [][]byte {
			var out [][]byte
			for i := range b {
				out = append(out, b[i:i+1])
			}
			return out
		}},
		{"sevens", func(b []byte) [][]byte {
			var out [][]byte
			for len(b) > 7 {
				out, b = append(out, b[:7]), b[7:]
			}
			return append(out, b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &resultCounter{}
			for _, p := range tc.chunks(doc) {
				c.Write(p)
			}
			if c.results != 4 || c.n != int64(len(doc)) || !strings.HasSuffix(string(c.tail), "</server-data>\n") {
				t.Errorf("results %d, bytes %d, tail %q", c.results, c.n, c.tail)
			}
		})
	}
	// Every split point of a tag between two writes.
	for i := 1; i < len(doc); i++ {
		c := &resultCounter{}
		c.Write(doc[:i])
		c.Write(doc[i:])
		if c.results != 4 {
			t.Fatalf("split at %d: %d results", i, c.results)
		}
	}
}

func TestCheckExport(t *testing.T) {
	for _, tc := range []struct {
		d    ExportDoc
		want int
		ok   bool
	}{
		{ExportDoc{Results: 10, Complete: true}, 10, true},
		{ExportDoc{Results: 9, Complete: true}, 10, false},
		{ExportDoc{Results: 11, Complete: true}, 10, false},
		{ExportDoc{Results: 10}, 10, false},
	} {
		if err := CheckExport(tc.d, tc.want); (err == nil) != tc.ok {
			t.Errorf("CheckExport(%+v, %d) = %v", tc.d, tc.want, err)
		}
	}
}

func TestRSSIndependent(t *testing.T) {
	for _, tc := range []struct {
		small, large int64
		want         bool
	}{
		{25e6, 26e6, true},
		{25e6, 28e6, true},    // + 3 MB
		{25e6, 28.1e6, false}, // beyond 3 MB (10 % would be 2.5 MB)
		{50e6, 55e6, true},    // + 10 %
		{50e6, 55.1e6, false},
		{25e6, 20e6, true},
		{0, 20e6, false},
	} {
		e := &ExportBench{Memory: []ExportMemory{{Messages: 10, HWM: tc.small}, {Messages: 100, HWM: tc.large}}}
		if got := e.RSSIndependent(); got != tc.want {
			t.Errorf("small %d, large %d: %v, want %v", tc.small, tc.large, got, tc.want)
		}
	}
	if (&ExportBench{Memory: []ExportMemory{{HWM: 1}}}).RSSIndependent() {
		t.Error("one size cannot show independence")
	}
}

func TestExportMarkdown(t *testing.T) {
	e := &ExportBench{Messages: 10000, PageSize: 100, ServerPage: 50, Rounds: 2,
		Raw:    ExportSide{Passes: 4, Messages: 10000, Time: 20 * time.Second, ServerCPU: 16 * time.Second},
		Portal: ExportSide{Passes: 4, Messages: 10000, Bytes: 4_400_000, Time: 19 * time.Second, PortalCPU: 3 * time.Second, ServerCPU: 15 * time.Second},
		Memory: []ExportMemory{{Messages: 10000, StartHWM: 23e6, HWM: 25.5e6, Bytes: 4.4e6, Time: 4 * time.Second},
			{Messages: 100000, StartHWM: 23e6, HWM: 26e6, Bytes: 44e6, Time: 40 * time.Second, RawTime: 38 * time.Second}},
		Limited:  &ExportLimited{Messages: 10000, Raw: 11 * time.Second, Portal: 11 * time.Second},
		Internal: []PagingCost{{Messages: 1000, Pages: 20, Time: time.Second}, {Messages: 4000, Pages: 80, Time: 12 * time.Second}},
	}
	r := &Report{Export: e}
	md := r.Markdown("")
	for _, want := range []string{
		"| 10,000 messages, 4 passes each (raw, portal, portal, raw × 2) | 2000 | 2105 | **1.053×** | 5.00 s | 4.75 s | 4.4 MB | 0.9 MB/s | 75 ms / 400 ms, 375 ms |",
		"| 100,000 messages | 40.00 s | 2500 | 44.0 MB | 1.1 MB/s | 38.00 s (2632) | 23.0 MB | **26.0 MB** |",
		"as little as 33 bytes per message", "about 440 bytes per message",
		"10,000-message archive in 11.00 s raw (909 msgs/s)",
		"1,000 messages 50 ms per page", "4,000 messages 150 ms per page",
		"about 33 µs per archived message per page", "about 70.00 s there (143 msgs/s) instead of 5.00 s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section 3 lacks %q:\n%s", want, md)
		}
	}
	if md := (&Report{}).Markdown(""); !strings.Contains(md, "## 3. Export\n\nNot measured in this run.") {
		t.Errorf("no export: %s", md)
	}
	if num(1234567) != "1,234,567" || num(999) != "999" || num(1000) != "1,000" {
		t.Error("num")
	}
}
