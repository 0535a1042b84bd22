// Package provision creates accounts on the XMPP server, either with XEP-0133
// add-user over a persistent admin session ("admin" mode) or with XEP-0077
// in-band registration on an unauthenticated STARTTLS stream ("ibr" mode),
// and maps every server answer to a Kind the web layer can explain.
package provision
