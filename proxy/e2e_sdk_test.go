package proxy_test

import (
	"fmt"
	"testing"
)

// TestE2ESDKHotPathAllocatesNothing: a plugin on sdk/go that reads a
// header and a property and sets request and response headers makes no
// heap allocation per request once warm, SDK dispatch included (the
// probe reports runtime.MemStats.Mallocs between requests).
func TestE2ESDKHotPathAllocatesNothing(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "probe"
module = %q
call_timeout = "2s"
pool = 1
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["probe"]
`, builtPlugin(t, "sdk_allocprobe.wasm")))
	client := newClient(t)
	nonzero := 0
	for i := 0; i < 60; i++ {
		resp, body := doReq(t, client, "GET", g.URL+"/p", map[string]string{"X-Probe-In": "v"}, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Mallocs") == "" {
			t.Fatalf("request %d: %d %v %q", i, resp.StatusCode, resp.Header, body)
		}
		// The first requests warm up maps and the arena.
		if i >= 10 && resp.Header.Get("X-Mallocs") != "0" {
			nonzero++
			t.Logf("request %d: %s allocations", i, resp.Header.Get("X-Mallocs"))
		}
	}
	if nonzero > 0 {
		t.Fatalf("%d of 50 warm requests allocated in the guest", nonzero)
	}
}
