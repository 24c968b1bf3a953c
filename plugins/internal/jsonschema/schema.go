// Package jsonschema validates JSON request bodies against a subset of JSON
// Schema (draft 2020-12, validation vocabulary) for the request-validation
// policy. A schema is compiled once, when the plugin is configured, and then
// checked against every request, so all the work that does not depend on the
// document (keyword checks, regexp compilation, number parsing, messages)
// happens in Compile.
//
// Supported keywords: type, enum, const, minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, minLength, maxLength, pattern, minItems, maxItems, items,
// required, properties and additionalProperties. The annotations $schema,
// $id, $comment, title, description, default and examples are accepted and
// ignored. Any other keyword is a compile error: a policy that silently
// ignored "format" or "$ref" would let through requests its author meant to
// reject.
//
// Differences from the full specification: pattern uses Go's RE2 syntax
// rather than ECMA-262 (unanchored, as in the spec); items takes a single
// schema (the 2020-12 form; the array form is prefixItems, not supported);
// duplicate member names follow encoding/json: the last one wins.
//
// Validate reports only the first violation, found in a fixed order so the
// same document always gets the same answer:
//
//  1. type, then enum, then const;
//  2. for numbers: minimum, exclusiveMinimum, maximum, exclusiveMaximum;
//  3. for strings: minLength, maxLength, pattern;
//  4. for arrays: minItems, maxItems, then items element by element;
//  5. for objects: required in the order the schema lists the names, then
//     the document's members in sorted (byte-wise) name order, each against
//     its properties schema or else additionalProperties.
package jsonschema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// Schema is a compiled schema. It is immutable, so one Schema may validate
// any number of documents.
type Schema struct {
	never bool // the schema false: nothing is valid

	types   typeSet // zero when the schema has no "type"
	typeMsg string

	hasEnum  bool
	enum     []value
	enumMsg  string
	hasConst bool
	constVal value
	constMsg string

	bounds []bound // in evaluation order

	minLength, maxLength int // -1 when absent
	pattern              *regexp.Regexp

	minItems, maxItems int // -1 when absent
	items              *Schema

	required   []string
	properties map[string]*Schema
	additional *Schema
}

// bound is one of the four numeric limits.
type bound struct {
	order   int // evaluation order, see the package documentation
	limit   decimal
	fails   func(cmp int) bool // cmp compares the instance to limit
	message string
}

// CompileError says what is wrong with a schema and where: Location is the
// keyword path from the schema's root, like properties.age.minimum, and is
// empty for the root itself.
type CompileError struct {
	Location string
	Message  string
}

func (e *CompileError) Error() string {
	if e.Location == "" {
		return "(root): " + e.Message
	}
	return e.Location + ": " + e.Message
}

// Compile parses and checks a schema. Mistakes in the schema are reported
// as *CompileError, input that is not JSON as an error wrapping
// ErrInvalidJSON.
func Compile(schema []byte) (*Schema, error) {
	v, err := parse(schema, 0)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return compile(v, "")
}

func compile(v value, loc string) (*Schema, error) {
	s := &Schema{minLength: -1, maxLength: -1, minItems: -1, maxItems: -1}
	switch v.kind {
	case kindBool:
		s.never = !v.boolean
		return s, nil
	case kindObject:
		// Members come sorted, so a schema with several mistakes always
		// reports the same one.
		for _, m := range v.members {
			if err := s.keyword(m.name, m.value, loc); err != nil {
				return nil, err
			}
		}
		slices.SortFunc(s.bounds, func(a, b bound) int { return a.order - b.order })
		return s, nil
	}
	return nil, &CompileError{loc, "a schema must be an object or a boolean"}
}

var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true,
	"description": true, "default": true, "examples": true,
}

func (s *Schema) keyword(name string, v value, loc string) error {
	at := joinKeyword(loc, name)
	switch name {
	case "type":
		return s.compileType(v, at)
	case "enum":
		return s.compileEnum(v, at)
	case "const":
		s.hasConst, s.constVal = true, v
		s.constMsg = describe("must equal ", v, "must equal the const value")
		return nil
	case "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum":
		return s.compileBound(name, v, at)
	case "minLength", "maxLength", "minItems", "maxItems":
		return s.compileCount(name, v, at)
	case "pattern":
		return s.compilePattern(v, at)
	case "items":
		return compileSub(&s.items, v, at)
	case "additionalProperties":
		return compileSub(&s.additional, v, at)
	case "required":
		return s.compileRequired(v, at)
	case "properties":
		return s.compileProperties(v, at)
	}
	if annotations[name] {
		return nil
	}
	return &CompileError{loc, "unknown keyword " + strconv.Quote(name)}
}

