package jsonschema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// value is a parsed JSON value. A dedicated tree rather than the any tree
// of encoding/json because validation wants members sorted by name (the
// reporting order) and looked up by binary search, and because building it
// costs a fraction of the allocations: strings and numbers are substrings
// of the document, arrays and objects are one exactly-sized slice each.
type value struct {
	kind    kind
	boolean bool
	text    string   // a string's contents, or a number's literal
	items   []value  // array elements
	members []member // object members, sorted by name, names unique
}

type member struct {
	name  string
	value value
}

// lookup finds a member by name.
func (v *value) lookup(name string) (*value, bool) {
	i, ok := slices.BinarySearchFunc(v.members, name, func(m member, name string) int {
		return strings.Compare(m.name, name)
	})
	if !ok {
		return nil, false
	}
	return &v.members[i].value, true
}

// maxDepth matches encoding/json's nesting limit, so that both accept the
// same documents, and keeps recursion bounded.
const maxDepth = 10000

// ErrInvalidJSON is wrapped by the errors for input that is not one JSON
// value, be it a schema or a document.
var ErrInvalidJSON = errors.New("invalid JSON")

// ErrTooManyValues is the error of a document with more values than the
// limit given: each value parsed takes tens of bytes in the tree, far more
// than its text, so a body of a few hundred kilobytes of small values
// could take more memory than a plugin has.
var ErrTooManyValues = errors.New("too many JSON values")

// parse parses exactly one JSON value (RFC 8259) surrounded by optional
// whitespace. Like encoding/json, it replaces invalid UTF-8 and unpaired
// surrogates in strings with U+FFFD, and the last of duplicate member
// names wins.
func parse(data []byte, maxValues int) (value, error) {
	// One copy of the whole document, so that every string and number can
	// share it instead of being copied one by one.
	p := parser{src: string(data), items: make([]value, 0, 16), members: make([]member, 0, 16), left: maxValues}
	p.skipSpace()
	if p.pos == len(p.src) {
		return value{}, fmt.Errorf("%w: no value", ErrInvalidJSON)
	}
	v, err := p.value()
	if err != nil {
		return value{}, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return value{}, fmt.Errorf("%w: data after the top-level value at offset %d", ErrInvalidJSON, p.pos)
	}
	return v, nil
}

type parser struct {
	src   string
	pos   int
	depth int
	// Scratch stacks: elements and members are collected here and copied
	// out once their container is complete, so each container allocates
	// exactly once whatever its length.
	items   []value
	members []member
	// left is how many more values may be parsed (no limit when the limit
	// given was 0 or less).
	left int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, fmt.Sprintf(format, args...), p.pos)
}

func (p *parser) unexpected() error {
	if p.pos >= len(p.src) {
		return fmt.Errorf("%w: unexpected end of input", ErrInvalidJSON)
	}
	return p.errorf("unexpected character %q", p.src[p.pos])
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (value, error) {
	if p.pos >= len(p.src) {
		return value{}, p.unexpected()
	}
	if p.left--; p.left == 0 {
		return value{}, fmt.Errorf("%w at offset %d", ErrTooManyValues, p.pos)
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.string()
		return value{kind: kindString, text: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return value{kind: kindBool, boolean: true}, p.literal("true")
	case c == 'f':
		return value{kind: kindBool}, p.literal("false")
	case c == 'n':
		return value{kind: kindNull}, p.literal("null")
	}
	return value{}, p.unexpected()
}

func (p *parser) literal(word string) error {
	if !strings.HasPrefix(p.src[p.pos:], word) {
		return p.errorf("invalid literal")
	}
	p.pos += len(word)
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) array() (value, error) {
	if err := p.enter(); err != nil {
		return value{}, err
	}
	p.pos++ // [
	start := len(p.items)
	defer func() { p.items = p.items[:start] }()
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		p.depth--
		return value{kind: kindArray, items: []value{}}, nil
	}
	for {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return value{}, err
		}
		p.items = append(p.items, v)
		if done, err := p.next(']'); err != nil || done {
			if err != nil {
				return value{}, err
			}
			break
		}
	}
	p.depth--
	return value{kind: kindArray, items: slices.Clone(p.items[start:])}, nil
}

// next consumes the separator after a container element: a comma, or the
// closing byte, for which it reports done.
func (p *parser) next(closing byte) (done bool, err error) {
	p.skipSpace()
	if p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ',':
			p.pos++
			return false, nil
		case closing:
			p.pos++
			return true, nil
		}
	}
	return false, p.unexpected()
}

