package main

import (
	"strings"
	"testing"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

const testConfig = `{"origins": ["https://App.Example.com", "HTTPS://*.example.ORG"], "methods": ["GET", "PUT"],
	"headers": ["X-Tenant"], "expose_headers": ["X-Request-Id", "X-RateLimit-Remaining"], "credentials": true, "max_age": 600}`

func start(t *testing.T) *proxytest.Host {
	t.Helper()
	h, err := proxytest.New(proxytest.Options{Config: []byte(testConfig)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func preflight(origin string) [][2]string {
	return [][2]string{{":method", "OPTIONS"}, {":path", "/x"}, {":authority", "api"},
		{"origin", origin}, {"access-control-request-method", "PUT"}}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []string{`{"methods": ["GET"]}`, `{"origins": []}`, `{"origins": ["*"], "credentials": true}`,
		`{"origins": ["https://a.test", "*"], "credentials": true}`,
		`{"origins": ["https://a.test"], "allow_headers": ["X-A"]}`, // a typo must not pass unseen
		// Entries no browser's Origin can equal, and "null".
		`{"origins": ["https://app.example.com/"]}`, `{"origins": ["app.example.com"]}`,
		`{"origins": ["*.example.com"]}`, `{"origins": ["https://*example.com"]}`,
		`{"origins": ["https://a.*.example.com"]}`, `{"origins": ["https://a.test:x"]}`, `{"origins": ["null"]}`} {
		if _, err := proxytest.New(proxytest.Options{Config: []byte(cfg)}); err == nil {
			t.Errorf("%s: accepted", cfg)
		}
	}
}

func TestPreflight(t *testing.T) {
	h := start(t)
	for _, origin := range []string{"https://app.example.com", "https://a.b.example.org"} {
		s := h.NewStream()
		if act := s.RequestHeaders(preflight(origin), true); act != proxywasm.Pause || s.Local == nil {
			t.Fatalf("%s: not answered", origin)
		}
		l := s.Local
		if l.Status != 204 || l.Header("access-control-allow-origin") != origin ||
			l.Header("access-control-allow-methods") != "GET, PUT" || l.Header("access-control-allow-headers") != "X-Tenant" ||
			l.Header("access-control-allow-credentials") != "true" || l.Header("access-control-max-age") != "600" {
			t.Fatalf("%s: %+v", origin, l)
		}
	}
	for _, origin := range []string{"https://evil.test", "https://example.org", "http://app.example.org", "https://app.example.com.evil.test",
		"https://evil.test/.example.org", "https://a..example.org", "https://.example.org"} {
		s := h.NewStream()
		s.RequestHeaders(preflight(origin), true)
		// The refusal depends on the Origin too: a cache must not serve
		// it to an allowed origin.
		if s.Local == nil || s.Local.Status != 403 || !strings.Contains(string(s.Local.Body), "cors_origin") ||
			s.Local.Header("vary") != "Origin" {
			t.Fatalf("%s: %+v", origin, s.Local)
		}
	}
}

func TestActualRequests(t *testing.T) {
	h := start(t)
	s := h.NewStream()
	req := [][2]string{{":method", "GET"}, {":path", "/x"}, {"origin", "https://app.example.com"}}
	if act := s.RequestHeaders(req, true); act != proxywasm.Continue {
		t.Fatalf("action %d", act)
	}
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if s.ResponseHeader("access-control-allow-origin") != "https://app.example.com" ||
		s.ResponseHeader("access-control-allow-credentials") != "true" || s.ResponseHeader("vary") != "Origin" ||
		s.ResponseHeader("access-control-expose-headers") != "X-Request-Id, X-RateLimit-Remaining" {
		t.Fatalf("allowed origin: %v", s.Response)
	}
	// The headers are response edits: no response phase, one call.
	if strings.Join(h.Phases, ",") != "request_headers" || !s.Finished {
		t.Fatalf("phases %v, finished %v", h.Phases, s.Finished)
	}
	s.Complete()

	s = h.NewStream()
	s.RequestHeaders([][2]string{{":method", "GET"}, {":path", "/x"}, {"origin", "https://evil.test"}}, true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if s.ResponseHeader("access-control-allow-origin") != "" || s.ResponseHeader("vary") != "Origin" ||
		s.ResponseHeader("access-control-expose-headers") != "" {
		t.Fatalf("other origin marked, or its answer not marked as varying: %v", s.Response)
	}
	s.Complete()

	// Scheme and host are case-insensitive; the origin goes back as sent.
	s = h.NewStream()
	s.RequestHeaders([][2]string{{":method", "GET"}, {":path", "/x"}, {"origin", "HTTPS://A.Example.ORG"}}, true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if s.ResponseHeader("access-control-allow-origin") != "HTTPS://A.Example.ORG" {
		t.Fatalf("upper-case origin: %v", s.Response)
	}
	s.Complete()

	// A reused request object forgets the previous request's origin.
	s = h.NewStream()
	s.RequestHeaders([][2]string{{":method", "GET"}, {":path", "/x"}}, true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if s.ResponseHeader("access-control-allow-origin") != "" || s.ResponseHeader("vary") != "Origin" {
		t.Fatalf("no origin, yet marked, or not marked as varying: %v", s.Response)
	}
}

// TestAnyOrigin: "*" answers every origin with a literal "*", which
// depends on nothing (no Vary), and refuses to go with credentials.
func TestAnyOrigin(t *testing.T) {
	h, err := proxytest.New(proxytest.Options{Config: []byte(`{"origins": ["*"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	s := h.NewStream()
	s.RequestHeaders([][2]string{{":method", "GET"}, {":path", "/me"}, {"origin", "https://evil.test"}}, true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if s.ResponseHeader("access-control-allow-origin") != "*" || s.ResponseHeader("vary") != "" ||
		s.ResponseHeader("access-control-allow-credentials") != "" {
		t.Fatalf("response %v", s.Response)
	}
	s = h.NewStream()
	s.RequestHeaders(preflight("https://a.test"), true)
	if s.Local == nil || s.Local.Status != 204 || s.Local.Header("access-control-allow-origin") != "*" || s.Local.Header("vary") != "" {
		t.Fatalf("preflight %+v", s.Local)
	}
}
