package proxy_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ERelativePathsFollowTheConfigFile: certificate, discovery file
// and log file paths written relative in the config are found next to
// the config file, not in the directory the gateway was started from
// (here the package's), as module paths always were.
func TestE2ERelativePathsFollowTheConfigFile(t *testing.T) {
	be := newKillable(t, "be", nil)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeCert(t, filepath.Join(dir, "certs"), "a.test")
	writeFile(t, filepath.Join(dir, "targets.json"), fmt.Sprintf(`{"targets": [%q]}`, be.addr))
	cfg := filepath.Join(dir, "gateway.toml")
	writeFile(t, cfg, `
[admin]
listen = "127.0.0.1:0"
[log]
level = "info"
output = "logs.jsonl"
access_log = true
[[listeners]]
name = "tls"
listen = "127.0.0.1:0"
tls = [{ cert = "certs/a.test.pem", key = "certs/a.test.key" }]
[[upstreams]]
name = "backend"
discovery = { provider = "file", path = "targets.json", interval = "50ms" }
[[routes]]
path_prefix = "/"
upstream = "backend"
`)
	if wd, _ := os.Getwd(); strings.HasPrefix(wd, dir) {
		t.Fatalf("the test runs in %s, inside the config's directory", wd)
	}
	g := runGateway(t, cfg)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"},
	}}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err = client.Get("https://" + g.ListenerAddr("tls") + "/hello")
		if err == nil && resp.StatusCode == 200 || time.Now().After(deadline) {
			break
		}
		if err == nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "a.test" {
		t.Fatalf("through the TLS listener: %d %s", resp.StatusCode, body)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, "logs.jsonl"))
		if strings.Contains(string(b), `"/hello"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line in %s: %q", filepath.Join(dir, "logs.jsonl"), b)
		}
	}
	if _, err := os.Stat("logs.jsonl"); err == nil {
		os.Remove("logs.jsonl")
		t.Error("the log file was created in the working directory")
	}
}
