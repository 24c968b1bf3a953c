// Package httptoken checks the small pieces of HTTP syntax the policies
// validate in their configuration (header and cookie names, values without
// control characters) and match on requests (case-insensitive schemes,
// query parameter names, which a client may percent-encode).
package httptoken

import (
	"bytes"
	"net/url"
	"strings"
)

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

// ParamIs reports whether k, a query parameter's name as sent, is name:
// as is, or once percent-decoded (a client may write t as %74).
func ParamIs(k []byte, name string) bool {
	if string(k) == name {
		return true
	}
	if bytes.IndexAny(k, "%+") < 0 {
		return false
	}
	return ParamName(string(k)) == name
}

// ParamName is a query parameter's name as sent, percent-decoded; as
// written when it does not decode (a client's malformed name is still a
// name, and must not slip past a check).
func ParamName(k string) string {
	if strings.IndexAny(k, "%+") < 0 {
		return k
	}
	if u, err := url.QueryUnescape(k); err == nil {
		return u
	}
	return k
}

// WithoutParam is path without query parameter name, every value of it;
// the other parameters stay as they were sent.
func WithoutParam(path, name string) string {
	base, q, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	q, frag, hasFrag := strings.Cut(q, "#")
	var kept []string
	for _, part := range strings.Split(q, "&") {
		k, _, _ := strings.Cut(part, "=")
		if part != "" && !ParamIs([]byte(k), name) {
			kept = append(kept, part)
		}
	}
	if len(kept) > 0 {
		base += "?" + strings.Join(kept, "&")
	}
	if hasFrag {
		base += "#" + frag
	}
	return base
}

// QueryParam is the first value of query parameter name in path,
// decoded; two, that the parameter comes again with another value.
func QueryParam(path []byte, name string) (t string, ok, two bool) {
	_, q, found := bytes.Cut(path, []byte{'?'})
	if !found {
		return "", false, false
	}
	q, _, _ = bytes.Cut(q, []byte{'#'})
	seen := false
	for len(q) > 0 {
		var part []byte
		part, q, _ = bytes.Cut(q, []byte{'&'})
		k, v, _ := bytes.Cut(part, []byte{'='})
		if !ParamIs(k, name) {
			continue
		}
		u, err := url.QueryUnescape(string(v))
		if !seen {
			seen, t, ok = true, u, err == nil && u != ""
		} else if err != nil || u != t {
			return t, ok, true
		}
	}
	return t, ok, false
}
