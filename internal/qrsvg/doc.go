// Package qrsvg renders QR codes as small inline SVG images, and as PNG
// pictures for browsers that draw no SVG.
//
// SVG: one <svg> element with a white background <rect> and a single
// <path> that draws the dark modules as runs of squares, with the quiet
// zone of four modules the QR standard asks for. It has no script, no
// external reference and no style attribute, so it can be inlined into a
// page under a strict Content-Security-Policy.
//
// PNG: Tor Browser's "Safest" level turns SVG off (svg.disabled), and an
// inline SVG is then an empty box. PNG draws the same code as a two-colour
// paletted PNG, which every browser shows; the portal serves it from its
// own origin (img-src 'self', no data: URI).
package qrsvg
