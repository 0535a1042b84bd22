package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
)

// Config is the portal's effective configuration.
type Config struct {
	Listen string // clearnet HTTP listen address

	Site struct {
		Name         string // shown in titles
		Contact      string // operator contact address (xmpp: or mailto:)
		StorageNote  string // "what this server stores and for how long"
		UploadExpiry string // e.g. "30 days"; shown on the delete page
		// The operator's texts per language (site.storage_note_de, …): a
		// language without its own shows StorageNote and UploadExpiry,
		// marked as written in TextsLang (default: DefaultLang).
		StorageNotes   map[string]string
		UploadExpiries map[string]string
		TextsLang      string
		DefaultLang    string   // fallback language
		ReservedNames  []string // extra reserved usernames
		// The operator's legal pages: a link (URL) or a page of the portal
		// made from the operator's files (File, "{lang}" in the path
		// replaced by each language).
		PrivacyURL  string
		PrivacyFile string
		ImprintURL  string
		ImprintFile string
		// FirstContact is an address (usually the operator's) the sign-up
		// form offers to add to the new account's contacts; "": none.
		FirstContact string
	}

	XMPP struct {
		Domain        string
		Addr          string // host:port of the c2s STARTTLS listener
		Mode          string // "admin" or "ibr"
		AdminJID      string
		AdminPassword string
		CAFile        string // extra CA certificates (PEM) for the server's TLS certificate
		TLSServerName string
		Timeout       time.Duration
	}

	Store struct {
		Driver  string // "memory" or "redis"
		URL     string
		Prefix  string
		MaxKeys int
	}

	Captcha struct {
		Length int
		TTL    time.Duration
	}

	Password struct {
		MinLength int
	}
	Username struct {
		MinLength int
		MaxLength int
	}

	HTTP struct {
		ReadHeaderTimeout time.Duration
		ReadTimeout       time.Duration
		WriteTimeout      time.Duration
		IdleTimeout       time.Duration
		BodyLimit         int64
		TrustedProxies    []string
	}

	Abuse struct {
		SignupsPerHour                 int           // sign-ups per client per hour
		GlobalSignupsPerHour           int           // clearnet sign-ups per hour, all clients together
		CaptchasPerMinute              int           // captcha pictures and sounds per client per minute
		CredentialChecksPerMinute      int           // password checks per client per minute
		OnionSignupsPerHour            int           // sign-ups per hour over the onion listener, all together
		OnionCaptchasPerMinute         int           // captchas (forms, pictures, sounds) per minute over the onion listener, all together
		OnionCredentialChecksPerMinute int           // password checks per minute over the onion listener, all together
		OnionCircuitsPerMinute         int           // new per-circuit counters per minute, all Tor circuits together
		IPv6Factor56                   int           // an IPv6 /56's budgets, in per-client budgets
		IPv6Factor48                   int           // an IPv6 /48's budgets, in per-client budgets
		Epoch                          time.Duration // lifetime of the key that makes client keys
	}

	Regulation struct {
		MaxFailures int           // failed password checks per account within Window that lock it
		Window      time.Duration // time over which failures are counted
		Ban         time.Duration // how long a locked account stays locked
		MinResponse time.Duration // least time a password check takes to answer
		Secret      string        // HMAC key for the account keys in the store
	}

	Account struct {
		EndSessions bool // end the account's sessions after a password change or deletion
	}

	Invite struct {
		// Enabled offers "Create it in my app" (a one-time account invite,
		// XEP-0401) where the server offers the command (admin mode).
		Enabled bool
	}

	Stats struct {
		Cache time.Duration // how long /stats answers from its cache
	}

	Delete struct {
		// RetireNames is how long the name of a deleted account stays
		// retired (nobody else may register it); 0: not at all.
		RetireNames time.Duration
	}

	Import struct {
		MaxSize int64 // largest export file /import takes, in bytes
		SRV     bool  // look up DNS SRV records of other servers' domains
		// Concurrency is how many imports run at once; MinRate the least
		// average upload rate in bytes per second.
		Concurrency int
		MinRate     int64
		// What one import takes at most (the memory an import keeps is
		// bounded by these, whatever the file's size).
		MaxContacts  int
		MaxBlocked   int
		MaxNodes     int
		MaxNodeItems int
		MaxData      int64
	}

	Onion struct {
		Address         string // the onion address to advertise (Onion-Location, home page)
		Enabled         bool   // publish the portal as an onion service (internal/onion)
		Mode            string // "launch" (own tor child) or "control" (existing tor)
		StateDir        string // key directory (the address!) and, in launch mode, tor's data
		TorPath         string // launch: tor executable
		TorrcExtra      string // launch: torrc fragment included in the generated torrc
		ControlAddr     string // control: host:port or unix:/path
		ControlPassword string // control: password for HashedControlPassword
		CookieFile      string // control: cookie file instead of the one tor names

		// Tor's own defences (internal/onion.Defenses).
		PoW             bool // proof of work for clients when the service is under load
		PoWQueueRate    int  // rendezvous requests dispatched per second from the PoW queue
		PoWQueueBurst   int  // most rendezvous requests dispatched at once
		IntroDoS        bool // launch: rate limit introductions at the introduction points
		IntroDoSRate    int  // launch: introductions per second per introduction point
		IntroDoSBurst   int  // launch: introduction burst per introduction point
		ExportCircuitID bool // launch: tor sends each connection's circuit id; a budget per circuit
	}

	Log struct {
		Level  string
		Format string
	}

	Metrics struct {
		Listen string // host:port of the metrics listener; empty: off
	}
}

// option describes one configuration key. The same table drives the config
// file, the environment, the flags, validation hints, -config-dump and the docs.
type option struct {
	key    string // dotted key in files and flags, e.g. "xmpp.domain"
	help   string
	secret bool
	def    string
	get    func(c *Config) string
	set    func(c *Config, v string) error
}

