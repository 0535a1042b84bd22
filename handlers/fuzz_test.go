package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// kindProvisioner answers every Create with a refusal chosen by the name, so
// the fuzzer reaches every server-error page too (success for one in seven).
type kindProvisioner struct{}

func (kindProvisioner) Create(_ context.Context, local, _ string) error {
	k := xmpp.Kind(len(local) % 7)
	if k == xmpp.Unknown {
		return nil
	}
	return &xmpp.Error{Kind: k, Condition: "undefined-condition", Text: "fuzz"}
}
func (kindProvisioner) Close() error { return nil }

// checkAnswer fails on answers no input may produce: a 500 (a panic or a
// rendering failure), or a page that echoes markup from the request.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, input string) {
	t.Helper()
	if rec.Code == http.StatusInternalServerError || rec.Code == 0 {
		t.Fatalf("status %d for %q\n%s", rec.Code, input, rec.Body)
	}
	body := rec.Body.String()
	if strings.Contains(body, "<script") || strings.Contains(body, "<x-fuzz") {
		t.Fatalf("markup from the request reached the page for %q", input)
	}
	if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && rec.Code != http.StatusNotFound && !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("error answer %d with content type %q", rec.Code, ct)
	}
}

// FuzzSignupForm posts arbitrary bodies and content types to /register. In
// the body, {id} and {answer} are replaced by a valid captcha, so the fuzzer
// gets past the captcha to the username and password rules and the
// server-error mapping. No input may make the portal fail (500), echo markup,
// or create an account without the right captcha.
func FuzzSignupForm(f *testing.F) {
	prov := kindProvisioner{}
	h, caps := perfHandler(f, prov)
	ok := url.Values{"captcha_id": {"{id}"}, "captcha": {"{answer}"}, "username": {"alice"}, "password": {"correct horse battery"},
		"password2": {"correct horse battery"}, "lang": {"de"}}.Encode()
	for _, seed := range []struct{ ctype, body string }{
		{"application/x-www-form-urlencoded", ok},
		{"application/x-www-form-urlencoded", strings.Replace(ok, "alice", "%3Cx-fuzz%3E", 1)},
		{"application/x-www-form-urlencoded", strings.Replace(ok, "alice", "admin", 1)},
		{"application/x-www-form-urlencoded", "captcha_id={id}&captcha=&username=a"},
		{"application/x-www-form-urlencoded", "action=reload&username=%3Cscript%3E"},
		{"application/x-www-form-urlencoded", "captcha_id={id}&captcha={answer}&username=%FF%FE&password=x&password2=y"},
		{"application/x-www-form-urlencoded", "%zz&&==;;"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--x--\r\n"},
		{"text/plain", "hello"},
		{"", ""},
	} {
		f.Add(seed.ctype, seed.body)
	}
	f.Fuzz(func(t *testing.T, ctype, body string) {
		id, err := caps.New()
		if err != nil {
			t.Fatal(err)
		}
		answer, err := caps.Answer(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		body = strings.ReplaceAll(strings.ReplaceAll(body, "{id}", id), "{answer}", answer)
		req := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, body)
		if rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), `href="xmpp:`) {
			// Created: the captcha must have been the right one.
			form, _ := url.ParseQuery(body)
			if form.Get("captcha_id") != id || strings.TrimSpace(form.Get("captcha")) != answer {
				t.Fatalf("account created without the captcha for %q", body)
			}
		}
	})
}

// FuzzPageRequest sends GETs with arbitrary paths (captcha file names
// included), query strings (lang) and Accept-Language headers.
func FuzzPageRequest(f *testing.F) {
	h, caps := benchHandler(f)
	id, err := caps.New()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ path, query, accept string }{
		{"/", "", ""},
		{"/register", "lang=de", "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"},
		{"/captcha/" + id + ".png", "", ""},
		{"/captcha/" + id + ".wav", "lang=zz", ""},
		{"/captcha/../../etc/passwd", "", ""},
		{"/captcha/" + strings.Repeat("a", 100) + ".png", "", ""},
		{"/account", "lang=%3Cx-fuzz%3E", "de-DE;q=abc, ;;;,"},
		{"/assets/portal.css", "", ""},
		{"/nope", "lang=en&lang=de", "en;q=1.5"},
	} {
		f.Add(seed.path, seed.query, seed.accept)
	}
	f.Fuzz(func(t *testing.T, path, query, accept string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Accept-Language", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, path+"?"+query+" "+accept)
	})
}
