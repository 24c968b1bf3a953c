package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Violation is the first place where a document breaks its schema. Path
// starts at $ for the root and continues with .name or ["name"] for members
// and [i] for array elements, as in $.items[2].price.
type Violation struct {
	Path    string
	Message string
}

func (v *Violation) Error() string { return v.Path + ": " + v.Message }

// Validate parses doc and checks it against s. It returns nil when doc is
// valid, a *Violation for the first rule it breaks, or an error wrapping
// ErrInvalidJSON when doc is not a single JSON value.
func (s *Schema) Validate(doc []byte) error {
	v, err := decode(doc)
	if err != nil {
		return err
	}
	var c checker
	if vio := c.check(s, v); vio != nil {
		return vio
	}
	return nil
}

// decode parses exactly one JSON value, keeping numbers as written so they
// can be compared exactly.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no value", ErrInvalidJSON)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the top-level value", ErrInvalidJSON)
	}
	return v, nil
}

// checker carries the state of one Validate call. The path is kept as a
// stack of steps and only formatted when something fails, so valid
// documents cost no string building.
type checker struct {
	path []step
	keys []string // a stack of sorted member names, shared by all levels
}

type step struct {
	name  string
	index int // -1 for a member name
}

func (c *checker) fail(msg string) *Violation {
	b := []byte{'$'}
	for _, st := range c.path {
		if st.index < 0 {
			b = appendName(b, st.name)
		} else {
			b = appendIndex(b, st.index)
		}
	}
	return &Violation{Path: string(b), Message: msg}
}

func (c *checker) check(s *Schema, v any) *Violation {
	if s.never {
		return c.fail("is not allowed")
	}
	if s.types != 0 && !s.types.matches(v) {
		return c.fail(s.typeMsg + ", got " + kindName(v))
	}
	if s.hasEnum && !slices.ContainsFunc(s.enum, func(e any) bool { return equal(e, v) }) {
		return c.fail(s.enumMsg)
	}
	if s.hasConst && !equal(s.constVal, v) {
		return c.fail(s.constMsg)
	}
	switch x := v.(type) {
	case json.Number:
		return c.checkNumber(s, x)
	case string:
		return c.checkString(s, x)
	case []any:
		return c.checkArray(s, x)
	case map[string]any:
		return c.checkObject(s, x)
	}
	return nil
}

func (c *checker) checkNumber(s *Schema, n json.Number) *Violation {
	if len(s.bounds) == 0 {
		return nil
	}
	d, ok := parseDecimal(string(n))
	if !ok {
		return c.fail("is not a valid number")
	}
	for _, b := range s.bounds {
		if b.fails(compareDecimal(d, b.limit)) {
			return c.fail(b.message)
		}
	}
	return nil
}

func (c *checker) checkString(s *Schema, str string) *Violation {
	if s.minLength >= 0 || s.maxLength >= 0 {
		// Code points, as the specification counts, not bytes.
		n := utf8.RuneCountInString(str)
		if s.minLength >= 0 && n < s.minLength {
			return c.fail("must be at least " + plural(s.minLength, "character") + " long")
		}
		if s.maxLength >= 0 && n > s.maxLength {
			return c.fail("must be at most " + plural(s.maxLength, "character") + " long")
		}
	}
	if s.pattern != nil && !s.pattern.MatchString(str) {
		return c.fail("must match pattern " + strconv.Quote(s.pattern.String()))
	}
	return nil
}

func (c *checker) checkArray(s *Schema, items []any) *Violation {
	if s.minItems >= 0 && len(items) < s.minItems {
		return c.fail("must have at least " + plural(s.minItems, "item"))
	}
	if s.maxItems >= 0 && len(items) > s.maxItems {
		return c.fail("must have at most " + plural(s.maxItems, "item"))
	}
	if s.items == nil {
		return nil
	}
	for i, item := range items {
		c.path = append(c.path, step{index: i})
		vio := c.check(s.items, item)
		c.path = c.path[:len(c.path)-1]
		if vio != nil {
			return vio
		}
	}
	return nil
}

func (c *checker) checkObject(s *Schema, obj map[string]any) *Violation {
	for _, name := range s.required {
		if _, ok := obj[name]; !ok {
			return c.fail("missing required property " + strconv.Quote(name))
		}
	}
	if s.properties == nil && s.additional == nil {
		return nil
	}
	// Map order is random; sorting makes the first violation reproducible.
	start := len(c.keys)
	for name := range obj {
		c.keys = append(c.keys, name)
	}
	end := len(c.keys)
	slices.Sort(c.keys[start:end])
	defer func() { c.keys = c.keys[:start] }()
	for i := start; i < end; i++ {
		// c.keys may be reallocated by nested objects, so index it afresh.
		name := c.keys[i]
		sub := s.properties[name]
		if sub == nil {
			sub = s.additional
		}
		if sub == nil {
			continue
		}
		c.path = append(c.path, step{name: name, index: -1})
		vio := c.check(sub, obj[name])
		c.path = c.path[:len(c.path)-1]
		if vio != nil {
			return vio
		}
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// equal is JSON equality as enum and const need it: numbers by value (1 and
// 1.0 are equal), objects regardless of member order.
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && equalNumbers(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equal)
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && equalObjects(x, y)
	}
	return false
}

func equalNumbers(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, okx := parseDecimal(string(a))
	y, oky := parseDecimal(string(b))
	return okx && oky && compareDecimal(x, y) == 0
}

func equalObjects(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !equal(va, vb) {
			return false
		}
	}
	return true
}
