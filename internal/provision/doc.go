// Package provision creates accounts on the XMPP server, either with XEP-0133
// add-user over a persistent admin session ("admin" mode, Admin) or with
// XEP-0077 in-band registration on an unauthenticated STARTTLS stream ("ibr"
// mode, IBR), and maps every server answer to a Kind the web layer can
// explain (Classify).
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
// "account.create_failed" with kind and condition); usernames and server
// texts only at Debug; never passwords or IP addresses. Error.Error() may
// contain the server's address and texts: log Kind and Condition instead.
package provision
