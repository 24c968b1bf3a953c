package main

import (
	"encoding/json"
	"strings"
	"testing"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

const orderSchema = `{"type": "object", "required": ["item", "qty"], "additionalProperties": false,
	"properties": {"item": {"type": "string", "pattern": "^[a-z]+$"}, "qty": {"type": "integer", "minimum": 1, "maximum": 10},
	"note": {"type": "string", "maxLength": 5}}}`

func start(t *testing.T, config string) *proxytest.Host {
	t.Helper()
	h, err := proxytest.New(proxytest.Options{Config: []byte(config)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type errorBody struct {
	Error, Path, Message string
}

// send runs a request with an optional body and returns the local
// response's status (0 when it went through) and error body.
func send(t *testing.T, h *proxytest.Host, method, ct, body string) (int, errorBody) {
	t.Helper()
	s := h.NewStream()
	headers := [][2]string{{":method", method}, {":path", "/orders"}, {":authority", "api"}}
	if ct != "" {
		headers = append(headers, [2]string{"content-type", ct})
	}
	if body != "" {
		headers = append(headers, [2]string{"content-length", itoa(len(body))})
	}
	act := s.RequestHeaders(headers, body == "")
	if act == proxywasm.Continue && body != "" {
		act = s.SendRequestBody([]byte(body))
	}
	defer s.Complete()
	if s.Local == nil {
		if act != proxywasm.Continue {
			t.Fatalf("paused without a response")
		}
		return 0, errorBody{}
	}
	var e errorBody
	if err := json.Unmarshal(s.Local.Body, &e); err != nil || s.Local.Header("content-type") != "application/json" {
		t.Fatalf("error body %q: %v", s.Local.Body, err)
	}
	if s.Local.Status == 405 && s.Local.Header("allow") == "" {
		t.Fatal("405 without Allow")
	}
	return s.Local.Status, e
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestSchema(t *testing.T) {
	h := start(t, `{"methods": ["GET", "POST"], "content_types": ["application/json"], "max_body_bytes": 100, "schema": `+orderSchema+`}`)
	for _, tc := range []struct {
		method, ct, body string
		status           int
		path, msg        string
	}{
		{"POST", "application/json", `{"item":"tea","qty":2}`, 0, "", ""},
		{"POST", "application/json; charset=utf-8", `{"item":"tea","qty":10,"note":"hot"}`, 0, "", ""},
		{"GET", "", "", 0, "", ""},
		{"POST", "application/json", `{"item":"tea"}`, 400, "$", `missing required property "qty"`},
		{"POST", "application/json", `{"item":"tea","qty":11}`, 400, "$.qty", "must be <= 10"},
		{"POST", "application/json", `{"item":"tea","qty":1.5}`, 400, "$.qty", "must be integer, got number"},
		{"POST", "application/json", `{"item":"Tea","qty":1}`, 400, "$.item", `must match pattern "^[a-z]+$"`},
		{"POST", "application/json", `{"item":"tea","qty":1,"x":0}`, 400, "$.x", "is not allowed"},
		{"POST", "application/json", `{"item":`, 400, "", "the request body is not valid JSON"},
		{"POST", "text/plain", `hello`, 415, "", "content type must be one of: application/json"},
		{"DELETE", "", "", 405, "", "method not allowed on this route"},
		{"POST", "application/json", `{"item":"tea","qty":1,"note":"` + strings.Repeat("a", 100) + `"}`, 413, "", "request body exceeds 100 bytes"},
	} {
		status, e := send(t, h, tc.method, tc.ct, tc.body)
		if status != tc.status || e.Path != tc.path || e.Message != tc.msg {
			t.Errorf("%s %s %s: %d %+v, want %d %q %q", tc.method, tc.ct, tc.body, status, e, tc.status, tc.path, tc.msg)
		}
		if status == 400 && e.Error != "invalid_request" {
			t.Errorf("error code %q", e.Error)
		}
	}
}

// TestSchemaWithoutContentTypes: a schema with no content_types accepts
// JSON bodies only; a body of another type, or none named, would pass the
// schema unchecked to a backend that may parse it as JSON all the same.
func TestSchemaWithoutContentTypes(t *testing.T) {
	h := start(t, `{"schema": `+orderSchema+`}`)
	const bad = `{"qty":0}`
	for _, tc := range []struct {
		ct, body string
		status   int
	}{
		{"application/json", bad, 400},
		{"application/vnd.api+json", bad, 400},
		{"Application/JSON; charset=utf-8", `{"item":"tea","qty":2}`, 0},
		{"text/plain", bad, 415},
		{"application/json, text/plain", bad, 415},
		{"", bad, 415},
		{"text/plain", "", 0}, // no body: nothing to check
	} {
		if status, e := send(t, h, "POST", tc.ct, tc.body); status != tc.status {
			t.Errorf("%q %q: %d %+v, want %d", tc.ct, tc.body, status, e, tc.status)
		}
	}
	// Listed types are the operator's choice, checked or not.
	h = start(t, `{"content_types": ["application/json", "text/plain"], "schema": `+orderSchema+`}`)
	if status, e := send(t, h, "POST", "text/plain", bad); status != 0 {
		t.Errorf("listed text/plain: %d %+v", status, e)
	}
}

func TestRequireBodyAndPhases(t *testing.T) {
	if h := start(t, `{"methods": ["GET", "POST"]}`); h.Handles("request_body") {
		t.Fatalf("no schema, limit or require_body, yet the body phase is declared: %v", h.Phases)
	}
	// require_body reads the body: a chunked request announces one it may
	// not have.
	h := start(t, `{"require_body": true}`)
	if !h.Handles("request_body") {
		t.Fatalf("require_body without the body phase: %v", h.Phases)
	}
	s := h.NewStream()
	act := s.RequestHeaders([][2]string{{":method", "POST"}, {":path", "/orders"}, {":authority", "api"},
		{"content-type", "application/json"}, {"transfer-encoding", "chunked"}}, false)
	if act == proxywasm.Continue {
		s.SendRequestBody(nil)
	}
	s.Complete()
	if s.Local == nil || s.Local.Status != 400 {
		t.Fatalf("an empty chunked POST passed (local %v), want 400", s.Local)
	}
	if status, e := send(t, h, "POST", "", ""); status != 400 || e.Message != "a request body is required" {
		t.Fatalf("%d %+v", status, e)
	}
	if status, _ := send(t, h, "GET", "", ""); status != 0 {
		t.Fatalf("GET without a body: %d", status)
	}
	if status, _ := send(t, h, "PUT", "text/plain", "x"); status != 0 {
		t.Fatalf("PUT with a body: %d", status)
	}
	h = start(t, `{"schema": {"type": "object"}}`)
	if !h.Handles("request_body") {
		t.Fatalf("schema without the body phase: %v", h.Phases)
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"methods": ["get"]}`:                           "methods[0]",
		`{"content_types": ["json"]}`:                    "content_types[0]",
		`{"max_body_bytes": -1}`:                         "max_body_bytes",
		`{"schema": {"type": "object", "minimum": "1"}}`: "schema:",
		`{"schema": {"formatx": 1}}`:                     "formatx",
		`{"method": ["GET"]}`:                            "unknown field",
		`{"max_json_values": 0}`:                         "max_json_values: must be at least 1",
	} {
		_, err := proxytest.New(proxytest.Options{Config: []byte(cfg)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", cfg, err, want)
		}
	}
}

// TestMaxJSONValues: a JSON body with more values than max_json_values is
// a 413, not a check that exhausts the plugin's memory; one within it is
// checked as usual.
func TestMaxJSONValues(t *testing.T) {
	h := start(t, `{"max_json_values": 10, "schema": {"type": "object", "properties": {"tags": {"type": "array", "maxItems": 3}}}}`)
	if status, e := send(t, h, "POST", "application/json", `{"tags": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}`); status != 413 ||
		e.Error != "body_too_large" || e.Message != "the JSON body has more than 10 values" {
		t.Errorf("12 values, limit 10: %d %+v", status, e)
	}
	if status, e := send(t, h, "POST", "application/json", `{"tags": [1, 2, 3, 4]}`); status != 400 || e.Path != "$.tags" {
		t.Errorf("6 values, limit 10: %d %+v, want the maxItems violation", status, e)
	}
}
