package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The module's templates as prosody-modules ships them (Debian 12), used
// when the module is not installed; with it installed its own files are
// read, so a changed template fails the parser test.
const (
	webModuleDir        = "/usr/lib/prosody/modules/mod_register_web/templates"
	fallbackRegisterTpl = `<!DOCTYPE html>
<html>
  <body>
    <h1>XMPP Account Registration</h1>
    <form action="{path}" method="POST">
      <p>{notice}</p>
      <table>
        <tbody>
          <tr>
            <th>Username:</th>
            <td><input name="username" required>@{hostname}</td>
          </tr>
          {captcha}
        </tbody>
      </table>
    </form>
  </body>
</html>
`
	fallbackCaptchaTpl = `<tr>
  <th>What is {x} {op} {y}?</th><td>
    <input name="captcha_challenge" type="hidden" value="{challenge}">
    <input name="captcha_reply" pattern="[0-9]+" required type="number">
  </td></tr>
`
	fallbackSuccessTpl = `<h1>Registration succeeded!</h1>
    <p>Your account is</p>
    <pre>{jid}</pre>
`
)

func webTemplate(t *testing.T, name, fallback string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webModuleDir, name+".html"))
	if err != nil {
		return fallback
	}
	return string(b)
}

// apply is the module's template function: {key} replaced by values[key].
func apply(tpl string, values map[string]string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tpl, '{')
		j := strings.IndexByte(tpl[i+1:], '}')
		if i < 0 || j < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		b.WriteString(tpl[:i])
		if v, ok := values[tpl[i+1:i+1+j]]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(tpl[i : i+2+j])
		}
		tpl = tpl[i+2+j:]
	}
}

// fakeRegisterWeb behaves like mod_register_web with its fallback captcha
// on the VirtualHost host: 404 for another Host, the arithmetic question,
// HMAC-SHA1 of the answer as the challenge, "Username already taken".
type fakeRegisterWeb struct {
	t                          *testing.T
	host                       string
	secret                     []byte
	register, captcha, success string
	mu                         sync.Mutex
	users                      map[string]bool
	n                          int
}

func newFakeRegisterWeb(t *testing.T, host string) *fakeRegisterWeb {
	return &fakeRegisterWeb{t: t, host: host, secret: []byte("s3cret"), users: map[string]bool{},
		register: webTemplate(t, "register", fallbackRegisterTpl),
		captcha:  webTemplate(t, "simplecaptcha", fallbackCaptchaTpl),
		success:  webTemplate(t, "success", fallbackSuccessTpl)}
}

func (f *fakeRegisterWeb) mac(answer string) string {
	m := hmac.New(sha1.New, f.secret)
	m.Write([]byte(answer))
	return hex.EncodeToString(m.Sum(nil))
}

func (f *fakeRegisterWeb) page(notice string) string {
	f.mu.Lock()
	f.n++
	x, y, op := 1+f.n%9, 1+(f.n+4)%9, "+"
	if f.n%2 == 0 {
		op = "-"
		if x < y {
			x, y = y, x
		}
	}
	f.mu.Unlock()
	ans := x + y
	if op == "-" {
		ans = x - y
	}
	c := apply(f.captcha, map[string]string{"x": strconv.Itoa(x), "y": strconv.Itoa(y), "op": op, "challenge": f.mac(strconv.Itoa(ans))})
	return apply(f.register, map[string]string{"path": "/register_web", "hostname": f.host, "notice": notice, "captcha": c})
}

