package captchaimg

import (
	"image/png"
	"io"
	"sync"
	"testing"

	"github.com/dchest/captcha"
)

// The sign-up page's picture: Width × Height pixels, six digits.
// BenchmarkDchest is the baseline: dchest/captcha's NewImage at its
// standard 240 × 80, encoded with the same pooled, fast PNG encoder the
// portal used before this package.
var benchDigits = []byte{3, 1, 4, 1, 5, 9}

const benchID = "AbCdEfGhIjKlMnOpQrSt"

func BenchmarkRender(b *testing.B) {
	r := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := r.WritePNG(io.Discard, benchID, benchDigits, Width, Height); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDchest(b *testing.B) {
	enc := png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngBuffers{}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := enc.Encode(io.Discard, captcha.NewImage(benchID, benchDigits, 240, 80).Paletted); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type pngBuffers struct{ p sync.Pool }

func (b *pngBuffers) Get() *png.EncoderBuffer {
	if v, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return v
	}
	return nil
}

func (b *pngBuffers) Put(v *png.EncoderBuffer) { b.p.Put(v) }
