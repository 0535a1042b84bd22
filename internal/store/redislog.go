package store

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// SetRedisLogger sends go-redis' own log lines (failed dials, sentinel
// trouble) to l at warn level as event "store.redis", instead of the standard
// logger. go-redis keeps its logger in a global: call this once, from main's
// wiring, not from libraries or parallel tests. The lines carry server
// addresses and error texts, never passwords.
func SetRedisLogger(l *slog.Logger) {
	redis.SetLogger(redisSlog{l})
}

type redisSlog struct{ l *slog.Logger }

func (r redisSlog) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "store.redis", "detail", fmt.Sprintf(format, v...))
}
