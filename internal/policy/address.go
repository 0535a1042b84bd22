package policy

import (
	"errors"
	"strings"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// Address normalises the address of an EXISTING account as typed into a
// management form (password change, export, deletion): "name" or
// "name@<Domain>", surrounding whitespace trimmed, PRECIS UsernameCaseMapped
// like Username. It returns the normalised localpart.
//
// Unlike Username it does not apply the sign-up rules that may have changed
// since the account was made (length limits of the configuration, at least one
// letter or digit, reserved names: check IsReserved separately); it refuses
// only what cannot be an account here: an empty name, another domain, or a
// name that is not a valid localpart (at most 1023 bytes).
func (p *Policy) Address(raw string) (string, *i18n.Error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", refuse(keyUserEmpty)
	}
	if len(s) > maxUsernameInput {
		return "", refuse(keyUserInvalid)
	}
	if local, domain, ok := strings.Cut(s, "@"); ok {
		d, err := jid.New("", domain, "")
		if err != nil || d.Domainpart() != p.rules.Domain {
			return "", refuse(keyUserOtherDomain, p.rules.Domain)
		}
		if local == "" {
			return "", refuse(keyUserEmpty)
		}
		s = local
	}
	norm, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", i18n.Wrap(err, Status, keyUserInvalid)
	}
	if len(norm) > MaxLocalpartBytes {
		return "", refuse(keyUserInvalid)
	}
	j, err := jid.New(norm, p.rules.Domain, "")
	if err != nil {
		return "", i18n.Wrap(err, Status, keyUserInvalid)
	}
	if j.Localpart() != norm {
		return "", i18n.Wrap(errors.New("policy: PRECIS result not stable"), Status, keyUserInvalid)
	}
	return norm, nil
}
