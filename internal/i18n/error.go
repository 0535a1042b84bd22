package i18n

import (
	"strings"
)

// Error is an error meant to be shown to a user.
// The user sees only the translation of Key with Args; the log sees Error(),
// which names the key and the wrapped cause, never the Args (they may hold
// what the user typed). It carries no HTTP status: how a page answers is the
// web layer's business.
type Error struct {
	Key  Key   // message shown to the user
	Args []any // fmt arguments for the message
	Err  error // cause, for the log only; may be nil
}

// NewError returns an *Error with the given key and message arguments.
func NewError(key Key, args ...any) *Error {
	return &Error{Key: key, Args: args}
}

// Wrap returns an *Error that shows key to the user and keeps err for the log.
func Wrap(err error, key Key, args ...any) *Error {
	return &Error{Key: key, Args: args, Err: err}
}

// Error describes e for logs: key and cause.
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	var sb strings.Builder
	sb.WriteString("i18n.Error key=")
	sb.WriteString(string(e.Key))
	if e.Err != nil {
		sb.WriteString(": ")
		sb.WriteString(e.Err.Error())
	}
	return sb.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Message returns the text to show the user, translated into lang.
func (e *Error) Message(b *Bundle, lang string) string {
	return b.T(lang, e.Key, e.Args...)
}
