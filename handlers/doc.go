// Package handlers is the portal's HTTP layer (echo v4): one file per flow,
// all routes listed in Handler.Register, dependencies passed in Deps.
//
// Every form goes the same way: its form struct (forms.go) parses the
// fields and validates them with the policy, the guard (guard.go) takes the
// budget, checks the lock and does the flow's one login, and the flow acts.
// An XMPP failure becomes a status and a message through one table
// (messages.go); every other error becomes a page in one place
// (errorHandler, errors.go). Statuses are this package's business: the
// policy and the catalogues hold none.
//
// It knows nothing of XML: it speaks to the XMPP side (internal/xmpp and
// its signup, account and migrate packages) and to the captchas through
// small interfaces and services, and shows translated messages, never raw
// errors. arch_test.go holds it, and the packages around it, to these
// rules.
package handlers
