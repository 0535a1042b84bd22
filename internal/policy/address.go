package policy

import (
	"errors"
	"strings"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// Address is a bare XMPP address in the one normal form the portal uses for
// every address it touches: typed into a form, found in an uploaded file, or
// used as a key for counters.
//
//   - Domain is the domainpart as mellium.im/xmpp/jid prepares it: lowercase,
//     IDNA to Unicode, without a trailing dot ("Example.ORG." is
//     "example.org").
//   - Local is the localpart in PRECIS UsernameCaseMapped, and on the
//     portal's own domain also folded as the server folds it (Nodeprep:
//     "Straße" is "strasse"), so that it is the name that logs in. On other
//     domains the server's folding is not known, so Local stays PRECIS.
type Address struct {
	Local, Domain string
}

// String returns local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// IsZero reports whether a is the zero Address.
func (a Address) IsZero() bool { return a == Address{} }

// Key is the address under which attempts on it are counted: the localpart
// folded the server's way on every domain, so that every spelling a server
// may take for the same account shares one counter.
func (a Address) Key() string {
	if f, ok := serverFold(a.Local); ok {
		return f + "@" + a.Domain
	}
	return a.String()
}

// maxAddressInput bounds a raw address before any work.
const maxAddressInput = maxUsernameInput + 1024

// split trims raw, drops an "xmpp:" prefix and separates the localpart from
// the domain, which is prepared (lowercase, IDNA, no trailing dot); "name"
// alone is on Domain. ok is false when the domain is not a valid domain.
func (p *Policy) split(raw string) (local, domain string, ok bool, e *i18n.Error) {
	if len(raw) > maxAddressInput {
		return "", "", false, refuse(keyUserInvalid)
	}
	s := strings.TrimSpace(raw)
	if len(s) >= 5 && strings.EqualFold(s[:5], "xmpp:") {
		s = strings.TrimSpace(s[5:])
	}
	local, domain, hasDomain := strings.Cut(s, "@")
	if local == "" {
		return "", "", false, refuse(keyUserEmpty)
	}
	if !hasDomain {
		return local, p.rules.Domain, true, nil
	}
	if strings.ContainsAny(domain, "@/") {
		return local, "", false, nil
	}
	d, err := jid.New("", domain, "")
	if err != nil || d.Domainpart() == "" {
		return local, "", false, nil
	}
	return local, d.Domainpart(), true, nil
}

// ParseAddress reads an address on any domain: surrounding whitespace and an
// "xmpp:" prefix are dropped, "name" alone means name@Domain. It refuses
// what cannot be an account's bare address: empty parts, a resource, parts
// that are not valid (PRECIS, RFC 7622 lengths). It does not check reserved
// names.
func (p *Policy) ParseAddress(raw string) (Address, *i18n.Error) {
	local, domain, ok, e := p.split(raw)
	if e != nil {
		return Address{}, e
	}
	if !ok {
		return Address{}, refuse(keyUserInvalid)
	}
	if len(local) > maxUsernameInput {
		return Address{}, refuse(keyUserInvalid)
	}
	norm, err := precis.UsernameCaseMapped.String(local)
	if err != nil {
		return Address{}, i18n.Wrap(err, keyUserInvalid)
	}
	a := Address{Local: norm, Domain: domain}
	if a.Domain == p.rules.Domain {
		f, ok := serverFold(norm)
		if !ok {
			return Address{}, refuse(keyUserInvalid)
		}
		a.Local = f
	}
	if len(a.Local) > MaxLocalpartBytes {
		return Address{}, refuse(keyUserInvalid)
	}
	j, err := jid.New(a.Local, a.Domain, "")
	if err != nil {
		return Address{}, i18n.Wrap(err, keyUserInvalid)
	}
	if j.Localpart() != a.Local {
		return Address{}, i18n.Wrap(errors.New("policy: PRECIS result not stable"), keyUserInvalid)
	}
	return a, nil
}

// OwnAddress is ParseAddress for addresses that must be on the portal's
// domain: "name" or "name@<Domain>" in any spelling of the domain. Like
// ParseAddress it accepts reserved names and names that the sign-up rules
// would refuse today (length, at least one letter): existing accounts may
// have them. Callers that manage accounts use Account.
func (p *Policy) OwnAddress(raw string) (Address, *i18n.Error) {
	_, domain, ok, e := p.split(raw)
	if e != nil {
		return Address{}, e
	}
	if !ok || domain != p.rules.Domain {
		return Address{}, refuse(keyUserOtherDomain, p.rules.Domain)
	}
	return p.ParseAddress(raw)
}

// Account reads the address of an existing account on the portal's domain,
// as typed into a management form: OwnAddress, and reserved names (the
// operator's and the portal's admin account, in every spelling the server
// folds together) cannot be managed here.
func (p *Policy) Account(raw string) (Address, *i18n.Error) {
	a, e := p.OwnAddress(raw)
	if e != nil {
		return Address{}, e
	}
	if p.IsReserved(a.Local) {
		return Address{}, refuse(keyManageReserved)
	}
	return a, nil
}

// IsOwn reports whether a is on the portal's domain.
func (p *Policy) IsOwn(a Address) bool { return a.Domain == p.rules.Domain }
