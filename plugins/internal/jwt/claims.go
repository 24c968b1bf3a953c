package jwt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Claims is what Verify returns for a token it accepts.
type Claims struct {
	// Raw is the decoded payload. Numbers are json.Number, objects
	// map[string]any and arrays []any, at every depth.
	Raw map[string]any
	// Alg is the algorithm the token was signed with.
	Alg string
	// KeyID is the ID of the key that verified the signature (which may be
	// empty, and need not equal the token's kid when the set fell back to
	// trying every key).
	KeyID string
}

// HeaderValue renders claim name for an HTTP request header: strings as
// they are, numbers as their JSON text, booleans as true or false, arrays
// of strings joined with ",", anything else (null included) as compact
// JSON. ok is false when the claim is absent, or when the value holds a
// control character that could split or corrupt the header.
func (c *Claims) HeaderValue(name string) (value string, ok bool) {
	v, ok := c.Raw[name]
	if !ok {
		return "", false
	}
	value, ok = render(v)
	if !ok || !headerSafe(value) {
		return "", false
	}
	return value, true
}

func render(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case []any:
		if s, ok := joinStrings(v); ok {
			return s, true
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The value goes in a header, not HTML; "<" should stay "<".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(buf.String(), "\n"), true
}

func joinStrings(list []any) (string, bool) {
	s := make([]string, len(list))
	for i, v := range list {
		var ok bool
		if s[i], ok = v.(string); !ok {
			return "", false
		}
	}
	return strings.Join(s, ","), true
}

// headerSafe allows what RFC 9110 section 5.5 allows in a field value:
// visible ASCII, space, tab and bytes from 0x80 up.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validate applies the registered-claim rules of RFC 7519 section 4.1
// after the signature has been verified.
func (o *Options) validate(c map[string]any, now time.Time) error {
	skew := max(o.ClockSkew, 0)
	if err := checkTimes(c, now, skew, o.RequireExp); err != nil {
		return err
	}
	if len(o.Issuers) > 0 {
		if err := checkIssuer(c, o.Issuers); err != nil {
			return err
		}
	}
	if len(o.Audiences) > 0 {
		return checkAudience(c, o.Audiences)
	}
	return nil
}

// checkTimes gives skew in the token's favour on each side: an exp just
// past, or an nbf or iat just ahead, is accepted while within skew.
func checkTimes(c map[string]any, now time.Time, skew time.Duration, requireExp bool) error {
	exp, ok, err := numericDate(c, "exp")
	switch {
	case err != nil:
		return err
	case !ok && requireExp:
		return fmt.Errorf(`%w: no "exp" claim, and one is required`, ErrExpired)
	case ok && !now.Before(exp.Add(skew)):
		return fmt.Errorf("%w: at %s", ErrExpired, stamp(exp))
	}
	nbf, ok, err := numericDate(c, "nbf")
	switch {
	case err != nil:
		return err
	case ok && now.Before(nbf.Add(-skew)):
		return fmt.Errorf("%w: not before %s", ErrNotYetValid, stamp(nbf))
	}
	iat, ok, err := numericDate(c, "iat")
	switch {
	case err != nil:
		return err
	case ok && now.Before(iat.Add(-skew)):
		return fmt.Errorf("%w: issued at %s", ErrIssuedInFuture, stamp(iat))
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// maxDate bounds NumericDate seconds (about 35,000 years either way) so
// that absurd values clamp instead of overflowing time.Time arithmetic,
// which could turn a far-future nbf into a past one.
const maxDate = 1 << 40

// numericDate reads a NumericDate claim (RFC 7519 section 2): seconds since
// the epoch, as any JSON number, fractions included.
func numericDate(c map[string]any, name string) (t time.Time, ok bool, err error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return time.Time{}, false, fmt.Errorf("%w: %q claim is not a number", ErrMalformed, name)
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(min(max(i, -maxDate), maxDate), 0), true, nil
	}
	f, err := n.Float64()
	if err != nil && !math.IsInf(f, 0) {
		return time.Time{}, false, fmt.Errorf("%w: %q claim is not a number", ErrMalformed, name)
	}
	f = min(max(f, -maxDate), maxDate)
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true, nil
}

func checkIssuer(c map[string]any, issuers []string) error {
	v, ok := c["iss"]
	if !ok {
		return fmt.Errorf(`%w: no "iss" claim`, ErrIssuer)
	}
	iss, ok := v.(string)
	if !ok {
		return fmt.Errorf(`%w: "iss" claim is not a string`, ErrMalformed)
	}
	if !contains(issuers, iss) {
		return fmt.Errorf("%w: %s", ErrIssuer, quote(iss))
	}
	return nil
}

// checkAudience accepts "aud" as one string or an array of strings
// (RFC 7519 section 4.1.3).
func checkAudience(c map[string]any, audiences []string) error {
	var aud []any
	switch v := c["aud"].(type) {
	case nil:
		if _, ok := c["aud"]; !ok {
			return fmt.Errorf(`%w: no "aud" claim`, ErrAudience)
		}
		return fmt.Errorf(`%w: "aud" claim is null`, ErrMalformed)
	case string:
		aud = []any{v}
	case []any:
		aud = v
	default:
		return fmt.Errorf(`%w: "aud" claim is neither a string nor an array`, ErrMalformed)
	}
	// Check every member's type before matching, so that whether a token
	// is malformed does not depend on where the accepted audience sits.
	for _, a := range aud {
		if _, ok := a.(string); !ok {
			return fmt.Errorf(`%w: "aud" array holds a non-string`, ErrMalformed)
		}
	}
	for _, a := range aud {
		if contains(audiences, a.(string)) {
			return nil
		}
	}
	return fmt.Errorf("%w: none of the token's %d audience(s) is accepted", ErrAudience, len(aud))
}
