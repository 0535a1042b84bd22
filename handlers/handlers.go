package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/assets"
	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/metrics"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/resultlink"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
	"github.com/xmpp-portal/portal/views"
)

// Captchas is what the sign-up flow needs of the captcha service.
// Verify deletes the answer at the first check, right or wrong; it returns an
// error (not false) when the store cannot be reached.
type Captchas interface {
	New() (id string, err error)
	Verify(ctx context.Context, id, answer string) (bool, error)
	WriteImage(w io.Writer, id string, width, height int) error
	WriteAudio(w io.Writer, id, lang string) error
	// Renew gives id new digits (the frame's "new picture"); see
	// captchastore.Captchas.Renew.
	Renew(ctx context.Context, id string) error
}

// Deps are the handlers' dependencies; nothing is read from globals.
type Deps struct {
	Log         *slog.Logger
	I18n        *i18n.Bundle
	Views       *views.Renderer
	Assets      *assets.Set
	Captchas    Captchas
	Policy      *policy.Policy
	Signup      Signup
	Site        views.Site
	DefaultLang string
	BodyLimit   int64         // largest form body in bytes
	XMPPTimeout time.Duration // limit for one account operation
	MinPassword int
	// CaptchaDigits is how many digits a captcha has (captcha.length),
	// said in the answer field's label; 0: not said.
	CaptchaDigits int
	// Health reports named component states for /healthz; a non-nil error
	// makes the endpoint answer 503.
	Health func(ctx context.Context) (map[string]string, error)
	// Ready reports, in the same form, whether accounts can be created now
	// (the store and the XMPP server answer) for /readyz; nil: /readyz
	// answers as /healthz.
	Ready func(ctx context.Context) (map[string]string, error)
	// Limiter holds the rate budgets (see abuse.go); nil means no limits,
	// which only unit tests may use.
	Limiter *abuse.Limiter

	// OnionPublished reports whether Site.Onion answers yet (the portal's
	// own service: tor has uploaded its descriptor); until then pages do
	// not show the address, as the Onion-Location header is not sent. nil:
	// always (a service run elsewhere, onion.address).
	OnionPublished func() bool

	// Account management (credentials.go, password.go, delete.go, stats.go).
	// Accounts is the XMPP side (internal/xmpp/account, through
	// ManagerAccounts); nil: the pages say "not available yet".
	Accounts Accounts
	// Regulator locks an account after repeated failed password checks
	// (abuse.Regulator); nil only in unit tests that do not need it.
	Regulator Regulator
	// MinResponse is the least time a password check takes to answer,
	// counted from the start of the request, whatever the outcome.
	MinResponse time.Duration
	// Sleep waits d or until ctx ends (nil: a timer); Now is the clock (nil:
	// time.Now). Tests inject both.
	Sleep func(ctx context.Context, d time.Duration)
	Now   func() time.Time
	// Started is when the portal started (uptime on /stats).
	Started time.Time
	// UploadExpiry says how long the server keeps uploaded files (delete page).
	UploadExpiry string
	// Migrator exports from and imports into accounts (export.go,
	// import.go); nil: the pages say "not available yet".
	Migrator *migrate.Service
	// ImportMaxBytes is the largest upload /import takes (import.max_size);
	// the body limit of that one route.
	ImportMaxBytes int64
	// ImportConcurrency is how many imports run at once (zero:
	// DefaultImportConcurrency); ImportMinRate is the least average upload
	// rate in bytes per second (zero: DefaultImportMinRate).
	ImportConcurrency int
	ImportMinRate     int64
	// Metrics counts events for the operator (internal/metrics); nil
	// counts nothing.
	Metrics *metrics.Metrics
	// Passes carry a solved captcha over to the next tries of a sign-up
	// form that failed on another field (register.go); nil: every try
	// needs a new captcha.
	Passes *captchastore.Passes
	// Links seal the links of result pages (results.go); nil: result pages
	// answer their forms directly, without a redirect.
	Links *resultlink.Sealer
	// Invites make one-time account invites, "Create it in my app"
	// (onboarding.go); nil: the form does not offer them.
	Invites Invites
	// Contacts give a new account its first contact, Site.FirstContact
	// (onboarding.go); nil: no first contact is offered.
	Contacts Contacts
	// Legal holds the operator's legal pages served by the portal
	// ("privacy", "imprint"), each by language; a page without any is not
	// routed (Site says whether the footer links one elsewhere).
	Legal map[string]map[string]views.Legal
}

// Handler serves the portal's pages.
type Handler struct {
	d       Deps
	cache   pageCache     // pages that are the same for every visitor (pagecache.go)
	imports chan struct{} // import slots (import.go)
}

// New returns a Handler.
func New(d Deps) *Handler {
	if d.XMPPTimeout == 0 {
		d.XMPPTimeout = 10 * time.Second
	}
	if d.DefaultLang == "" {
		d.DefaultLang = "en"
	}
	if d.ImportConcurrency <= 0 {
		d.ImportConcurrency = DefaultImportConcurrency
	}
	return &Handler{d: d, imports: make(chan struct{}, d.ImportConcurrency)}
}

// Register installs the middleware, the error handler and every route on e.
// All routes are listed here.
func (h *Handler) Register(e *echo.Echo) {
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	// Origin before size: a refused request is answered without touching
	// its body.
	e.Use(h.recoverPanics, h.requestLog, securityHeaders, crossOriginProtection, h.bodyLimit)

	// Every page answers HEAD as GET does (monitors use it); net/http
	// sends no body for HEAD.
	get := func(path string, fn echo.HandlerFunc) {
		e.GET(path, fn)
		e.HEAD(path, fn)
	}
	get("/", h.home)
	get("/register", h.registerShow)
	e.POST("/register", h.registerSubmit)
	get("/register/picture/:id", h.captchaFrame)
	e.POST("/register/picture/:id", h.captchaRenew)
	get(resultRegistered.path, h.result(resultRegistered))
	get(resultRegistered.path+"/qr.png", h.resultQR(resultRegistered))
	get(resultInvite.path, h.result(resultInvite))
	get(resultInvite.path+"/qr.png", h.resultQR(resultInvite))
	get(resultUnknown.path, h.result(resultUnknown))
	get("/captcha/:file", h.captcha)
	get("/account", h.account)
	get("/password", h.passwordShow)
	e.POST("/password", h.passwordSubmit)
	get(resultPassword.path, h.result(resultPassword))
	get("/export", h.exportShow)
	e.POST("/export", h.exportSubmit)
	get("/import", h.importShow)
	e.POST("/import", h.importSubmit)
	get("/delete", h.deleteShow)
	e.POST("/delete", h.deleteSubmit)
	get(resultDeleted.path, h.result(resultDeleted))
	get("/stats", h.stats)
	for _, name := range []string{"privacy", "imprint"} {
		if len(h.d.Legal[name]) > 0 {
			get("/"+name, h.legal(name))
		}
	}
	get("/healthz", h.health)
	get("/readyz", h.ready)
	get("/assets/*", echo.WrapHandler(h.d.Assets))
}

// HTTPHandler returns a new echo instance with everything registered (see
// Register), as an http.Handler.
func (h *Handler) HTTPHandler() http.Handler {
	e := echo.New()
	h.Register(e)
	return e
}