// EnvName returns the environment variable for a key: PORTAL_XMPP_ADMIN_PASSWORD.
func EnvName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "PORTAL_" + strings.ToUpper(r.Replace(key))
}

func str(p func(c *Config) *string) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return *p(c) },
		func(c *Config, v string) error { *p(c) = v; return nil }
}

// perLang is a text of one language in a map of texts by language.
func perLang(p func(c *Config) *map[string]string, lang string) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return (*p(c))[lang] },
		func(c *Config, v string) error {
			m := p(c)
			if *m == nil {
				*m = map[string]string{}
			}
			if v == "" {
				delete(*m, lang)
			} else {
				(*m)[lang] = v
			}
			return nil
		}
}

func dur(p func(c *Config) *time.Duration) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return p(c).String() },
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("not a duration (use e.g. 10s, 5m): %q", v)
			}
			*p(c) = d
			return nil
		}
}

func integer(p func(c *Config) *int) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strconv.Itoa(*p(c)) },
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("not an integer: %q", v)
			}
			*p(c) = n
			return nil
		}
}

func int64opt(p func(c *Config) *int64) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strconv.FormatInt(*p(c), 10) },
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("not an integer: %q", v)
			}
			*p(c) = n
			return nil
		}
}

func list(p func(c *Config) *[]string) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strings.Join(*p(c), ",") },
		func(c *Config, v string) error {
			var out []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			*p(c) = out
			return nil
		}
}

func boolean(p func(c *Config) *bool) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strconv.FormatBool(*p(c)) },
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("not true or false: %q", v)
			}
			*p(c) = b
			return nil
		}
}

func opt(key, def, help string, secret bool, gs func() (func(*Config) string, func(*Config, string) error)) option {
	g, s := gs()
	return option{key: key, def: def, help: help, secret: secret, get: g, set: s}
}

