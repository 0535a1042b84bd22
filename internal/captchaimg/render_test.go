package captchaimg

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"testing"
)

func testRenderer(seed byte) *Renderer {
	var key [32]byte
	key[0] = seed
	return newWithKey(key)
}

// decode checks that b is a PNG of w × h pixels with at most two colours
// and returns it.
func decode(t *testing.T, b []byte, w, h int) *image.Paletted {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	m, ok := img.(*image.Paletted)
	if !ok {
		t.Fatalf("decoded %T, want a paletted picture", img)
	}
	if got := m.Bounds(); got != image.Rect(0, 0, w, h) {
		t.Fatalf("size %v, want %dx%d", got, w, h)
	}
	if len(m.Palette) > 2 {
		t.Fatalf("%d colours, want at most 2", len(m.Palette))
	}
	return m
}

// TestPNGIsTheDrawnPicture: the PNG written is a valid picture of the size
// asked for, pixel for pixel the one Draw returns, at the portal's size, the
// bounds captchastore accepts and odd sizes.
func TestPNGIsTheDrawnPicture(t *testing.T) {
	r := testRenderer(1)
	cases := []struct {
		w, h   int
		digits []byte
	}{
		{240, 80, []byte{3, 1, 4, 1, 5, 9}},
		{100, 40, []byte{0, 0, 0, 0, 0, 0}},
		{1000, 500, []byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2}},
		{100, 500, []byte{1, 2, 3, 4, 5, 6}},
		{1000, 40, []byte{7}},
		{1, 1, []byte{5}},
		{7, 3, []byte{1, 2}},
		{9, 300, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2}},
		{MaxSide, 2, []byte{4, 2}},
		{600, 900, []byte{6, 6, 6}}, // raw data over 65,535 bytes: several stored blocks
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d-%d", tc.w, tc.h, len(tc.digits)), func(t *testing.T) {
			var buf bytes.Buffer
			if err := r.WritePNG(&buf, "someid", tc.digits, tc.w, tc.h); err != nil {
				t.Fatal(err)
			}
			got := decode(t, buf.Bytes(), tc.w, tc.h)
			want, err := r.Draw("someid", tc.digits, tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			for y := range tc.h {
				for x := range tc.w {
					g := got.Palette[got.ColorIndexAt(x, y)]
					w := want.Palette[want.ColorIndexAt(x, y)]
					if g != w {
						t.Fatalf("pixel (%d,%d) is %v in the PNG, %v drawn", x, y, g, w)
					}
				}
			}
		})
	}
}

// TestPicturesDependOnKeyIDAndDigits: one captcha always gives the same
// bytes (no fresh noise to average over reloads); another id, other digits
// or another process's key give another picture.
func TestPicturesDependOnKeyIDAndDigits(t *testing.T) {
	render := func(r *Renderer, id string, digits []byte) []byte {
		var buf bytes.Buffer
		if err := r.WritePNG(&buf, id, digits, 240, 80); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	r1, r2 := testRenderer(1), testRenderer(2)
	base := render(r1, "id1", []byte{1, 2, 3, 4, 5, 6})
	if again := render(r1, "id1", []byte{1, 2, 3, 4, 5, 6}); !bytes.Equal(base, again) {
		t.Fatal("the same captcha gave two different pictures")
	}
	for name, other := range map[string][]byte{
		"other id":     render(r1, "id2", []byte{1, 2, 3, 4, 5, 6}),
		"other digits": render(r1, "id1", []byte{1, 2, 3, 4, 5, 7}),
		"other key":    render(r2, "id1", []byte{1, 2, 3, 4, 5, 6}),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("%s: same picture", name)
		}
	}
	if a, b := New(), New(); bytes.Equal(render(a, "x", []byte{1}), render(b, "x", []byte{1})) {
		t.Error("two New renderers drew the same picture: the key is not random")
	}
}

// TestInkLaidOut: over many captchas the digits are drawn across the
// picture (ink in most columns of the middle) and do not flood it.
func TestInkLaidOut(t *testing.T) {
	r := New()
	for i := range 200 {
		digits := []byte{byte(i % 10), byte(i / 10 % 10), byte(i * 7 % 10), byte(i * 3 % 10), 1, 8}
		m, err := r.Draw(fmt.Sprint("id", i), digits, 240, 80)
		if err != nil {
			t.Fatal(err)
		}
		ink, cols := 0, 0
		for x := range 240 {
			col := 0
			for y := range 80 {
				if m.ColorIndexAt(x, y) != 0 {
					col++
				}
			}
			ink += col
			if col > 0 && x >= 40 && x < 200 {
				cols++
			}
		}
		if frac := float64(ink) / (240 * 80); frac < 0.05 || frac > 0.35 {
			t.Fatalf("captcha %d: %.1f%% of the pixels are ink, want 5–35%%", i, 100*frac)
		}
		if cols < 150 {
			t.Fatalf("captcha %d: ink in %d of the 160 middle columns, want ≥ 150", i, cols)
		}
		if _, _, _, a := m.Palette[1].RGBA(); a != 0xFFFF {
			t.Fatalf("captcha %d: ink is not opaque", i)
		}
		if _, _, _, a := m.Palette[0].RGBA(); a != 0 {
			t.Fatalf("captcha %d: background is not transparent", i)
		}
	}
}

