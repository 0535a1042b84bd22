// Package captchaimg draws the portal's captcha pictures.
//
// The digits are github.com/dchest/captcha's font (11 × 18 cells), each
// cell drawn as a disc around its exact centre so that strokes are solid
// and 3 to 4 pixels wide at the page's size, and each digit turned (by 0.15
// to 0.35 rad either way: none stands upright, as OCR prefers), slanted,
// widened or narrowed and sized at random (within limits people read
// easily), as large as the picture allows. They are laid out left to right
// with a least gap of 1.5 dots between their boxes (and two pixels more for
// rounding) and the space left over spread at random, at random heights
// (neighbours apart), so no two digits ever touch: the boxes are disjoint
// before the distortion, and the distortion (the whole picture waved as in
// dchest, x + a·sin(y·2π/p), y + a·cos(x·2π/p)) shifts each row by one
// amount, so they stay disjoint after it. Over them go two wavy lines
// across the picture and small noise dots, all in the ink's colour (noise
// in other shades could be dropped by colour) on a transparent background.
//
// The lines are what keeps OCR out, and what could cost people, so each has
// three rules:
//   - Over a digit it is as thin as the strokes (1 dot), so that no
//     clean-up removes the one and keeps the other: a morphological opening
//     or a median that erases it erases the digits too. (Strokes drawn as
//     dchest draws them, rounded to 5-pixel circles, were just thick enough
//     to survive the 5 × 5 opening that erased 3-pixel lines; tesseract
//     then read about 1 in 32.)
//   - Over a digit it is dashed (2 dots on, 1 off), so people tell it from
//     a stroke by its gaps. Solid lines as thin as the strokes were misread
//     where they lay along a 7's bar or through a 0 (26 and 28 of 30).
//   - It crosses strokes instead of running along them: of up to 40 waves,
//     the first that lies on the digits' ink for at most 3 dots in a row is
//     kept.
//
// Between the digits the line is thick (3 dots) and solid, where it ties the
// digits into one shape. The readings by eye and by tesseract are in
// internal/bench/findings.md.
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