var options = []option{
	opt("listen", "127.0.0.1:8080", "clearnet HTTP listen address (host:port)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Listen })
	}),
	opt("site.name", "", "name of the service shown on every page (default: the XMPP domain)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.Name })
	}),
	opt("site.contact", "", "operator contact address shown on the home page (xmpp:… or mailto:…)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.Contact })
	}),
	opt("site.first_contact", "", "an address (usually the operator's, e.g. admin@example.org) the sign-up form offers to add to the new account's contacts, in a box ticked by default: after a sign-up on the form the portal logs in once as the new account, adds it and sends it a subscription request; empty: nothing is offered", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.FirstContact })
	}),
	opt("site.storage_note", "", "short text: what this server stores and for how long (shown after sign-up)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.StorageNote })
	}),
	opt("site.upload_expiry", "30 days", "how long uploaded files are kept (shown on the delete page)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.UploadExpiry })
	}),
	opt("site.storage_note_en", "", "site.storage_note for English pages (when site.storage_note is written in another language)", false, func() (func(*Config) string, func(*Config, string) error) {
		return perLang(func(c *Config) *map[string]string { return &c.Site.StorageNotes }, "en")
	}),
	opt("site.storage_note_de", "", "site.storage_note for German pages (Deutsch); without it German pages show site.storage_note, marked as written in site.texts_lang", false, func() (func(*Config) string, func(*Config, string) error) {
		return perLang(func(c *Config) *map[string]string { return &c.Site.StorageNotes }, "de")
	}),
	opt("site.upload_expiry_en", "", "site.upload_expiry for English pages", false, func() (func(*Config) string, func(*Config, string) error) {
		return perLang(func(c *Config) *map[string]string { return &c.Site.UploadExpiries }, "en")
	}),
	opt("site.upload_expiry_de", "", "site.upload_expiry for German pages, e.g. 30 Tage", false, func() (func(*Config) string, func(*Config, string) error) {
		return perLang(func(c *Config) *map[string]string { return &c.Site.UploadExpiries }, "de")
	}),
	opt("site.texts_lang", "", "the language site.storage_note and site.upload_expiry are written in (en or de; default: site.default_lang): a page in another language without its own text shows them marked with this language", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.TextsLang })
	}),
	opt("site.default_lang", "en", "language used when the browser asks for none we have (en, de)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.DefaultLang })
	}),
	opt("site.reserved_names", "", "comma-separated extra usernames nobody may register", false, func() (func(*Config) string, func(*Config, string) error) {
		return list(func(c *Config) *[]string { return &c.Site.ReservedNames })
	}),
	opt("site.privacy_url", "", "link to the operator's privacy policy (Datenschutzerklärung), https://…, shown in every page's footer and next to the sign-up button; or use site.privacy_file", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.PrivacyURL })
	}),
	opt("site.privacy_file", "", "the privacy policy as a page of the portal (/privacy): a file per language, {lang} in the path replaced by en or de (missing languages show the site.default_lang one); .html files are HTML fragments, others plain text; read at start", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.PrivacyFile })
	}),
	opt("site.imprint_url", "", "link to the operator's imprint (Impressum, legal notice), https://…, shown in every page's footer; or use site.imprint_file", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.ImprintURL })
	}),
	opt("site.imprint_file", "", "the imprint as a page of the portal (/imprint), files as for site.privacy_file", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Site.ImprintFile })
	}),
	opt("xmpp.domain", "", "XMPP domain accounts are created on (required), e.g. example.org", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.Domain })
	}),
	opt("xmpp.addr", "", "host:port of the server's client (c2s) listener with STARTTLS (default: <domain>:5222, no SRV lookup)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.Addr })
	}),
	opt("xmpp.mode", "admin", "how accounts are created: admin (XEP-0133 add-user, public IBR closed) or ibr (XEP-0077)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.Mode })
	}),
	opt("xmpp.admin_jid", "", "admin account used in admin mode, e.g. portal@example.org", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.AdminJID })
	}),
	opt("xmpp.admin_password", "", "password of the admin account (use PORTAL_XMPP_ADMIN_PASSWORD or PORTAL_XMPP_ADMIN_PASSWORD_FILE; never a flag)", true, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.AdminPassword })
	}),
	opt("xmpp.ca_file", "", "PEM file with extra CA certificates trusted for the server's TLS certificate", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.CAFile })
	}),
	opt("xmpp.tls_server_name", "", "name expected in the server's certificate (default: the domain)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.XMPP.TLSServerName })
	}),
	opt("xmpp.timeout", "10s", "time limit of one XMPP operation", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.XMPP.Timeout })
	}),
	opt("store.driver", "memory", "where short-lived state lives: memory (one instance) or redis (several)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Store.Driver })
	}),
	opt("store.url", "", "Redis URL, e.g. redis://127.0.0.1:6379/0 (may hold a password: secret)", true, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Store.URL })
	}),
	opt("store.prefix", "portal:", "prefix of every key in the store", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Store.Prefix })
	}),
	opt("store.max_keys", "100000", "memory store: most keys held at once (new rate-limit keys are refused beyond)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Store.MaxKeys })
	}),
	opt("captcha.length", "6", "digits in a captcha", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Captcha.Length })
	}),
	opt("captcha.ttl", "10m", "how long a captcha can be solved", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Captcha.TTL })
	}),
	opt("password.min_length", "10", "shortest password accepted", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Password.MinLength })
	}),
	opt("username.min_length", "2", "shortest username accepted", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Username.MinLength })
	}),
	opt("username.max_length", "32", "longest username accepted", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Username.MaxLength })
	}),
	opt("http.read_header_timeout", "5s", "time to read request headers", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout })
	}),
	opt("http.read_timeout", "15s", "time to read a whole request", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout })
	}),
	opt("http.write_timeout", "30s", "time to write a response", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout })
	}),
	opt("http.idle_timeout", "60s", "keep-alive idle time", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout })
	}),
	opt("http.body_limit", "65536", "largest request body in bytes for forms", false, func() (func(*Config) string, func(*Config, string) error) {
		return int64opt(func(c *Config) *int64 { return &c.HTTP.BodyLimit })
	}),
	opt("http.trusted_proxies", "", "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is honoured on the clearnet listener", false, func() (func(*Config) string, func(*Config, string) error) {
		return list(func(c *Config) *[]string { return &c.HTTP.TrustedProxies })
	}),
	opt("abuse.signups_per_hour", "10", "sign-ups per client per hour (a wrong captcha counts; a sign-up refused after the captcha does not)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.SignupsPerHour })
	}),
	opt("abuse.global_signups_per_hour", "100", "sign-ups per hour over the clearnet listener, all clients together (shared by every instance on one Redis)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.GlobalSignupsPerHour })
	}),
	opt("abuse.captchas_per_minute", "30", "captchas per client per minute: new sign-up forms (each holds a new captcha in the store), pictures and sounds", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.CaptchasPerMinute })
	}),
	opt("abuse.credential_checks_per_minute", "10", "password checks (password change, export, delete) per client per minute", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.CredentialChecksPerMinute })
	}),
	opt("abuse.onion_signups_per_hour", "20", "sign-ups per hour over the onion listener, all onion clients together (with onion.export_circuit_id each Tor circuit is also counted like a clearnet client, and wrong captchas cost the circuit, not this budget)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.OnionSignupsPerHour })
	}),
	opt("abuse.onion_captchas_per_minute", "120", "captchas per minute over the onion listener, all onion clients together: new sign-up forms, sign-up forms shown again, pictures and sounds (each form holds a new captcha in the store)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.OnionCaptchasPerMinute })
	}),
	opt("abuse.onion_credential_checks_per_minute", "30", "password checks per minute over the onion listener, all onion clients together", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.OnionCredentialChecksPerMinute })
	}),
	opt("abuse.onion_circuits_per_minute", "30", "with onion.export_circuit_id: Tor circuits get budgets of their own (the per-client ones); each new per-circuit counter takes one unit of this shared budget, never given back, so circuits cannot fill the store; over it, a new circuit is counted on the shared onion budgets only", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.OnionCircuitsPerMinute })
	}),
	opt("abuse.ipv6_56_factor", "2", "an IPv6 client is counted under its /64 and also under its /56 network, whose sign-up, captcha and password-check budgets are this many times the per-client ones", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.IPv6Factor56 })
	}),
	opt("abuse.ipv6_48_factor", "4", "an IPv6 client is also counted under its /48 network, whose budgets are this many times the per-client ones (at least abuse.ipv6_56_factor; IPv4 addresses are counted alone, never by network)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Abuse.IPv6Factor48 })
	}),
	opt("abuse.epoch", "24h", "lifetime of the random key behind client keys; then it is replaced and old counters cannot be linked to anyone", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Abuse.Epoch })
	}),
	opt("regulation.max_failures", "5", "failed password checks for one account (password change, export, delete) within regulation.window that lock it", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Regulation.MaxFailures })
	}),
	opt("regulation.window", "10m", "time over which failed password checks of an account are counted", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Regulation.Window })
	}),
	opt("regulation.ban", "15m", "how long a locked account is refused (the answer is the same as for a wrong password)", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Regulation.Ban })
	}),
	opt("regulation.min_response", "1s", "least time every answer to a password check takes, so that timing tells nothing (0 turns it off)", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Regulation.MinResponse })
	}),
	opt("regulation.secret", "", "key that turns addresses into store keys (HMAC); empty: a random key per process with the memory store, a fixed one (plain SHA-256) with Redis — set it when instances share Redis", true, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Regulation.Secret })
	}),
	opt("account.end_sessions", "true", "after a password change or deletion, end every session of the account with end-user-session (needs xmpp.admin_jid; true or false)", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Account.EndSessions })
	}),
	opt("invite.enabled", "true", "offer \"Create it in my app\" on the sign-up form: after the captcha the portal asks the server for a one-time account invite (XEP-0401) and the newcomer's app creates the account with it; shown only in admin mode where the server offers the command (Prosody with mod_invites_adhoc; not ejabberd 23.01), and counted against the sign-up budgets like a sign-up (true or false)", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Invite.Enabled })
	}),
	opt("delete.retire_names", "8760h", "how long the address of a deleted account stays retired, so that nobody else can register it (a keyed hash of the name in the store, never the name; 0 turns it off); set regulation.secret so the hashes outlive a restart on Redis, and the same time in Prosody's PROSODY_RETIRE_NAMES", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Delete.RetireNames })
	}),
	opt("stats.cache", "5m", "how long /stats shows the same numbers before asking the XMPP server again", false, func() (func(*Config) string, func(*Config, string) error) {
		return dur(func(c *Config) *time.Duration { return &c.Stats.Cache })
	}),
	opt("import.max_size", "52428800", "largest export file in bytes that /import takes (the body limit of that route only)", false, func() (func(*Config) string, func(*Config, string) error) {
		return int64opt(func(c *Config) *int64 { return &c.Import.MaxSize })
	}),
	opt("import.concurrency", "2", "imports that run at once; more wait for nothing: they are refused with 503 and Retry-After before their file is read", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Import.Concurrency })
	}),
	opt("import.min_rate", "65536", "least average upload rate of an export file in bytes per second, held after 20 s; slower uploads are cut", false, func() (func(*Config) string, func(*Config, string) error) {
		return int64opt(func(c *Config) *int64 { return &c.Import.MinRate })
	}),
	opt("import.max_contacts", "5000", "most contacts one import takes (a file with more is refused, naming the limit)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Import.MaxContacts })
	}),
	opt("import.max_blocked", "5000", "most blocked addresses and privacy rules one import takes", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Import.MaxBlocked })
	}),
	opt("import.max_nodes", "200", "most kinds of stored data (PEP nodes and private XML elements) one import takes", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Import.MaxNodes })
	}),
	opt("import.max_node_items", "1000", "most items of one PEP node (bookmarks, for example) one import takes", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Import.MaxNodeItems })
	}),
	opt("import.max_data", "16777216", "most bytes of data besides the archive (text, names, attribute values) one import keeps in memory; about 60,000 elements go with the default", false, func() (func(*Config) string, func(*Config, string) error) {
		return int64opt(func(c *Config) *int64 { return &c.Import.MaxData })
	}),
	opt("import.srv", "false", "for imports into accounts on other servers, look up DNS SRV records (_xmpp-client._tcp); false: <domain>:5222 (true or false)", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Import.SRV })
	}),
	opt("onion.address", "", "onion address (56 base32 characters + .onion) to advertise with Onion-Location and on the home page when the service runs elsewhere; with onion.enabled the key's address is used", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.Address })
	}),
	opt("onion.enabled", "false", "publish the portal as a Tor v3 onion service (true or false); the address comes from the key in onion.state_dir", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Onion.Enabled })
	}),
	opt("onion.mode", "launch", "launch (the portal starts its own tor) or control (attach to a running tor through its control port or socket)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.Mode })
	}),
	opt("onion.state_dir", "", "directory for the onion key (hidden_service/, tor's HiddenServiceDir format: back it up, the key is the address) and, in launch mode, tor's data; required when onion.enabled", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.StateDir })
	}),
	opt("onion.tor_path", "tor", "launch mode: the tor executable", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.TorPath })
	}),
	opt("onion.torrc_extra", "", "launch mode: a torrc file included into the generated torrc (bridges, proxies, test networks)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.TorrcExtra })
	}),
	opt("onion.control_addr", "", "control mode: tor's ControlPort (127.0.0.1:9051) or ControlSocket (unix:/run/tor/control)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.ControlAddr })
	}),
	opt("onion.control_password", "", "control mode: password for tor's HashedControlPassword (empty: cookie authentication)", true, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.ControlPassword })
	}),
	opt("onion.cookie_file", "", "control mode: tor's control cookie file, when not the one tor reports (e.g. another mount path)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Onion.CookieFile })
	}),
	opt("onion.pow", "true", "proof of work at the front door: tor asks clients to solve a puzzle when the service is under load (HiddenServicePoWDefensesEnabled; Tor Browser solves it by itself; needs tor 0.4.8 with the pow module, and in control mode tor 0.4.9 for ADD_ONION)", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Onion.PoW })
	}),
	opt("onion.pow_queue_rate", "25", "rendezvous requests per second tor takes from the proof-of-work queue (HiddenServicePoWQueueRate; 0: no limit); above it, waiting clients are asked for more work", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Onion.PoWQueueRate })
	}),
	opt("onion.pow_queue_burst", "250", "most rendezvous requests tor takes from the proof-of-work queue at once (HiddenServicePoWQueueBurst; at least onion.pow_queue_rate)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Onion.PoWQueueBurst })
	}),
	opt("onion.intro_dos", "true", "launch mode: the introduction points rate-limit introductions to the service (HiddenServiceEnableIntroDoSDefense); not available over ADD_ONION (control mode)", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Onion.IntroDoS })
	}),
	opt("onion.intro_dos_rate", "25", "launch mode: introductions per second each introduction point lets through (HiddenServiceEnableIntroDoSRatePerSec)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Onion.IntroDoSRate })
	}),
	opt("onion.intro_dos_burst", "200", "launch mode: introductions each introduction point lets through at once (HiddenServiceEnableIntroDoSBurstPerSec; at least onion.intro_dos_rate)", false, func() (func(*Config) string, func(*Config, string) error) {
		return integer(func(c *Config) *int { return &c.Onion.IntroDoSBurst })
	}),
	opt("onion.export_circuit_id", "true", "launch mode: tor opens every connection with a PROXY protocol header naming its Tor circuit (HiddenServiceExportCircuitID haproxy), read on the onion listener only, and each circuit gets the per-client budgets (abuse.signups_per_hour, ...) besides the shared onion ones; not available over ADD_ONION (control mode: onion visitors share the onion budgets)", false, func() (func(*Config) string, func(*Config, string) error) {
		return boolean(func(c *Config) *bool { return &c.Onion.ExportCircuitID })
	}),
	opt("log.level", "info", "debug, info, warn or error (usernames appear only at debug)", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Log.Level })
	}),
	opt("log.format", "text", "text or json", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Log.Format })
	}),
	opt("metrics.listen", "", "host:port of a separate listener serving counts in the OpenMetrics/Prometheus format at /metrics (empty: off); keep it on loopback or a private network", false, func() (func(*Config) string, func(*Config, string) error) {
		return str(func(c *Config) *string { return &c.Metrics.Listen })
	}),
}

