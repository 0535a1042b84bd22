// Package signup creates accounts on the portal's XMPP server, in one of
// two modes:
//
//   - admin mode (Admin): XEP-0133 add-user, run on the persistent session
//     of the portal's admin account, an *xmpp.Admin that its owner opens,
//     shares (package account runs its commands on the same session) and
//     closes; its reconnect backoff and the refusal of a bad admin login
//     (NotAllowed) are package xmpp's.
//   - ibr mode (IBR): XEP-0077 in-band registration on a fresh
//     unauthenticated STARTTLS stream per account (xmpp.Unauth), closed
//     afterwards; nothing is kept between calls.
//
// Both are a Creator for the web layer, and both have Check for startup
// (portal -check): the admin logs in and is offered add-user; the server
// offers registration.
//
// Input that must never be sent is refused locally: an empty password
// (both modes) and, in admin mode, a name that cannot form an address (IBR
// sends names raw and lets the server decide).
//
// Each Admin or IBR has at most 8 creations under way at the server (the
// admission bound). Requests beyond it wait in the portal, but only while
// at least half of the call's timeout would remain; otherwise they fail as
// Unavailable without anything being sent, so that a request never sent is
// certainly "nothing created" and none times out in the server's queue
// after the user was told it failed.
//
// Every failure is an *xmpp.Error, classified by package xmpp (StanzaKind
// for stanza errors, the note of a failed command); Unanswered marks a
// connection failure after the request that creates the account was sent,
// when the outcome is unknown.
//
// Server-side settings (deploy/prosody/prosody.cfg.lua,
// deploy/ejabberd/ejabberd.yml and ejabberd-ibr.yml carry them, with
// comments):
//
//   - admin mode: public IBR closed (Prosody allow_registration = false;
//     ejabberd mod_register access rule denying everybody), a dedicated
//     admin account for the portal (Prosody admins = { ... }; ejabberd acl
//     admin + access rule configure), no registration notices.
//   - ibr mode: IBR open only to the portal's address (Prosody
//     allowlist_registration_only + registration_allowlist; ejabberd
//     mod_register ip_access), ejabberd registration_timeout: infinity (else
//     one account per source address per 10 minutes), password_strength for
//     a server-side password policy (Prosody 0.12 has none).
//
// Logs carry event names and outcomes ("account.created",
// "account.create_failed" with kind and condition, "signup.check");
// usernames and server texts only at Debug; never passwords or IP
// addresses. Error.Error() may contain the server's address and texts: log
// Kind and Condition instead.
package signup
