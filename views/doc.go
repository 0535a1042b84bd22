// Package views holds the portal's html/template pages and layouts, embedded
// in the binary. Every page is parsed once per language with that language's
// functions (t, href, static) bound; pages need no JavaScript and load nothing
// from other hosts.
package views
