// Package captchaimg draws the portal's captcha pictures.
//
// The recipe is github.com/dchest/captcha's NewImage: the same digit font,
// each digit skewed and shifted at random, a wavy strike-through line, a
// wave distortion of the whole picture and small noise circles, in a random
// dark colour on a transparent background; the picture is a function of a
// per-process secret, the captcha id and its digits, so reloading one URL
// shows the same picture (no averaging of fresh noise across reloads).
//
// It draws the same kind of picture for a fraction of the CPU: the
// distortion uses per-row and per-column tables instead of two
// trigonometric calls per pixel, drawing writes the pixel slice directly,
// and the picture has four colours, so the PNG holds 2 bits per pixel and
// compresses in a few microseconds (BenchmarkRender against
// BenchmarkDchest in the same run; docs/benchmarks.md).
package captchaimg
