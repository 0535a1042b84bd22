package qrsvg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"rsc.io/qr"
)

// MaxScale bounds PNG's scale: pixels per module.
const MaxScale = 32

var palette = color.Palette{color.White, color.Black}

// PNG renders text as a QR code (error correction level M) in a PNG of
// scale pixels per module, with the quiet zone of QuietZone modules: a
// square of (size + 2·QuietZone)·scale pixels, white and black only.
func PNG(text string, scale int) ([]byte, error) {
	if scale < 1 || scale > MaxScale {
		return nil, fmt.Errorf("qrsvg: scale %d out of 1..%d", scale, MaxScale)
	}
	if text == "" {
		return nil, errors.New("qrsvg: empty text")
	}
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("qrsvg: %w", err)
	}
	side := (code.Size + 2*QuietZone) * scale
	img := image.NewPaletted(image.Rect(0, 0, side, side), palette)
	for y := range code.Size {
		for x := range code.Size {
			if !code.Black(x, y) {
				continue
			}
			x0, y0 := (x+QuietZone)*scale, (y+QuietZone)*scale
			for dy := range scale {
				row := img.Pix[(y0+dy)*img.Stride+x0:]
				for dx := range scale {
					row[dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("qrsvg: %w", err)
	}
	return b.Bytes(), nil
}