func compileSub(dst **Schema, v value, at string) error {
	sub, err := compile(v, at)
	*dst = sub
	return err
}

func (s *Schema) compileEnum(v value, at string) error {
	if v.kind != kindArray {
		return &CompileError{at, "must be an array"}
	}
	s.hasEnum, s.enum = true, v.items
	s.enumMsg = describe("must be one of ", v, "must be one of the "+strconv.Itoa(len(v.items))+" enum values")
	return nil
}

// maxQuoted keeps messages for enum and const short: they may end up in a
// response body.
const maxQuoted = 100

// describe renders prefix followed by v as compact JSON, or fallback when
// that would be too long to be a useful message.
func describe(prefix string, v value, fallback string) string {
	b := appendJSON([]byte(prefix), v)
	if len(b)-len(prefix) > maxQuoted {
		return fallback
	}
	return string(b)
}

func (s *Schema) compileBound(name string, v value, at string) error {
	d, err := number(v, at)
	if err != nil {
		return err
	}
	b := bound{limit: d}
	switch name {
	case "minimum":
		b.order, b.fails, b.message = 0, func(c int) bool { return c < 0 }, "must be >= "+v.text
	case "exclusiveMinimum":
		b.order, b.fails, b.message = 1, func(c int) bool { return c <= 0 }, "must be > "+v.text
	case "maximum":
		b.order, b.fails, b.message = 2, func(c int) bool { return c > 0 }, "must be <= "+v.text
	case "exclusiveMaximum":
		b.order, b.fails, b.message = 3, func(c int) bool { return c >= 0 }, "must be < "+v.text
	}
	s.bounds = append(s.bounds, b)
	return nil
}

func number(v value, at string) (decimal, error) {
	if v.kind != kindNumber {
		return decimal{}, &CompileError{at, "must be a number"}
	}
	d, _ := parseDecimal(v.text) // the parser only lets valid numbers through
	return d, nil
}

func (s *Schema) compileCount(name string, v value, at string) error {
	d, err := number(v, at)
	if err != nil {
		return err
	}
	n, ok := d.count()
	if !ok {
		return &CompileError{at, "must be a non-negative integer"}
	}
	switch name {
	case "minLength":
		s.minLength = n
	case "maxLength":
		s.maxLength = n
	case "minItems":
		s.minItems = n
	case "maxItems":
		s.maxItems = n
	}
	return nil
}

func (s *Schema) compilePattern(v value, at string) error {
	if v.kind != kindString {
		return &CompileError{at, "must be a string"}
	}
	re, err := regexp.Compile(v.text)
	if err != nil {
		return &CompileError{at, "invalid regexp: " + err.Error()}
	}
	s.pattern = re
	return nil
}

func (s *Schema) compileRequired(v value, at string) error {
	names, err := uniqueStrings(v, at)
	s.required = names
	return err
}

func (s *Schema) compileProperties(v value, at string) error {
	if v.kind != kindObject {
		return &CompileError{at, "must be an object"}
	}
	s.properties = make(map[string]*Schema, len(v.members))
	for _, m := range v.members {
		sub, err := compile(m.value, joinProperty(at, m.name))
		if err != nil {
			return err
		}
		s.properties[m.name] = sub
	}
	return nil
}

// uniqueStrings checks a value that the specification requires to be an
// array of distinct strings.
func uniqueStrings(v value, at string) ([]string, error) {
	if v.kind != kindArray {
		return nil, &CompileError{at, "must be an array of strings"}
	}
	out := make([]string, 0, len(v.items))
	for i, item := range v.items {
		if item.kind != kindString {
			return nil, &CompileError{at + "[" + strconv.Itoa(i) + "]", "must be a string"}
		}
		if slices.Contains(out, item.text) {
			return nil, &CompileError{at, "duplicate entry " + strconv.Quote(item.text)}
		}
		out = append(out, item.text)
	}
	return out, nil
}

func joinKeyword(loc, name string) string {
	if loc == "" {
		return name
	}
	return loc + "." + name
}

func joinProperty(loc, name string) string {
	return string(appendName([]byte(loc), name))
}
