package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Limits on key material. RFC 7518 requires RSA keys of at least 2048 bits
// (section 3.3) and HMAC secrets at least as long as the hash (section 3.2);
// the upper RSA bound keeps a hostile key from making every verification
// expensive.
const (
	minRSABits   = 2048
	maxRSABits   = 8192
	minSecretLen = 32 // HS256; HS384 and HS512 need 48 and 64
)

// Key is one verification key: an RSA, ECDSA (P-256 or P-384) or Ed25519
// public key, or an HMAC secret. Build it with NewKey, ParsePublicKeyPEM,
// ParseSecret or ParseJWKS; the zero Key verifies nothing.
type Key struct {
	// ID is matched against the token's "kid" header.
	ID string
	// Alg, when set, is the only algorithm this key may verify.
	Alg string

	material any // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
}

// Material returns the key itself: *rsa.PublicKey, *ecdsa.PublicKey,
// ed25519.PublicKey or, for HMAC, the secret as []byte. It is shared with
// the Key and must not be modified.
func (k Key) Material() any { return k.material }

// NewKey checks material and, when alg is set, that alg can use it.
// material is *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or an
// HMAC secret as []byte; slices are copied.
func NewKey(id, alg string, material any) (Key, error) {
	k, err := newKey(id, alg, material)
	if err != nil {
		return Key{}, fmt.Errorf("jwt: %w", err)
	}
	return k, nil
}

// newKey is NewKey with errors left unprefixed, for callers that add their
// own context.
func newKey(id, alg string, material any) (Key, error) {
	m, err := checkMaterial(material)
	if err != nil {
		return Key{}, err
	}
	k := Key{ID: id, Alg: alg, material: m}
	if alg == "" {
		return k, nil
	}
	a, ok := algorithms[alg]
	if !ok {
		return Key{}, fmt.Errorf("unsupported key alg %q", alg)
	}
	if !k.fits(a) {
		return Key{}, fmt.Errorf("alg %s cannot use %s", alg, describe(m))
	}
	return k, nil
}

// checkMaterial rejects key material Verify could not use safely, so that
// mistakes surface when the plugin is configured rather than as 401s.
func checkMaterial(material any) (any, error) {
	switch m := material.(type) {
	case *rsa.PublicKey:
		return m, checkRSA(m)
	case *ecdsa.PublicKey:
		if m == nil || (m.Curve != elliptic.P256() && m.Curve != elliptic.P384()) {
			return nil, errors.New("ECDSA key must use curve P-256 or P-384")
		}
		return m, nil
	case ed25519.PublicKey:
		if len(m) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 key is %d bytes, want %d", len(m), ed25519.PublicKeySize)
		}
		return append(ed25519.PublicKey(nil), m...), nil
	case []byte:
		if len(m) < minSecretLen {
			return nil, fmt.Errorf("HMAC secret is %d bytes, want at least %d", len(m), minSecretLen)
		}
		return append([]byte(nil), m...), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", material)
}

func checkRSA(k *rsa.PublicKey) error {
	if k == nil || k.N == nil {
		return errors.New("empty RSA key")
	}
	if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return fmt.Errorf("RSA key has %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if k.E < 3 || k.E%2 == 0 || k.E > 1<<31-1 {
		return fmt.Errorf("RSA public exponent %d is invalid", k.E)
	}
	return nil
}

// describe names key material in error messages without revealing it.
func describe(m any) string {
	switch m := m.(type) {
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an ECDSA " + m.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case []byte:
		return fmt.Sprintf("a %d-byte HMAC secret", len(m))
	}
	return fmt.Sprintf("%T", m)
}

