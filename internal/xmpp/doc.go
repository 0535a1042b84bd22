// Package xmpp is the portal's client side of XMPP, in one place: the
// connection (Conn: dialing, STARTTLS, SASL, the serve loop), IQs and
// XEP-0050 ad-hoc commands on it, the persistent session of the portal's
// admin account (Admin), and the one error vocabulary of everything XMPP
// (Error with a Kind). The flows live below it: signup (add-user and
// in-band registration), account (password change, deletion, statistics)
// and migrate (export and import). Nothing here knows HTTP.
//
// Every stream is secured with STARTTLS before anything else is sent,
// certificates are verified (Config.TLS, or the system roots), and SASL
// uses SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN (never the -PLUS variants, which
// ejabberd 23.01 breaks over TLS 1.3). A Conn talks to the one address of
// its Config (Config.Dial can restrict what that may be; package migrate
// does for other servers).
//
// Written by hand where mellium.im/xmpp v0.22.0 falls short:
//
//   - IQ responses must always be closed or the session's serve loop stops;
//     Conn.SendIQ always drains and closes them. Stanza errors are read with
//     mellium's stanza.UnmarshalError.
//   - commands.Command.Execute never closes a response that is an IQ error,
//     which hangs the session; Conn.Command implements XEP-0050 itself.
//   - form.Data.Submit panics on some text-multi values; Conn.Command builds
//     the submission itself.
//   - The negotiator's deadline handling races with a blocked read; Login
//     enforces its context with a deadline on the socket.
//   - SASL failures are an internal type of mellium's, read by reflection.
//
// Every byte from the server is treated as untrusted: single XML tokens and
// whole IQ responses are size limited (Config.MaxTokenBytes,
// Config.MaxResponseBytes), and odd replies come back as errors of kind
// Protocol, never as panics.
//
// Errors are *Error values whose Kind callers ask with errors.Is(err,
// xmpp.Auth) or KindOf: Auth (the server refused the credentials),
// Unavailable (could not connect, TLS failed, timeout, connection lost),
// Protocol (an answer the portal cannot use), and for stanza errors and
// failed commands the kind of their condition or note (StanzaKind:
// Conflict, InvalidName, PasswordPolicy, Throttled, NotAllowed, Unknown).
package xmpp
