package abuse_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
)

// boundSim drives one class of traffic the way the handlers do, putting in
// the store what they put there: a captcha for every new form and every
// sign-up form shown again, a Regulator failure for every wrong password.
type boundSim struct {
	t    *testing.T
	f    lfix
	l    *abuse.Limiter
	reg  *abuse.Regulator
	lt   abuse.Lifetimes
	seq  int
	held []string // captchas the attacker can answer
}

func (s *boundSim) putCaptcha() {
	s.seq++
	k := "captcha:" + strconv.Itoa(s.seq)
	if err := s.f.st.Set(context.Background(), k, []byte("123456"), s.lt.Captcha); err != nil {
		s.t.Fatal(err)
	}
	s.held = append(s.held, k)
}

// kinds are the requests of the simulation, each as the handlers treat it.
var boundKinds = []struct {
	name string
	do   func(s *boundSim, r *http.Request)
}{
	{"GET /register", func(s *boundSim, r *http.Request) {
		if mustAllow(s.t, s.l, r, abuse.Captcha).Allowed {
			s.putCaptcha()
		}
	}},
	{"picture", func(s *boundSim, r *http.Request) { mustAllow(s.t, s.l, r, abuse.Captcha) }},
	{"sign-up, wrong captcha", func(s *boundSim, r *http.Request) {
		if d := mustAllow(s.t, s.l, r, abuse.Signup); d.Allowed {
			d.ReleaseShared(context.Background())
			s.putCaptcha()
		}
	}},
	{"sign-up refused after a right captcha", func(s *boundSim, r *http.Request) {
		if d := mustAllow(s.t, s.l, r, abuse.Signup); d.Allowed {
			if len(s.held) == 0 { // nothing to answer: a wrong captcha
				d.ReleaseShared(context.Background())
			} else { // the captcha is used up; the rules refuse the name
				if err := s.f.st.Del(context.Background(), s.held[0]); err != nil {
					s.t.Fatal(err)
				}
				s.held = s.held[1:]
				d.Release(context.Background())
			}
			s.putCaptcha()
		}
	}},
	{"wrong password", func(s *boundSim, r *http.Request) {
		if mustAllow(s.t, s.l, r, abuse.Credential).Allowed {
			s.seq++
			if _, err := s.reg.Fail(context.Background(), fmt.Sprintf("u%d@example.org", s.seq)); err != nil {
				s.t.Fatal(err)
			}
		}
	}},
	{"password form error", func(s *boundSim, r *http.Request) {
		if d := mustAllow(s.t, s.l, r, abuse.Credential); d.Allowed {
			d.Release(context.Background())
		}
	}},
}

