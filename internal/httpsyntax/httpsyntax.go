// Package httpsyntax holds the HTTP grammar checks that both the router
// (match conditions, methods) and config validation (headers a route
// answers with) apply, so that the two agree on what a header name is.
package httpsyntax

import "strings"

// IsToken reports whether s is an RFC 9110 token, the syntax of header
// names and methods.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
