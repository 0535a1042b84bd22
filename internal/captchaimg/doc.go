// Package captchaimg draws the portal's captcha pictures.
//
// The recipe is github.com/dchest/captcha's NewImage: the same digit font,
// each digit skewed and shifted at random, a wavy strike-through line, a
// wave distortion of the whole picture and small noise circles, in a random
// dark colour on a transparent background. The picture is a function of a
// per-process secret, the captcha id and its digits, so reloading one URL
// shows the same picture (no averaging of fresh noise across reloads).
// Unlike dchest, the noise has the ink's colour (noise in other shades can
// be dropped by colour).
//
// It draws the same kind of picture for about a twentieth of the CPU
// (BenchmarkRender against BenchmarkDchest in the same run: 33–34 µs
// against 670–780 µs per 240 × 80 picture on the development VM): the
// distortion's shifts are computed once per row and column instead of two
// trigonometric calls per pixel, drawing writes the pixel slice directly,
// and the picture has two colours, written as a 1-bit PNG in stored
// (uncompressed) deflate blocks: 2.6 KB at 240 × 80, where compressing would
// save about a KB for more CPU than the drawing.
package captchaimg
