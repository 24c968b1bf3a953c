package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// now is the clock for every test; tokens are built around it.
var now = time.Unix(1_700_000_000, 0)

type testKeys struct {
	rsa, rsa2   *rsa.PrivateKey
	p256, p256b *ecdsa.PrivateKey
	p384        *ecdsa.PrivateKey
	ed, ed2     ed25519.PrivateKey
	hs32, hs64  []byte // HMAC secrets: the HS256 and HS512 minimums
	hsOther     []byte
}

// keys generates the test keys once: RSA generation is slow enough under
// -race to matter.
var keys = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p256b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.ed2, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.hs32, k.hs64, k.hsOther = randBytes(32), randBytes(64), randBytes(64)
	return k
})

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func b64e(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// --- test-only signer ---

// signRaw signs header and payload, given as JSON text, with priv.
func signRaw(t testing.TB, alg string, priv any, header, payload string) string {
	t.Helper()
	input := b64e([]byte(header)) + "." + b64e([]byte(payload))
	return input + "." + b64e(signature(t, alg, priv, []byte(input)))
}

func signature(t testing.TB, alg string, priv any, input []byte) []byte {
	t.Helper()
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	h := hashes[alg[len(alg)-3:]]
	digest := func() []byte {
		d := h.New()
		d.Write(input)
		return d.Sum(nil)
	}
	switch k := priv.(type) {
	case []byte:
		mac := hmac.New(h.New, k)
		mac.Write(input)
		return mac.Sum(nil)
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, h, digest())
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest())
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input)
	}
	t.Fatalf("signer: unsupported key %T", priv)
	return nil
}

// sign builds a token; kid is left out of the header when empty.
func sign(t testing.TB, alg, kid string, priv any, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return signRaw(t, alg, priv, mustJSON(t, h), mustJSON(t, claims))
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustKey(t testing.TB, id, alg string, material any) Key {
	t.Helper()
	k, err := NewKey(id, alg, material)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// validClaims are good for an hour around now.
func validClaims() map[string]any {
	return map[string]any{
		"sub": "alice",
		"iss": "https://issuer.example",
		"aud": "gateway",
		"iat": now.Unix() - 60,
		"nbf": now.Unix() - 60,
		"exp": now.Unix() + 3600,
	}
}

type algCase struct {
	alg  string
	priv any
	pub  any
}

func algCases() []algCase {
	k := keys()
	return []algCase{
		{"HS256", k.hs32, k.hs32},
		{"HS384", k.hs64, k.hs64},
		{"HS512", k.hs64, k.hs64},
		{"RS256", k.rsa, &k.rsa.PublicKey},
		{"RS384", k.rsa, &k.rsa.PublicKey},
		{"RS512", k.rsa, &k.rsa.PublicKey},
		{"ES256", k.p256, &k.p256.PublicKey},
		{"ES384", k.p384, &k.p384.PublicKey},
		{"EdDSA", k.ed, k.ed.Public()},
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// --- signatures and algorithms ---

func TestVerifyEveryAlgorithm(t *testing.T) {
	for _, c := range algCases() {
		t.Run(c.alg, func(t *testing.T) {
			set := KeySet{mustKey(t, "k1", "", c.pub)}
			tok := sign(t, c.alg, "k1", c.priv, validClaims())
			got, err := Verify(tok, set, Options{}, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Alg != c.alg || got.KeyID != "k1" || got.Raw["sub"] != "alice" {
				t.Errorf("claims = %+v", got)
			}
		})
	}
}

func TestTamperedTokenFails(t *testing.T) {
	for _, c := range algCases() {
		t.Run(c.alg, func(t *testing.T) {
			set := KeySet{mustKey(t, "", "", c.pub)}
			tok := sign(t, c.alg, "", c.priv, validClaims())
			dot := strings.LastIndexByte(tok, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
			for _, i := range []int{0, len(sig) / 2, len(sig) - 1} {
				bad := append([]byte(nil), sig...)
				bad[i] ^= 0x01
				_, err := Verify(tok[:dot+1]+b64e(bad), set, Options{}, now)
				wantErr(t, err, ErrSignature)
			}
			// A changed claim must break the signature too.
			cl := validClaims()
			cl["sub"] = "mallory"
			forged := tok[:strings.IndexByte(tok, '.')+1] + b64e([]byte(mustJSON(t, cl))) + tok[dot:]
			_, err := Verify(forged, set, Options{}, now)
			wantErr(t, err, ErrSignature)
		})
	}
}

func TestWrongKeyFails(t *testing.T) {
	k := keys()
	cases := []algCase{
		{"HS256", k.hs32, k.hsOther},
		{"RS256", k.rsa, &k.rsa2.PublicKey},
		{"ES256", k.p256, &k.p256b.PublicKey},
		{"EdDSA", k.ed, k.ed2.Public()},
	}
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			tok := sign(t, c.alg, "", c.priv, validClaims())
			_, err := Verify(tok, KeySet{mustKey(t, "", "", c.pub)}, Options{}, now)
			wantErr(t, err, ErrSignature)
		})
	}
}

func TestAlgNoneAndUnsupportedRejected(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32), mustKey(t, "", "", &k.rsa.PublicKey)}
	payload := b64e([]byte(mustJSON(t, validClaims())))
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		hdr := b64e([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		for _, sig := range []string{"", b64e(randBytes(32))} {
			_, err := Verify(hdr+"."+payload+"."+sig, set, Options{}, now)
			wantErr(t, err, ErrAlgorithm)
		}
	}
	for _, alg := range []string{"PS256", "ES512", "HS1", "hs256", "HS256 ", "RSA-OAEP", "Ed25519"} {
		hdr := b64e([]byte(`{"alg":"` + alg + `"}`))
		_, err := Verify(hdr+"."+payload+"."+b64e(randBytes(64)), set, Options{}, now)
		wantErr(t, err, ErrAlgorithm)
	}
}

func TestAllowedAlgorithms(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32), mustKey(t, "", "", &k.rsa.PublicKey)}
	opts := Options{Algorithms: []string{"RS256"}}
	if _, err := Verify(sign(t, "RS256", "", k.rsa, validClaims()), set, opts, now); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(sign(t, "HS256", "", k.hs32, validClaims()), set, opts, now)
	wantErr(t, err, ErrAlgorithm)
	if !Supported("ES384") || Supported("none") || Supported("PS256") {
		t.Error("Supported disagrees with the allow-list")
	}
}

