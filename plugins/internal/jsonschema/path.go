package jsonschema

import "strconv"

// appendName appends a member name to a path: .name when it reads as an
// identifier, ["name"] otherwise, so that any name, even one with dots or
// quotes, can be told apart in a message.
func appendName(b []byte, name string) []byte {
	if isIdentifier(name) {
		b = append(b, '.')
		return append(b, name...)
	}
	b = append(b, '[')
	b = strconv.AppendQuote(b, name)
	return append(b, ']')
}

func appendIndex(b []byte, i int) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, ']')
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
