package bench

import (
	"fmt"
	"strings"
	"time"
)

// ExportBench is section 3 of the report: a user's export through the
// portal against paging the same archive raw with MAM.
type ExportBench struct {
	Messages   int // archive size of the throughput comparison
	PageSize   int // messages asked for per MAM page, by both sides
	ServerPage int // messages the server sent per page
	Rounds     int // of raw, portal, portal, raw
	Raw        ExportSide
	Portal     ExportSide
	// Memory is one fresh portal process per archive size, one export each.
	Memory []ExportMemory
	// Readable is the same for the readable copy (readable.go).
	Readable []ReadableMemory
	// Limited is the same comparison for an account under the shipped
	// mod_limits (one pass each), nil when not measured.
	Limited *ExportLimited
	// Internal is raw MAM paging on the shipped storage = "internal" at
	// small archive sizes (the server's cost per page).
	Internal []PagingCost
	Notes    []string
}

// ExportSide sums the passes of one side.
type ExportSide struct {
	Passes   int
	Messages int   // per pass
	Bytes    int64 // per pass (the portal's document; 0 for raw)
	Time     time.Duration
	// CPU used over the passes by the portal process (portal side only) and
	// by Prosody.
	PortalCPU, ServerCPU time.Duration
}

// Rate returns messages per second.
func (s ExportSide) Rate() float64 {
	if s.Time <= 0 {
		return 0
	}
	return float64(s.Messages*s.Passes) / s.Time.Seconds()
}

// PerPass returns the mean time of one pass.
func (s ExportSide) PerPass() time.Duration {
	if s.Passes == 0 {
		return 0
	}
	return s.Time / time.Duration(s.Passes)
}

// per1000 returns d per 1,000 messages.
func (s ExportSide) per1000(d time.Duration) time.Duration {
	if s.Passes == 0 || s.Messages == 0 {
		return 0
	}
	return d * 1000 / time.Duration(s.Passes*s.Messages)
}

// Ratio returns portal/raw messages per second.
func (e *ExportBench) Ratio() float64 { return ratio(e.Portal.Rate(), e.Raw.Rate()) }

// ExportMemory is one export by a freshly started portal process.
type ExportMemory struct {
	Messages int
	StartHWM int64 // VmHWM when the portal had started
	HWM      int64 // VmHWM after the export
	Bytes    int64
	Time     time.Duration
	RawTime  time.Duration // raw MAM paging of the same archive, 0 if not measured
}

// ExportLimited is one raw pass and one export of an account that is not
// exempt from mod_limits.
type ExportLimited struct {
	Messages    int
	Raw, Portal time.Duration
}

// PagingCost is one raw MAM pass over an archive.
type PagingCost struct {
	Messages, Pages int
	Time            time.Duration
}

// PerPage returns the mean time of one page.
func (p PagingCost) PerPage() time.Duration {
	if p.Pages == 0 {
		return 0
	}
	return p.Time / time.Duration(p.Pages)
}

// RSSSlack is how much more the peak resident size of an export of the
// large archive may be than of the small one for the peak to count as
// independent of the archive size: 10 % of the small peak or 3 MB,
// whichever is larger.
func RSSSlack(small int64) int64 { return max(small/10, 3_000_000) }

// RSSIndependent reports whether the largest archive's export peaked
// within RSSSlack of the smallest's.
func (e *ExportBench) RSSIndependent() bool {
	if len(e.Memory) < 2 {
		return false
	}
	small, large := e.Memory[0], e.Memory[len(e.Memory)-1]
	return small.HWM > 0 && large.HWM > 0 && large.HWM <= small.HWM+RSSSlack(small.HWM)
}

