// Package jwt verifies JSON Web Tokens (RFC 7519) in JWS compact form
// (RFC 7515) for the gateway's JWT policy plugin.
//
// It is written against the standard library alone and does no I/O, starts
// no goroutines and never reads the clock (the caller passes the time), so
// the same code runs in a GOOS=wasip1 Proxy-Wasm plugin and in host tests.
//
// Verification is deliberately narrow: a fixed allow-list of algorithms
// (HS256/384/512, RS256/384/512, ES256/384, EdDSA), never "none"; keys are
// matched to algorithms by their type, so a public key can never be used
// as an HMAC secret; keys embedded in or referenced by the token ("jwk",
// "jku", "x5c", "x5u") are ignored, since trusting them would let the
// token vouch for itself.
package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors returned by Verify, each wrapped with detail; test with errors.Is.
// A missing claim that Options require reports the error of that claim
// (ErrExpired for exp under RequireExp, ErrIssuer, ErrAudience); a claim of
// the wrong JSON type is ErrMalformed. ErrNoKey means no key in the set can
// verify the token's algorithm at all, ErrSignature that some could and
// none did.
var (
	ErrMalformed      = errors.New("jwt: malformed token")
	ErrAlgorithm      = errors.New("jwt: algorithm not accepted")
	ErrNoKey          = errors.New("jwt: no key for token")
	ErrSignature      = errors.New("jwt: invalid signature")
	ErrExpired        = errors.New("jwt: token expired")
	ErrNotYetValid    = errors.New("jwt: token not yet valid")
	ErrIssuedInFuture = errors.New("jwt: token issued in the future")
	ErrIssuer         = errors.New("jwt: issuer not accepted")
	ErrAudience       = errors.New("jwt: audience not accepted")
)

// maxTokenLen bounds the work an oversized header can cause; real tokens
// are a few kilobytes at most.
const maxTokenLen = 64 << 10

// Options says which tokens Verify accepts beyond a valid signature.
type Options struct {
	// Algorithms, when non-empty, narrows the algorithms accepted.
	Algorithms []string
	// Issuers, when non-empty, lists the accepted "iss" values; the
	// claim is then required.
	Issuers []string
	// Audiences, when non-empty, lists accepted "aud" values; the claim is
	// then required and must contain at least one of them.
	Audiences []string
	// ClockSkew is the leeway for exp, nbf and iat; negative means zero.
	ClockSkew time.Duration
	// RequireExp rejects tokens without an "exp" claim.
	RequireExp bool
}

// Verify checks token's signature against keys and its claims against opts
// at time now, and returns the claims when all is well.
//
// The checks run in a fixed order (form, algorithm, key, signature, then
// claims) so that nothing in an unauthenticated payload is interpreted
// before its signature has been verified.
func Verify(token string, keys KeySet, opts Options, now time.Time) (*Claims, error) {
	p, h, a, err := precheck(token, opts)
	if err != nil {
		return nil, err
	}
	k, err := keys.verify(a, h.kid, p.input, p.sig)
	if err != nil {
		return nil, err
	}
	raw, err := parseClaims(p.payload)
	if err != nil {
		return nil, err
	}
	if err := opts.validate(raw, now); err != nil {
		return nil, err
	}
	return &Claims{Raw: raw, Alg: a.name, KeyID: k.ID}, nil
}

// Precheck makes the checks of Verify that need no key: the token's form,
// its header and its algorithm. A token it refuses is refused whatever
// keys there are, so it can be answered while none are at hand.
func Precheck(token string, opts Options) error {
	_, _, _, err := precheck(token, opts)
	return err
}

// precheck is Verify's first steps: the token cut and decoded, its
// header, and the algorithm the options allow for it.
func precheck(token string, opts Options) (parts, header, *algorithm, error) {
	p, err := split(token)
	if err != nil {
		return parts{}, header{}, nil, err
	}
	h, err := parseHeader(p.header)
	if err != nil {
		return parts{}, header{}, nil, err
	}
	a, err := opts.algorithm(h.alg)
	return p, h, a, err
}

// parts is a token cut at its dots and decoded.
type parts struct {
	input                []byte // "header.payload" as sent: what was signed
	header, payload, sig []byte
}

var b64 = base64.RawURLEncoding.Strict()

func split(token string) (parts, error) {
	if len(token) > maxTokenLen {
		return parts{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || first == last || strings.IndexByte(token[first+1:last], '.') >= 0 {
		return parts{}, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	// encoding/base64 skips CR and LF, so check the alphabet first: one
	// token must have exactly one spelling.
	for i := 0; i < len(token); i++ {
		if c := token[i]; c != '.' && !isBase64URL(c) {
			return parts{}, fmt.Errorf("%w: invalid character at offset %d", ErrMalformed, i)
		}
	}
	b := []byte(token)
	p := parts{input: b[:last]}
	dec := make([]byte, b64.DecodedLen(len(b)))
	var err error
	if p.header, dec, err = decodePart(dec, b[:first], "header"); err != nil {
		return parts{}, err
	}
	if p.payload, dec, err = decodePart(dec, b[first+1:last], "payload"); err != nil {
		return parts{}, err
	}
	if p.sig, _, err = decodePart(dec, b[last+1:], "signature"); err != nil {
		return parts{}, err
	}
	return p, nil
}

// decodePart decodes src into the front of buf and returns the rest of buf
// for the next part, so that one allocation serves all three.
func decodePart(buf, src []byte, name string) (part, rest []byte, err error) {
	n, err := b64.Decode(buf, src)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s is not base64url", ErrMalformed, name)
	}
	return buf[:n:n], buf[n:], nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

type header struct {
	alg, kid string
}

func parseHeader(data []byte) (header, error) {
	// A map keeps member names exact; decoding into a struct would let
	// "ALG" stand in for "alg".
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return header{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	// RFC 7515 section 4.1.11: a verifier must reject extensions it does
	// not understand, and this one understands none (b64=false included).
	if _, ok := m["crit"]; ok {
		return header{}, fmt.Errorf(`%w: "crit" header names extensions this verifier does not support`, ErrMalformed)
	}
	var h header
	var err error
	if h.alg, err = headerString(m, "alg"); err != nil {
		return header{}, err
	}
	if h.alg == "" {
		return header{}, fmt.Errorf(`%w: header has no "alg"`, ErrMalformed)
	}
	if h.kid, err = headerString(m, "kid"); err != nil {
		return header{}, err
	}
	return h, nil
}

func headerString(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: header %q is not a string", ErrMalformed, name)
	}
	return s, nil
}

func (o *Options) algorithm(alg string) (*algorithm, error) {
	a, ok := algorithms[alg]
	switch {
	case strings.EqualFold(alg, "none"):
		return nil, fmt.Errorf(`%w: unsigned tokens (alg "none") are never accepted`, ErrAlgorithm)
	case !ok:
		return nil, fmt.Errorf("%w: unsupported alg %s", ErrAlgorithm, quote(alg))
	case len(o.Algorithms) > 0 && !contains(o.Algorithms, alg):
		return nil, fmt.Errorf("%w: alg %s is not allowed", ErrAlgorithm, alg)
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseClaims decodes the payload keeping numbers as json.Number, so that
// large integers and fractions survive exactly.
func parseClaims(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the payload's JSON object", ErrMalformed)
	}
	return m, nil
}

// quote renders a token-supplied string for an error message: quoted, so
// it can't forge log lines, and cut short, so it can't flood them.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
