package proxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/internal/watfixture"
)

// TestE2EPinnedPluginStaysPinned: a plugin whose config pins its module's
// sha256 takes no other module through PUT /plugins/{name}, with or
// without a pin header of the client's own.
func TestE2EPinnedPluginStaysPinned(t *testing.T) {
	be := newKillable(t, "be", nil)
	noop, _ := os.ReadFile(fixturePath(t, "noop"))
	stamp, _ := os.ReadFile(fixturePath(t, "add_header"))
	sum := sha256.Sum256(noop)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "p"
module = %q
sha256 = %q
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["p"]
`, fixturePath(t, "noop"), strings.ToUpper(hex.EncodeToString(sum[:])))) // hex in any case
	client := newClient(t)
	stampSum := sha256.Sum256(stamp)
	for _, header := range []string{"", hex.EncodeToString(stampSum[:])} {
		req, _ := http.NewRequest("PUT", g.AdminURL+"/plugins/p", strings.NewReader(string(stamp)))
		if header != "" {
			req.Header.Set("X-Module-Sha256", header)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 422 {
			t.Errorf("swap past the config's pin (header %q): %d, want 422", header, resp.StatusCode)
		}
	}
	if r, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); r.StatusCode != 200 || r.Header.Get("X-Plugin") != "" {
		t.Fatalf("after refused swaps: %d X-Plugin %q", r.StatusCode, r.Header.Get("X-Plugin"))
	}
}

// TestE2EConfigShowsNoSecrets: GET /config shows neither the admin token
// nor a plugin's config (where its keys and secrets are) nor discovery
// credentials, and still tells which plugin config is in service.
func TestE2EConfigShowsNoSecrets(t *testing.T) {
	be := newKillable(t, "be", nil)
	cfg := `{"keys": [{"consumer": "a", "secret": "jwt-hmac-s3cret"}]}`
	sum := sha256.Sum256([]byte(cfg))
	g := startGateway(t, "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"admin-s3cret\"\n"+publicListener+
		upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "p"
module = %q
config = '%s'
vm_config = "vm-s3cret"
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["p"]
`, fixturePath(t, "noop"), cfg))
	req, _ := http.NewRequest("GET", g.AdminURL+"/config", nil)
	req.Header.Set("Authorization", "Bearer admin-s3cret")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /config: %d %v", resp.StatusCode, err)
	}
	body := string(raw)
	for _, secret := range []string{"admin-s3cret", "jwt-hmac-s3cret", "vm-s3cret"} {
		if strings.Contains(body, secret) {
			t.Errorf("GET /config shows %q:\n%s", secret, body)
		}
	}
	if !strings.Contains(body, hex.EncodeToString(sum[:])) {
		t.Errorf("GET /config does not fingerprint the plugin config:\n%s", body)
	}
}

