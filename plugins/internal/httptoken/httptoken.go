// Package httptoken checks the small pieces of HTTP syntax the policies
// validate in their configuration (header and cookie names, values without
// control characters) and match on requests (case-insensitive schemes).
package httptoken

import "strings"

// IsToken reports whether s is an RFC 9110 token: a header or cookie name.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// HasCTL reports whether s holds an ASCII control character, which would
// let it break out of a header line.
func HasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// EqualFold compares b with lower-case ASCII s, ignoring b's case, without
// converting b (a request's bytes) to a string.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
