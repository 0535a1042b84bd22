package i18n

import (
	"strconv"
	"strings"
)

// Error is an error meant to be shown to a user.
// The user sees only the translation of Key with Args; the log sees Error(),
// which names the key, the status and the wrapped cause, never the Args
// (they may hold what the user typed).
type Error struct {
	Key    Key   // message shown to the user
	Args   []any // fmt arguments for the message
	Status int   // HTTP status of the response; 0 lets the caller decide
	Err    error // cause, for the log only; may be nil
}

// NewError returns an *Error with the given status, key and message arguments.
func NewError(status int, key Key, args ...any) *Error {
	return &Error{Key: key, Args: args, Status: status}
}

// Wrap returns an *Error that shows key to the user and keeps err for the log.
func Wrap(err error, status int, key Key, args ...any) *Error {
	return &Error{Key: key, Args: args, Status: status, Err: err}
}

// Error describes e for logs: key, status and cause.
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	var sb strings.Builder
	sb.WriteString("i18n.Error key=")
	sb.WriteString(string(e.Key))
	if e.Status != 0 {
		sb.WriteString(" status=")
		sb.WriteString(strconv.Itoa(e.Status))
	}
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
