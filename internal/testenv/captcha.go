package testenv

import (
	"context"
	"fmt"

	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
)

// CaptchaAnswer returns a function that reads the answer of a captcha from
// st, the store the test owns and the portal keeps its captchas in (with
// captchastore's default prefix): tests and benchmarks solve captchas this
// way, as no production code reveals an answer. The answer is the stored
// ASCII digits (the format captchastore documents); reading it does not
// consume the captcha.
func CaptchaAnswer(st store.Store) func(ctx context.Context, id string) (string, error) {
	return func(ctx context.Context, id string) (string, error) {
		b, err := st.Get(ctx, captchastore.DefaultPrefix+id)
		if err != nil {
			return "", fmt.Errorf("testenv: captcha %q: %w", id, err)
		}
		return string(b), nil
	}
}
