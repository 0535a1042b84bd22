// Package metrics counts what the portal does, for the operator, in the
// OpenMetrics/Prometheus format (github.com/prometheus/client_golang): sign-ups
// by outcome, budget refusals, captchas, password checks and lock-outs,
// imports and exports with their bytes, XMPP errors and request latency.
//
// Counts only. No label carries anything about a person: every label value
// is one of a closed set written in this file (route patterns, flows,
// outcomes, reasons, kinds), and a value outside its set is counted as
// "other", so a caller cannot pass a name, an address or a user agent by
// mistake. The endpoint is served on a listener of its own (metrics.listen,
// off by default), never on the public one.
//
// A nil *Metrics counts nothing: every method may be called on it.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// The closed sets of label values.
var (
	flows   = set("register", "password", "delete", "export", "import")
	actions = set("signup", "captcha", "credential")
	budgets = set("signup", "global_signup", "onion_signup", "captcha", "onion_captcha", "credential", "onion_credential")
	// Why a sign-up did not create an account: before the server (the
	// form), or the XMPP error kind the server's answer was.
	signupReasons = set(append([]string{"captcha_missing", "captcha_wrong", "username_policy", "password_policy", "budget"}, kinds()...)...)
	checkOutcomes = set("ok", "refused", "locked", "server_unavailable", "store_unavailable")
	// Imports and exports.
	transferOutcomes = set("done", "failed", "refused")
	transferReasons  = set("", "busy", "slow_upload", "file_too_large", "limit", "several_users", "file", "credentials")
	methods          = set("GET", "HEAD", "POST")
	xmppKinds        = set(kinds()...)
)

// kinds are the names of every xmpp.Kind.
func kinds() []string {
	var out []string
	for k := xmpp.Kind(0); k < 64; k++ {
		s := k.String()
		if s == "kind(?)" {
			break
		}
		out = append(out, s)
	}
	return out
}

type closedSet map[string]bool

func set(vals ...string) closedSet {
	s := closedSet{}
	for _, v := range vals {
		s[v] = true
	}
	return s
}

// of returns v if it is in the set, "other" if not.
func (s closedSet) of(v string) string {
	if s[v] {
		return v
	}
	return "other"
}

// Metrics holds the portal's counters in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry
	// routes are the route patterns the handler registers (a request for
	// anything else counts as route "(none)").
	routes closedSet

	signups       *prometheus.CounterVec
	budgetRefused *prometheus.CounterVec
	captchas      *prometheus.CounterVec
	checks        *prometheus.CounterVec
	lockouts      *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	xmppErrors    *prometheus.CounterVec
	requests      *prometheus.HistogramVec
}

// New returns Metrics; call SetRoutes before the first request.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), routes: set("(none)")}
	m.signups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_signups_total",
		Help: "Sign-ups by outcome (created, refused before the XMPP server, failed at it) and reason.",
	}, []string{"outcome", "reason"})
	m.budgetRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_budget_refusals_total",
		Help: "Requests refused because a rate budget was spent, by action and budget.",
	}, []string{"action", "budget"})
	m.captchas = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_captcha_checks_total",
		Help: "Captcha answers checked, by result (pass, fail).",
	}, []string{"result"})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_password_checks_total",
		Help: "Password checks of the account forms, by flow and outcome.",
	}, []string{"flow", "outcome"})
	m.lockouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_lockouts_total",
		Help: "Accounts locked after repeated failed password checks, by the flow of the failure that locked them.",
	}, []string{"flow"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_transfers_total",
		Help: "Exports and imports by direction, outcome and reason of a refusal.",
	}, []string{"direction", "outcome", "reason"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_transfer_bytes_total",
		Help: "Bytes of export files sent and import files received, by direction.",
	}, []string{"direction"})
	m.xmppErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_xmpp_errors_total",
		Help: "XMPP failures shown to users, by flow and kind.",
	}, []string{"flow", "kind"})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portal_http_request_duration_seconds",
		Help:    "Time to answer a request, by route pattern, method and status class.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method", "status"})
	m.reg.MustRegister(m.signups, m.budgetRefused, m.captchas, m.checks, m.lockouts, m.transfers, m.bytes, m.xmppErrors, m.requests,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	// Zero series for the common outcomes, so that rates exist from the
	// start.
	m.signups.WithLabelValues("created", "")
	for _, r := range []string{"pass", "fail"} {
		m.captchas.WithLabelValues(r)
	}
	return m
}

