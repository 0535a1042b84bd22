package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xmpp-portal/portal/handlers"
	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp/signup"
)

// benchHandler is the portal's handler as app.New wires it, with a memory
// store, a provisioner that accepts everything, and an info-level text log
// written to io.Discard (so formatting the request log is measured too).
func benchHandler(b testing.TB) (http.Handler, *benchCaptchas) {
	return perfHandler(b, acceptAll{})
}

// benchCaptchas are the handler's captchas and the store they are kept in,
// from which a benchmark reads the answers (testenv.CaptchaAnswer).
type benchCaptchas struct {
	*captchastore.Captchas
	Answer func(ctx context.Context, id string) (string, error)
}

// perfHandler is benchHandler with the given provisioner.
func perfHandler(b testing.TB, prov signup.Creator) (http.Handler, *benchCaptchas) {
	b.Helper()
	st, err := store.Open("memory", "", "bench:", store.WithMaxKeys(10_000_000))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	caps := handlers.UnitCaptchas(st)
	d, _ := handlers.UnitDeps(b)
	d.Log = handlers.TextLog(io.Discard, slog.LevelInfo)
	d.Captchas, d.Signup, d.BodyLimit = caps, prov, 64<<10
	h := handlers.New(d)
	return h.HTTPHandler(), &benchCaptchas{Captchas: caps, Answer: testenv.CaptchaAnswer(st)}
}

type acceptAll struct{}

func (acceptAll) Create(context.Context, string, string) error { return nil }
func (acceptAll) Close() error                                 { return nil }

// serve runs one request through h and fails the benchmark on a status
// other than want.
func serve(b *testing.B, h http.Handler, req *http.Request, want int) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d\n%s", req.Method, req.URL, rec.Code, want, rec.Body.String())
	}
	return rec
}

// BenchmarkPages measures the CPU cost of the pages a newcomer loads, in
// parallel on all cores, without the network. The end-to-end figures
// against Prosody are in docs/benchmarks.md (make bench).
func BenchmarkPages(b *testing.B) {
	h, caps := benchHandler(b)
	for _, path := range []string{"/", "/register", "/account"} {
		b.Run(strings.TrimPrefix(path, "/")+"_page", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", path, nil)
					req.Header.Set("Accept-Language", "en-US,en;q=0.9")
					serve(b, h, req, 200)
				}
			})
		})
	}
	b.Run("captcha_png", func(b *testing.B) {
		id, err := caps.New()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, h, httptest.NewRequest("GET", "/captcha/"+id+".png", nil), 200)
			}
		})
	})
}

// BenchmarkSignupPost measures a successful sign-up POST (captcha check,
// username and password rules, success page with QR code) with a
// provisioner that accepts at once.
func BenchmarkSignupPost(b *testing.B) {
	h, caps := benchHandler(b)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := caps.New()
			if err != nil {
				b.Fatal(err)
			}
			ans, err := caps.Answer(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			user := "bench" + strconv.FormatInt(n.Add(1), 10)
			form := url.Values{"captcha_id": {id}, "captcha": {ans}, "username": {user},
				"password": {"violet mountain lantern"}, "password2": {"violet mountain lantern"}}
			req := httptest.NewRequest("POST", "/register", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			serve(b, h, req, 200)
		}
	})
}