// fits reports whether k may verify a signature made with a. The key's
// type decides, never its bytes: an RSA key only ever fits RS*, so it can't
// be abused as an HMAC secret.
func (k *Key) fits(a *algorithm) bool {
	if k.Alg != "" && k.Alg != a.name {
		return false
	}
	switch m := k.material.(type) {
	case []byte:
		return a.family == familyHMAC && len(m) >= a.hash.Size()
	case *rsa.PublicKey:
		return a.family == familyRSA
	case *ecdsa.PublicKey:
		return a.family == familyEC && m.Curve == a.curve
	case ed25519.PublicKey:
		return a.family == familyEd25519
	}
	return false
}

// ParsePublicKeyPEM reads one PEM-encoded public key: a PKIX "PUBLIC KEY"
// (RSA, ECDSA or Ed25519) or a PKCS #1 "RSA PUBLIC KEY".
func ParsePublicKeyPEM(id, alg string, data []byte) (Key, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return Key{}, errors.New("jwt: no PEM block found")
	}
	// A second block (say, a pasted certificate chain) would leave it
	// unclear which key was meant.
	if next, _ := pem.Decode(rest); next != nil {
		return Key{}, errors.New("jwt: more than one PEM block; give exactly one public key")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return Key{}, fmt.Errorf("jwt: PEM block is a %s; configure the public key only", block.Type)
		}
		return Key{}, fmt.Errorf("jwt: unsupported PEM block type %q", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("jwt: parsing %s: %v", block.Type, err)
	}
	return NewKey(id, alg, pub)
}

// SecretEncoding says how an HMAC secret is written in configuration.
type SecretEncoding string

const (
	SecretRaw       SecretEncoding = "raw"       // the string's bytes, as is ("" means the same)
	SecretBase64    SecretEncoding = "base64"    // standard alphabet, padding optional
	SecretBase64URL SecretEncoding = "base64url" // URL-safe alphabet, padding optional
)

// ParseSecret builds an HMAC key from a configured secret. Decoded, it must
// be at least 32 bytes, or as long as alg's hash when alg is set; a key
// without alg is used only for the HS* algorithms it is long enough for.
func ParseSecret(id, alg, secret string, enc SecretEncoding) (Key, error) {
	var b []byte
	var err error
	switch enc {
	case "", SecretRaw:
		b = []byte(secret)
	case SecretBase64:
		b, err = decodeLenient(base64.RawStdEncoding, secret)
	case SecretBase64URL:
		b, err = decodeLenient(base64.RawURLEncoding, secret)
	default:
		return Key{}, fmt.Errorf("jwt: unknown secret encoding %q", enc)
	}
	if err != nil {
		return Key{}, fmt.Errorf("jwt: decoding %s secret: %v", enc, err)
	}
	return NewKey(id, alg, b)
}

// decodeLenient accepts base64 with or without padding, since both forms
// turn up in configuration and key documents.
func decodeLenient(enc *base64.Encoding, s string) ([]byte, error) {
	return enc.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
}

// KeySet is the set of keys a token may be verified with.
type KeySet []Key

// verify finds the key that made sig. Keys whose ID equals kid are tried
// first and alone; only when none of them fits the algorithm (or the token
// names no kid) is every fitting key tried, which is what key rotation
// without kids needs. It returns ErrNoKey when no key fits at all and
// ErrSignature when keys fit but none verifies.
func (s KeySet) verify(a *algorithm, kid string, input, sig []byte) (*Key, error) {
	byID := false
	if kid != "" {
		for i := range s {
			if s[i].ID == kid && s[i].fits(a) {
				byID = true
				break
			}
		}
	}
	digest := a.digest(input)
	tried := 0
	for i := range s {
		k := &s[i]
		if !k.fits(a) || (byID && k.ID != kid) {
			continue
		}
		tried++
		if a.verify(k, input, digest, sig) {
			return k, nil
		}
	}
	if tried == 0 {
		return nil, fmt.Errorf("%w: no key for alg %s", ErrNoKey, a.name)
	}
	return nil, fmt.Errorf("%w: %s signature matches none of %d candidate key(s)", ErrSignature, a.name, tried)
}
