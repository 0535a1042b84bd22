package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/assets"
	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/logging"
	"github.com/xmpp-portal/portal/internal/metrics"
	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/proxyhdr"
	"github.com/xmpp-portal/portal/internal/resultlink"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/xmpp"
	"github.com/xmpp-portal/portal/internal/xmpp/account"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
	"github.com/xmpp-portal/portal/views"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=…".
var Version = "dev"

// Main runs the portal command and returns its exit code.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, fl, err := config.Load(args, getenv)
	switch {
	case fl.Version:
		fmt.Fprintln(stdout, "portal", Version)
		return 0
	case fl.Healthcheck != "":
		return healthcheck(fl.Healthcheck, stderr)
	case fl.OnionAddress && cfg != nil:
		return printOnionAddress(cfg, stdout, stderr)
	case fl.ConfigDump && cfg != nil:
		// What was read, also when it does not make a valid configuration
		// (run bare, without the service's environment): the problems
		// follow on stderr and the exit status says so.
		if err := cfg.Dump(stdout); err != nil {
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "portal: this configuration would not start (run -config-dump with the service's environment, as for -check):\n%v\n", err)
			return 2
		}
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "portal: configuration:\n%v\n", err)
		return 2
	}
	log := logging.New(stderr, cfg.Log.Level, cfg.Log.Format)
	// go-redis' own messages (failed dials) go through the same logger, so
	// that log.format=json stays JSON.
	store.SetRedisLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fl.Check {
		return check(ctx, cfg, log, stdout)
	}
	a, err := New(cfg, log)
	if err != nil {
		log.Error("portal.start_failed", "err", err)
		return 1
	}
	defer a.Close()
	// The same checks as -check, logged; the portal serves whatever they say.
	go a.StartupChecks(ctx)
	if err := a.ListenAndServe(ctx); err != nil {
		log.Error("portal.stopped", "err", err)
		return 1
	}
	return 0
}

// App is the wired portal.
type App struct {
	Config   *config.Config
	Log      *slog.Logger
	Store    store.Store
	Captchas *captchastore.Captchas
	Limiter  *abuse.Limiter
	// Admin is the persistent session of the portal's admin account (nil in
	// ibr mode without admin credentials): add-user in admin mode, and the
	// admin commands of account management and statistics in both modes.
	Admin *xmpp.Admin
	// Signup creates accounts: add-user on Admin, or in-band registration.
	Signup handlers.Signup
	// Invites makes one-time account invites on Admin ("Create it in my
	// app"; admin mode with invite.enabled, nil otherwise).
	Invites *signup.Invites
	Handler http.Handler
	// Onion is the onion service (nil unless onion.enabled); see onion.go.
	Onion *onion.Service
	// Accounts (password change, deletion, statistics) and Regulator
	// (per-account brute-force regulation); see manage.go.
	Accounts  *account.Manager
	Regulator *abuse.Regulator
	// Ready is closed when the clearnet listener accepts connections.
	Ready chan struct{}
	// Addr is the clearnet listener's address once Ready is closed.
	Addr net.Addr

	ready *readiness // /readyz (ready.go)

	// Metrics counts events (nil unless metrics.listen is set); they are
	// served on MetricsAddr, a listener of their own (metrics.go).
	Metrics     *metrics.Metrics
	MetricsAddr net.Addr
}

// XMPPConfig builds the connection settings for the XMPP server from cfg.
func XMPPConfig(cfg *config.Config) (xmpp.Config, error) {
	tc := &tls.Config{ServerName: cfg.XMPP.TLSServerName, MinVersion: tls.VersionTLS12}
	if cfg.XMPP.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.XMPP.CAFile)
		if err != nil {
			return xmpp.Config{}, fmt.Errorf("xmpp.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return xmpp.Config{}, fmt.Errorf("xmpp.ca_file: no PEM certificate in %s", cfg.XMPP.CAFile)
		}
		tc.RootCAs = pool
	}
	return xmpp.Config{Domain: cfg.XMPP.Domain, Addr: cfg.XMPP.Addr, TLS: tc, Timeout: cfg.XMPP.Timeout}, nil
}

