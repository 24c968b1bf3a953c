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
// duplicate member names in a document follow encoding/json: the last wins.
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
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Schema is a compiled schema. It is immutable, so one Schema may validate
// any number of documents.
type Schema struct {
	never bool // the schema false: nothing is valid

	types   typeSet // zero when the schema has no "type"
	typeMsg string

	hasEnum  bool
	enum     []any
	enumMsg  string
	hasConst bool
	constVal any
	constMsg string

	bounds []bound

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
// keyword path from the schema's root, like properties.age.minimum.
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

// ErrInvalidJSON is wrapped by the errors for input that is not one JSON
// value, be it a schema or a document.
var ErrInvalidJSON = errors.New("invalid JSON")

// Compile parses and checks a schema. Errors in the schema itself are
// *CompileError.
func Compile(schema []byte) (*Schema, error) {
	v, err := decode(schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return compile(v, "")
}

func compile(v any, loc string) (*Schema, error) {
	s := &Schema{minLength: -1, maxLength: -1, minItems: -1, maxItems: -1}
	switch n := v.(type) {
	case bool:
		s.never = !n
		return s, nil
	case map[string]any:
		// Sorted, so that a schema with several mistakes always reports the
		// same one.
		for _, name := range sortedKeys(n) {
			if err := s.keyword(name, n[name], loc); err != nil {
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

func (s *Schema) keyword(name string, v any, loc string) error {
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

func compileSub(dst **Schema, v any, at string) error {
	sub, err := compile(v, at)
	*dst = sub
	return err
}

func (s *Schema) compileEnum(v any, at string) error {
	values, ok := v.([]any)
	if !ok {
		return &CompileError{at, "must be an array"}
	}
	s.hasEnum, s.enum = true, values
	s.enumMsg = describe("must be one of ", v, "must be one of the "+strconv.Itoa(len(values))+" enum values")
	return nil
}

// maxQuoted keeps messages for enum and const short: they may end up in a
// response body.
const maxQuoted = 100

// describe renders prefix followed by v as compact JSON, or fallback when
// that would be too long to be a useful message.
func describe(prefix string, v any, fallback string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil || b.Len() > maxQuoted {
		return fallback
	}
	return prefix + strings.TrimSuffix(b.String(), "\n")
}

func (s *Schema) compileBound(name string, v any, at string) error {
	d, err := number(v, at)
	if err != nil {
		return err
	}
	text := string(v.(json.Number))
	b := bound{limit: d}
	switch name {
	case "minimum":
		b.order, b.fails, b.message = 0, func(c int) bool { return c < 0 }, "must be >= "+text
	case "exclusiveMinimum":
		b.order, b.fails, b.message = 1, func(c int) bool { return c <= 0 }, "must be > "+text
	case "maximum":
		b.order, b.fails, b.message = 2, func(c int) bool { return c > 0 }, "must be <= "+text
	case "exclusiveMaximum":
		b.order, b.fails, b.message = 3, func(c int) bool { return c >= 0 }, "must be < "+text
	}
	s.bounds = append(s.bounds, b)
	return nil
}

func number(v any, at string) (decimal, error) {
	n, ok := v.(json.Number)
	if !ok {
		return decimal{}, &CompileError{at, "must be a number"}
	}
	d, ok := parseDecimal(string(n))
	if !ok {
		return decimal{}, &CompileError{at, "must be a number"}
	}
	return d, nil
}

func (s *Schema) compileCount(name string, v any, at string) error {
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

func (s *Schema) compilePattern(v any, at string) error {
	p, ok := v.(string)
	if !ok {
		return &CompileError{at, "must be a string"}
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return &CompileError{at, "invalid regexp: " + err.Error()}
	}
	s.pattern = re
	return nil
}

func (s *Schema) compileRequired(v any, at string) error {
	names, err := uniqueStrings(v, at)
	s.required = names
	return err
}

func (s *Schema) compileProperties(v any, at string) error {
	props, ok := v.(map[string]any)
	if !ok {
		return &CompileError{at, "must be an object"}
	}
	s.properties = make(map[string]*Schema, len(props))
	for _, name := range sortedKeys(props) {
		sub, err := compile(props[name], joinProperty(at, name))
		if err != nil {
			return err
		}
		s.properties[name] = sub
	}
	return nil
}

// uniqueStrings checks a value that the specification requires to be an
// array of distinct strings.
func uniqueStrings(v any, at string) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, &CompileError{at, "must be an array of strings"}
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		str, ok := item.(string)
		if !ok {
			return nil, &CompileError{at + "[" + strconv.Itoa(i) + "]", "must be a string"}
		}
		if slices.Contains(out, str) {
			return nil, &CompileError{at, "duplicate entry " + strconv.Quote(str)}
		}
		out = append(out, str)
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