func lookup(key string) (option, bool) {
	for _, o := range options {
		if o.key == key {
			return o, true
		}
	}
	return option{}, false
}

// Defaults returns a Config with every default applied.
func Defaults() *Config {
	c := &Config{}
	for _, o := range options {
		if err := o.set(c, o.def); err != nil {
			panic("config: bad default for " + o.key + ": " + err.Error())
		}
	}
	return c
}

// Flags are the command-line switches that are not configuration keys.
type Flags struct {
	ConfigFile  string
	ConfigDump  bool
	Version     bool
	Healthcheck string
	Check       bool
	// OnionAddress prints the onion address computed from the key in
	// onion.state_dir (creating the key if there is none) and exits.
	OnionAddress bool
}

// Load builds the configuration: defaults, then the optional file (-config or
// PORTAL_CONFIG), then PORTAL_* environment variables (and PORTAL_*_FILE for
// every key), then flags. Secrets cannot be given as flags. Every problem is
// reported at once.
func Load(args []string, getenv func(string) string) (*Config, Flags, error) {
	c := Defaults()
	var fl Flags
	var errs []error

	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&fl.ConfigFile, "config", getenv("PORTAL_CONFIG"), "configuration file (key = value lines)")
	fs.BoolVar(&fl.ConfigDump, "config-dump", false, "print the effective configuration with secrets masked and exit")
	fs.BoolVar(&fl.Version, "version", false, "print the version and exit")
	fs.StringVar(&fl.Healthcheck, "healthcheck", "", "GET this URL, exit 0 when it answers 200 (for container health checks)")
	fs.BoolVar(&fl.Check, "check", false, "check the XMPP server and the store, then exit")
	fs.BoolVar(&fl.OnionAddress, "onion-address", false, "print the onion address from the key in onion.state_dir (created if missing) and exit; starts no tor")
	flagVals := map[string]*string{}
	for _, o := range options {
		if o.secret {
			continue
		}
		v := new(string)
		flagVals[o.key] = v
		fs.StringVar(v, o.key, "", o.help)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fl, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}

	if fl.ConfigFile != "" {
		if err := loadFile(c, fl.ConfigFile); err != nil {
			errs = append(errs, err)
		}
	}

	for _, o := range options {
		name := EnvName(o.key)
		v, fv := getenv(name), getenv(name+"_FILE")
		switch {
		case v != "" && fv != "":
			errs = append(errs, fmt.Errorf("%s and %s_FILE are both set; use one", name, name))
		case fv != "":
			b, err := os.ReadFile(fv)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
				continue
			}
			if err := o.set(c, strings.TrimRight(string(b), "\r\n")); err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
			}
		case v != "":
			if err := o.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}

	fs.Visit(func(f *flag.Flag) {
		o, ok := lookup(f.Name)
		if !ok {
			return
		}
		if err := o.set(c, *flagVals[o.key]); err != nil {
			errs = append(errs, fmt.Errorf("-%s: %w", o.key, err))
		}
	})

	if len(errs) > 0 {
		return nil, fl, errors.Join(errs...)
	}
	c.fillDerived()
	if fl.Version || fl.Healthcheck != "" {
		return c, fl, nil
	}
	if err := c.Validate(); err != nil {
		return c, fl, err
	}
	return c, fl, nil
}

