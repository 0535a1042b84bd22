package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// SetRedisLogger itself is not called here: go-redis keeps the logger in an
// unguarded global that background goroutines of other tests read.
func TestRedisStoreSlogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := redisSlog{slog.New(slog.NewTextHandler(&buf, nil))}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 1, "connection refused")
	got := buf.String()
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "msg=store.redis") ||
		!strings.Contains(got, "failed to dial after 1 attempts: connection refused") {
		t.Fatalf("log line = %q", got)
	}
}
