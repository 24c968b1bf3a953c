package proxy_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/proxy"
)

// jwtE2EToken signs a token: RS256 with an *rsa.PrivateKey, HS256 with a
// []byte secret.
func jwtE2EToken(t *testing.T, kid string, key any, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	alg := "RS256"
	if _, ok := key.([]byte); ok {
		alg = "HS256"
	}
	hdr, _ := json.Marshal(map[string]any{"alg": alg, "kid": kid, "typ": "JWT"})
	payload, _ := json.Marshal(claims)
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	var sig []byte
	switch k := key.(type) {
	case []byte:
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case *rsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	}
	return input + "." + enc.EncodeToString(sig)
}

func jwtE2EClaims(sub string, exp time.Time) map[string]any {
	return map[string]any{"sub": sub, "iss": "https://idp.example.com", "aud": "api",
		"iat": time.Now().Unix(), "exp": exp.Unix(), "scope": []string{"read", "write"}}
}

// TestE2EPolicyJWT: the jwt plugin, built from plugins/jwt, verifies
// tokens through the gateway: RS256 tokens against a JWK Set the plugin
// fetches from a gateway upstream, HS256 tokens against a static key on
// another route.
func TestE2EPolicyJWT(t *testing.T) {
	module := builtPlugin(t, "jwt.wasm")
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	set, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": enc.EncodeToString(priv.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
	}}})
	var jwksHits, jwksStray atomic.Int64
	idp := newKillable(t, "idp", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != "/.well-known/jwks.json" || r.Host != "idp.example.com" {
			jwksStray.Add(1)
			http.NotFound(w, r)
			return
		}
		jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	})
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s scopes=%s auth=%s", r.Header.Get("X-User"), r.Header.Get("X-Scopes"), r.Header.Get("Authorization"))
	})
	secret := []byte("e2e-hs256-secret-0123456789abcdef")
	rsConfig, _ := json.Marshal(map[string]any{
		"jwks": map[string]any{"upstream": "idp", "path": "/.well-known/jwks.json", "authority": "idp.example.com",
			"refresh": "10m", "timeout": "2s"},
		"algorithms": []string{"RS256"}, "issuers": []string{"https://idp.example.com"}, "audiences": []string{"api"},
		"forward_claims": map[string]string{"sub": "X-User", "scope": "X-Scopes"},
	})
	hsConfig, _ := json.Marshal(map[string]any{
		"keys":           []any{map[string]any{"kid": "h1", "alg": "HS256", "secret": string(secret)}},
		"forward_claims": map[string]string{"sub": "X-User"},
		"hide_token":     true,
	})
	// Shared data is the whole process's: a name of its own per run keeps
	// another run's key set out of this one.
	suffix := time.Now().UnixNano()
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+upstreamTOML("idp", "", idp.addr)+fmt.Sprintf(`
[[plugins]]
name = "jwt-rs-%[1]d"
module = %[2]q
config = '%[3]s'
pool = 2
call_timeout = "2s"
[[plugins]]
name = "jwt-hs-%[1]d"
module = %[2]q
config = '%[4]s'
pool = 2
call_timeout = "2s"
[[routes]]
path_prefix = "/api/"
upstream = "backend"
plugins = ["jwt-rs-%[1]d"]
[[routes]]
path_prefix = "/hs/"
upstream = "backend"
plugins = ["jwt-hs-%[1]d"]
`, suffix, module, rsConfig, hsConfig))
	client := newClient(t)
	valid := jwtE2EToken(t, "k1", priv, jwtE2EClaims("alice", time.Now().Add(time.Hour)))
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	// No token: a challenge without an error, and the backend is not asked.
	hits := be.hits.Load()
	resp, body := doReq(t, client, "GET", g.URL+"/api/x", map[string]string{"X-User": "mallory"}, nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="wasmgate"` ||
		resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error":"invalid_token"`) {
		t.Fatalf("no token: %d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	if jwksHits.Load() != 0 {
		t.Fatalf("the key set was fetched for a request without a token")
	}

	// A valid token: the set is fetched, the claims forwarded, and the
	// client's own X-User replaced.
	hdr := bearer(valid)
	hdr["X-User"] = "mallory"
	resp, body = doReq(t, client, "GET", g.URL+"/api/x", hdr, nil)
	if resp.StatusCode != 200 || string(body) != "user=alice scopes=read,write auth=Bearer "+valid {
		t.Fatalf("valid token: %d %q", resp.StatusCode, body)
	}
	if jwksHits.Load() != 1 || jwksStray.Load() != 0 {
		t.Fatalf("key set fetched %d times (%d stray requests), want 1", jwksHits.Load(), jwksStray.Load())
	}

	// Expired, badly signed and malformed tokens: 401 with the reason.
	expired := jwtE2EToken(t, "k1", priv, jwtE2EClaims("alice", time.Now().Add(-time.Hour)))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := jwtE2EToken(t, "k1", other, jwtE2EClaims("alice", time.Now().Add(time.Hour)))
	for _, c := range []struct{ token, reason string }{
		{expired, "token expired"},
		{forged, "bad signature"},
		{"not-a-jwt", "malformed token"},
	} {
		resp, body = doReq(t, client, "GET", g.URL+"/api/x", bearer(c.token), nil)
		want := `Bearer realm="wasmgate", error="invalid_token", error_description="` + c.reason + `"`
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want ||
			!strings.Contains(string(body), `"message":"`+c.reason+`"`) {
			t.Fatalf("%s: %d %q %q", c.reason, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
	if be.hits.Load() != hits+1 {
		t.Fatalf("refused requests reached the backend: %d hits, want %d", be.hits.Load(), hits+1)
	}

	// Twenty more, then a concurrent burst: the pool's VMs fetch the set
	// at most once each (the second VM normally adopts the first's from
	// shared data).
	for i := 0; i < 20; i++ {
		resp, body = doReq(t, client, "GET", g.URL+"/api/x", bearer(valid), nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "user=alice ") {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", g.URL+"/api/y", nil)
			req.Header.Set("Authorization", "Bearer "+valid)
			resp, err := client.Do(req)
			if err != nil {
				bad.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of the concurrent requests failed", bad.Load())
	}
	n := jwksHits.Load()
	if n < 1 || n > 2 {
		t.Fatalf("key set fetched %d times for 38 requests on a pool of 2", n)
	}
	t.Logf("the key set was fetched %d time(s) for 38 requests on a pool of 2", n)

	// The static HS256 route: its own key, the token hidden from the
	// backend, and no key set fetched.
	before := jwksHits.Load()
	hs := jwtE2EToken(t, "h1", secret, jwtE2EClaims("bob", time.Now().Add(time.Hour)))
	resp, body = doReq(t, client, "GET", g.URL+"/hs/z", bearer(hs), nil)
	if resp.StatusCode != 200 || string(body) != "user=bob scopes= auth=" {
		t.Fatalf("HS256: %d %q", resp.StatusCode, body)
	}
	resp, body = doReq(t, client, "GET", g.URL+"/hs/z", bearer(valid), nil)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("RS256 token on the HS256 route: %d %q", resp.StatusCode, body)
	}
	resp, _ = doReq(t, client, "GET", g.URL+"/api/x", bearer(hs), nil)
	if resp.StatusCode != 401 {
		t.Fatalf("HS256 token on the RS256 route: %d", resp.StatusCode)
	}
	if jwksHits.Load() != before {
		t.Fatalf("the HS256 route fetched the key set")
	}

	// The identity provider goes away: the keys in hand go on serving.
	idp.kill()
	resp, _ = doReq(t, client, "GET", g.URL+"/api/x", bearer(valid), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("with the identity provider down: %d", resp.StatusCode)
	}
}

// TestE2EUnknownCalloutUpstreamIsNamed: a jwks.upstream the gateway has
// no upstream for is refused when the plugin makes the call
// (proxy_http_call answers BadArgument, as Envoy does for an unknown
// cluster), and the gateway's log names the setting and the name.
func TestE2EUnknownCalloutUpstreamIsNamed(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"jwks": map[string]any{"upstream": "idp-missing", "authority": "idp.example.com"}})
	// A name of its own keeps other runs' key sets (shared data) out.
	name := fmt.Sprintf("jwt-nowhere-%d", time.Now().UnixNano())
	g := startGateway(t, "[log]\nlevel = \"warn\"\naccess_log = false\noutput = \"{{log}}\"\n"+publicListener+upstreamTOML("backend", "", be.Addr)+pluginRoute(name, builtPlugin(t, "jwt.wasm"), "config = '"+string(cfg)+"'\n"))
	tok := jwtE2EToken(t, "k1", priv, jwtE2EClaims("alice", time.Now().Add(time.Hour)))
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/x", map[string]string{"Authorization": "Bearer " + tok}, nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "jwks_unavailable") {
		t.Fatalf("%d %s, want 503 jwks_unavailable", resp.StatusCode, body)
	}
	g.waitLog(t, name, `jwks.upstream: the gateway has no upstream named \"idp-missing\"`)
	if n := len(be.Requests()); n != 0 {
		t.Fatalf("the backend got %d requests", n)
	}
}

// TestE2EPluginRefusingItsConfigSaysWhy: a plugin that refuses its
// configuration is reported at the plugin's config line, with the reason
// it logged, so an operator need not search the log for it.
func TestE2EPluginRefusingItsConfigSaysWhy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.toml")
	writeFile(t, path, fmt.Sprintf(`[admin]
listen = ""
[log]
output = %q
[[listeners]]
name = "public"
listen = "127.0.0.1:0"
[[plugins]]
name = "jwt"
module = %q
config = '{"keys": []}'
[[routes]]
path_prefix = "/"
direct_response = { status = 204 }
plugins = ["jwt"]
`, filepath.Join(dir, "log"), builtPlugin(t, "jwt.wasm")))
	_, err := proxy.New(proxy.Options{ConfigPath: path})
	if err == nil || !strings.Contains(err.Error(), path+":11: plugins[0].config: ") ||
		!strings.Contains(err.Error(), "at least one of keys and jwks is required") {
		t.Fatalf("error %v; want it at plugins[0].config with the plugin's reason", err)
	}
}

