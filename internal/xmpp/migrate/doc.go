// Package migrate moves an account's data between XMPP servers over
// client connections: the export reader and the import writer of the
// portal's /export and /import pages. It knows XMPP (package xmpp, whose
// Conn carries every request) and XEP-0227 (package pie), and nothing of
// HTTP.
//
// One login per flow: an export logs in once (OpenExport, or
// Service.OpenExport) and Export.WriteTo makes every request on that
// connection; an import logs in once per account (Service.Login: the new
// account, and the old one when its moved statement is published), and
// Session.Import and Session.PublishMoved use that connection. Nothing in
// the package logs in again behind its caller's back, so a password is
// checked once and the server sees one session per account and flow.
// (Import and PublishMoved, for tools and tests, are one login each too.)
//
// Export (OpenExport, Export.WriteTo) logs in as the user and streams a
// XEP-0227 document: offline messages where the server offers XEP-0013
// (ejabberd; the count is asked first, which stops the server from flushing
// and deleting them, then the session is available only while <fetch/>
// delivers them, and they stay stored), the roster, vcard-temp, the private
// XML namespaces it knows (XEP-0049 cannot list them: storage:bookmarks,
// storage:rosternotes and other common ones are asked for, plus
// ExportOptions.ExtraPrivate), the XEP-0191 blocklist (written as the
// default privacy list, see package pie), every PEP node found with
// disco#items on the account plus the well-known ones (configuration and
// items), and the whole message archive, paged with RSM <after/> and
// written page by page, so memory stays flat. Archived messages are
// decoded synchronously in the connection's handler, which OpenExport
// passes to xmpp.Login (mellium's history iterator loses payloads). No
// password or SCRAM data is ever written. When the connection breaks,
// WriteTo returns the error and leaves the document unclosed, so the file
// is visibly incomplete.
//
// Import logs in to the new account and restores roster items (names,
// groups) and, if asked, sends subscription requests carrying the
// XEP-0172 nickname and the XEP-0283 <moved/> notice; the vCard; legacy
// bookmarks first, then the other private XML, then PEP nodes (XEP-0402
// bookmarks after configuring the node to keep many items, because
// ejabberd keeps one by default; avatar data before metadata; access
// models kept through publish-options, retried without them); the
// blocklist. It returns a Summary with one Outcome per item. The message
// archive is never imported: no server accepts one over XMPP.
//
// The requests are written by hand on Conn.SendIQ (xml.go's iq), not with
// mellium's roster, blocklist, disco and pubsub packages: those take a
// *mellium.Session, which an xmpp.Conn does not hand out, and send with
// the session's own IQ calls, past the Conn's size limits and deadline
// handling. Each hand-written request names in its doc comment what the
// mellium v0.22.0 package lacks besides (roster items without ask,
// blocklist.Add ignoring IQ errors, the paging bug of disco's ItemIter,
// pubsub.Publish without publish-options, ...). MAM uses mellium's
// history.Query and history.Result on Conn.SendIQ (mamPage).
//
// Errors of the XMPP side are *xmpp.Error values: callers ask
// errors.Is(err, xmpp.Auth) (credentials refused), errors.Is(err,
// xmpp.Unavailable) (server unreachable or gone) or xmpp.KindOf. The
// package's own errors are about the file (ErrFile, ErrFileTooLarge,
// *LimitError, *UsersError) and the address (ErrBadDomain, ErrNotPublic).
//
// PublishMoved publishes the XEP-0283 statement on the old account.
// Resolver finds other servers (port 5222 or DNS SRV where enabled); it
// takes domain names only, never address literals or single-label names, so
// nobody can point the portal at machines on its own network by typing
// user@10.0.0.1. A domain name is no better protection on its own: anyone
// can publish an A record or an SRV target of 127.0.0.1, 10.0.0.5 or
// 169.254.169.254 (cloud metadata) and have the portal connect there, and
// a name may resolve to a public address when checked and to a private one
// when dialled (DNS rebinding). So the configuration of every other server
// carries a dialer (dial.go) that resolves the host name itself, dials only
// public addresses (isPublic lists what is refused, with the RFCs), and
// checks the numeric address once more right before connect(2). When
// nothing public is left the dial fails with ErrNotPublic, inside an
// *xmpp.Error of kind Unavailable: the user reads that the server cannot
// be reached, and neither the page nor the error text says which address
// was refused. The portal's own server is dialled at its configured
// address, as before.
package migrate
