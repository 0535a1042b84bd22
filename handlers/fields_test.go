package handlers_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestFieldErrorsAreTied: on every form page, a refused address or password
// field is marked invalid and names its refusal in aria-describedby, and the
// refusal's paragraph has that id (views/partials/fields.html).
func TestFieldErrorsAreTied(t *testing.T) {
	check := func(t *testing.T, page, body string, fields ...string) {
		t.Helper()
		for _, id := range fields {
			input := regexp.MustCompile(`<input [^>]*\bid="` + id + `"[^>]*>`).FindString(body)
			if input == "" {
				t.Errorf("%s: no input %s in:\n%s", page, id, body)
				continue
			}
			if !strings.Contains(input, `aria-invalid="true"`) || !regexp.MustCompile(`aria-describedby="[^"]*\b`+id+`-error\b`).MatchString(input) {
				t.Errorf("%s: input %s is not tied to its refusal: %s", page, id, input)
			}
			if !strings.Contains(body, `<p class="field-error" id="`+id+`-error">`) {
				t.Errorf("%s: no refusal paragraph %s-error", page, id)
			}
		}
	}

	e := newEnv(t)
	id, ans := e.newCaptcha(t)
	f := signupForm(id, ans, "admin", "correct horse battery")
	_, body := e.post(t, "/register", f, nil)
	check(t, "register, name", body, "username")
	id, ans = e.newCaptcha(t)
	f = signupForm(id, ans, "bob", "short")
	_, body = e.post(t, "/register", f, nil)
	check(t, "register, password", body, "password")

	m := newManageEnv(t)
	_, body = m.post(t, "/password", url.Values{"address": {"admin"}, "password": {"x"}, "lang": {"en"}}, nil)
	check(t, "password", body, "address", "current", "password")
	_, body = m.post(t, "/delete", url.Values{"address": {"bob@other.test"}, "lang": {"en"}}, nil)
	check(t, "delete, address", body, "address", "password")
	_, body = m.post(t, "/delete", url.Values{"address": {"bob"}, "confirm": {"alice"}, "password": {"x"}, "understand": {"yes"}, "lang": {"en"}}, nil)
	check(t, "delete, confirmation", body, "confirm")

	srv, _ := newMigrateEnv(t, 1<<20)
	resp, err := http.PostForm(srv.URL+"/export", url.Values{"address": {"bob@other.test"}, "lang": {"en"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(t, "export", string(b), "address")
	ct, mb := multipartBody(t, map[string]string{"address": "a@b@c", "lang": "en"}, []byte("x"))
	resp, err = http.Post(srv.URL+"/import", ct, bytes.NewReader(mb))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	check(t, "import", string(b), "address")
}
