package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/bench"
)

// readableBench makes the readable copy of each archive with a fresh
// portal process each, and records the peak resident size (section 3).
func readableBench(t *testing.T, ctx context.Context, bin string, env []string, dir string, archives []struct {
	user string
	n    int
}) []bench.ReadableMemory {
	client := &http.Client{}
	defer client.CloseIdleConnections()
	var out []bench.ReadableMemory
	for _, a := range archives {
		p, err := bench.StartPortal(ctx, bin, env, filepath.Join(dir, fmt.Sprintf("portal-readable-%d.log", a.n)))
		if err != nil {
			t.Fatal(err)
		}
		before, err := bench.ReadProc(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		d, err := bench.ReadableHTTP(ctx, client, p.URL, a.user, exportPassword)
		if err == nil {
			err = bench.CheckReadable(d, a.n)
		}
		if err != nil {
			t.Fatalf("readable copy of %s: %v", a.user, err)
		}
		after, err := bench.ReadProc(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		p.Stop()
		out = append(out, bench.ReadableMemory{Messages: a.n, StartHWM: before.HWM, HWM: after.HWM, Bytes: d.Bytes, Time: d.Time})
		t.Logf("  fresh portal, readable copy of %d messages: %s, %s, VmHWM %s → %s", a.n, bench.MB(d.Bytes), d.Time.Round(time.Millisecond), bench.MB(before.HWM), bench.MB(after.HWM))
	}
	return out
}

// readableGoals: the readable copy's peak does not grow with the archive.
func readableGoals(ms []bench.ReadableMemory) []bench.Goal {
	if len(ms) < 2 {
		return nil
	}
	a, z := ms[0], ms[len(ms)-1]
	return []bench.Goal{{Name: fmt.Sprintf("readable copy peak RSS, %d vs %d messages", z.Messages, a.Messages),
		Figure: fmt.Sprintf("%s vs %s", bench.MB(z.HWM), bench.MB(a.HWM)),
		Target: fmt.Sprintf("≤ %s (+max(10 %%, 3 MB))", bench.MB(a.HWM+bench.RSSSlack(a.HWM))), Met: bench.ReadableFlat(ms)}}
}