// TestAlgConfusion is the classic attack: the verifier holds an RSA public
// key, and the attacker signs an HS256 token using that public key's bytes
// as the HMAC secret.
func TestAlgConfusion(t *testing.T) {
	k := keys()
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkixPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1})

	for name, data := range map[string][]byte{"pkix": pkixPEM, "pkcs1": pkcs1PEM} {
		rsaKey, err := ParsePublicKeyPEM("rsa", "", data)
		if err != nil {
			t.Fatal(err)
		}
		set := KeySet{rsaKey}
		opts := Options{Algorithms: []string{"RS256", "HS256", "HS384", "HS512"}}
		for _, secret := range [][]byte{data, der, pkcs1, []byte(strings.TrimSpace(string(data)))} {
			for _, alg := range []string{"HS256", "HS512"} {
				tok := sign(t, alg, "rsa", secret, validClaims())
				_, err := Verify(tok, set, opts, now)
				wantErr(t, err, ErrNoKey)
			}
		}
		t.Run(name, func(t *testing.T) {
			if _, err := Verify(sign(t, "RS256", "rsa", k.rsa, validClaims()), set, opts, now); err != nil {
				t.Fatalf("genuine RS256 token: %v", err)
			}
		})
	}

	// Same idea with EC and Ed25519 public keys as secrets.
	ecDER, _ := x509.MarshalPKIXPublicKey(&k.p256.PublicKey)
	edDER, _ := x509.MarshalPKIXPublicKey(k.ed.Public())
	set := KeySet{mustKey(t, "", "", &k.p256.PublicKey), mustKey(t, "", "", k.ed.Public())}
	for _, secret := range [][]byte{ecDER, edDER, k.ed.Public().(ed25519.PublicKey)} {
		_, err := Verify(sign(t, "HS256", "", secret, validClaims()), set, Options{}, now)
		wantErr(t, err, ErrNoKey)
	}
}

func TestKeyMustFitAlgorithm(t *testing.T) {
	k := keys()
	// ES256 needs P-256: a P-384 key does not fit, nor does ES384 take P-256.
	_, err := Verify(sign(t, "ES256", "", k.p256, validClaims()), KeySet{mustKey(t, "", "", &k.p384.PublicKey)}, Options{}, now)
	wantErr(t, err, ErrNoKey)
	// A key restricted to RS256 is not used for RS512.
	_, err = Verify(sign(t, "RS512", "", k.rsa, validClaims()), KeySet{mustKey(t, "", "RS256", &k.rsa.PublicKey)}, Options{}, now)
	wantErr(t, err, ErrNoKey)
	// A 32-byte secret is too short for HS512 (RFC 7518 section 3.2).
	_, err = Verify(sign(t, "HS512", "", k.hs32, validClaims()), KeySet{mustKey(t, "", "", k.hs32)}, Options{}, now)
	wantErr(t, err, ErrNoKey)
	// An empty key set has no key for anything.
	_, err = Verify(sign(t, "HS256", "", k.hs32, validClaims()), nil, Options{}, now)
	wantErr(t, err, ErrNoKey)
	// Even if someone sets Alg on a key after construction, the key's type
	// still decides.
	rsaKey := mustKey(t, "", "", &k.rsa.PublicKey)
	rsaKey.Alg = "HS256"
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	_, err = Verify(sign(t, "HS256", "", der, validClaims()), KeySet{rsaKey}, Options{}, now)
	wantErr(t, err, ErrNoKey)
}

