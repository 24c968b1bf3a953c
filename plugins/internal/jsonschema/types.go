package jsonschema

import (
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

func (s *Schema) compileType(v value, at string) error {
	var names []string
	switch v.kind {
	case kindString:
		names = []string{v.text}
	case kindArray:
		if len(v.items) == 0 {
			return &CompileError{at, "must not be empty"}
		}
		var err error
		if names, err = uniqueStrings(v, at); err != nil {
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

// matches reports whether v has one of the types.
func (t typeSet) matches(v *value) bool {
	switch v.kind {
	case kindObject:
		return t&typeObject != 0
	case kindArray:
		return t&typeArray != 0
	case kindString:
		return t&typeString != 0
	case kindNumber:
		if t&typeNumber != 0 {
			return true
		}
		d, ok := parseDecimal(v.text)
		return t&typeInteger != 0 && ok && d.isInteger()
	case kindBool:
		return t&typeBoolean != 0
	}
	return t&typeNull != 0
}
