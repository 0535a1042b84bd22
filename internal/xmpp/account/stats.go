package account

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// maxFailureCache bounds how long a failure to reach the server is cached.
const maxFailureCache = 30 * time.Second

// Count is one number the server may or may not provide.
type Count struct {
	Value     int64
	Available bool // false: the server does not provide this number (or cannot now)
}

// Stats are the server-wide numbers shown on the statistics page. They hold
// no per-user data.
type Stats struct {
	Registered Count
	Online     Count // sessions, as the server counts them
	// At is when the numbers were read from the server.
	At time.Time
	// Unreachable is true when the server (or the admin session) could not
	// be asked at all, as opposed to not offering the numbers.
	Unreachable bool
}

// Stats returns the registered and online counts via XEP-0133
// get-registered-users-num and get-online-users-num. A number the server
// does not provide (Prosody 0.12 answers service-unavailable), or answers
// with something that is not a count, is reported as not available, never
// as a guess. Without an admin account nothing is available.
//
// Answers are cached for Config.StatsCache (by the Config.Now clock), a
// server that could not be reached for at most 30 seconds, so the page
// cannot be used to load the server; concurrent callers share one refresh.
func (m *Manager) Stats(ctx context.Context) Stats {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	now := m.now()
	if m.stats != nil && !now.Before(m.statsAt) {
		ttl := m.cfg.StatsCache
		if m.stats.Unreachable && ttl > maxFailureCache {
			ttl = maxFailureCache
		}
		if now.Sub(m.statsAt) < ttl {
			return *m.stats
		}
	}
	// One caller giving up must not leave a failure in the cache.
	ctx = context.WithoutCancel(ctx)
	st := Stats{At: now}
	if m.cfg.Admin != nil {
		var regErr, onErr error
		st.Registered, regErr = m.count(ctx, NodeRegisteredUsers, "registeredusersnum")
		st.Online, onErr = m.count(ctx, NodeOnlineUsers, "onlineusersnum")
		st.Unreachable = regErr != nil && onErr != nil
	}
	m.stats, m.statsAt = &st, now
	m.log.DebugContext(ctx, "account.stats_refreshed", "registered", st.Registered.Available, "online", st.Online.Available)
	return st
}

// count runs a counting command. A refusal by the server means "not
// available" (nil error); a connection problem is returned.
func (m *Manager) count(ctx context.Context, node, field string) (Count, error) {
	res, err := m.cfg.Admin.Run(ctx, node, nil)
	if err != nil {
		if k := xmpp.KindOf(err); k != xmpp.Unavailable && k != xmpp.Protocol {
			// The server answered: it does not offer this number.
			m.log.DebugContext(ctx, "account.stats_not_offered", "node", node, "err", err)
			return Count{}, nil
		}
		m.log.WarnContext(ctx, "account.stats_failed", "node", node, "kind", xmpp.KindOf(err).String(), "err", err)
		return Count{}, err
	}
	v, ok := res.Value(field)
	if !ok {
		m.log.DebugContext(ctx, "account.stats_no_field", "node", node)
		return Count{}, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		m.log.WarnContext(ctx, "account.stats_not_a_count", "node", node)
		return Count{}, nil
	}
	return Count{Value: n, Available: true}, nil
}