func TestES256ASN1SignatureRejected(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", &k.p256.PublicKey)}
	input := b64e([]byte(`{"alg":"ES256"}`)) + "." + b64e([]byte(mustJSON(t, validClaims())))
	h := crypto.SHA256.New()
	h.Write([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, k.p256, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(&k.p256.PublicKey, h.Sum(nil), der) {
		t.Fatal("test signature itself is bad")
	}
	_, err = Verify(input+"."+b64e(der), set, Options{}, now)
	wantErr(t, err, ErrSignature)

	// R||S padded to the wrong size is rejected too.
	raw := signature(t, "ES256", k.p256, []byte(input))
	_, err = Verify(input+"."+b64e(append([]byte{0}, raw...)), set, Options{}, now)
	wantErr(t, err, ErrSignature)
}

// --- form ---

func TestMalformed(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32)}
	good := sign(t, "HS256", "", k.hs32, validClaims())
	p := strings.Split(good, ".")
	hs := func(header, payload string) string { return signRaw(t, "HS256", k.hs32, header, payload) }
	claims := mustJSON(t, validClaims())
	cases := map[string]string{
		"empty":             "",
		"one part":          p[0],
		"two parts":         p[0] + "." + p[1],
		"four parts":        good + "." + p[2],
		"JWE-like":          p[0] + "." + p[1] + "." + p[1] + "." + p[1] + "." + p[2],
		"padding":           p[0] + "=." + p[1] + "." + p[2],
		"newline":           p[0] + "." + p[1][:5] + "\n" + p[1][5:] + "." + p[2],
		"space":             " " + good,
		"std alphabet":      p[0] + "." + p[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(p[2]) + "+",
		"bad base64 length": p[0] + "x." + p[1] + "." + p[2],
		"header not JSON":   hs(`{"alg":"HS256"`, claims),
		"header array":      hs(`["HS256"]`, claims),
		"header null":       hs(`null`, claims),
		"no alg":            hs(`{"typ":"JWT"}`, claims),
		"alg not string":    hs(`{"alg":256}`, claims),
		"kid not string":    hs(`{"alg":"HS256","kid":7}`, claims),
		"crit":              hs(`{"alg":"HS256","crit":["exp"],"exp":1}`, claims),
		"b64 false":         hs(`{"alg":"HS256","b64":false,"crit":["b64"]}`, claims),
		"payload null":      hs(`{"alg":"HS256"}`, `null`),
		"payload array":     hs(`{"alg":"HS256"}`, `[1]`),
		"payload string":    hs(`{"alg":"HS256"}`, `"x"`),
		"trailing data":     hs(`{"alg":"HS256"}`, `{"sub":"a"} {"sub":"b"}`),
		"trailing brace":    hs(`{"alg":"HS256"}`, `{"sub":"a"}}`),
		"exp string":        hs(`{"alg":"HS256"}`, `{"exp":"1700003600"}`),
		"nbf bool":          hs(`{"alg":"HS256"}`, `{"nbf":true}`),
		"too long":          hs(`{"alg":"HS256"}`, `{"x":"`+strings.Repeat("a", maxTokenLen)+`"}`),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(tok, set, Options{}, now)
			wantErr(t, err, ErrMalformed)
		})
	}
	// Exact member names: "ALG" is not "alg".
	_, err := Verify(hs(`{"ALG":"HS256"}`, claims), set, Options{}, now)
	wantErr(t, err, ErrMalformed)
	// Trailing whitespace after the payload is fine.
	if _, err := Verify(hs(`{"alg":"HS256"}`, claims+" \n"), set, Options{}, now); err != nil {
		t.Fatal(err)
	}
}

func TestErrorMessagesAreBounded(t *testing.T) {
	hdr := b64e([]byte(`{"alg":"` + strings.Repeat(`\n`, 1000) + `"}`))
	_, err := Verify(hdr+".e30.", nil, Options{}, now)
	wantErr(t, err, ErrAlgorithm)
	if msg := err.Error(); len(msg) > 500 || strings.Contains(msg, "\n") {
		t.Errorf("message not bounded or has raw newlines: %q", msg)
	}
}

// --- claims ---

