// Package views holds the portal's html/template pages, layouts and partials,
// embedded in the binary. Every page is parsed once per language with that
// language's functions (t, href, static, field) bound; pages need no
// JavaScript and load nothing from other hosts.
//
// The address and password fields of every form are written once, in
// partials/fields.html ("address-field", "password-field"): label, input,
// the refusal tied to the input with aria-describedby and aria-invalid, and
// the hint. A page passes them a Field built with the "field" function.
package views
