// Package problem defines the errors that services return to users: each
// carries a kind (which the web and API layers turn into a status code) and a
// message key with arguments (which they translate). Any other error is an
// internal fault and is never shown.
package problem

import (
	"errors"
	"fmt"
)

// Kind classifies a problem.
type Kind int

// Kinds of problems.
const (
	Invalid      Kind = iota + 1 // the input is wrong; fixing it helps
	Unauthorized                 // not signed in, or credentials wrong
	Forbidden                    // signed in but not allowed
	NotFound                     // nothing there, or nothing the user may see
	Conflict                     // clashes with existing data
	TooMany                      // throttled; try again later
	Unavailable                  // a dependency is down; try again later
	TooLarge                     // the request is too large
)

// Error is a problem a user can read. Key names a catalog message; Args are
// its placeholder name/value pairs; Field, if set, names the form field the
// problem concerns.
type Error struct {
	Kind  Kind
	Key   string
	Args  []any
	Field string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s %v", e.Field, e.Key, e.Args)
	}
	return fmt.Sprintf("%s %v", e.Key, e.Args)
}

// New returns a problem of the given kind.
func New(kind Kind, key string, args ...any) *Error {
	return &Error{Kind: kind, Key: key, Args: args}
}

// Field returns an Invalid problem about one form field.
func Field(field, key string, args ...any) *Error {
	return &Error{Kind: Invalid, Key: key, Args: args, Field: field}
}

// As returns the problem inside err, if there is one.
func As(err error) (*Error, bool) {
	var p *Error
	ok := errors.As(err, &p)
	return p, ok
}

// List is several field problems found at once, so a form can show them all.
type List []*Error

func (l List) Error() string { return fmt.Sprintf("%d problems, first: %v", len(l), l[0]) }

// Err returns the list as an error, or nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// HTTPStatus is the status code both the web UI and the API answer a
// problem of this kind with.
func (k Kind) HTTPStatus() int {
	switch k {
	case Invalid:
		return 400
	case Unauthorized:
		return 401
	case Forbidden:
		return 403
	case NotFound:
		return 404
	case Conflict:
		return 409
	case TooMany:
		return 429
	case Unavailable:
		return 503
	case TooLarge:
		return 413
	}
	return 500
}

// Translator is what renders a message key in one language
// (*i18n.Localizer).
type Translator interface {
	T(id string, args ...any) string
	N(id string, count int, args ...any) string
}

// Message renders the problem in the translator's language. A "Count"
// argument selects the message's plural form.
func (e *Error) Message(t Translator) string {
	for i := 0; i+1 < len(e.Args); i += 2 {
		if n, ok := e.Args[i+1].(int); ok && e.Args[i] == "Count" {
			rest := append(append([]any{}, e.Args[:i]...), e.Args[i+2:]...)
			return t.N(e.Key, n, rest...)
		}
	}
	return t.T(e.Key, e.Args...)
}
