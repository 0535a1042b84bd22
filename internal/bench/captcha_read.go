package bench

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The captcha's readability (make bench, PORTAL_BENCH_ONLY=captcha): fresh
// captcha pictures at the page's size read by tesseract (Debian
// tesseract-ocr) after each of the usual clean-up filters, and the audio
// version's digits heard by pocketsphinx (Debian pocketsphinx with the
// pocketsphinx-en-us model, constrained to the ten digit words). The
// people's side of the measure is a reading by eye, kept in findings.md.

// OCRFilter is one clean-up before tesseract: grayscale on white,
// threshold, a median filter, a morphological opening (erosion then
// dilation, which removes lines thinner than its square) or closing (which
// heals gaps), upscaling, and
// tesseract's page segmentation mode (7: one line, 8: one word).
type OCRFilter struct {
	Name  string
	Apply func(image.Image) *image.Gray
	PSM   string
}

// OCRFilters are the clean-ups tried on every picture.
var OCRFilters = []OCRFilter{
	{"grayscale", grayscale(1), "7"},
	{"grayscale, one word", grayscale(1), "8"},
	{"grayscale, ×2", grayscale(2), "7"},
	{"threshold, median 3×3, ×2", thresholdThen(median, 3), "7"},
	{"threshold, median 3×3, ×2, one word", thresholdThen(median, 3), "8"},
	{"threshold, median 5×5, ×2", thresholdThen(median, 5), "7"},
	{"threshold, opening 3×3, ×2", thresholdThen(opening, 3), "7"},
	{"threshold, opening 5×5, ×2", thresholdThen(opening, 5), "7"},
	{"threshold, opening 3×3, ×2, one word", thresholdThen(opening, 3), "8"},
	{"threshold, opening 5×5, ×2, one word", thresholdThen(opening, 5), "8"},
	// Openings between 3 and 5 pixels, by opening at twice the size: a
	// bot would try the kernel that falls between the lines' thickness and
	// the strokes'.
	{"×2, threshold, opening 7×7, one word", openedAt2(7), "8"},
	{"×2, threshold, opening 9×9, one word", openedAt2(9), "8"},
	{"threshold, closing 3×3, opening 5×5, ×2", func(m image.Image) *image.Gray {
		return upscale(opening(closing(threshold(grayOnWhite(m)), 3), 5), 2, 20)
	}, "7"},
	{"threshold, closing 5×5, ×2", thresholdThen(closing, 5), "7"},
	{"×3, blur 5×5, threshold", func(m image.Image) *image.Gray { return threshold(box(upscale(grayOnWhite(m), 3, 30), 5)) }, "7"},
}

// grayscale is the picture on white, enlarged f times.
func grayscale(f int) func(image.Image) *image.Gray {
	return func(m image.Image) *image.Gray { return upscale(grayOnWhite(m), f, 10*f) }
}

// thresholdThen is a threshold, then op with a k × k window, then ×2.
func thresholdThen(op func(*image.Gray, int) *image.Gray, k int) func(image.Image) *image.Gray {
	return func(m image.Image) *image.Gray { return upscale(op(threshold(grayOnWhite(m)), k), 2, 20) }
}

// openedAt2 is ×2, a threshold, then an opening of k × k (k/2 pixels of the
// picture).
func openedAt2(k int) func(image.Image) *image.Gray {
	return func(m image.Image) *image.Gray { return opening(threshold(upscale(grayOnWhite(m), 2, 20)), k) }
}

// grayOnWhite puts m on white and makes it grayscale.
func grayOnWhite(m image.Image) *image.Gray {
	b := m.Bounds()
	rgba := image.NewRGBA(b)
	draw.Draw(rgba, b, image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(rgba, b, m, b.Min, draw.Over)
	g := image.NewGray(b)
	draw.Draw(g, b, rgba, b.Min, draw.Src)
	return g
}

// threshold makes every pixel darker than mid-gray black, the rest white.
func threshold(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Bounds())
	for i, v := range g.Pix {
		if v >= 160 {
			out.Pix[i] = 255
		}
	}
	return out
}

