// Package account manages existing accounts on the XMPP server: it logs in
// to an account, changes its password, deletes it, ends its sessions and
// reads server-wide statistics. It is the XMPP side only; it knows nothing of
// HTTP, and keeps no password and no login state beyond a Session.
//
// One login per action. A flow logs in once with the user's password
// (Manager.Login: a real SASL login, xmpp.Login: STARTTLS, then
// SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, never the -PLUS variants) and acts on
// that stream (Session.ChangePassword, Session.Delete); one more login
// verifies the result. Every login costs the server a password hash: a
// password change costs two, a deletion two. A refused login is xmpp.Auth; a
// server that cannot be reached is xmpp.Unavailable, so callers never count
// an outage as a wrong password.
//
// Password change is XEP-0077 on the user's own authenticated stream
// (<query xmlns="jabber:iq:register"><username/><password/></query>). A
// refusal by the server's password policy (ejabberd's password_strength:
// not-acceptable) is xmpp.PasswordPolicy. If the server does not allow the
// change in-band at all (forbidden, not-allowed, ...) and an admin is
// configured, the XEP-0133 command change-user-password is used instead.
// Success is reported only after a fresh login with the new password works
// (xmpp.NotVerified otherwise).
//
// Deletion is XEP-0077 <remove/> as the user; if the server refuses it and an
// admin is configured, the XEP-0133 command delete-user. Success is reported
// only after a fresh login with the password is refused. Prosody reports a
// failed delete-user as an informational note, so only the login tells.
//
// EndOtherSessions runs end-user-session. Its account field differs between
// servers (Prosody: accountjids, jid-multi; ejabberd: accountjid, jid-single);
// the form the server sends decides. With Config.EndSessions it runs after
// every password change and deletion, so a session opened with the old
// password does not survive the change.
//
// Stats reads get-registered-users-num and get-online-users-num. Prosody 0.12
// does not implement them (service-unavailable): the number is then "not
// available", never a guess. Answers are cached (Config.StatsCache, with an
// injectable clock).
//
// Admin commands run through a Commander: *xmpp.Admin's Run, on the
// persistent admin session the sign-up flow uses too.
//
// Logs carry event names and outcomes; usernames and server texts (which may
// quote user input) only at debug level; never a password.
package account
