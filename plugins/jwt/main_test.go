package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

var _ proxywasm.Resetter = (*request)(nil)

// ---- keys, tokens and key sets made by the tests

type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	secret    []byte
}

var keysOnce = sync.OnceValue(func() *testKeys {
	k := &testKeys{secret: []byte("0123456789abcdef0123456789abcdef-hmac")}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a token; priv is the private key or HMAC secret for alg.
func sign(t testing.TB, alg, kid string, priv any, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	input := b64(mustJSON(t, hdr)) + "." + b64(mustJSON(t, claims))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg {
	case "HS256":
		mac := hmac.New(sha256.New, priv.([]byte))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	case "EdDSA":
		sig = ed25519.Sign(priv.(ed25519.PrivateKey), []byte(input))
	default:
		t.Fatalf("sign: no alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]any {
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256",
		"x": b64(k.X.FillBytes(make([]byte, 32))), "y": b64(k.Y.FillBytes(make([]byte, 32)))}
}

func edJWK(kid string, k ed25519.PrivateKey) map[string]any {
	return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(k.Public().(ed25519.PublicKey))}
}

func jwks(t testing.TB, entries ...map[string]any) []byte {
	t.Helper()
	if entries == nil {
		entries = []map[string]any{}
	}
	return mustJSON(t, map[string]any{"keys": entries})
}

// ---- the emulated host with a clock the tests move

var clock time.Time

func resetClock() { clock = time.Unix(1_700_000_000, 0) }

func advance(d time.Duration) { clock = clock.Add(d) }

const pluginName = "jwt-test"

func start(t *testing.T, cfg map[string]any) *proxytest.Host {
	t.Helper()
	resetClock()
	h, err := proxytest.New(proxytest.Options{
		Config:     mustJSON(t, cfg),
		Now:        func() time.Time { return clock },
		Properties: map[string]string{"plugin_name": pluginName},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func claims(extra ...any) map[string]any {
	c := map[string]any{
		"sub": "alice", "iss": "https://idp.example.com", "aud": "api",
		"iat": clock.Unix(), "exp": clock.Add(time.Hour).Unix(), "scope": []string{"read", "write"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
			continue
		}
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

func get(path string, headers ...[2]string) [][2]string {
	return append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "api"}, {":scheme", "http"}}, headers...)
}

func bearerHdr(token string) [2]string { return [2]string{"Authorization", "Bearer " + token} }

// send runs a request's headers through the plugin.
func send(h *proxytest.Host, headers ...[2]string) (*proxytest.Stream, proxywasm.Action) {
	s := h.NewStream()
	return s, s.RequestHeaders(get("/api", headers...), true)
}

func admitted(t *testing.T, s *proxytest.Stream, act proxywasm.Action) {
	t.Helper()
	if act != proxywasm.Continue || s.Local != nil {
		t.Fatalf("refused: action %d, local %+v", act, local(s))
	}
}

func local(s *proxytest.Stream) string {
	if s.Local == nil {
		return "<none>"
	}
	return s.Local.Header("www-authenticate") + " " + string(s.Local.Body)
}

// refused checks a 401 for a token that failed for reason.
func refused(t *testing.T, s *proxytest.Stream, act proxywasm.Action, reason string) {
	t.Helper()
	if act != proxywasm.Pause || s.Local == nil {
		t.Fatalf("want 401 %q, got action %d local %s (request %v)", reason, act, local(s), s.Request)
	}
	l := s.Local
	want := `Bearer realm="wasmgate", error="invalid_token", error_description="` + reason + `"`
	if l.Status != 401 || l.Header("www-authenticate") != want || l.Header("content-type") != "application/json" {
		t.Fatalf("want 401 %q, got %d %q %q", reason, l.Status, l.Header("www-authenticate"), l.Header("content-type"))
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal(l.Body, &body); err != nil || body.Error != "invalid_token" || body.Message != reason {
		t.Fatalf("body %q (%v)", l.Body, err)
	}
}

func unavailable(t *testing.T, s *proxytest.Stream) {
	t.Helper()
	if s.Local == nil || s.Local.Status != 503 || s.Local.Header("content-type") != "application/json" ||
		!strings.Contains(string(s.Local.Body), `"error":"jwks_unavailable"`) {
		t.Fatalf("want 503 jwks_unavailable, got %s", local(s))
	}
}

func staticConfig(t *testing.T, extra ...any) map[string]any {
	k := keysOnce()
	cfg := map[string]any{
		"keys": []map[string]any{
			{"kid": "r1", "alg": "RS256", "pem": pemOf(t, &k.rsa.PublicKey)},
			{"kid": "e1", "alg": "ES256", "pem": pemOf(t, &k.ec.PublicKey)},
			{"kid": "d1", "alg": "EdDSA", "pem": pemOf(t, k.ed.Public())},
			{"kid": "h1", "alg": "HS256", "secret": string(k.secret)},
			{"kid": "h2", "alg": "HS256", "secret": base64.StdEncoding.EncodeToString(k.secret), "encoding": "base64"},
			{"kid": "h3", "secret": b64(k.secret), "encoding": "base64url"},
		},
		"forward_claims": map[string]any{"sub": "X-User", "scope": "X-Scopes"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i].(string)] = extra[i+1]
	}
	return cfg
}

func jwksCfg(extra ...any) map[string]any {
	cfg := map[string]any{
		"jwks": map[string]any{"upstream": "idp", "path": "/.well-known/jwks.json", "authority": "idp.example.com",
			"refresh": "10m", "timeout": "2s"},
		"forward_claims": map[string]any{"sub": "X-User"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i].(string)] = extra[i+1]
	}
	return cfg
}

// ---- static keys and verification

func TestEveryAlgorithmWithStaticKeys(t *testing.T) {
	h := start(t, staticConfig(t))
	k := keysOnce()
	for _, c := range []struct {
		alg, kid string
		priv     any
	}{
		{"RS256", "r1", k.rsa}, {"ES256", "e1", k.ec}, {"EdDSA", "d1", k.ed},
		{"HS256", "h1", k.secret}, {"HS256", "h2", k.secret}, {"HS256", "h3", k.secret}, {"HS256", "", k.secret},
	} {
		s, act := send(h, bearerHdr(sign(t, c.alg, c.kid, c.priv, claims())))
		admitted(t, s, act)
		if s.Header("x-user") != "alice" || s.Header("x-scopes") != "read,write" {
			t.Fatalf("%s/%s: forwarded %v", c.alg, c.kid, s.Request)
		}
		if !s.HasHeader("authorization") {
			t.Fatalf("%s: the token was removed without hide_token", c.alg)
		}
		s.Complete()
	}
}

func TestEveryAlgorithmFromJWKS(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	s, act := send(h, bearerHdr(sign(t, "ES256", "e1", k.ec, claims())))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("action %d, callouts %d", act, len(h.Callouts()))
	}
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa), ecJWK("e1", k.ec), edJWK("d1", k.ed),
		map[string]any{"kty": "oct", "kid": "h1", "k": b64(k.secret)}))
	if s.Resumed != 1 || s.Local != nil || s.Header("x-user") != "alice" {
		t.Fatalf("resumed %d, local %s, request %v", s.Resumed, local(s), s.Request)
	}
	for _, c := range []struct {
		alg, kid string
		priv     any
	}{{"RS256", "r1", k.rsa}, {"EdDSA", "d1", k.ed}, {"HS256", "h1", k.secret}} {
		s, act := send(h, bearerHdr(sign(t, c.alg, c.kid, c.priv, claims())))
		admitted(t, s, act)
		if s.Header("x-user") != "alice" {
			t.Fatalf("%s: forwarded %v", c.alg, s.Request)
		}
	}
	if n := len(h.Callouts()); n != 0 {
		t.Fatalf("%d more callouts", n)
	}
}

