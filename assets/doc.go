// Package assets embeds the portal's CSS and icons and serves them under
// content-hashed URLs (/assets/<hash>/<name>) with an immutable cache header.
// Nothing is loaded from another host.
package assets
