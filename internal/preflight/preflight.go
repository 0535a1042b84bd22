package preflight

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Status is the outcome of one check.
type Status int

const (
	OK      Status = iota // the check passed
	Skipped               // the check could not run because an earlier one failed
	Warn                  // the portal works, but something is wrong: read the hint
	Fail                  // the portal cannot work like this
)

// String returns the label used in reports: "ok", "skip", "WARN", "FAIL".
func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Skipped:
		return "skip"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Names of the checks, as they appear in reports and logs.
const (
	CheckStore         = "store"
	CheckConnect       = "xmpp.connect"
	CheckAdminLogin    = "xmpp.admin_login"
	CheckAdminCommands = "xmpp.admin_commands"
	CheckRegistration  = "xmpp.registration"
	CheckInvites       = "xmpp.invites"
)

// XEP-0133 command nodes the checks look for.
const (
	NodeAddUser            = "http://jabber.org/protocol/admin#add-user"
	NodeChangeUserPassword = "http://jabber.org/protocol/admin#change-user-password"
	NodeDeleteUser         = "http://jabber.org/protocol/admin#delete-user"
	NodeEndUserSession     = "http://jabber.org/protocol/admin#end-user-session"
	// NodeCreateInvite is XEP-0401's account invite command (Prosody's
	// mod_invites_adhoc): the "Create it in my app" path of sign-up.
	NodeCreateInvite = "urn:xmpp:invite#create-account"
)

const nsRegister = "jabber:iq:register"

// Result is the outcome of one check.
type Result struct {
	Check   string // one of the Check* names
	Status  Status
	Message string // one sentence for the operator
	Hint    string // what to do about it (empty when nothing is to be done)
	Err     error  // the underlying error, if any (never holds a secret)
}

// Report is the outcome of every check, in the order they ran.
type Report []Result

// Failed reports whether a check failed.
func (r Report) Failed() bool {
	for _, x := range r {
		if x.Status == Fail {
			return true
		}
	}
	return false
}

// Count returns how many checks ended with status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, x := range r {
		if x.Status == s {
			n++
		}
	}
	return n
}

// Find returns the result of the named check.
func (r Report) Find(check string) (Result, bool) {
	for _, x := range r {
		if x.Check == check {
			return x, true
		}
	}
	return Result{}, false
}

