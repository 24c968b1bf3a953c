package proxy_test

import (
	"strings"
	"testing"
)

// TestE2ERouting drives the route features end to end: path rewriting,
// query strings, the Host sent upstream, direct responses, and method,
// header, query and host conditions picking the route.
func TestE2ERouting(t *testing.T) {
	be := newRawHTTPBackend(t, func(r *rawReq) string { return okResp("backend") })
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+`
[[routes]]
name = "strip"
path_prefix = "/api/"
strip_prefix = true
upstream = "backend"

[[routes]]
name = "rewrite"
path_prefix = "/v1/"
path_rewrite = { regex = "^/v1/([a-z]+)/([0-9]+)$", replacement = "/internal/$2/$1" }
upstream = "backend"

[[routes]]
name = "target-host"
path_prefix = "/nohost/"
preserve_host = false
upstream = "backend"

[[routes]]
name = "host-rewrite"
path_prefix = "/hostrw/"
preserve_host = false
host_rewrite = "rewritten.test"
upstream = "backend"

[[routes]]
name = "status"
path = "/status"
methods = ["GET", "HEAD"]
direct_response = { status = 418, body = "short and stout", content_type = "text/x-teapot", headers = { "X-Direct" = "yes", "Cache-Control" = "no-cache" } }

[[routes]]
name = "m-post"
path = "/m"
methods = ["POST"]
direct_response = { status = 201, body = "post" }

[[routes]]
name = "m-any"
path = "/m"
direct_response = { body = "any" }

[[routes]]
name = "tenant"
path = "/h"
headers = { "X-Tenant" = { regex = "^[a-z]+$" } }
direct_response = { body = "tenant" }

[[routes]]
name = "flagged"
path = "/h"
headers = { "X-Flag" = { present = true } }
direct_response = { body = "flagged" }

[[routes]]
name = "no-tenant"
path = "/h"
direct_response = { body = "no tenant" }

[[routes]]
name = "v2"
path = "/q"
query = { "v" = "2" }
direct_response = { body = "v2" }

[[routes]]
name = "wild"
hosts = ["*.tenant.test"]
path_prefix = "/"
direct_response = { body = "wild" }

[[routes]]
name = "catch-all"
path_prefix = "/"
upstream = "backend"
`)

	type want struct {
		// forwarded
		target, host string
		// answered by the gateway
		status int
		body   string
		hdrs   map[string]string
	}
	cases := []struct {
		name, method, target, host string
		headers                    string
		want                       want
	}{
		{"strip_prefix", "GET", "/api/users", "", "", want{target: "/users", host: "example.test"}},
		{"strip_prefix to root", "GET", "/api/", "", "", want{target: "/"}},
		{"strip_prefix keeps the query", "GET", "/api/users?id=7&name=a%20b&e=", "", "", want{target: "/users?id=7&name=a%20b&e="}},
		{"strip_prefix keeps encoding", "GET", "/api/a%2Fb%20c", "", "", want{target: "/a%2Fb%20c"}},
		{"path_rewrite with groups", "GET", "/v1/items/42?x=1", "", "", want{target: "/internal/42/items?x=1"}},
		{"path_rewrite no match leaves the path", "GET", "/v1/Items/x", "", "", want{target: "/v1/Items/x"}},
		{"query string preserved byte for byte", "GET", "/search?q=a+b&q=c&z=%2F%3F&flag", "", "", want{target: "/search?q=a+b&q=c&z=%2F%3F&flag"}},
		{"query string preserved after the router parsed it", "GET", "/q?v=3&w=%2F+x", "", "", want{target: "/q?v=3&w=%2F+x"}},
		{"host preserved by default", "GET", "/plain", "client.test:8080", "", want{target: "/plain", host: "client.test:8080"}},
		{"preserve_host = false sends the target address", "GET", "/nohost/x", "client.test", "", want{target: "/nohost/x", host: be.Addr}},
		{"host_rewrite wins", "GET", "/hostrw/x", "client.test", "", want{target: "/hostrw/x", host: "rewritten.test"}},
		{"direct response", "GET", "/status", "", "", want{status: 418, body: "short and stout",
			hdrs: map[string]string{"Content-Type": "text/x-teapot", "X-Direct": "yes", "Cache-Control": "no-cache"}}},
		{"direct response to HEAD", "HEAD", "/status", "", "", want{status: 418, body: "",
			hdrs: map[string]string{"Content-Type": "text/x-teapot"}}},
		{"method not listed falls through", "POST", "/status", "", "", want{target: "/status"}},
		{"method condition", "POST", "/m", "", "", want{status: 201, body: "post"}},
		{"fewer conditions lose", "GET", "/m", "", "", want{status: 200, body: "any", hdrs: map[string]string{"Content-Type": "text/plain; charset=utf-8"}}},
		{"header regex matches", "GET", "/h", "", "X-Tenant: acme\n", want{status: 200, body: "tenant"}},
		{"header regex fails", "GET", "/h", "", "X-Tenant: ACME\n", want{status: 200, body: "no tenant"}},
		{"header present (empty value)", "GET", "/h", "", "X-Flag:\n", want{status: 200, body: "flagged"}},
		{"header absent", "GET", "/h", "", "", want{status: 200, body: "no tenant"}},
		{"query condition", "GET", "/q?v=2", "", "", want{status: 200, body: "v2"}},
		{"query condition fails", "GET", "/q?v=22", "", "", want{target: "/q?v=22"}},
		{"wildcard host", "GET", "/any", "x.tenant.test", "", want{status: 200, body: "wild"}},
		{"wildcard host needs a label", "GET", "/any", "tenant.test", "", want{target: "/any"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.host
			if host == "" {
				host = "example.test"
			}
			before := len(be.Requests())
			resp, body := rawRoundTrip(t, g.Addr, crlf(tc.method+" "+tc.target+" HTTP/1.1\nHost: "+host+"\n"+tc.headers+"\n"))
			got := be.Requests()[before:]
			if tc.want.target != "" {
				if resp.StatusCode != 200 || string(body) != "backend" || len(got) != 1 {
					t.Fatalf("got %d %q and %d backend requests, want it forwarded", resp.StatusCode, body, len(got))
				}
				r := got[0]
				if r.Target() != tc.want.target {
					t.Errorf("backend target = %q, want %q", r.Target(), tc.want.target)
				}
				if r.Method() != tc.method {
					t.Errorf("backend method = %q, want %q", r.Method(), tc.method)
				}
				if tc.want.host != "" {
					if h := r.Values("Host"); len(h) != 1 || h[0] != tc.want.host {
						t.Errorf("backend Host = %q, want [%q]", h, tc.want.host)
					}
				}
				if xh := r.Get("X-Forwarded-Host"); xh != host {
					t.Errorf("X-Forwarded-Host = %q, want the client's %q", xh, host)
				}
				return
			}
			if len(got) != 0 {
				t.Errorf("backend got %q, want a direct response", got[0].Line)
			}
			if resp.StatusCode != tc.want.status || string(body) != tc.want.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.want.status, tc.want.body)
			}
			for k, v := range tc.want.hdrs {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !requestIDRe.MatchString(resp.Header.Get("X-Request-Id")) {
				t.Errorf("direct response has X-Request-Id %q", resp.Header.Get("X-Request-Id"))
			}
			if tc.method == "HEAD" && resp.ContentLength != int64(len("short and stout")) {
				t.Logf("note: HEAD of a direct response has Content-Length %d", resp.ContentLength)
			}
		})
	}

	t.Run("routes follow a reload", func(t *testing.T) {
		g2 := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+
			"[[routes]]\npath = \"/r\"\ndirect_response = { body = \"one\" }\n")
		_, body := doReq(t, newClient(t), "GET", g2.URL+"/r", nil, nil)
		if string(body) != "one" {
			t.Fatalf("before reload: %q", body)
		}
		cfg := readFile(t, g2.Config)
		writeFile(t, g2.Config, strings.Replace(cfg, `"one"`, `"two"`, 1))
		if _, err := g2.G.Reload(); err != nil {
			t.Fatal(err)
		}
		if _, body := doReq(t, newClient(t), "GET", g2.URL+"/r", nil, nil); string(body) != "two" {
			t.Errorf("after reload: %q, want two", body)
		}
	})
}
