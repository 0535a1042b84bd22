package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// Defaults for zero fields of Rules.
const (
	DefaultMinUsername = 2
	DefaultMaxUsername = 32
	DefaultMinPassword = 10
	DefaultMaxPassword = 1024
)

// Hard limits on Rules.
const (
	// MaxLocalpartBytes is RFC 7622's limit on a localpart.
	MaxLocalpartBytes = 1023
	// MaxPasswordLimit caps Rules.MaxPassword.
	MaxPasswordLimit = 65536
)

// maxUsernameInput bounds the raw input (before PRECIS, which can shrink it,
// e.g. full-width to ASCII) so that absurd input is refused without work.
const maxUsernameInput = 4 * MaxLocalpartBytes

// builtinReserved are names nobody may register: role accounts (RFC 2142 and
// friends) and names that would let an account impersonate the operator.
var builtinReserved = []string{
	"abuse", "admin", "administrator", "help", "hostmaster", "info", "jabber",
	"mail", "moderator", "noc", "operator", "postmaster", "root", "security",
	"staff", "support", "system", "webmaster", "www", "xmpp",
}

// Message keys, one per reason.
var (
	keyUserEmpty       = i18n.K("policy.username.empty")
	keyUserTooShort    = i18n.K("policy.username.too_short")
	keyUserTooLong     = i18n.K("policy.username.too_long")
	keyUserInvalid     = i18n.K("policy.username.invalid")
	keyUserNoAlnum     = i18n.K("policy.username.no_alnum")
	keyUserReserved    = i18n.K("policy.username.reserved")
	keyUserOtherDomain = i18n.K("policy.username.other_domain")
	keyUserFolded      = i18n.K("policy.username.folded")
	keyManageReserved  = i18n.K("manage.err.reserved")

	keyPassEmpty    = i18n.K("policy.password.empty")
	keyPassMismatch = i18n.K("policy.password.mismatch")
	keyPassBlank    = i18n.K("policy.password.blank")
	keyPassInvalid  = i18n.K("policy.password.invalid")
	keyPassTooShort = i18n.K("policy.password.too_short")
	keyPassTooLong  = i18n.K("policy.password.too_long")
	keyPassUsername = i18n.K("policy.password.username")
	keyPassCommon   = i18n.K("policy.password.common")
)

// Rules configure a Policy. Zero numeric fields take the Default values.
type Rules struct {
	// Domain is the XMPP domain accounts are created on. Required.
	Domain string
	// MinUsername and MaxUsername bound the normalised username, in runes.
	MinUsername, MaxUsername int
	// MinPassword and MaxPassword bound the password, in runes.
	// MaxPassword keeps hashing on the server cheap.
	MinPassword, MaxPassword int
	// Reserved lists the operator's extra reserved names, in addition to the
	// built-in list. They are normalised like usernames.
	Reserved []string
}

// Policy checks usernames and passwords.
// It is immutable after New and safe for concurrent use.
type Policy struct {
	rules Rules // effective rules: defaults filled, Domain normalised
	// reserved holds the reserved names folded the server's way;
	// lookalikes holds their look-alike keys (see lookalike).
	reserved   map[string]struct{}
	lookalikes map[string]struct{}
}

// New validates r, fills in defaults and builds the reserved-name set.
// It reports every problem in r at once.
func New(r Rules) (*Policy, error) {
	var errs []error
	r.Reserved = slices.Clone(r.Reserved)
	if r.Domain == "" {
		errs = append(errs, errors.New("policy: domain is required"))
	} else if d, err := jid.New("", r.Domain, ""); err != nil {
		errs = append(errs, fmt.Errorf("policy: domain %q: %w", r.Domain, err))
	} else {
		r.Domain = d.Domainpart()
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&r.MinUsername, DefaultMinUsername)
	def(&r.MaxUsername, DefaultMaxUsername)
	def(&r.MinPassword, DefaultMinPassword)
	def(&r.MaxPassword, DefaultMaxPassword)
	switch {
	case r.MinUsername < 1:
		errs = append(errs, fmt.Errorf("policy: minimum username length %d is below 1", r.MinUsername))
	case r.MaxUsername > MaxLocalpartBytes:
		errs = append(errs, fmt.Errorf("policy: maximum username length %d is above %d", r.MaxUsername, MaxLocalpartBytes))
	case r.MinUsername > r.MaxUsername:
		errs = append(errs, fmt.Errorf("policy: minimum username length %d is above the maximum %d", r.MinUsername, r.MaxUsername))
	}
	switch {
	case r.MinPassword < 1:
		errs = append(errs, fmt.Errorf("policy: minimum password length %d is below 1", r.MinPassword))
	case r.MaxPassword > MaxPasswordLimit:
		errs = append(errs, fmt.Errorf("policy: maximum password length %d is above %d", r.MaxPassword, MaxPasswordLimit))
	case r.MinPassword > r.MaxPassword:
		errs = append(errs, fmt.Errorf("policy: minimum password length %d is above the maximum %d", r.MinPassword, r.MaxPassword))
	}

	p := &Policy{reserved: map[string]struct{}{}, lookalikes: map[string]struct{}{}}
	for _, name := range builtinReserved {
		p.reserve(name)
	}
	for _, name := range r.Reserved {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		norm, err := precis.UsernameCaseMapped.String(name)
		if err == nil && strings.ContainsAny(norm, `"&'/:<>@`) {
			err = errors.New("contains a character not allowed in a localpart")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("policy: reserved name %q: %w", name, err))
			continue
		}
		p.reserve(norm)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.rules = r
	return p, nil
}

// Rules returns the effective rules: defaults filled in and Domain normalised.
// Reserved is a copy of the operator's list as given.
func (p *Policy) Rules() Rules {
	r := p.rules
	r.Reserved = slices.Clone(r.Reserved)
	return r
}

