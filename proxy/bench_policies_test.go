package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkPolicies is what each built-in policy adds to a request: the
// gateway's handler with a direct response (no upstream, so only the
// gateway's own work is measured), with no plugin and with each policy
// configured so that the request passes it, then the chain of key-auth,
// rate-limit and transform. Subtract "none" for a policy's own cost. Run
// `make plugins` first; `go test -run '^$' -bench Policies ./proxy/`.
func BenchmarkPolicies(b *testing.B) {
	key := fmt.Sprintf("%x", sha256.Sum256([]byte("bench-key")))
	pass := fmt.Sprintf("%x", sha256.Sum256([]byte("pw")))
	plugins := fmt.Sprintf(`
[[plugins]]
name = "key-auth"
module = %q
config = '{"keys": [{"consumer": "bench", "sha256": "%s"}]}'
[[plugins]]
name = "basic-auth"
module = %q
config = '{"users": [{"username": "bench", "sha256": "%s"}]}'
[[plugins]]
name = "rate-limit"
module = %q
config = '{"limit": 1000000000, "window": "1s", "key": "consumer"}'
[[plugins]]
name = "transform"
module = %q
config = '{"request": {"headers": {"set": {"X-Gateway": "wasmgate"}, "remove": ["X-Debug"]}}, "response": {"headers": {"set": {"X-Served-By": "wasmgate"}}}}'
[[plugins]]
name = "cors"
module = %q
config = '{"origins": ["https://app.example.com"]}'
[[plugins]]
name = "ip-filter"
module = %q
config = '{"allow": ["127.0.0.0/8"]}'
`, builtModule(b, "key_auth.wasm"), key, builtModule(b, "basic_auth.wasm"), pass,
		builtModule(b, "rate_limit.wasm"), builtModule(b, "transform.wasm"),
		builtModule(b, "cors.wasm"), builtModule(b, "ip_filter.wasm"))
	// The chain again, trusted (see docs/CONFIG.md): modules run as built,
	// without the interruption checks, to show what those cost.
	plugins += fmt.Sprintf(`
[[plugins]]
name = "key-auth-trusted"
module = %q
config = '{"keys": [{"consumer": "bench", "sha256": "%s"}]}'
trusted = true
[[plugins]]
name = "rate-limit-trusted"
module = %q
config = '{"limit": 1000000000, "window": "1s", "key": "consumer"}'
trusted = true
[[plugins]]
name = "transform-trusted"
module = %q
config = '{"request": {"headers": {"set": {"X-Gateway": "wasmgate"}, "remove": ["X-Debug"]}}, "response": {"headers": {"set": {"X-Served-By": "wasmgate"}}}}'
trusted = true
`, builtModule(b, "key_auth.wasm"), key, builtModule(b, "rate_limit.wasm"), builtModule(b, "transform.wasm"))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:pw"))
	for _, tc := range []struct {
		name, chain string
		parallel    bool
	}{
		{"none", `[]`, false},
		{"key-auth", `["key-auth"]`, false},
		{"basic-auth-sha256", `["basic-auth"]`, false},
		{"rate-limit", `["rate-limit"]`, false},
		{"transform", `["transform"]`, false},
		{"cors", `["cors"]`, false},
		{"ip-filter", `["ip-filter"]`, false},
		{"key-auth+rate-limit+transform", `["key-auth", "rate-limit", "transform"]`, false},
		{"key-auth-trusted", `["key-auth-trusted"]`, false},
		{"key-auth+rate-limit+transform-trusted", `["key-auth-trusted", "rate-limit-trusted", "transform-trusted"]`, false},
		// Both cores at once: what contention between them adds.
		{"none-parallel", `[]`, true},
		{"key-auth+rate-limit+transform-parallel", `["key-auth", "rate-limit", "transform"]`, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// 500 untimed requests warm every VM of the pools (maps,
			// arenas, the Go runtime inside).
			benchChain(b, plugins, tc.chain, 500, func(h *fasthttp.RequestHeader) {
				h.Set("X-Api-Key", "bench-key")
				h.Set("Authorization", basic)
				h.Set("Origin", "https://app.example.com")
				// What key-auth sets before rate-limit in the chain, so
				// that rate-limit alone takes the same path (its key from
				// the consumer, not the client address).
				h.Set("X-Consumer", "bench")
			}, tc.parallel)
		})
	}
}

// builtModule is a plugin make plugins built.
func builtModule(b testing.TB, file string) string {
	p, err := filepath.Abs(filepath.Join("..", "plugins", "build", file))
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		b.Fatalf("%v: run make plugins first", err)
	}
	return p
}
