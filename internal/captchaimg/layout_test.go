package captchaimg

import (
	"fmt"
	"image"
	"math"
	"testing"
)

// digitsOnly draws the digits of one captcha alone, digit i in colour
// index i+1, with the picture's own layout and distortion; it returns the
// canvas (distortion set) and the digits' boxes.
func digitsOnly(t *testing.T, r *Renderer, id string, digits []byte, w, h int) (*canvas, []image.Rectangle) {
	t.Helper()
	c, err := r.draw(id, digits, w, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.free)
	boxes := make([]image.Rectangle, len(digits))
	clear(c.pix)
	for i, d := range digits {
		p := c.place[i]
		boxes[i] = p.box
		c.glyph(glyphCells[d], &p, uint8(i+1))
	}
	return c, boxes
}

// TestDigitsNeverTouch: over many captchas and sizes, each digit's ink lies
// inside its box, the boxes of neighbours are apart by a least gap, and
// after the distortion every row still shows the digits left to right with
// space between them: no two digits touch in the picture served.
func TestDigitsNeverTouch(t *testing.T) {
	r := testRenderer(3)
	sizes := []struct{ w, h, n, gap int }{
		{Width, Height, 6, 3},
		{240, 80, 6, 2},
		{1000, 500, 6, 10},
		{1000, 120, 12, 3},
		{200, 100, 4, 2},
		{100, 40, 6, 1}, // the smallest captchastore accepts
	}
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d-%d", sz.w, sz.h, sz.n), func(t *testing.T) {
			for k := range 300 {
				digits := make([]byte, sz.n)
				for i := range digits {
					digits[i] = byte((k*7 + i*3 + k/10*i) % 10)
				}
				id := fmt.Sprintf("touch%015d", k)
				c, boxes := digitsOnly(t, r, id, digits, sz.w, sz.h)
				for i := 1; i < len(boxes); i++ {
					if g := boxes[i].Min.X - boxes[i-1].Max.X; g < 1 {
						t.Fatalf("captcha %d: digits %d and %d: boxes %v and %v overlap or touch", k, i-1, i, boxes[i-1], boxes[i])
					}
				}
				// Ink inside its own box, before the distortion.
				for y := range c.h {
					for x := range c.w {
						if v := c.pix[y*c.w+x]; v != 0 && !image.Pt(x, y).In(boxes[v-1]) {
							t.Fatalf("captcha %d: digit %d inks (%d,%d) outside its box %v", k, v-1, x, y, boxes[v-1])
						}
					}
				}
				// After it: in every row, digit i's rightmost pixel is left
				// of digit i+1's leftmost by more than gap pixels.
				row := make([]uint8, c.w)
				for y := range c.h {
					c.distortRow(y, row)
					last := make([]int, sz.n+1) // rightmost x of each digit in this row, -1: none
					first := make([]int, sz.n+1)
					for i := range last {
						last[i], first[i] = -1, c.w
					}
					for x, v := range row {
						if v != 0 {
							last[v] = x
							first[v] = min(first[v], x)
						}
					}
					for i := 1; i < sz.n; i++ {
						for j := i + 1; j <= sz.n; j++ {
							if last[i] >= 0 && first[j] < c.w && first[j]-last[i] <= sz.gap {
								t.Fatalf("captcha %d, row %d: digit %d ends at %d, digit %d starts at %d", k, y, i-1, last[i], j-1, first[j])
							}
						}
					}
				}
			}
		})
	}
}

// TestDigitsLargeAndWhole: at the page's size the digits are large (their
// boxes at least 40 % of the picture's height on average) and never cut by
// the picture's edges, the distortion's reach included.
func TestDigitsLargeAndWhole(t *testing.T) {
	r := testRenderer(4)
	for k := range 300 {
		digits := []byte{byte(k % 10), byte(k / 10 % 10), 1, 8, byte(k * 3 % 10), 7}
		c, err := r.draw(fmt.Sprintf("whole%015d", k), digits, Width, Height)
		if err != nil {
			t.Fatal(err)
		}
		reach := 0
		for _, o := range c.xoff {
			reach = max(reach, o, -o)
		}
		for _, o := range c.yoff {
			reach = max(reach, o, -o)
		}
		inner := image.Rect(reach, reach, Width-reach, Height-reach)
		sum := 0
		for i, p := range c.place {
			if !p.box.In(inner) {
				t.Fatalf("captcha %d: digit %d's box %v is not inside %v: the distortion can cut it", k, i, p.box, inner)
			}
			sum += p.box.Dy()
		}
		if avg := float64(sum) / float64(len(digits)); avg < 0.40*Height {
			t.Fatalf("captcha %d: digits %.0f pixels high on average, want ≥ %.0f", k, avg, 0.40*Height)
		}
		c.free()
	}
}

// TestTurnsWithinLimits: every digit turns by at least minAngle and at most
// maxAngle, either way, and both ways occur.
func TestTurnsWithinLimits(t *testing.T) {
	r := testRenderer(5)
	st := &currentStyle
	left, right := 0, 0
	for k := range 200 {
		digits := []byte{byte(k % 10), 1, 7, 6, byte(k / 10 % 10), 0}
		c, err := r.draw(fmt.Sprintf("turn%015d", k), digits, Width, Height)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range c.place {
			// m = turn · slant · size: its first column is (cos, sin)
			// times the width's scale, which is positive.
			a := math.Atan2(p.m[2], p.m[0])
			if math.Abs(a) < st.minAngle-1e-9 || math.Abs(a) > st.maxAngle+1e-9 {
				t.Fatalf("captcha %d, digit %d: turned %.3f rad, want %.2f–%.2f either way", k, i, a, st.minAngle, st.maxAngle)
			}
			if a < 0 {
				left++
			} else {
				right++
			}
		}
		c.free()
	}
	if left < 400 || right < 400 {
		t.Fatalf("of 1200 digits %d turned one way and %d the other, want both ≥ 400", left, right)
	}
}