func TestTimeClaims(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32)}
	sec := now.Unix()
	skew := 30 * time.Second
	ns := time.Nanosecond
	cases := []struct {
		name   string
		claims string
		skew   time.Duration
		at     time.Time
		want   error
	}{
		{"no time claims", `{}`, 0, now, nil},
		{"exp ahead", fmt.Sprintf(`{"exp":%d}`, sec+1), 0, now, nil},
		{"exp just ahead", fmt.Sprintf(`{"exp":%d}`, sec), 0, now.Add(-ns), nil},
		{"exp equal to now", fmt.Sprintf(`{"exp":%d}`, sec), 0, now, ErrExpired},
		{"exp past", fmt.Sprintf(`{"exp":%d}`, sec-1), 0, now, ErrExpired},
		{"exp within skew", fmt.Sprintf(`{"exp":%d}`, sec), skew, now.Add(skew - ns), nil},
		{"exp at skew", fmt.Sprintf(`{"exp":%d}`, sec), skew, now.Add(skew), ErrExpired},
		{"negative skew is zero", fmt.Sprintf(`{"exp":%d}`, sec), -skew, now.Add(-ns), nil},
		{"exp fraction ahead", fmt.Sprintf(`{"exp":%d.5}`, sec), 0, now.Add(500*time.Millisecond - ns), nil},
		{"exp fraction reached", fmt.Sprintf(`{"exp":%d.5}`, sec), 0, now.Add(500 * time.Millisecond), ErrExpired},
		{"exp exponent form", `{"exp":1.7000036e9}`, 0, now, nil},
		{"exp huge", `{"exp":1e400}`, 0, now, nil},
		{"exp huge int", `{"exp":99999999999999999999999}`, 0, now, nil},
		{"exp max int64", `{"exp":9223372036854775807}`, 0, now, nil},
		{"exp very negative", `{"exp":-1e400}`, 0, now, ErrExpired},

		{"nbf equal to now", fmt.Sprintf(`{"nbf":%d}`, sec), 0, now, nil},
		{"nbf ahead", fmt.Sprintf(`{"nbf":%d}`, sec), 0, now.Add(-ns), ErrNotYetValid},
		{"nbf at skew", fmt.Sprintf(`{"nbf":%d}`, sec), skew, now.Add(-skew), nil},
		{"nbf beyond skew", fmt.Sprintf(`{"nbf":%d}`, sec), skew, now.Add(-skew - ns), ErrNotYetValid},
		{"nbf fraction", fmt.Sprintf(`{"nbf":%d.25}`, sec), 0, now.Add(250 * time.Millisecond), nil},
		{"nbf fraction ahead", fmt.Sprintf(`{"nbf":%d.25}`, sec), 0, now.Add(250*time.Millisecond - ns), ErrNotYetValid},
		{"nbf max int64", `{"nbf":9223372036854775807}`, 0, now, ErrNotYetValid},
		{"nbf huge float", `{"nbf":1e300}`, 0, now, ErrNotYetValid},

		{"iat equal to now", fmt.Sprintf(`{"iat":%d}`, sec), 0, now, nil},
		{"iat past", fmt.Sprintf(`{"iat":%d}`, sec-3600), 0, now, nil},
		{"iat ahead", fmt.Sprintf(`{"iat":%d}`, sec), 0, now.Add(-ns), ErrIssuedInFuture},
		{"iat at skew", fmt.Sprintf(`{"iat":%d}`, sec), skew, now.Add(-skew), nil},
		{"iat beyond skew", fmt.Sprintf(`{"iat":%d}`, sec), skew, now.Add(-skew - ns), ErrIssuedInFuture},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := signRaw(t, "HS256", k.hs32, `{"alg":"HS256"}`, c.claims)
			_, err := Verify(tok, set, Options{ClockSkew: c.skew}, c.at)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, c.want)
		})
	}
}

func TestRequireExp(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32)}
	tok := signRaw(t, "HS256", k.hs32, `{"alg":"HS256"}`, `{"sub":"a"}`)
	if _, err := Verify(tok, set, Options{}, now); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(tok, set, Options{RequireExp: true}, now)
	wantErr(t, err, ErrExpired)
	if _, err := Verify(sign(t, "HS256", "", k.hs32, validClaims()), set, Options{RequireExp: true}, now); err != nil {
		t.Fatal(err)
	}
}

func TestIssuer(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32)}
	opts := Options{Issuers: []string{"https://a.example", "https://issuer.example"}}
	cases := []struct {
		claims string
		want   error
	}{
		{`{"iss":"https://issuer.example"}`, nil},
		{`{"iss":"https://a.example"}`, nil},
		{`{"iss":"https://ISSUER.example"}`, ErrIssuer},
		{`{"iss":"https://issuer.example/"}`, ErrIssuer},
		{`{"iss":""}`, ErrIssuer},
		{`{}`, ErrIssuer},
		{`{"iss":["https://issuer.example"]}`, ErrMalformed},
	}
	for _, c := range cases {
		tok := signRaw(t, "HS256", k.hs32, `{"alg":"HS256"}`, c.claims)
		_, err := Verify(tok, set, opts, now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: error = %v, want %v", c.claims, err, c.want)
		}
	}
	// Without Issuers, iss is not looked at.
	tok := signRaw(t, "HS256", k.hs32, `{"alg":"HS256"}`, `{"iss":5}`)
	if _, err := Verify(tok, set, Options{}, now); err != nil {
		t.Fatal(err)
	}
}

