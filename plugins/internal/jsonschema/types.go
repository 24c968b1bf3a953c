package jsonschema

import (
	"encoding/json"
	"strconv"
	"strings"
)

// typeSet holds the types a "type" keyword allows, one bit each.
type typeSet uint8

const (
	typeObject typeSet = 1 << iota
	typeArray
	typeString
	typeNumber
	typeInteger
	typeBoolean
	typeNull
)

var typeNames = map[string]typeSet{
	"object": typeObject, "array": typeArray, "string": typeString,
	"number": typeNumber, "integer": typeInteger, "boolean": typeBoolean,
	"null": typeNull,
}

func (s *Schema) compileType(v any, at string) error {
	var names []string
	switch t := v.(type) {
	case string:
		names = []string{t}
	case []any:
		if len(t) == 0 {
			return &CompileError{at, "must not be empty"}
		}
		var err error
		if names, err = uniqueStrings(t, at); err != nil {
			return err
		}
	default:
		return &CompileError{at, "must be a string or an array of strings"}
	}
	for _, name := range names {
		bit, ok := typeNames[name]
		if !ok {
			return &CompileError{at, "unknown type " + strconv.Quote(name)}
		}
		s.types |= bit
	}
	s.typeMsg = "must be " + listNames(names)
	return nil
}

// listNames joins names as in "object, array or null".
func listNames(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// matches reports whether v, as decoded by decode, has one of the types.
func (t typeSet) matches(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return t&typeObject != 0
	case []any:
		return t&typeArray != 0
	case string:
		return t&typeString != 0
	case json.Number:
		if t&typeNumber != 0 {
			return true
		}
		d, ok := parseDecimal(string(x))
		return t&typeInteger != 0 && ok && d.isInteger()
	case bool:
		return t&typeBoolean != 0
	case nil:
		return t&typeNull != 0
	}
	return false
}

// kindName names the JSON type of v for messages.
func kindName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}