func (p *parser) object() (value, error) {
	if err := p.enter(); err != nil {
		return value{}, err
	}
	p.pos++ // {
	start := len(p.members)
	defer func() { p.members = p.members[:start] }()
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.depth--
		return value{kind: kindObject, members: []member{}}, nil
	}
	for {
		m, err := p.member()
		if err != nil {
			return value{}, err
		}
		p.members = append(p.members, m)
		if done, err := p.next('}'); err != nil || done {
			if err != nil {
				return value{}, err
			}
			break
		}
	}
	p.depth--
	return value{kind: kindObject, members: sortMembers(slices.Clone(p.members[start:]))}, nil
}

func (p *parser) member() (member, error) {
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '"' {
		return member{}, p.unexpected()
	}
	name, err := p.string()
	if err != nil {
		return member{}, err
	}
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != ':' {
		return member{}, p.unexpected()
	}
	p.pos++
	p.skipSpace()
	v, err := p.value()
	return member{name, v}, err
}

// sortMembers sorts by name and drops all but the last of duplicate names.
func sortMembers(ms []member) []member {
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
	out := ms[:0]
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].name == m.name {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (p *parser) number() (value, error) {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.src) && p.src[p.pos] == '0':
		p.pos++
	case p.pos < len(p.src) && p.src[p.pos] >= '1' && p.src[p.pos] <= '9':
		p.pos = skipDigits(p.src, p.pos)
	default:
		return value{}, p.unexpected()
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		if err := p.digits(p.pos + 1); err != nil {
			return value{}, err
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if err := p.digits(p.pos); err != nil {
			return value{}, err
		}
	}
	return value{kind: kindNumber, text: p.src[start:p.pos]}, nil
}

// digits consumes the one or more digits that must start at i.
func (p *parser) digits(i int) error {
	if p.pos = skipDigits(p.src, i); p.pos == i {
		return p.unexpected()
	}
	return nil
}

// string consumes a quoted string and returns its contents. Strings
// without escapes, the common case, are returned as substrings.
func (p *parser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	ascii := true
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			s := p.src[start:p.pos]
			p.pos++
			if !ascii && !utf8.ValidString(s) {
				return toValidUTF8(s), nil
			}
			return s, nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.pos++
	}
	return "", p.unexpected()
}

// escapedString finishes a string that has escapes; the bytes from start
// to p.pos are plain.
func (p *parser) escapedString(start int) (string, error) {
	b := make([]byte, 0, p.pos-start+16)
	b = append(b, p.src[start:p.pos]...)
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return toValidUTF8(string(b)), nil
		case c == '\\':
			var err error
			if b, err = p.escape(b); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", p.errorf("control character in string")
		default:
			b = append(b, c)
			p.pos++
		}
	}
	return "", p.unexpected()
}

var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape decodes the escape sequence at p.pos and appends it to b.
func (p *parser) escape(b []byte) ([]byte, error) {
	if p.pos+1 >= len(p.src) {
		return nil, fmt.Errorf("%w: unexpected end of input", ErrInvalidJSON)
	}
	if c := simpleEscapes[p.src[p.pos+1]]; c != 0 {
		p.pos += 2
		return append(b, c), nil
	}
	if p.src[p.pos+1] != 'u' {
		return nil, p.errorf("invalid escape")
	}
	r, ok := p.hex4(p.pos + 2)
	if !ok {
		return nil, p.errorf("invalid \\u escape")
	}
	p.pos += 6
	if utf16.IsSurrogate(r) {
		// A pair only when a low surrogate escape follows; otherwise the
		// lone half becomes U+FFFD and what follows is read on its own.
		if r2, ok := p.hex4(p.pos + 2); ok && strings.HasPrefix(p.src[p.pos:], `\u`) {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				p.pos += 6
				return utf8.AppendRune(b, pair), nil
			}
		}
		r = utf8.RuneError
	}
	return utf8.AppendRune(b, r), nil
}

func (p *parser) hex4(i int) (rune, bool) {
	if i+4 > len(p.src) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.src[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			c = (c | 0x20) - 'a' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// toValidUTF8 replaces each invalid byte with U+FFFD, as encoding/json does
// (strings.ToValidUTF8 would merge runs of them into one).
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for _, r := range s {
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}
