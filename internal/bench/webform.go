package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WebForm signs up through Prosody's own web registration page,
// mod_register_web from prosody-modules, with its built-in captcha (no
// captcha_options set): GET the form, solve its arithmetic question, POST
// username, password, confirm_password and the captcha fields, and check
// the success page. It is the baseline of the sign-up comparison against
// Prosody's own form.
//
// How the module (prosody-modules 0.0~hg20230223, Debian 12) works, from
// its source (/usr/lib/prosody/modules/mod_register_web/): the question is
// "What is {x} {op} {y}?" with x ≠ y in 1..9 and op + or − (never
// negative); the hidden field captcha_challenge is HMAC-SHA1(secret, the
// answer) in hex, with a secret drawn at module load, and the POST is
// accepted if HMAC-SHA1(secret, captcha_reply) equals captcha_challenge. So
// the check is stateless: nothing is stored per form and nothing is
// consumed (a solved challenge could be replayed; the driver still loads a
// fresh form per sign-up, as a browser would). The account is created
// in-process with usermanager.create_user after nodeprep, user_exists and
// the user-registering event (mod_register_limits' allowlist: the
// benchmark posts from 127.0.0.1, the allowlisted portal address).
//
// Prosody's HTTP server routes by the Host header: without a VirtualHost
// name there (or http_default_host) it answers 404 "Unknown host", so every
// request carries Host.
type WebForm struct {
	URL    string // http://127.0.0.1:port/register_web
	Host   string // the VirtualHost, sent as the Host header
	Client *http.Client
}

// WebFormCaptcha is the arithmetic question of one form.
type WebFormCaptcha struct {
	X, Y      int
	Op        string // "+" or "-"
	Challenge string // the hidden captcha_challenge field
}

// Answer solves the question.
func (c WebFormCaptcha) Answer() int {
	if c.Op == "-" {
		return c.X - c.Y
	}
	return c.X + c.Y
}

// The question and the challenge as templates/simplecaptcha.html renders
// them (the values are digits, an operator and hex; nothing is escaped).
var (
	webQuestionRe  = regexp.MustCompile(`What is (\d+) ([+-]) (\d+)\?`)
	webChallengeRe = regexp.MustCompile(`name="captcha_challenge"[^>]*value="([^"]*)"`)
	webNoticeRe    = regexp.MustCompile(`(?s)<form[^>]*>\s*<p>(.*?)</p>`)
)

// ParseWebFormCaptcha reads the captcha of a mod_register_web form page.
func ParseWebFormCaptcha(page []byte) (WebFormCaptcha, error) {
	q := webQuestionRe.FindSubmatch(page)
	if q == nil {
		return WebFormCaptcha{}, errors.New("register_web: no arithmetic question in the form (captcha_options set?)")
	}
	ch := webChallengeRe.FindSubmatch(page)
	if ch == nil || len(ch[1]) == 0 {
		return WebFormCaptcha{}, errors.New("register_web: no captcha_challenge in the form")
	}
	x, _ := strconv.Atoi(string(q[1]))
	y, _ := strconv.Atoi(string(q[3]))
	return WebFormCaptcha{X: x, Y: y, Op: string(q[2]), Challenge: html.UnescapeString(string(ch[1]))}, nil
}

// WebFormCreated reports whether page is mod_register_web's success page
// for address (templates/success.html: the address in a <pre>).
func WebFormCreated(page []byte, address string) bool {
	return bytes.Contains(page, []byte("<pre>"+address+"</pre>"))
}

// WebFormNotice returns the message of a form shown again (the reason a
// sign-up was refused: "Username already taken", "Captcha verification
// failed", ...), or "".
func WebFormNotice(page []byte) string {
	if m := webNoticeRe.FindSubmatch(page); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return ""
}

func (w *WebForm) do(ctx context.Context, method string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.URL, body)
	if err != nil {
		return 0, nil, err
	}
	req.Host = w.Host
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := w.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Form loads a fresh form and returns its captcha.
func (w *WebForm) Form(ctx context.Context) (WebFormCaptcha, int, error) {
	st, body, err := w.do(ctx, http.MethodGet, nil)
	if err != nil {
		return WebFormCaptcha{}, st, err
	}
	if st != http.StatusOK {
		return WebFormCaptcha{}, st, fmt.Errorf("GET register_web: status %d", st)
	}
	c, err := ParseWebFormCaptcha(body)
	return c, st, err
}

// Post submits the form with the captcha reply answer.
func (w *WebForm) Post(ctx context.Context, c WebFormCaptcha, answer, user, password string) (int, []byte, error) {
	form := url.Values{"username": {user}, "password": {password}, "confirm_password": {password},
		"captcha_challenge": {c.Challenge}, "captcha_reply": {answer}}
	return w.do(ctx, http.MethodPost, strings.NewReader(form.Encode()))
}

// Do signs user up with password through the page: a fresh form, its
// question solved, the POST. Created means the success page named
// user@Host; a form shown again is Refused (mod_register_web answers 200
// either way; its notice is in Result.Err).
func (w *WebForm) Do(ctx context.Context, user, password string) Result {
	var r Result
	t0 := time.Now()
	c, st, err := w.Form(ctx)
	r.Form, r.FormStatus = time.Since(t0), st
	if err != nil {
		r.Err = err
		r.Outcome = Failed
		if st >= 500 {
			r.Outcome = ServerError
		}
		return r
	}
	t1 := time.Now()
	r.Status, r.Body, r.Err = w.Post(ctx, c, strconv.Itoa(c.Answer()), user, password)
	r.Post = time.Since(t1)
	switch {
	case r.Err != nil && r.Status == 0:
		r.Outcome = Failed
	case r.Status == http.StatusOK && WebFormCreated(r.Body, user+"@"+w.Host):
		r.Outcome = Created
	case r.Status >= 500:
		r.Outcome = ServerError
	default:
		r.Outcome = Refused
		if n := WebFormNotice(r.Body); n != "" && r.Err == nil {
			r.Err = errors.New("register_web: " + n)
		}
	}
	return r
}
