// Package store defines the portal's small key/value interface and its two
// implementations: an in-memory store (the default, for one instance) and Redis
// (for several instances sharing state).
package store
