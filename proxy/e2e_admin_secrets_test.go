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