// TestE2ETokenlessAdminRefusesOtherSites: an admin API without a token
// answers a request addressed to a name other than localhost or a
// loopback address (DNS rebinding) or sent from another site's page (a
// cross-site form POST) with 403, and changes nothing; local tools, and a
// caller with the token when there is one, are answered.
func TestE2ETokenlessAdminRefusesOtherSites(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+`
[[routes]]
path_prefix = "/"
upstream = "backend"
`)
	client := newClient(t)
	port := g.AdminURL[strings.LastIndexByte(g.AdminURL, ':')+1:]
	// The reloads below would put this route in service.
	cfg, _ := os.ReadFile(g.Config)
	added := string(cfg) + "\n[[routes]]\nname = \"added\"\npath_prefix = \"/added\"\ndirect_response = { status = 204 }\n"
	if err := os.WriteFile(g.Config, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, host, origin string
		want                       int
	}{
		{"GET", "/config", "evil.example:" + port, "", 403},
		{"GET", "/routes", "127.0.0.1.nip.io:" + port, "", 403},
		{"POST", "/reload", "evil.example:" + port, "", 403},
		{"POST", "/reload", "127.0.0.1:" + port, "https://evil.example", 403},
		{"POST", "/reload", "127.0.0.1:" + port, "null", 403},
		{"POST", "/reload", "localhost:" + port, "http://localhost:" + port + "@evil.example", 403},
		// Probes may come by any name; they reveal nothing.
		{"GET", "/healthz", "evil.example", "", 200},
		{"GET", "/routes", "127.0.0.1:" + port, "", 200},
		{"GET", "/routes", "LOCALHOST:" + port, "", 200},
		{"GET", "/routes", "[::1]:" + port, "", 200},
		{"GET", "/routes", "localhost:" + port, "http://localhost:3000", 200},
	} {
		req, _ := http.NewRequest(tc.method, g.AdminURL+tc.path, nil)
		req.Host = tc.host
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s Host %q Origin %q: %d, want %d: %s", tc.method, tc.path, tc.host, tc.origin, resp.StatusCode, tc.want, body)
		}
		if tc.want == 403 && !strings.Contains(string(body), `"forbidden"`) {
			t.Errorf("%s %s Host %q: body %s, want a JSON forbidden error", tc.method, tc.path, tc.host, body)
		}
	}
	if r, _ := doReq(t, client, "GET", g.URL+"/added", nil, nil); r.StatusCode == 204 {
		t.Errorf("a refused reload ran")
	}
	if r, body := doReq(t, client, "POST", g.AdminURL+"/reload", nil, nil); r.StatusCode != 200 {
		t.Fatalf("local reload: %d %s", r.StatusCode, body)
	}
	if r, _ := doReq(t, client, "GET", g.URL+"/added", nil, nil); r.StatusCode != 204 {
		t.Errorf("after a local reload: /added %d, want 204", r.StatusCode)
	}

	// With a token, the token is the proof: any name, any origin.
	g2 := startGateway(t, "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"t0k\"\n"+publicListener+
		upstreamTOML("backend", "", be.addr)+"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n")
	req, _ := http.NewRequest("POST", g2.AdminURL+"/reload", nil)
	req.Host = "admin.internal.example"
	req.Header.Set("Origin", "https://console.internal.example")
	req.Header.Set("Authorization", "Bearer t0k")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("reload with the token by another name: %d, want 200", resp.StatusCode)
	}
	// Without it, a loopback admin with a token still answers local
	// tools' reads, but not a rebinding page's (before, setting a token
	// opened reads to other names); the scheme is case-insensitive.
	port2 := g2.AdminURL[strings.LastIndexByte(g2.AdminURL, ':')+1:]
	for _, tc := range []struct {
		host, auth string
		want       int
	}{
		{"127.0.0.1:" + port2, "", 200},
		{"evil.example:" + port2, "", 401},
		{"evil.example:" + port2, "bearer t0k", 200},
	} {
		req, _ := http.NewRequest("GET", g2.AdminURL+"/config", nil)
		req.Host = tc.host
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /config Host %q Authorization %q: %d, want %d", tc.host, tc.auth, resp.StatusCode, tc.want)
		}
	}
}

// TestE2EAdminWrongMethodIs405: an endpoint asked with a method it does
// not take answers 405 with Allow, not 404 (the endpoint is there).
func TestE2EAdminWrongMethodIs405(t *testing.T) {
	g := startGateway(t, publicListener+"[[routes]]\npath_prefix = \"/\"\ndirect_response = { status = 204 }\n")
	client := newClient(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/config", "GET, HEAD"},
		{"POST", "/upstreams", "GET, HEAD"},
		{"GET", "/reload", "POST"},
		{"GET", "/plugins/key-auth", "PUT"},
	} {
		resp, body := doReq(t, client, tc.method, g.AdminURL+tc.path, nil, nil)
		if resp.StatusCode != 405 || !strings.Contains(string(body), `"error": "method_not_allowed"`) ||
			resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q, %s; want 405, Allow %q", tc.method, tc.path,
				resp.StatusCode, resp.Header.Get("Allow"), body, tc.allow)
		}
	}
	if resp, body := doReq(t, client, "GET", g.AdminURL+"/nope", nil, nil); resp.StatusCode != 404 ||
		!strings.Contains(string(body), `"error": "not_found"`) {
		t.Errorf("GET /nope: %d %s", resp.StatusCode, body)
	}
}