// Domain returns the normalised XMPP domain.
func (p *Policy) Domain() string { return p.rules.Domain }

// reserve adds a PRECIS-normalised name to the reserved sets.
func (p *Policy) reserve(norm string) {
	f, ok := serverFold(norm)
	if !ok {
		f = norm
	}
	p.reserved[f] = struct{}{}
	p.lookalikes[lookalike(f)] = struct{}{}
}

// IsReserved reports whether the normalised localpart is a reserved name in
// any spelling the server folds together with it ("PREß" and "press").
func (p *Policy) IsReserved(local string) bool {
	f, ok := serverFold(local)
	if !ok {
		f = local
	}
	_, ok = p.reserved[f]
	return ok
}

// looksReserved reports whether the localpart is a reserved name or looks
// like one ("ᴀdmin", "аdmin" with a Cyrillic а, "ʀoot").
func (p *Policy) looksReserved(local string) bool {
	if p.IsReserved(local) {
		return true
	}
	_, ok := p.lookalikes[lookalike(local)]
	return ok
}

func refuse(key i18n.Key, args ...any) *i18n.Error {
	return i18n.NewError(key, args...)
}

// Username validates and normalises a username as typed into the sign-up
// form. It returns the normalised localpart, or a refusal.
//
// Surrounding whitespace is trimmed. Input of the form "name@<Domain>" is
// accepted as "name"; an address on any other domain is refused.
// A returned localpart is stable: Username(local) returns local again.
func (p *Policy) Username(raw string) (string, *i18n.Error) {
	if len(strings.TrimSpace(raw)) > maxUsernameInput {
		return "", refuse(keyUserTooLong, p.rules.MaxUsername)
	}
	s, domain, ok, e := p.split(raw)
	if e != nil {
		return "", e
	}
	if !ok || domain != p.rules.Domain {
		// The user typed an address on another domain.
		return "", refuse(keyUserOtherDomain, p.rules.Domain)
	}
	norm, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", i18n.Wrap(err, keyUserInvalid)
	}
	n := utf8.RuneCountInString(norm)
	if n > p.rules.MaxUsername || len(norm) > MaxLocalpartBytes {
		return "", refuse(keyUserTooLong, p.rules.MaxUsername)
	}
	if n < p.rules.MinUsername {
		return "", refuse(keyUserTooShort, p.rules.MinUsername)
	}
	// jid.New applies PRECIS again and RFC 7622's extra localpart rules
	// (no " & ' / : < > @). Insisting that the second pass changes nothing
	// makes the result stable.
	j, err := jid.New(norm, p.rules.Domain, "")
	if err != nil {
		return "", i18n.Wrap(err, keyUserInvalid)
	}
	if j.Localpart() != norm {
		return "", i18n.Wrap(errors.New("policy: PRECIS result not stable"), keyUserInvalid)
	}
	if !strings.ContainsFunc(norm, isLetterOrDigit) {
		return "", refuse(keyUserNoAlnum)
	}
	if p.looksReserved(norm) {
		return "", refuse(keyUserReserved)
	}
	// The address shown after sign-up must be the one that logs in: a name
	// the server would fold into another one ("ß" into "ss") is refused,
	// naming what the server would make of it.
	folded, ok := serverFold(norm)
	if !ok {
		return "", refuse(keyUserInvalid)
	}
	if folded != norm {
		return "", refuse(keyUserFolded, folded)
	}
	return norm, nil
}

func isLetterOrDigit(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// Password checks a new password, typed twice as pw and confirm, for the
// account with the normalised localpart local (may be empty if unknown).
// It returns nil if the password is acceptable.
func (p *Policy) Password(pw, confirm, local string) *i18n.Error {
	if pw == "" {
		return refuse(keyPassEmpty)
	}
	// Cheap bound first: a rune is at most 4 bytes.
	if len(pw) > 4*p.rules.MaxPassword {
		return refuse(keyPassTooLong, p.rules.MaxPassword)
	}
	if pw != confirm {
		return refuse(keyPassMismatch)
	}
	if strings.TrimSpace(pw) == "" {
		return refuse(keyPassBlank)
	}
	if !utf8.ValidString(pw) {
		return i18n.Wrap(errors.New("policy: password is not valid UTF-8"), keyPassInvalid)
	}
	n := utf8.RuneCountInString(pw)
	if n < p.rules.MinPassword {
		return refuse(keyPassTooShort, p.rules.MinPassword)
	}
	if n > p.rules.MaxPassword {
		return refuse(keyPassTooLong, p.rules.MaxPassword)
	}
	// SASLprep and PRECIS OpaqueString, which the server and clients apply,
	// both prohibit control characters. (Emoji, with their variation
	// selectors and joiners, are fine: SASLprep maps those to nothing.)
	if strings.ContainsFunc(pw, unicode.IsControl) {
		return i18n.Wrap(errors.New("policy: password contains a control character"), keyPassInvalid)
	}
	if local != "" && isUsernameVariant(pw, local) {
		return refuse(keyPassUsername)
	}
	if IsCommonPassword(pw) {
		return refuse(keyPassCommon)
	}
	return nil
}

// isUsernameVariant reports whether pw is local, ignoring case, possibly with
// digits before or after it ("alice", "Alice2024", "123alice").
func isUsernameVariant(pw, local string) bool {
	lp, ll := strings.ToLower(pw), strings.ToLower(local)
	if rest, ok := strings.CutPrefix(lp, ll); ok && allDigits(rest) {
		return true
	}
	if rest, ok := strings.CutSuffix(lp, ll); ok && allDigits(rest) {
		return true
	}
	return false
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
