package provision

import (
	"testing"
	"time"
)

// TestAdminBackoffAllowsFastRecovery: however long the server was down, the
// admin session tries again at most adminBackoffMax after the last failure,
// which leaves time for the connection and login within the 5 s the portal
// has to recover after the server is back.
func TestAdminBackoffAllowsFastRecovery(t *testing.T) {
	const recovery, login = 5 * time.Second, 1500 * time.Millisecond
	for n := 0; n < 1000; n++ {
		if d := backoff(n, adminBackoffMin, adminBackoffMax); d+login > recovery {
			t.Fatalf("after %d failures the next attempt waits %v: recovery could take longer than %v", n, d, recovery)
		}
	}
}
