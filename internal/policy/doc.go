// Package policy decides which usernames and passwords the portal accepts.
//
// It is pure: no I/O, no clock, no logging. A Policy is built once from Rules
// with New and is immutable afterwards, so one value serves every request.
//
// Usernames are normalised with the PRECIS UsernameCaseMapped profile through
// mellium.im/xmpp/jid (so "Alice" becomes "alice" and full-width letters
// become ASCII), then checked for length (in runes, on the normalised form,
// and at most 1023 bytes as RFC 7622 requires), for at least one letter or
// digit, and against the reserved names: a built-in list (admin, root, abuse,
// postmaster, ...) plus the operator's list, both normalised the same way.
// A user who types a whole address on this domain ("alice@example.org") gets
// the local part; an address on another domain is refused with its own
// message.
//
// Passwords must be given twice, have a minimum and maximum length in runes
// (the maximum bounds the cost of hashing on the server), not be only
// whitespace, contain no control characters (SASLprep and PRECIS prohibit
// them), not be the username (or the username with digits before or after
// it), and not be in the embedded list of 30,000 common passwords
// (data/common-passwords.txt, from zxcvbn; see data/SOURCE.md).
//
// Every refusal is an *i18n.Error with a key under "policy.username." or
// "policy.password." (or "manage.err.reserved" for Account); the catalogues
// hold the texts. A refusal carries no HTTP status: the web layer decides
// how a page answers it.
// Methods return a typed *i18n.Error: compare it with nil before storing it in
// an error variable, or a nil *i18n.Error becomes a non-nil error.
package policy
