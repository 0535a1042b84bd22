package captchaimg

import (
	"image"
	"math"
)

// style is the look of the pictures: how large the digits are, how far
// apart, how much they turn, and the noise drawn over them.
type style struct {
	glyphFrac    float64    // the tallest digit's box, as a share of the picture's height
	margin       float64    // space kept free at the left and right, as a share of the height
	gap          float64    // least space between two digits' boxes, in dots
	jump         float64    // least change of height between neighbours, as a share of the room
	maxAngle     float64    // largest turn of a digit, radians
	minAngle     float64    // smallest turn of a digit, radians
	scaleJitter  float64    // each digit's size varies by ± this share
	aspectJitter float64    // and its width by ± this share more
	maxShear     float64    // largest slant of a digit (x moves by this times y)
	ink          float64    // radius of a glyph's dot, in dots (0.5 and more: solid strokes)
	strikes      int        // wavy lines across the picture
	strikeWidth  float64    // their thickness across a digit's box, in dots
	strikeGap    float64    // their thickness between the digits' boxes, in dots (0: strikeWidth)
	strikeRun    float64    // longest stretch a line may run on a digit's ink, in dots (0: any)
	strikeTries  int        // waves tried to find one within strikeRun
	strikeDash   [2]float64 // over a digit's box, dashes and gaps this long, in dots (0: solid)
	strikeAmp    [2]float64 // their waves' amplitude, as a share of the height
	strikePeriod [2]float64 // their waves' period, as a share of the height
	circles      int        // noise dots
	noiseMin     float64    // smallest noise dot radius, in dots
	noise        float64    // largest noise dot radius, in dots
	waveAmp      [2]float64 // the distortion's amplitude, pixels at 80 px of height
	wavePeriod   [2]float64 // its period, pixels at 80 px of height
}

var currentStyle = style{
	glyphFrac:    0.56,
	margin:       0.12,
	gap:          1.5,
	jump:         0.3,
	maxAngle:     0.35,
	minAngle:     0.15,
	scaleJitter:  0.10,
	aspectJitter: 0.20,
	maxShear:     0.30,
	ink:          0.62,
	strikes:      2,
	strikeWidth:  1.0,
	strikeGap:    3,
	strikeRun:    3,
	strikeTries:  40,
	strikeDash:   [2]float64{2, 1},
	strikeAmp:    [2]float64{0.05, 0.12},
	strikePeriod: [2]float64{1.5, 3},
	circles:      20,
	noiseMin:     0.3,
	noise:        0.9,
	waveAmp:      [2]float64{4, 8},
	wavePeriod:   [2]float64{100, 200},
}

// cell is one inked cell of a glyph, relative to the glyph's centre.
type cell struct{ x, y float64 }

// glyphCells are the inked cells of each digit, from the font.
var glyphCells = func() (gc [10][]cell) {
	for d, g := range glyphs {
		for y, row := range g {
			for x := 0; x < fontWidth; x++ {
				if row[x] == '#' {
					gc[d] = append(gc[d], cell{float64(x) - (fontWidth-1)/2.0, float64(y) - (fontHeight-1)/2.0})
				}
			}
		}
	}
	return gc
}()

// placement puts one glyph on the canvas: its cell (x, y) is drawn at
// (cx + m[0]·x + m[1]·y, cy + m[2]·x + m[3]·y), a disc of radius r; box
// bounds every pixel it inks.
type placement struct {
	cx, cy float64
	m      [4]float64
	r      float64 // the dots' radius, pixels
	ink    float64 // the dots' radius, in dots, while laying out
	box    image.Rectangle
}

// extent returns the half width and half height of the cells of digit d
// moved by m, from the glyph's centre.
func extent(d byte, m *[4]float64) (hw, hh float64) {
	for _, p := range glyphCells[d] {
		hw = max(hw, math.Abs(m[0]*p.x+m[1]*p.y))
		hh = max(hh, math.Abs(m[2]*p.x+m[3]*p.y))
	}
	return hw, hh
}

