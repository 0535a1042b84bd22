package handlers

import (
	"bytes"
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/qrsvg"
	"github.com/xmpp-portal/portal/internal/store"
)

func newCacheTestHandler(t *testing.T) *Handler {
	t.Helper()
	st := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	d, _ := UnitDeps(t)
	d.Log = slog.New(slog.DiscardHandler)
	d.Captchas = UnitCaptchas(st)
	d.Site.Onion = strings.Repeat("a", 56) + ".onion"
	return New(d)
}

// serveWith runs fn as the handler of one GET of target and returns the
// response.
func serveWith(t *testing.T, h *Handler, target string, onion bool, accept string, fn func(c echo.Context) error) *httptest.ResponseRecorder {
	t.Helper()
	return serveAs(t, http.MethodGet, target, onion, accept, fn)
}

func serveAs(t *testing.T, method, target string, onion bool, accept string, fn func(c echo.Context) error) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	req := httptest.NewRequest(method, target, nil)
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	if onion {
		req = req.WithContext(context.WithValue(req.Context(), onionKey{}, true))
	}
	rec := httptest.NewRecorder()
	c := e.NewContext(req, rec)
	c.SetPath(req.URL.Path)
	if err := fn(c); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestPageCacheMatchesRender: every cached page, in every language, on both
// listeners and from a cold and a warm cache, is byte for byte what a fresh
// rendering of the same page gives, headers included.
func TestPageCacheMatchesRender(t *testing.T) {
	h := newCacheTestHandler(t)
	type variant struct {
		target, accept string
		onion          bool
	}
	var variants []variant
	for _, onion := range []bool{false, true} {
		for _, lang := range h.d.I18n.Languages() {
			variants = append(variants, variant{"?lang=" + lang, "", onion}, variant{"", lang, onion})
		}
		variants = append(variants, variant{"", "", onion})
	}
	ids := []string{"a1B2c3D4e5F6g7H8i9J0", "zzzzzzzzzzzzzzzzzzzz"}
	for round := 0; round < 2; round++ { // cold cache, then warm
		for _, v := range variants {
			for _, page := range []string{"home", "account"} {
				path := "/"
				if page != "home" {
					path = "/" + page
				}
				want := serveWith(t, h, path+v.target, v.onion, v.accept, func(c echo.Context) error { return h.render(c, page, nil) })
				got := serveWith(t, h, path+v.target, v.onion, v.accept, func(c echo.Context) error {
					return h.renderCached(c, http.StatusOK, page, nil)
				})
				compareResponses(t, page+" "+path+v.target+" "+v.accept, want, got)
			}
			for _, local := range []string{"alice", "a.b-c_d9", "zoë", "a+b", "qrcodeplaceholder0x", "localpartplaceholder0"} {
				address := local + "@example.test"
				qr, err := qrsvg.SVG("xmpp:"+address, 200, address)
				if err != nil {
					t.Fatal(err)
				}
				for _, contact := range []registeredPage{{}, {FirstContact: "op@example.test", ContactAdded: true}, {FirstContact: "op@example.test"}} {
					p := registeredPage{Address: address, URI: template.URL("xmpp:" + address), QR: qr,
						FirstContact: contact.FirstContact, ContactAdded: contact.ContactAdded}
					post := func(fn func(c echo.Context) error) *httptest.ResponseRecorder {
						return serveAs(t, http.MethodPost, "/register"+v.target, v.onion, v.accept, fn)
					}
					want := post(func(c echo.Context) error { return h.render(c, "registered", p) })
					got := post(func(c echo.Context) error { return h.renderRegistered(c, local, p) })
					compareResponses(t, "registered "+local+" "+v.target+" "+v.accept, want, got)
					// Reached by its link (results.go): the language links
					// carry the link's token, each visitor's own, and the QR
					// code is a PNG from that link.
					for _, token := range []string{"AbC-_09xyz", "resulttokenplaceholder0Z", "tok"} {
						p := p
						p.QR, p.QRImage = "", "/welcome/qr.png?t="+token
						linked := func(fn func(c echo.Context) error) *httptest.ResponseRecorder {
							return serveWith(t, h, "/welcome"+v.target, v.onion, v.accept, func(c echo.Context) error {
								c.Set(resultTokenKey, token)
								return fn(c)
							})
						}
						want := linked(func(c echo.Context) error { return h.render(c, "registered", p) })
						got := linked(func(c echo.Context) error { return h.renderRegistered(c, local, p) })
						compareResponses(t, "registered by link "+local+" "+token+" "+v.target+" "+v.accept, want, got)
						if !strings.Contains(got.Body.String(), "t="+token) {
							t.Fatalf("registered by link %s: the language links lack the token:\n%s", token, got.Body)
						}
					}
				}
			}
			for i, id := range append(ids, ids...) {
				f := registerPage{CaptchaID: id, MinPassword: h.d.MinPassword, Contact: true}
				if i >= len(ids) {
					// The form with "Create it in my app" and a first contact.
					f.Invites, f.FirstContact = true, "op@example.test"
				}
				want := serveWith(t, h, "/register"+v.target, v.onion, v.accept, func(c echo.Context) error {
					return h.renderStatus(c, http.StatusOK, "register", f)
				})
				got := serveWith(t, h, "/register"+v.target, v.onion, v.accept, func(c echo.Context) error {
					return h.renderWithCaptcha(c, http.StatusOK, "register", f)
				})
				compareResponses(t, "register "+v.target+" "+v.accept, want, got)
				if !bytes.Contains(got.Body.Bytes(), []byte(`value="`+id+`"`)) || bytes.Contains(got.Body.Bytes(), []byte(captchaPlaceholder)) {
					t.Fatalf("register %s: captcha id not put in", v.target)
				}
			}
		}
	}
}

