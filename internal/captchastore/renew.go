package captchastore

import (
	"context"
	"fmt"

	"github.com/dchest/captcha"
)

// Renew gives captcha id new digits: a new picture and sound under the same
// id, valid for the TTL from now. The sign-up form keeps the id in a hidden
// field while its picture, in a frame of its own, asks for new digits, so
// nothing typed into the form is lost.
//
// An id that has expired or was verified is made again: that is a new
// captcha, which the caller pays for like one from New (each call puts at
// most one key in the store). An id New cannot have made is ErrNotFound.
// The error wraps store.ErrUnavailable (or is store.ErrFull) when the store
// fails.
func (c *Captchas) Renew(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	if err := c.st.Set(ctx, c.key(id), encode(captcha.RandomDigits(c.length)), c.ttl); err != nil {
		return fmt.Errorf("captchastore: renew: %w", err)
	}
	return nil
}

// ValidID reports whether id has the form of an id New makes (IDLength
// letters and digits): what a request may name.
func ValidID(id string) bool { return validID(id) }