// at is g's pixel, white outside.
func at(g *image.Gray, x, y int) uint8 {
	if !image.Pt(x, y).In(g.Bounds()) {
		return 255
	}
	return g.GrayAt(x, y).Y
}

// window applies f to the k×k neighbourhood of every pixel.
func window(g *image.Gray, k int, f func([]uint8) uint8) *image.Gray {
	b := g.Bounds()
	out := image.NewGray(b)
	win := make([]uint8, 0, k*k)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			win = win[:0]
			for dy := -k / 2; dy <= k/2; dy++ {
				for dx := -k / 2; dx <= k/2; dx++ {
					win = append(win, at(g, x+dx, y+dy))
				}
			}
			out.SetGray(x, y, color.Gray{f(win)})
		}
	}
	return out
}

func median(g *image.Gray, k int) *image.Gray {
	return window(g, k, func(w []uint8) uint8 { slices.Sort(w); return w[len(w)/2] })
}

// opening removes ink thinner than k pixels: ink shrinks (the lightest of
// the window), then grows back (the darkest).
func opening(g *image.Gray, k int) *image.Gray {
	return window(window(g, k, slices.Max[[]uint8]), k, slices.Min[[]uint8])
}

// closing fills gaps and holes narrower than k pixels: ink grows, then
// shrinks back.
func closing(g *image.Gray, k int) *image.Gray {
	return window(window(g, k, slices.Min[[]uint8]), k, slices.Max[[]uint8])
}

func box(g *image.Gray, k int) *image.Gray {
	return window(g, k, func(w []uint8) uint8 {
		s := 0
		for _, v := range w {
			s += int(v)
		}
		return uint8(s / len(w))
	})
}

// upscale enlarges g by f (nearest neighbour) inside a white border.
func upscale(g *image.Gray, f, border int) *image.Gray {
	b := g.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()*f+2*border, b.Dy()*f+2*border))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	for y := range b.Dy() * f {
		for x := range b.Dx() * f {
			out.SetGray(x+border, y+border, g.GrayAt(b.Min.X+x/f, b.Min.Y+y/f))
		}
	}
	return out
}

// TesseractPath is tesseract's path, "" when it is not installed.
func TesseractPath() string { p, _ := exec.LookPath("tesseract"); return p }

// Tesseract reads the digits of g (tesseract --psm psm, digits only).
func Tesseract(ctx context.Context, g *image.Gray, psm string) (string, error) {
	var in bytes.Buffer
	if err := png.Encode(&in, g); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "tesseract", "stdin", "stdout", "--psm", psm, "-c", "tessedit_char_whitelist=0123456789")
	cmd.Stdin = &in
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	out, err := cmd.Output()
	return digitsOf(string(out)), err
}

func digitsOf(s string) string {
	var d strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			d.WriteRune(r)
		}
	}
	return d.String()
}

// PocketsphinxPath is pocketsphinx_continuous's path, "" when it or the
// en-us model is not installed.
func PocketsphinxPath() string {
	p, _ := exec.LookPath("pocketsphinx_continuous")
	if _, err := os.Stat(pocketsphinxModel); err != nil {
		return ""
	}
	return p
}

const pocketsphinxModel = "/usr/share/pocketsphinx/model/en-us/en-us"

// digitGrammar lets the recogniser hear digit words only.
const digitGrammar = `#JSGF V1.0;
grammar digits;
public <digits> = ( zero | oh | one | two | three | four | five | six | seven | eight | nine )+ ;
`

var digitWords = map[string]byte{"zero": '0', "oh": '0', "one": '1', "two": '2', "three": '3', "four": '4',
	"five": '5', "six": '6', "seven": '7', "eight": '8', "nine": '9'}

