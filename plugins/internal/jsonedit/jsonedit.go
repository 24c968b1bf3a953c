// Package jsonedit edits JSON bodies for the transform policy: it sets,
// removes and renames object members addressed by dotted paths.
//
// Edits keep the document as close to its input as they can, so that a
// transform changes only what it was asked to: members keep their order
// (new ones go at the end of their object), numbers and strings keep their
// exact spelling (1.0e+2 stays 1.0e+2, "\u00e9" stays escaped), and only
// the objects on an edited path are parsed at all; everything else is
// copied through as written. The output is compact JSON.
//
// A path is a list of member names joined by dots: "user.name" is the
// member "name" of the object in the member "user" of the root object.
// Paths cannot address array elements, nor members whose names contain a
// dot; both keep the syntax free of escaping rules.
//
// Duplicate member names are folded when jsonedit parses an object (only
// objects on an edited path are parsed): the last value wins, as with
// encoding/json and most other parsers, at the position of the first
// occurrence. This matters for Remove: removing "password" from
// {"password":1,"password":2} must not leave one behind.
package jsonedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

var (
	// ErrTooLarge is returned for documents over the size limit, before
	// any parsing.
	ErrTooLarge = errors.New("jsonedit: document larger than the size limit")
	// ErrInvalidJSON is wrapped by the error for a document that is not
	// one JSON value.
	ErrInvalidJSON = errors.New("jsonedit: invalid JSON")
	// ErrNotObject is returned for a document whose top-level value is
	// valid JSON but not an object.
	ErrNotObject = errors.New("jsonedit: top-level value is not an object")
)

// Apply applies ops in order to doc, a JSON object, and returns the edited
// document as compact JSON. When maxSize > 0 and doc is longer, it returns
// ErrTooLarge. On any error doc should be used unchanged: Apply never
// returns a partly edited document.
func Apply(doc []byte, ops []Op, maxSize int) ([]byte, error) {
	if maxSize > 0 && len(doc) > maxSize {
		return nil, ErrTooLarge
	}
	for _, op := range ops {
		if op.err != nil {
			return nil, op.err
		}
	}
	// Compact both validates the whole document, so that the scanner below
	// may trust its input, and removes the whitespace the output must not
	// have.
	var buf bytes.Buffer
	buf.Grow(len(doc))
	if err := json.Compact(&buf, doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	src := buf.Bytes()
	if src[0] != '{' {
		return nil, ErrNotObject
	}
	if len(ops) == 0 {
		return src, nil
	}
	root := parseObject(src)
	for _, op := range ops {
		if err := op.apply(root); err != nil {
			return nil, err
		}
	}
	return root.appendTo(make([]byte, 0, len(src)+64)), nil
}
