// Package logging builds the portal's structured logger (log/slog). The
// privacy rule lives here as documentation and in tests elsewhere: log events
// and outcomes, never IP addresses, user agents, secrets, and usernames only at
// debug level.
package logging
