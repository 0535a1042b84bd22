// Package captchaimg draws the portal's captcha pictures.
//
// The digits are github.com/dchest/captcha's font (11 × 18 cells), each
// cell drawn as a filled circle so that strokes are solid, and each digit
// turned, slanted, widened or narrowed and sized at random (within limits
// people read easily), as large as the picture allows. They are laid out
// left to right with a least gap of 1.5 dots between their boxes and the
// space left over spread at random, at random heights (neighbours apart),
// so no two digits ever touch: the boxes are disjoint before the
// distortion, and the distortion (the whole picture waved as in dchest,
// x + a·sin(y·2π/p), y + a·cos(x·2π/p)) shifts each row by one amount, so
// they stay disjoint after it. Over them go one wavy line across the
// picture, as thick as OCR's usual clean-up (median, opening) would keep
// with the digits, and small noise dots, all in the ink's colour (noise in
// other shades could be dropped by colour) on a transparent background.
//
// The picture is a function of a per-process secret, the captcha id and its
// digits, so reloading one URL shows the same picture (no averaging of
// fresh noise across reloads).
//
// The look was chosen by measurement (docs/benchmarks.md, make bench):
// tesseract with the usual clean-up filters reads at most about 1 in 30,
// while a person reading the pictures at their real size (300 × 100) gets
// at least 29 of 30 right.
//
// It is cheap to draw: the distortion's shifts are computed once per row
// and column instead of two trigonometric calls per pixel, drawing writes
// the pixel slice directly, and the picture has two colours, written as a
// 1-bit PNG in stored (uncompressed) deflate blocks (about 4 KB at
// 300 × 100), where compressing would save a little for more CPU than the
// drawing. BenchmarkRender draws the sign-up page's picture; BenchmarkDchest
// is dchest's NewImage at the old 240 × 80 for comparison.
package captchaimg
