package jwt

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ParseJWKS reads a JSON Web Key Set (RFC 7517 section 5).
//
// Entries this package cannot use are skipped and counted in skipped, so a
// set published for many consumers still loads: another kty or curve, an
// alg outside the allow-list, "use": "enc", or "key_ops" without "verify".
// An entry that is broken (missing or undecodable members, a point off its
// curve, a weak key, an alg that does not match the key, private key
// material) fails the whole set with an error naming its index, because
// silently dropping it could leave the gateway rejecting valid tokens with
// nothing in the log to say why.
func ParseJWKS(data []byte) (set KeySet, skipped int, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		return nil, 0, errors.New("jwt: JWKS is not a JSON object")
	}
	raw, ok := doc["keys"]
	if !ok {
		return nil, 0, errors.New(`jwt: JWKS has no "keys" member`)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, 0, errors.New(`jwt: JWKS "keys" is not an array`)
	}
	for i, e := range entries {
		k, usable, err := parseJWK(e)
		if err != nil {
			return nil, 0, fmt.Errorf("jwt: JWKS key %d%s: %v", i, kidNote(e), err)
		}
		if !usable {
			skipped++
			continue
		}
		set = append(set, k)
	}
	return set, skipped, nil
}

// kidNote adds the kid to an error message, when there is one, to help
// find the entry in a long set.
func kidNote(entry json.RawMessage) string {
	var v struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(entry, &v) != nil || v.Kid == "" {
		return ""
	}
	return fmt.Sprintf(" (kid %q)", v.Kid)
}

// jwk holds one entry's members by their exact names; encoding/json's
// struct decoding would also match "D" or "KTY", which RFC 7517 treats as
// different (case-sensitive) members.
type jwk map[string]json.RawMessage

func parseJWK(raw json.RawMessage) (k Key, usable bool, err error) {
	var m jwk
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return Key{}, false, errors.New("not a JSON object")
	}
	kty, err := m.str("kty")
	if err != nil {
		return Key{}, false, err
	}
	if kty == "" {
		return Key{}, false, errors.New(`missing "kty"`)
	}
	kid, err := m.str("kid")
	if err != nil {
		return Key{}, false, err
	}
	alg, err := m.str("alg")
	if err != nil {
		return Key{}, false, err
	}
	if ok, err := m.forVerifying(); !ok || err != nil {
		return Key{}, false, err
	}
	if alg != "" && !Supported(alg) {
		return Key{}, false, nil
	}
	material, err := m.material(kty)
	if material == nil || err != nil {
		return Key{}, false, err
	}
	k, err = newKey(kid, alg, material)
	return k, err == nil, err
}

// forVerifying reads "use" and "key_ops" (RFC 7517 sections 4.2, 4.3) and
// reports whether they allow signature verification.
func (m jwk) forVerifying() (bool, error) {
	use, err := m.str("use")
	if err != nil || use == "enc" {
		return false, err
	}
	raw, ok := m["key_ops"]
	if !ok {
		return true, nil
	}
	var ops []string
	if err := json.Unmarshal(raw, &ops); err != nil {
		return false, errors.New(`"key_ops" is not an array of strings`)
	}
	for _, op := range ops {
		if op == "verify" {
			return true, nil
		}
	}
	return false, nil
}

// material decodes the public part of the key. It returns nil and no error
// for a kty or curve this package does not support.
func (m jwk) material(kty string) (any, error) {
	if kty != "oct" {
		// Private members in a set meant for verifiers are a leak at the
		// publisher; refusing the set makes someone notice.
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth"} {
			if _, ok := m[private]; ok {
				return nil, fmt.Errorf("contains private key member %q; publish public keys only", private)
			}
		}
	}
	switch kty {
	case "RSA":
		return m.rsa()
	case "EC":
		return m.ec()
	case "OKP":
		return m.okp()
	case "oct":
		return m.bytes("k")
	}
	return nil, nil
}

func (m jwk) rsa() (any, error) {
	n, err := m.bytes("n")
	if err != nil {
		return nil, err
	}
	e, err := m.bytes("e")
	if err != nil {
		return nil, err
	}
	e = trimLeadingZeros(e)
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New(`"e" is not a valid RSA exponent`)
	}
	exp := 0
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

func trimLeadingZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

func (m jwk) ec() (any, error) {
	crv, err := m.str("crv")
	if err != nil {
		return nil, err
	}
	var curve elliptic.Curve
	var check ecdh.Curve
	switch crv {
	case "P-256":
		curve, check = elliptic.P256(), ecdh.P256()
	case "P-384":
		curve, check = elliptic.P384(), ecdh.P384()
	case "":
		return nil, errors.New(`missing "crv"`)
	default:
		return nil, nil
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := m.coordinate("x", size)
	if err != nil {
		return nil, err
	}
	y, err := m.coordinate("y", size)
	if err != nil {
		return nil, err
	}
	// crypto/ecdh validates the point; an off-curve point is the classic
	// invalid-curve mistake and must not reach ECDSA.
	point := append(append([]byte{4}, x...), y...)
	if _, err := check.NewPublicKey(point); err != nil {
		return nil, fmt.Errorf("point is not on curve %s", crv)
	}
	return &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
}

// coordinate decodes an EC coordinate, which RFC 7518 section 6.2.1.2
// requires to be the full size of the curve's field.
func (m jwk) coordinate(name string, size int) ([]byte, error) {
	b, err := m.bytes(name)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%q is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}

func (m jwk) okp() (any, error) {
	crv, err := m.str("crv")
	if err != nil {
		return nil, err
	}
	switch crv {
	case "Ed25519":
	case "":
		return nil, errors.New(`missing "crv"`)
	default:
		return nil, nil // Ed448, X25519, X448
	}
	x, err := m.bytes("x")
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(x), nil
}

// str returns a string member, or "" when it is absent.
func (m jwk) str(name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// bytes returns a required base64url member. Padding is tolerated because
// some publishers add it despite RFC 7515 section 2.
func (m jwk) bytes(name string) ([]byte, error) {
	if _, ok := m[name]; !ok {
		return nil, fmt.Errorf("missing %q", name)
	}
	s, err := m.str(name)
	if err != nil {
		return nil, err
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%q is empty or not base64url", name)
	}
	return b, nil
}