// TestE2EPutUnknownPluginIs404: a module for a plugin the config does not
// have is refused as not found, without claiming a version keeps serving.
func TestE2EPutUnknownPluginIs404(t *testing.T) {
	be := newKillable(t, "be", nil)
	noop, _ := os.ReadFile(fixturePath(t, "noop"))
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("p", fixturePath(t, "noop"), ""))
	resp, body := doReq(t, newClient(t), "PUT", g.AdminURL+"/plugins/nope", nil, strings.NewReader(string(noop)))
	var e struct{ Error, Message string }
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 404 || e.Error != "plugin_not_found" ||
		e.Message != `no plugin named "nope" in the running config` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// TestE2EPinChangesTakeEffectOnReload: a pin added by a reload is in force
// at once (before, the plugin was reused with no pin and PUT still took
// any module), and one removed by a reload no longer holds.
func TestE2EPinChangesTakeEffectOnReload(t *testing.T) {
	be := newKillable(t, "be", nil)
	noop, _ := os.ReadFile(fixturePath(t, "noop"))
	stamp, _ := os.ReadFile(fixturePath(t, "add_header"))
	sum := sha256.Sum256(noop)
	conf := func(pin string) string {
		return publicListener + upstreamTOML("backend", "", be.addr) + pluginRoute("p", fixturePath(t, "noop"), pin+"\n")
	}
	g := startGateway(t, conf(""))
	client := newClient(t)
	put := func() int {
		resp, _ := doReq(t, client, "PUT", g.AdminURL+"/plugins/p", nil, strings.NewReader(string(stamp)))
		return resp.StatusCode
	}
	writeFile(t, g.Config, conf(fmt.Sprintf("sha256 = %q", hex.EncodeToString(sum[:]))))
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := put(); code != 422 {
		t.Fatalf("PUT after a reload that pins the plugin: %d, want 422", code)
	}
	writeFile(t, g.Config, conf(""))
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := put(); code != 200 {
		t.Fatalf("PUT after a reload that unpins the plugin: %d, want 200", code)
	}
}

// TestE2EUploadIsNeverTrusted: a module uploaded into a trusted plugin
// runs with the interruption checks: one whose start never returns is
// refused at the start-up bound. Run as built it held the reload lock for
// ever, and with it every later reload and the shutdown.
func TestE2EUploadIsNeverTrusted(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("p", fixturePath(t, "noop"), "trusted = true\ncall_timeout = \"20ms\"\n"))
	spin, _ := os.ReadFile(fixturePath(t, "start_loop"))
	client := newClient(t)
	client.Timeout = 20 * time.Second
	req, _ := http.NewRequest("PUT", g.AdminURL+"/plugins/p", strings.NewReader(string(spin)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("the upload never came back: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Fatalf("a module that never starts: %d %s", resp.StatusCode, body)
	}
	if _, err := g.G.Reload(); err != nil {
		t.Fatalf("reload after the refused upload: %v", err)
	}
	if r, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); r.StatusCode != 200 {
		t.Fatalf("the trusted plugin stopped serving: %d", r.StatusCode)
	}
}

// TestE2EReloadReportsARefusedModuleFile: once the watcher has refused a
// changed module file, a reload reads the file again and fails on it, as
// validate and a restart would; before, the watcher had already taken the
// new file's hash as the plugin's, so the reload kept the old version and
// said all was well.
func TestE2EReloadReportsARefusedModuleFile(t *testing.T) {
	be := newKillable(t, "be", nil)
	module := filepath.Join(t.TempDir(), "p.wasm")
	noop, _ := os.ReadFile(fixturePath(t, "noop"))
	writeFile(t, module, string(noop))
	g := startGateway(t, "[gateway]\nwatch_interval = \"50ms\"\n"+publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("p", module, ""))
	writeFile(t, module, string(noop[:len(noop)/2]))
	g.waitLog(t, "changed plugin module refused")
	if _, err := g.G.Reload(); err == nil || !strings.Contains(err.Error(), "plugins[0].module") {
		t.Fatalf("reload with a broken module file: %v, want an error at plugins[0].module", err)
	}
	if r, _ := doReq(t, newClient(t), "GET", g.URL+"/x", nil, nil); r.StatusCode != 200 {
		t.Fatalf("the running version stopped serving: %d", r.StatusCode)
	}
}