func loadFile(c *Config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	var errs []error
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: expected key = value", path, n))
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		o, ok := lookup(k)
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q", path, n, k))
			continue
		}
		if err := o.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, n, k, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	return errors.Join(errs...)
}

func (c *Config) fillDerived() {
	if c.XMPP.Addr == "" && c.XMPP.Domain != "" {
		c.XMPP.Addr = net.JoinHostPort(c.XMPP.Domain, "5222")
	}
	if c.XMPP.TLSServerName == "" {
		c.XMPP.TLSServerName = c.XMPP.Domain
	}
	if c.Site.Name == "" {
		c.Site.Name = c.XMPP.Domain
	}
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", key, EnvName(key), fmt.Sprintf(format, a...)))
	}
	hostport := func(key, v string) {
		if _, p, err := net.SplitHostPort(v); err != nil {
			bad(key, "not host:port: %q", v)
		} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			bad(key, "bad port in %q", v)
		}
	}
	hostport("listen", c.Listen)
	if c.XMPP.Domain == "" {
		bad("xmpp.domain", "required")
	} else if strings.ContainsAny(c.XMPP.Domain, "@/ :") || strings.HasPrefix(c.XMPP.Domain, ".") {
		bad("xmpp.domain", "not a domain: %q", c.XMPP.Domain)
	}
	if c.XMPP.Addr != "" {
		hostport("xmpp.addr", c.XMPP.Addr)
	}
	switch c.XMPP.Mode {
	case "admin":
		if c.XMPP.AdminJID == "" {
			bad("xmpp.admin_jid", "required in admin mode")
		} else if l, d, ok := strings.Cut(c.XMPP.AdminJID, "@"); !ok || l == "" || d != c.XMPP.Domain {
			bad("xmpp.admin_jid", "must be user@%s, got %q", c.XMPP.Domain, c.XMPP.AdminJID)
		}
		if c.XMPP.AdminPassword == "" {
			bad("xmpp.admin_password", "required in admin mode")
		}
	case "ibr":
	default:
		bad("xmpp.mode", "must be admin or ibr, got %q", c.XMPP.Mode)
	}
	if c.XMPP.CAFile != "" {
		if _, err := os.Stat(c.XMPP.CAFile); err != nil {
			bad("xmpp.ca_file", "%v", err)
		}
	}
	if c.XMPP.Timeout < 100*time.Millisecond || c.XMPP.Timeout > 5*time.Minute {
		bad("xmpp.timeout", "must be between 100ms and 5m, got %s", c.XMPP.Timeout)
	}
	switch c.Store.Driver {
	case "memory":
		if c.Store.MaxKeys < 1000 {
			bad("store.max_keys", "must be at least 1000, got %d", c.Store.MaxKeys)
		}
	case "redis":
		if c.Store.URL == "" {
			bad("store.url", "required when store.driver is redis")
		} else if u, err := url.Parse(c.Store.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("store.url", "must be a redis://, rediss:// or unix:// URL")
		}
	default:
		bad("store.driver", "must be memory or redis, got %q", c.Store.Driver)
	}
	if c.Captcha.Length < 4 || c.Captcha.Length > 10 {
		bad("captcha.length", "must be between 4 and 10, got %d", c.Captcha.Length)
	}
	if c.Captcha.TTL < 30*time.Second || c.Captcha.TTL > 24*time.Hour {
		bad("captcha.ttl", "must be between 30s and 24h, got %s", c.Captcha.TTL)
	}
	if c.Password.MinLength < 8 || c.Password.MinLength > 128 {
		bad("password.min_length", "must be between 8 and 128, got %d", c.Password.MinLength)
	}
	if c.Username.MinLength < 1 || c.Username.MaxLength > 256 || c.Username.MinLength > c.Username.MaxLength {
		bad("username.min_length", "need 1 <= min (%d) <= max (%d) <= 256", c.Username.MinLength, c.Username.MaxLength)
	}
	for key, d := range map[string]time.Duration{
		"http.read_header_timeout": c.HTTP.ReadHeaderTimeout, "http.read_timeout": c.HTTP.ReadTimeout,
		"http.write_timeout": c.HTTP.WriteTimeout, "http.idle_timeout": c.HTTP.IdleTimeout,
	} {
		if d <= 0 || d > 10*time.Minute {
			bad(key, "must be between 0 and 10m, got %s", d)
		}
	}
	if c.HTTP.BodyLimit < 1024 || c.HTTP.BodyLimit > 1<<30 {
		bad("http.body_limit", "must be between 1024 and 1073741824, got %d", c.HTTP.BodyLimit)
	}
	for _, p := range c.HTTP.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("http.trusted_proxies", "not an IP or CIDR: %q", p)
			}
		}
	}
	budgetsOK := true
	for key, n := range map[string]int{
		"abuse.signups_per_hour": c.Abuse.SignupsPerHour, "abuse.global_signups_per_hour": c.Abuse.GlobalSignupsPerHour,
		"abuse.captchas_per_minute": c.Abuse.CaptchasPerMinute, "abuse.credential_checks_per_minute": c.Abuse.CredentialChecksPerMinute,
		"abuse.onion_signups_per_hour": c.Abuse.OnionSignupsPerHour, "abuse.onion_captchas_per_minute": c.Abuse.OnionCaptchasPerMinute,
		"abuse.onion_credential_checks_per_minute": c.Abuse.OnionCredentialChecksPerMinute,
		"abuse.onion_circuits_per_minute":          c.Abuse.OnionCircuitsPerMinute,
	} {
		if n < 1 || n > 1_000_000 {
			bad(key, "must be between 1 and 1000000, got %d", n)
			budgetsOK = false
		}
	}
	switch {
	case c.Abuse.IPv6Factor56 < 1 || c.Abuse.IPv6Factor56 > 256:
		bad("abuse.ipv6_56_factor", "must be between 1 and 256 (the /64s of a /56), got %d", c.Abuse.IPv6Factor56)
		budgetsOK = false
	case c.Abuse.IPv6Factor48 < c.Abuse.IPv6Factor56 || c.Abuse.IPv6Factor48 > 65536:
		bad("abuse.ipv6_48_factor", "must be between abuse.ipv6_56_factor (%d) and 65536 (the /64s of a /48), got %d", c.Abuse.IPv6Factor56, c.Abuse.IPv6Factor48)
		budgetsOK = false
	}
	if budgetsOK && c.Store.Driver == "memory" && c.Store.MaxKeys >= 1000 {
		c.validateStoreShares(bad)
	}
	if c.Abuse.Epoch < time.Hour || c.Abuse.Epoch > 30*24*time.Hour {
		bad("abuse.epoch", "must be between 1h and 720h, got %s", c.Abuse.Epoch)
	}
	if c.Import.Concurrency < 1 || c.Import.Concurrency > 64 {
		bad("import.concurrency", "must be between 1 and 64, got %d", c.Import.Concurrency)
	}
	if c.Import.MinRate < 1024 || c.Import.MinRate > 1<<30 {
		bad("import.min_rate", "must be between 1024 and 1073741824 bytes per second, got %d", c.Import.MinRate)
	}
	for key, v := range map[string]int{"import.max_contacts": c.Import.MaxContacts, "import.max_blocked": c.Import.MaxBlocked,
		"import.max_nodes": c.Import.MaxNodes, "import.max_node_items": c.Import.MaxNodeItems} {
		if v < 1 || v > 1_000_000 {
			bad(key, "must be between 1 and 1000000, got %d", v)
		}
	}
	if c.Import.MaxData < 64<<10 || c.Import.MaxData > 1<<30 {
		bad("import.max_data", "must be between 65536 and 1073741824, got %d", c.Import.MaxData)
	}
	if c.Import.MaxSize < 1<<20 || c.Import.MaxSize > 1<<30 {
		bad("import.max_size", "must be between 1048576 and 1073741824, got %d", c.Import.MaxSize)
	}
	if a := c.Onion.Address; a != "" {
		h := strings.TrimSuffix(a, ".onion")
		if len(h) != 56 || strings.Trim(h, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			bad("onion.address", "not a v3 onion address: %q", a)
		}
	}
	switch c.Onion.Mode {
	case "launch", "control":
	default:
		bad("onion.mode", "must be launch or control, got %q", c.Onion.Mode)
	}
	if c.Onion.Enabled {
		if c.Onion.StateDir == "" {
			bad("onion.state_dir", "required when onion.enabled is true (the key, and so the address, lives there)")
		}
		switch c.Onion.Mode {
		case "launch":
			if c.Onion.TorPath == "" {
				bad("onion.tor_path", "required in launch mode")
			}
			if p := c.Onion.TorrcExtra; p != "" {
				if st, err := os.Stat(p); err != nil {
					bad("onion.torrc_extra", "%v", err)
				} else if !st.Mode().IsRegular() {
					bad("onion.torrc_extra", "not a file: %s", p)
				}
			}
		case "control":
			switch a := c.Onion.ControlAddr; {
			case a == "":
				bad("onion.control_addr", "required in control mode, e.g. unix:/run/tor/control or 127.0.0.1:9051")
			case strings.HasPrefix(a, "unix:") || strings.HasPrefix(a, "/"):
				if !strings.HasPrefix(strings.TrimPrefix(a, "unix:"), "/") {
					bad("onion.control_addr", "a control socket needs an absolute path: %q", a)
				}
			default:
				hostport("onion.control_addr", a)
			}
			if p := c.Onion.CookieFile; p != "" {
				if _, err := os.Stat(p); err != nil {
					bad("onion.cookie_file", "%v", err)
				}
			}
		}
	}
	if c.Onion.PoW {
		if c.Onion.PoWQueueRate < 0 || c.Onion.PoWQueueRate > 1_000_000 {
			bad("onion.pow_queue_rate", "must be between 0 and 1000000, got %d", c.Onion.PoWQueueRate)
		}
		if c.Onion.PoWQueueBurst < max(c.Onion.PoWQueueRate, 1) || c.Onion.PoWQueueBurst > 1_000_000 {
			bad("onion.pow_queue_burst", "must be between onion.pow_queue_rate (%d) and 1000000, got %d", c.Onion.PoWQueueRate, c.Onion.PoWQueueBurst)
		}
	}
	if c.Onion.IntroDoS {
		if c.Onion.IntroDoSRate < 1 || c.Onion.IntroDoSRate > 1_000_000 {
			bad("onion.intro_dos_rate", "must be between 1 and 1000000, got %d", c.Onion.IntroDoSRate)
		}
		if c.Onion.IntroDoSBurst < c.Onion.IntroDoSRate || c.Onion.IntroDoSBurst > 1_000_000 {
			bad("onion.intro_dos_burst", "must be between onion.intro_dos_rate (%d) and 1000000, got %d", c.Onion.IntroDoSRate, c.Onion.IntroDoSBurst)
		}
	}
	if c.Regulation.MaxFailures < 1 || c.Regulation.MaxFailures > 1000 {
		bad("regulation.max_failures", "must be between 1 and 1000, got %d", c.Regulation.MaxFailures)
	}
	if c.Regulation.Window < 10*time.Second || c.Regulation.Window > 24*time.Hour {
		bad("regulation.window", "must be between 10s and 24h, got %s", c.Regulation.Window)
	}
	if c.Regulation.Ban < time.Second || c.Regulation.Ban > 7*24*time.Hour {
		bad("regulation.ban", "must be between 1s and 168h, got %s", c.Regulation.Ban)
	}
	if c.Regulation.MinResponse < 0 || c.Regulation.MinResponse > 10*time.Second {
		bad("regulation.min_response", "must be between 0 and 10s, got %s", c.Regulation.MinResponse)
	}
	if c.Regulation.Secret != "" && len(c.Regulation.Secret) < 16 {
		bad("regulation.secret", "must be at least 16 characters")
	}
	if c.Stats.Cache < time.Second || c.Stats.Cache > 24*time.Hour {
		bad("stats.cache", "must be between 1s and 24h, got %s", c.Stats.Cache)
	}
	if c.Delete.RetireNames < 0 || c.Delete.RetireNames > 10*8760*time.Hour {
		bad("delete.retire_names", "must be between 0 (off) and 87600h (ten years), got %s", c.Delete.RetireNames)
	}
	switch c.Site.TextsLang {
	case "", "en", "de":
	default:
		bad("site.texts_lang", "must be en or de, got %q", c.Site.TextsLang)
	}
	switch c.Site.DefaultLang {
	case "en", "de":
	default:
		bad("site.default_lang", "must be en or de, got %q", c.Site.DefaultLang)
	}
	if c.Metrics.Listen != "" {
		hostport("metrics.listen", c.Metrics.Listen)
		if c.Metrics.Listen == c.Listen {
			bad("metrics.listen", "must not be the public listener (listen): the counts are for the operator")
		}
	}
	legal := func(name, u, f string) {
		switch {
		case u != "" && f != "":
			bad("site."+name+"_url", "set site.%s_url or site.%s_file, not both", name, name)
		case u != "":
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
				bad("site."+name+"_url", "must be an http:// or https:// URL, got %q", u)
			}
		case f != "":
			p := strings.ReplaceAll(f, "{lang}", c.Site.DefaultLang)
			if st, err := os.Stat(p); err != nil {
				bad("site."+name+"_file", "%v (the file of the default language, site.default_lang, must exist)", err)
			} else if !st.Mode().IsRegular() {
				bad("site."+name+"_file", "not a file: %s", p)
			}
		}
	}
	legal("privacy", c.Site.PrivacyURL, c.Site.PrivacyFile)
	legal("imprint", c.Site.ImprintURL, c.Site.ImprintFile)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// validateStoreShares refuses budgets with which one class of traffic could