// SetRoutes sets the route patterns the handler registers (such as
// "/register" and "/captcha/:file"): the values of the route label. Call it
// once, before requests are served.
func (m *Metrics) SetRoutes(routes []string) {
	if m != nil {
		m.routes = set(append(routes, "(none)")...)
	}
}

// Handler serves the metrics (OpenMetrics when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// Gatherer is the registry, for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// SignupCreated counts an account created.
func (m *Metrics) SignupCreated() {
	if m != nil {
		m.signups.WithLabelValues("created", "").Inc()
	}
}

// SignupRefused counts a sign-up refused before the XMPP server was asked
// (reason: captcha_missing, captcha_wrong, username_policy,
// password_policy).
func (m *Metrics) SignupRefused(reason string) {
	if m != nil {
		m.signups.WithLabelValues("refused", signupReasons.of(reason)).Inc()
	}
}

// SignupFailed counts a sign-up the XMPP server did not carry out (kind:
// the xmpp.Kind's name, e.g. conflict for a name taken).
func (m *Metrics) SignupFailed(kind string) {
	if m != nil {
		m.signups.WithLabelValues("failed", signupReasons.of(kind)).Inc()
	}
}

// BudgetRefused counts a request refused by a rate budget.
func (m *Metrics) BudgetRefused(action, budget string) {
	if m != nil {
		m.budgetRefused.WithLabelValues(actions.of(action), budgets.of(budget)).Inc()
		if action == "signup" {
			m.signups.WithLabelValues("refused", "budget").Inc()
		}
	}
}

// Captcha counts a captcha answer checked.
func (m *Metrics) Captcha(pass bool) {
	if m != nil {
		r := "fail"
		if pass {
			r = "pass"
		}
		m.captchas.WithLabelValues(r).Inc()
	}
}

// PasswordCheck counts a password check of an account form (outcome: ok,
// refused, locked, server_unavailable, store_unavailable).
func (m *Metrics) PasswordCheck(flow, outcome string) {
	if m != nil {
		m.checks.WithLabelValues(flows.of(flow), checkOutcomes.of(outcome)).Inc()
	}
}

// Lockout counts an account locked by a failed check in flow.
func (m *Metrics) Lockout(flow string) {
	if m != nil {
		m.lockouts.WithLabelValues(flows.of(flow)).Inc()
	}
}

// Transfer counts an export or import (direction "export" or "import";
// outcome done, failed or refused; reason of a refusal) and its bytes.
func (m *Metrics) Transfer(direction, outcome, reason string, bytes int64) {
	if m == nil {
		return
	}
	dir := set("export", "import").of(direction)
	m.transfers.WithLabelValues(dir, transferOutcomes.of(outcome), transferReasons.of(reason)).Inc()
	if bytes > 0 {
		m.bytes.WithLabelValues(dir).Add(float64(bytes))
	}
}

// XMPPError counts an XMPP failure shown to a user of flow.
func (m *Metrics) XMPPError(flow, kind string) {
	if m != nil {
		m.xmppErrors.WithLabelValues(flows.of(flow), xmppKinds.of(kind)).Inc()
	}
}

// Request observes one answered request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	class := "other"
	if status >= 100 && status < 600 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.requests.WithLabelValues(m.routes.of(route), methods.of(method), class).Observe(d.Seconds())
}