func num(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mbps(bytes int64, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MB/s", float64(bytes)/1e6/d.Seconds())
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Markdown renders the section's body (after its heading).
func (e *ExportBench) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("A user's export (POST /export: the portal logs in as the user, writes roster, vCard, private storage, PEP, blocklist and offline messages, then pages the message archive with MAM and streams each page as XEP-0227 as it arrives) through the `portal` binary as its own process, read whole over HTTP and checked complete (one `<result>` per archived message and the closing `</server-data>`), against paging the same archive raw with the XMPP library the portal uses (mellium `history.Fetch`, RSM `<after/>`, every result decoded; log-in included on both sides). Both ask for %d messages per page; Prosody sent %d (its `max_archive_query_results`). ",
		e.PageSize, e.ServerPage)
	w("The Prosody is the shipped configuration with a tail appended: the message archive in SQLite (`storage = { archive = \"sql\" }`, `mod_storage_sql`, indexed) instead of the shipped `storage = \"internal\"`, and the benchmark's accounts exempt from `mod_limits` — both because the shipped server, not the portal, would otherwise set the pace (see *What is the server's* below). ")
	w("Each archive is filled by copying one message Prosody stored itself (its row in `prosodyarchive`) with its own archive id (a UUID), number and timestamp, in one SQLite transaction. ")
	w("The portal's `regulation.min_response` is 0 here: that constant pad of every password check (1 s by default, against timing attacks) would add 1 s to each export whatever its size. Goal: ≥ 0.9× raw.\n\n")
	w("| archive | raw msgs/s | portal msgs/s | ratio | raw time per pass | portal time per pass | export size | portal MB/s | CPU per 1,000 messages: portal / Prosody (raw, portal) |\n|---|---|---|---|---|---|---|---|---|\n")
	w("| %s messages, %d passes each (raw, portal, portal, raw × %d) | %.0f | %.0f | **%.3f×** | %s | %s | %s | %s | %s / %s, %s |\n",
		num(e.Messages), e.Portal.Passes, e.Rounds, e.Raw.Rate(), e.Portal.Rate(), e.Ratio(), ms(e.Raw.PerPass()), ms(e.Portal.PerPass()),
		MB(e.Portal.Bytes), mbps(e.Portal.Bytes*int64(e.Portal.Passes), e.Portal.Time),
		ms(e.Portal.per1000(e.Portal.PortalCPU)), ms(e.Raw.per1000(e.Raw.ServerCPU)), ms(e.Portal.per1000(e.Portal.ServerCPU)))

	if len(e.Memory) > 0 {
		w("\nPeak resident size (VmHWM) of a fresh portal process per archive size, one export each, so that a smaller export cannot hide a larger one's peak. ")
		w("Goal: independent of the archive size, taken as: the peak for the largest archive is at most the peak for the smallest plus 10 %% of it or 3 MB, whichever is larger. ")
		w("3 MB is the Go runtime's normal variation at this size (the collector lets the heap grow to twice the live data before collecting), and a portal that kept as little as %d bytes per message would exceed it",
			3_000_000/max(1, e.Memory[len(e.Memory)-1].Messages-e.Memory[0].Messages))
		if small := e.Memory[0]; small.Messages > 0 && small.Bytes > 0 {
			w(" (the document is about %d bytes per message)", small.Bytes/int64(small.Messages))
		}
		w(".\n\n")
		w("| archive | export time | portal msgs/s | export size | MB/s | raw paging (msgs/s) | portal VmHWM after start | VmHWM after the export |\n|---|---|---|---|---|---|---|---|\n")
		for _, m := range e.Memory {
			raw := "–"
			if m.RawTime > 0 {
				raw = fmt.Sprintf("%s (%.0f)", ms(m.RawTime), rate(m.Messages, m.RawTime))
			}
			w("| %s messages | %s | %.0f | %s | %s | %s | %s | **%s** |\n", num(m.Messages), ms(m.Time), rate(m.Messages, m.Time),
				MB(m.Bytes), mbps(m.Bytes, m.Time), raw, MB(m.StartHWM), MB(m.HWM))
		}
	}

	if e.Limited != nil || len(e.Internal) > 0 {
		w("\n**What is the server's** (measured in the same run; the portal can do nothing about it):\n\n")
	}
	if l := e.Limited; l != nil {
		w("* `mod_limits` as shipped (10 KB/s per client connection, 2 s burst) counts the page queries a client sends: an account without the exemption above pages its %s-message archive in %s raw (%.0f msgs/s) and exports it through the portal in %s (%.0f msgs/s), against %.0f msgs/s exempt. ",
			num(l.Messages), ms(l.Raw), rate(l.Messages, l.Raw), ms(l.Portal), rate(l.Messages, l.Portal), e.Raw.Rate())
		w("Both are held to the same pace by the server; an export of a large archive takes longer, it does not fail.\n")
	}
	if len(e.Internal) >= 2 {
		a, z := e.Internal[0], e.Internal[len(e.Internal)-1]
		w("* `storage = \"internal\"` as shipped (`mod_storage_internal`) loads the user's whole archive file for every MAM query, so a page costs time in proportion to the archive and paging through it is quadratic: raw MAM paging, same library, ")
		var parts []string
		for _, p := range e.Internal {
			parts = append(parts, fmt.Sprintf("%s messages %s per page (%.0f msgs/s)", num(p.Messages), ms(p.PerPage()), rate(p.Messages, p.Time)))
		}
		w("%s", strings.Join(parts, ", "))
		if dn := z.Messages - a.Messages; dn > 0 && z.PerPage() > a.PerPage() && a.Pages > 0 {
			slope := float64(z.PerPage()-a.PerPage()) / float64(dn) // per message per page
			fixed := float64(a.PerPage()) - slope*float64(a.Messages)
			per := a.Messages / a.Pages
			if per > 0 && e.Messages > 0 {
				n := float64(e.Messages)
				pass := time.Duration(n / float64(per) * (fixed + slope*n))
				w("; that is about %s per archived message per page, so one pass over %s messages would take about %s there (%.0f msgs/s) instead of %s", us(time.Duration(slope)), num(e.Messages), ms(pass), rate(e.Messages, pass), ms(e.Raw.PerPass()))
			}
		}
		w(". Operators with large archives should store them in SQL (`storage = { archive = \"sql\" }`).\n")
	}
	for _, n := range e.Notes {
		w("* %s\n", n)
	}
	return b.String()
}