func TestAudience(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32)}
	opts := Options{Audiences: []string{"gateway", "api"}}
	cases := []struct {
		claims string
		want   error
	}{
		{`{"aud":"gateway"}`, nil},
		{`{"aud":"api"}`, nil},
		{`{"aud":["other","api"]}`, nil},
		{`{"aud":["api"]}`, nil},
		{`{"aud":"Gateway"}`, ErrAudience},
		{`{"aud":"other"}`, ErrAudience},
		{`{"aud":["other","more"]}`, ErrAudience},
		{`{"aud":[]}`, ErrAudience},
		{`{}`, ErrAudience},
		{`{"aud":null}`, ErrMalformed},
		{`{"aud":7}`, ErrMalformed},
		{`{"aud":["api",7]}`, ErrMalformed},
		{`{"aud":{"x":"api"}}`, ErrMalformed},
	}
	for _, c := range cases {
		tok := signRaw(t, "HS256", k.hs32, `{"alg":"HS256"}`, c.claims)
		_, err := Verify(tok, set, opts, now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: error = %v, want %v", c.claims, err, c.want)
		}
	}
}

func TestClaimsCheckedOnlyAfterSignature(t *testing.T) {
	k := keys()
	set := KeySet{mustKey(t, "", "", k.hs32)}
	tok := signRaw(t, "HS256", k.hsOther, `{"alg":"HS256"}`, `{"exp":1}`)
	_, err := Verify(tok, set, Options{}, now)
	wantErr(t, err, ErrSignature)
}

// --- keys and key sets ---