func TestBadInput(t *testing.T) {
	r := New()
	cases := []struct {
		name   string
		w, h   int
		digits []byte
	}{
		{"zero width", 0, 80, []byte{1}},
		{"negative height", 240, -1, []byte{1}},
		{"too wide", MaxSide + 1, 80, []byte{1}},
		{"too high", 240, MaxSide + 1, []byte{1}},
		{"no digits", 240, 80, nil},
		{"too many digits", 240, 80, make([]byte, MaxDigits+1)},
		{"not a digit", 240, 80, []byte{1, 10}},
		{"ASCII digit", 240, 80, []byte("123")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.WritePNG(io.Discard, "id", tc.digits, tc.w, tc.h); !errors.Is(err, ErrBadInput) {
				t.Errorf("WritePNG = %v, want ErrBadInput", err)
			}
			if _, err := r.Draw("id", tc.digits, tc.w, tc.h); !errors.Is(err, ErrBadInput) {
				t.Errorf("Draw = %v, want ErrBadInput", err)
			}
		})
	}
}

// TestZlibStored: the stored stream inflates to its input at every block
// boundary.
func TestZlibStored(t *testing.T) {
	for _, n := range []int{0, 1, 0xFFFF - 1, 0xFFFF, 0xFFFF + 1, 3*0xFFFF + 17} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i*31 + i>>8)
			}
			var b bytes.Buffer
			zlibStored(&b, data)
			zr, err := zlib.NewReader(&b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("inflated %d bytes, not the %d written", len(got), n)
			}
		})
	}
}

// FuzzDraw: any size, id and digits within the limits draw a valid PNG of
// that size; anything else is ErrBadInput; nothing panics.
func FuzzDraw(f *testing.F) {
	f.Add("AbCdEfGhIjKlMnOpQrSt", []byte{3, 1, 4, 1, 5, 9}, 240, 80)
	f.Add("", []byte{0}, 1, 1)
	f.Add("x", []byte{9, 9}, 1000, 40)
	r := testRenderer(7)
	f.Fuzz(func(t *testing.T, id string, digits []byte, w, h int) {
		if w > 600 || h > 600 { // keep each case fast; the limits are tested above
			return
		}
		var buf bytes.Buffer
		err := r.WritePNG(&buf, id, digits, w, h)
		if errors.Is(err, ErrBadInput) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		decode(t, buf.Bytes(), w, h)
	})
}

// TestDistortRowMatchesDefinition: the row-at-a-time distortion (with its
// fast path for rows whose sources are all inside) moves every pixel as
// its definition says, at the picture's edges too.
func TestDistortRowMatchesDefinition(t *testing.T) {
	cases := []struct {
		w, h              int
		amplitude, period float64
	}{
		{240, 80, 5, 100},
		{240, 80, 10, 200},
		{100, 40, 9.9, 100},
		{9, 7, 10, 100},    // shifts larger than the picture
		{1, 1, 5, 150},     // one pixel
		{1000, 500, 7, 13}, // short period
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d-a%g-p%g", tc.w, tc.h, tc.amplitude, tc.period), func(t *testing.T) {
			c := &canvas{pix: make([]uint8, tc.w*tc.h), w: tc.w, h: tc.h}
			for i := range c.pix {
				c.pix[i] = uint8(i*7919>>3) & 1
			}
			c.setDistortion(tc.amplitude, tc.period)
			row := make([]uint8, tc.w)
			for y := range tc.h {
				c.distortRow(y, row)
				for x := range tc.w {
					sx, sy := x+c.xoff[y], y+c.yoff[x]
					want := uint8(0)
					if sx >= 0 && sx < tc.w && sy >= 0 && sy < tc.h {
						want = c.pix[sy*tc.w+sx]
					}
					if row[x] != want {
						t.Fatalf("(%d,%d) = %d, want %d (from (%d,%d))", x, y, row[x], want, sx, sy)
					}
				}
			}
			// The shifts are the wave of the definition, to within rounding.
			for y, got := range c.xoff {
				if want := tc.amplitude * math.Sin(float64(y)*2*math.Pi/tc.period); math.Abs(float64(got)-want) >= 1+1e-9 {
					t.Fatalf("row %d shifted by %d, want about %.3f", y, got, want)
				}
			}
			for x, got := range c.yoff {
				if want := tc.amplitude * math.Cos(float64(x)*2*math.Pi/tc.period); math.Abs(float64(got)-want) >= 1+1e-9 {
					t.Fatalf("column %d shifted by %d, want about %.3f", x, got, want)
				}
			}
		})
	}
}

func TestPack8(t *testing.T) {
	for v := range 256 {
		var p [8]byte
		for k := range 8 {
			p[k] = byte(v >> (7 - k) & 1)
		}
		if got := pack8(p[:]); got != byte(v) {
			t.Fatalf("pack8(%v) = %08b, want %08b", p, got, v)
		}
	}
}
