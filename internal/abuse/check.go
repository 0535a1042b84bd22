package abuse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/xmpp-portal/portal/internal/store"
)

// Check tells whether Allow would refuse r for action a now because a
// budget has run out, without counting anything and without creating a
// key: a page that leads to the action (the sign-up form) can then say
// so at once instead of offering a form that will be refused. The Decision
// is refused (Allowed false, with Budget, Prefix, Shared, Circuit and
// RetryAfter as Allow sets them) when a budget has no room left; otherwise
// it is allowed and holds nothing (there is nothing to release). A refusal
// is logged as Allow logs one (abuse.limited). Store errors are returned
// wrapped.
//
// A budget has no room when its units in use (taken minus given back)
// reach its limit: Allow would then refuse, and a budget that ran out stays
// out until its window ends.
func (l *Limiter) Check(ctx context.Context, r *http.Request, a Action) (Decision, error) {
	onion, steps, err := l.keyedSteps(ctx, r, a)
	if err != nil {
		return Decision{}, err
	}
	for _, ks := range steps {
		b, key := ks.budget, ks.key
		used, err := l.count(ctx, key)
		if err != nil {
			return Decision{}, fmt.Errorf("abuse: %s budget: %w", b.name, err)
		}
		if used < int64(b.limit) {
			continue
		}
		released, err := l.count(ctx, key+":r")
		if err != nil {
			return Decision{}, fmt.Errorf("abuse: %s budget: %w", b.name, err)
		}
		if used-released < int64(b.limit) {
			continue
		}
		ttl, err := l.st.TTL(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // the window just ended
		}
		if err != nil {
			return Decision{}, fmt.Errorf("abuse: %s budget: %w", b.name, err)
		}
		return l.limited(a, b, onion, ceilSecond(ttl)), nil
	}
	return Decision{Allowed: true}, nil
}

// count reads a counter of take (0 when it does not exist).
func (l *Limiter) count(ctx context.Context, key string) (int64, error) {
	v, err := l.st.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, errors.New("abuse: counter is not a number")
	}
	return n, nil
}