// layout chooses each digit's shape (turn, slant, width, size) and place:
// the digits as large as the picture allows with a least gap of st.gap dots
// between their boxes (so no two digits ever touch, before or after the
// distortion, which moves a whole row sideways by one amount), the space
// left over spread at random between them, each at a random height, edge
// pixels from the picture's edges at least. It returns the dot size.
func (c *canvas) layout(rng *random, st *style, digits []byte, edge int) float64 {
	n := len(digits)
	c.place = resizePlace(c.place, n)
	sumW, maxH := 0.0, 0.0
	for i, d := range digits {
		// A turn of either sign, its size in [minAngle, maxAngle]: one
		// draw, so that minAngle 0 gives the plain ±maxAngle.
		a := rng.float(-1, 1)
		angle := math.Copysign(st.minAngle+math.Abs(a)*(st.maxAngle-st.minAngle), a)
		scale := 1 + rng.float(-st.scaleJitter, st.scaleJitter)
		sx := scale * (1 + rng.float(-st.aspectJitter, st.aspectJitter))
		sh := rng.float(-st.maxShear, st.maxShear)
		cos, sin := math.Cos(angle), math.Sin(angle)
		// Turn · slant · size, in dots.
		p := &c.place[i]
		p.m = [4]float64{cos * sx, (cos*sh - sin) * scale, sin * sx, (sin*sh + cos) * scale}
		hw, hh := extent(d, &p.m)
		// Half the box, the dots' radius included, kept in cx and cy
		// until the dot size is known.
		p.ink = st.ink * scale
		p.cx, p.cy = hw+p.ink, hh+p.ink
		sumW += 2 * p.cx
		maxH = max(maxH, 2*p.cy)
	}
	w, h := float64(c.w), float64(c.h)
	marginX := max(st.margin*h, float64(edge))
	avail := max(w-2*marginX, 1)
	// The gap is 3 pixels at least: the boxes are a pixel larger than the
	// ink each way, and small pictures have dots of a pixel or two. Two
	// pixels more go to rounding: a digit's centre and its dots' radius are
	// each rounded to a pixel, up to half a pixel on either side.
	const minGap, rounding = 3, 2
	gaps := float64(n - 1)
	dot := min((avail-rounding*gaps)/(sumW+st.gap*gaps), min(h*st.glyphFrac, h-2*float64(edge))/maxH)
	gap := st.gap * dot
	if gap < minGap {
		gap = minGap
		dot = min(dot, (avail-(minGap+rounding)*gaps)/sumW)
	}
	gap += rounding
	dot = max(dot, 0.1)
	// The space left over, in n+1 random shares (the outer two halved).
	slack := max(avail-dot*sumW-gap*gaps, 0)
	var shares [MaxDigits + 1]float64
	total := 0.0
	for i := range n + 1 {
		shares[i] = rng.float(0.3, 1)
		if i == 0 || i == n {
			shares[i] /= 2
		}
		total += shares[i]
	}
	x := marginX + slack*shares[0]/total
	u := rng.Float64()
	for i := range n {
		p := &c.place[i]
		// The dots' radius in pixels, not rounded; the box holds the
		// discs around the dots' centres, rounded outwards.
		p.r = p.ink * dot
		ew, eh := (p.cx-p.ink)*dot, (p.cy-p.ink)*dot
		hw, hh := p.cx*dot, p.cy*dot
		cx := x + hw
		// Heights in [top, h−top]: each a share u of the way down, at
		// least st.jump from the previous digit's share.
		top := float64(edge) + hh
		u = math.Mod(u+rng.float(st.jump, 1-st.jump), 1)
		cy := top + u*max(h-2*top, 0)
		p.cx, p.cy = cx, cy
		for k := range p.m {
			p.m[k] *= dot
		}
		p.box = image.Rect(int(math.Floor(cx-ew-p.r)), int(math.Floor(cy-eh-p.r)),
			int(math.Ceil(cx+ew+p.r))+1, int(math.Ceil(cy+eh+p.r))+1)
		x += 2*hw + gap + slack*shares[i+1]/total
	}
	return dot
}

