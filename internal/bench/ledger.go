package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Entry is one attempted account and what the portal said about it.
type Entry struct {
	User, Password string
	Outcome        Outcome
	Status         int
	// MayExist marks attempts whose account can exist although the attempt
	// was refused (a name deliberately taken twice): Verify skips them.
	MayExist bool
}

// Ledger records every sign-up attempt of a run, for the accounting check.
type Ledger struct {
	mu      sync.Mutex
	entries []Entry
}

// Add records one attempt.
func (l *Ledger) Add(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

// Entries returns a copy of the records.
func (l *Ledger) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries...)
}

// Count returns the number of attempts with outcome o.
func (l *Ledger) Count(o Outcome) int {
	n := 0
	for _, e := range l.Entries() {
		if e.Outcome == o {
			n++
		}
	}
	return n
}

// Accounting is the server's view of a ledger.
type Accounting struct {
	Created      int      // attempts the portal reported as created
	NotCreated   int      // attempts reported as not created (MayExist and Unknown ones excluded)
	Unknown      int      // attempts whose outcome the portal said it cannot tell
	UnknownExist int      // of which the account exists
	Missing      []string // reported created, but the account does not log in
	Unexpected   []string // reported not created, but the account exists
	Unverifiable []string // the server could not tell (after retries)
}

// OK reports whether the portal's reports and the server agree.
func (a Accounting) OK() bool {
	return len(a.Missing) == 0 && len(a.Unexpected) == 0 && len(a.Unverifiable) == 0
}

func (a Accounting) String() string {
	s := fmt.Sprintf("%d reported created (all log in: %v), %d reported not created (none exists: %v)",
		a.Created, len(a.Missing) == 0, a.NotCreated, len(a.Unexpected) == 0)
	if a.Unknown > 0 {
		s += fmt.Sprintf(", %d reported as unknown (%d of them exist)", a.Unknown, a.UnknownExist)
	}
	if len(a.Missing) > 0 {
		s += fmt.Sprintf("; MISSING %d: %s", len(a.Missing), head(a.Missing))
	}
	if len(a.Unexpected) > 0 {
		s += fmt.Sprintf("; EXIST ALTHOUGH REPORTED FAILED %d: %s", len(a.Unexpected), head(a.Unexpected))
	}
	if len(a.Unverifiable) > 0 {
		s += fmt.Sprintf("; UNVERIFIABLE %d: %s", len(a.Unverifiable), head(a.Unverifiable))
	}
	return s
}

func head(s []string) string {
	if len(s) > 5 {
		return strings.Join(s[:5], ", ") + ", …"
	}
	return strings.Join(s, ", ")
}

// Verify checks every recorded attempt against the server by logging in
// with its password (SASL, the real proof of an account): every attempt the
// portal reported as created must log in, and every other attempt must be
// refused as unknown (nothing half-created). It uses parallel logins at once
// and retries a login that ends in a connection failure a few times.
func (l *Ledger) Verify(ctx context.Context, cfg xmpp.Config, parallel int) Accounting {
	var a Accounting
	var mu sync.Mutex
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for _, e := range l.Entries() {
		if e.MayExist && e.Outcome != Created {
			continue
		}
		switch e.Outcome {
		case Created:
			a.Created++
		case Unknown:
			a.Unknown++
		default:
			a.NotCreated++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(e Entry) {
			defer wg.Done()
			defer func() { <-sem }()
			exists, err := accountExists(ctx, cfg, e.User, e.Password)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				a.Unverifiable = append(a.Unverifiable, e.User+" ("+err.Error()+")")
			case e.Outcome == Unknown:
				if exists {
					a.UnknownExist++
				}
			case e.Outcome == Created && !exists:
				a.Missing = append(a.Missing, e.User)
			case e.Outcome != Created && exists:
				a.Unexpected = append(a.Unexpected, fmt.Sprintf("%s (%s, %d)", e.User, e.Outcome, e.Status))
			}
		}(e)
	}
	wg.Wait()
	sort.Strings(a.Missing)
	sort.Strings(a.Unexpected)
	sort.Strings(a.Unverifiable)
	return a
}

// accountExists logs in as user: true on success, false when the server
// refuses the credentials, an error when it cannot be asked.
func accountExists(ctx context.Context, cfg xmpp.Config, user, password string) (bool, error) {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
			}
		}
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		sess, lerr := xmpp.Login(lctx, cfg, user, password, nil)
		cancel()
		if lerr == nil {
			_ = sess.Close()
			return true, nil
		}
		if errors.Is(lerr, xmpp.Auth) {
			return false, nil
		}
		err = lerr
	}
	return false, err
}