// take more than its share of the memory store: the onion listener a quarter
// of store.max_keys, one IPv6 /48 network (or one IPv4 address, which holds
// fewer) a twentieth. The bounds are abuse.OnionKeyBound and
// abuse.NetworkKeyBound: captchas for captcha.ttl, password-check counters
// for the regulation window or ban, and rate counters, all paid by the
// class's budgets.
func (c *Config) validateStoreShares(bad func(key, format string, a ...any)) {
	b := c.AbuseBudgets()
	lt := abuse.Lifetimes{Captcha: c.Captcha.TTL, RegulationWindow: c.Regulation.Window, RegulationBan: c.Regulation.Ban}
	if k := abuse.OnionKeyBound(b, lt, c.OnionCircuits()); k.Total() > c.Store.MaxKeys/abuse.OnionShareDivisor {
		circuits := ""
		if c.OnionCircuits() {
			circuits = ", abuse.onion_circuits_per_minute"
		}
		bad("abuse.onion_captchas_per_minute", "the onion listener, all onion clients together, could hold %s in the memory store, "+
			"more than 1/%d of store.max_keys (%d); lower abuse.onion_captchas_per_minute%s or abuse.onion_credential_checks_per_minute, "+
			"shorten captcha.ttl or regulation.ban, or raise store.max_keys to at least %d",
			k, abuse.OnionShareDivisor, c.Store.MaxKeys, circuits, k.Total()*abuse.OnionShareDivisor)
	}
	if k := abuse.NetworkKeyBound(b, lt); k.Total() > c.Store.MaxKeys/abuse.NetworkShareDivisor {
		bad("abuse.ipv6_48_factor", "one IPv6 /48 network could hold %s in the memory store, more than 1/%d of store.max_keys (%d); "+
			"lower abuse.ipv6_48_factor, abuse.captchas_per_minute, abuse.signups_per_hour or abuse.credential_checks_per_minute, "+
			"shorten captcha.ttl or regulation.ban, or raise store.max_keys to at least %d",
			k, abuse.NetworkShareDivisor, c.Store.MaxKeys, k.Total()*abuse.NetworkShareDivisor)
	}
}

