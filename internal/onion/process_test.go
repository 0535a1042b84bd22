package onion

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestTorLogRepeats: tor's bootstrap warnings, repeated with changing counts
// a dozen times a minute while the network is unreachable, are logged once
// per repeatWindow with the number held back; other lines are logged at
// once. The clock is a fake one: no waiting.
func TestTorLogRepeats(t *testing.T) {
	var out testenv.LockedBuffer
	clock := &testenv.FakeClock{}
	w := &logWriter{log: slog.New(slog.NewTextHandler(&out, nil)), now: clock.Now}
	stuck := func(n int) string {
		return "Dec 07 03:00:00.000 [warn] Problem bootstrapping. Stuck at 5% (conn): Connecting to a relay. (Connection refused; CONNECTREFUSED; count " +
			strings.Repeat("1", n%3+1) + "; recommendation warn; host 0123456789ABCDEF0123456789ABCDEF01234567 at 127.0.0.1:" + strings.Repeat("9", n%4+1) + ")\n"
	}
	// Five minutes of it, every five seconds, with another warning between.
	for i := 0; i < 60; i++ {
		w.Write([]byte(stuck(i)))
		w.Write([]byte("Dec 07 03:00:00.000 [warn] " + strings.Repeat("3", i%2+1) + " connections have failed:\n"))
		clock.Advance(5 * time.Second)
	}
	w.Write([]byte("Dec 07 03:00:00.000 [err] Something else entirely.\n"))
	if n := strings.Count(out.String(), "Problem bootstrapping"); n != 1 {
		t.Errorf("bootstrap warning logged %d times in five minutes, want 1:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "connections have failed"); n != 1 {
		t.Errorf("failed-connections warning logged %d times, want 1", n)
	}
	if !strings.Contains(out.String(), "Something else entirely") {
		t.Error("another line was held back")
	}
	// After the window: logged again, with the count of what was held back.
	clock.Advance(repeatWindow)
	w.Write([]byte(stuck(7)))
	last := out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:]
	if !strings.Contains(last, "Problem bootstrapping") || !strings.Contains(last, "repeated=59") {
		t.Errorf("after the window: %q, want the line with repeated=59", last)
	}
	if !strings.Contains(last, "level=WARN") {
		t.Errorf("level lost: %q", last)
	}
}
