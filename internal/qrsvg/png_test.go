package qrsvg

import (
	"bytes"
	"image/png"
	"testing"

	"rsc.io/qr"
)

// TestPNG: the PNG is the QR code, module by module, with its quiet zone,
// at the scale asked for, in black and white only, and small.
func TestPNG(t *testing.T) {
	for _, text := range []string{"xmpp:alice@example.org", "xmpp:example.org?register;preauth=AbCdEf_-0123456789xyz"} {
		for _, scale := range []int{1, 4, 8} {
			b, err := PNG(text, scale)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s ×%d: not a PNG: %v", text, scale, err)
			}
			code, _ := qr.Encode(text, qr.M)
			side := (code.Size + 2*QuietZone) * scale
			if r := img.Bounds(); r.Dx() != side || r.Dy() != side {
				t.Fatalf("%s ×%d: %v, want %d×%d", text, scale, r, side, side)
			}
			black := func(px, py int) bool {
				r, g, bl, _ := img.At(px, py).RGBA()
				switch {
				case r == 0 && g == 0 && bl == 0:
					return true
				case r == 0xffff && g == 0xffff && bl == 0xffff:
					return false
				}
				t.Fatalf("%s: colour %v at %d,%d", text, img.At(px, py), px, py)
				return false
			}
			n := code.Size + 2*QuietZone
			for my := range n {
				for mx := range n {
					x, y := mx-QuietZone, my-QuietZone
					want := x >= 0 && y >= 0 && x < code.Size && y < code.Size && code.Black(x, y)
					// Every pixel of the module, corners and centre.
					for _, p := range [][2]int{{0, 0}, {scale - 1, scale - 1}, {scale / 2, scale / 2}} {
						if got := black(mx*scale+p[0], my*scale+p[1]); got != want {
							t.Fatalf("%s ×%d: module %d,%d is %v, want %v", text, scale, mx, my, got, want)
						}
					}
				}
			}
			if scale == 8 && len(b) > 4096 {
				t.Errorf("%s ×8: %d bytes", text, len(b))
			}
		}
	}
}

func TestPNGErrors(t *testing.T) {
	for _, c := range []struct {
		text  string
		scale int
	}{{"", 4}, {"x", 0}, {"x", MaxScale + 1}, {string(make([]byte, 5000)), 4}} {
		if _, err := PNG(c.text, c.scale); err == nil {
			t.Errorf("PNG(%d bytes, %d): no error", len(c.text), c.scale)
		}
	}
}