func TestKidLookupAndFallback(t *testing.T) {
	k := keys()
	set := KeySet{
		mustKey(t, "a", "", k.hs32),
		mustKey(t, "b", "", k.hsOther),
		mustKey(t, "r", "", &k.rsa.PublicKey),
		mustKey(t, "", "", k.hs64),
	}
	cases := []struct {
		name, kid string
		secret    []byte
		wantKey   string
		wantErr   error
	}{
		{"kid found", "b", k.hsOther, "b", nil},
		{"kid not found falls back", "zzz", k.hsOther, "b", nil},
		{"no kid falls back", "", k.hs32, "a", nil},
		{"fallback reaches key without ID", "", k.hs64, "", nil},
		{"kid found but wrong key: no fallback", "a", k.hsOther, "", ErrSignature},
		{"kid names a key of another type", "r", k.hsOther, "b", nil},
		{"no key verifies", "", randBytes(32), "", ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(sign(t, "HS256", c.kid, c.secret, validClaims()), set, Options{}, now)
			if c.wantErr != nil {
				wantErr(t, err, c.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyID != c.wantKey {
				t.Errorf("verified by %q, want %q", got.KeyID, c.wantKey)
			}
		})
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := keys()
	pkix := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	good := []struct {
		alg  string
		priv any
		pem  []byte
	}{
		{"RS256", k.rsa, pkix(&k.rsa.PublicKey)},
		{"RS384", k.rsa, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})},
		{"ES256", k.p256, pkix(&k.p256.PublicKey)},
		{"ES384", k.p384, pkix(&k.p384.PublicKey)},
		{"EdDSA", k.ed, pkix(k.ed.Public())},
	}
	for _, g := range good {
		key, err := ParsePublicKeyPEM("id", g.alg, append([]byte("comment before\n"), g.pem...))
		if err != nil {
			t.Fatalf("%s: %v", g.alg, err)
		}
		if _, err := Verify(sign(t, g.alg, "", g.priv, validClaims()), KeySet{key}, Options{}, now); err != nil {
			t.Errorf("%s: %v", g.alg, err)
		}
	}

	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.p256)
	bad := []struct {
		name, alg string
		data      []byte
	}{
		{"not PEM", "", []byte("hello")},
		{"private key", "", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})},
		{"two blocks", "", append(pkix(&k.rsa.PublicKey), pkix(&k.p256.PublicKey)...)},
		{"certificate", "", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})},
		{"garbage DER", "", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})},
		{"P-521", "", pkix(&p521.PublicKey)},
		{"RSA 1024", "", pkix(&small.PublicKey)},
		{"alg mismatch", "ES256", pkix(&k.rsa.PublicKey)},
		{"unknown alg", "PS256", pkix(&k.rsa.PublicKey)},
		{"alg for other curve", "ES256", pkix(&k.p384.PublicKey)},
	}
	for _, c := range bad {
		if _, err := ParsePublicKeyPEM("", c.alg, c.data); err == nil {
			t.Errorf("%s: accepted", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestParseSecret(t *testing.T) {
	k := keys()
	secret := k.hs64
	std := base64.StdEncoding.EncodeToString(secret)
	url := base64.URLEncoding.EncodeToString(secret)
	raw := "this is a raw secret that is long enough"
	for _, c := range []struct {
		in   string
		enc  SecretEncoding
		want []byte
	}{
		{raw, "", []byte(raw)},
		{raw, SecretRaw, []byte(raw)},
		{std, SecretBase64, secret},
		{strings.TrimRight(std, "="), SecretBase64, secret},
		{" " + std + "\n", SecretBase64, secret},
		{url, SecretBase64URL, secret},
		{strings.TrimRight(url, "="), SecretBase64URL, secret},
	} {
		key, err := ParseSecret("s", "", c.in, c.enc)
		if err != nil {
			t.Fatalf("%q (%s): %v", c.in, c.enc, err)
		}
		if string(key.Material().([]byte)) != string(c.want) {
			t.Errorf("%q (%s): wrong secret", c.in, c.enc)
		}
	}
	for _, c := range []struct{ in, alg, enc string }{
		{"short", "", ""},
		{strings.Repeat("x", 31), "", "raw"},
		{strings.Repeat("x", 32), "HS384", "raw"},
		{strings.Repeat("x", 64), "RS256", "raw"},
		{std, "", "hex"},
		{"***not base64***********************************", "", "base64"},
		{"ab+/" + strings.Repeat("A", 60), "", "base64url"}, // "+/" are the standard alphabet
	} {
		if _, err := ParseSecret("", c.alg, c.in, SecretEncoding(c.enc)); err == nil {
			t.Errorf("%q alg %q enc %q: accepted", c.in, c.alg, c.enc)
		}
	}
}

func TestNewKeyRejects(t *testing.T) {
	k := keys()
	for name, m := range map[string]any{
		"private RSA":     k.rsa,
		"RSA value":       k.rsa.PublicKey,
		"nil RSA":         (*rsa.PublicKey)(nil),
		"even exponent":   &rsa.PublicKey{N: k.rsa.N, E: 65536},
		"short ed25519":   ed25519.PublicKey(make([]byte, 31)),
		"string":          "secret",
		"nil":             nil,
		"empty secret":    []byte{},
		"P-521":           &mustP521().PublicKey,
		"nil ecdsa":       (*ecdsa.PublicKey)(nil),
		"ed25519 private": k.ed,
	} {
		if _, err := NewKey("", "", m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The secret is copied: changing the caller's slice changes nothing.
	s := append([]byte(nil), k.hs32...)
	key := mustKey(t, "", "", s)
	s[0] ^= 0xff
	if _, err := Verify(sign(t, "HS256", "", k.hs32, validClaims()), KeySet{key}, Options{}, now); err != nil {
		t.Fatal(err)
	}
}

func mustP521() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// --- JWKS ---

func rsaJWK(pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "n": b64e(pub.N.Bytes()), "e": b64e(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(pub *ecdsa.PublicKey) map[string]any {
	size := (pub.Curve.Params().BitSize + 7) / 8
	return map[string]any{
		"kty": "EC", "crv": pub.Curve.Params().Name,
		"x": b64e(pub.X.FillBytes(make([]byte, size))),
		"y": b64e(pub.Y.FillBytes(make([]byte, size))),
	}
}

func with(m map[string]any, kv ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func jwksDoc(t testing.TB, entries ...map[string]any) []byte {
	return []byte(mustJSON(t, map[string]any{"keys": entries}))
}

// TestJWKSAppendixA1 follows the shape of RFC 7517 appendix A.1 (an EC key
// for encryption and an RSA signing key) with keys generated here.
func TestJWKSAppendixA1(t *testing.T) {
	k := keys()
	ec := ecJWK(&k.p256.PublicKey)
	r := rsaJWK(&k.rsa.PublicKey)
	doc := fmt.Sprintf(`{"keys":
	 [
	  {"kty":"EC",
	   "crv":"P-256",
	   "x":%q,
	   "y":%q,
	   "use":"enc",
	   "kid":"1"},

	  {"kty":"RSA",
	   "n": %q,
	   "e":%q,
	   "alg":"RS256",
	   "kid":"2011-04-29"}
	 ]
	}`, ec["x"], ec["y"], r["n"], r["e"])
	set, skipped, err := ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 1 || skipped != 1 {
		t.Fatalf("got %d keys, %d skipped; want 1 and 1", len(set), skipped)
	}
	if set[0].ID != "2011-04-29" || set[0].Alg != "RS256" {
		t.Errorf("key = %+v", set[0])
	}
	got, err := Verify(sign(t, "RS256", "2011-04-29", k.rsa, validClaims()), set, Options{}, now)
	if err != nil || got.KeyID != "2011-04-29" {
		t.Fatalf("verify: %v, %+v", err, got)
	}
	// The encryption key was skipped, so ES256 tokens find no key.
	_, err = Verify(sign(t, "ES256", "1", k.p256, validClaims()), set, Options{}, now)
	wantErr(t, err, ErrNoKey)
}

// TestJWKSRFCVectors checks interoperability against the specs' own
// examples: the HS256 JWS of RFC 7515 appendix A.1 with the key from
// RFC 7517 appendix A.3, and the Ed25519 JWS of RFC 8037 appendix A.4.
func TestJWKSRFCVectors(t *testing.T) {
	doc := `{"keys":
	  [
	    {"kty":"oct",
	     "alg":"A128KW",
	     "k":"GawgguFyGrWKav7AX4VKUg"},

	    {"kty":"oct",
	     "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
	     "kid":"HMAC key used in JWS spec Appendix A.1 example"},

	    {"kty":"OKP","crv":"Ed25519",
	     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	  ]
	}`
	set, skipped, err := ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 || skipped != 1 {
		t.Fatalf("got %d keys, %d skipped; want 2 and 1", len(set), skipped)
	}
	hs := "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	got, err := Verify(hs, set, Options{Issuers: []string{"joe"}}, time.Unix(1300819379, 0))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.HeaderValue("http://example.com/is_root"); v != "true" {
		t.Errorf("is_root = %q", v)
	}
	_, err = Verify(hs, set, Options{}, time.Unix(1300819380, 0))
	wantErr(t, err, ErrExpired)

	// RFC 8037's payload is not JSON, so a verified signature shows up as
	// a payload error rather than a signature error.
	ed := "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc" +
		".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	_, err = Verify(ed, set, Options{}, now)
	wantErr(t, err, ErrMalformed)
	if !strings.Contains(err.Error(), "payload") {
		t.Errorf("unexpected error: %v", err)
	}
}

func TestJWKSAllKinds(t *testing.T) {
	k := keys()
	edX := b64e(k.ed.Public().(ed25519.PublicKey))
	doc := jwksDoc(t,
		with(rsaJWK(&k.rsa.PublicKey), "kid", "rsa", "use", "sig"),
		with(ecJWK(&k.p256.PublicKey), "kid", "p256", "alg", "ES256"),
		with(ecJWK(&k.p384.PublicKey), "kid", "p384"),
		map[string]any{"kty": "OKP", "crv": "Ed25519", "x": edX, "kid": "ed", "key_ops": []string{"verify"}},
		map[string]any{"kty": "oct", "k": b64e(k.hs64), "kid": "hs", "alg": "HS512"},
		// Skipped, not errors:
		with(ecJWK(&mustP521().PublicKey), "kid", "p521"),
		map[string]any{"kty": "OKP", "crv": "X25519", "x": edX},
		map[string]any{"kty": "OKP", "crv": "Ed448", "x": b64e(make([]byte, 57))},
		map[string]any{"kty": "PQ", "x": "AAAA"},
		with(rsaJWK(&k.rsa2.PublicKey), "alg", "PS256"),
		with(rsaJWK(&k.rsa2.PublicKey), "alg", "RSA-OAEP", "use", "enc"),
		map[string]any{"kty": "oct", "k": b64e(k.hsOther), "key_ops": []string{"encrypt", "decrypt"}},
	)
	set, skipped, err := ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 5 || skipped != 7 {
		t.Fatalf("got %d keys, %d skipped; want 5 and 7", len(set), skipped)
	}
	for _, c := range []struct{ alg, kid string }{
		{"RS256", "rsa"}, {"RS512", "rsa"}, {"ES256", "p256"}, {"ES384", "p384"}, {"EdDSA", "ed"}, {"HS512", "hs"},
	} {
		var priv any
		switch c.kid {
		case "rsa":
			priv = k.rsa
		case "p256":
			priv = k.p256
		case "p384":
			priv = k.p384
		case "ed":
			priv = k.ed
		case "hs":
			priv = k.hs64
		}
		got, err := Verify(sign(t, c.alg, c.kid, priv, validClaims()), set, Options{}, now)
		if err != nil {
			t.Errorf("%s: %v", c.alg, err)
		} else if got.KeyID != c.kid {
			t.Errorf("%s: verified by %q", c.alg, got.KeyID)
		}
	}
	// alg on the oct key limits it to HS512.
	_, err = Verify(sign(t, "HS256", "hs", k.hs64, validClaims()), set, Options{}, now)
	wantErr(t, err, ErrNoKey)
}

func TestJWKSErrorsNameTheEntry(t *testing.T) {
	k := keys()
	good := rsaJWK(&k.rsa.PublicKey)
	ec := ecJWK(&k.p256.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	offCurve := with(ec, "y", b64e(make([]byte, 32)))
	cases := map[string]map[string]any{
		"missing kty":       {"n": good["n"], "e": good["e"]},
		"kty not string":    {"kty": 1},
		"kid not string":    {"kty": "RSA", "n": good["n"], "e": good["e"], "kid": 5},
		"missing n":         {"kty": "RSA", "e": "AQAB"},
		"n not base64url":   with(good, "n", "!!!"),
		"n empty":           with(good, "n", ""),
		"e too long":        with(good, "e", b64e([]byte{1, 0, 0, 0, 1})),
		"e even":            with(good, "e", b64e([]byte{1, 0, 0})),
		"RSA 1024":          rsaJWK(&small.PublicKey),
		"RSA private":       with(good, "d", "AQAB"),
		"EC missing crv":    {"kty": "EC", "x": ec["x"], "y": ec["y"]},
		"EC short x":        with(ec, "x", b64e(make([]byte, 31))),
		"EC missing y":      {"kty": "EC", "crv": "P-256", "x": ec["x"]},
		"EC off curve":      offCurve,
		"EC private":        with(ec, "d", "AQAB"),
		"OKP short":         {"kty": "OKP", "crv": "Ed25519", "x": b64e(make([]byte, 31))},
		"OKP missing crv":   {"kty": "OKP", "x": b64e(make([]byte, 32))},
		"oct short":         {"kty": "oct", "k": b64e(make([]byte, 16))},
		"oct short for alg": {"kty": "oct", "k": b64e(make([]byte, 32)), "alg": "HS512"},
		"oct missing k":     {"kty": "oct"},
		"alg mismatch":      with(good, "alg", "ES256"),
		"curve mismatch":    with(ecJWK(&k.p384.PublicKey), "alg", "ES256"),
		"HMAC alg on RSA":   with(good, "alg", "HS256"),
		"key_ops not array": with(good, "key_ops", "verify"),
		"use not string":    {"kty": "RSA", "n": good["n"], "e": good["e"], "use": true},
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			doc := jwksDoc(t, good, with(ec, "kid", "fine"), bad)
			_, _, err := ParseJWKS(doc)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "JWKS key 2") {
				t.Errorf("error does not name entry 2: %v", err)
			}
			t.Log(err)
		})
	}
	_, _, err := ParseJWKS(jwksDoc(t, good, with(good, "kid", "bad-one", "n", "")))
	if err == nil || !strings.Contains(err.Error(), `JWKS key 1 (kid "bad-one")`) {
		t.Errorf("error does not name kid: %v", err)
	}
	for _, doc := range []string{``, `[]`, `null`, `{}`, `{"keys":{}}`, `{"keys":[1]}`, `{"keys":[null]}`} {
		if _, _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%q: accepted", doc)
		}
	}
	set, skipped, err := ParseJWKS([]byte(`{"keys":[]}`))
	if err != nil || len(set) != 0 || skipped != 0 {
		t.Errorf("empty set: %v %v %v", set, skipped, err)
	}
}

// --- header rendering ---

func TestHeaderValue(t *testing.T) {
	k := keys()
	payload := `{
		"s": "alice",
		"n": 12345678901234567890,
		"f": 1.50,
		"t": true,
		"no": false,
		"list": ["a","b","c"],
		"one": ["x"],
		"empty": [],
		"mixed": ["a",1,true],
		"obj": {"b":1,"a":"<x&y>"},
		"null": null,
		"crlf": "a\r\nX-Injected: 1",
		"nul": "a\u0000b",
		"listcrlf": ["a","b\nc"],
		"objcrlf": {"k":"a\nb"},
		"tab": "a\tb",
		"utf8": "Zoë"
	}`
	set := KeySet{mustKey(t, "", "", k.hs32)}
	c, err := Verify(signRaw(t, "HS256", k.hs32, `{"alg":"HS256"}`, payload), set, Options{}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"s":       "alice",
		"n":       "12345678901234567890",
		"f":       "1.50",
		"t":       "true",
		"no":      "false",
		"list":    "a,b,c",
		"one":     "x",
		"empty":   "",
		"mixed":   `["a",1,true]`,
		"obj":     `{"a":"<x&y>","b":1}`,
		"null":    "null",
		"objcrlf": `{"k":"a\nb"}`,
		"tab":     "a\tb",
		"utf8":    "Zoë",
	}
	for name, w := range want {
		if got, ok := c.HeaderValue(name); !ok || got != w {
			t.Errorf("%s = %q, %v; want %q", name, got, ok, w)
		}
	}
	for _, name := range []string{"absent", "crlf", "nul", "listcrlf"} {
		if got, ok := c.HeaderValue(name); ok {
			t.Errorf("%s = %q; want not ok", name, got)
		}
	}
	if _, isNum := c.Raw["n"].(json.Number); !isNum {
		t.Errorf("numbers are %T, want json.Number", c.Raw["n"])
	}
}

// --- benchmarks ---

func benchmarkVerify(b *testing.B, alg string, priv, pub any) {
	tok := sign(b, alg, "k", priv, validClaims())
	set := KeySet{mustKey(b, "k", "", pub)}
	opts := Options{Issuers: []string{"https://issuer.example"}, Audiences: []string{"gateway"}, RequireExp: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Verify(tok, set, opts, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	benchmarkVerify(b, "HS256", keys().hs32, keys().hs32)
}

func BenchmarkVerifyRS256(b *testing.B) {
	benchmarkVerify(b, "RS256", keys().rsa, &keys().rsa.PublicKey)
}

func BenchmarkVerifyES256(b *testing.B) {
	benchmarkVerify(b, "ES256", keys().p256, &keys().p256.PublicKey)
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	benchmarkVerify(b, "EdDSA", keys().ed, keys().ed.Public())
}
