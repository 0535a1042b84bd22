package captchaimg

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"io"
	"math"
	mrand "math/rand/v2"
	"sync"
)

// Limits of Draw's arguments.
const (
	MaxSide   = 4096
	MaxDigits = 32
)

// The picture's size on the sign-up page, in pixels: six digits about 56
// pixels high, read at this size by people (see docs/benchmarks.md); the
// page scales it down to narrower screens (max-width: 100%).
const (
	Width  = 300
	Height = 100
)

// ErrBadInput is returned for a size or digit string Draw cannot draw.
var ErrBadInput = errors.New("captchaimg: size or digits out of range")

const (
	colours = 2 // transparent and ink: 1 bit per pixel
)

// Renderer draws pictures; it is safe for concurrent use.
type Renderer struct {
	key [32]byte
	enc encoder
}

// New returns a Renderer with a fresh random secret. Pictures of one id
// differ between Renderers (and so between processes), never within one.
func New() *Renderer {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		panic("captchaimg: no random source: " + err.Error())
	}
	return newWithKey(key)
}

func newWithKey(key [32]byte) *Renderer {
	return &Renderer{key: key}
}

// WritePNG draws the picture of id and digits (values 0–9) at width ×
// height pixels and writes it as a PNG.
func (r *Renderer) WritePNG(w io.Writer, id string, digits []byte, width, height int) error {
	c, err := r.draw(id, digits, width, height)
	if err != nil {
		return err
	}
	defer c.free()
	return r.enc.encode(w, c)
}

// Draw returns the picture of id and digits (values 0–9) at width × height
// pixels (1–MaxSide each, 1–MaxDigits digits): the pixels WritePNG encodes.
func (r *Renderer) Draw(id string, digits []byte, width, height int) (*image.Paletted, error) {
	c, err := r.draw(id, digits, width, height)
	if err != nil {
		return nil, err
	}
	defer c.free()
	m := image.NewPaletted(image.Rect(0, 0, width, height), c.palette())
	for y := range height {
		c.distortRow(y, m.Pix[y*m.Stride:y*m.Stride+width])
	}
	return m, nil
}

// draw makes the picture before its distortion, and the distortion.
func (r *Renderer) draw(id string, digits []byte, width, height int) (*canvas, error) {
	if width < 1 || height < 1 || width > MaxSide || height > MaxSide || len(digits) < 1 || len(digits) > MaxDigits {
		return nil, ErrBadInput
	}
	for _, d := range digits {
		if d > 9 {
			return nil, ErrBadInput
		}
	}
	rng := r.rng(id, digits)
	c := newCanvas(width, height)
	c.pal = palette(rng)
	st := &currentStyle
	k := float64(height) / 80
	amplitude, period := k*rng.float(st.waveAmp[0], st.waveAmp[1]), k*rng.float(st.wavePeriod[0], st.wavePeriod[1])
	// The distortion moves a pixel by up to its amplitude: the digits keep
	// that far from the edges, so that none is cut.
	dot := c.layout(rng, st, digits, int(math.Ceil(amplitude))+1)
	for i, d := range digits {
		c.glyph(glyphCells[d], &c.place[i], 1)
	}
	// Every line's course is chosen against the digits alone, then drawn.
	c.lines = resize(c.lines, (st.strikes+1)*width)
	try := c.lines[st.strikes*width:]
	for i := range st.strikes {
		c.strikePath(rng, st, dot, c.lines[i*width:(i+1)*width], try)
	}
	for i := range st.strikes {
		c.strike(st, dot, c.lines[i*width:(i+1)*width])
	}
	for range st.circles {
		rad := rng.between(max(1, int(dot*st.noiseMin+0.5)), max(1, int(dot*st.noise+0.5)))
		c.circle(rng.between(rad, width-rad), rng.between(rad, height-rad), rad, 1)
	}
	c.setDistortion(amplitude, period)
	return c, nil
}

// rng is seeded from HMAC-SHA256(key, id, 0, digits): the same picture for
// the same captcha, unpredictable without the key.
func (r *Renderer) rng(id string, digits []byte) *random {
	h := hmac.New(sha256.New, r.key[:])
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(digits)
	var seed [32]byte
	h.Sum(seed[:0])
	return &random{mrand.New(mrand.NewChaCha8(seed))}
}

// palette is a transparent background and a random dark ink. dchest
// draws its noise in shades of the ink; a bot can drop those by colour, so
// here the noise has the ink's colour.
func palette(rng *random) [colours]color.NRGBA {
	ink := color.NRGBA{uint8(rng.IntN(97)), uint8(rng.IntN(97)), uint8(rng.IntN(97)), 0xFF}
	return [colours]color.NRGBA{{0xFF, 0xFF, 0xFF, 0x00}, ink}
}

// random adds dchest's range helpers to math/rand.
type random struct{ *mrand.Rand }

// between returns a number in [from, to], or from when to < from.
func (r *random) between(from, to int) int {
	if to <= from {
		return from
	}
	return from + r.IntN(to-from+1)
}

func (r *random) float(from, to float64) float64 { return from + (to-from)*r.Float64() }

// canvas is a picture's pixels before the distortion, one palette index
// per byte, and the distortion's shifts; everything drawn is clipped to it.
type canvas struct {
	pix        []uint8
	w, h       int
	pal        [colours]color.NRGBA
	place      []placement // where each digit is drawn
	lines      []int       // the lines' rows per column, one after another, and a spare
	xoff, yoff []int       // the distortion: per row, per column
	colOff     []int       // per column: yoff·w + x, the source offset from the row's start
	in0, in1   int         // rows y in [in0, in1) read only rows inside the picture
}

var canvases sync.Pool // *canvas, reused between pictures