// Pocketsphinx transcribes a captcha's WAV file (dchest's 8 kHz audio,
// resampled to the model's 16 kHz by sox) with the digit grammar and
// returns the digits heard.
func Pocketsphinx(ctx context.Context, wav []byte, dir string) (string, error) {
	in := filepath.Join(dir, "in.wav")
	resampled := filepath.Join(dir, "16k.wav")
	gram := filepath.Join(dir, "digits.gram")
	if err := os.WriteFile(in, wav, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(gram, []byte(digitGrammar), 0o600); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "sox", in, "-r", "16000", "-b", "16", "-c", "1", resampled).CombinedOutput(); err != nil {
		return "", fmt.Errorf("sox: %v: %s", err, out)
	}
	cmd := exec.CommandContext(ctx, "pocketsphinx_continuous", "-infile", resampled, "-hmm", pocketsphinxModel,
		"-jsgf", gram, "-dict", "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict", "-logfn", "/dev/null")
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	var d strings.Builder
	for _, w := range strings.Fields(string(out)) {
		if c, ok := digitWords[strings.ToLower(w)]; ok {
			d.WriteByte(c)
		}
	}
	return d.String(), nil
}

// CaptchaRead is what the readability benchmark measured.
type CaptchaRead struct {
	Pictures      int
	Width, Height int
	PictureBytes  int64 // mean PNG size
	ByFilter      []int // pictures read right, per OCRFilter
	DigitsByFilt  []int // digits read right in their place, per OCRFilter
	AnyFilter     int   // pictures that at least one filter read right
	Failures      int   // tesseract runs that failed (counted as not read)
	Sounds        int   // audio captchas transcribed, 0: pocketsphinx missing
	SoundsRight   int   // all digits heard right
	SoundDigits   int   // digits heard right in their place
	SoundLength   int   // digits per captcha
	Note          string
}

// Best returns the most pictures one filter read and its name.
func (c *CaptchaRead) Best() (int, string) {
	best, name := -1, ""
	for i, n := range c.ByFilter {
		if n > best {
			best, name = n, OCRFilters[i].Name
		}
	}
	return best, name
}

// CaptchaReadGoal: tesseract reads at most this many of 30 pictures.
const CaptchaReadGoal = 1

// Markdown is the report's section on the captcha.
func (c *CaptchaRead) Markdown() string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("\n## 6. Captcha: who can read it\n\n")
	w("%d fresh captchas at the sign-up page's size (%d × %d pixels, 6 digits, %.1f KB each) read by tesseract (`tesseract-ocr`, `--psm 7` or `8`, digits only) after each of the usual clean-up filters (done in Go: grayscale on white, threshold, median or opening, upscaling). A picture counts as read when the digits come out exactly. Goal: at most %d in 30 for the best filter. People: see *The captcha read by eye* in the findings below.\n\n",
		c.Pictures, c.Width, c.Height, float64(c.PictureBytes)/1000, CaptchaReadGoal)
	if c.Note != "" {
		w("%s\n\n", c.Note)
	}
	if len(c.ByFilter) > 0 {
		w("| clean-up before tesseract | pictures read right | digits right in their place |\n|---|---|---|\n")
		for i, f := range OCRFilters {
			w("| %s | **%d / %d** | %d / %d |\n", f.Name, c.ByFilter[i], c.Pictures, c.DigitsByFilt[i], 6*c.Pictures)
		}
		w("| any of them | %d / %d | – |\n", c.AnyFilter, c.Pictures)
		if c.Failures > 0 {
			w("\ntesseract failed on %d runs (counted as not read).\n", c.Failures)
		}
	}
	if c.Sounds > 0 {
		w("\nThe audio version (dchest's English voice), checked by ear-equivalent means: %d fresh captchas' WAV files transcribed by pocketsphinx (`pocketsphinx` with `pocketsphinx-en-us`, resampled to 16 kHz by sox, a grammar of the ten digit words): **%d / %d** heard whole, %d / %d digits right in their place. This is a floor for a person (a recogniser without training on this voice and its noise); it shows the digits are there to be heard.\n",
			c.Sounds, c.SoundsRight, c.Sounds, c.SoundDigits, c.SoundLength*c.Sounds)
	}
	return b.String()
}
