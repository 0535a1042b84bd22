package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/i18n"
)

// Outcome is what the portal told a user about one sign-up.
type Outcome int

const (
	// Failed: no HTTP answer (connection refused or reset, client timeout).
	Failed Outcome = iota
	// Created: the success page naming the new address.
	Created
	// Refused: the form again, with a 4xx status (captcha, rules, name taken…).
	Refused
	// Unavailable: a 503 page (server unreachable, store unavailable).
	Unavailable
	// ServerError: any other 5xx answer.
	ServerError
	// Unknown: the portal said it cannot tell whether the account was
	// created (the server stopped answering after the request was sent).
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Refused:
		return "refused"
	case Unavailable:
		return "unavailable"
	case ServerError:
		return "server_error"
	case Unknown:
		return "unknown"
	}
	return "failed"
}

// Signup walks the portal's sign-up flow over HTTP: GET /register for a
// fresh form, the captcha answer from the store the caller owns (Answer), then
// the POST.
type Signup struct {
	Base   string       // portal base URL, e.g. http://127.0.0.1:8080
	Client *http.Client // see NewClient
	Domain string       // XMPP domain, to recognise the success page
	// Answer returns the answer of captcha id without consuming it, read
	// from the portal's store (testenv.CaptchaAnswer).
	Answer func(ctx context.Context, id string) (string, error)
	// UnknownText, if set, is the (English) message of a 503 page saying
	// that the outcome is unknown; such answers are Unknown, not
	// Unavailable. See UnknownOutcomeText.
	UnknownText string
}

// Result is one sign-up attempt as the user saw it.
type Result struct {
	Outcome    Outcome
	Status     int           // status of the POST (0 if it got no answer)
	Location   string        // where the POST's answer redirects (a result page), "" for none
	FormStatus int           // status of the GET of the form
	Form, Post time.Duration // durations of the two requests
	Body       []byte        // the POST's answer
	Err        error
}

// UnknownOutcomeText returns the English text of the portal's page for a
// sign-up whose outcome is unknown, for Signup.UnknownText.
func UnknownOutcomeText() (string, error) {
	b, err := i18n.Load()
	if err != nil {
		return "", err
	}
	return b.T("en", i18n.K("register.err.unanswered")), nil
}

var captchaIDRe = regexp.MustCompile(`name="captcha_id" value="([A-Za-z0-9]+)"`)

// Form loads a fresh sign-up form and returns its captcha id.
func (s *Signup) Form(ctx context.Context) (id string, status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/register?lang=en", nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode, fmt.Errorf("GET /register: status %d", resp.StatusCode)
	}
	m := captchaIDRe.FindSubmatch(body)
	if m == nil {
		return "", resp.StatusCode, errors.New("GET /register: no captcha id in the form")
	}
	return string(m[1]), resp.StatusCode, nil
}

// Post submits the sign-up form.
func (s *Signup) Post(ctx context.Context, id, answer, user, password string) (int, []byte, error) {
	status, _, body, err := s.post(ctx, id, answer, user, password)
	return status, body, err
}

// post is Post with the answer's Location (of a redirect).
func (s *Signup) post(ctx context.Context, id, answer, user, password string) (int, string, []byte, error) {
	form := url.Values{"lang": {"en"}, "captcha_id": {id}, "captcha": {answer}, "username": {user},
		"password": {password}, "password2": {password}, "action": {"register"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Base+"/register", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), body, err
}

// Do signs user up with password. When wrongCaptcha is true the answer is
// deliberately wrong (the attempt must be refused).
func (s *Signup) Do(ctx context.Context, user, password string, wrongCaptcha bool) Result {
	var r Result
	t0 := time.Now()
	id, st, err := s.Form(ctx)
	r.Form, r.FormStatus = time.Since(t0), st
	if err != nil {
		r.Err = err
		r.Outcome = classify(st, nil, "")
		if st == 0 {
			r.Outcome = Failed
		}
		return r
	}
	answer, err := s.Answer(ctx, id)
	if err != nil {
		r.Err = fmt.Errorf("peek captcha: %w", err)
		return r
	}
	if wrongCaptcha {
		answer = wrong(answer)
	}
	t1 := time.Now()
	r.Status, r.Location, r.Body, r.Err = s.post(ctx, id, answer, user, password)
	r.Post = time.Since(t1)
	if r.Err != nil && r.Status == 0 {
		r.Outcome = Failed
		return r
	}
	r.Outcome = classify(r.Status, r.Body, user+"@"+s.Domain)
	if r.Status == http.StatusSeeOther {
		// The portal answers a sign-up it carried out, or whose outcome
		// is unknown, with a redirect to its result page (Post/Redirect/
		// Get); the client here does not follow it.
		switch {
		case strings.HasPrefix(r.Location, "/welcome?"):
			r.Outcome = Created
		case strings.HasPrefix(r.Location, "/register/unknown?"):
			r.Outcome = Unknown
		}
	}
	if r.Outcome == Unavailable && s.UnknownText != "" && bytes.Contains(r.Body, []byte(s.UnknownText)) {
		r.Outcome = Unknown
	}
	return r
}

// classify maps an answer to what the user was told.
func classify(status int, body []byte, address string) Outcome {
	switch {
	case status == http.StatusOK && address != "" && bytes.Contains(body, []byte(`href="xmpp:`+address+`"`)):
		return Created
	case status == http.StatusServiceUnavailable:
		return Unavailable
	case status >= 500:
		return ServerError
	case status >= 400 || status == http.StatusOK:
		// 200 without the address is the form again (e.g. "new picture").
		return Refused
	}
	return Failed
}

// wrong returns an answer that differs from a in every digit.
func wrong(a string) string {
	b := []byte(a)
	for i, c := range b {
		if c >= '0' && c <= '9' {
			b[i] = '0' + (c-'0'+1)%10
		}
	}
	if len(b) == 0 {
		return "0"
	}
	return string(b)
}