// New wires every part of the portal from cfg. Nothing connects yet: the
// admin session is opened on first use.
func New(cfg *config.Config, log *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Log: log, Ready: make(chan struct{})}
	a.ready = &readiness{check: a.readyCheck, now: time.Now, log: log}
	var err error
	a.Store, err = store.Open(cfg.Store.Driver, cfg.Store.URL, cfg.Store.Prefix, store.WithMaxKeys(cfg.Store.MaxKeys))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.Captchas = captchastore.NewCaptchas(a.Store, captchastore.Options{Length: cfg.Captcha.Length, TTL: cfg.Captcha.TTL, Log: log})
	a.Limiter, err = NewLimiter(cfg, a.Store, log)
	if err != nil {
		a.Close()
		return nil, err
	}

	xc, err := XMPPConfig(cfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	if cfg.XMPP.AdminJID != "" && cfg.XMPP.AdminPassword != "" {
		admin, err := jid.Parse(cfg.XMPP.AdminJID)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("xmpp.admin_jid: %w", err)
		}
		a.Admin = xmpp.NewAdmin(xc, admin, cfg.XMPP.AdminPassword, log)
	}
	switch {
	case cfg.XMPP.Mode == "admin" && a.Admin != nil:
		a.Signup = signup.NewAdmin(a.Admin, log)
	case cfg.XMPP.Mode == "admin":
		a.Close()
		return nil, errors.New("xmpp.mode admin needs xmpp.admin_jid and xmpp.admin_password")
	default:
		a.Signup = signup.NewIBR(xc, log)
	}

	bundle, err := i18n.Load()
	if err != nil {
		a.Close()
		return nil, err
	}
	pol, err := policy.New(policy.Rules{
		Domain: cfg.XMPP.Domain, MinUsername: cfg.Username.MinLength, MaxUsername: cfg.Username.MaxLength,
		MinPassword: cfg.Password.MinLength, Reserved: append(reservedFromConfig(cfg), cfg.Site.ReservedNames...),
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	firstContact, err := firstContactOf(cfg, pol)
	if err != nil {
		a.Close()
		return nil, err
	}
	if cfg.XMPP.Mode == "admin" && cfg.Invite.Enabled && a.Admin != nil {
		a.Invites = signup.NewInvites(a.Admin, log)
	}
	as, err := assets.Load()
	if err != nil {
		a.Close()
		return nil, err
	}
	vw, err := views.New(bundle.Printer, bundle.Languages(), as.URL)
	if err != nil {
		a.Close()
		return nil, err
	}
	onionAddr, err := a.setupOnion()
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.setupAccounts(xc); err != nil {
		a.Close()
		return nil, err
	}
	legal, err := legalPages(cfg, bundle)
	if err != nil {
		a.Close()
		return nil, err
	}
	var captchas handlers.Captchas = a.Captchas
	signups := a.Signup
	if cfg.Metrics.Listen != "" {
		a.Metrics = metrics.New()
		captchas = countingCaptchas{Captchas: a.Captchas, m: a.Metrics}
		signups = countingSignup{Signup: a.Signup, m: a.Metrics}
	}
	deps := handlers.Deps{
		Log: log, I18n: bundle, Views: vw, Assets: as, Captchas: captchas, CaptchaDigits: cfg.Captcha.Length, Policy: pol, Signup: signups, Metrics: a.Metrics,
		Site: views.Site{Name: cfg.Site.Name, Domain: cfg.XMPP.Domain, Contact: cfg.Site.Contact,
			StorageNote: cfg.Site.StorageNote, Onion: onionAddr,
			PrivacyURL: cfg.Site.PrivacyURL, PrivacyPage: legal["privacy"] != nil,
			ImprintURL: cfg.Site.ImprintURL, ImprintPage: legal["imprint"] != nil,
			RetireDays: int(cfg.Delete.RetireNames / (24 * time.Hour)), Texts: operatorTexts(cfg), TextsLang: textsLang(cfg),
			FirstContact: firstContact},
		Legal:       legal,
		Passes:      captchastore.NewPasses(a.Store, captchastore.PassOptions{TTL: min(captchastore.DefaultPassTTL, cfg.Captcha.TTL)}),
		Links:       resultlink.New(a.Store, resultlink.Options{}),
		DefaultLang: cfg.Site.DefaultLang, BodyLimit: cfg.HTTP.BodyLimit, XMPPTimeout: cfg.XMPP.Timeout,
		MinPassword: cfg.Password.MinLength, Health: a.health, Ready: a.ready.get, Limiter: a.Limiter,
		Accounts: handlers.ManagerAccounts(a.Accounts), Regulator: a.Regulator, MinResponse: cfg.Regulation.MinResponse,
		Started: time.Now(), UploadExpiry: cfg.Site.UploadExpiry,
		ImportMaxBytes: cfg.Import.MaxSize, ImportConcurrency: cfg.Import.Concurrency, ImportMinRate: cfg.Import.MinRate,
		Migrator: &migrate.Service{Resolver: migrate.Resolver{Own: xc, SRV: cfg.Import.SRV}, MaxImportBytes: cfg.Import.MaxSize, Log: log,
			Limits: migrate.Limits{Contacts: cfg.Import.MaxContacts, Blocked: cfg.Import.MaxBlocked, Nodes: cfg.Import.MaxNodes,
				NodeItems: cfg.Import.MaxNodeItems, DataBytes: cfg.Import.MaxData}},
	}
	if a.Invites != nil {
		deps.Invites = a.Invites
	}
	if firstContact != "" {
		deps.Contacts = a.Accounts
	}
	// One rule for the header and the pages: the address is offered once
	// it answers. nil: a service run elsewhere (onion.address) is taken as
	// published.
	var published func() bool
	if a.Onion != nil {
		published = func() bool { return a.Onion.State() == onion.StatePublished }
	}
	deps.OnionPublished = published
	h := handlers.New(deps)
	a.Metrics.SetRoutes(routes(h))
	a.Handler = onionLocationWhen(onionAddr, published, h.HTTPHandler())
	return a, nil
}

// firstContactOf is site.first_contact as the one address parser reads it
// (policy.ParseAddress), "" when it is not set. An address that is not
// one, or the portal's admin account (which only the portal uses), stops
// the start.
func firstContactOf(cfg *config.Config, pol *policy.Policy) (string, error) {
	if cfg.Site.FirstContact == "" {
		return "", nil
	}
	addr, e := pol.ParseAddress(cfg.Site.FirstContact)
	if e != nil {
		return "", fmt.Errorf("site.first_contact (%s): %q is not an address of an account", config.EnvName("site.first_contact"), cfg.Site.FirstContact)
	}
	if admin, err := pol.ParseAddress(cfg.XMPP.AdminJID); cfg.XMPP.AdminJID != "" && err == nil && admin == addr {
		return "", fmt.Errorf("site.first_contact (%s): the portal's admin account is nobody's contact: name a person's account", config.EnvName("site.first_contact"))
	}
	return addr.String(), nil
}

// reservedFromConfig keeps the admin account's name out of reach.
func reservedFromConfig(cfg *config.Config) []string {
	if l, _, ok := strings.Cut(cfg.XMPP.AdminJID, "@"); ok && l != "" {
		return []string{l}
	}
	return nil
}

func (a *App) health(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	states := map[string]string{"store": "ok"}
	a.onionHealth(states)
	if err := a.Store.Ping(ctx); err != nil {
		states["store"] = "unavailable"
		return states, err
	}
	return states, nil
}

// onionLocation adds the Onion-Location header to clearnet responses.
func onionLocation(addr string, next http.Handler) http.Handler {
	return onionLocationWhen(addr, nil, next)
}

// onionLocationWhen adds the Onion-Location header to clearnet responses
// while published reports true (nil: always). The portal's own service is
// published once tor has uploaded its descriptor: before that (tor starting,
// "announcing", retrying) Tor Browser would offer visitors an address that
// does not answer.
func onionLocationWhen(addr string, published func() bool, next http.Handler) http.Handler {
	if addr == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !handlers.IsOnion(r) && (published == nil || published()) {
			w.Header().Set("Onion-Location", "http://"+addr+r.URL.RequestURI())
		}
		next.ServeHTTP(w, r)
	})
}