// TestE2EMemoryLimitBelowTheModuleIsNamed: a memory_limit under what the
// module starts with is reported at memory_limit, the setting to change,
// not at module.
func TestE2EMemoryLimitBelowTheModuleIsNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.toml")
	writeFile(t, path, fmt.Sprintf(`[admin]
listen = ""
[[listeners]]
name = "public"
listen = "127.0.0.1:0"
[[plugins]]
name = "t"
module = %q
memory_limit = "1MiB"
config = '{}'
[[routes]]
path_prefix = "/"
direct_response = { status = 204 }
plugins = ["t"]
`, builtPlugin(t, "transform.wasm")))
	_, err := proxy.New(proxy.Options{ConfigPath: path})
	if err == nil || !strings.Contains(err.Error(), path+":9: plugins[0].memory_limit: the module starts with more memory than the limit allows") {
		t.Fatalf("error %v; want it at plugins[0].memory_limit", err)
	}
}

// TestE2ECookieEditsReplace: a plugin replacing Cookie or Set-Cookie
// leaves that value alone. fasthttp's Set of a cookie header merges into
// the cookies it has, so jwt's hide_token sent the token on (and every
// other cookie twice), and with hide_token off the cookie it puts back
// doubled them all.
func TestE2ECookieEditsReplace(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string {
		return okResp("ok", "Set-Cookie: a=1", "Set-Cookie: b=2")
	})
	secret := []byte("e2e-hs256-secret-0123456789abcdef")
	jwtConfig := func(hide bool) string {
		c, _ := json.Marshal(map[string]any{
			"keys":   []any{map[string]any{"kid": "h1", "alg": "HS256", "secret": string(secret)}},
			"cookie": "tok", "hide_token": hide,
		})
		return string(c)
	}
	suffix := time.Now().UnixNano()
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+fmt.Sprintf(`
[[plugins]]
name = "hide-%[1]d"
module = %[2]q
config = '%[3]s'
[[plugins]]
name = "keep-%[1]d"
module = %[2]q
config = '%[4]s'
[[plugins]]
name = "set-cookie"
module = %[5]q
config = '{"response": {"headers": {"set": {"Set-Cookie": "c=3"}}}}'
[[routes]]
path_prefix = "/hide/"
upstream = "backend"
plugins = ["hide-%[1]d"]
[[routes]]
path_prefix = "/keep/"
upstream = "backend"
plugins = ["keep-%[1]d"]
[[routes]]
path_prefix = "/set/"
upstream = "backend"
plugins = ["set-cookie"]
`, suffix, builtPlugin(t, "jwt.wasm"), jwtConfig(true), jwtConfig(false), builtPlugin(t, "transform.wasm")))
	client := newClient(t)
	tok := jwtE2EToken(t, "h1", secret, jwtE2EClaims("alice", time.Now().Add(time.Hour)))
	for _, tc := range []struct{ path, want string }{
		{"/hide/x", "a=1; b=2"},
		{"/keep/x", "a=1; tok=" + tok + "; b=2"},
	} {
		before := len(be.Requests())
		resp, body := doReq(t, client, "GET", g.URL+tc.path, map[string]string{"Cookie": "a=1; tok=" + tok + "; b=2"}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, body)
		}
		r := be.Requests()[before]
		if got := strings.Join(r.Values("Cookie"), " | "); got != tc.want {
			t.Errorf("%s: the target got Cookie %q, want %q", tc.path, got, tc.want)
		}
	}
	resp, _ := doReq(t, client, "GET", g.URL+"/set/x", nil, nil)
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "c=3" {
		t.Errorf("Set-Cookie replaced: got %q, want [c=3]", got)
	}
}
