package main

import (
	"strings"
	"testing"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

func TestAllowDeny(t *testing.T) {
	for _, tc := range []struct {
		config, peer, xff string
		pass              bool
	}{
		{`{"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}`, "10.1.2.3:5000", "", true},
		{`{"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}`, "10.9.2.3:5000", "", false},
		{`{"allow": ["10.0.0.0/8"]}`, "192.0.2.1:5000", "", false},
		{`{"deny": ["192.0.2.1"]}`, "192.0.2.1:5000", "", false},
		{`{"deny": ["192.0.2.1"]}`, "[2001:db8::1]:5000", "", true},
		{`{"allow": ["2001:db8::/32"]}`, "[2001:db8::1]:5000", "", true},
		// Behind one trusted proxy the client is the last entry.
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", "203.0.113.9, 198.51.100.7", true},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", "198.51.100.7, 203.0.113.9", false},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 2}`, "10.0.0.1:1", "198.51.100.7", false},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "198.51.100.7:1", "", false},
	} {
		h, err := proxytest.New(proxytest.Options{Config: []byte(tc.config)})
		if err != nil {
			t.Fatal(err)
		}
		s := h.NewStream()
		s.Properties["source.address"] = tc.peer
		req := [][2]string{{":method", "GET"}, {":path", "/"}}
		if tc.xff != "" {
			req = append(req, [2]string{"x-forwarded-for", tc.xff})
		}
		act := s.RequestHeaders(req, true)
		if pass := act == proxywasm.Continue; pass != tc.pass {
			t.Errorf("%s peer %s xff %q: pass %v", tc.config, tc.peer, tc.xff, pass)
		}
		if !tc.pass && (s.Local == nil || s.Local.Status != 403 || !strings.Contains(string(s.Local.Body), "ip_denied")) {
			t.Errorf("%s peer %s: %+v", tc.config, tc.peer, s.Local)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []string{`{"allow": ["10.0.0.0/33"]}`, `{"deny": ["nope"]}`, `{"trusted_proxies": -1}`, `{`} {
		if _, err := proxytest.New(proxytest.Options{Config: []byte(cfg)}); err == nil {
			t.Errorf("%s: accepted", cfg)
		}
	}
}