// OnionCircuits reports whether the onion listener reads tor's circuit ids
// and counts every Tor circuit on the per-client budgets: the portal
// publishes the service itself, in launch mode, with onion.export_circuit_id.
// In control mode the service is added with ADD_ONION, which cannot export
// circuit ids: onion visitors then share the onion budgets.
func (c *Config) OnionCircuits() bool {
	return c.Onion.Enabled && c.Onion.Mode == "launch" && c.Onion.ExportCircuitID
}

// AbuseBudgets are the abuse.* budgets as the Limiter takes them.
func (c *Config) AbuseBudgets() abuse.Budgets {
	return abuse.Budgets{
		SignupsPerHour:                 c.Abuse.SignupsPerHour,
		GlobalSignupsPerHour:           c.Abuse.GlobalSignupsPerHour,
		CaptchasPerMinute:              c.Abuse.CaptchasPerMinute,
		CredentialChecksPerMinute:      c.Abuse.CredentialChecksPerMinute,
		OnionSignupsPerHour:            c.Abuse.OnionSignupsPerHour,
		OnionCaptchasPerMinute:         c.Abuse.OnionCaptchasPerMinute,
		OnionCredentialChecksPerMinute: c.Abuse.OnionCredentialChecksPerMinute,
		OnionCircuitsPerMinute:         c.Abuse.OnionCircuitsPerMinute,
		IPv6Factor56:                   c.Abuse.IPv6Factor56,
		IPv6Factor48:                   c.Abuse.IPv6Factor48,
	}
}

// Dump writes the effective configuration as a config file, secrets masked.
func (c *Config) Dump(w io.Writer) error {
	for _, o := range options {
		v := o.get(c)
		if o.secret && v != "" {
			v = "********"
		}
		if _, err := fmt.Fprintf(w, "%s = %s\n", o.key, strconv.Quote(v)); err != nil {
			return err
		}
	}
	return nil
}

// Reference writes one line per key (key, environment variable, default, help)
// as a Markdown table, for the README.
func Reference(w io.Writer) {
	fmt.Fprintln(w, "| key | environment | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, o := range options {
		env := "`" + EnvName(o.key) + "`"
		if o.secret {
			env += " or `" + EnvName(o.key) + "_FILE`"
		}
		def := o.def
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", o.key, env, def, o.help)
	}
}