func compareResponses(t *testing.T, name string, want, got *httptest.ResponseRecorder) {
	t.Helper()
	if got.Code != want.Code || got.Body.String() != want.Body.String() {
		t.Fatalf("%s: cached page differs from a fresh rendering\n--- fresh (%d)\n%s\n--- cached (%d)\n%s", name, want.Code, want.Body, got.Code, got.Body)
	}
	for _, k := range []string{"Content-Type", "Content-Language", "Cache-Control"} {
		if got.Header().Get(k) != want.Header().Get(k) {
			t.Fatalf("%s: header %s = %q, fresh rendering has %q", name, k, got.Header().Get(k), want.Header().Get(k))
		}
	}
}

// TestPageCacheFallsBack: odd captcha ids and filled-in forms are never
// served from the cache.
func TestPageCacheFallsBack(t *testing.T) {
	h := newCacheTestHandler(t)
	for _, id := range []string{"", "id-with-dash", "x\"y", "CaptchaIdPlaceholder0x"} {
		f := registerPage{CaptchaID: id, MinPassword: 10}
		want := serveWith(t, h, "/register", false, "", func(c echo.Context) error { return h.renderStatus(c, http.StatusOK, "register", f) })
		got := serveWith(t, h, "/register", false, "", func(c echo.Context) error { return h.renderWithCaptcha(c, http.StatusOK, "register", f) })
		compareResponses(t, "id "+id, want, got)
	}
	// A form with a typed username or an error is rendered, not cached:
	// here the form of "sign up again with the same name".
	rec := httptest.NewRecorder()
	e := echo.New()
	h.Register(e)
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/register?username=carol", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `value="carol"`) {
		t.Fatalf("the form keeps the username: %d\n%s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/register", nil))
	if strings.Contains(rec.Body.String(), "carol") {
		t.Fatal("a typed username leaked into the cached form")
	}
}

// TestOnionAddressOnlyWhenPublished: the home page (cached) and its footer
// show the onion address only while Deps.OnionPublished says it answers,
// request by request, as the Onion-Location header does.
func TestOnionAddressOnlyWhenPublished(t *testing.T) {
	st := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	d, _ := UnitDeps(t)
	d.Log = slog.New(slog.DiscardHandler)
	d.Captchas = UnitCaptchas(st)
	addr := strings.Repeat("b", 56) + ".onion"
	d.Site.Onion = addr
	published := false
	d.OnionPublished = func() bool { return published }
	h := New(d)
	for _, step := range []struct {
		published bool
		want      bool
	}{{false, false}, {true, true}, {false, false}, {true, true}} {
		published = step.published
		for _, page := range []string{"home", "account"} {
			path := "/"
			if page != "home" {
				path = "/" + page
			}
			for range 2 { // cold and warm cache
				rec := serveWith(t, h, path+"?lang=en", false, "", func(c echo.Context) error { return h.renderCached(c, http.StatusOK, page, nil) })
				if got := strings.Contains(rec.Body.String(), addr); got != step.want {
					t.Fatalf("%s, published %v: address shown %v, want %v", page, step.published, got, step.want)
				}
			}
		}
	}
}
