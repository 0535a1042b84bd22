// Package config loads the portal's configuration: defaults, an optional
// key = value file, PORTAL_* environment variables (every key also as
// PORTAL_*_FILE, for secrets) and flags, in that order; Validate reports
// every problem at once and Dump prints it with secrets masked.
package config