// TestStoreBoundHolds measures the keys one class of traffic holds in the
// memory store under a flood of every kind of request, far over every
// budget, for longer than any key lives (26 minutes in 10-second steps, 76
// for the circuits, whose sign-up counters live an hour), and checks them
// against the bounds the configuration is validated with: OnionKeyBound for
// the onion listener (without circuit ids, and with them: a new Tor circuit
// for every request, or a few circuits over and over), NetworkKeyBound for
// one IPv6 /48 sending from a new /64 for most requests (and from one /64 for
// the rest).
func TestStoreBoundHolds(t *testing.T) {
	lt := abuse.Lifetimes{Captcha: 10 * time.Minute, RegulationWindow: 10 * time.Minute, RegulationBan: 15 * time.Minute}
	onion := func(int) *http.Request { return lonion(lreq("127.0.0.1")) }
	newCircuit := func(i int) *http.Request { return withCircuit(lonion(lreq("127.0.0.1")), i) }
	fewCircuits := func(i int) *http.Request { return withCircuit(lonion(lreq("127.0.0.1")), i%3) }
	onionBound := func(circuits bool) func(abuse.Budgets, abuse.Lifetimes) abuse.KeyBound {
		return func(b abuse.Budgets, lt abuse.Lifetimes) abuse.KeyBound { return abuse.OnionKeyBound(b, lt, circuits) }
	}
	network := func(i int) *http.Request {
		if i%4 == 0 {
			return lreq(v6(0x48, 0, 0, "1"))
		}
		return lreq(v6(0x48, i%256, (i/256)%256, "1"))
	}
	signups := []string{"sign-up, wrong captcha", "sign-up refused after a right captcha"}
	tests := []struct {
		name     string
		req      func(i int) *http.Request
		kinds    []string // nil: all
		bound    func(abuse.Budgets, abuse.Lifetimes) abuse.KeyBound
		circuits bool // the onion listener reads circuit ids
	}{
		{"onion listener", onion, nil, onionBound(false), false},
		{"onion listener, sign-ups only", onion, signups, onionBound(false), false},
		{"onion listener, a new circuit per request", newCircuit, nil, onionBound(true), true},
		{"onion listener, a new circuit per sign-up", newCircuit, signups, onionBound(true), true},
		// Released units: if the circuit's units paid for its counter, a
		// new circuit per request would add counters without end.
		{"onion listener, a new circuit per released request", newCircuit, []string{"GET /register", "sign-up refused after a right captcha", "password form error"}, onionBound(true), true},
		{"onion listener, three circuits", fewCircuits, nil, onionBound(true), true},
		{"one /48", network, nil, abuse.NetworkKeyBound, false},
		// Only requests whose units are given back (Release): if the
		// network units came back too, every one would add a counter.
		{"one /48, released requests only", network, []string{"GET /register", "sign-up refused after a right captcha", "password form error"}, abuse.NetworkKeyBound, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLimStore(t, 0)
			b := abuse.DefaultBudgets()
			o := abuse.LimiterOptions{Budgets: b}
			steps := 26 * 6
			if tc.circuits {
				o.Circuit = circuitOf
				steps = 76 * 6
			}
			s := &boundSim{t: t, f: f, lt: lt,
				l:   f.limiter(t, o),
				reg: abuse.NewRegulator(f.st, abuse.RegulatorOptions{Window: lt.RegulationWindow, Ban: lt.RegulationBan, Now: f.clk.Now}),
			}
			bound := tc.bound(b, lt)
			var peak abuse.KeyBound
			i := 0
			for step := range steps {
				for range 25 {
					for _, k := range boundKinds {
						if tc.kinds == nil || slices.Contains(tc.kinds, k.name) {
							k.do(s, tc.req(i))
							i++
						}
					}
				}
				f.st.Sweep()
				var now abuse.KeyBound
				f.st.ForEach(func(k string, _ []byte, _ time.Duration) {
					switch {
					case k == "rl:epoch" || strings.HasPrefix(k, "rl:global_signup"):
						// shared by everyone, not the class's
					case strings.HasPrefix(k, "captcha:"):
						now.Captchas++
					case strings.HasPrefix(k, "reg:"):
						now.Regulation++
					case tc.circuits && !strings.HasPrefix(k, "rl:onion_"):
						now.Circuits++
					default:
						now.Counters++
					}
				})
				peak.Captchas, peak.Regulation, peak.Counters = max(peak.Captchas, now.Captchas), max(peak.Regulation, now.Regulation), max(peak.Counters, now.Counters)
				peak.Circuits = max(peak.Circuits, now.Circuits)
				if now.Total() > bound.Total() || now.Captchas > bound.Captchas || now.Regulation > bound.Regulation ||
					now.Counters > bound.Counters || now.Circuits > bound.Circuits {
					t.Fatalf("step %d (%d requests): the class holds %v, over its bound %v", step, i, now, bound)
				}
				f.clk.Advance(10 * time.Second)
			}
			t.Logf("%d requests; peak by kind %v; bound %v", i, peak, bound)
			if peak.Captchas == 0 || peak.Counters == 0 || (tc.kinds == nil && peak.Regulation == 0) || (tc.circuits && peak.Circuits == 0) {
				t.Errorf("the flood put nothing of some kind in the store: %v", peak)
			}
		})
	}
}
