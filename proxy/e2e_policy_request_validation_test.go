package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestE2EPolicyRequestValidation: the request-validation plugin refuses,
// through the gateway, requests with the wrong method, content type, size
// or JSON body (400 naming the violated path), and passes the rest on.
func TestE2EPolicyRequestValidation(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "validate-orders"
module = %q
call_timeout = "2s"
pool = 1
config = '''
{"methods": ["GET", "POST"], "content_types": ["application/json"], "max_body_bytes": 200,
 "schema": {"type": "object", "required": ["item", "qty"],
            "properties": {"item": {"type": "string"}, "qty": {"type": "integer", "minimum": 1},
                           "tags": {"type": "array", "items": {"enum": ["gift", "rush"]}}}}}
'''
[[routes]]
path_prefix = "/orders"
upstream = "backend"
plugins = ["validate-orders"]
`, builtPlugin(t, "request_validation.wasm")))
	client := newClient(t)
	js := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		method string
		hdr    map[string]string
		body   string
		status int
		code   string
		path   string
	}{
		{"POST", js, `{"item":"tea","qty":2,"tags":["gift"]}`, 200, "", ""},
		{"GET", nil, "", 200, "", ""},
		{"POST", js, `{"item":"tea","qty":0}`, 400, "invalid_request", "$.qty"},
		{"POST", js, `{"item":"tea","qty":1,"tags":["gift","later"]}`, 400, "invalid_request", "$.tags[1]"},
		{"POST", js, `{"item":"tea"`, 400, "invalid_request", ""},
		{"POST", map[string]string{"Content-Type": "text/plain"}, `hello`, 415, "unsupported_media_type", ""},
		{"DELETE", nil, "", 405, "method_not_allowed", ""},
		{"POST", js, `{"item":"` + strings.Repeat("t", 300) + `","qty":1}`, 413, "body_too_large", ""},
	} {
		hits := be.hits.Load()
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		resp, got := doReq(t, client, tc.method, g.URL+"/orders", tc.hdr, body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.body, resp.StatusCode, got, tc.status)
			continue
		}
		if tc.status == 200 {
			if be.hits.Load() != hits+1 {
				t.Errorf("%s %s: not forwarded", tc.method, tc.body)
			}
			continue
		}
		var e struct{ Error, Path, Message string }
		if err := json.Unmarshal(got, &e); err != nil || e.Error != tc.code || e.Path != tc.path || e.Message == "" {
			t.Errorf("%s %s: %s (%v), want %s at %q", tc.method, tc.body, got, err, tc.code, tc.path)
		}
		if be.hits.Load() != hits {
			t.Errorf("%s %s: a refused request reached the backend", tc.method, tc.body)
		}
	}
}

// TestE2ERequestValidationLargeJSON: a JSON body of many small values
// gets a 4xx, never exhausts the plugin's memory (a 500, or with
// fail_open an unchecked body forwarded): up to max_json_values it is
// checked (400 naming the path), beyond it refused (413), and an empty
// chunked POST fails require_body.
func TestE2ERequestValidationLargeJSON(t *testing.T) {
	var forwarded atomic.Int64
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		fmt.Fprint(w, "accepted")
	})
	g := startGateway(t, publicListener+`max_body_bytes = "4MiB"`+"\n"+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "validate"
module = %q
call_timeout = "5s"
on_error = "fail_open"
pool = 1
config = '''
{"require_body": true,
 "schema": {"type": "object", "properties": {"tags": {"type": "array", "maxItems": 100}}}}
'''
[[routes]]
path_prefix = "/orders"
upstream = "backend"
plugins = ["validate"]
`, builtPlugin(t, "request_validation.wasm")))
	client := newClient(t)
	for _, tc := range []struct {
		items  int
		status int
		path   string
	}{
		{90_000, 400, "$.tags"},
		{300_000, 413, ""},
		{1_000_000, 413, ""},
	} {
		body := `{"tags":[` + strings.Repeat("0,", tc.items-1) + `0]}`
		resp, got := doReq(t, client, "POST", g.URL+"/orders",
			map[string]string{"Content-Type": "application/json"}, strings.NewReader(body))
		var e struct{ Error, Path string }
		_ = json.Unmarshal(got, &e)
		if resp.StatusCode != tc.status || e.Path != tc.path {
			t.Errorf("%d-byte body (%d items): %d %s, want %d %q", len(body), tc.items, resp.StatusCode, got, tc.status, tc.path)
		}
	}
	resp, body := rawRoundTrip(t, g.Addr, crlf("POST /orders HTTP/1.1\nHost: api\nContent-Type: application/json\nTransfer-Encoding: chunked\n\n0\n\n"))
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"error":"invalid_request"`) {
		t.Errorf("empty chunked POST: %d %s, want 400 invalid_request", resp.StatusCode, body)
	}
	if n := forwarded.Load(); n != 0 {
		t.Errorf("%d refused requests reached the backend", n)
	}
}
