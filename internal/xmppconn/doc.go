// Package xmppconn opens client connections to the portal's own XMPP server
// and offers the few request/response helpers the rest of the portal needs.
//
// Everything here talks to one configured server address over TCP:
// there are no DNS SRV lookups and no fallbacks.
// Every stream is secured with STARTTLS before anything else is sent,
// certificates are verified (Config.TLS, or the system roots),
// and SASL uses SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN (never the -PLUS variants,
// which ejabberd 23.01 breaks over TLS 1.3).
//
// The package works around three problems of mellium.im/xmpp v0.22.0:
//
//   - IQ responses must always be closed or the session's Serve loop stops;
//     SendIQ always drains and closes them and turns type="error" replies
//     into *StanzaError.
//   - commands.Command.Execute never closes a response that is an IQ error,
//     which hangs the session; Command implements XEP-0050 by hand.
//   - form.Data.Submit panics on some text-multi values;
//     Command builds the submission itself.
//
// Every byte from the server is treated as untrusted:
// single XML tokens and whole IQ responses are size limited
// (Config.MaxTokenBytes, Config.MaxResponseBytes),
// odd replies come back as errors wrapping ErrProtocol, never as panics.
//
// Errors fall into three groups that callers tell apart with errors.Is:
// ErrAuth (the server refused the credentials),
// ErrUnavailable (could not connect, TLS failed, timeout, connection lost),
// and ErrProtocol (the server answered something this package cannot use).
// Stanza-level refusals are *StanzaError values,
// failed ad-hoc commands are *CommandError values.
//
// Sessions returned by Login and Unauth are already being served;
// close them with Close, which also closes the TCP connection.
package xmppconn
