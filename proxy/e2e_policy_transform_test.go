package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestE2EPolicyTransform: the transform plugin rewrites the path, query
// and headers of requests and the JSON bodies both ways, through the
// gateway to a real backend; Content-Length follows the edited bodies.
func TestE2EPolicyTransform(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Internal", "secret")
		fmt.Fprintf(w, `{"path":%q,"gateway":%q,"debug":%q,"body":%q,"length":%d,"internal":{"node":"n1"}}`,
			r.URL.RequestURI(), r.Header.Get("X-Gateway"), r.Header.Get("X-Debug"), body, r.ContentLength)
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "transform"
module = %q
call_timeout = "2s"
pool = 1
config = '''
{"request": {"path": {"regex": "^/v1/(.*)$", "replacement": "/api/$1"},
             "query": {"remove": ["debug"], "set": {"source": "gw"}},
             "headers": {"remove": ["X-Debug"], "set": {"X-Gateway": "wasmgate"}},
             "body": {"rename": {"user_name": "user.name"}, "remove": ["password"]}},
 "response": {"headers": {"remove": ["X-Internal"]},
              "body": {"remove": ["internal"], "set": {"served_by": "wasmgate"}}}}
'''
[[plugins]]
name = "headers-only"
module = %q
call_timeout = "2s"
pool = 1
config = '{"request": {"headers": {"set": {"X-Gateway": "lean"}}}}'
[[routes]]
path_prefix = "/v1/"
upstream = "backend"
plugins = ["transform"]
[[routes]]
path_prefix = "/lean/"
upstream = "backend"
plugins = ["headers-only"]
`, builtPlugin(t, "transform.wasm"), builtPlugin(t, "transform.wasm")))
	client := newClient(t)
	resp, body := doReq(t, client, "POST", g.URL+"/v1/users?debug=1&x=2",
		map[string]string{"Content-Type": "application/json", "X-Debug": "on"},
		strings.NewReader(`{"user_name":"ann","password":"hunter2","n":1}`))
	want := `{"path":"/api/users?x=2&source=gw","gateway":"wasmgate","debug":"",` +
		`"body":"{\"n\":1,\"user\":{\"name\":\"ann\"}}","length":29,"served_by":"wasmgate"}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("%d\n got %s\nwant %s", resp.StatusCode, body, want)
	}
	if resp.Header.Get("X-Internal") != "" || resp.ContentLength != int64(len(want)) {
		t.Fatalf("response headers %v, length %d", resp.Header, resp.ContentLength)
	}

	// Each configuration declared only the phases it uses: a header-only
	// transform is never called for bodies (so they are not buffered for
	// it) nor for the response.
	phases := map[string]string{}
	for name, p := range adminPlugins(t, client, g) {
		phases[name] = strings.Join(p.Phases, ",")
	}
	if phases["headers-only"] != "request_headers" ||
		phases["transform"] != "request_headers,request_body,response_headers,response_body" {
		t.Fatalf("declared phases: %v", phases)
	}
	big := strings.Repeat("x", 3<<20)
	resp, body = doReq(t, client, "POST", g.URL+"/lean/up", map[string]string{"Content-Type": "text/plain"}, strings.NewReader(big))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"gateway":"lean"`) ||
		!strings.Contains(string(body), fmt.Sprintf(`"length":%d`, len(big))) {
		t.Fatalf("lean route: %d %.200s", resp.StatusCode, body)
	}
}

// TestE2ETransformRejectsWhatItCannotEdit: with on_skip "reject" a JSON
// body too large for the transform is refused, not forwarded with the
// field it should have removed: a request gets 413 before the backend
// sees it, a response 502 instead of the backend's body.
func TestE2ETransformRejectsWhatItCannotEdit(t *testing.T) {
	var reached atomic.Int32
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"secret":"s3","pad":%q}`, r.URL.Query().Get("pad"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "transform"
module = %q
call_timeout = "2s"
pool = 1
config = '{"request": {"body": {"remove": ["password"]}}, "response": {"body": {"remove": ["secret"]}}, "max_body_bytes": 64, "on_skip": "reject"}'
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["transform"]
`, builtPlugin(t, "transform.wasm")))
	client := newClient(t)
	json := map[string]string{"Content-Type": "application/json"}

	resp, body := doReq(t, client, "POST", g.URL+"/small", json, strings.NewReader(`{"password":"x"}`))
	if resp.StatusCode != 200 || string(body) != `{"pad":""}` {
		t.Fatalf("small bodies: %d %s", resp.StatusCode, body)
	}
	resp, body = doReq(t, client, "POST", g.URL+"/big", json,
		strings.NewReader(`{"password":"x","pad":"`+strings.Repeat("a", 100)+`"}`))
	if resp.StatusCode != 413 || !strings.Contains(string(body), `"error":"body_too_large"`) || reached.Load() != 1 {
		t.Fatalf("large request: %d %s, backend reached %d times (want once, by the first request)", resp.StatusCode, body, reached.Load())
	}
	resp, body = doReq(t, client, "GET", g.URL+"/big?pad="+strings.Repeat("a", 100), nil, nil)
	if resp.StatusCode != 502 || strings.Contains(string(body), "s3") || !strings.Contains(string(body), `"error":"transform_failed"`) {
		t.Fatalf("large response: %d %s", resp.StatusCode, body)
	}
}
