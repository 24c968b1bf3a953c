// ip-filter allows or denies requests by client address. Config (JSON):
//
//	{
//	  "allow": ["10.0.0.0/8", "192.168.1.7"],  // if set, only these pass
//	  "deny":  ["10.9.0.0/16"],                // these never pass
//	  "trusted_proxies": 1                     // see below
//	}
//
// The client address is the connection's peer. With trusted_proxies = N
// (N > 0) the gateway sits behind N proxies of its own, each appending the
// address it saw to X-Forwarded-For, so the client is the Nth entry from
// the right (plugins run before the gateway adds its own entry), counting
// across every X-Forwarded-For line in order (a proxy may add a line of
// its own rather than extend the last). Entries further left are written
// by the client and are never trusted. An entry may carry a port. Addresses are compared without an
// IPv6 zone and with IPv4-mapped IPv6 as IPv4, in the lists as in
// requests. Deny wins over allow. A refused request gets 403 with a JSON
// error.
package main

import (
	"errors"
	"net/netip"

	"github.com/wasmgate/wasmgate/plugins/internal/clientaddr"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	"github.com/wasmgate/wasmgate/sdk/go"
)

type config struct {
	Allow          []string `json:"allow"`
	Deny           []string `json:"deny"`
	TrustedProxies int      `json:"trusted_proxies"`
}

type plugin struct {
	allow, deny []netip.Prefix
	trusted     int
}

func prefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, errors.New("not an address or CIDR: " + s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		// Requests' addresses are judged unmapped: so are the lists'.
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return nil, errors.New("an IPv4-mapped prefix shorter than /96: " + s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	var err error
	if p.allow, err = prefixes(c.Allow); err != nil {
		return err
	}
	if p.deny, err = prefixes(c.Deny); err != nil {
		return err
	}
	if c.TrustedProxies < 0 {
		return errors.New("trusted_proxies: must not be negative")
	}
	p.trusted = c.TrustedProxies
	return nil
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

type request struct {
	p   *plugin
	xff [][]byte // the X-Forwarded-For lines, reused
}

func (r *request) Reset() {}

// client finds the address to judge; false when there is none to trust.
func (r *request) client(s proxywasm.Stream) (netip.Addr, bool) {
	if r.p.trusted > 0 {
		var err error
		r.xff, err = s.RequestHeaders().Values("x-forwarded-for", r.xff[:0])
		if err != nil {
			return netip.Addr{}, false
		}
		return clientaddr.Forwarded(r.xff, r.p.trusted)
	}
	raw, err := s.Property("source", "address")
	if err != nil {
		return netip.Addr{}, false
	}
	return clientaddr.Peer(raw)
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	a, ok := r.client(s)
	if ok && !contains(r.p.deny, a) && (len(r.p.allow) == 0 || contains(r.p.allow, a)) {
		return proxywasm.Continue
	}
	_ = s.Respond(403, [][2]string{{"content-type", "application/json"}},
		[]byte(`{"error":"ip_denied","message":"this client address may not use this route"}`+"\n"))
	return proxywasm.Pause
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