// Server returns the clearnet http.Server with the configured timeouts.
func (a *App) Server() *http.Server {
	c := a.Config.HTTP
	return &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelDebug),
	}
}

// ListenAndServe serves until ctx is done, then shuts down gracefully.
func (a *App) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Config.Listen)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done. A connection that starts with a
// PROXY protocol header is refused there (only the onion listener reads
// tor's).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	ln = proxyhdr.Refuse(ln, "clearnet", "the clearnet listener takes no PROXY header (only the onion listener reads tor's)", a.Log)
	srv := a.Server()
	stopMetrics, err := a.serveMetrics(ctx)
	if err != nil {
		ln.Close()
		return fmt.Errorf("metrics.listen: %w", err)
	}
	defer stopMetrics()
	a.Addr = ln.Addr()
	a.Log.Info("portal.listening", "addr", ln.Addr().String(), "mode", a.Config.XMPP.Mode, "store", a.Config.Store.Driver, "version", Version)
	close(a.Ready)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	stopOnion := a.serveOnion(ctx)
	defer stopOnion()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	a.Log.Info("portal.stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close releases the XMPP session and the store.
func (a *App) Close() error {
	var errs []error
	if a.Admin != nil {
		errs = append(errs, a.Admin.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}

// healthcheck GETs url and returns 0 on a 200 answer.
func healthcheck(url string, stderr io.Writer) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "portal: healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "portal: healthcheck: %s answered %d\n", url, resp.StatusCode)
		return 1
	}
	return 0
}
