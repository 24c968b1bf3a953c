package main

import (
	"crypto/sha256"
	"fmt"
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

func keyConfig(extra string) string {
	return fmt.Sprintf(`{%s"keys": [{"consumer": "alice", "sha256": "%x"}]}`, extra, sha256.Sum256([]byte("s3cret")))
}

func get(path string, headers ...[2]string) [][2]string {
	return append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "api"}}, headers...)
}

func TestKeyFromHeader(t *testing.T) {
	h := start(t, keyConfig(""))
	s := h.NewStream()
	if act := s.RequestHeaders(get("/", [2]string{"X-Api-Key", "s3cret"}), true); act != proxywasm.Continue {
		t.Fatalf("action %d, local %+v", act, s.Local)
	}
	if s.Header("x-consumer") != "alice" || s.HasHeader("x-api-key") {
		t.Fatalf("forwarded headers: %v", s.Request)
	}
	s.Complete()
}

// TestKeyFromQuery: a key in the query is checked, and no key goes
// upstream in the query either, whichever place it was checked in (the
// upstream would log the URL); the other parameters stay as sent.
func TestKeyFromQuery(t *testing.T) {
	h := start(t, keyConfig(`"query": "api_key", "consumer_header": "X-User", `))
	for _, c := range []struct {
		path    string
		headers [][2]string
		want    string
	}{
		{"/x?a=1&api_key=s3cret", nil, "/x?a=1"},
		{"/x?api_key=s3cret&b=%zz&api_key=other", nil, "/x?b=%zz"},
		{"/x?api%5Fkey=s3cret", nil, "/x"},
		// The header wins; another consumer's key in the query is dropped.
		{"/x?api_key=bobs-key&c=3", [][2]string{{"x-api-key", "s3cret"}}, "/x?c=3"},
	} {
		s := h.NewStream()
		if act := s.RequestHeaders(get(c.path, c.headers...), true); act != proxywasm.Continue {
			t.Fatalf("%s: action %d, local %+v", c.path, act, s.Local)
		}
		if s.Header("x-user") != "alice" || s.Header(":path") != c.want || s.HasHeader("x-api-key") {
			t.Errorf("%s: forwarded %v, want :path %s", c.path, s.Request, c.want)
		}
		s.Complete()
	}
}

func TestMissingOrWrongKey(t *testing.T) {
	h := start(t, keyConfig(""))
	for _, hdr := range [][][2]string{nil, {{"x-api-key", "wrong"}}, {{"x-api-key", ""}}} {
		s := h.NewStream()
		if act := s.RequestHeaders(get("/?api_key=s3cret", hdr...), true); act != proxywasm.Pause {
			t.Fatalf("%v: action %d", hdr, act)
		}
		if s.Local == nil || s.Local.Status != 401 || s.Local.Header("content-type") != "application/json" ||
			!strings.Contains(string(s.Local.Body), `"error":"unauthorized"`) {
			t.Fatalf("%v: %+v", hdr, s.Local)
		}
		s.Complete()
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []string{`{`, `{"keys": [{"consumer": "a", "sha256": "zz"}]}`, `{"keys": [{"sha256": "` + strings.Repeat("a", 64) + `"}]}`,
		`{"keys": [{"consumer": "a", "sha256": "` + strings.Repeat("a", 64) + `"}], "hide_credentials": true}`,
		`{"keys": [], "consumer_header": "X Consumer"}`, `{"keys": [], "header": "X-Key:"}`, `{}`, `{"keys": []}`,
		`{"keys": [{"consumer": "a\r\nX-Admin: 1", "sha256": "` + strings.Repeat("a", 64) + `"}]}`,
		`{"keys": [{"consumer": "a", "sha256": "` + strings.Repeat("a", 64) + `"}, {"consumer": "b", "sha256": "` + strings.Repeat("A", 64) + `"}]}`} {
		if _, err := proxytest.New(proxytest.Options{Config: []byte(cfg)}); err == nil {
			t.Errorf("%s: accepted", cfg)
		}
	}
}

func TestDeclaresOnlyRequestHeaders(t *testing.T) {
	h := start(t, keyConfig(""))
	if !h.Handles("request_headers") || h.Handles("request_body") || h.Handles("response_headers") {
		t.Fatalf("phases %v", h.Phases)
	}
}