func TestTimeClaims(t *testing.T) {
	k := keysOnce()
	h := start(t, staticConfig(t))
	now := clock.Unix()
	for _, c := range []struct {
		name   string
		claims map[string]any
		reason string // "" = admitted
	}{
		{"valid", claims(), ""},
		{"expired", claims("exp", now-31), "token expired"},
		{"expired within skew", claims("exp", now-29), ""},
		{"expired just now", claims("exp", now-30), "token expired"},
		{"not yet valid", claims("nbf", now+31), "token not yet valid"},
		{"nbf within skew", claims("nbf", now+29), ""},
		{"issued in the future", claims("iat", now+120), "token issued in the future"},
		{"no exp", claims("exp", nil), "token has no exp claim"},
		{"exp not a number", claims("exp", "soon"), "malformed token"},
	} {
		s, act := send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, c.claims)))
		if c.reason == "" {
			admitted(t, s, act)
		} else {
			refused(t, s, act, c.reason)
		}
	}

	// The clock moves: a token valid now expires.
	tok := sign(t, "RS256", "r1", k.rsa, claims("exp", now+60))
	s, act := send(h, bearerHdr(tok))
	admitted(t, s, act)
	advance(91 * time.Second)
	s, act = send(h, bearerHdr(tok))
	refused(t, s, act, "token expired")

	// Without skew and without require_exp.
	h = start(t, staticConfig(t, "clock_skew", "0s", "require_exp", false))
	s, act = send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, claims("exp", clock.Unix()))))
	refused(t, s, act, "token expired")
	s, act = send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, claims("exp", nil))))
	admitted(t, s, act)
}

func TestIssuerAndAudience(t *testing.T) {
	k := keysOnce()
	h := start(t, staticConfig(t, "issuers", []string{"https://idp.example.com"}, "audiences", []string{"api", "admin"}))
	for _, c := range []struct {
		claims map[string]any
		reason string
	}{
		{claims(), ""},
		{claims("aud", []string{"other", "admin"}), ""},
		{claims("iss", "https://evil.example.com"), "issuer not accepted"},
		{claims("iss", nil), "issuer not accepted"},
		{claims("aud", "other"), "audience not accepted"},
		{claims("aud", nil), "audience not accepted"},
	} {
		s, act := send(h, bearerHdr(sign(t, "ES256", "e1", k.ec, c.claims)))
		if c.reason == "" {
			admitted(t, s, act)
		} else {
			refused(t, s, act, c.reason)
		}
	}
}

func TestAlgorithmAllowList(t *testing.T) {
	k := keysOnce()
	h := start(t, map[string]any{
		"algorithms": []string{"RS256"},
		"keys": []map[string]any{
			{"kid": "r1", "alg": "RS256", "pem": pemOf(t, &k.rsa.PublicKey)},
			{"kid": "h1", "secret": string(k.secret)}, // no alg: fits HS*, which are not allowed
		},
	})
	s, act := send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, claims())))
	admitted(t, s, act)
	s, act = send(h, bearerHdr(sign(t, "HS256", "h1", k.secret, claims())))
	refused(t, s, act, "algorithm not accepted")
	none := b64([]byte(`{"alg":"none"}`)) + "." + b64(mustJSON(t, claims())) + "."
	s, act = send(h, bearerHdr(none))
	refused(t, s, act, "algorithm not accepted")
}

