package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"math/big"
)

// family groups algorithms by the kind of key they need. Matching a key to
// an algorithm by family (never by "whatever bytes the key has") is what
// makes the HS256-with-an-RSA-public-key confusion impossible.
type family int

const (
	familyHMAC family = iota + 1
	familyRSA
	familyEC
	familyEd25519
)

type algorithm struct {
	name    string
	family  family
	hash    crypto.Hash      // for RSA: the DigestInfo the signature commits to
	newHash func() hash.Hash // nil for EdDSA, which hashes internally
	curve   elliptic.Curve   // for ECDSA: the only curve the alg may use
}

// algorithms is the complete allow-list. Anything absent, "none" included,
// is rejected before any key is looked at.
var algorithms = map[string]*algorithm{
	"HS256": {name: "HS256", family: familyHMAC, hash: crypto.SHA256, newHash: sha256.New},
	"HS384": {name: "HS384", family: familyHMAC, hash: crypto.SHA384, newHash: sha512.New384},
	"HS512": {name: "HS512", family: familyHMAC, hash: crypto.SHA512, newHash: sha512.New},
	"RS256": {name: "RS256", family: familyRSA, hash: crypto.SHA256, newHash: sha256.New},
	"RS384": {name: "RS384", family: familyRSA, hash: crypto.SHA384, newHash: sha512.New384},
	"RS512": {name: "RS512", family: familyRSA, hash: crypto.SHA512, newHash: sha512.New},
	"ES256": {name: "ES256", family: familyEC, hash: crypto.SHA256, newHash: sha256.New, curve: elliptic.P256()},
	"ES384": {name: "ES384", family: familyEC, hash: crypto.SHA384, newHash: sha512.New384, curve: elliptic.P384()},
	"EdDSA": {name: "EdDSA", family: familyEd25519},
}

// Supported reports whether alg is one of the algorithms Verify accepts, so
// a plugin can reject a misspelt entry in its allow-list at configure time.
func Supported(alg string) bool {
	_, ok := algorithms[alg]
	return ok
}

// digest hashes the signing input once so that trying several candidate
// keys does not rehash it.
func (a *algorithm) digest(input []byte) []byte {
	if a.newHash == nil || a.family == familyHMAC {
		return nil
	}
	h := a.newHash()
	h.Write(input)
	return h.Sum(nil)
}

// verify checks sig over input with k, which the caller has already matched
// to a through Key.fits.
func (a *algorithm) verify(k *Key, input, digest, sig []byte) bool {
	switch a.family {
	case familyHMAC:
		mac := hmac.New(a.newHash, k.material.([]byte))
		mac.Write(input)
		// hmac.Equal is constant-time, so the comparison leaks nothing
		// about how much of a forged MAC was right.
		return hmac.Equal(mac.Sum(nil), sig)
	case familyRSA:
		return rsa.VerifyPKCS1v15(k.material.(*rsa.PublicKey), a.hash, digest, sig) == nil
	case familyEC:
		return verifyECDSA(k.material.(*ecdsa.PublicKey), digest, sig)
	case familyEd25519:
		return ed25519.Verify(k.material.(ed25519.PublicKey), input, sig)
	}
	return false
}

// verifyECDSA takes the JOSE form of the signature: R and S as fixed-size
// big-endian integers, concatenated (RFC 7518 section 3.4). Requiring the
// exact size also rules out DER-encoded signatures, whose length varies.
func verifyECDSA(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	size := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return false
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	return ecdsa.Verify(pub, digest, r, s)
}
