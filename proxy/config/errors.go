package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a config file, located as precisely as the
// decoder allows.
type FieldError struct {
	File string // "" when the config did not come from a file
	Line int    // 0 when unknown
	Path string // dotted field path, e.g. routes[2].upstream
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config; Load returns it so an
// operator sees them all at once.
type Errors []*FieldError

// Unwrap lists the errors one by one: an error that spans lines (a
// plugin's trap with its stack trace) stays one.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// errs collects FieldErrors during validation; lines are filled in at the end
// from the locator so validators only think about paths.
type errs struct{ list Errors }

func (e *errs) add(path, format string, args ...any) {
	e.list = append(e.list, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}