func TestMissingToken(t *testing.T) {
	h := start(t, staticConfig(t))
	for _, hdr := range [][][2]string{
		nil,
		{{"Authorization", "Basic YWxpY2U6cHc="}},
		{{"Authorization", "Bearer"}},
		{{"Authorization", "Bearer   "}},
		{{"Authorization", "Bearertoken"}},
		{{"X-User", "mallory"}},
	} {
		s, act := send(h, hdr...)
		if act != proxywasm.Pause || s.Local == nil || s.Local.Status != 401 {
			t.Fatalf("%v: action %d local %s", hdr, act, local(s))
		}
		if got := s.Local.Header("www-authenticate"); got != `Bearer realm="wasmgate"` {
			t.Fatalf("%v: WWW-Authenticate %q", hdr, got)
		}
		if s.Local.Header("content-type") != "application/json" || !strings.Contains(string(s.Local.Body), `"error":"invalid_token"`) {
			t.Fatalf("%v: %q", hdr, s.Local.Body)
		}
	}
	h = start(t, staticConfig(t, "realm", "api.example.com"))
	s, _ := send(h)
	if got := s.Local.Header("www-authenticate"); got != `Bearer realm="api.example.com"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

func TestBadTokens(t *testing.T) {
	k := keysOnce()
	h := start(t, staticConfig(t))
	good := sign(t, "RS256", "r1", k.rsa, claims())
	flip := []byte(good)
	if flip[len(flip)-5] == 'A' {
		flip[len(flip)-5] = 'B'
	} else {
		flip[len(flip)-5] = 'A'
	}
	for _, c := range []struct{ token, reason string }{
		{string(flip), "bad signature"},
		{sign(t, "RS256", "r1", k.rsa2, claims()), "bad signature"},      // another key, same kid
		{sign(t, "RS256", "nope", k.rsa2, claims()), "bad signature"},    // unknown kid, no jwks
		{good[:strings.LastIndexByte(good, '.')] + ".", "bad signature"}, // signature cut off
		{sign(t, "HS256", "h1", []byte(strings.Repeat("x", 40)), claims()), "bad signature"},
		{"abc", "malformed token"},
		{"a.b.c", "malformed token"},
		{strings.Replace(good, ".", "..", 1), "malformed token"},
	} {
		s, act := send(h, bearerHdr(c.token))
		refused(t, s, act, c.reason)
	}
	// A key whose alg cannot verify the token: ES384 has no key here.
	hdr := b64([]byte(`{"alg":"ES384","kid":"e1"}`))
	s, act := send(h, bearerHdr(hdr+"."+b64(mustJSON(t, claims()))+"."+b64(make([]byte, 96))))
	refused(t, s, act, "unknown signing key")
}

func TestForwardedClaimsCannotBeInjected(t *testing.T) {
	k := keysOnce()
	h := start(t, staticConfig(t, "forward_claims", map[string]any{
		"sub": "X-User", "scope": "X-Scopes", "admin": "X-Admin", "org": "X-Org", "note": "X-Note",
	}))
	inject := [][2]string{{"X-User", "mallory"}, {"x-user", "root"}, {"X-Admin", "true"}, {"X-Scopes", "all"}, {"X-Org", "evil"}}

	// Valid token: the claims replace what the client sent; a claim the
	// token lacks leaves no header at all.
	tok := sign(t, "RS256", "r1", k.rsa, claims("scope", nil, "org", map[string]any{"id": 7}, "note", "a\nb"))
	s, act := send(h, append(inject, bearerHdr(tok))...)
	admitted(t, s, act)
	var users []string
	for _, kv := range s.Request {
		if kv[0] == "x-user" {
			users = append(users, kv[1])
		}
	}
	if len(users) != 1 || users[0] != "alice" {
		t.Fatalf("x-user headers %q", users)
	}
	if s.HasHeader("x-admin") || s.HasHeader("x-scopes") || s.HasHeader("x-note") {
		t.Fatalf("client-sent or unsafe headers survived: %v", s.Request)
	}
	if got := s.Header("x-org"); got != `{"id":7}` {
		t.Fatalf("x-org %q", got)
	}
	tok = sign(t, "RS256", "r1", k.rsa, claims("admin", true))
	s, act = send(h, bearerHdr(tok))
	admitted(t, s, act)
	if s.Header("x-admin") != "true" {
		t.Fatalf("x-admin %q", s.Header("x-admin"))
	}

	// Refused requests are answered locally; their headers are gone too.
	for _, hdr := range [][][2]string{inject, append(inject, bearerHdr("bad.token.here"))} {
		s, act = send(h, hdr...)
		if act != proxywasm.Pause || s.Local == nil || s.HasHeader("x-user") || s.HasHeader("x-admin") {
			t.Fatalf("action %d local %s request %v", act, local(s), s.Request)
		}
	}
}

func TestTokenSourcesAndHiding(t *testing.T) {
	k := keysOnce()
	tok := sign(t, "EdDSA", "d1", k.ed, claims())
	h := start(t, staticConfig(t, "query", "access_token", "cookie", "jwt", "hide_token", true))
	for _, c := range []struct {
		name            string
		path            string
		headers         [][2]string
		wantPath        string
		wantCookie      string
		wantAuthRemoved bool
	}{
		{"header", "/x?a=1", [][2]string{bearerHdr(tok)}, "/x?a=1", "", true},
		{"scheme case", "/x", [][2]string{{"authorization", "bEaReR \t" + tok + " "}}, "/x", "", true},
		{"query", "/x?a=1&access_token=" + tok + "&b=2", nil, "/x?a=1&b=2", "", false},
		{"query only", "/x?access_token=" + tok, nil, "/x", "", false},
		{"cookie", "/x", [][2]string{{"cookie", "a=1; jwt=" + tok + "; b=2"}}, "/x", "a=1; b=2", false},
		{"quoted cookie alone", "/x", [][2]string{{"cookie", `jwt="` + tok + `"`}}, "/x", "", false},
		{"same token twice", "/x?access_token=" + tok + "&a=b", [][2]string{bearerHdr(tok), {"cookie", "jwt=" + tok}}, "/x?a=b", "", true},
		{"basic falls back to query", "/x?access_token=" + tok, [][2]string{{"authorization", "Basic abc"}}, "/x", "", false},
	} {
		s := h.NewStream()
		act := s.RequestHeaders(append(get(c.path), c.headers...), true)
		admitted(t, s, act)
		if got := s.Header(":path"); got != c.wantPath {
			t.Errorf("%s: :path %q, want %q", c.name, got, c.wantPath)
		}
		if got := s.Header("cookie"); got != c.wantCookie {
			t.Errorf("%s: cookie %q, want %q", c.name, got, c.wantCookie)
		}
		if c.wantAuthRemoved && s.HasHeader("authorization") {
			t.Errorf("%s: authorization kept", c.name)
		}
		if s.Header("x-user") != "alice" {
			t.Errorf("%s: x-user %q", c.name, s.Header("x-user"))
		}
	}

	// Different tokens in two places: refused, whichever is valid.
	for _, c := range []struct {
		path    string
		headers [][2]string
	}{
		{"/x?access_token=junk", [][2]string{bearerHdr(tok)}},
		{"/x?access_token=" + tok, [][2]string{{"cookie", "jwt=junk"}}},
		{"/x", [][2]string{bearerHdr("junk"), {"cookie", "jwt=" + tok}}},
		// Two tokens in one place: an upstream reading the second (a
		// query parser keeping the last value) must not take it for
		// verified.
		{"/x?access_token=" + tok + "&access_token=junk", nil},
		{"/x?access_token=" + tok + "&access%5Ftoken=junk", nil},
		{"/x", [][2]string{{"cookie", "jwt=" + tok + "; jwt=junk"}}},
		// Two Authorization lines with different tokens, and a second one
		// beside a token from elsewhere (before, only the first line was
		// read: the other reached the upstream beside the verified
		// claims).
		{"/x", [][2]string{bearerHdr(tok), bearerHdr("junk")}},
		{"/x?access_token=" + tok, [][2]string{{"authorization", "Basic Zm9vOmJhcg=="}, bearerHdr("junk")}},
	} {
		s := h.NewStream()
		act := s.RequestHeaders(append(get(c.path), c.headers...), true)
		if act != proxywasm.Pause || s.Local == nil || s.Local.Status != 400 ||
			s.Local.Header("www-authenticate") != `Bearer realm="wasmgate", error="invalid_request", error_description="more than one token"` ||
			!strings.Contains(string(s.Local.Body), `"error":"invalid_request"`) {
			t.Fatalf("%s %v: action %d local %s", c.path, c.headers, act, local(s))
		}
	}

	// The same token on two Authorization lines, or a second Cookie
	// line: the first is checked, and only it goes upstream (with
	// hide_token off, the default).
	h = start(t, staticConfig(t, "cookie", "jwt"))
	forged := sign(t, "RS256", "r1", keysOnce().rsa2, claims("sub", "admin"))
	for _, c := range []struct {
		name  string
		lines [][2]string
		want  string
	}{
		{"authorization", [][2]string{bearerHdr(tok), bearerHdr(tok)}, "Bearer " + tok},
		{"cookie", [][2]string{{"cookie", "a=1; jwt=" + tok}, {"cookie", "jwt=" + forged}}, "a=1; jwt=" + tok},
	} {
		two, act := send(h, c.lines...)
		admitted(t, two, act)
		var sent []string
		for _, kv := range two.Request {
			if strings.EqualFold(kv[0], c.name) {
				sent = append(sent, kv[1])
			}
		}
		if len(sent) != 1 || sent[0] != c.want {
			t.Fatalf("upstream gets %s %q, want only the checked one", c.name, sent)
		}
	}

	// Another header: "Bearer" is optional there.
	h = start(t, staticConfig(t, "header", "X-Token"))
	for _, v := range []string{tok, "Bearer " + tok} {
		s, act := send(h, [2]string{"x-token", v})
		admitted(t, s, act)
	}
	s, act := send(h, bearerHdr(tok))
	if act != proxywasm.Pause || s.Local.Header("www-authenticate") != `Bearer realm="wasmgate"` {
		t.Fatalf("Authorization read though header is X-Token: %s", local(s))
	}
}

// ---- the JWK Set

func TestJWKSFetchFlow(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	tok := sign(t, "RS256", "r1", k.rsa, claims())

	// The first request waits for the set.
	s, act := send(h, bearerHdr(tok), [2]string{"X-User", "mallory"})
	calls := h.Callouts()
	if act != proxywasm.Pause || s.Local != nil || len(calls) != 1 {
		t.Fatalf("action %d, local %s, callouts %d", act, local(s), len(calls))
	}
	c := calls[0]
	if c.Upstream != "idp" || c.Header(":method") != "GET" || c.Header(":path") != "/.well-known/jwks.json" ||
		c.Header(":authority") != "idp.example.com" || c.Timeout != 2*time.Second {
		t.Fatalf("callout %+v", c)
	}
	if s.HasHeader("x-user") {
		t.Fatal("the client's X-User is still there while the request waits")
	}
	advance(50 * time.Millisecond)
	c.Respond(200, [][2]string{{"content-type", "application/json"}}, jwks(t, rsaJWK("r1", k.rsa)))
	if s.Resumed != 1 || s.Local != nil || s.Header("x-user") != "alice" {
		t.Fatalf("resumed %d, local %s, x-user %q", s.Resumed, local(s), s.Header("x-user"))
	}
	s.Complete()

	// The set is cached, and shared with the other VMs.
	stored, _, ok := h.SharedData(shareKey(pluginName, "idp", "idp.example.com", "/.well-known/jwks.json"))
	if !ok || len(stored) <= stampLen || !strings.Contains(string(stored[stampLen:]), `"r1"`) ||
		int64(binary.LittleEndian.Uint64(stored)) != clock.UnixNano() {
		t.Fatalf("shared data %q", stored)
	}
	advance(9 * time.Minute)
	s, act = send(h, bearerHdr(tok))
	admitted(t, s, act)
	if len(h.Callouts()) != 0 {
		t.Fatal("a callout with the set cached")
	}

	// Past refresh, the next request fetches again.
	advance(time.Minute)
	s, act = send(h, bearerHdr(tok))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("after refresh: action %d, callouts %d", act, len(h.Callouts()))
	}
	// Meanwhile others go on with the keys in hand.
	other, act := send(h, bearerHdr(tok))
	admitted(t, other, act)
	if len(h.Callouts()) != 1 {
		t.Fatalf("%d callouts during a refresh", len(h.Callouts()))
	}
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	if s.Resumed != 1 || s.Header("x-user") != "alice" {
		t.Fatalf("refresh: resumed %d local %s", s.Resumed, local(s))
	}
	s, act = send(h, bearerHdr(tok))
	admitted(t, s, act)
	if len(h.Callouts()) != 0 {
		t.Fatal("a callout right after the refresh")
	}
}

func TestJWKSRefreshDropsRemovedKeys(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg("jwks", map[string]any{"upstream": "idp", "refresh": "1m"}))
	old := sign(t, "RS256", "r1", k.rsa, claims("exp", clock.Add(time.Hour).Unix()))
	s, _ := send(h, bearerHdr(old))
	c := h.Callouts()[0]
	if c.Header(":path") != "/.well-known/jwks.json" || c.Header(":authority") != "idp" {
		t.Fatalf("default path and authority: %v", c.Headers)
	}
	c.Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	if s.Resumed != 1 {
		t.Fatalf("not resumed: %s", local(s))
	}
	advance(61 * time.Second)
	s, _ = send(h, bearerHdr(old))
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r2", k.rsa2)))
	refused(t, s, proxywasm.Pause, "bad signature")
	if s.Resumed != 0 {
		t.Fatal("refused request resumed")
	}
}

func TestUnknownKidRefetchesAtMostEvery30s(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	s, _ := send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, claims())))
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	if s.Resumed != 1 {
		t.Fatalf("not resumed: %s", local(s))
	}

	// Signed with a new key the VM has not seen: within 30 s of the fetch,
	// no refetch.
	advance(10 * time.Second)
	rotated := sign(t, "RS256", "r2", k.rsa2, claims("exp", clock.Add(time.Hour).Unix()))
	s, act := send(h, bearerHdr(rotated))
	refused(t, s, act, "bad signature")
	if len(h.Callouts()) != 0 {
		t.Fatal("refetched within 30s")
	}

	// Later, one refetch, which finds the key.
	advance(21 * time.Second)
	s, act = send(h, bearerHdr(rotated))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("no refetch: action %d callouts %d local %s", act, len(h.Callouts()), local(s))
	}
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa), rsaJWK("r2", k.rsa2)))
	if s.Resumed != 1 || s.Header("x-user") != "alice" {
		t.Fatalf("after refetch: resumed %d local %s", s.Resumed, local(s))
	}

	// Another unknown kid soon after: no refetch; a known kid with a bad
	// signature never refetches.
	// (An unknown kid is verified with every key that fits its algorithm,
	// so these are signed with a key of no algorithm the set has.)
	advance(20 * time.Second)
	s, act = send(h, bearerHdr(sign(t, "ES256", "r3", k.ec, claims("exp", clock.Add(time.Hour).Unix()))))
	refused(t, s, act, "unknown signing key")
	advance(time.Minute)
	s, act = send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa2, claims("exp", clock.Add(time.Hour).Unix()))))
	refused(t, s, act, "bad signature")
	if len(h.Callouts()) != 0 {
		t.Fatalf("%d refetches", len(h.Callouts()))
	}

	// A refetch that still lacks the kid refuses the request.
	s, act = send(h, bearerHdr(sign(t, "ES256", "r9", k.ec, claims("exp", clock.Add(time.Hour).Unix()))))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("no refetch for r9: callouts %d", len(h.Callouts()))
	}
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa), rsaJWK("r2", k.rsa2)))
	refused(t, s, proxywasm.Pause, "unknown signing key")
	if s.Resumed != 0 {
		t.Fatal("resumed")
	}
}

// TestUnknownJWKSUpstreamIsNamed: a jwks.upstream the gateway does not
// have is refused by the host at once; the log names the setting and the
// name, and the request gets the 503 of a failed fetch.
func TestUnknownJWKSUpstreamIsNamed(t *testing.T) {
	k := keysOnce()
	resetClock()
	h, err := proxytest.New(proxytest.Options{
		Config:     mustJSON(t, jwksCfg()),
		Now:        func() time.Time { return clock },
		Properties: map[string]string{"plugin_name": pluginName},
		Upstreams:  []string{"backend"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, claims())))
	if n := len(h.Callouts()); n != 0 {
		t.Fatalf("%d callouts made", n)
	}
	unavailable(t, s)
	want := `jwks.upstream: the gateway has no upstream named "idp"`
	if logs := h.LogsAt(proxywasm.LevelWarn); len(logs) != 1 || !strings.Contains(logs[0], want) {
		t.Fatalf("warnings %q, want one naming %s", logs, want)
	}
}

func TestFailedFetchWithoutKeys(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	tok := sign(t, "RS256", "r1", k.rsa, claims())

	s, _ := send(h, bearerHdr(tok))
	h.Callouts()[0].Fail()
	unavailable(t, s)
	if s.Resumed != 0 || s.Local.Header("www-authenticate") != "" {
		t.Fatalf("resumed %d, %v", s.Resumed, s.Local.Headers)
	}
	if len(h.LogsAt(proxywasm.LevelWarn)) == 0 {
		t.Fatal("the failure was not logged")
	}

	// Within a second, no new fetch: 503 at once.
	advance(500 * time.Millisecond)
	s, act := send(h, bearerHdr(tok))
	if act != proxywasm.Pause || len(h.Callouts()) != 0 {
		t.Fatalf("action %d, callouts %d", act, len(h.Callouts()))
	}
	unavailable(t, s)
	// A token refused whatever the keys is the client's 401, keys or not.
	for _, bad := range []string{"garbage", "eyJhbGciOiJub25lIn0.e30."} {
		s, _ = send(h, bearerHdr(bad))
		if s.Local == nil || s.Local.Status != 401 {
			t.Fatalf("token %q without keys: %s, want 401", bad, local(s))
		}
	}

	// Then fetches again: error statuses and bad sets fail the same way.
	for _, answer := range []struct {
		status int
		body   []byte
	}{
		{500, []byte("oops")},
		{200, []byte("not json")},
		{200, jwks(t)},
		{200, jwks(t, map[string]any{"kty": "RSA", "kid": "x", "n": "AQAB"})},
	} {
		advance(time.Second)
		s, act = send(h, bearerHdr(tok))
		if act != proxywasm.Pause || len(h.Callouts()) != 1 {
			t.Fatalf("%d: action %d, callouts %d", answer.status, act, len(h.Callouts()))
		}
		h.Callouts()[0].Respond(answer.status, nil, answer.body)
		unavailable(t, s)
	}
	advance(time.Second)
	s, _ = send(h, bearerHdr(tok))
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	if s.Resumed != 1 || s.Local != nil {
		t.Fatalf("recovered: resumed %d local %s", s.Resumed, local(s))
	}
}

func TestFailedRefreshKeepsStaleKeys(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	tok := func() string { return sign(t, "RS256", "r1", k.rsa, claims()) }
	s, _ := send(h, bearerHdr(tok()))
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))

	advance(11 * time.Minute)
	s, act := send(h, bearerHdr(tok()))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("no refresh: action %d callouts %d", act, len(h.Callouts()))
	}
	h.Callouts()[0].Fail()
	if s.Resumed != 1 || s.Local != nil || s.Header("x-user") != "alice" {
		t.Fatalf("stale keys not used: resumed %d local %s", s.Resumed, local(s))
	}
	// Retried after 30 s; until then the stale keys serve at once.
	advance(29 * time.Second)
	s, act = send(h, bearerHdr(tok()))
	admitted(t, s, act)
	if len(h.Callouts()) != 0 {
		t.Fatal("retried within 30s")
	}
	advance(time.Second)
	s, act = send(h, bearerHdr(tok()))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("no retry: action %d callouts %d", act, len(h.Callouts()))
	}
	h.Callouts()[0].Respond(503, nil, nil)
	if s.Resumed != 1 {
		t.Fatalf("not resumed: %s", local(s))
	}
}

// Requests that need the set while another request fetches it fetch it
// themselves: on wasmgate they can neither wait for the other's answer nor
// be resumed by it (see the package comment). None is admitted before its
// own answer.
func TestConcurrentRequestsDuringAFetch(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	tok := sign(t, "RS256", "r1", k.rsa, claims())
	var streams []*proxytest.Stream
	for i := 0; i < 3; i++ {
		s, act := send(h, bearerHdr(tok), [2]string{"X-User", "mallory"})
		if act != proxywasm.Pause || s.Local != nil {
			t.Fatalf("request %d: action %d local %s", i, act, local(s))
		}
		streams = append(streams, s)
	}
	calls := h.Callouts()
	if len(calls) != 3 {
		t.Fatalf("%d callouts for 3 waiting requests", len(calls))
	}
	for _, s := range streams {
		if s.Resumed != 0 || s.HasHeader("x-user") {
			t.Fatalf("admitted before any answer: %v", s.Request)
		}
	}
	calls[1].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	if streams[1].Resumed != 1 || streams[0].Resumed != 0 || streams[2].Resumed != 0 {
		t.Fatal("an answer resumed another request")
	}
	// Later answers, even failed ones, find the keys the first installed.
	calls[0].Fail()
	calls[2].Respond(500, nil, nil)
	for i, s := range streams {
		if s.Resumed != 1 || s.Local != nil || s.Header("x-user") != "alice" {
			t.Fatalf("request %d: resumed %d local %s", i, s.Resumed, local(s))
		}
	}
	// A request arriving now needs no fetch.
	s, act := send(h, bearerHdr(tok))
	admitted(t, s, act)
}

func TestFetchesInFlightAreBounded(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	tok := sign(t, "RS256", "r1", k.rsa, claims())
	for i := 0; i < maxInflight; i++ {
		send(h, bearerHdr(tok))
	}
	s, act := send(h, bearerHdr(tok))
	if act != proxywasm.Pause || len(h.Callouts()) != maxInflight {
		t.Fatalf("action %d, %d callouts", act, len(h.Callouts()))
	}
	unavailable(t, s)
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	s, act = send(h, bearerHdr(tok))
	admitted(t, s, act)
}

// A host may drop a callout's answer when the request that made it ends
// first; the fetch is then forgotten once overdue.
func TestLostFetchIsForgotten(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	tok := func() string { return sign(t, "RS256", "r1", k.rsa, claims()) }
	s, _ := send(h, bearerHdr(tok()))
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))

	advance(11 * time.Minute)
	s, _ = send(h, bearerHdr(tok()))
	s.Complete() // its fetch's answer is dropped
	advance(time.Second)
	s, act := send(h, bearerHdr(tok()))
	admitted(t, s, act) // a refresh is (thought to be) in flight: stale keys
	if len(h.Callouts()) != 1 {
		t.Fatalf("%d callouts", len(h.Callouts()))
	}
	advance(2*time.Second + lostGrace)
	s, act = send(h, bearerHdr(tok()))
	if act != proxywasm.Pause || len(h.Callouts()) != 2 {
		t.Fatalf("no new refresh: action %d callouts %d", act, len(h.Callouts()))
	}
}

func TestSharedSetIsAdopted(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg())
	key := shareKey(pluginName, "idp", "idp.example.com", "/.well-known/jwks.json")
	put := func(at time.Time, body []byte) {
		v := binary.LittleEndian.AppendUint64(nil, uint64(at.UnixNano()))
		h.PutSharedData(key, append(v, body...))
	}
	tok := sign(t, "RS256", "r1", k.rsa, claims())

	// Another VM fetched the set a minute ago: no fetch here.
	put(clock.Add(-time.Minute), jwks(t, rsaJWK("r1", k.rsa)))
	s, act := send(h, bearerHdr(tok))
	admitted(t, s, act)
	if len(h.Callouts()) != 0 {
		t.Fatal("fetched though the set is shared")
	}

	// Rotation seen by another VM: adopted for an unknown kid, without a
	// fetch (the shared set is 5 s old).
	advance(40 * time.Second)
	put(clock.Add(-5*time.Second), jwks(t, rsaJWK("r1", k.rsa), rsaJWK("r2", k.rsa2)))
	s, act = send(h, bearerHdr(sign(t, "RS256", "r2", k.rsa2, claims())))
	admitted(t, s, act)
	if len(h.Callouts()) != 0 {
		t.Fatal("fetched though the shared set has the kid")
	}

	// A shared set past refresh is used, but refreshed.
	h = start(t, jwksCfg())
	put(clock.Add(-time.Hour), jwks(t, rsaJWK("r1", k.rsa)))
	s, act = send(h, bearerHdr(tok))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("stale shared set not refreshed: action %d", act)
	}
	h.Callouts()[0].Fail()
	if s.Resumed != 1 || s.Local != nil {
		t.Fatalf("stale shared keys not used: %s", local(s))
	}

	// With share false, nothing is read or written.
	h = start(t, jwksCfg("jwks", map[string]any{"upstream": "idp", "authority": "idp.example.com", "share": false}))
	put(clock, jwks(t, rsaJWK("r1", k.rsa)))
	s, act = send(h, bearerHdr(tok))
	if act != proxywasm.Pause || len(h.Callouts()) != 1 {
		t.Fatalf("share false: action %d callouts %d", act, len(h.Callouts()))
	}
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa), rsaJWK("r2", k.rsa2)))
	if v, _, _ := h.SharedData(key); strings.Contains(string(v), `"r2"`) {
		t.Fatal("share false wrote shared data")
	}
}

func TestStaticKeysAndJWKSTogether(t *testing.T) {
	k := keysOnce()
	h := start(t, jwksCfg("keys", []map[string]any{{"kid": "h1", "alg": "HS256", "secret": string(k.secret)}}))
	// The set is fetched first; when that fails, the static key still
	// serves.
	s, act := send(h, bearerHdr(sign(t, "HS256", "h1", k.secret, claims())))
	if act != proxywasm.Pause {
		t.Fatalf("action %d", act)
	}
	h.Callouts()[0].Fail()
	if s.Resumed != 1 || s.Local != nil {
		t.Fatalf("static key not used: %s", local(s))
	}
	advance(time.Second)
	s, _ = send(h, bearerHdr(sign(t, "RS256", "r1", k.rsa, claims())))
	h.Callouts()[0].Respond(200, nil, jwks(t, rsaJWK("r1", k.rsa)))
	if s.Resumed != 1 {
		t.Fatalf("jwks key not used: %s", local(s))
	}
	s, act = send(h, bearerHdr(sign(t, "HS256", "h1", k.secret, claims())))
	admitted(t, s, act)
}

// Verified tokens are remembered; what admitting one does is the same
// every time, and a remembered token expires as a verified one would.
func TestVerdictCache(t *testing.T) {
	k := keysOnce()
	h := start(t, staticConfig(t, "hide_token", true, "query", "access_token", "clock_skew", "0s"))
	tok := sign(t, "ES256", "e1", k.ec, claims("exp", clock.Unix()+10))
	for i := 0; i < 3; i++ {
		s, act := send(h, bearerHdr(tok), [2]string{"X-User", "mallory"}, [2]string{"X-Scopes", "all"})
		admitted(t, s, act)
		if s.Header("x-user") != "alice" || s.Header("x-scopes") != "read,write" || s.HasHeader("authorization") || len(s.Request) != 6 {
			t.Fatalf("request %d: %v", i, s.Request)
		}
	}
	// The same token from the query: hidden there.
	s := h.NewStream()
	admitted(t, s, s.RequestHeaders(get("/x?access_token="+tok+"&a=1"), true))
	if s.Header(":path") != "/x?a=1" || s.Header("x-user") != "alice" {
		t.Fatalf("from the query: %v", s.Request)
	}
	advance(9 * time.Second)
	s, act := send(h, bearerHdr(tok))
	admitted(t, s, act)
	advance(time.Second)
	s, act = send(h, bearerHdr(tok))
	refused(t, s, act, "token expired")

	// A token without exp (require_exp off) is re-verified after cacheTTL;
	// a forged twin is never taken for the remembered one.
	h = start(t, staticConfig(t, "require_exp", false))
	tok = sign(t, "RS256", "r1", k.rsa, claims("exp", nil))
	forged := tok[:strings.LastIndexByte(tok, '.')+1] + b64(make([]byte, 256))
	for i := 0; i < 3; i++ {
		s, act = send(h, bearerHdr(tok))
		admitted(t, s, act)
		s, act = send(h, bearerHdr(forged))
		refused(t, s, act, "bad signature")
		advance(cacheTTL)
	}
}

// ---- configuration

func TestConfigErrors(t *testing.T) {
	k := keysOnce()
	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	good := map[string]any{"kid": "r1", "alg": "RS256", "pem": rsaPEM}
	for _, c := range []struct {
		cfg  any
		want string
	}{
		{``, "required"},
		{map[string]any{}, "at least one of keys and jwks"},
		{map[string]any{"keys": []any{}}, "at least one of keys and jwks"},
		{map[string]any{"keys": []any{map[string]any{"pem": "junk"}}}, "keys[0].pem: "},
		{map[string]any{"keys": []any{good, map[string]any{"kid": "x", "pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}}}, "keys[1].pem: "},
		{map[string]any{"keys": []any{map[string]any{"alg": "ES256", "pem": rsaPEM}}}, "keys[0].pem: "},
		{map[string]any{"keys": []any{map[string]any{"alg": "XX256", "pem": rsaPEM}}}, `keys[0].alg: unsupported algorithm "XX256"`},
		{map[string]any{"keys": []any{map[string]any{"secret": "short"}}}, "keys[0].secret: "},
		{map[string]any{"keys": []any{map[string]any{"secret": strings.Repeat("s", 40), "encoding": "hex"}}}, "keys[0].encoding"},
		{map[string]any{"keys": []any{map[string]any{"secret": "%%%%", "encoding": "base64"}}}, "keys[0].secret: "},
		{map[string]any{"keys": []any{map[string]any{"secret": strings.Repeat("s", 40), "pem": rsaPEM}}}, "keys[0]: both"},
		{map[string]any{"keys": []any{map[string]any{"kid": "a"}}}, "keys[0]: want one of pem and secret"},
		{map[string]any{"keys": []any{good, good}}, `keys[1].kid: "r1" is a duplicate`},
		{map[string]any{"keys": []any{good}, "algorithms": []string{"RS256", "HS257"}}, `algorithms[1]: unsupported algorithm "HS257"`},
		{map[string]any{"keys": []any{good}, "algorithms": []string{"none"}}, `algorithms[0]: unsupported algorithm`},
		{map[string]any{"keys": []any{good}, "algorithms": []string{"ES256"}}, "keys[0].alg: RS256 is not in algorithms"},
		{map[string]any{"jwks": map[string]any{}}, "jwks.upstream: required when jwks is set"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "path": "jwks.json"}}, "jwks.path"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "authority": "a/b"}}, "jwks.authority"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "refresh": "10"}}, "jwks.refresh"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "refresh": "10ms"}}, "jwks.refresh"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "timeout": "-1s"}}, "jwks.timeout"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "timeout": "2m"}}, "jwks.timeout"},
		{map[string]any{"jwks": map[string]any{"upstream": "idp", "refrsh": "1m"}}, `unknown field "refrsh"`},
		{map[string]any{"keys": []any{good}, "clock_skew": "abc"}, "clock_skew"},
		{map[string]any{"keys": []any{good}, "clock_skew": "-1s"}, "clock_skew"},
		{map[string]any{"keys": []any{good}, "issuers": []string{""}}, "issuers[0]"},
		{map[string]any{"keys": []any{good}, "audiences": []string{"api", ""}}, "audiences[1]"},
		{map[string]any{"keys": []any{good}, "audience": "api"}, `unknown field "audience"`},
		{map[string]any{"keys": []any{good}, "header": "Bad Header"}, "header:"},
		{map[string]any{"keys": []any{good}, "header": ""}, "header:"},
		{map[string]any{"keys": []any{good}, "cookie": "a b"}, "cookie:"},
		{map[string]any{"keys": []any{good}, "forward_claims": map[string]any{"sub": "Host"}}, "forward_claims.sub"},
		{map[string]any{"keys": []any{good}, "forward_claims": map[string]any{"sub": "Authorization"}}, "forward_claims.sub"},
		{map[string]any{"keys": []any{good}, "header": "X-Token", "forward_claims": map[string]any{"sub": "x-token"}}, "forward_claims.sub"},
		{map[string]any{"keys": []any{good}, "forward_claims": map[string]any{"sub": "X User"}}, "forward_claims.sub"},
		{map[string]any{"keys": []any{good}, "forward_claims": map[string]any{"sub": "X-U", "name": "x-u"}}, "is also set from claim"},
		{map[string]any{"keys": []any{good}, "realm": `a"b`}, "realm"},
		{`{"keys": []} {}`, "data after"},
	} {
		var raw []byte
		if s, ok := c.cfg.(string); ok {
			raw = []byte(s)
		} else {
			raw = mustJSON(t, c.cfg)
		}
		_, err := proxytest.New(proxytest.Options{Config: raw})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", raw, err, c.want)
		}
	}
	// Valid odd cases.
	for _, cfg := range []map[string]any{
		{"keys": []any{good}, "header": "", "query": "t"},
		{"jwks": map[string]any{"upstream": "idp"}, "clock_skew": "0s", "require_exp": false, "hide_token": true},
	} {
		if _, err := proxytest.New(proxytest.Options{Config: mustJSON(t, cfg)}); err != nil {
			t.Errorf("%v: %v", cfg, err)
		}
	}
}

func TestDeclaresOnlyRequestHeaders(t *testing.T) {
	h := start(t, staticConfig(t))
	if !h.Handles("request_headers") || h.Handles("request_body") || h.Handles("response_headers") || h.Handles("log") {
		t.Fatalf("phases %v", h.Phases)
	}
}

func TestHelpers(t *testing.T) {
	for _, c := range []struct{ header, name, want string }{
		{"a=1; jwt=x; b=2", "jwt", "a=1; b=2"},
		{"jwt=x", "jwt", ""},
		{"jwtx=1;jwt=2", "jwt", "jwtx=1"},
	} {
		if got := withoutCookie(c.header, c.name); got != c.want {
			t.Errorf("withoutCookie(%q) = %q, want %q", c.header, got, c.want)
		}
	}
	if tokenKid(sign(t, "HS256", "k\"1", keysOnce().secret, claims())) != "k\"1" || tokenKid("x") != "" || tokenKid("e30.x.y") != "" {
		t.Error("tokenKid")
	}
}
