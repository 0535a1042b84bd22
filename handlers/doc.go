// Package handlers is the portal's HTTP layer (echo v4): one file per flow,
// all routes listed in Handler.Register, dependencies passed in Deps. It knows
// nothing of XMPP stanzas; it speaks to the provision and captcha services
// through small interfaces and shows translated messages, never raw errors.
package handlers
