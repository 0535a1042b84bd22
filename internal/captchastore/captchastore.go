package captchastore

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dchest/captcha"

	"github.com/xmpp-portal/portal/internal/captchaimg"
	"github.com/xmpp-portal/portal/internal/store"
)

// Defaults of Options.
const (
	DefaultTTL     = 10 * time.Minute
	DefaultLength  = 6
	DefaultPrefix  = "captcha:"
	DefaultTimeout = 2 * time.Second
)

// Limits of the values accepted from requests.
const (
	// IDLength is the length of the ids New returns (dchest's length and alphabet).
	IDLength = 20
	// MaxLength is the largest accepted Options.Length.
	MaxLength = 12
	// maxAnswer bounds the answer text looked at, in bytes, spaces
	// included: room for MaxLength digits of four bytes each with spaces.
	maxAnswer = 128

	minWidth, maxWidth   = 100, 1000
	minHeight, maxHeight = 40, 500
)

// The picture's size on the sign-up page (captchaimg.Width × Height), for
// WriteImage and the page's <img width height>.
const (
	ImageWidth  = captchaimg.Width
	ImageHeight = captchaimg.Height
)

// ErrNotFound is returned by WriteImage and WriteAudio for an unknown,
// expired, already verified or malformed id (a 404 for the web layer).
var ErrNotFound = errors.New("captchastore: unknown or expired captcha")

// ErrBadSize is returned by WriteImage for a size outside 100–1000 × 40–500 pixels.
var ErrBadSize = errors.New("captchastore: image size out of range")

// errCorrupt is returned when a stored answer is not a string of digits.
var errCorrupt = errors.New("captchastore: stored answer is not a digit string")

// Options configures NewCaptchas. The zero value uses the defaults.
type Options struct {
	// TTL of a captcha from New. Zero means DefaultTTL.
	TTL time.Duration
	// Length is the number of digits (1..MaxLength). Zero means DefaultLength.
	Length int
	// Prefix is put before each id to form the store key. Empty means DefaultPrefix.
	Prefix string
	// Timeout bounds store calls made without a caller's context (New,
	// WriteImage, WriteAudio). Zero means DefaultTimeout.
	Timeout time.Duration
	// Log receives the Adapter's store errors. Nil discards them.
	Log *slog.Logger
}

// Captchas creates, renders and verifies captchas kept in a store.Store.
// It is safe for concurrent use.
type Captchas struct {
	st      store.Store
	ttl     time.Duration
	length  int
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	img     *captchaimg.Renderer
}

// NewCaptchas returns Captchas on st. It panics if opts.Length is out of
// range (a programming error, caught at start-up).
func NewCaptchas(st store.Store, opts Options) *Captchas {
	c := &Captchas{st: st, ttl: opts.TTL, length: opts.Length, prefix: opts.Prefix, timeout: opts.Timeout, log: opts.Log, img: captchaimg.New()}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.length == 0 {
		c.length = DefaultLength
	}
	if c.length < 1 || c.length > MaxLength {
		panic(fmt.Sprintf("captchastore: Length %d out of range 1..%d", opts.Length, MaxLength))
	}
	if c.prefix == "" {
		c.prefix = DefaultPrefix
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// New creates a captcha and returns its id. The error wraps
// store.ErrUnavailable (or is store.ErrFull) when the answer cannot be kept.
func (c *Captchas) New() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for range 3 {
		id := newID()
		ok, err := c.st.SetNX(ctx, c.key(id), encode(captcha.RandomDigits(c.length)), c.ttl)
		if err != nil {
			return "", fmt.Errorf("captchastore: new: %w", err)
		}
		if ok {
			return id, nil
		}
	}
	return "", errors.New("captchastore: new: id collisions (broken random source?)")
}

// Verify reports whether answer solves captcha id. The stored answer is
// deleted by this call whatever the outcome (single use, across instances):
// a second Verify of the same id is false. An empty or malformed id or an
// empty answer is false. Spaces in the answer are ignored and any Unicode
// decimal digit counts as its ASCII digit (normalize). The error is
// non-nil only when the store failed (it wraps store.ErrUnavailable when
// the store cannot be reached); the result is then false.
func (c *Captchas) Verify(ctx context.Context, id, answer string) (bool, error) {
	if !validID(id) {
		return false, nil
	}
	stored, err := c.st.GetDel(ctx, c.key(id))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("captchastore: verify: %w", err)
	}
	given, ok := normalize(answer)
	if !ok || len(given) == 0 {
		return false, nil
	}
	return subtle.ConstantTimeCompare(given, stored) == 1, nil
}

// WriteImage writes the captcha as a PNG image of the given size
// (100–1000 × 40–500 pixels; the page's is ImageWidth × ImageHeight),
// drawn by internal/captchaimg (dchest's font, digits that never touch, at a
// fraction of dchest's CPU time).
// The same id and answer always give the same picture in one process.
func (c *Captchas) WriteImage(w io.Writer, id string, width, height int) error {
	if width < minWidth || width > maxWidth || height < minHeight || height > maxHeight {
		return ErrBadSize
	}
	digits, err := c.digits(id)
	if err != nil {
		return err
	}
	if err := c.img.WritePNG(w, id, digits, width, height); err != nil {
		return fmt.Errorf("captchastore: rendering image: %w", err)
	}
	return nil
}

// WriteAudio writes the captcha as a WAV file spoken in lang ("en", "ja",
// "ru", "zh" or "pt"; any other language falls back to English).
func (c *Captchas) WriteAudio(w io.Writer, id, lang string) error {
	digits, err := c.digits(id)
	if err != nil {
		return err
	}
	_, err = captcha.NewAudio(id, digits, lang).WriteTo(w)
	return err
}

// digits reads the answer of id without deleting it, as digit values 0–9.
func (c *Captchas) digits(id string) ([]byte, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b, err := c.st.Get(ctx, c.key(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("captchastore: %w", err)
	}
	return decode(b)
}

func (c *Captchas) key(id string) string { return c.prefix + id }

// idChars is dchest's id alphabet.
const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns IDLength characters from idChars, uniformly, from crypto/rand.
func newID() string {
	const limit = 256 - 256%len(idChars) // rejection sampling: no modulo bias
	b := make([]byte, 0, IDLength)
	var buf [2 * IDLength]byte
	for len(b) < IDLength {
		_, _ = rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, r := range buf {
			if int(r) < limit && len(b) < IDLength {
				b = append(b, idChars[int(r)%len(idChars)])
			}
		}
	}
	return string(b)
}

// validID accepts ids made by New (and dchest's): IDLength letters and digits.
func validID(id string) bool {
	if len(id) != IDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z') {
			return false
		}
	}
	return true
}

// encode turns digit values 0–9 into ASCII digits for the store.
func encode(digits []byte) []byte {
	out := make([]byte, len(digits))
	for i, d := range digits {
		out[i] = '0' + d
	}
	return out
}

// decode turns stored ASCII digits into digit values 0–9.
func decode(b []byte) ([]byte, error) {
	if len(b) == 0 || len(b) > MaxLength {
		return nil, errCorrupt
	}
	out := make([]byte, len(b))
	for i, ch := range b {
		if ch < '0' || ch > '9' {
			return nil, errCorrupt
		}
		out[i] = ch - '0'
	}
	return out, nil
}