func resizePlace(s []placement, n int) []placement {
	if cap(s) < n {
		return make([]placement, n)
	}
	return s[:n]
}

// glyph draws a digit's cells as discs of radius p.r around their exact
// centres, in colour index ci. Rounding a centre or the radius to a pixel
// (dchest's circles) would make strokes 5 pixels wide at the page's size,
// just what a 5 × 5 opening keeps while it removes the thinner lines; as
// discs the strokes are 3 to 4 pixels wide, as thick as the lines over the
// digits, so no opening removes one and keeps the other.
func (c *canvas) glyph(cells []cell, p *placement, ci uint8) {
	for _, q := range cells {
		c.disc(p.cx+p.m[0]*q.x+p.m[1]*q.y, p.cy+p.m[2]*q.x+p.m[3]*q.y, p.r, ci)
	}
}

// strikeRadii are the radii in pixels of a line's dots over a digit's box
// and between the boxes, for dots of dot pixels: at least a pixel each.
func (st *style) strikeRadii(dot float64) (over, between int) {
	over = max(int(st.strikeWidth*dot/2+0.5), 1)
	between = over
	if st.strikeGap > 0 {
		between = max(int(st.strikeGap*dot/2+0.5), 1)
	}
	return over, between
}

// strikePath chooses a line's course, path[x] its row in column x: a wave
// across the picture at a random height in its middle third. A line that
// runs along a digit's stroke instead of across it (a 7's bar, a 6's top)
// hides or fakes the part people tell digits apart by; so of up to
// st.strikeTries waves it keeps the first that runs on the digits' ink for
// at most st.strikeRun dots in a row, or else the one with the shortest
// such run, and returns that run in pixels. It reads the canvas as ink, so
// it is called before any line is drawn.
func (c *canvas) strikePath(rng *random, st *style, dot float64, path, try []int) (run int) {
	run = math.MaxInt
	for range max(st.strikeTries, 1) {
		y := float64(rng.between(c.h/3, c.h-c.h/3))
		amplitude := rng.float(st.strikeAmp[0], st.strikeAmp[1]) * float64(c.h)
		period := rng.float(st.strikePeriod[0], st.strikePeriod[1]) * float64(c.h)
		wv := newWave(amplitude, 2*math.Pi/period)
		// The longest run on ink so far, and the current one; a course
		// is dropped as soon as it is no better than the best.
		longest, cur, x := 0, 0, 0
		for ; x < len(try) && longest < run; x++ {
			s, _ := wv.next()
			row := int(y + s)
			try[x] = row
			if row >= 0 && row < c.h && c.pix[row*c.w+x] != 0 {
				cur++
				longest = max(longest, cur)
			} else {
				cur = 0
			}
		}
		if longest < run {
			run = longest
			copy(path, try)
		}
		if st.strikeRun == 0 || float64(run) <= st.strikeRun*dot {
			break
		}
	}
	return run
}

// strike draws a line along path: thin (strikeWidth, as thin as the
// digits' strokes) and dashed (strikeDash) where it crosses a digit's box,
// so that people tell it from the strokes by its gaps and it hides none of
// their features, and thick and solid (strikeGap) between the digits, where
// it ties them into one shape for OCR. No opening or median removes the
// dashes and keeps the strokes: both are as thick, and a dash is longer
// than thick.
func (c *canvas) strike(st *style, dot float64, path []int) {
	r, rGap := st.strikeRadii(dot)
	on, period := st.strikeDash[0]*dot, (st.strikeDash[0]+st.strikeDash[1])*dot
	phase := 0.0 // x modulo period
	for x, y := range path {
		if x > 0 && period > 0 {
			if phase++; phase >= period {
				phase -= period
			}
		}
		over := false
		for i := range c.place {
			if b := c.place[i].box; x+rGap >= b.Min.X && x-rGap < b.Max.X {
				over = true
				break
			}
		}
		switch {
		case !over:
			c.circle(x, y, rGap, 1)
		case period == 0 || phase < on:
			c.circle(x, y, r, 1)
		}
	}
}
