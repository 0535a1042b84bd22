// Package i18n holds the portal's message catalogues and picks the language
// of each response.
//
// # Keys, not strings
//
// Code and templates never contain user-facing text.
// They refer to messages by dotted keys such as "policy.username.reserved".
// In Go code, write a literal key as i18n.K("area.name"): K is the identity
// function, but the usage test finds every K call and checks that the key
// exists, so a typo fails the build's tests instead of showing a raw key.
// A plain conversion, i18n.Key("..."), is not checked; keep it for keys that
// are computed at run time.
// In templates, call the "t" function that Bundle.Printer returns:
// {{ t "area.name" }} or {{ t "area.name" .Arg }}.
//
// A message that is called with arguments is a fmt format string
// ("at least %d characters"); a message called without arguments is returned
// as it is, so a literal "%" needs no escaping there.
//
// # Errors shown to users
//
// Errors that reach a user are *Error values: a Key with its Args and the
// wrapped cause.
// The page shows only the translated key; Error() (what the log sees) shows
// the key and the cause, never the Args, which may hold user input.
// The package knows nothing of HTTP: the status a page answers with is the
// web layer's (package handlers) choice.
//
// # Catalogue files
//
// Catalogues are embedded from catalogs/<lang>/*.json.
// <lang> is a canonical BCP 47 tag ("en", "de", "pt-BR"); "en" is required
// and is the fallback for every missing key.
// Each directory holds several files, one per area of the portal
// (common.json, policy.json, pages.json, ...), so that people working on
// different areas do not edit the same file.
// Each file is one flat JSON object mapping keys to strings:
//
//	{
//	  "policy.username.empty": "Please choose a username."
//	}
//
// The files of one language are merged; a key defined twice, in one file or
// across files, is a load error, as are nested objects and non-string values.
// Keep the same file names in every language.
//
// # Tests that keep the catalogues honest
//
// The package tests check that
//   - every language has exactly the keys of "en", none of them empty, and
//     each translation uses the same fmt verbs as the English message;
//   - every key used in views/**/*.html ({{ t "key" }}, (t "key")) and every
//     i18n.K("key") in Go code (outside testdata) exists in "en";
//   - every key in "en" is used somewhere.
//
// Keys that are built at run time, such as "lang." + code for the names of
// the languages, cannot be found by the usage scan.
// Their prefixes are listed in catalogs/dynamic.txt, one prefix per line
// (blank lines and lines starting with "#" are ignored); keys under such a
// prefix are exempt from the unused-key test.
// Add a prefix there only when the key really is computed, and say where in a
// comment line above it.
package i18n
