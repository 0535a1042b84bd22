package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/xmpp-portal/portal/handlers"
)

func TestWithoutHSTS(t *testing.T) {
	tests := []struct {
		name  string
		inner http.HandlerFunc
	}{
		{"WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=63072000")
			w.WriteHeader(204)
		}},
		{"Write", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=63072000")
			w.Write([]byte("x"))
		}},
		{"Flush", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=63072000")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through the wrapper: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			withoutHSTS(tc.inner).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if h := rec.Result().Header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("HSTS passed through: %q", h)
			}
			rec = httptest.NewRecorder()
			tc.inner.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Result().Header.Get("Strict-Transport-Security") == "" {
				t.Error("the inner handler sets no HSTS: the test proves nothing")
			}
		})
	}
}

// TestOnionHandlerMarks: the onion handler marks requests as onion, which
// also keeps Onion-Location off the onion side.
func TestOnionHandlerMarks(t *testing.T) {
	const addr = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"
	var onion bool
	a := &App{Handler: onionLocation(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		onion = handlers.IsOnion(r)
	}))}
	rec := httptest.NewRecorder()
	a.OnionHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !onion || rec.Header().Get("Onion-Location") != "" {
		t.Errorf("onion side: marked %v, Onion-Location %q", onion, rec.Header().Get("Onion-Location"))
	}
	rec = httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if onion || rec.Header().Get("Onion-Location") != "http://"+addr+"/" {
		t.Errorf("clearnet side: marked %v, Onion-Location %q", onion, rec.Header().Get("Onion-Location"))
	}
}
