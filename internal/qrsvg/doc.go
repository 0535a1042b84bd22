// Package qrsvg renders QR codes as small inline SVG images.
//
// The output is one <svg> element with a white background <rect> and a
// single <path> that draws the dark modules as runs of squares, with the
// quiet zone of four modules the QR standard asks for. It has no script, no
// external reference and no style attribute, so it can be inlined into a
// page under a strict Content-Security-Policy and shows in Tor Browser with
// JavaScript disabled.
package qrsvg
