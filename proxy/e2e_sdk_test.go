package proxy_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestE2ESDKHotPathAllocatesNothing: a plugin on sdk/go that reads a
// header and a property and sets request and response headers makes no
// heap allocation per request once warm, SDK dispatch included (the
// probe reports runtime.MemStats.Mallocs between requests).
func TestE2ESDKHotPathAllocatesNothing(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("probe", builtPlugin(t, "sdk_allocprobe.wasm"), "call_timeout = \"2s\"\npool = 1\n"))
	client := newClient(t)
	// Then with a callout on every request, answered by the backend: the
	// delivery of its response allocates nothing either.
	for _, headers := range []map[string]string{{"X-Probe-In": "v"}, {"X-Probe-In": "v", "X-Probe-Callout": "1"}} {
		nonzero := 0
		for i := 0; i < 60; i++ {
			resp, body := doReq(t, client, "GET", g.URL+"/p", headers, nil)
			if resp.StatusCode != 200 || resp.Header.Get("X-Mallocs") == "" {
				t.Fatalf("request %d: %d %v %q", i, resp.StatusCode, resp.Header, body)
			}
			// The first requests warm up maps and the arena.
			if i >= 10 && resp.Header.Get("X-Mallocs") != "0" {
				nonzero++
				t.Logf("request %d %v: %s allocations", i, headers, resp.Header.Get("X-Mallocs"))
			}
		}
		if nonzero > 0 {
			t.Errorf("%d of 50 warm requests allocated in the guest (%v)", nonzero, headers)
		}
	}
}

// TestE2ESDKLifecycleCallsPerRequest: plugins on sdk/go agree with the
// gateway that a request's context is created by its first callback and
// released after its last one, so a headers-only policy costs one call
// into its VM per request (not three: create, headers, delete) and a
// plugin the request never reached costs none. A transform that only sets
// and removes response headers makes them response edits in its request
// callback, which the gateway applies: one call per request too, and, as
// with a response callback, nothing on a later plugin's local response.
func TestE2ESDKLifecycleCallsPerRequest(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Internal", "1")
		fmt.Fprintf(w, "consumer=%s gateway=%s", r.Header.Get("X-Consumer"), r.Header.Get("X-Gateway"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "key-auth"
module = %q
config = '{"keys": [{"consumer": "alice", "sha256": "%x"}]}'
call_timeout = "2s"
pool = 1
[[plugins]]
name = "transform"
module = %q
config = '{"request": {"headers": {"set": {"X-Gateway": "wasmgate"}}}, "response": {"headers": {"remove": ["X-Internal"], "set": {"X-Served-By": "wasmgate"}}}}'
call_timeout = "2s"
pool = 1
[[routes]]
path_prefix = "/b"
upstream = "backend"
plugins = ["transform", "key-auth"]
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["key-auth", "transform"]
`, builtPlugin(t, "key_auth.wasm"), sha256Sum("s3cret"), builtPlugin(t, "transform.wasm")))
	client := newClient(t)
	calls := func() map[string]int {
		m := map[string]int{}
		for name, p := range adminPlugins(t, client, g) {
			m[name] = int(p.Calls)
		}
		return m
	}
	before := calls()
	for i := 0; i < 10; i++ {
		resp, body := doReq(t, client, "GET", g.URL+"/a", map[string]string{"X-Api-Key": "s3cret"}, nil)
		if resp.StatusCode != 200 || string(body) != "consumer=alice gateway=wasmgate" || resp.Header.Get("X-Internal") != "" ||
			resp.Header.Get("X-Served-By") != "wasmgate" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
		}
	}
	after := calls()
	if k, tr := after["key-auth"]-before["key-auth"], after["transform"]-before["transform"]; k != 10 || tr != 10 {
		t.Fatalf("10 requests: %d calls into key-auth (want 10), %d into transform (want 10)", k, tr)
	}
	resp, body := doReq(t, client, "GET", g.URL+"/b", nil, nil)
	// transform's response edits reach the answer of a plugin after it.
	if resp.StatusCode != 401 || resp.Header.Get("X-Served-By") != "wasmgate" {
		t.Fatalf("refused after transform: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	resp, body = doReq(t, client, "GET", g.URL+"/b", map[string]string{"X-Api-Key": "s3cret"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != "wasmgate" || resp.Header.Get("X-Internal") != "" {
		t.Fatalf("transform first: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	after = calls()
	before = after
	for i := 0; i < 10; i++ {
		if resp, body := doReq(t, client, "GET", g.URL+"/a", nil, nil); resp.StatusCode != 401 {
			t.Fatalf("no key: %d %q", resp.StatusCode, body)
		}
	}
	after = calls()
	if k, tr := after["key-auth"]-before["key-auth"], after["transform"]-before["transform"]; k != 10 || tr != 0 {
		t.Fatalf("10 refused requests: %d calls into key-auth (want 10), %d into transform (want 0)", k, tr)
	}
}

// TestE2ESDKKeptHandleStaysWithItsRequest: a Stream kept past its request
// and used in a later request's callback (as a timer or goroutine would)
// acts on its own request, which the gateway refuses, never on the one
// running: before, its edit landed on the later client's request.
func TestE2ESDKKeptHandleStaysWithItsRequest(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "x-stale=%q", r.Header.Get("X-Stale"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("probe", builtPlugin(t, "sdk_allocprobe.wasm"), "pool = 1\n"))
	client := newClient(t)
	if resp, _ := doReq(t, client, "GET", g.URL+"/a", map[string]string{"X-Probe-Keep": "1"}, nil); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	resp, body := doReq(t, client, "GET", g.URL+"/b", map[string]string{"X-Probe-Stale": "1"}, nil)
	if resp.StatusCode != 200 || string(body) != `x-stale=""` || resp.Header.Get("X-Stale-Refused") != "true" {
		t.Fatalf("later request: %d %q, X-Stale-Refused %q", resp.StatusCode, body, resp.Header.Get("X-Stale-Refused"))
	}
}

// TestE2ESDKRootCallout: the SDK's RootCallout from a timer, through the
// real gateway: the call goes to the upstream and its answer reaches the
// plugin's root context.
func TestE2ESDKRootCallout(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tick" {
			fmt.Fprint(w, "tick-body-7")
			return
		}
		fmt.Fprint(w, "ok")
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("probe", builtPlugin(t, "sdk_allocprobe.wasm"), "pool = 1\n"))
	client := newClient(t)
	if resp, _ := doReq(t, client, "GET", g.URL+"/a", map[string]string{"X-Probe-Tick": "1"}, nil); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := doReq(t, client, "GET", g.URL+"/b", map[string]string{"X-Probe-Ticked": "1"}, nil)
		got := resp.Header.Get("X-Tick-Body")
		if got == "200 tick-body-7" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("X-Tick-Body %q, want the fetched answer", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