// TestStrikeThinOverDigits: a line is thin (strikeWidth) and dashed in the
// columns of a digit's box, with gaps no longer than strikeDash's, and
// thicker (strikeGap) and solid between the boxes; the line is drawn flat
// here so that its thickness is the ink in a column.
func TestStrikeThinOverDigits(t *testing.T) {
	r := testRenderer(6)
	for k := range 50 {
		digits := []byte{byte(k % 10), 3, 8, 1, 6, byte(k * 7 % 10)}
		c := newCanvas(Width, Height)
		rng := r.rng(fmt.Sprint("strike", k), digits)
		st := currentStyle
		dot := c.layout(rng, &st, digits, 5)
		clear(c.pix)
		st.strikeAmp = [2]float64{0, 0}
		path := make([]int, c.w)
		c.strikePath(rng, &st, dot, path, make([]int, c.w))
		c.strike(&st, dot, path)
		rThin, rThick := st.strikeRadii(dot)
		thin, thick := 2*rThin+1, 2*rThick+1
		if thick <= thin {
			t.Fatalf("at %d × %d the line is %d pixels thick between digits and %d over them: no difference", Width, Height, thick, thin)
		}
		maxGap := int(math.Ceil(st.strikeDash[1] * dot))
		inGap, gaps, gap := 0, 0, 0
		for x := range c.w {
			ink := 0
			for y := range c.h {
				if c.pix[y*c.w+x] != 0 {
					ink++
				}
			}
			// In a box, or near enough for the thick line to reach it.
			inBox, near := false, false
			for _, p := range c.place {
				inBox = inBox || (x >= p.box.Min.X && x < p.box.Max.X)
				near = near || (x+rThick >= p.box.Min.X && x-rThick < p.box.Max.X)
			}
			switch {
			case inBox && ink > thin:
				t.Fatalf("captcha %d, column %d in a digit's box: line %d pixels thick, want ≤ %d", k, x, ink, thin)
			case !near && ink == 0:
				t.Fatalf("captcha %d, column %d between the digits: no line, want a solid one", k, x)
			case !inBox && ink >= thick:
				inGap++
			}
			if ink == 0 {
				gap++
				if gap > maxGap {
					t.Fatalf("captcha %d: the line has a gap of %d columns at column %d, want ≤ %d", k, gap, x, maxGap)
				}
				continue
			}
			if gap > 0 {
				gaps++
			}
			gap = 0
		}
		if inGap == 0 {
			t.Fatalf("captcha %d: no column between the digits has the thick line", k)
		}
		if gaps < 6 {
			t.Fatalf("captcha %d: the line has %d gaps over 6 digits, want it dashed over each", k, gaps)
		}
		c.free()
	}
}

// TestStrikeCrossesStrokes: the lines cross the digits' strokes rather
// than run along them. In the pictures drawn, nearly every line lies on a
// digit's ink for at most strikeRun dots in a row (the rest are the best of
// strikeTries waves), while waves taken as they come run along a stroke
// far more often.
func TestStrikeCrossesStrokes(t *testing.T) {
	const pictures = 300
	long := func(st style) (lines, over int) {
		saved := currentStyle
		currentStyle = st
		defer func() { currentStyle = saved }()
		r := testRenderer(7)
		for k := range pictures {
			digits := []byte{byte(k % 10), 7, 6, byte(k / 10 % 10), 4, byte(k * 3 % 10)}
			c, err := r.draw(fmt.Sprintf("along%015d", k), digits, Width, Height)
			if err != nil {
				t.Fatal(err)
			}
			dot := c.place[0].r / c.place[0].ink
			clear(c.pix)
			for i, d := range digits {
				c.glyph(glyphCells[d], &c.place[i], 1)
			}
			for i := range st.strikes {
				lines++
				if run := runOnInk(c, c.lines[i*c.w:(i+1)*c.w]); float64(run) > saved.strikeRun*dot {
					over++
				}
			}
			c.free()
		}
		return lines, over
	}
	st := currentStyle
	lines, over := long(st)
	if over*20 > lines {
		t.Errorf("%d of %d lines run along a stroke for more than %.0f dots, want ≤ 5%%", over, lines, st.strikeRun)
	}
	st.strikeRun, st.strikeTries = 0, 1
	rawLines, rawOver := long(st)
	if rawOver*4 < rawLines {
		t.Errorf("waves as they come: %d of %d lines run along a stroke; expected ≥ 25%%, or the check above measures nothing", rawOver, rawLines)
	}
	t.Logf("lines running along a stroke: %d of %d chosen, %d of %d as they come", over, lines, rawOver, rawLines)
}

// runOnInk is the most columns in a row in which path lies on c's ink.
func runOnInk(c *canvas, path []int) int {
	longest, run := 0, 0
	for x, y := range path {
		if y >= 0 && y < c.h && c.pix[y*c.w+x] != 0 {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