func newCanvas(w, h int) *canvas {
	c, _ := canvases.Get().(*canvas)
	if c == nil {
		c = &canvas{}
	}
	c.w, c.h = w, h
	if cap(c.pix) < w*h {
		c.pix = make([]uint8, w*h)
	} else {
		c.pix = c.pix[:w*h]
		clear(c.pix)
	}
	return c
}

func (c *canvas) free() {
	if cap(c.pix) <= 256*1024 { // keep only the usual sizes
		canvases.Put(c)
	}
}

func (c *canvas) palette() color.Palette {
	p := make(color.Palette, colours)
	for i, col := range c.pal {
		p[i] = col
	}
	return p
}

func (c *canvas) hline(x0, x1, y int, ci uint8) {
	if y < 0 || y >= c.h {
		return
	}
	x0, x1 = max(x0, 0), min(x1, c.w-1)
	if x0 > x1 {
		return
	}
	row := c.pix[y*c.w : y*c.w+c.w]
	for x := x0; x <= x1; x++ {
		row[x] = ci
	}
}

// circle fills a circle with the midpoint algorithm (as dchest draws it).
func (c *canvas) circle(x, y, radius int, ci uint8) {
	switch radius { // the usual dots, drawn as the algorithm would draw them
	case 0:
		c.hline(x, x, y, ci)
		return
	case 1:
		if x >= 1 && y >= 1 && x+1 < c.w && y+1 < c.h { // inside: no clipping
			i := y*c.w + x
			c.pix[i-c.w], c.pix[i-1], c.pix[i], c.pix[i+1], c.pix[i+c.w] = ci, ci, ci, ci, ci
			return
		}
		c.hline(x, x, y-1, ci)
		c.hline(x-1, x+1, y, ci)
		c.hline(x, x, y+1, ci)
		return
	}
	f := 1 - radius
	dfx, dfy := 1, -2*radius
	xo, yo := 0, radius
	c.hline(x, x, y+radius, ci)
	c.hline(x, x, y-radius, ci)
	c.hline(x-radius, x+radius, y, ci)
	for xo < yo {
		if f >= 0 {
			yo--
			dfy += 2
			f += dfy
		}
		xo++
		dfx += 2
		f += dfx
		c.hline(x-xo, x+xo, y+yo, ci)
		c.hline(x-xo, x+xo, y-yo, ci)
		c.hline(x-yo, x+yo, y+xo, ci)
		c.hline(x-yo, x+yo, y-xo, ci)
	}
}

// disc fills the pixels whose centres lie within r of (x, y).
func (c *canvas) disc(x, y, r float64, ci uint8) {
	for py := int(math.Ceil(y - r)); py <= int(math.Floor(y+r)); py++ {
		dy := float64(py) - y
		d := math.Sqrt(max(r*r-dy*dy, 0))
		c.hline(int(math.Ceil(x-d)), int(math.Floor(x+d)), py, ci)
	}
}

// setDistortion sets the wave that moves the pixels: the pixel at (x, y)
// comes from (x + a·sin(y·2π/p), y + a·cos(x·2π/p)), transparent outside,
// as in dchest. Each shift depends on one coordinate, so it is computed once
// per row or column rather than twice per pixel.
func (c *canvas) setDistortion(amplitude, period float64) {
	dx := 2 * math.Pi / period
	c.xoff = resize(c.xoff, c.h)
	wv := newWave(amplitude, dx)
	for y := range c.xoff {
		s, _ := wv.next()
		c.xoff[y] = int(s)
	}
	c.yoff = resize(c.yoff, c.w)
	c.colOff = resize(c.colOff, c.w)
	lo, hi := 0, 0
	wv = newWave(amplitude, dx)
	for x := range c.yoff {
		_, co := wv.next()
		c.yoff[x] = int(co)
		c.colOff[x] = c.yoff[x]*c.w + x
		lo, hi = min(lo, c.yoff[x]), max(hi, c.yoff[x])
	}
	c.in0, c.in1 = -lo, c.h-hi
}

// wave yields a·sin(i·step) and a·cos(i·step) for i = 0, 1, 2, … by
// rotating a vector: two trigonometric calls per wave, not per point.
type wave struct{ s, c, ds, dc float64 }

func newWave(amplitude, step float64) wave {
	return wave{s: 0, c: amplitude, ds: math.Sin(step), dc: math.Cos(step)}
}

func (w *wave) next() (sin, cos float64) {
	sin, cos = w.s, w.c
	w.s, w.c = sin*w.dc+cos*w.ds, cos*w.dc-sin*w.ds
	return sin, cos
}

func resize(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// distortRow writes row y of the distorted picture to dst (len c.w), a
// palette index per byte.
func (c *canvas) distortRow(y int, dst []uint8) {
	clear(dst)
	xo := c.xoff[y]
	// Source columns outside the picture are transparent.
	x0, x1 := max(0, -xo), min(c.w, c.w-xo)
	if x0 >= x1 {
		return
	}
	base := y*c.w + xo
	pix, offs, d := c.pix, c.colOff[x0:x1], dst[x0:x1]
	if y >= c.in0 && y < c.in1 { // every source row is inside
		for i, o := range offs {
			d[i] = pix[base+o]
		}
		return
	}
	for i, o := range offs {
		if sy := y + c.yoff[x0+i]; uint(sy) < uint(c.h) {
			d[i] = pix[base+o]
		}
	}
}

// pack8 packs eight pixels of 0 or 1 into a byte, the first in the high bit
// (PNG's order), with one multiplication.
func pack8(p []byte) byte {
	return byte((binary.LittleEndian.Uint64(p) * 0x8040201008040201) >> 56)
}
