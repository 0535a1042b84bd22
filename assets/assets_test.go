package assets

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServeHashed(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"portal.css", "icon.svg"} {
		u := s.URL(name)
		if !strings.HasPrefix(u, "/assets/") || !strings.HasSuffix(u, "/"+name) {
			t.Fatalf("URL(%s) = %q", name, u)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || rec.Body.Len() == 0 {
			t.Errorf("%s: code %d headers %v", u, rec.Code, rec.Header())
		}
		if b := rec.Body.String(); strings.Contains(b, "http://") && name != "icon.svg" || strings.Contains(b, "https://") {
			t.Errorf("%s refers to another host", name)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/000000000000/portal.css", nil))
	if rec.Code != 404 {
		t.Errorf("stale hash served: %d", rec.Code)
	}
}