// Write prints the report for a person: one line per check, hints indented
// below, and a summary line.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, x := range r {
		fmt.Fprintf(&b, "%-4s  %-20s %s\n", x.Status, x.Check, x.Message)
		if x.Err != nil && x.Status >= Warn {
			fmt.Fprintf(&b, "      %-20s error: %v\n", "", x.Err)
		}
		if x.Hint != "" {
			for _, l := range strings.Split(x.Hint, "\n") {
				fmt.Fprintf(&b, "      %-20s %s\n", "", l)
			}
		}
	}
	fails, warns := r.Count(Fail), r.Count(Warn)
	switch {
	case fails > 0:
		fmt.Fprintf(&b, "result: %d failed, %d warning(s): the portal cannot work like this\n", fails, warns)
	case warns > 0:
		fmt.Fprintf(&b, "result: ok with %d warning(s): read them\n", warns)
	default:
		fmt.Fprintln(&b, "result: ok")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Log writes the report to log: passed checks at info ("preflight.ok"),
// warnings at warn ("preflight.warning"), failures at error
// ("preflight.failed"), then a summary ("preflight.done").
func (r Report) Log(ctx context.Context, log *slog.Logger) {
	for _, x := range r {
		attrs := []any{"check", x.Check, "detail", x.Message}
		if x.Err != nil && x.Status >= Warn {
			attrs = append(attrs, "err", x.Err.Error())
		}
		if x.Hint != "" {
			attrs = append(attrs, "hint", x.Hint)
		}
		switch x.Status {
		case Fail:
			log.ErrorContext(ctx, "preflight.failed", attrs...)
		case Warn:
			log.WarnContext(ctx, "preflight.warning", attrs...)
		case Skipped:
			log.InfoContext(ctx, "preflight.skipped", attrs...)
		default:
			log.InfoContext(ctx, "preflight.ok", attrs...)
		}
	}
	log.InfoContext(ctx, "preflight.done", "failed", r.Count(Fail), "warnings", r.Count(Warn))
}

// Pinger is the part of the store the checks use.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config says what to check.
type Config struct {
	XMPP          xmpp.Config
	Mode          string  // "admin" or "ibr"
	AdminJID      jid.JID // admin mode: the portal's admin account
	AdminPassword string
	// Store is checked with Ping when not nil; StoreDriver names it.
	Store       Pinger
	StoreDriver string
	// Recommended are XEP-0133 command nodes whose absence is a warning
	// (nil: change-user-password, delete-user and end-user-session).
	Recommended []string
	// Invites: the portal offers account invites where the server has the
	// command (invite.enabled); the check says whether it has.
	Invites bool
}

// Run runs every check, each bounded by cfg.XMPP.Timeout, and returns the
// report. It never changes anything on the server: the registration probe
// submits only the admin account's own (existing) name.
func Run(ctx context.Context, cfg Config) Report {
	timeout := cfg.XMPP.Timeout
	if timeout <= 0 {
		timeout = xmpp.DefaultTimeout
	}
	var r Report
	if cfg.Store != nil {
		r = append(r, checkStore(ctx, cfg, timeout))
	}

	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	unauth, res := connect(cctx, cfg)
	r = append(r, res)
	if unauth == nil {
		skip := "not checked: the XMPP server could not be reached"
		if cfg.Mode == "admin" {
			r = append(r,
				Result{Check: CheckAdminLogin, Status: Skipped, Message: skip},
				Result{Check: CheckAdminCommands, Status: Skipped, Message: skip},
				Result{Check: CheckInvites, Status: Skipped, Message: skip})
		}
		return append(r, Result{Check: CheckRegistration, Status: Skipped, Message: skip})
	}
	defer unauth.Close()

	loggedIn := false
	if cfg.Mode == "admin" {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		admin, res := adminLogin(lctx, cfg)
		r = append(r, res)
		if admin != nil {
			loggedIn = true
			res, have := adminCommands(lctx, cfg, admin)
			r = append(r, res, invites(cfg, have, res.Status != Fail))
			admin.Close()
		} else {
			r = append(r, Result{Check: CheckAdminCommands, Status: Skipped, Message: "not checked: the admin account could not log in"},
				Result{Check: CheckInvites, Status: Skipped, Message: "not checked: the admin account could not log in"})
		}
		cancel()
	}

	rctx, cancel2 := context.WithTimeout(ctx, timeout)
	defer cancel2()
	return append(r, registration(rctx, cfg, unauth, loggedIn))
}

func checkStore(ctx context.Context, cfg Config, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	driver := cfg.StoreDriver
	if driver == "" {
		driver = "store"
	}
	if err := cfg.Store.Ping(ctx); err != nil {
		hint := ""
		if driver == "redis" {
			hint = "Is Redis running and reachable at store.url (PORTAL_STORE_URL / PORTAL_STORE_URL_FILE)? Are the password and database number right?"
		}
		return Result{Check: CheckStore, Status: Fail, Message: fmt.Sprintf("the %s store does not answer", driver), Hint: hint, Err: err}
	}
	return Result{Check: CheckStore, Status: OK, Message: fmt.Sprintf("the %s store answers", driver)}
}

// connect opens the unauthenticated STARTTLS stream the registration probe
// uses; it proves the server is reachable and its certificate accepted.
func connect(ctx context.Context, cfg Config) (*xmpp.Conn, Result) {
	s, err := xmpp.Unauth(ctx, cfg.XMPP)
	if err == nil {
		return s, Result{Check: CheckConnect, Status: OK,
			Message: fmt.Sprintf("reached %s for %s: STARTTLS works and the certificate is accepted", cfg.XMPP.Addr, cfg.XMPP.Domain)}
	}
	res := Result{Check: CheckConnect, Status: Fail, Err: err}
	serverName := cfg.XMPP.Domain
	if cfg.XMPP.TLS != nil && cfg.XMPP.TLS.ServerName != "" {
		serverName = cfg.XMPP.TLS.ServerName
	}
	var ce *xmpp.Error
	switch {
	case isCertError(err):
		res.Message = fmt.Sprintf("the XMPP server's TLS certificate was not accepted for %q", serverName)
		res.Hint = "Give the server a certificate for " + serverName + " from a public CA, or set xmpp.ca_file\n" +
			"(PORTAL_XMPP_CA_FILE) to the CA that signed it (a self-signed certificate can be its own CA file).\n" +
			"If the certificate names another host, set xmpp.tls_server_name."
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		res.Message = fmt.Sprintf("the XMPP server at %s did not answer in time", cfg.XMPP.Addr)
		res.Hint = "Is a firewall dropping the connection? Is xmpp.addr the client (c2s) port, usually 5222? Raise xmpp.timeout if the server is slow."
	case errors.As(err, &ce) && ce.Op == "dial":
		res.Message = fmt.Sprintf("cannot connect to the XMPP server at %s", cfg.XMPP.Addr)
		res.Hint = "Is the server running and listening there? Set xmpp.addr (PORTAL_XMPP_ADDR) to host:port of its\n" +
			"client (c2s) listener; the default is <domain>:5222 and no SRV record is looked up."
	case errors.Is(err, xmpp.Unavailable):
		res.Message = fmt.Sprintf("the XMPP server at %s refused the stream for %s", cfg.XMPP.Addr, cfg.XMPP.Domain)
		res.Hint = "Is xmpp.domain a host (VirtualHost) of this server, and does its client port offer STARTTLS?"
	default:
		res.Message = fmt.Sprintf("the XMPP server at %s answered something unexpected", cfg.XMPP.Addr)
		res.Hint = "Is xmpp.addr the client (c2s) port of an XMPP server (not the server-to-server or HTTP port)?"
	}
	return nil, res
}

func isCertError(err error) bool {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		cv *tls.CertificateVerificationError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

func adminLogin(ctx context.Context, cfg Config) (*xmpp.Conn, Result) {
	admin := cfg.AdminJID.String()
	s, err := xmpp.Login(ctx, cfg.XMPP, cfg.AdminJID.Localpart(), cfg.AdminPassword, nil)
	if err == nil {
		return s, Result{Check: CheckAdminLogin, Status: OK, Message: admin + " logs in"}
	}
	res := Result{Check: CheckAdminLogin, Status: Fail, Err: err}
	if errors.Is(err, xmpp.Auth) {
		res.Message = fmt.Sprintf("the server refused the login of %s: wrong password, or the account does not exist", admin)
		res.Hint = fmt.Sprintf("The password must be the one in xmpp.admin_password (PORTAL_XMPP_ADMIN_PASSWORD_FILE; a trailing\n"+
			"newline is ignored). Create the account or set its password on the server:\n"+
			"  Prosody:  prosodyctl register %[1]s %[2]s '<password>'   (or: prosodyctl passwd %[3]s)\n"+
			"  ejabberd: ejabberdctl register %[1]s %[2]s '<password>'  (or: ejabberdctl change_password %[1]s %[2]s '<password>')",
			cfg.AdminJID.Localpart(), cfg.AdminJID.Domainpart(), admin)
		return nil, res
	}
	res.Message = fmt.Sprintf("%s could not log in", admin)
	res.Hint = "The server was reachable a moment ago; see the error. SASL needs SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN over TLS."
	return nil, res
}

// adminCommands checks the admin commands the server offers the admin
// account, and returns them (nil when they could not be listed).
func adminCommands(ctx context.Context, cfg Config, s *xmpp.Conn) (Result, map[string]bool) {
	domain, err := jid.New("", cfg.XMPP.Domain, "")
	if err != nil {
		return Result{Check: CheckAdminCommands, Status: Fail, Message: "xmpp.domain is not a valid domain", Err: err}, nil
	}
	items, err := s.ListCommands(ctx, domain)
	if err != nil {
		return Result{Check: CheckAdminCommands, Status: Fail, Err: err,
			Message: "the server did not list its ad-hoc commands (XEP-0050) for " + cfg.AdminJID.String(),
			Hint:    adminHint(cfg.AdminJID.String())}, nil
	}
	have := map[string]bool{}
	for _, it := range items {
		have[it.Node] = true
	}
	if !have[NodeAddUser] {
		return Result{Check: CheckAdminCommands, Status: Fail,
			Message: fmt.Sprintf("%s is not an administrator of %s: the server does not offer it XEP-0133 add-user (%d other commands offered)", cfg.AdminJID, cfg.XMPP.Domain, len(items)),
			Hint:    adminHint(cfg.AdminJID.String())}, have
	}
	rec := cfg.Recommended
	if rec == nil {
		rec = []string{NodeChangeUserPassword, NodeDeleteUser, NodeEndUserSession}
	}
	var missing []string
	for _, n := range rec {
		if !have[n] {
			missing = append(missing, n[strings.LastIndexByte(n, '#')+1:])
		}
	}
	if len(missing) > 0 {
		return Result{Check: CheckAdminCommands, Status: Warn,
			Message: fmt.Sprintf("add-user is offered, but not: %s (password change and account deletion use them as fallbacks, and to end the account's sessions)", strings.Join(missing, ", ")),
			Hint:    adminHint(cfg.AdminJID.String())}, have
	}
	return Result{Check: CheckAdminCommands, Status: OK,
		Message: fmt.Sprintf("%s may run add-user (XEP-0133; %d commands offered)", cfg.AdminJID, len(items))}, have
}

// invites says whether the sign-up form offers "Create it in my app": the
// server offers the admin the XEP-0401 invite command (have, the commands
// listed; admin whether the admin account is one) and invite.enabled is
// on. A server without it is no fault: the form offers the web path only.
func invites(cfg Config, have map[string]bool, admin bool) Result {
	res := Result{Check: CheckInvites, Status: OK}
	switch {
	case !cfg.Invites:
		res.Message = "account invites are off (invite.enabled = false): the sign-up form offers the web form only"
	case !admin:
		res.Status = Skipped
		res.Message = "not checked: the admin account may not run admin commands"
	case have[NodeCreateInvite]:
		res.Message = "the server offers account invites (XEP-0401, " + NodeCreateInvite + "): the sign-up form also offers \"Create it in my app\""
	default:
		res.Message = "the server does not offer account invites (" + NodeCreateInvite + "): the sign-up form offers the web form only"
		res.Hint = "Prosody 0.12: load mod_invites, mod_invites_adhoc and mod_invites_register with\n" +
			"registration_invite_only = true (deploy/prosody/prosody.cfg.lua, PROSODY_INVITES=1, does);\n" +
			"ejabberd 23.01 has no such command."
	}
	return res
}

func adminHint(admin string) string {
	return "Make the account an administrator and load the admin commands:\n" +
		"  Prosody:  admins = { \"" + admin + "\" } and modules \"adhoc\" and \"admin_adhoc\"\n" +
		"  ejabberd: acl admin: user: \"" + admin + "\", access_rules configure: allow: admin,\n" +
		"            modules mod_adhoc and mod_configure\n" +
		"(the configs in deploy/ do this)."
}

// regAnswer is what the server said to a registration request.
type regAnswer int

const (
	regClosed  regAnswer = iota // refused: registration is not open to us
	regOpen                     // form offered, or a submit got past the access check
	regUnknown                  // something else
)

// closedConditions are the stanza errors that mean "registration is not
// open to this address": Prosody with allow_registration = false answers
// service-unavailable; ejabberd's access or ip_access rule forbidden;
// Prosody's allowlist/blocklist forbidden; others use not-allowed.
var closedConditions = map[string]bool{
	"service-unavailable":     true,
	"forbidden":               true,
	"not-allowed":             true,
	"registration-required":   true,
	"not-authorized":          true,
	"feature-not-implemented": true,
}

// classifyRegistration maps the answer to a registration get or set.
func classifyRegistration(err error) (regAnswer, string) {
	if err == nil {
		return regOpen, ""
	}
	var se *xmpp.Error
	if errors.As(err, &se) && se.Condition == "not-acceptable" && inviteOnly(se.Text) {
		// Prosody's mod_invites_register: registration needs a token the
		// portal hands out after a captcha.
		return regClosed, "invite only"
	}
	if errors.As(err, &se) && se.Condition != "" {
		if closedConditions[se.Condition] {
			return regClosed, se.Condition
		}
		// conflict, not-acceptable, jid-malformed, resource-constraint,
		// policy-violation...: the request got past the access check.
		return regOpen, se.Condition
	}
	return regUnknown, ""
}

// inviteOnly reports whether a registration refusal's text is Prosody's
// for a server where only invites register ("Registration on this server
// is through invitation only", mod_invites_register, 0.12).
func inviteOnly(text string) bool {
	return strings.Contains(strings.ToLower(text), "invitation only")
}

func registerQuery(fields ...[2]string) xml.TokenReader {
	var rs []xml.TokenReader
	for _, f := range fields {
		rs = append(rs, xmlstream.Wrap(xmlstream.Token(xml.CharData(f[1])), xml.StartElement{Name: xml.Name{Local: f[0]}}))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(rs...), xml.StartElement{Name: xml.Name{Space: nsRegister, Local: "query"}})
}

func randomPassword() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "preflight-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// LoudOpenRegistration is the first line of the warning given when public
// in-band registration is open in admin mode.
const LoudOpenRegistration = "PUBLIC IN-BAND REGISTRATION IS OPEN"

func registration(ctx context.Context, cfg Config, s *xmpp.Conn, adminOK bool) Result {
	res := Result{Check: CheckRegistration}
	_, getErr := s.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, registerQuery())
	getAns, getCond := classifyRegistration(getErr)
	if getAns == regUnknown {
		res.Status, res.Err = Warn, getErr
		res.Message = "could not tell whether the server allows in-band registration (XEP-0077)"
		return res
	}

	if cfg.Mode != "admin" {
		if getAns == regClosed {
			res.Status, res.Err = Fail, getErr
			res.Message = fmt.Sprintf("the server refuses in-band registration to the portal (%s), but xmpp.mode is ibr", getCond)
			res.Hint = "In ibr mode the server must allow registration from the portal's address only:\n" +
				"  Prosody:  PROSODY_PORTAL_MODE=ibr (allow_registration = true, registration_allowlist = { \"<portal ip>\" },\n" +
				"            allowlist_registration_only = true)\n" +
				"  ejabberd: deploy/ejabberd/ejabberd-ibr.yml (mod_register ip_access limited to the portal's address)\n" +
				"Or switch the portal to xmpp.mode = admin (recommended)."
			return res
		}
		res.Status = OK
		res.Message = "the server offers in-band registration to the portal (it must refuse every other address: " +
			"this cannot be checked from here; ejabberd also offers the form when its access rule denies)"
		return res
	}

	ans, cond, err := getAns, getCond, getErr
	if ans == regOpen {
		if !adminOK {
			res.Status = Warn
			res.Message = "the server offers an in-band registration form; whether it accepts sign-ups without the portal " +
				"could not be checked because the admin login failed"
			res.Hint = closeHint()
			return res
		}
		// The form alone proves nothing (ejabberd always offers it): submit
		// the admin account's own name, which exists, so nothing is created.
		_, err = s.SendIQ(ctx, stanza.IQ{Type: stanza.SetIQ},
			registerQuery([2]string{"username", cfg.AdminJID.Localpart()}, [2]string{"password", randomPassword()}))
		ans, cond = classifyRegistration(err)
	}
	switch {
	case ans == regClosed && cond == "invite only":
		res.Status = OK
		res.Message = "public in-band registration is closed (invite only): accounts are only created through the portal, " +
			"on its form or by an app with a one-time invite the portal hands out after a captcha"
	case ans == regClosed:
		res.Status = OK
		res.Message = fmt.Sprintf("public in-band registration is closed (%s): accounts are only created through the portal", cond)
	case ans == regOpen:
		res.Status = Warn
		how := "accepted a registration attempt"
		if cond != "" {
			how = "let a registration attempt past its access rules (answer: " + cond + ")"
		}
		res.Message = fmt.Sprintf("%s on %s! The server %s from the portal's address without any captcha.",
			LoudOpenRegistration, cfg.XMPP.Domain, how)
		res.Hint = "Unless the server refuses registration from every other address, anyone (bots included) can\n" +
			"create accounts directly over XMPP, and the portal's captcha is pointless.\n" + closeHint()
	default:
		res.Status, res.Err = Warn, err
		res.Message = "could not tell whether public in-band registration (XEP-0077) is closed"
		res.Hint = closeHint()
	}
	return res
}

func closeHint() string {
	return "In admin mode close public registration on the server:\n" +
		"  Prosody:  allow_registration = false (PROSODY_PORTAL_MODE=admin in deploy/prosody/prosody.cfg.lua)\n" +
		"  ejabberd: mod_register access rule denying everybody (access_rules: register: deny: all, as in\n" +
		"            deploy/ejabberd/ejabberd.yml)"
}
