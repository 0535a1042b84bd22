// Package preflight runs the portal's startup checks and explains what it
// finds in words an operator can act on:
//
//   - store: the store (memory or Redis) answers;
//   - xmpp.connect: the XMPP server is reachable, STARTTLS works and its
//     certificate is accepted for the domain;
//   - xmpp.admin_login (admin mode): the admin account logs in with the
//     configured password;
//   - xmpp.admin_commands (admin mode): the server offers the admin the
//     XEP-0133 commands the portal needs (add-user; change-user-password is
//     recommended, as are delete-user and end-user-session);
//   - xmpp.registration: in admin mode, public in-band registration
//     (XEP-0077) is closed — if it is open, bots can create accounts
//     without the captcha, which is reported as a loud warning; in ibr
//     mode, the server offers registration to the portal.
//
// The registration probe works on an unauthenticated STARTTLS stream. It
// first asks for the registration form (a "get"): Prosody with
// allow_registration = false answers service-unavailable. ejabberd answers
// the form even when its access rule denies everybody, so in admin mode the
// probe then submits a registration for the admin account's own name (which
// exists, so nothing can be created): ejabberd with "access: register" deny
// answers forbidden, an open server answers conflict. The submit is only
// made after the admin login succeeded, so the name is known to exist.
//
// Run returns a Report; Write prints it for "portal -check" and Log writes
// it to the portal's log at startup. Failures make "portal -check" exit
// non-zero; warnings do not.
package preflight
