package main

import (
	"strings"
	"testing"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

func start(t *testing.T, config string) *proxytest.Host {
	t.Helper()
	h, err := proxytest.New(proxytest.Options{Config: []byte(config)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func req(path string, headers ...[2]string) [][2]string {
	return append([][2]string{{":method", "POST"}, {":path", path}, {":authority", "api"}}, headers...)
}

func TestHeaders(t *testing.T) {
	h := start(t, `{"request": {"headers": {"rename": {"X-Old": "X-New"}, "remove": ["X-Debug"],
		"set": {"X-Gateway": "wasmgate", "X-Twice": "b"}, "add": {"X-Twice": "c"}}},
		"response": {"headers": {"remove": ["Server"], "set": {"X-Served-By": "wasmgate"}}}}`)
	s := h.NewStream()
	s.RequestHeaders(req("/", [2]string{"x-old", "1"}, [2]string{"x-debug", "y"}, [2]string{"x-twice", "a"}), true)
	want := "[[:method POST] [:path /] [:authority api] [x-twice b] [x-new 1] [x-gateway wasmgate] [x-twice c]]"
	if got := pairs(s.Request); got != want {
		t.Fatalf("request headers\n got %s\nwant %s", got, want)
	}
	s.ResponseHeaders([][2]string{{":status", "200"}, {"server", "echo"}}, true)
	if s.ResponseHeader("server") != "" || s.ResponseHeader("x-served-by") != "wasmgate" {
		t.Fatalf("response headers %v", s.Response)
	}
	// Without renames the response operations are response edits the
	// host applies, sent with the request's edits in one host call (on
	// wasmgate, in none: the edit area): the plugin is called once per
	// request.
	if strings.Join(h.Phases, ",") != "request_headers" || h.Foreign["wasmgate.edits"] != 1 {
		t.Fatalf("header-only transform declared %v, sent its edits in %d calls", h.Phases, h.Foreign["wasmgate.edits"])
	}

	// A rename reads the response: that needs the response phase.
	h = start(t, `{"response": {"headers": {"rename": {"Server": "X-Origin"}, "set": {"X-Served-By": "wasmgate"}}}}`)
	s = h.NewStream()
	s.RequestHeaders(req("/"), true)
	s.ResponseHeaders([][2]string{{":status", "200"}, {"server", "echo"}}, true)
	if got, want := pairs(s.Response), "[[:status 200] [x-origin echo] [x-served-by wasmgate]]"; got != want ||
		!h.Handles("response_headers") {
		t.Fatalf("rename: response %s, want %s; phases %v", got, want, h.Phases)
	}

	// A header on several lines is renamed whole, in order.
	h = start(t, `{"request": {"headers": {"rename": {"X-Old": "X-New"}}}}`)
	s = h.NewStream()
	s.RequestHeaders(req("/", [2]string{"x-old", "a"}, [2]string{"x-keep", "k"}, [2]string{"x-old", "b"}), true)
	if got, want := pairs(s.Request), "[[:method POST] [:path /] [:authority api] [x-keep k] [x-new a] [x-new b]]"; got != want {
		t.Fatalf("rename of two lines\n got %s\nwant %s", got, want)
	}
}

func pairs(p [][2]string) string {
	var parts []string
	for _, kv := range p {
		parts = append(parts, "["+kv[0]+" "+kv[1]+"]")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestPathAndQuery(t *testing.T) {
	h := start(t, `{"request": {"path": {"regex": "^/v1/(.*)$", "replacement": "/api/$1"},
		"query": {"rename": {"q": "search"}, "remove": ["debug"], "set": {"source": "gw"}}}}`)
	for _, tc := range []struct{ in, want string }{
		{"/v1/users?q=ann&debug=1", "/api/users?search=ann&source=gw"},
		{"/v2/users", "/v2/users?source=gw"},
		{"/v1/", "/api/?source=gw"},
		// Untouched parameters keep their place and encoding; set ones
		// replace the client's and come last.
		{"/v1/users?z=%41&q=ann&flag&debug=1", "/api/users?z=%41&search=ann&flag&source=gw"},
		{"/x?source=evil&a=1&source=x", "/x?a=1&source=gw"},
		// A parameter that does not decode turns nothing off, and an
		// encoded name is still the name.
		{"/x?debug=1&y=%zz", "/x?y=%zz&source=gw"},
		{"/x?%64ebug=1&y=2", "/x?y=2&source=gw"},
		{"/x?debug=1;y=2", "/x?source=gw"},
	} {
		s := h.NewStream()
		s.RequestHeaders(req(tc.in), true)
		if got := s.Header(":path"); got != tc.want {
			t.Errorf("%s -> %s, want %s", tc.in, got, tc.want)
		}
	}
	if h.Handles("response_headers") || h.Handles("request_body") {
		t.Fatalf("request-only transform declared %v", h.Phases)
	}
}

func TestJSONBodies(t *testing.T) {
	h := start(t, `{"request": {"body": {"rename": {"user_name": "user.name"}, "remove": ["password"], "set": {"via": "gw"}}},
		"response": {"body": {"remove": ["internal"], "set": {"served_by": "wasmgate"}}}, "max_body_bytes": 200}`)
	if !h.Handles("request_body") || !h.Handles("response_body") {
		t.Fatalf("phases %v", h.Phases)
	}
	s := h.NewStream()
	s.RequestHeaders(req("/", [2]string{"content-type", "application/json; charset=utf-8"}), false)
	s.SendRequestBody([]byte(`{"user_name": "ann", "password": "x", "n": 1.50}`))
	if got := string(s.RequestBody); got != `{"n":1.50,"user":{"name":"ann"},"via":"gw"}` {
		t.Fatalf("request body %s", got)
	}
	s.ResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/problem+json"}}, false)
	s.SendResponseBody([]byte(`{"ok":true,"internal":{"a":1}}`))
	if got := string(s.ResponseBody); got != `{"ok":true,"served_by":"wasmgate"}` {
		t.Fatalf("response body %s", got)
	}
}

func TestBodiesLeftAlone(t *testing.T) {
	h := start(t, `{"request": {"body": {"set": {"via": "gw"}}}, "max_body_bytes": 20}`)
	for _, tc := range []struct{ ct, body string }{
		{"text/plain", `{"a":1}`},                           // not JSON by its type
		{"application/json", `{"a":`},                       // not JSON by its text
		{"application/json", `[1,2]`},                       // not an object
		{"application/json", `{"long":"aaaaaaaaaaaaaaaa"}`}, // over max_body_bytes
	} {
		s := h.NewStream()
		s.RequestHeaders(req("/", [2]string{"content-type", tc.ct}), false)
		if act := s.SendRequestBody([]byte(tc.body)); act != proxywasm.Continue || string(s.RequestBody) != tc.body {
			t.Errorf("%s %s: action %d, body %s", tc.ct, tc.body, act, s.RequestBody)
		}
	}
	if m, _ := h.Metric("transform_body_skipped"); m == nil || m.Value != 3 {
		t.Fatalf("skipped metric %+v", m)
	}
}

// TestBodiesRejected: with on_skip "reject" a body declared JSON that
// the transform cannot edit is refused rather than passed on unedited (a
// "remove" of a secret field must not be bypassed by a large or odd body).
func TestBodiesRejected(t *testing.T) {
	h := start(t, `{"request": {"body": {"remove": ["password"]}}, "response": {"body": {"remove": ["secret"]}},
		"max_body_bytes": 40, "on_skip": "reject"}`)
	for _, tc := range []struct {
		ct, body string
		status   int // 0: passes
	}{
		{"application/json", `{"user":"ann","password":"x"}`, 0},
		{"text/plain", `{"password":"x"}`, 0}, // not declared JSON
		{"application/json", ``, 0},           // nothing to edit
		{"application/json", `{"password":`, 400},
		{"application/json", `[{"password":"x"}]`, 400},
		{"application/json", `{"password":"x","pad":"aaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`, 413},
	} {
		s := h.NewStream()
		s.RequestHeaders(req("/", [2]string{"content-type", tc.ct}), false)
		act := s.SendRequestBody([]byte(tc.body))
		switch {
		case tc.status == 0 && (act != proxywasm.Continue || s.Local != nil):
			t.Errorf("%s %q: action %d, local %+v; want it passed", tc.ct, tc.body, act, s.Local)
		case tc.status != 0 && (act != proxywasm.Pause || s.Local == nil || s.Local.Status != tc.status ||
			!strings.Contains(string(s.Local.Body), `"error"`)):
			t.Errorf("%s %q: action %d, local %+v; want %d with a JSON error", tc.ct, tc.body, act, s.Local, tc.status)
		}
	}

	s := h.NewStream()
	s.RequestHeaders(req("/"), true)
	s.ResponseHeaders([][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
	if act := s.SendResponseBody([]byte(`{"secret":"s","pad":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`)); act != proxywasm.Pause ||
		s.Local == nil || s.Local.Status != 502 {
		t.Fatalf("oversized response: action %d, local %+v; want 502", act, s.Local)
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"request": {"path": {"regex": "("}}}`:       "request.path.regex",
		`{"response": {"path": {"regex": "a"}}}`:      "requests only",
		`{"request": {"headers": {"set": {"a": 1}}}}`: "want a string",
		`{"requests": {}}`:                            "unknown field",
		`{"request": {"body": {"set": "x"}}}`:         "jsonedit",
		`{"max_body_bytes": -1}`:                      "max_body_bytes",
		`{"on_skip": "drop"}`:                         "on_skip",
	} {
		_, err := proxytest.New(proxytest.Options{Config: []byte(cfg)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", cfg, err, want)
		}
	}
}
