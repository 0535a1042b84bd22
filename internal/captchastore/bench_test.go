package captchastore_test

import (
	"io"
	"testing"

	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
)

// BenchmarkWriteImage renders the sign-up page's captcha picture,
// in parallel on all cores.
func BenchmarkWriteImage(b *testing.B) {
	st := store.NewMemory(store.MemoryOptions{})
	b.Cleanup(func() { st.Close() })
	c := captchastore.NewCaptchas(st, captchastore.Options{})
	id, err := c.New()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.WriteImage(io.Discard, id, captchastore.ImageWidth, captchastore.ImageHeight); err != nil {
				b.Fatal(err)
			}
		}
	})
}
