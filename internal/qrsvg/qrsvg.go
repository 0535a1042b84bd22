package qrsvg

import (
	"errors"
	"fmt"
	"html"
	"html/template"
	"strconv"
	"strings"

	"rsc.io/qr"
)

// QuietZone is the width of the white border, in modules.
const QuietZone = 4

// SVG renders text as a QR code (error correction level M).
//
// size is the width and height of the image in CSS pixels; 0 leaves them
// out, so the image fills its container (the viewBox keeps it square).
// label becomes the image's accessible name (aria-label and <title>); it is
// escaped here.
func SVG(text string, size int, label string) (template.HTML, error) {
	if size < 0 {
		return "", fmt.Errorf("qrsvg: negative size %d", size)
	}
	if text == "" {
		return "", errors.New("qrsvg: empty text")
	}
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("qrsvg: %w", err)
	}
	n := code.Size + 2*QuietZone
	dim := strconv.Itoa(n)
	esc := html.EscapeString(label)

	var sb strings.Builder
	sb.Grow(64 + code.Size*code.Size)
	sb.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `)
	sb.WriteString(dim + " " + dim + `"`)
	if size > 0 {
		s := strconv.Itoa(size)
		sb.WriteString(` width="` + s + `" height="` + s + `"`)
	}
	sb.WriteString(` role="img" aria-label="` + esc + `" shape-rendering="crispEdges">`)
	sb.WriteString(`<title>` + esc + `</title>`)
	sb.WriteString(`<rect width="` + dim + `" height="` + dim + `" fill="#fff"/>`)
	sb.WriteString(`<path fill="#000" d="`)
	writePath(&sb, code)
	sb.WriteString(`"/></svg>`)
	// The markup is built from numbers and an escaped label only.
	return template.HTML(sb.String()), nil // #nosec G203
}

// writePath draws each horizontal run of dark modules as one rectangle:
// "M{x} {y}h{w}v1h-{w}z", in absolute module coordinates.
func writePath(sb *strings.Builder, code *qr.Code) {
	buf := make([]byte, 0, 32)
	for y := range code.Size {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			start := x
			for x < code.Size && code.Black(x, y) {
				x++
			}
			w := int64(x - start)
			buf = append(buf[:0], 'M')
			buf = strconv.AppendInt(buf, int64(start+QuietZone), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(y+QuietZone), 10)
			buf = append(buf, 'h')
			buf = strconv.AppendInt(buf, w, 10)
			buf = append(buf, "v1h-"...)
			buf = strconv.AppendInt(buf, w, 10)
			buf = append(buf, 'z')
			sb.Write(buf)
		}
	}
}
