package jsonschema

import (
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
func (s *Schema) Validate(doc []byte) error { return s.ValidateLimited(doc, 0) }

// ValidateLimited is Validate for a document of at most maxValues JSON
// values (every scalar, array and object counts one; 0 is no limit): past
// it, it stops with an error wrapping ErrTooManyValues, having used memory
// for maxValues values at most.
func (s *Schema) ValidateLimited(doc []byte, maxValues int) error {
	limit := 0 // parse's count stops at 0: maxValues+1 lets maxValues through
	if maxValues > 0 {
		limit = maxValues + 1
	}
	v, err := parse(doc, limit)
	if err != nil {
		return err
	}
	var c checker
	if vio := c.check(s, &v); vio != nil {
		return vio
	}
	return nil
}

// checker carries the state of one Validate call. The path is kept as a
// stack of steps and only formatted when something fails, so valid
// documents cost no string building.
type checker struct {
	path []step
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

func (c *checker) check(s *Schema, v *value) *Violation {
	if s.never {
		return c.fail("is not allowed")
	}
	if s.types != 0 && !s.types.matches(v) {
		return c.fail(s.typeMsg + ", got " + v.kind.String())
	}
	if s.hasEnum && !slices.ContainsFunc(s.enum, func(e value) bool { return equal(&e, v) }) {
		return c.fail(s.enumMsg)
	}
	if s.hasConst && !equal(&s.constVal, v) {
		return c.fail(s.constMsg)
	}
	switch v.kind {
	case kindNumber:
		return c.checkNumber(s, v.text)
	case kindString:
		return c.checkString(s, v.text)
	case kindArray:
		return c.checkArray(s, v.items)
	case kindObject:
		return c.checkObject(s, v)
	}
	return nil
}

func (c *checker) checkNumber(s *Schema, text string) *Violation {
	if len(s.bounds) == 0 {
		return nil
	}
	d, _ := parseDecimal(text) // the parser only lets valid numbers through
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

func (c *checker) checkArray(s *Schema, items []value) *Violation {
	if s.minItems >= 0 && len(items) < s.minItems {
		return c.fail("must have at least " + plural(s.minItems, "item"))
	}
	if s.maxItems >= 0 && len(items) > s.maxItems {
		return c.fail("must have at most " + plural(s.maxItems, "item"))
	}
	if s.items == nil {
		return nil
	}
	for i := range items {
		if vio := c.descend(step{index: i}, s.items, &items[i]); vio != nil {
			return vio
		}
	}
	return nil
}

func (c *checker) checkObject(s *Schema, obj *value) *Violation {
	for _, name := range s.required {
		if _, ok := obj.lookup(name); !ok {
			return c.fail("missing required property " + strconv.Quote(name))
		}
	}
	if s.properties == nil && s.additional == nil {
		return nil
	}
	// Members are sorted by name, which makes "first" well defined.
	for i := range obj.members {
		m := &obj.members[i]
		sub := s.properties[m.name]
		if sub == nil {
			sub = s.additional
		}
		if sub == nil {
			continue
		}
		if vio := c.descend(step{name: m.name, index: -1}, sub, &m.value); vio != nil {
			return vio
		}
	}
	return nil
}

func (c *checker) descend(st step, s *Schema, v *value) *Violation {
	c.path = append(c.path, st)
	vio := c.check(s, v)
	c.path = c.path[:len(c.path)-1]
	return vio
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// equal is JSON equality as enum and const need it: numbers by value (1 and
// 1.0 are equal), objects regardless of member order.
func equal(a, b *value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindBool:
		return a.boolean == b.boolean
	case kindString:
		return a.text == b.text
	case kindNumber:
		return equalNumbers(a.text, b.text)
	case kindArray:
		return slices.EqualFunc(a.items, b.items, func(x, y value) bool { return equal(&x, &y) })
	case kindObject:
		// Both member lists are sorted and free of duplicates.
		return slices.EqualFunc(a.members, b.members, func(x, y member) bool {
			return x.name == y.name && equal(&x.value, &y.value)
		})
	}
	return true
}

func equalNumbers(a, b string) bool {
	if a == b {
		return true
	}
	x, okx := parseDecimal(a)
	y, oky := parseDecimal(b)
	return okx && oky && compareDecimal(x, y) == 0
}
