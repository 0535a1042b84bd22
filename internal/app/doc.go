// Package app wires the portal together: configuration, store, captcha,
// XMPP provisioning, views and handlers; it runs the clearnet listener with
// server timeouts and shuts down gracefully. cmd/portal only calls Main.
package app