// TestE2EAdminBuffersOnlyAuthorizedUploads: the admin API reads a large
// body only for an upload by a caller that may make it; anything else is
// refused at 64 KiB (413 JSON) before it is held in memory. Its protocol
// errors are JSON too.
func TestE2EAdminBuffersOnlyAuthorizedUploads(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"t0k\"\n"+publicListener+
		upstreamTOML("backend", "", be.addr)+pluginRoute("p", fixturePath(t, "noop"), ""))
	client := newClient(t)
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"POST", "/reload", "", 413},
		{"PUT", "/plugins/p", "", 413},
		{"PUT", "/plugins/p", "Bearer wrong", 413},
		{"PUT", "/plugins/p", "Bearer t0k", 422}, // read whole, then refused: not Wasm
	} {
		hdr := map[string]string{}
		if tc.auth != "" {
			hdr["Authorization"] = tc.auth
		}
		resp, body := doReq(t, client, tc.method, g.AdminURL+tc.path, hdr, strings.NewReader(big))
		if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s (%q) with 1 MiB: %d %s, want %d JSON", tc.method, tc.path, tc.auth, resp.StatusCode, body, tc.want)
		}
	}
	resp, body := rawRoundTrip(t, g.AdminURL[len("http://"):], "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"bad_request"`) {
		t.Errorf("malformed request: %d %s", resp.StatusCode, body)
	}
}

// TestE2EReloadErrorSpanningLinesIsOne: a refused reload lists each error
// once, a trap's stack trace inside it, not one "error" per line.
func TestE2EReloadErrorSpanningLinesIsOne(t *testing.T) {
	g := startGateway(t, publicListener+"[[routes]]\npath_prefix = \"/\"\ndirect_response = { status = 204 }\n")
	module := filepath.Join(t.TempDir(), "trap.wasm")
	writeFile(t, module, string(watfixture.Assemble(t, `(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) unreachable)
)`)))
	writeFile(t, g.Config, readFile(t, g.Config)+fmt.Sprintf("[[plugins]]\nname = \"trap\"\nmodule = %q\n", module))
	resp, body := doReq(t, newClient(t), "POST", g.AdminURL+"/reload", nil, nil)
	var out struct{ Errors []string }
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 422 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	if len(out.Errors) != 1 || !strings.Contains(out.Errors[0], "plugins[0].module") || !strings.Contains(out.Errors[0], "\n") {
		t.Fatalf("errors %q, want one, with the trap's lines inside", out.Errors)
	}
}

// TestE2EReloadSaysAnUploadIsReplaced: a reload that changes a plugin's
// settings loads it from its file again; if the running module came by
// PUT, the reload says it is gone rather than replacing it silently.
func TestE2EReloadSaysAnUploadIsReplaced(t *testing.T) {
	be := newKillable(t, "be", nil)
	conf := func(pool int) string {
		return publicListener + upstreamTOML("backend", "", be.addr) + pluginRoute("p", fixturePath(t, "noop"), fmt.Sprintf("pool = %d\n", pool))
	}
	g := startGateway(t, conf(1))
	stamp, _ := os.ReadFile(fixturePath(t, "add_header"))
	if resp, body := doReq(t, newClient(t), "PUT", g.AdminURL+"/plugins/p", nil, strings.NewReader(string(stamp))); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	// Same settings: the upload stays, and nothing to say.
	if w, err := g.G.Reload(); err != nil || len(w) != 0 {
		t.Fatalf("unchanged reload: %q %v", w, err)
	}
	writeFile(t, g.Config, conf(2))
	w, err := g.G.Reload()
	if err != nil || !strings.Contains(strings.Join(w, "\n"), `plugin "p": its settings changed`) {
		t.Fatalf("reload that replaces the upload: warnings %q, %v", w, err)
	}
}
