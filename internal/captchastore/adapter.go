package captchastore

import (
	"context"
	"errors"

	"github.com/dchest/captcha"

	"github.com/xmpp-portal/portal/internal/store"
)

// Adapter implements dchest's captcha.Store on a store.Store, on the same
// keys as Captchas. Get(id, true) uses GetDel, so an answer is single use
// across instances; Get(id, false) reads without deleting (for rendering).
// Store errors are logged at warn level without the id (the id only at
// debug level) and behave as "not found". Prefer Captchas, whose methods
// return errors.
type Adapter struct {
	c *Captchas
}

var _ captcha.Store = (*Adapter)(nil)

// NewAdapter returns an Adapter on st.
func NewAdapter(st store.Store, opts Options) *Adapter {
	return &Adapter{c: NewCaptchas(st, opts)}
}

// Adapter returns a captcha.Store on the same store, keys and options as c.
func (c *Captchas) Adapter() *Adapter { return &Adapter{c: c} }

// Set implements captcha.Store: it keeps digits (values 0–9) for id with the TTL.
func (a *Adapter) Set(id string, digits []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), a.c.timeout)
	defer cancel()
	if _, err := decode(encode(digits)); err != nil || !validID(id) {
		a.logErr(ctx, "set", id, errCorrupt)
		return
	}
	if err := a.c.st.Set(ctx, a.c.key(id), encode(digits), a.c.ttl); err != nil {
		a.logErr(ctx, "set", id, err)
	}
}

// Get implements captcha.Store: it returns the digits of id (values 0–9),
// deleting them atomically when clear is true, or nil when there are none.
func (a *Adapter) Get(id string, clear bool) []byte {
	if !validID(id) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.c.timeout)
	defer cancel()
	var b []byte
	var err error
	op := "get"
	if clear {
		op = "getdel"
		b, err = a.c.st.GetDel(ctx, a.c.key(id))
	} else {
		b, err = a.c.st.Get(ctx, a.c.key(id))
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil {
		var d []byte
		if d, err = decode(b); err == nil {
			return d
		}
	}
	a.logErr(ctx, op, id, err)
	return nil
}

// Verify reports whether answer solves id, deleting the answer in any case.
// Store errors count as a wrong answer (they are logged); use
// Captchas.Verify to tell them apart.
func (a *Adapter) Verify(id, answer string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), a.c.timeout)
	defer cancel()
	ok, err := a.c.Verify(ctx, id, answer)
	if err != nil {
		a.logErr(ctx, "verify", id, err)
	}
	return ok
}

func (a *Adapter) logErr(ctx context.Context, op, id string, err error) {
	a.c.log.WarnContext(ctx, "captcha.store_error", "op", op, "err", err)
	a.c.log.DebugContext(ctx, "captcha.store_error.id", "op", op, "id", id)
}
