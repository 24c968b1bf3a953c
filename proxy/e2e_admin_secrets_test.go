package proxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
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
`, fixturePath(t, "noop"), hex.EncodeToString(sum[:])))
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
