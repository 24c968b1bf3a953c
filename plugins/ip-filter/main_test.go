package main

import (
	"strings"
	"testing"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

func TestAllowDeny(t *testing.T) {
	for _, tc := range []struct {
		config, peer string
		xff          []string // X-Forwarded-For lines
		pass         bool
	}{
		{`{"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}`, "10.1.2.3:5000", nil, true},
		{`{"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}`, "10.9.2.3:5000", nil, false},
		{`{"allow": ["10.0.0.0/8"]}`, "192.0.2.1:5000", nil, false},
		{`{"deny": ["192.0.2.1"]}`, "192.0.2.1:5000", nil, false},
		{`{"deny": ["192.0.2.1"]}`, "[2001:db8::1]:5000", nil, true},
		{`{"allow": ["2001:db8::/32"]}`, "[2001:db8::1]:5000", nil, true},
		// Behind one trusted proxy the client is the last entry.
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", []string{"203.0.113.9, 198.51.100.7"}, true},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", []string{"198.51.100.7, 203.0.113.9"}, false},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 2}`, "10.0.0.1:1", []string{"198.51.100.7"}, false},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "198.51.100.7:1", nil, false},
		// Several lines are one list: a proxy that adds a line of its own
		// leaves the client's line first, and the client cannot pick its
		// address with it.
		{`{"deny": ["203.0.113.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", []string{"198.51.100.7", "203.0.113.9"}, false},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 2}`, "10.0.0.1:1", []string{"203.0.113.9, 198.51.100.7", "10.0.0.2"}, true},
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 3}`, "10.0.0.1:1", []string{"198.51.100.7", "10.0.0.2"}, false},
		// Entries with a port, as some proxies write them.
		{`{"allow": ["198.51.100.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", []string{"198.51.100.7:5555"}, true},
		{`{"allow": ["2001:db8::/32"], "trusted_proxies": 1}`, "10.0.0.1:1", []string{"[2001:db8::7]:443"}, true},
		{`{"deny": ["198.51.100.0/24"], "trusted_proxies": 1}`, "10.0.0.1:1", []string{"198.51.100.7:5555"}, false},
		// A zone never hides an address; mapped entries match unmapped
		// addresses.
		{`{"deny": ["fe80::/10"]}`, "[fe80::1%eth0]:5000", nil, false},
		{`{"allow": ["fe80::/10"]}`, "[fe80::1%eth0]:5000", nil, true},
		{`{"deny": ["::ffff:192.0.2.0/120"]}`, "192.0.2.1:5000", nil, false},
		{`{"deny": ["::ffff:192.0.2.1"]}`, "192.0.2.1:5000", nil, false},
		{`{"deny": ["::ffff:192.0.2.1"]}`, "192.0.2.2:5000", nil, true},
	} {
		h, err := proxytest.New(proxytest.Options{Config: []byte(tc.config)})
		if err != nil {
			t.Fatal(err)
		}
		s := h.NewStream()
		s.Properties["source.address"] = tc.peer
		req := [][2]string{{":method", "GET"}, {":path", "/"}}
		for _, line := range tc.xff {
			req = append(req, [2]string{"x-forwarded-for", line})
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
	for _, cfg := range []string{`{"allow": ["10.0.0.0/33"]}`, `{"deny": ["nope"]}`, `{"trusted_proxies": -1}`, `{`,
		`{"deny": ["::ffff:0:0/80"]}`, `{"deny": ["fe80::1%eth0"]}`,
		// A misspelt list would otherwise leave the filter open to all.
		`{"allowed": ["10.0.0.0/8"]}`, `{"deny": ["10.0.0.0/8"], "trusted_proxy": 1}`} {
		if _, err := proxytest.New(proxytest.Options{Config: []byte(cfg)}); err == nil {
			t.Errorf("%s: accepted", cfg)
		}
	}
}