func (f *fakeRegisterWeb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Host != f.host {
		http.Error(w, "Unknown host: "+r.Host, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodGet {
		w.Write([]byte(f.page("")))
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.mac(r.PostForm.Get("captcha_reply")) != r.PostForm.Get("captcha_challenge") {
		w.Write([]byte(f.page("Captcha verification failed")))
		return
	}
	user := strings.ToLower(r.PostForm.Get("username"))
	if r.PostForm.Get("password") != r.PostForm.Get("confirm_password") {
		w.Write([]byte(f.page("Passwords don't match")))
		return
	}
	f.mu.Lock()
	taken := f.users[user]
	f.users[user] = true
	f.mu.Unlock()
	if taken {
		w.Write([]byte(f.page("Username already taken")))
		return
	}
	w.Write([]byte(apply(f.success, map[string]string{"jid": user + "@" + f.host})))
}

func TestWebFormAgainstFake(t *testing.T) {
	fake := newFakeRegisterWeb(t, "example.test")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &WebForm{URL: srv.URL + "/register_web", Host: "example.test", Client: srv.Client()}
	for i := 0; i < 20; i++ { // both operators, every answer path
		if r := w.Do(ctx, "user"+strconv.Itoa(i), "pw"); r.Outcome != Created {
			t.Fatalf("sign-up %d: %s %d %v\n%s", i, r.Outcome, r.Status, r.Err, r.Body)
		}
	}
	r := w.Do(ctx, "user3", "pw")
	if r.Outcome != Refused || r.Err == nil || !strings.Contains(r.Err.Error(), "Username already taken") {
		t.Errorf("a taken name: %s %v, want refused with the notice", r.Outcome, r.Err)
	}
	c, _, err := w.Form(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, body, err := w.Post(ctx, c, strconv.Itoa(c.Answer()+1), "wrongcaptcha", "pw")
	if err != nil || st != http.StatusOK || WebFormCreated(body, "wrongcaptcha@example.test") || WebFormNotice(body) != "Captcha verification failed" {
		t.Errorf("a wrong answer: %d %v notice %q", st, err, WebFormNotice(body))
	}
	// Without the VirtualHost as Host, Prosody answers 404.
	bad := &WebForm{URL: w.URL, Host: "127.0.0.1", Client: srv.Client()}
	if r := bad.Do(ctx, "nohost", "pw"); r.Outcome == Created || r.FormStatus != http.StatusNotFound {
		t.Errorf("wrong Host: %s, form status %d", r.Outcome, r.FormStatus)
	}
}

func TestParseWebFormCaptcha(t *testing.T) {
	for _, tc := range []struct {
		page string
		want WebFormCaptcha
		ans  int
	}{
		{`<th>What is 4 - 1?</th><td><input name="captcha_challenge" type="hidden" value="ab12"><input name="captcha_reply">`, WebFormCaptcha{4, 1, "-", "ab12"}, 3},
		{`<th>What is 2 + 9?</th><td>
    <input name="captcha_challenge" type="hidden" value="ff">`, WebFormCaptcha{2, 9, "+", "ff"}, 11},
	} {
		c, err := ParseWebFormCaptcha([]byte(tc.page))
		if err != nil || c != tc.want || c.Answer() != tc.ans {
			t.Errorf("%q: %+v (answer %d) %v, want %+v (%d)", tc.page, c, c.Answer(), err, tc.want, tc.ans)
		}
	}
	for _, page := range []string{"", `What is 4 - 1?`, `<input name="captcha_challenge" value="ab">`, `What is 4 * 1? <input name="captcha_challenge" value="ab">`} {
		if _, err := ParseWebFormCaptcha([]byte(page)); err == nil {
			t.Errorf("%q parsed", page)
		}
	}
}

func TestWebFormMarkdown(t *testing.T) {
	r := &Report{SectionLoads: []string{"sign-ups 0.50", "web form 3.10"}, WebFormNote: "Same Prosody.", WebForm: []WebFormRow{{Clients: 4,
		Portal: Throughput{Rate: 210, P50: 18 * time.Millisecond}, Form: Throughput{Rate: 200}, Raw: Throughput{Rate: 220},
		ServerCPUPortal: 4100 * time.Microsecond, ServerCPUForm: 4300 * time.Microsecond, ServerCPURaw: 4000 * time.Microsecond,
		GoCPUPortal: 900 * time.Microsecond, GoCPUForm: 400 * time.Microsecond, Anomalies: "form: 1 of 900 failed"}}}
	md := r.Markdown("")
	for _, want := range []string{"* 1-minute load average as each section started: sign-ups 0.50, web form 3.10.\n", "### Against Prosody's own web form", "Same Prosody. Goal: ≥ 1.0× Prosody's form.",
		"| 4 | 210.0 | 200.0 | **1.050×** | 220.0 | 18 ms / – | – / – | 4100 µs / 4300 µs / 4000 µs | 900 µs / 400 µs |",
		"* 4 clients: form: 1 of 900 failed", "## 1. Sign-up throughput\n\nAccounts per second", "Not measured in this run."} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if md := (&Report{}).Markdown(""); strings.Contains(md, "own web form") {
		t.Error("a report without the comparison has its section")
	}
}
